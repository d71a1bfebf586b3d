//! Expert-calibrated scores: a mapping fitted by `evalverse calibrate` from our measurements to
//! the judgement of a studio's own raters, applied to every window and to the whole input.
//!
//! **The feature vector** (`EXTRACTOR_VERSION`): the window records of a span of input,
//! aggregated per [`FEATURES`] — a JSON path of the `window` record and how it is pooled over
//! the windows (mean, worst, share). A clip's vector pools all its windows; a live stream's
//! pools the trailing windows that span as long as the clips the mapping was fitted on, so the
//! rolling calibrated score answers "what would our raters give a clip like the last N
//! seconds". A measurement a window lacks (sync without audio, no committed delay) takes the
//! documented `missing` value. Changing this table (names, paths, pooling, missing values)
//! changes the version, and a mapping fitted with another version is refused.
//!
//! **The mapping** (VQEG practice, monotone): features standardised with the training clips'
//! mean and sd, a ridge-regularised linear predictor `s = b + w·z`, then the 4-parameter
//! logistic `y = (β1 − β2) / (1 + exp(−(s − β3) / |β4|)) + β2` onto the raters' scale.
use super::record::WindowRecord;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::path::Path;

/// Version of the feature vector below; stored in every calibration file.
pub const EXTRACTOR_VERSION: &str = "evalverse-features/1";

/// Format of the calibration file.
pub const FORMAT: &str = "evalverse-calibration/1";

/// How a window measurement is pooled over the windows of a span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pool {
    /// Mean over the windows that have it.
    Mean,
    /// The lowest value (the worst window of a score).
    Min,
    /// The highest value (the worst window of a fault ratio).
    Max,
    /// Mean of |value| over the windows that have it.
    MeanAbs,
    /// Share of the windows in which the value is present (not null).
    Present,
}

/// One entry of the feature vector.
#[derive(Clone, Copy, Debug)]
pub struct FeatureDef {
    pub name: &'static str,
    /// Where it is in the `window` record (JSON path, for reports and docs) ...
    pub path: &'static str,
    /// ... and the typed read of it.
    pub get: fn(&WindowRecord) -> Option<f64>,
    pub pool: Pool,
    /// Value when no window of the span has the measurement.
    pub missing: f64,
}

const fn f(
    name: &'static str,
    path: &'static str,
    get: fn(&WindowRecord) -> Option<f64>,
    pool: Pool,
    missing: f64,
) -> FeatureDef {
    FeatureDef {
        name,
        path,
        get,
        pool,
        missing,
    }
}

/// The feature vector, version [`EXTRACTOR_VERSION`]. Scores are 0–100, ratios 0–1 of a
/// window's time, delays in ms. A sync measure without evidence reads as "no known problem"
/// (score 100, delay 0) with `sync_committed_share` saying how much evidence there was.
#[rustfmt::skip]
pub const FEATURES: &[FeatureDef] = &[
    f("overall_mean", "scores.overall", |w| w.scores.overall, Pool::Mean, 100.0),
    f("overall_worst", "scores.overall", |w| w.scores.overall, Pool::Min, 100.0),
    f("continuity_mean", "scores.continuity", |w| w.scores.continuity, Pool::Mean, 100.0),
    f("continuity_worst", "scores.continuity", |w| w.scores.continuity, Pool::Min, 100.0),
    f("rhythm_mean", "scores.rhythm", |w| w.scores.rhythm, Pool::Mean, 100.0),
    f("sync_mean", "scores.sync", |w| w.scores.sync, Pool::Mean, 100.0),
    f("sync_worst", "scores.sync", |w| w.scores.sync, Pool::Min, 100.0),
    f("sync_abs_delay_ms", "sync.audio_delay_ms", |w| w.sync.as_ref()?.audio_delay_ms, Pool::MeanAbs, 0.0),
    f("sync_committed_share", "sync.audio_delay_ms", |w| w.sync.as_ref()?.audio_delay_ms, Pool::Present, 0.0),
    f("freeze_ratio", "continuity.freeze_ratio", |w| Some(w.continuity.freeze_ratio), Pool::Mean, 0.0),
    f("freeze_ratio_worst", "continuity.freeze_ratio", |w| Some(w.continuity.freeze_ratio), Pool::Max, 0.0),
    f("black_ratio", "continuity.black_ratio", |w| Some(w.continuity.black_ratio), Pool::Mean, 0.0),
    f("black_ratio_worst", "continuity.black_ratio", |w| Some(w.continuity.black_ratio), Pool::Max, 0.0),
    f("silence_ratio", "continuity.silence_ratio", |w| w.continuity.silence_ratio, Pool::Mean, 0.0),
    f("silence_ratio_worst", "continuity.silence_ratio", |w| w.continuity.silence_ratio, Pool::Max, 0.0),
    f("flicker_ratio", "continuity.flicker_ratio", |w| Some(w.continuity.flicker_ratio), Pool::Mean, 0.0),
    f("flicker_index_worst", "continuity.flicker_index", |w| Some(w.continuity.flicker_index), Pool::Max, 0.0),
    f("flashes_per_window", "continuity.flashes", |w| Some(w.continuity.flashes as f64), Pool::Mean, 0.0),
    f("glitches_per_window", "continuity.glitches", |w| Some(w.continuity.glitches as f64), Pool::Mean, 0.0),
    f("static_ratio", "continuity.static_ratio", |w| Some(w.continuity.static_ratio), Pool::Mean, 0.0),
    f("cuts_per_minute", "rhythm.cuts_per_minute", |w| Some(w.rhythm.cuts_per_minute), Pool::Mean, 0.0),
    f("short_shots", "rhythm.short_shots", |w| Some(w.rhythm.short_shots as f64), Pool::Mean, 0.0),
    f("style_drift", "style.drift_sequence", |w| w.style.as_ref()?.drift_sequence.map(f64::from), Pool::Mean, 0.0),
];

