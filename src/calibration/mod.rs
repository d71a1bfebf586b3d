//! Expert calibration: fit our measurements to the judgement of a studio's own raters, and say
//! how well they agree, the way video-quality research does.
//!
//! The protocol (`evalverse calibrate LABELS.csv… --media DIR --out calibration.json`):
//! 1. **Labels** ([`labels`]): raters' scores (`clip,score[,rater,dimension,group,system]`) and
//!    pairwise preferences (`clip_a,clip_b,winner`). Raters are screened (ITU-T P.913 and
//!    ITU-R BT.500 procedures), the retained ratings become per-clip MOS with 95 % CIs, and the
//!    panel's own agreement (split-half SROCC with Spearman–Brown, Krippendorff's α) is the
//!    ceiling quoted beside every figure.
//! 2. **Features**: every clip is evaluated once ([`crate::batch`], in parallel, cached by
//!    content hash) into the versioned vector of [`crate::score::calibrated::FEATURES`].
//! 3. **Mapping** ([`fit`]): standardised features → ridge weights (penalty chosen by grouped
//!    cross-validation inside the training clips) → VQEG 4-parameter logistic. Pairwise
//!    preferences fit a Bradley–Terry model on feature differences.
//! 4. **Validation** ([`validate`]): repeated grouped 80/20 splits (median and spread of SROCC,
//!    KROCC, PLCC, RMSE, outlier ratio), out-of-fold predictions with cluster-bootstrap 95 %
//!    CIs, each single feature and our uncalibrated score as baselines with a paired bootstrap
//!    test, system-level agreement when a `system` column is given.
//! 5. **Outputs**: the calibration file ([`crate::score::calibrated::Calibration`]) that
//!    `eval` and `serve` apply with `--calibration`, and a report ([`report`]).
//!
//! Everything is deterministic given the seed.
pub mod fit;
pub mod labels;
pub mod report;
pub mod stats;
pub mod study;
pub mod validate;
