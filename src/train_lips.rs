//! `evalverse train-lips`: fit the learned lip-sync lines ([`LipNet`]) on talking clips in sync,
//! self-supervised, in Burn.
//!
//! **Input** (JSON, written by `scripts/faces/fit_lips.py --learned` for each grouped fold):
//! clips, each with its recording's group, the mouth features and the speech bands at 10-ms
//! steps (detrended, as the estimator sees them) and `off`, the speech step that goes with
//! mouth step 0 when the clip is in sync.
//!
//! **Loss.** For each clip, the correlation of its mouth lines with its speech lines (each
//! standardised) at every lag of ±[`LAGS`] steps, and with the speech lines of `negatives` clips
//! of other recordings at the same lags, divided by a temperature, are the logits of one softmax
//! whose right answer is the clip's own speech at lag 0: the true lag against every other lag of
//! the same clip (the shifted pairs) and against other speech (the mismatched pairs). Full batch,
//! Adam, seeded: the same input writes the same weights.
use crate::model::faces::lipnet::{BranchWeights, LipNet, LipNetWeights};
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::Deserialize;

/// Lags each side of the true one, steps (±500 ms).
pub const LAGS: usize = 50;

/// One training clip.
#[derive(Clone, Debug, Deserialize)]
pub struct LipClip {
    pub group: i64,
    #[serde(rename = "M")]
    pub mouth: Vec<Vec<f64>>,
    #[serde(rename = "S")]
    pub speech: Vec<Vec<f64>>,
    pub off: i64,
}

/// The training run.
#[derive(Clone, Debug, Deserialize)]
pub struct LipTraining {
    pub clips: Vec<LipClip>,
    #[serde(default = "d_hidden")]
    pub hidden: usize,
    #[serde(default = "d_kernel")]
    pub kernel: usize,
    #[serde(default = "d_components")]
    pub components: usize,
    #[serde(default = "d_steps")]
    pub steps: usize,
    #[serde(default = "d_lr")]
    pub lr: f64,
    #[serde(default = "d_tau")]
    pub tau: f64,
    #[serde(default = "d_negatives")]
    pub negatives: usize,
    #[serde(default = "d_seed")]
    pub seed: u64,
}

fn d_hidden() -> usize {
    8
}
fn d_kernel() -> usize {
    9
}
fn d_components() -> usize {
    2
}
fn d_steps() -> usize {
    300
}
fn d_lr() -> f64 {
    0.01
}
fn d_tau() -> f64 {
    0.05
}
fn d_negatives() -> usize {
    4
}
fn d_seed() -> u64 {
    1
}

