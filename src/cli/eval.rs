//! `evalverse eval FILE`: evaluate a file or URI as fast as it decodes.
use super::{CalibrationArg, ModelArgs, model_for};
use anyhow::Result;
use clap::Args;
use evalverse::evaluator::evaluate_file;
use evalverse::output::{self, terminal};
use evalverse::score::record::Record;
use std::io::Write;
use std::time::Instant;

#[derive(Args)]
pub struct EvalArgs {
    /// A media file GStreamer can decode, or a URI.
    input: String,
    /// Print JSON lines (cut, event, window, summary) instead of a progress bar and summary.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    calibration: CalibrationArg,
}

pub fn run(a: EvalArgs) -> Result<i32> {
    let EvalArgs {
        input,
        json,
        model: args,
        calibration,
    } = a;
    let input = input.as_str();
    let settings = args.settings_with(&calibration)?;
    let model = model_for(&settings)?;
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    let bar = (!json).then(|| {
        let b = indicatif::ProgressBar::new(1000);
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} [{bar:40}] {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let mut summary = None;
    let n_cuts = std::cell::Cell::new(0u64);
    let n_events = std::cell::Cell::new(0u64);
    let started = Instant::now();
    let result = evaluate_file(
        input,
        &settings,
        &model,
        |r| {
            if let Record::Summary(s) = r
                && let Some(e) = s.ended_early
            {
                eprintln!("evalverse: warning: {input}: {}", e.message());
            }
            if json {
                output::json_line(&mut lock, r);
            } else {
                match r {
                    Record::Summary(s) => summary = Some(terminal::summary_text(s)),
                    Record::Cut(_) => n_cuts.set(n_cuts.get() + 1),
                    Record::Event(_) => n_events.set(n_events.get() + 1),
                    _ => {}
                }
            }
        },
        |done, total| {
            if let Some(b) = &bar {
                if let Some(t) = total.filter(|t| *t > 0.0) {
                    b.set_position((done / t * 1000.0).min(1000.0) as u64);
                }
                b.set_message(format!(
                    "{done:.1} s evaluated, {} cuts, {} events, {:.1} s elapsed",
                    n_cuts.get(),
                    n_events.get(),
                    started.elapsed().as_secs_f64()
                ));
            }
        },
    );
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if let Some(s) = summary {
        print!("{s}");
    }
    let _ = lock.flush();
    result?;
    Ok(0)
}
