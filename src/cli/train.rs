//! `evalverse train`: fit the learned sync commitment head on generated sequences.
use anyhow::{Context, Result, bail};
use clap::Args;
use evalverse::train;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args)]
pub struct TrainArgs {
    /// Where to write the weights.
    #[arg(long, default_value = "weights/sync_commit.json")]
    out: PathBuf,
    /// Generated sequences (24 s each; split 60/20/20 into train/validation/test).
    #[arg(long, default_value_t = 900)]
    sequences: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Adam steps (full batch).
    #[arg(long, default_value_t = 1500)]
    steps: usize,
}

pub fn run(a: TrainArgs) -> Result<i32> {
    if !(12..=100_000).contains(&a.sequences) || !(1..=1_000_000).contains(&a.steps) {
        bail!("--sequences 12–100000 and --steps 1–1000000, please");
    }
    let opts = train::TrainOptions {
        sequences: a.sequences,
        seed: a.seed,
        steps: a.steps,
    };
    let t0 = Instant::now();
    let examples = train::generate(&opts, &mut |done, all| {
        if done % 30 == 0 || done == all {
            eprintln!(
                "generated {done}/{all} sequences ({:.0} s)",
                t0.elapsed().as_secs_f64()
            );
        }
    });
    if examples.is_empty() {
        bail!("no training examples could be generated");
    }
    let trained = train::train(&examples, &opts);
    println!("{}", train::report(&trained));
    let text = serde_json::to_string_pretty(&trained.weights)? + "\n";
    let out = &a.out;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(out, text).with_context(|| format!("writing {}", out.display()))?;
    eprintln!(
        "wrote {} ({} examples, {:.0} s)",
        out.display(),
        examples.len(),
        t0.elapsed().as_secs_f64()
    );
    Ok(0)
}