/// The names of [`FEATURES`], in order.
pub fn feature_names() -> Vec<String> {
    FEATURES.iter().map(|f| f.name.to_string()).collect()
}

/// One window's value of every feature (finite ones only).
pub fn window_values(w: &WindowRecord) -> Vec<Option<f64>> {
    FEATURES
        .iter()
        .map(|def| (def.get)(w).filter(|x| x.is_finite()))
        .collect()
}

/// The feature vector of a span of input, from its window records.
pub fn extract(windows: &[WindowRecord]) -> Vec<f64> {
    let mut pooled = Pooled::default();
    for w in windows {
        pooled.push(&window_values(w));
    }
    pooled.features()
}

/// Feature standardisation fitted on the training clips.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Normalisation {
    pub mean: Vec<f64>,
    pub sd: Vec<f64>,
}

impl Normalisation {
    pub fn fit(x: &[Vec<f64>]) -> Self {
        let d = x.first().map_or(0, Vec::len);
        let n = x.len().max(1) as f64;
        let mean: Vec<f64> = (0..d)
            .map(|j| x.iter().map(|r| r[j]).sum::<f64>() / n)
            .collect();
        let sd = (0..d)
            .map(|j| {
                let v = x.iter().map(|r| (r[j] - mean[j]).powi(2)).sum::<f64>() / n;
                // A constant feature carries no information; sd 1 keeps it at z = 0.
                if v.sqrt() > 1e-9 { v.sqrt() } else { 1.0 }
            })
            .collect();
        Self { mean, sd }
    }
    pub fn apply(&self, x: &[f64]) -> Vec<f64> {
        x.iter()
            .zip(self.mean.iter().zip(&self.sd))
            .map(|(v, (m, s))| (v - m) / s)
            .collect()
    }
}

/// The VQEG 4-parameter logistic.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct Logistic {
    pub b1: f64,
    pub b2: f64,
    pub b3: f64,
    pub b4: f64,
}

impl Logistic {
    pub fn eval(&self, s: f64) -> f64 {
        let t = ((s - self.b3) / self.b4.abs().max(1e-9)).clamp(-60.0, 60.0);
        (self.b1 - self.b2) / (1.0 + (-t).exp()) + self.b2
    }
    /// The identity on [lo, hi]'s middle (a start value and the fallback when a fit fails).
    pub fn linear_start(s: &[f64], y: &[f64]) -> Self {
        let (ymin, ymax) = min_max(y);
        let (smin, smax) = min_max(s);
        let mid = s.iter().sum::<f64>() / s.len().max(1) as f64;
        let spread = ((smax - smin) / 4.0).max(1e-3);
        Self {
            b1: ymax + 0.05 * (ymax - ymin).max(1e-3),
            b2: ymin - 0.05 * (ymax - ymin).max(1e-3),
            b3: mid,
            b4: spread,
        }
    }
}

fn min_max(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(*x), b.max(*x))
        })
}

