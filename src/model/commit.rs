//! The learned sync commitment head: should the sync head commit to its candidate delay?
//!
//! The hand-set rules of [`super::sync`] (≥ 3 matched pairs, matches above chance, second peak
//! < 0.75 of the best, spread ≤ 12 ms) are one fixed cut through the evidence. This head is a
//! small Burn MLP trained (autodiff, Adam) on examples the project generates itself
//! (the trainer, `evalverse train`: multi-shot test sequences with random audio delays, beat-locked cuts,
//! distractor sounds, dense clicks, few events). It reads the 9 evidence figures of
//! [`SyncEstimate::evidence`], standardised, and outputs the probability that the candidate is
//! within one frame of the truth:
//!
//! ```text
//! evidence [N, 9] ─▶ standardise ─▶ Linear 9→16 ─▶ ReLU ─▶ Linear 16→1 ─▶ sigmoid ─▶ p
//! ```
//!
//! The head replaces the rules' *strength* tests (≥ 3 matches, matches above chance); their
//! *ambiguity* guards stay (a second peak ≥ 0.75 of the best: periodic, beat-locked events;
//! matched offsets spread > 12 ms), and the matches must not be explained by luck after the
//! look-elsewhere correction (the chance that any searched lag matches as many ≤ 10 %):
//! outside that domain the rules decide alone. Inside it, the head commits when
//! `p ≥ threshold` (the lowest at which validation data shows ≥ 99.5 % precision with no answer
//! off by more than 2 frames, and at least 0.9) and at least 2 events matched; if not, the
//! estimate is declined with the rules' reason, or `uncertain` when only the head objects. The
//! weights (`weights/sync_commit.json`, ~4 KB) are compiled in and used by default;
//! `evalverse train` reproduces them.
use super::sync::{Decline, EVIDENCE, SyncEstimate};
use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData, activation};
use serde::{Deserialize, Serialize};

/// Hidden units of the MLP.
pub const HIDDEN: usize = 16;
/// Fewest matched pairs the head may commit on.
pub const HEAD_MIN_MATCHED: usize = 2;

/// The head's rule: probability `p` at least `threshold` (a threshold of 1 never commits) and
/// at least [`HEAD_MIN_MATCHED`] pairs.
pub fn commits_at(threshold: f32, p: f32, matched: usize) -> bool {
    threshold < 1.0 && p >= threshold && matched >= HEAD_MIN_MATCHED
}

/// The shipped weights.
pub const DEFAULT_WEIGHTS: &str = include_str!("../../weights/sync_commit.json");

/// The MLP, as a Burn module (trained with autodiff by `evalverse train`).
#[derive(Module, Debug)]
pub struct CommitNet {
    pub l1: Linear,
    pub l2: Linear,
}

impl CommitNet {
    /// Logits of standardised evidence.
    ///
    /// # Shapes
    /// - `x`: `[N, EVIDENCE]` → `[N]`
    pub fn forward(&self, x: Tensor<2>) -> Tensor<1> {
        let n = x.dims()[0];
        self.l2
            .forward(activation::relu(self.l1.forward(x)))
            .reshape([n])
    }

    /// A net with the given parameters (`w1`: `[EVIDENCE][HIDDEN]` row-major, input-major as
    /// Burn's `Linear` stores it).
    pub fn from_parts(w1: &[f32], b1: &[f32], w2: &[f32], b2: f32, device: &Device) -> Self {
        let lin = |w: &[f32], b: &[f32], i: usize, o: usize| Linear {
            weight: Param::from_data(TensorData::new(w.to_vec(), [i, o]), device),
            bias: Some(Param::from_data(TensorData::new(b.to_vec(), [o]), device)),
        };
        Self {
            l1: lin(w1, b1, EVIDENCE, HIDDEN),
            l2: lin(w2, &[b2], HIDDEN, 1),
        }
    }

