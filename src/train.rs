//! `evalverse train`: generate examples, train the sync commitment head in Burn, compare it with
//! the hand-set rules, write `weights/sync_commit.json`.
//!
//! **Examples.** 900 test sequences from [`SceneSpec`] (160×90, 25 fps, 24 s, moving and panning
//! shots) with a random audio delay in [−500, +500] ms, in six families: event-rich (cuts and
//! flashes with beeps, a few silent), beat-locked (clicks on a steady beat, cuts on some beats),
//! unrelated (silent cuts, random sounds), mixed (half the cuts beeped, distractor sounds),
//! dense (beeped cuts over jittered clicks every 0.25–0.6 s) and sparse (1–3 beeped cuts). Each
//! goes through the real per-stream pipeline ([`StreamEvaluator`]: features, cut and flash
//! detection, audio onsets), and the sync head runs over every live horizon (12 s, every 1 s)
//! and over the whole sequence, as in live and file mode. An example is the evidence of one
//! horizon ([`SyncEstimate::evidence`]) and whether its candidate delay is within one frame
//! (40 ms) of the truth.
//!
//! **Training.** Sequences are split 60/20/20 (train/validation/test) by sequence. Evidence is
//! standardised with the training mean and deviation; the [`CommitNet`] (9→16→1) starts from a
//! seeded uniform initialisation and is trained full-batch with Adam (lr 0.01, 1 500 steps) on
//! binary cross-entropy, through Burn's autodiff backend, on the horizons in the head's domain
//! (unambiguous and significant after the look-elsewhere correction). The threshold is the lowest probability at
//! which validation precision (committed estimates within one frame) is ≥ 99.5 % with no answer
//! more than 2 frames off, and at least 0.9.
//! Everything is seeded: the same command writes the same file.
//!
//! **Report.** On the test split: coverage (share of horizons committed), precision (share of
//! commitments within one frame) and confident wrong answers (> 2 frames off) for the rules and
//! for the learned head, overall and per family.
use crate::config::{AnalysisSettings, SyncHead};
use crate::evaluator::{StreamEvaluator, Timing};
use crate::model::Model;
use crate::model::commit::{
    CommitHead, CommitNet, CommitWeights, HEAD_MIN_MATCHED, HIDDEN, commits_at,
};
use crate::model::sync::{EVIDENCE, SyncEstimate};
use crate::sender::synth::{Scene, SceneSpec};
use crate::types::{AudioChunk, Media, VideoFrame};
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};
use std::sync::Arc;
use std::time::Instant;

pub const FAMILIES: [&str; 6] = [
    "events",
    "beat_locked",
    "unrelated",
    "mixed",
    "dense",
    "sparse",
];
const FPS: u32 = 25;
const DURATION_S: f64 = 24.0;
const FRAME_MS: f64 = 1000.0 / FPS as f64;
/// The head commits only at probabilities of at least this, whatever validation allows.
const MIN_THRESHOLD: f32 = 0.9;

/// What `evalverse train` takes.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    pub sequences: usize,
    pub seed: u64,
    pub steps: usize,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            sequences: 900,
            seed: 1,
            steps: 1500,
        }
    }
}

/// One horizon of one generated sequence.
#[derive(Clone, Debug)]
pub struct Example {
    pub sequence: usize,
    pub family: usize,
    /// `None`: no visual event found a sound (nothing to commit to).
    pub evidence: Option<[f32; EVIDENCE]>,
    pub matched: usize,
    pub candidate_ms: Option<f64>,
    pub truth_ms: f64,
    /// The hand-set rules committed.
    pub rules_commit: bool,
    /// In the head's domain ([`SyncEstimate::decidable`]).
    pub decidable: bool,
}

impl Example {
    pub fn error_ms(&self) -> Option<f64> {
        self.candidate_ms.map(|c| (c - self.truth_ms).abs())
    }
    pub fn right(&self) -> bool {
        self.error_ms().is_some_and(|e| e <= FRAME_MS)
    }

    /// Whether the candidate is committed with the head at `threshold` giving `p`, as at run
    /// time: the head decides in its domain, the rules outside it.
    pub fn committed(&self, p: f32, threshold: f32) -> bool {
        if self.decidable && self.evidence.is_some() {
            commits_at(threshold, p, self.matched)
        } else {
            self.rules_commit
        }
    }