/// A fitted mapping from the feature vector to one dimension of the raters' judgement.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DimensionMapping {
    /// Ridge weights on the standardised features (same order as `features`).
    pub weights: Vec<f64>,
    pub intercept: f64,
    /// The ridge penalty chosen by grouped cross-validation inside the training clips.
    pub lambda: f64,
    pub logistic: Logistic,
    /// Clips and groups it was fitted on.
    pub n_clips: usize,
    pub n_groups: usize,
    /// Held-out agreement (median of the grouped splits) quoted from the report.
    #[serde(default)]
    pub validation: BTreeMap<String, f64>,
}

impl DimensionMapping {
    pub fn linear(&self, z: &[f64]) -> f64 {
        self.intercept + self.weights.iter().zip(z).map(|(w, x)| w * x).sum::<f64>()
    }
    pub fn predict(&self, z: &[f64]) -> f64 {
        self.logistic.eval(self.linear(z))
    }
}

/// A Bradley–Terry preference model on feature differences: P(a preferred to b) =
/// σ(w·(z_a − z_b)); `w·z` is the clip's utility.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PreferenceModel {
    pub weights: Vec<f64>,
    pub lambda: f64,
    pub n_pairs: usize,
}

/// The calibration file written by `evalverse calibrate` and read by `--calibration`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Calibration {
    pub format: String,
    pub extractor_version: String,
    pub features: Vec<String>,
    pub normalisation: Normalisation,
    /// The raters' scale (lowest and highest possible score), e.g. [1, 5].
    pub scale: [f64; 2],
    /// Per dimension (`overall` or one of ours) the fitted mapping.
    pub dimensions: BTreeMap<String, DimensionMapping>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preference: Option<PreferenceModel>,
    /// Median duration of the training clips: live streams pool their trailing windows over
    /// this span.
    pub span_s: f64,
    pub seed: u64,
    /// SHA-256 of the label files, in the order given.
    pub labels_sha256: Vec<String>,
    pub created_by: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CalibrationError {
    #[error("cannot read calibration file {path}: {why}")]
    Read {
        path: String,
        why: crate::files::SmallFileError,
    },
    /// `message`: the parser's words, cut to a short excerpt.
    #[error("calibration file {path} is not valid: {message}")]
    Parse { path: String, message: String },
    #[error(
        "calibration file {path} was fitted on feature vector {found}, this evalverse extracts \
         {expected}: refit it with `evalverse calibrate` (the cached features are re-extracted \
         automatically)"
    )]
    Version {
        path: String,
        found: String,
        expected: &'static str,
    },
    #[error("calibration file {path} is inconsistent: {why}")]
    Shape { path: String, why: String },
}

/// Largest calibration file read (one is a few KB per dimension).
pub const MAX_CALIBRATION_BYTES: u64 = 16 * 1024 * 1024;

impl Calibration {
    pub fn load(path: &Path) -> Result<Self, CalibrationError> {
        let p = path.display().to_string();
        let text = crate::files::read_text(path, MAX_CALIBRATION_BYTES, "calibration file")
            .map_err(|why| CalibrationError::Read {
                path: p.clone(),
                why,
            })?;
        let c: Calibration = serde_json::from_str(&text).map_err(|e| CalibrationError::Parse {
            path: p.clone(),
            message: crate::files::excerpt(&e.to_string()),
        })?;
        if c.extractor_version != EXTRACTOR_VERSION || c.features != feature_names() {
            return Err(CalibrationError::Version {
                path: p,
                found: c.extractor_version,
                expected: EXTRACTOR_VERSION,
            });
        }
        c.check_shape()
            .map_err(|why| CalibrationError::Shape { path: p, why })?;
        Ok(c)
    }

    fn check_shape(&self) -> Result<(), String> {
        let d = self.features.len();
        if self.format != FORMAT {
            return Err(format!("format {:?}, expected {FORMAT:?}", self.format));
        }
        if self.normalisation.mean.len() != d || self.normalisation.sd.len() != d {
            return Err("normalisation length differs from the feature list".into());
        }
        if self.dimensions.is_empty() {
            return Err("no dimension mapping".into());
        }
        for (name, m) in &self.dimensions {
            if m.weights.len() != d {
                return Err(format!(
                    "{name}: {} weights for {d} features",
                    m.weights.len()
                ));
            }
            let finite = m.weights.iter().all(|w| w.is_finite())
                && [
                    m.intercept,
                    m.logistic.b1,
                    m.logistic.b2,
                    m.logistic.b3,
                    m.logistic.b4,
                ]
                .iter()
                .all(|x| x.is_finite());
            if !finite {
                return Err(format!("{name}: a parameter is not a finite number"));
            }
        }
        if !(self.span_s.is_finite() && self.span_s > 0.0) {
            return Err("span_s must be a positive number of seconds".into());
        }
        Ok(())
    }

