//! `evalverse score DIR|FILE…`: score many finished clips in one process — a reward signal,
//! a leaderboard, an A/B of checkpoints. One JSON line per clip, resumable, shardable.
use super::{CalibrationArg, ModelArgs, model_for};
use anyhow::{Context, Result, bail};
use clap::Args;
use evalverse::batch::{self, Cache, Evaluated};
use serde_json::{Value, json};
use sha2::Digest;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Extensions taken from a folder (files named on the command line are always taken).
const MEDIA: [&str; 10] = [
    "mp4", "mov", "mkv", "webm", "m4v", "ts", "avi", "mpg", "mpeg", "mxf",
];

#[derive(Args)]
pub struct ScoreArgs {
    /// Media files (each reported as `clip`: its file name) and folders searched recursively
    /// (each clip reported by its path inside the folder).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Results (JSON lines, appended): one `clip` or `error` line per clip. Clips already
    /// there (same content hash and feature version) are skipped, so a stopped run resumes.
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Clips evaluated in parallel (default: the number of cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Only this shard of the sorted clip list, I/N (0-based: 0/4 … 3/4), chosen by a hash of
    /// each clip's path relative to its input, so every machine agrees without talking.
    #[arg(long, value_parser = parse_shard)]
    shard: Option<(u64, u64)>,
    /// CSV with `clip,system` naming each clip's generator (default: the clip's folder name).
    #[arg(long)]
    systems: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    calibration: CalibrationArg,
}

fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let (i, n) = s.split_once('/').ok_or("expected I/N, e.g. 0/4")?;
    let (i, n): (u64, u64) = (
        i.trim()
            .parse()
            .map_err(|_| format!("{i:?} is not a number"))?,
        n.trim()
            .parse()
            .map_err(|_| format!("{n:?} is not a number"))?,
    );
    if n == 0 || i >= n || n > 100_000 {
        return Err(format!("{s:?}: need 0 ≤ I < N ≤ 100000"));
    }
    Ok((i, n))
}

/// A clip to score: its path and the name it is reported under (relative to its input).
struct Clip {
    path: PathBuf,
    name: String,
}

fn collect(inputs: &[PathBuf]) -> Result<Vec<Clip>> {
    let mut out = vec![];
    for input in inputs {
        let meta = std::fs::metadata(input).with_context(|| format!("{}", input.display()))?;
        if meta.is_file() {
            // Named as a folder's clips are, relative to where it lies: its file name.
            let name = input.file_name().map_or_else(
                || input.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            out.push(Clip {
                path: input.clone(),
                name,
            });
            continue;
        }
        let mut stack = vec![input.clone()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).with_context(|| format!("{}", dir.display()))? {
                let p = e?.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p
                    .extension()
                    .and_then(|x| x.to_str())
                    .is_some_and(|x| MEDIA.contains(&x.to_ascii_lowercase().as_str()))
                {
                    let name = p.strip_prefix(input).unwrap_or(&p).display().to_string();
                    out.push(Clip { path: p, name });
                }
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out.dedup_by(|a, b| a.path == b.path);
    if let Some(w) = out.windows(2).find(|w| w[0].name == w[1].name) {
        bail!(
            "two clips would both be reported as {:?} ({} and {}): score their common folder \
             instead, so that each is named by its path inside it",
            w[0].name,
            w[0].path.display(),
            w[1].path.display()
        );
    }
    Ok(out)
}

fn in_shard(name: &str, shard: Option<(u64, u64)>) -> bool {
    let Some((i, n)) = shard else { return true };
    let h = sha2::Sha256::digest(name.as_bytes());
    u64::from_be_bytes(h[..8].try_into().unwrap_or_default()) % n == i
}

/// (content hash, feature version) of the clips already scored in `out`.
fn done_before(out: &Path) -> BTreeSet<(String, String)> {
    let Ok(text) = std::fs::read_to_string(out) else {
        return BTreeSet::new();
    };
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == "clip")
        .filter_map(|v| {
            Some((
                v["sha256"].as_str()?.to_string(),
                v["extractor_version"].as_str()?.to_string(),
            ))
        })
        .collect()
}

fn systems(csv_path: Option<&Path>, clips: &[Clip]) -> Result<BTreeMap<String, String>> {
    let mut m: BTreeMap<String, String> = clips
        .iter()
        .filter_map(|c| {
            let parent = c.path.parent()?.file_name()?.to_string_lossy().to_string();
            Some((c.name.clone(), parent))
        })
        .collect();
    if let Some(p) = csv_path {
        let mut rd = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_path(p)?;
        for row in rd.deserialize::<(String, String)>() {
            let (clip, system) =
                row.with_context(|| format!("{}: expected clip,system", p.display()))?;
            m.insert(clip, system);
        }
    }
    Ok(m)
}

/// The results line of a clip: the summary's figures under the clip's name.
fn clip_line(name: &str, system: Option<&String>, e: &Evaluated) -> Value {
    let mut v = e.summary.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("type");
        o.remove("stream");
        o.remove("elapsed_s");
        o.remove("speed_x");
    }
    let mut line = json!({
        "type": "clip",
        "clip": name,
        "sha256": e.sha256,
        "extractor_version": e.extractor_version,
    });
    if let Some(s) = system {
        line["system"] = s.clone().into();
    }
    if let (Some(l), Some(o)) = (line.as_object_mut(), v.as_object()) {
        l.extend(o.clone());
    }
    line
}

pub fn run(a: ScoreArgs) -> Result<i32> {
    let all = collect(&a.inputs)?;
    let clips: Vec<Clip> = all
        .into_iter()
        .filter(|c| in_shard(&c.name, a.shard))
        .collect();
    if clips.is_empty() {
        bail!("no media files in {:?} (shard {:?})", a.inputs, a.shard);
    }
    let systems = systems(a.systems.as_deref(), &clips)?;
    let settings = a.model.settings_with(&a.calibration)?;
    let model = model_for(&settings)?;
    let before = a.out.as_deref().map(done_before).unwrap_or_default();
    let mut out: Box<dyn Write + Send> = match &a.out {
        Some(p) => Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("opening {}", p.display()))?,
        ),
        None => Box::new(std::io::stdout()),
    };
    // Skipping needs the content hash: hashing is ~1 GB/s, far below decoding.
    let (skip, todo): (Vec<Clip>, Vec<Clip>) = clips.into_iter().partition(|c| {
        !before.is_empty()
            && batch::sha256_file(&c.path).is_ok_and(|h| {
                before.contains(&(
                    h,
                    evalverse::score::calibrated::EXTRACTOR_VERSION.to_string(),
                ))
            })
    });
    let jobs = super::jobs(a.jobs);
    let bar = super::progress(
        todo.len(),
        "{pos}/{len} clips [{bar:30}] {per_sec} eta {eta} {msg}",
    );
    let paths: Vec<PathBuf> = todo.iter().map(|c| c.path.clone()).collect();
    let mut rows: Vec<Value> = vec![];
    let started = std::time::Instant::now();
    let tally = batch::run(
        &paths,
        &settings,
        &model,
        &Cache::new(None, &settings),
        jobs,
        |i, r| {
            bar.inc(1);
            let c = &todo[i];
            let line = match r {
                Ok(e) => clip_line(&c.name, systems.get(&c.name), e),
                Err(e) => json!({"type": "error", "clip": c.name, "error": format!("{e:#}")}),
            };
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
            rows.push(line);
        },
    );
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "scored {} clips in {secs:.1} s ({:.1} clips/min, {jobs} jobs), {} failed, {} already in the results",
        tally.evaluated,
        tally.evaluated as f64 / secs.max(1e-9) * 60.0,
        tally.failed,
        skip.len()
    );
    eprint!("{}", summary_text(&rows));
    Ok(if tally.failed > 0 { 1 } else { 0 })
}

