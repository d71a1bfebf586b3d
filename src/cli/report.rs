//! `evalverse report INPUT -o report.html`: a run as a picture. INPUT is a media file
//! (evaluated first), the JSON lines of an earlier `eval --json`, or a `score` results file.
use super::{CalibrationArg, ModelArgs, model_for};
use anyhow::{Context, Result, bail};
use clap::Args;
use evalverse::Record;
use evalverse::output::html;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct ReportArgs {
    /// A media file, JSON lines of `eval --json`, or the results of `score`.
    input: PathBuf,
    /// Where to write the page.
    #[arg(long, short)]
    out: PathBuf,
    /// The media file the JSON lines came from, for thumbnails (a media INPUT is used itself).
    #[arg(long)]
    media: Option<PathBuf>,
    /// Thumbnail width in pixels (0: none).
    #[arg(long, default_value_t = 160)]
    thumb_width: u32,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    calibration: CalibrationArg,
}

/// The records of a JSON-lines file, or None when it is not one (a media file).
fn json_lines(p: &Path) -> Result<Option<Vec<Value>>> {
    let f = std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?;
    let mut lines = BufReader::new(f).lines();
    let first = match lines.next() {
        Some(Ok(l)) => l,
        _ => return Ok(None),
    };
    let Ok(v) = serde_json::from_str::<Value>(&first) else {
        return Ok(None);
    };
    if !v["type"].is_string() {
        return Ok(None);
    }
    let mut out = vec![v];
    for (i, l) in lines.enumerate() {
        let l = l?;
        if l.trim().is_empty() {
            continue;
        }
        out.push(
            serde_json::from_str(&l)
                .with_context(|| format!("{}: line {} is not JSON", p.display(), i + 2))?,
        );
    }
    Ok(Some(out))
}

fn evaluate(p: &Path, model: &ModelArgs, calibration: &CalibrationArg) -> Result<Vec<Record>> {
    let settings = model.settings_with(calibration)?;
    let m = model_for(&settings)?;
    let mut out = vec![];
    evalverse::evaluate_file(
        &p.to_string_lossy(),
        &settings,
        &m,
        |r| out.push(r.clone()),
        |_, _| {},
    )
    .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
    Ok(out)
}

/// The records of a run read back, each line in the schema of this version.
fn typed(p: &Path, lines: Vec<Value>) -> Result<Vec<Record>> {
    lines
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            serde_json::from_value(v).with_context(|| {
                format!(
                    "{}: line {} is not a record of this version of evalverse",
                    p.display(),
                    i + 1
                )
            })
        })
        .collect()
}

pub fn run(a: ReportArgs) -> Result<i32> {
    let mut files = vec![("INPUT", a.input.as_path()), ("--out", a.out.as_path())];
    if let Some(m) = &a.media {
        files.push(("--media", m.as_path()));
    }
    super::distinct_files(&files)?;
    let page = match json_lines(&a.input)? {
        Some(rows)
            if rows
                .iter()
                .any(|r| r["type"] == "clip" || r["type"] == "error") =>
        {
            let dir = a.out.parent().map(Path::to_path_buf).unwrap_or_default();
            html::batch_report(&rows, |clip| {
                let href = format!("{clip}.html");
                dir.join(&href).exists().then_some(href)
            })
        }
        Some(rows) => run_page(&a, typed(&a.input, rows)?, a.media.as_deref())?,
        None => run_page(
            &a,
            evaluate(&a.input, &a.model, &a.calibration)?,
            Some(&a.input),
        )?,
    };
    std::fs::write(&a.out, page).with_context(|| format!("writing {}", a.out.display()))?;
    eprintln!("wrote {}", a.out.display());
    Ok(0)
}

fn run_page(a: &ReportArgs, records: Vec<Record>, media: Option<&Path>) -> Result<String> {
    let streams: std::collections::BTreeSet<&str> = records.iter().map(Record::stream).collect();
    if streams.len() > 1 {
        bail!(
            "{} has records of {} streams ({streams:?}): filter one first, e.g. jq -c 'select(.stream==\"cam1\")'",
            a.input.display(),
            streams.len()
        );
    }
    let view = html::RunView::of(&records);
    let thumbs = thumbnails(media, &view, a.thumb_width);
    Ok(html::run_report(&view, &thumbs))
}

/// The report's thumbnails as data URIs; none (with a note) when the media cannot be read.
fn thumbnails(media: Option<&Path>, view: &html::RunView, width: u32) -> html::Thumbs {
    use base64::Engine;
    let Some(m) = media.filter(|_| width > 0) else {
        return Default::default();
    };
    let times = view.thumbnail_times();
    match evalverse::ingest::thumbs::grab(&m.to_string_lossy(), &times, width.min(640)) {
        Ok(t) => t
            .into_iter()
            .map(|(k, png)| {
                let b64 = base64::engine::general_purpose::STANDARD.encode(png);
                (k, format!("data:image/png;base64,{b64}"))
            })
            .collect(),
        Err(e) => {
            eprintln!("evalverse: no thumbnails: {e}");
            Default::default()
        }
    }
}