    /// Whether the head's gate alone commits (the MLP left out: every candidate in the head's
    /// domain with at least two matched pairs), the rules outside the domain — the ablation
    /// that says what the MLP adds.
    pub fn gate_commits(&self) -> bool {
        self.committed(1.0, 0.0)
    }
}

/// A tiny deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.unit()
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

fn irregular(rng: &mut Rng, from: f64, until: f64, gap: (f64, f64)) -> Vec<f64> {
    let mut t = from;
    let mut v = vec![];
    while t < until {
        v.push((t * 1000.0).round() / 1000.0);
        t += rng.range(gap.0, gap.1);
    }
    v
}

fn poisson(rng: &mut Rng, rate: f64, until: f64) -> Vec<f64> {
    let mut t = 0.0;
    let mut v = vec![];
    loop {
        t += -(1.0 - rng.unit()).ln() / rate.max(1e-6);
        if t >= until {
            return v;
        }
        v.push(t);
    }
}

/// Irregular cuts (gaps 1–4 s) and the share of them that get no beep: (cuts, silent cuts).
fn cuts_with_sounds(rng: &mut Rng, until: f64, silent_share: f64) -> (Vec<f64>, Vec<f64>) {
    let first = rng.range(0.5, 2.0);
    let cuts = irregular(rng, first, until, (1.0, 4.0));
    let silent = if silent_share >= 1.0 {
        cuts.clone()
    } else {
        cuts.iter()
            .copied()
            .filter(|_| rng.chance(silent_share))
            .collect()
    };
    (cuts, silent)
}

/// The `i`-th generated sequence of a seed, and its family.
pub fn scenario(seed: u64, i: usize) -> (SceneSpec, usize) {
    let mut rng =
        Rng(seed.wrapping_mul(0x2545f4914f6cdd1d) ^ (i as u64).wrapping_mul(0x9e3779b97f4a7c15));
    let family = i % FAMILIES.len();
    let until = DURATION_S - 0.5;
    let mut spec = SceneSpec {
        width: 160,
        height: 90,
        fps: FPS,
        duration_s: DURATION_S,
        audio_delay_ms: rng.range(-500.0, 500.0).round(),
        seed: rng.next() % 1_000_000,
        ..Default::default()
    };
    match family {
        0 => {
            (spec.cuts, spec.silent_cuts) = cuts_with_sounds(&mut rng, until, 0.1);
            let flashes = (rng.unit() * 4.0) as usize;
            spec.flashes = (0..flashes).map(|_| rng.range(1.0, until)).collect();
        }
        1 => {
            let period = rng.range(0.4, 1.0);
            let mut t = rng.range(0.3, 1.0);
            while t < until {
                spec.extra_beeps.push(t);
                if rng.chance(0.5) {
                    spec.cuts.push(t);
                    spec.silent_cuts.push(t); // the beat's click is already there
                }
                t += period;
            }
        }
        2 => {
            (spec.cuts, spec.silent_cuts) = cuts_with_sounds(&mut rng, until, 1.0);
            let rate = rng.range(0.3, 3.0);
            spec.extra_beeps = poisson(&mut rng, rate, until);
        }
        3 => {
            (spec.cuts, spec.silent_cuts) = cuts_with_sounds(&mut rng, until, 0.5);
            let rate = rng.range(0.1, 1.0);
            spec.extra_beeps = poisson(&mut rng, rate, until);
        }
        4 => {
            (spec.cuts, spec.silent_cuts) = cuts_with_sounds(&mut rng, until, 0.2);
            let period = rng.range(0.25, 0.6);
            let jitter = rng.range(0.0, 0.03);
            let mut t = rng.range(0.1, 0.5);
            while t < until {
                spec.extra_beeps.push(t + rng.range(-jitter, jitter));
                t += period;
            }
        }
        _ => {
            let n = 1 + (rng.unit() * 3.0) as usize;
            spec.cuts = (0..n).map(|_| rng.range(1.0, until)).collect();
            spec.cuts.sort_by(f64::total_cmp);
            spec.extra_beeps = poisson(&mut rng, 0.1, until);
        }
    }
    spec.extra_beeps.retain(|t| *t > 0.05);
    spec.extra_beeps.sort_by(f64::total_cmp);
    (spec, family)
}