/// Distributions per dimension, the worst clips, and a per-system table.
fn summary_text(rows: &[Value]) -> String {
    use std::fmt::Write as _;
    let ok: Vec<&Value> = rows.iter().filter(|r| r["type"] == "clip").collect();
    let mut o = String::new();
    if ok.is_empty() {
        return o;
    }
    let q = |v: &mut Vec<f64>, p: f64| evalverse::calibration::stats::quantile(v, p);
    let _ = writeln!(
        o,
        "\n{:<12} {:>6} {:>7} {:>7} {:>7} {:>7} {:>7}",
        "dimension", "clips", "min", "p10", "median", "p90", "max"
    );
    let mut dims: Vec<(String, &str)> = ["sync", "continuity", "rhythm", "overall"]
        .iter()
        .map(|d| (format!("/scores/{d}"), *d))
        .collect();
    let cal: BTreeSet<String> = ok
        .iter()
        .filter_map(|r| r["calibrated"].as_object())
        .flat_map(|m| m.keys().cloned())
        .collect();
    let cal_names: Vec<String> = cal.iter().map(|d| format!("calibrated.{d}")).collect();
    dims.extend(
        cal.iter()
            .zip(&cal_names)
            .map(|(d, n)| (format!("/calibrated/{d}"), n.as_str())),
    );
    for (ptr, name) in &dims {
        let mut v: Vec<f64> = ok.iter().filter_map(|r| r.pointer(ptr)?.as_f64()).collect();
        if v.is_empty() {
            continue;
        }
        let _ = writeln!(
            o,
            "{name:<12} {:>6} {:>7.1} {:>7.1} {:>7.1} {:>7.1} {:>7.1}",
            v.len(),
            q(&mut v, 0.0),
            q(&mut v, 0.1),
            q(&mut v, 0.5),
            q(&mut v, 0.9),
            q(&mut v, 1.0)
        );
    }
    let mut worst: Vec<&&Value> = ok
        .iter()
        .filter(|r| r.pointer("/scores/overall").is_some_and(Value::is_number))
        .collect();
    worst.sort_by(|a, b| {
        a["scores"]["overall"]
            .as_f64()
            .unwrap_or(0.0)
            .total_cmp(&b["scores"]["overall"].as_f64().unwrap_or(0.0))
    });
    let _ = writeln!(o, "\nworst clips (overall):");
    for r in worst.iter().take(5) {
        let _ = writeln!(
            o,
            "  {:>6.1}  {}",
            r["scores"]["overall"].as_f64().unwrap_or(0.0),
            r["clip"].as_str().unwrap_or("")
        );
    }
    systems_table(&ok, &mut o);
    o
}

/// Mean and median overall score per system, when there are several.
fn systems_table(ok: &[&Value], o: &mut String) {
    use std::fmt::Write as _;
    let q = |v: &mut Vec<f64>, p: f64| evalverse::calibration::stats::quantile(v, p);
    let mut by: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for r in ok {
        if let (Some(s), Some(v)) = (r["system"].as_str(), r["scores"]["overall"].as_f64()) {
            by.entry(s).or_default().push(v);
        }
    }
    if by.len() > 1 {
        let _ = writeln!(
            o,
            "\n{:<24} {:>6} {:>8} {:>8}",
            "system", "clips", "mean", "median"
        );
        for (s, v) in &mut by {
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            let _ = writeln!(o, "{s:<24} {:>6} {mean:>8.1} {:>8.1}", v.len(), q(v, 0.5));
        }
    }
}