impl LipTraining {
    /// Absurd sizes and clips that cannot be paired are errors, not panics.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=64).contains(&self.hidden)
            || !(1..=51).contains(&self.kernel)
            || !(1..=8).contains(&self.components)
            || !(1..=100_000).contains(&self.steps)
            || !(self.lr > 0.0 && self.lr < 1.0)
            || !(self.tau > 0.0 && self.tau < 10.0)
        {
            return Err("hidden 1–64, kernel 1–51, components 1–8, steps 1–100000, \
                        0 < lr < 1 and 0 < tau < 10, please"
                .into());
        }
        let widths = |rows: &[Vec<f64>]| rows.iter().map(Vec::len).collect::<Vec<_>>();
        for (i, c) in self.clips.iter().enumerate() {
            let (m, s) = (widths(&c.mouth), widths(&c.speech));
            if m.iter().any(|w| *w != m[0]) || s.iter().any(|w| *w != s[0]) || m.is_empty() {
                return Err(format!("clip {i}: rows of different widths"));
            }
            if self.usable(c).is_none() {
                return Err(format!("clip {i}: mouth and speech overlap too little"));
            }
        }
        if self.clips.is_empty() {
            return Err("no clips".into());
        }
        Ok(())
    }

    /// Mouth steps whose speech at every lag lies inside the clip: `[k0, k1)`.
    fn usable(&self, c: &LipClip) -> Option<(usize, usize)> {
        let l = LAGS as i64;
        let k0 = (l - c.off).max(0);
        let k1 = (c.mouth.len() as i64).min(c.speech.len() as i64 - c.off - l);
        (k1 - k0 >= 100).then_some((k0 as usize, k1 as usize))
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }
    fn uniform(&mut self, bound: f64) -> f32 {
        (((self.next() >> 11) as f64 / (1u64 << 53) as f64) * 2.0 * bound - bound) as f32
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn branch(rng: &mut Rng, inputs: usize, t: &LipTraining) -> BranchWeights {
    let mut v = |n: usize, fan: usize| {
        (0..n)
            .map(|_| rng.uniform(1.0 / (fan as f64).sqrt()))
            .collect()
    };
    BranchWeights {
        inputs,
        w1: v(t.hidden * inputs * t.kernel, inputs * t.kernel),
        b1: v(t.hidden, inputs * t.kernel),
        w2: v(t.components * t.hidden, t.hidden),
        b2: v(t.components, t.hidden),
    }
}

/// `[1, F, T]` of rows.
fn sequence(rows: &[Vec<f64>], device: &Device) -> Tensor<3> {
    let (t, f) = (rows.len(), rows[0].len());
    let mut v = vec![0f32; f * t];
    for (i, r) in rows.iter().enumerate() {
        for (k, x) in r.iter().enumerate() {
            v[k * t + i] = *x as f32;
        }
    }
    Tensor::from_data(TensorData::new(v, [1, f, t]), device)
}

/// Lines `[C, T]` standardised over `[a, b)` of time.
fn standardised(y: Tensor<3>, a: usize, b: usize) -> Tensor<2> {
    let [_, c, _] = y.dims();
    let y = y.slice([0..1, 0..c, a..b]).reshape([c as i32, -1]);
    let y = y.clone() - y.clone().mean_dim(1);
    let sd = y
        .clone()
        .powf_scalar(2.0)
        .mean_dim(1)
        .sqrt()
        .add_scalar(1e-4);
    y / sd
}

/// Correlations `[2·LAGS + 1]` of mouth lines (standardised over the clip's usable steps) with
/// speech lines `s` (standardised over all of them) at mouth steps `k0..k1` and speech steps
/// `k + off + lag`.
fn lag_scores(
    m: &Tensor<2>,
    s: &Tensor<2>,
    k0: usize,
    k1: usize,
    off: i64,
    device: &Device,
) -> Tensor<1> {
    let [c, n] = s.dims();
    let lags = 2 * LAGS + 1;
    let nk = k1 - k0;
    let idx: Vec<i64> = (k0..k1)
        .flat_map(|k| {
            (0..lags).map(move |l| (k as i64 + off + l as i64 - LAGS as i64).clamp(0, n as i64 - 1))
        })
        .collect();
    let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [nk * lags]), device);
    let u = s.clone().select(1, idx).reshape([c, nk, lags]);
    let a = m.clone().reshape([c, nk, 1]);
    (a * u).mean_dim(1).mean_dim(0).reshape([lags])
}