/// Feed a generated sequence into a stream evaluator in-process (no encoding): the frames of
/// `video`, and audio from the last of `audio` (start time, spec) that has started — so a test
/// can change the audio delay mid-stream. Audio is generated at 48 kHz and averaged down to the
/// analysis rate, one frame's worth at a time. Returns the records (without finishing).
pub fn feed(
    ev: &mut StreamEvaluator,
    video: &Scene,
    audio: &[(f64, &Scene)],
    a: &AnalysisSettings,
) -> Vec<crate::score::record::Record> {
    let mut out = vec![];
    let (scene, video) = (video, &video.spec);
    let (w, h) = (video.width, video.height);
    let frame_s = 1.0 / video.fps as f64;
    let factor = (48_000 / a.audio_rate.max(1)) as usize;
    let chunk_out = (a.audio_rate as usize) / video.fps as usize;
    let mut buf = vec![];
    let mut hi = vec![];
    for n in 0..video.frames() {
        scene.render(n, &mut buf);
        let pts = n as f64 * frame_s;
        ev.push_video(
            VideoFrame::from_i420(n, pts, frame_s, (w, h), &buf),
            &mut out,
        );
        let Some((_, spec)) = audio
            .iter()
            .rev()
            .find(|(t, _)| *t <= pts + 1e-9)
            .or(audio.first())
        else {
            continue;
        };
        spec.audio(n * (chunk_out * factor) as u64, chunk_out * factor, &mut hi);
        let samples: Vec<f32> = hi
            .chunks_exact(factor)
            .map(|c| c.iter().sum::<f32>() / factor as f32)
            .collect();
        ev.push_audio(
            AudioChunk {
                pts,
                rate: a.audio_rate,
                samples,
                arrival: Instant::now(),
                damaged: false,
            },
            &mut out,
        );
    }
    out
}

/// Run one sequence through the stream pipeline; its examples (live horizons and the whole).
pub fn examples_of(
    spec: &SceneSpec,
    family: usize,
    sequence: usize,
    model: &Model,
    a: &AnalysisSettings,
) -> Vec<Example> {
    let id: crate::types::StreamId = Arc::from(format!("train-{sequence}"));
    let mut ev = StreamEvaluator::new(id, a, &[], model.clone(), false, Timing::File);
    ev.set_media(Media {
        video: true,
        audio: true,
    });
    ev.keep_sync_evidence();
    // Training scenes read no sound files: working them out cannot fail.
    let scene = spec.scene().expect("a scene without sound files");
    let mut out = feed(&mut ev, &scene, &[(0.0, &scene)], a);
    ev.finish(&mut out);
    let origin = ev.origin().unwrap_or(0.0);
    let (visual, onsets) = ev.sync_evidence();
    let end = spec.duration_s;
    let mut horizons: Vec<(f64, f64)> = (0..)
        .map(|k| origin + a.window_s + k as f64 * a.hop_s)
        .take_while(|e| *e <= end + 1e-9)
        .map(|e| ((e - a.sync_horizon_s).max(origin), e))
        .collect();
    horizons.push((origin, end));
    horizons
        .into_iter()
        .map(|(from, to)| {
            let est: SyncEstimate = model.sync(visual, onsets, from, to, a.sync_search_ms);
            let evidence = est.evidence();
            Example {
                sequence,
                family,
                evidence,
                matched: est.matched,
                candidate_ms: evidence.and(est.best_lag_ms),
                truth_ms: spec.audio_delay_ms,
                rules_commit: est.audio_delay_ms.is_some(),
                decidable: est.decidable(),
            }
        })
        .collect()
}

/// Generate the examples of `opts.sequences` sequences (the rules decide in them).
pub fn generate(opts: &TrainOptions, progress: &mut dyn FnMut(usize, usize)) -> Vec<Example> {
    let model = match Model::new(crate::config::BackendChoice::Cpu) {
        Ok(m) => m.with_sync_head(SyncHead::Rules),
        Err(_) => return vec![],
    };
    let a = AnalysisSettings::default();
    let mut all = vec![];
    for i in 0..opts.sequences {
        let (spec, family) = scenario(opts.seed, i);
        all.extend(examples_of(&spec, family, i, &model, &a));
        progress(i + 1, opts.sequences);
    }
    all
}

