//! One calibration study: labels and clip features in, a fitted [`Calibration`] and a
//! [`StudyReport`] out. Deterministic given the seed.
use super::fit;
use super::labels::{Labels, Panel, Winner, panel};
use super::stats;
use super::validate::{self, Agreement, Baseline, Data, Spread};
use crate::score::calibrated::{
    Calibration, EXTRACTOR_VERSION, FEATURES, FORMAT, Normalisation, PreferenceModel, feature_names,
};
use rand::SeedableRng;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
pub struct Options {
    pub seed: u64,
    /// Random grouped 80/20 splits.
    pub splits: usize,
    pub test_share: f64,
    /// Cluster-bootstrap resamples (≥ 2 000 for 95 % intervals).
    pub resamples: usize,
    /// Grouped folds for the out-of-fold predictions the bootstrap resamples.
    pub folds: usize,
    pub min_rater_corr: f64,
    pub keep_all_raters: bool,
    /// The raters' scale; the observed range when not given.
    pub scale: Option<[f64; 2]>,
    /// Bradley–Terry L2 penalty (per pair).
    pub bt_lambda: f64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            seed: 1,
            splits: 100,
            test_share: 0.2,
            resamples: 2000,
            folds: 10,
            min_rater_corr: 0.75,
            keep_all_raters: false,
            scale: None,
            bt_lambda: 1e-2,
        }
    }
}