/// Train on `t`; the weights and the last loss.
pub fn train(t: &LipTraining, device: &Device) -> Result<(LipNetWeights, f64), String> {
    t.check()?;
    let mut rng = Rng(t.seed ^ 0x11b5_0f_5eed);
    let (mi, si) = (t.clips[0].mouth[0].len(), t.clips[0].speech[0].len());
    let init = LipNetWeights {
        hidden: t.hidden,
        kernel: t.kernel,
        components: t.components,
        mouth: branch(&mut rng, mi, t),
        speech: branch(&mut rng, si, t),
    };
    let ad = device.clone().autodiff();
    let mut net = LipNet::new(&init, &ad)?;
    let mouths: Vec<Tensor<3>> = t.clips.iter().map(|c| sequence(&c.mouth, &ad)).collect();
    let speeches: Vec<Tensor<3>> = t.clips.iter().map(|c| sequence(&c.speech, &ad)).collect();
    let ranges: Vec<(usize, usize)> = t.clips.iter().filter_map(|c| t.usable(c)).collect();
    let mut optim = AdamConfig::new().init();
    let mut last = f64::NAN;
    for _ in 0..t.steps {
        let s_lines: Vec<Tensor<2>> = speeches
            .iter()
            .map(|s| {
                let n = s.dims()[2];
                standardised(net.speech.forward(s.clone()), 0, n)
            })
            .collect();
        let mut losses = vec![];
        for (i, c) in t.clips.iter().enumerate() {
            let (k0, k1) = ranges[i];
            let m = standardised(net.mouth.forward(mouths[i].clone()), k0, k1);
            let mut logits = vec![lag_scores(&m, &s_lines[i], k0, k1, c.off, &ad)];
            let others: Vec<usize> = (0..t.clips.len())
                .filter(|j| t.clips[*j].group != c.group)
                .collect();
            for _ in 0..t.negatives.min(others.len()) {
                let j = others[rng.below(others.len())];
                logits.push(lag_scores(&m, &s_lines[j], k0, k1, c.off, &ad));
            }
            let z = Tensor::cat(logits, 0).div_scalar(t.tau);
            // Cross-entropy with the right answer at index LAGS (own speech, lag 0).
            let lse = {
                let top = z.clone().max().detach();
                (z.clone() - top.clone()).exp().sum().log() + top
            };
            losses.push(lse - z.slice([LAGS..LAGS + 1]));
        }
        let loss = Tensor::cat(losses, 0).mean();
        last = loss.clone().into_scalar::<f32>() as f64;
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = optim.step(t.lr, net, grads);
    }
    Ok((net.valid().weights(), last))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mouth that opens with the speech's loud steps; the speech `lag` steps behind.
    fn clip(group: i64, seed: u64, lag: i64) -> LipClip {
        let mut rng = Rng(seed);
        let n = 420usize;
        let env: Vec<f64> = {
            let mut e = vec![0.0; n + 60];
            let mut k = 0;
            while k < e.len() {
                let len = 8 + rng.below(20);
                let on = rng.below(3) > 0;
                for x in e.iter_mut().skip(k).take(len) {
                    *x = if on { 1.0 } else { 0.0 };
                }
                k += len;
            }
            e
        };
        let mouth = (0..n)
            .map(|k| {
                vec![
                    env[k + 30] * 0.3 + rng.uniform(0.02) as f64,
                    rng.uniform(0.1) as f64,
                ]
            })
            .collect();
        let speech = (0..n + 60)
            .map(|j| {
                let e = env[(j as i64 - lag).clamp(0, n as i64 + 59) as usize];
                vec![e * 20.0 + rng.uniform(2.0) as f64, rng.uniform(5.0) as f64]
            })
            .collect();
        LipClip {
            group,
            mouth,
            speech,
            off: 30 + lag,
        }
    }

    #[test]
    fn the_net_learns_to_find_the_lag_of_a_mouth_that_goes_with_its_speech() {
        let device = crate::model::backend::cpu_nets_device();
        let t = LipTraining {
            clips: (0..4).map(|g| clip(g, 7 + g as u64, 3)).collect(),
            hidden: 4,
            kernel: 5,
            components: 1,
            steps: 60,
            lr: 0.02,
            tau: 0.05,
            negatives: 2,
            seed: 3,
        };
        let (w, loss) = train(&t, &device).unwrap();
        let net = LipNet::new(&w, &device).unwrap();
        // On a clip it never saw, the best lag of the learned lines is the true one.
        let c = clip(9, 99, 3);
        let m = crate::model::faces::lipnet::lines(&net.mouth, &c.mouth, &device);
        let s = crate::model::faces::lipnet::lines(&net.speech, &c.speech, &device);
        let score = |lag: i64| {
            let (a, b): (Vec<f64>, Vec<f64>) = (60..360)
                .map(|k| (m[0][k], s[0][(k as i64 + c.off + lag) as usize]))
                .unzip();
            crate::model::faces::lips::pearson(&a, &b)
        };
        let best = (-20..=20)
            .max_by(|a, b| score(*a).total_cmp(&score(*b)))
            .unwrap();
        assert!(best.abs() <= 1, "best lag {best}, loss {loss}");
        assert!(score(best) > 0.4, "peak {}", score(best));
        let far: Vec<f64> = (10..=20).flat_map(|l| [score(l), score(-l)]).collect();
        assert!(far.iter().all(|r| *r < score(best) - 0.2), "{far:?}");
        // Bad sizes are an error, not a panic.
        let bad = LipTraining { hidden: 0, ..t };
        assert!(train(&bad, &device).is_err());
    }
}
