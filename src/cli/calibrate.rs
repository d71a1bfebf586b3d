//! `evalverse calibrate LABELS.csv… --media DIR --out calibration.json`: fit the scores to a
//! panel of raters and report how well they agree.
use super::{ModelArgs, model_for};
use anyhow::{Context, Result, bail};
use clap::Args;
use evalverse::batch::{self, Cache};
use evalverse::calibration::{labels::Labels, report, study};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Args)]
pub struct CalibrateArgs {
    /// Label files (CSV): ratings `clip,score[,rater][,dimension][,group][,system]` and/or
    /// pairwise preferences `clip_a,clip_b,winner[,group]`.
    #[arg(required = true)]
    labels: Vec<PathBuf>,
    /// Folder the `clip` paths are relative to.
    #[arg(long)]
    media: PathBuf,
    /// Where to write the calibration (JSON).
    #[arg(long)]
    out: PathBuf,
    /// A readable report (Markdown); the same figures as JSON go beside it (`.json`).
    #[arg(long)]
    report: Option<PathBuf>,
    /// Clips evaluated in parallel (default: the number of cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Feature cache folder (default: $XDG_CACHE_HOME/evalverse/features or
    /// ~/.cache/evalverse/features); `none` turns it off.
    #[arg(long)]
    cache: Option<String>,
    /// Seed of the splits and bootstraps (the same inputs and seed write the same file).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Random grouped 80/20 splits.
    #[arg(long, default_value_t = 100)]
    splits: usize,
    /// Cluster-bootstrap resamples for the 95 % intervals.
    #[arg(long, default_value_t = 2000)]
    resamples: usize,
    /// P.913 screening: a rater whose scores correlate below this with the others' MOS is
    /// excluded.
    #[arg(long, default_value_t = 0.75)]
    min_rater_corr: f64,
    /// Keep every rater in the MOS (screening is still reported).
    #[arg(long)]
    keep_all_raters: bool,
    /// The rating scale LO:HI (default: the lowest and highest score given).
    #[arg(long, value_parser = super::parse_span)]
    scale: Option<(f64, f64)>,
    #[command(flatten)]
    model: ModelArgs,
}

fn default_cache() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("evalverse").join("features"))
}

pub fn run(a: CalibrateArgs) -> Result<i32> {
    if a.splits > 10_000 || a.resamples > 100_000 || !(0.0..=1.0).contains(&a.min_rater_corr) {
        bail!("--splits ≤ 10000, --resamples ≤ 100000 and --min-rater-corr in 0–1, please");
    }
    let report_json = a.report.as_ref().map(|r| r.with_extension("json"));
    let mut files: Vec<(&str, &std::path::Path)> = vec![("--out", a.out.as_path())];
    if let (Some(r), Some(j)) = (&a.report, &report_json) {
        files.push(("--report", r.as_path()));
        files.push(("the report's figures (--report with .json)", j.as_path()));
    }
    for l in &a.labels {
        files.push(("a label file", l.as_path()));
    }
    super::distinct_files(&files)?;
    let mut labels = Labels::default();
    let mut shas = vec![];
    for p in &a.labels {
        labels.read(p)?;
        shas.push(batch::sha256_file(p).with_context(|| format!("hashing {}", p.display()))?);
    }
    let settings = a.model.settings()?;
    let features = features(&a, &labels, &settings)?;
    let options = study::Options {
        seed: a.seed,
        splits: a.splits,
        resamples: a.resamples,
        min_rater_corr: a.min_rater_corr,
        keep_all_raters: a.keep_all_raters,
        scale: a.scale.map(|(lo, hi)| [lo, hi]),
        ..Default::default()
    };
    let (cal, rep) = study::run(&labels, &features, shas, &options)?;
    std::fs::write(&a.out, serde_json::to_string_pretty(&cal)?)
        .with_context(|| format!("writing {}", a.out.display()))?;
    let md = report::markdown(&rep);
    if let Some(r) = &a.report {
        std::fs::write(r, &md).with_context(|| format!("writing {}", r.display()))?;
        let j = r.with_extension("json");
        std::fs::write(&j, serde_json::to_string_pretty(&rep)?)
            .with_context(|| format!("writing {}", j.display()))?;
    }
    print_headlines(&rep);
    eprintln!("wrote {}", a.out.display());
    Ok(0)
}

/// Every labelled clip's feature vector: evaluated in parallel, or read from the cache.
fn features(
    a: &CalibrateArgs,
    labels: &Labels,
    settings: &evalverse::Settings,
) -> Result<BTreeMap<String, study::ClipFeatures>> {
    let clips: Vec<String> = labels.clips().into_iter().collect();
    let paths: Vec<PathBuf> = clips.iter().map(|c| a.media.join(c)).collect();
    let model = model_for(settings)?;
    let cache = Cache::new(
        match a.cache.as_deref() {
            Some("none") => None,
            Some(d) => Some(PathBuf::from(d)),
            None => default_cache(),
        },
        settings,
    );
    let jobs = super::jobs(a.jobs);
    let bar = super::progress(
        paths.len(),
        "features {pos}/{len} [{bar:30}] {per_sec} eta {eta} {msg}",
    );
    let mut features = BTreeMap::new();
    let tally = batch::run(&paths, settings, &model, &cache, jobs, |i, r| {
        bar.inc(1);
        match r {
            Ok(e) => {
                features.insert(
                    clips[i].clone(),
                    study::ClipFeatures {
                        features: e.features.clone(),
                        duration_s: e.duration_s,
                    },
                );
            }
            Err(e) => bar.println(format!("skipped: {e:#}")),
        }
    });
    bar.finish_and_clear();
    eprintln!(
        "features: {} evaluated, {} from the cache, {} failed",
        tally.evaluated, tally.cached, tally.failed
    );
    Ok(features)
}

fn print_headlines(rep: &study::StudyReport) {
    for d in &rep.dimensions {
        let h = study::headline(d);
        eprintln!(
            "{}: {} clips, held-out SROCC {:.3} PLCC {:.3} RMSE {:.3}; ceiling {}",
            d.dimension,
            d.n_clips,
            h.srocc,
            h.plcc,
            h.rmse,
            d.panel
                .ceiling
                .as_ref()
                .map_or("–".into(), |c| format!("{:.3}", c.spearman_brown))
        );
    }
    for w in &rep.warnings {
        eprintln!("warning: {w}");
    }
}