/// Which split a sequence belongs to: 0 train, 1 validation, 2 test (60/20/20, interleaved so
/// every family is in each).
pub fn split_of(sequence: usize) -> usize {
    match (sequence / FAMILIES.len()) % 5 {
        0..=2 => 0,
        3 => 1,
        _ => 2,
    }
}

/// Coverage, precision and confident wrong answers of a set of decisions.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Outcome {
    pub horizons: usize,
    pub committed: usize,
    pub right: usize,
    pub confident_wrong: usize,
}

impl Outcome {
    pub fn coverage(&self) -> f64 {
        self.committed as f64 / self.horizons.max(1) as f64
    }
    pub fn precision(&self) -> Option<f64> {
        (self.committed > 0).then(|| self.right as f64 / self.committed as f64)
    }
    fn add(&mut self, e: &Example, commit: bool) {
        self.horizons += 1;
        if commit {
            self.committed += 1;
            if e.right() {
                self.right += 1;
            }
            if e.error_ms().is_none_or(|x| x > 2.0 * FRAME_MS) {
                self.confident_wrong += 1;
            }
        }
    }
}

/// Outcome of a decision rule over examples.
pub fn outcome<'a>(
    examples: impl Iterator<Item = &'a Example>,
    commit: impl Fn(&Example) -> bool,
) -> Outcome {
    let mut o = Outcome::default();
    for e in examples {
        o.add(e, commit(e));
    }
    o
}

/// The rules, the head's gate alone and the head (gate + MLP) on the same examples, as at run
/// time (the head decides in its domain, the rules outside it).
pub struct Comparison {
    pub rules: Outcome,
    pub gate: Outcome,
    pub learned: Outcome,
}

/// See [`Comparison`].
pub fn compare(examples: &[Example], head: &CommitHead) -> Comparison {
    let rows: Vec<[f32; EVIDENCE]> = examples.iter().filter_map(|e| e.evidence).collect();
    let mut p = head.probabilities(&rows).into_iter();
    let mut c = Comparison {
        rules: Outcome::default(),
        gate: Outcome::default(),
        learned: Outcome::default(),
    };
    for e in examples {
        let prob = if e.evidence.is_some() {
            p.next().unwrap_or(0.0)
        } else {
            0.0
        };
        c.rules.add(e, e.rules_commit);
        c.gate.add(e, e.gate_commits());
        c.learned.add(e, e.committed(prob, head.threshold));
    }
    c
}