    /// The parameters, for saving: (w1, b1, w2, b2).
    pub fn parts(&self) -> (Vec<f32>, Vec<f32>, Vec<f32>, f32) {
        let v = |t: Tensor<2>| t.into_data().try_into_vec::<f32>().unwrap_or_default();
        let b = |p: &Option<Param<Tensor<1>>>| {
            p.as_ref()
                .map(|p| {
                    p.val()
                        .into_data()
                        .try_into_vec::<f32>()
                        .unwrap_or_default()
                })
                .unwrap_or_default()
        };
        (
            v(self.l1.weight.val()),
            b(&self.l1.bias),
            v(self.l2.weight.val()),
            b(&self.l2.bias).first().copied().unwrap_or(0.0),
        )
    }
}

/// What `weights/sync_commit.json` holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CommitWeights {
    pub about: String,
    pub features: Vec<String>,
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    pub w1: Vec<f32>,
    pub b1: Vec<f32>,
    pub w2: Vec<f32>,
    pub b2: f32,
    pub threshold: f32,
    /// How it was trained and what it measured (see `evalverse train`).
    pub training: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("sync commitment weights are not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("sync commitment weights have the wrong shape ({0})")]
    Shape(String),
}

impl CommitWeights {
    pub fn parse(text: &str) -> Result<Self, WeightsError> {
        let w: Self = serde_json::from_str(text)?;
        let checks = [
            ("mean", w.mean.len(), EVIDENCE),
            ("std", w.std.len(), EVIDENCE),
            ("w1", w.w1.len(), EVIDENCE * HIDDEN),
            ("b1", w.b1.len(), HIDDEN),
            ("w2", w.w2.len(), HIDDEN),
        ];
        for (name, got, want) in checks {
            if got != want {
                return Err(WeightsError::Shape(format!(
                    "{name}: {got} values, expected {want}"
                )));
            }
        }
        if !(0.0..=1.0).contains(&w.threshold) || w.std.iter().any(|s| !(s.is_finite() && *s > 0.0))
        {
            return Err(WeightsError::Shape(
                "threshold outside 0–1 or a non-positive std".into(),
            ));
        }
        Ok(w)
    }
}

/// The head, ready to run on a device.
pub struct CommitHead {
    net: CommitNet,
    mean: Vec<f32>,
    std: Vec<f32>,
    pub threshold: f32,
    device: Device,
}

impl CommitHead {
    pub fn new(w: &CommitWeights, device: &Device) -> Self {
        Self {
            net: CommitNet::from_parts(&w.w1, &w.b1, &w.w2, w.b2, device),
            mean: w.mean.clone(),
            std: w.std.clone(),
            threshold: w.threshold,
            device: device.clone(),
        }
    }

    /// The shipped head.
    pub fn shipped(device: &Device) -> Result<Self, WeightsError> {
        Ok(Self::new(&CommitWeights::parse(DEFAULT_WEIGHTS)?, device))
    }

    /// Probabilities for raw evidence rows.
    ///
    /// # Shapes
    /// - `rows`: `N × EVIDENCE` → `N`
    pub fn probabilities(&self, rows: &[[f32; EVIDENCE]]) -> Vec<f32> {
        if rows.is_empty() {
            return vec![];
        }
        let flat: Vec<f32> = rows
            .iter()
            .flat_map(|r| {
                r.iter()
                    .enumerate()
                    .map(|(k, v)| (v - self.mean[k]) / self.std[k])
            })
            .collect();
        let x = Tensor::<2>::from_data(TensorData::new(flat, [rows.len(), EVIDENCE]), &self.device);
        activation::sigmoid(self.net.forward(x))
            .into_data()
            .try_into_vec()
            .unwrap_or_default()
    }

    /// Whether probability `p` with `matched` pairs commits (see [`commits_at`]).
    pub fn commits(&self, p: f32, matched: usize) -> bool {
        commits_at(self.threshold, p, matched)
    }

