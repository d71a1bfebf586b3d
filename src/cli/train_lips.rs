//! `evalverse train-lips`: fit the learned lip-sync lines on one fold's clips.
use anyhow::{Context, Result};
use clap::Args;
use evalverse::train_lips::{self, LipTraining};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args)]
pub struct TrainLipsArgs {
    /// The clips and the run's settings (JSON, as `scripts/faces/fit_lips.py --learned` writes).
    #[arg(long)]
    data: PathBuf,
    /// Where to write the weights (JSON).
    #[arg(long)]
    out: PathBuf,
}

pub fn run(a: TrainLipsArgs) -> Result<i32> {
    let text = std::fs::read_to_string(&a.data)
        .with_context(|| format!("reading {}", a.data.display()))?;
    let t: LipTraining =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", a.data.display()))?;
    let t0 = Instant::now();
    let device = evalverse::model::backend::cpu_nets_device();
    let (w, loss) = train_lips::train(&t, &device).map_err(anyhow::Error::msg)?;
    std::fs::write(&a.out, serde_json::to_string(&w)? + "\n")
        .with_context(|| format!("writing {}", a.out.display()))?;
    eprintln!(
        "wrote {} ({} clips, {} steps, last loss {loss:.4}, {:.1} s)",
        a.out.display(),
        t.clips.len(),
        t.steps,
        t0.elapsed().as_secs_f64()
    );
    Ok(0)
}