/// A trained head and how it was made.
pub struct Trained {
    pub weights: CommitWeights,
    pub test_rules: Outcome,
    pub test_gate: Outcome,
    pub test_learned: Outcome,
    /// (family, rules, gate alone, gate + MLP).
    pub per_family: Vec<(&'static str, Outcome, Outcome, Outcome)>,
}

fn init(rng: &mut Rng, n: usize, fan_in: usize) -> Vec<f32> {
    let bound = 1.0 / (fan_in as f64).sqrt();
    (0..n).map(|_| rng.range(-bound, bound) as f32).collect()
}

/// Train on the examples' training split; pick the threshold on validation; report on test.
pub fn train(examples: &[Example], opts: &TrainOptions) -> Trained {
    #[allow(deprecated)]
    let device: Device = Device::ndarray();
    let usable = |split: usize| {
        examples
            .iter()
            .filter(move |e| split_of(e.sequence) == split && e.evidence.is_some() && e.decidable)
    };
    let rows: Vec<[f32; EVIDENCE]> = usable(0)
        .map(|e| e.evidence.unwrap_or([0.0; EVIDENCE]))
        .collect();
    let labels: Vec<f32> = usable(0).map(|e| e.right() as u8 as f32).collect();
    let (mean, std) = standardisation(&rows);
    let standardised: Vec<f32> = rows
        .iter()
        .flat_map(|r| (0..EVIDENCE).map(|k| (r[k] - mean[k]) / std[k]))
        .collect();
    let (w1, b1, w2, b2) = fit(&standardised, &labels, opts, &device);
    let mut weights = CommitWeights {
        about: "Learned sync commitment head of evalverse (src/model/commit.rs); written by `evalverse train`".into(),
        features: ["ln1p_matched", "ln1p_visual_events", "ln1p_onsets_per_s", "matched_share", "z_over_chance", "second_peak_ratio", "spread_over_12ms", "chance", "neg_log10_global_chance"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        mean,
        std,
        w1,
        b1,
        w2,
        b2,
        threshold: 1.0,
        training: serde_json::Value::Null,
    };
    let head = CommitHead::new(&weights, &device);
    let val = probabilities(&head, examples, 1);
    weights.threshold = choose_threshold(&val);
    let threshold = weights.threshold;
    let test = probabilities(&head, examples, 2);
    let learned = |p: f32, e: &Example| e.committed(p, threshold);
    let mut per_family = vec![];
    let (mut tr, mut tg, mut tl) = (Outcome::default(), Outcome::default(), Outcome::default());
    for (f, name) in FAMILIES.iter().enumerate() {
        let (mut r, mut g, mut l) = (Outcome::default(), Outcome::default(), Outcome::default());
        for (p, e) in test.iter().filter(|(_, e)| e.family == f) {
            if learned(*p, e) && !e.right() {
                tracing::info!(family = name, p, matched = e.matched, error_ms = ?e.error_ms(), evidence = ?e.evidence, "learned head commits wrongly");
            }
            r.add(e, e.rules_commit);
            g.add(e, e.gate_commits());
            l.add(e, learned(*p, e));
            tr.add(e, e.rules_commit);
            tg.add(e, e.gate_commits());
            tl.add(e, learned(*p, e));
        }
        per_family.push((*name, r, g, l));
    }
    let val_rules = outcome(val.iter().map(|(_, e)| *e), |e| e.rules_commit);
    let val_learned = {
        let mut o = Outcome::default();
        for (p, e) in &val {
            o.add(e, learned(*p, e));
        }
        o
    };
    weights.training = serde_json::json!({
        "sequences": opts.sequences,
        "seed": opts.seed,
        "steps": opts.steps,
        "examples": examples.len(),
        "train_examples_with_evidence": rows.len(),
        "label": "candidate delay within one frame (40 ms) of the truth",
        "validation": { "rules": val_rules, "learned": val_learned },
        "test": { "rules": tr, "gate": tg, "learned": tl },
    });
    Trained {
        weights,
        test_rules: tr,
        test_gate: tg,
        test_learned: tl,
        per_family,
    }
}

/// Mean and standard deviation (at least 1e-3) of each evidence figure over the rows.
fn standardisation(rows: &[[f32; EVIDENCE]]) -> (Vec<f32>, Vec<f32>) {
    let n = rows.len().max(1);
    let mut mean = vec![0f32; EVIDENCE];
    let mut std = vec![0f32; EVIDENCE];
    for k in 0..EVIDENCE {
        let m = rows.iter().map(|r| r[k] as f64).sum::<f64>() / n as f64;
        let v = rows.iter().map(|r| (r[k] as f64 - m).powi(2)).sum::<f64>() / n as f64;
        mean[k] = m as f32;
        std[k] = (v.sqrt() as f32).max(1e-3);
    }
    (mean, std)
}

/// Fit the MLP on standardised rows (row-major, EVIDENCE wide) with full-batch Adam on binary
/// cross-entropy; its parameters.
#[allow(clippy::type_complexity)]
fn fit(
    standardised: &[f32],
    labels: &[f32],
    opts: &TrainOptions,
    device: &Device,
) -> (Vec<f32>, Vec<f32>, Vec<f32>, f32) {
    let mut rng = Rng(opts.seed ^ 0x5eed_c0de);
    let (w1, b1) = (
        init(&mut rng, EVIDENCE * HIDDEN, EVIDENCE),
        init(&mut rng, HIDDEN, EVIDENCE),
    );
    let (w2, b2) = (init(&mut rng, HIDDEN, HIDDEN), init(&mut rng, 1, HIDDEN)[0]);
    let ad = device.clone().autodiff();
    let mut net = CommitNet::from_parts(&w1, &b1, &w2, b2, &ad);
    let x = Tensor::<2>::from_data(
        TensorData::new(standardised.to_vec(), [labels.len(), EVIDENCE]),
        &ad,
    );
    let y = Tensor::<1>::from_data(TensorData::new(labels.to_vec(), [labels.len()]), &ad);
    let mut optim = AdamConfig::new().init();
    for _ in 0..opts.steps {
        let z = net.forward(x.clone());
        // Binary cross-entropy on logits: max(z, 0) − z·y + ln(1 + e^−|z|).
        let loss = (z.clone().clamp_min(0.0) - z.clone() * y.clone()
            + z.abs().neg().exp().add_scalar(1.0).log())
        .mean();
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = optim.step(0.01, net, grads);
    }
    net.valid().parts()
}

/// The head's probability for every example of a split (0 where there is no evidence).
fn probabilities<'a>(
    head: &CommitHead,
    examples: &'a [Example],
    split: usize,
) -> Vec<(f32, &'a Example)> {
    let ex: Vec<&Example> = examples
        .iter()
        .filter(|e| split_of(e.sequence) == split)
        .collect();
    let with: Vec<[f32; EVIDENCE]> = ex.iter().filter_map(|e| e.evidence).collect();
    let mut it = head.probabilities(&with).into_iter();
    ex.into_iter()
        .map(|e| {
            let p = if e.evidence.is_some() {
                it.next().unwrap_or(0.0)
            } else {
                0.0
            };
            (p, e)
        })
        .collect()
}

/// Threshold: the lowest at which validation precision is ≥ 99.5 % with no answer more than
/// 2 frames off (and at least 20 commitments); never below [`MIN_THRESHOLD`] (the head must
/// itself be confident); 1.0 (never commit) when none qualifies.
fn choose_threshold(val: &[(f32, &Example)]) -> f32 {
    let mut cands: Vec<f32> = val
        .iter()
        .filter(|(_, e)| e.matched >= HEAD_MIN_MATCHED && e.evidence.is_some())
        .map(|(p, _)| *p)
        .collect();
    cands.sort_by(f32::total_cmp);
    cands.dedup();
    for &t in &cands {
        let mut o = Outcome::default();
        for (p, e) in val {
            o.add(e, e.committed(*p, t));
        }
        if o.committed >= 20 && o.precision().is_some_and(|p| p >= 0.995) && o.confident_wrong == 0
        {
            return t.max(MIN_THRESHOLD);
        }
    }
    1.0
}

/// Markdown report of a training run.
pub fn report(t: &Trained) -> String {
    let pct = |x: Option<f64>| {
        x.map(|v| format!("{:.1} %", 100.0 * v))
            .unwrap_or_else(|| "n/a".into())
    };
    let mut s = String::from(
        "| test split | rules: coverage / precision / wrong > 2 frames | gate alone: coverage / precision / wrong | gate + MLP: coverage / precision / wrong |\n|---|---|---|---|\n",
    );
    let cell = |o: &Outcome| {
        format!(
            "{} / {} / {}",
            pct(Some(o.coverage())),
            pct(o.precision()),
            o.confident_wrong
        )
    };
    let mut row = |name: &str, r: &Outcome, g: &Outcome, l: &Outcome| {
        s.push_str(&format!(
            "| {name} ({} horizons) | {} | {} | {} |\n",
            r.horizons,
            cell(r),
            cell(g),
            cell(l)
        ));
    };
    for (name, r, g, l) in &t.per_family {
        row(name, r, g, l);
    }
    row("**all**", &t.test_rules, &t.test_gate, &t.test_learned);
    s.push_str(&format!("\nthreshold {:.3}\n", t.weights.threshold));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same options give the same weights, bit for bit.
    #[test]
    fn training_is_deterministic() {
        let opts = TrainOptions {
            sequences: 12,
            seed: 5,
            steps: 40,
        };
        let ex = generate(&opts, &mut |_, _| {});
        assert!(ex.len() > 100, "{} examples", ex.len());
        assert!(
            ex.iter().any(|e| e.right()) && ex.iter().any(|e| e.evidence.is_some() && !e.right()),
            "both labels occur"
        );
        let a = serde_json::to_string(&train(&ex, &opts).weights).unwrap();
        let b =
            serde_json::to_string(&train(&generate(&opts, &mut |_, _| {}), &opts).weights).unwrap();
        assert_eq!(a, b);
    }
}