    /// Decide on the sync head's estimate: commit the candidate, or decline with a reason.
    pub fn decide(&self, est: &mut SyncEstimate) {
        // Ambiguity (a periodic second peak, spread offsets) and matches that luck explains stay
        // the rules' call.
        if !est.decidable() {
            return;
        }
        let Some(x) = est.evidence() else { return };
        let Some(&p) = self.probabilities(&[x]).first() else {
            return;
        };
        est.commit_probability = Some(p as f64);
        if self.commits(p, est.matched) {
            est.audio_delay_ms = est.best_lag_ms;
            est.declined = None;
            est.confidence = p as f64;
        } else {
            est.audio_delay_ms = None;
            est.confidence = 0.0;
            est.declined = Some(est.declined.unwrap_or(Decline::Uncertain));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sync::{Onset, estimate};

    #[allow(deprecated)]
    fn device() -> Device {
        Device::ndarray()
    }

    /// The shipped weights load, and the head commits on clear evidence, declines on sparse
    /// coincidences, and leaves periodic (ambiguous) evidence to the rules.
    #[test]
    fn shipped_head_commits_on_clear_evidence_only() {
        let head = CommitHead::shipped(&device()).expect("shipped weights");
        assert!(
            head.threshold >= 0.9 && head.threshold < 1.0,
            "threshold {}",
            head.threshold
        );
        let visual: Vec<(f64, f32)> = [0.7, 2.1, 3.0, 4.9, 6.2, 7.0, 9.4, 10.3]
            .iter()
            .map(|t| (*t, 1.0))
            .collect();
        let onsets: Vec<Onset> = visual
            .iter()
            .map(|(t, _)| Onset {
                t: t + 0.120,
                strength: 20.0,
            })
            .collect();
        let mut est = estimate(&device(), &visual, &onsets, 0.0, 12.0, 2000.0);
        head.decide(&mut est);
        assert_eq!(
            est.audio_delay_ms.map(|d| d.round()),
            Some(120.0),
            "{est:?}"
        );
        assert!(est.commit_probability.unwrap() >= head.threshold as f64);

        // Two of eight visual events happen to have a sound 333 ms later among dense noise.
        let mut noisy: Vec<Onset> = (0..40)
            .map(|k| Onset {
                t: 0.13 + k as f64 * 0.29,
                strength: 12.0,
            })
            .collect();
        noisy.extend([
            Onset {
                t: 0.7 + 0.333,
                strength: 12.0,
            },
            Onset {
                t: 4.9 + 0.333,
                strength: 12.0,
            },
        ]);
        noisy.sort_by(|a, b| a.t.total_cmp(&b.t));
        let mut est = estimate(&device(), &visual, &noisy, 0.0, 12.0, 2000.0);
        head.decide(&mut est);
        assert_eq!(est.audio_delay_ms, None, "{est:?}");
        assert!(est.declined.is_some());

        // Cuts on a steady beat with a click on every beat: any multiple of the beat fits.
        let beat: Vec<(f64, f32)> = (1..20).map(|k| (k as f64 * 0.5, 1.0)).collect();
        let clicks: Vec<Onset> = (0..26)
            .map(|k| Onset {
                t: k as f64 * 0.5 + 0.08,
                strength: 20.0,
            })
            .collect();
        let mut est = estimate(&device(), &beat, &clicks, 0.0, 12.0, 2000.0);
        head.decide(&mut est);
        assert_eq!(est.audio_delay_ms, None);
        assert_eq!(est.declined, Some(Decline::PeriodicAmbiguity));
    }

    #[test]
    fn malformed_weights_are_a_clear_error() {
        assert!(CommitWeights::parse("{}").is_err());
        let mut w: serde_json::Value = serde_json::from_str(DEFAULT_WEIGHTS).unwrap();
        w["w1"] = serde_json::json!([1.0, 2.0]);
        let e = CommitWeights::parse(&w.to_string())
            .unwrap_err()
            .to_string();
        assert!(e.contains("w1"), "{e}");
    }
}