    /// Calibrated scores per dimension for a feature vector, rounded to 3 decimals.
    pub fn scores(&self, features: &[f64]) -> BTreeMap<String, f64> {
        let z = self.normalisation.apply(features);
        self.dimensions
            .iter()
            .map(|(k, m)| (k.clone(), (m.predict(&z) * 1000.0).round() / 1000.0))
            .collect()
    }
}

/// Applies a calibration to a stream as its windows are scored: the trailing windows spanning
/// `span_s` for each window, all windows for the summary.
pub struct Tracker {
    cal: std::sync::Arc<Calibration>,
    /// The trailing windows' starts and feature values.
    trailing: VecDeque<(f64, Vec<Option<f64>>)>,
    /// Running pooled state of the whole input (kept compact: one JSON value per window would
    /// grow without bound on a week-long stream).
    whole: Pooled,
}

impl Tracker {
    pub fn new(cal: std::sync::Arc<Calibration>) -> Self {
        Self {
            cal,
            trailing: VecDeque::new(),
            whole: Pooled::default(),
        }
    }

    /// The calibrated scores of the span ending with window `w`.
    pub fn on_window(&mut self, w: &WindowRecord) -> BTreeMap<String, f64> {
        let v = window_values(w);
        self.whole.push(&v);
        self.trailing.push_back((w.start, v));
        while let Some((start, _)) = self.trailing.front() {
            // Windows overlap: keep those lying wholly within the span, as a training clip of
            // that length has them (always the newest one).
            if *start < w.end - self.cal.span_s - 1e-9 && self.trailing.len() > 1 {
                self.trailing.pop_front();
            } else {
                break;
            }
        }
        let mut span = Pooled::default();
        for (_, v) in &self.trailing {
            span.push(v);
        }
        self.cal.scores(&span.features())
    }

    /// The calibrated scores of the whole input so far.
    pub fn whole(&self) -> Option<BTreeMap<String, f64>> {
        (self.whole.windows > 0).then(|| self.cal.scores(&self.whole.features()))
    }
}

/// The pooling of [`FEATURES`] kept as running sums, so a whole-stream vector costs O(features)
/// memory.
#[derive(Default)]
struct Pooled {
    windows: usize,
    /// Per feature: sum, count, min, max.
    acc: Vec<(f64, usize, f64, f64)>,
}