/// A clip's feature vector and duration (from the evaluation of its file).
#[derive(Clone, Debug)]
pub struct ClipFeatures {
    pub features: Vec<f64>,
    pub duration_s: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct DimensionReport {
    pub dimension: String,
    pub n_clips: usize,
    pub n_groups: usize,
    pub mos_range: [f64; 2],
    pub panel: Panel,
    /// Held-out agreement over the repeated grouped splits: median and 2.5–97.5 % spread.
    pub splits: BTreeMap<&'static str, Spread>,
    /// Out-of-fold agreement over all clips with cluster-bootstrap 95 % CIs.
    pub pooled: BTreeMap<&'static str, Spread>,
    /// Baselines on the same out-of-fold clips; `uncalibrated` is our shipped score.
    pub baselines: Vec<Baseline>,
    pub system_level: Option<SystemLevel>,
    /// Ridge weights of the final mapping (standardised features), largest first.
    pub weights: Vec<(String, f64)>,
    pub lambda: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct SystemLevel {
    pub systems: Vec<SystemRow>,
    pub srocc: f64,
    pub plcc: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct SystemRow {
    pub system: String,
    pub clips: usize,
    pub mos: f64,
    pub predicted: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct PreferenceReport {
    pub pairs: usize,
    pub ties: usize,
    /// Share of held-out (grouped folds) non-tied pairs whose winner has the higher utility.
    pub heldout_accuracy: Option<f64>,
    /// Per clip its utility under the model fitted on all pairs.
    pub utilities: BTreeMap<String, f64>,
    /// SROCC of the utilities with the overall MOS, when the labels have both.
    pub srocc_with_mos: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct StudyReport {
    pub extractor_version: &'static str,
    pub features: Vec<String>,
    pub seed: u64,
    pub options: BTreeMap<&'static str, f64>,
    pub clips_labelled: usize,
    pub clips_used: usize,
    /// Labelled clips without features (missing or undecodable files), first 20.
    pub clips_missing: Vec<String>,
    pub warnings: Vec<String>,
    pub dimensions: Vec<DimensionReport>,
    pub preference: Option<PreferenceReport>,
}

/// The uncalibrated shipped score of each dimension (a feature of the vector).
pub fn uncalibrated_feature(dimension: &str) -> &'static str {
    match dimension {
        "sync" => "sync_mean",
        "continuity" => "continuity_mean",
        "rhythm" => "rhythm_mean",
        _ => "overall_mean",
    }
}

/// Fit and validate every labelled dimension (and the preference model when there are pairs).
pub fn run(
    labels: &Labels,
    clips: &BTreeMap<String, ClipFeatures>,
    labels_sha256: Vec<String>,
    o: &Options,
) -> anyhow::Result<(Calibration, StudyReport)> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(o.seed);
    let labelled = labels.clips();
    let missing: Vec<String> = labelled
        .iter()
        .filter(|c| !clips.contains_key(*c))
        .cloned()
        .collect();
    let used: Vec<&String> = labelled.iter().filter(|c| clips.contains_key(*c)).collect();
    if used.is_empty() {
        anyhow::bail!("none of the {} labelled clips has features", labelled.len());
    }
    let all_x: Vec<Vec<f64>> = used.iter().map(|c| clips[*c].features.clone()).collect();
    let norm = Normalisation::fit(&all_x);
    let scale = o.scale.unwrap_or_else(|| {
        let s: Vec<f64> = labels.ratings.iter().map(|r| r.score).collect();
        [
            s.iter().copied().fold(f64::INFINITY, f64::min),
            s.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        ]
    });
    let mut warnings = vec![];
    if labels.group.is_empty() {
        warnings.push("no `group` column: every clip is its own group, so clips of one prompt or scene may straddle training and test and the figures may be optimistic".into());
    }
    let mut dims = BTreeMap::new();
    let mut reports = vec![];
    for dim in labels.dimensions() {
        let p = panel(
            &dim,
            &labels.ratings,
            o.min_rater_corr,
            o.keep_all_raters,
            &mut rng,
        );
        let Some((rep, mapping)) = dimension(
            &dim,
            p,
            labels,
            clips,
            &norm,
            scale,
            o,
            &mut warnings,
            &mut rng,
        ) else {
            continue;
        };
        dims.insert(dim, mapping);
        reports.push(rep);
    }
    let preference = preference(labels, clips, &norm, &reports, o, &mut rng);
    if dims.is_empty() && preference.is_none() {
        anyhow::bail!("no dimension has enough rated clips with features to fit (need ≥ 5)");
    }
    let mut durations: Vec<f64> = used.iter().map(|c| clips[*c].duration_s).collect();
    durations.sort_by(f64::total_cmp);
    let cal = Calibration {
        format: FORMAT.into(),
        extractor_version: EXTRACTOR_VERSION.into(),
        features: feature_names(),
        normalisation: norm,
        scale,
        dimensions: dims,
        preference: preference.as_ref().map(|p| p.0.clone()),
        span_s: stats::quantile(&durations, 0.5).max(1.0),
        seed: o.seed,
        labels_sha256,
        created_by: format!("evalverse {}", env!("CARGO_PKG_VERSION")),
    };
    let report = StudyReport {
        extractor_version: EXTRACTOR_VERSION,
        features: feature_names(),
        seed: o.seed,
        options: BTreeMap::from([
            ("splits", o.splits as f64),
            ("test_share", o.test_share),
            ("resamples", o.resamples as f64),
            ("folds", o.folds as f64),
            ("min_rater_corr", o.min_rater_corr),
        ]),
        clips_labelled: labelled.len(),
        clips_used: used.len(),
        clips_missing: missing.iter().take(20).cloned().collect(),
        warnings,
        dimensions: reports,
        preference: preference.map(|p| p.1),
    };
    Ok((cal, report))
}

#[allow(clippy::too_many_arguments)]
fn dimension(
    dim: &str,
    panel: Panel,
    labels: &Labels,
    clips: &BTreeMap<String, ClipFeatures>,
    norm: &Normalisation,
    scale: [f64; 2],
    o: &Options,
    warnings: &mut Vec<String>,
    rng: &mut rand_chacha::ChaCha8Rng,
) -> Option<(DimensionReport, crate::score::calibrated::DimensionMapping)> {
    let rows: Vec<&super::labels::Mos> = panel
        .mos
        .iter()
        .filter(|m| clips.contains_key(&m.clip))
        .collect();
    if rows.len() < 5 {
        warnings.push(format!(
            "{dim}: only {} rated clips with features; not fitted",
            rows.len()
        ));
        return None;
    }
    let x: Vec<Vec<f64>> = rows
        .iter()
        .map(|m| clips[&m.clip].features.clone())
        .collect();
    let y: Vec<f64> = rows.iter().map(|m| m.mos).collect();
    let ci: Vec<f64> = rows.iter().map(|m| m.ci95).collect();
    let groups: Vec<String> = rows.iter().map(|m| labels.group_of(&m.clip)).collect();
    let n_groups = fit::distinct_groups(&groups).len();
    warn_about_data(dim, &y, scale, n_groups, warnings);
    let d = Data {
        x: &x,
        y: &y,
        ci95: &ci,
        groups: &groups,
    };
    let splits = if n_groups >= 3 {
        validate::repeated_splits(&d, o.splits, o.test_share, rng)
    } else {
        BTreeMap::new()
    };
    let baseline_idx: Vec<usize> = (0..FEATURES.len()).collect();
    let (pred, base) = validate::out_of_fold(&d, o.folds.min(n_groups).max(2), &baseline_idx, rng);
    let unc = uncalibrated_feature(dim);
    let named: Vec<(String, Vec<f64>)> = base
        .into_iter()
        .enumerate()
        .map(|(j, p)| {
            let name = FEATURES[j].name;
            (
                if name == unc {
                    format!("uncalibrated ({name})")
                } else {
                    name.to_string()
                },
                p,
            )
        })
        .collect();
    let (pooled, mut baselines) = validate::bootstrap(&d, &pred, &named, o.resamples, rng);
    baselines.sort_by(|a, b| b.srocc.value.total_cmp(&a.srocc.value));
    let z: Vec<Vec<f64>> = x.iter().map(|r| norm.apply(r)).collect();
    let mut fitted = fit::fit_on(norm.clone(), &z, &y, &groups, rng).map;
    fitted.validation = splits
        .iter()
        .map(|(k, s)| (format!("{k}_median"), s.value))
        .collect();
    let mut weights: Vec<(String, f64)> = FEATURES
        .iter()
        .map(|f| f.name.to_string())
        .zip(fitted.weights.iter().copied())
        .collect();
    weights.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
    let system_level = system_level(&rows, &pred, labels);
    let mos_range = [
        y.iter().copied().fold(f64::INFINITY, f64::min),
        y.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    ];
    let report = DimensionReport {
        dimension: dim.into(),
        n_clips: y.len(),
        n_groups,
        mos_range,
        panel,
        splits,
        pooled,
        baselines,
        system_level,
        weights,
        lambda: fitted.lambda,
    };
    Some((report, fitted))
}

fn warn_about_data(dim: &str, y: &[f64], scale: [f64; 2], n_groups: usize, w: &mut Vec<String>) {
    if y.len() < 50 {
        w.push(format!("{dim}: {} clips (fewer than 50): intervals are wide and the mapping may not generalise", y.len()));
    }
    let span = (scale[1] - scale[0]).max(1e-9);
    let range = y.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        - y.iter().copied().fold(f64::INFINITY, f64::min);
    if range < 0.3 * span {
        w.push(format!("{dim}: MOS spans {range:.2} of a {span:.2}-wide scale: a narrow range makes correlations unstable"));
    }
    let ties = stats::tie_share(y);
    if ties > 0.1 {
        w.push(format!(
            "{dim}: {:.0} % of clip pairs have tied MOS: rank correlations lose resolution",
            ties * 100.0
        ));
    }
    if n_groups < 10 {
        w.push(format!(
            "{dim}: only {n_groups} groups: grouped validation has few independent units"
        ));
    }
}

fn system_level(
    rows: &[&super::labels::Mos],
    pred: &[f64],
    labels: &Labels,
) -> Option<SystemLevel> {
    let mut by: BTreeMap<String, (usize, f64, f64)> = BTreeMap::new();
    for (m, p) in rows.iter().zip(pred) {
        let s = labels.system.get(&m.clip)?;
        let e = by.entry(s.clone()).or_default();
        e.0 += 1;
        e.1 += m.mos;
        e.2 += p;
    }
    if by.len() < 2 {
        return None;
    }
    let systems: Vec<SystemRow> = by
        .into_iter()
        .map(|(system, (n, m, p))| SystemRow {
            system,
            clips: n,
            mos: m / n as f64,
            predicted: p / n as f64,
        })
        .collect();
    let a: Vec<f64> = systems.iter().map(|s| s.mos).collect();
    let b: Vec<f64> = systems.iter().map(|s| s.predicted).collect();
    Some(SystemLevel {
        srocc: stats::spearman(&b, &a),
        plcc: stats::pearson(&b, &a),
        systems,
    })
}

fn preference(
    labels: &Labels,
    clips: &BTreeMap<String, ClipFeatures>,
    norm: &Normalisation,
    dims: &[DimensionReport],
    o: &Options,
    rng: &mut rand_chacha::ChaCha8Rng,
) -> Option<(PreferenceModel, PreferenceReport)> {
    let usable: Vec<&super::labels::Pair> = labels
        .pairs
        .iter()
        .filter(|p| clips.contains_key(&p.clip_a) && clips.contains_key(&p.clip_b))
        .collect();
    if usable.len() < 10 {
        return None;
    }
    let z = |c: &str| norm.apply(&clips[c].features);
    let diff: Vec<Vec<f64>> = usable
        .iter()
        .map(|p| {
            z(&p.clip_a)
                .iter()
                .zip(z(&p.clip_b))
                .map(|(a, b)| a - b)
                .collect()
        })
        .collect();
    let out: Vec<f64> = usable
        .iter()
        .map(|p| match p.winner {
            Winner::A => 1.0,
            Winner::B => 0.0,
            Winner::Tie => 0.5,
        })
        .collect();
    let w = fit::bradley_terry(&diff, &out, o.bt_lambda);
    // Held out: grouped folds over the clips' groups; a pair is tested when both clips are in
    // the test fold and trained on when neither is.
    let names: Vec<String> = clips.keys().cloned().collect();
    let groups: Vec<String> = names.iter().map(|c| labels.group_of(c)).collect();
    let fold_of: BTreeMap<&String, usize> = names
        .iter()
        .zip(fit::group_folds(&groups, 5, rng))
        .collect();
    let (mut right, mut tested) = (0usize, 0usize);
    for f in 0..5 {
        let in_f = |c: &String| fold_of[c] == f;
        let train: Vec<usize> = (0..usable.len())
            .filter(|&i| !in_f(&usable[i].clip_a) && !in_f(&usable[i].clip_b))
            .collect();
        let wf = fit::bradley_terry(
            &train.iter().map(|&i| diff[i].clone()).collect::<Vec<_>>(),
            &train.iter().map(|&i| out[i]).collect::<Vec<_>>(),
            o.bt_lambda,
        );
        for i in (0..usable.len())
            .filter(|&i| in_f(&usable[i].clip_a) && in_f(&usable[i].clip_b) && out[i] != 0.5)
        {
            let u: f64 = wf.iter().zip(&diff[i]).map(|(w, d)| w * d).sum();
            tested += 1;
            right += ((u > 0.0) == (out[i] > 0.5)) as usize;
        }
    }
    let utilities: BTreeMap<String, f64> = labels
        .clips()
        .into_iter()
        .filter(|c| clips.contains_key(c))
        .map(|c| {
            let u = w.iter().zip(z(&c)).map(|(w, z)| w * z).sum::<f64>();
            (c, (u * 1e4).round() / 1e4)
        })
        .collect();
    let srocc_with_mos = dims.iter().find(|d| d.dimension == "overall").map(|d| {
        let (u, m): (Vec<f64>, Vec<f64>) = d
            .panel
            .mos
            .iter()
            .filter_map(|m| utilities.get(&m.clip).map(|u| (*u, m.mos)))
            .unzip();
        stats::spearman(&u, &m)
    });
    let model = PreferenceModel {
        weights: w,
        lambda: o.bt_lambda,
        n_pairs: usable.len(),
    };
    let report = PreferenceReport {
        pairs: usable.len(),
        ties: out.iter().filter(|o| **o == 0.5).count(),
        heldout_accuracy: (tested > 0).then(|| right as f64 / tested as f64),
        utilities,
        srocc_with_mos,
    };
    Some((model, report))
}

/// The held-out agreement a report leads with.
pub fn headline(d: &DimensionReport) -> Agreement {
    let g = |k: &str| d.splits.get(k).map_or(f64::NAN, |s| s.value);
    Agreement {
        srocc: g("srocc"),
        krocc: g("krocc"),
        plcc: g("plcc"),
        rmse: g("rmse"),
        outlier_ratio: g("outlier_ratio"),
    }
}