impl Pooled {
    /// One window's feature values ([`window_values`]).
    fn push(&mut self, values: &[Option<f64>]) {
        if self.acc.is_empty() {
            self.acc = vec![(0.0, 0, f64::INFINITY, f64::NEG_INFINITY); FEATURES.len()];
        }
        self.windows += 1;
        for ((def, a), x) in FEATURES.iter().zip(self.acc.iter_mut()).zip(values) {
            if let Some(x) = *x {
                a.0 += if def.pool == Pool::MeanAbs {
                    x.abs()
                } else {
                    x
                };
                a.1 += 1;
                a.2 = a.2.min(x);
                a.3 = a.3.max(x);
            }
        }
    }
    fn features(&self) -> Vec<f64> {
        let empty = (0.0, 0, f64::INFINITY, f64::NEG_INFINITY);
        FEATURES
            .iter()
            .enumerate()
            .map(|(i, def)| (def, self.acc.get(i).copied().unwrap_or(empty)))
            .map(|(def, (sum, n, min, max))| match def.pool {
                Pool::Present => n as f64 / self.windows.max(1) as f64,
                _ if n == 0 => def.missing,
                Pool::Mean | Pool::MeanAbs => sum / n as f64,
                Pool::Min => min,
                Pool::Max => max,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each feature's documented path names the value its typed read gives, on every window
    /// of the golden run.
    #[test]
    fn every_feature_path_names_what_it_reads() {
        let windows: Vec<serde_json::Value> = include_str!("../../tests/data/golden.jsonl")
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| v["type"] == "window")
            .collect();
        assert!(windows.len() >= 5);
        for json in &windows {
            let w: WindowRecord = serde_json::from_value(json.clone()).unwrap();
            for def in FEATURES {
                let at = json.pointer(&format!("/{}", def.path.replace('.', "/")));
                let by_path = at.and_then(serde_json::Value::as_f64);
                let typed = (def.get)(&w);
                match (by_path, typed) {
                    (Some(a), Some(b)) => assert!(
                        (a - b).abs() < 1e-5 * b.abs().max(1.0),
                        "{}: {a} vs {b}",
                        def.name
                    ),
                    (None, None) => {}
                    (a, b) => panic!(
                        "{} ({}): path gives {a:?}, read gives {b:?}",
                        def.name, def.path
                    ),
                }
            }
        }
    }

    fn window(overall: f64, delay: Option<f64>, freeze: f64) -> WindowRecord {
        let mut w = WindowRecord::for_test("s", 0.0, 4.0);
        w.scores.overall = Some(overall);
        w.scores.continuity = Some(overall);
        w.scores.rhythm = Some(90.0);
        let mut sync = crate::score::record::SyncFigures::default();
        sync.audio_delay_ms = delay;
        w.sync = Some(sync);
        w.continuity.freeze_ratio = freeze;
        w
    }

    fn idx(name: &str) -> usize {
        FEATURES.iter().position(|f| f.name == name).unwrap()
    }

    #[test]
    fn pooling_follows_the_table() {
        let w = [
            window(80.0, Some(-100.0), 0.5),
            window(60.0, None, 0.0),
            window(100.0, Some(50.0), 0.25),
        ];
        let x = extract(&w);
        assert!((x[idx("overall_mean")] - 80.0).abs() < 1e-9);
        assert_eq!(x[idx("overall_worst")], 60.0);
        assert!((x[idx("sync_abs_delay_ms")] - 75.0).abs() < 1e-9);
        assert!((x[idx("sync_committed_share")] - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(x[idx("freeze_ratio_worst")], 0.5);
        // Absent everywhere: the documented missing value.
        assert_eq!(x[idx("sync_mean")], 100.0);
        assert_eq!(x[idx("silence_ratio")], 0.0);
        // The running pool of the whole stream equals the batch extraction.
        let mut p = Pooled::default();
        w.iter().for_each(|v| p.push(&window_values(v)));
        assert_eq!(p.features(), x);
        // No window: every feature its missing value.
        let none = extract(&[]);
        assert!(
            FEATURES.iter().zip(&none).all(|(d, x)| *x == d.missing),
            "{none:?}"
        );
    }

    #[test]
    fn a_live_stream_pools_the_windows_a_clip_of_the_span_would_have() {
        // span 10 s, 4 s windows every second: a 10 s clip has the windows ending at 4…10 s.
        let names = feature_names();
        let d = names.len();
        let cal = Calibration {
            format: FORMAT.into(),
            extractor_version: EXTRACTOR_VERSION.into(),
            features: names,
            normalisation: Normalisation {
                mean: vec![0.0; d],
                sd: vec![1.0; d],
            },
            scale: [0.0, 100.0],
            dimensions: BTreeMap::from([(
                "overall".to_string(),
                DimensionMapping {
                    // The identity on overall_mean (feature 0), through a nearly linear logistic.
                    weights: (0..d).map(|i| if i == 0 { 1.0 } else { 0.0 }).collect(),
                    intercept: 0.0,
                    lambda: 1.0,
                    logistic: Logistic {
                        b1: 1e6,
                        b2: -1e6,
                        b3: 0.0,
                        b4: 5e5,
                    },
                    n_clips: 1,
                    n_groups: 1,
                    validation: BTreeMap::new(),
                },
            )]),
            preference: None,
            span_s: 10.0,
            seed: 1,
            labels_sha256: vec![],
            created_by: "test".into(),
        };
        let mut t = Tracker::new(std::sync::Arc::new(cal));
        let mut last = BTreeMap::new();
        for k in 0..17 {
            let end = 4.0 + k as f64;
            // overall = 10 × the window's end: the pooled mean tells which windows were kept.
            let w = WindowRecord {
                scores: crate::score::Scores {
                    overall: Some(10.0 * end),
                    ..Default::default()
                },
                ..WindowRecord::for_test("s", end - 4.0, end)
            };
            last = t.on_window(&w);
        }
        // Windows ending at 14…20 s (start ≥ 10 s): mean end 17 s → 170.
        assert!((last["overall"] - 170.0).abs() < 0.1, "{last:?}");
        assert_eq!(t.trailing.len(), 7);
    }

    #[test]
    fn logistic_is_monotone_and_bounded() {
        let l = Logistic {
            b1: 5.0,
            b2: 1.0,
            b3: 0.0,
            b4: 1.0,
        };
        assert!((l.eval(0.0) - 3.0).abs() < 1e-12);
        assert!(l.eval(-1e9) >= 1.0 && l.eval(1e9) <= 5.0);
        assert!(l.eval(0.5) > l.eval(0.4));
    }
}
