//! The command line: one module per command, each with its arguments and its run function.
//! `main.rs` only parses and dispatches; everything else lives in the library.
mod calibrate;
mod demo;
mod eval;
mod generate;
mod inject;
mod live;
mod report;
mod score;
mod send;
mod serve;
mod train;
mod train_lips;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use evalverse::config::{BackendChoice, Settings, SyncHead};
use evalverse::model::Model;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Parser)]
#[command(
    name = "evalverse",
    version,
    about = "Live evaluation of generated cinematic video, second by second: audio-visual sync, continuity, rhythm, picture and sound"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
pub struct ModelArgs {
    /// Model backend: auto (GPU via wgpu when present, else CPU), cpu, or wgpu (any adapter,
    /// including software Vulkan).
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    backend: BackendChoice,
    /// Sync commitment: the learned head (default) or the hand-set rules (overrides the config).
    #[arg(long, value_enum)]
    sync_head: Option<SyncHead>,
    /// Configuration file (TOML; every key in evalverse.example.toml): `serve` and `demo` read
    /// all of it (server, analysis, streams, alerting, alerts), the other commands its
    /// [analysis] table.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Window length in seconds (overrides the config).
    #[arg(long)]
    window: Option<f64>,
    /// Hop between windows in seconds (overrides the config).
    #[arg(long)]
    hop: Option<f64>,
    /// Minimum duration of freeze/black/silence/flicker events in seconds (overrides the config).
    #[arg(long)]
    min_event: Option<f64>,
}

/// The calibration a scoring command applies (not `calibrate`, which fits one).
#[derive(Args, Clone)]
pub struct CalibrationArg {
    /// Expert calibration written by `evalverse calibrate` (overrides the config's
    /// `analysis.calibration`): windows and the summary gain `calibrated` scores.
    #[arg(long)]
    calibration: Option<PathBuf>,
}

impl ModelArgs {
    pub fn settings(&self) -> Result<Settings> {
        let mut s = match &self.config {
            Some(p) => Settings::load(p)?,
            None => Settings::default(),
        };
        if let Some(w) = self.window {
            s.analysis.window_s = w;
        }
        if let Some(h) = self.hop {
            s.analysis.hop_s = h;
        }
        if let Some(m) = self.min_event {
            s.analysis.min_event_s = m;
        }
        if self.backend != BackendChoice::Auto {
            s.analysis.backend = self.backend;
        }
        if let Some(h) = self.sync_head {
            s.analysis.sync_head = h;
        }
        s.validate()?;
        Ok(s)
    }

    /// The settings with the calibration the command line names.
    pub fn settings_with(&self, c: &CalibrationArg) -> Result<Settings> {
        let mut s = self.settings()?;
        if let Some(c) = &c.calibration {
            s.analysis.calibration = Some(c.clone());
            s.validate()?;
        }
        Ok(s)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate a file or URI as fast as it decodes.
    Eval(eval::EvalArgs),
    /// Evaluate live RTP streams named in a config; serve /metrics and the HTTP API.
    Serve(serve::ServeArgs),
    /// Self-contained demo: a generated sequence with cuts, beeps, a known audio delay and a
    /// freeze is streamed as RTP over loopback and evaluated live.
    Demo(demo::DemoArgs),
    /// Stream a file, a directory a generator is writing (PNG/JPEG frames, or .ts / .m4s
    /// fragments), or a generated sequence as RTP to an evaluator, in real time.
    Send(send::SendArgs),
    /// Copy a file with faults of exactly known ground truth (prints the ground truth as JSON).
    Inject(inject::InjectArgs),
    /// Train the learned sync commitment head on generated sequences, compare it with the
    /// hand-set rules on held-out sequences, and write its weights (deterministic: the same
    /// options write the same file).
    Train(train::TrainArgs),
    /// Fit the learned lip-sync lines (two small temporal networks over mouth and speech) on
    /// talking clips in sync, from a file `scripts/faces/fit_lips.py --learned` writes.
    TrainLips(train_lips::TrainLipsArgs),
    /// Score many finished clips in one process (a reward signal, a leaderboard): one JSON
    /// line per clip, resumable, shardable across machines.
    Score(score::ScoreArgs),
    /// Draw a run as one self-contained HTML page: a media file (evaluated first), the JSON
    /// lines of `eval --json`, or the results of `score`.
    Report(report::ReportArgs),
    /// Fit the scores to a panel of raters (ratings and/or pairwise preferences) and report how
    /// well they agree, with grouped validation and bootstrap intervals.
    Calibrate(calibrate::CalibrateArgs),
    /// Write a generated test sequence with exactly known cuts and faults to an MP4 file.
    Generate(generate::GenerateArgs),
}

/// Run the command; the exit status.
pub fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Eval(a) => eval::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Demo(a) => demo::run(a),
        Command::Send(a) => send::run(a),
        Command::Inject(a) => inject::run(a),
        Command::Train(a) => train::run(a),
        Command::TrainLips(a) => train_lips::run(a),
        Command::Generate(a) => generate::run(a),
        Command::Calibrate(a) => calibrate::run(a),
        Command::Score(a) => score::run(a),
        Command::Report(a) => report::run(a),
    }
}

/// The faults `inject` puts into a file and `generate` into a sequence, with exact ground
/// truth.
#[derive(Args, Clone, Debug, Default)]
struct FaultArgs {
    /// Audio later than video by N ms (negative: earlier).
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    audio_delay_ms: f64,
    /// Freeze span A:B seconds (repeatable).
    #[arg(long, value_parser = parse_span)]
    freeze: Vec<(f64, f64)>,
    /// Black span A:B seconds (repeatable).
    #[arg(long, value_parser = parse_span)]
    black: Vec<(f64, f64)>,
    /// Silence span A:B seconds (repeatable).
    #[arg(long, value_parser = parse_span)]
    silence: Vec<(f64, f64)>,
    /// Flicker span A:B seconds (repeatable).
    #[arg(long, value_parser = parse_span)]
    flicker: Vec<(f64, f64)>,
    /// A 2-frame white flash at T seconds (repeatable; `generate` puts a beep on it).
    #[arg(long)]
    flash: Vec<f64>,
}

/// Picture faults over spans with an amount (`inject` and `generate`).
#[derive(Args, Clone, Debug, Default)]
struct PictureFaultArgs {
    /// Exposure changed by STOPS (+ brighter, − darker) over A:B seconds: A:B:STOPS (repeatable).
    #[arg(long, value_parser = parse_amount, allow_hyphen_values = true)]
    exposure: Vec<(f64, f64, f64)>,
    /// Camera shake over A:B: each frame moved at random by up to PCT % of the width: A:B:PCT.
    #[arg(long, value_parser = parse_amount)]
    shake: Vec<(f64, f64, f64)>,
    /// Focus lost over A:B: a blur of radius PX pixels (≈ Gaussian σ): A:B:PX.
    #[arg(long, value_parser = parse_amount)]
    blur: Vec<(f64, f64, f64)>,
    /// Luma noise of σ SIGMA code values over A:B: A:B:SIGMA.
    #[arg(long, value_parser = parse_amount)]
    noise: Vec<(f64, f64, f64)>,
}

impl PictureFaultArgs {
    fn into_faults(self) -> evalverse::sender::picture_faults::PictureFaults {
        evalverse::sender::picture_faults::PictureFaults {
            exposure: self.exposure,
            shake: self.shake,
            blur: self.blur,
            noise: self.noise,
        }
    }
}

/// Sound faults (`inject` and `generate`).
#[derive(Args, Clone, Debug, Default)]
struct SoundFaultArgs {
    /// Level changed by DB decibels over A:B (a gain step at A, back at B): A:B:DB (repeatable).
    #[arg(long, value_parser = parse_amount, allow_hyphen_values = true)]
    gain: Vec<(f64, f64, f64)>,
    /// Sound driven DB decibels hotter and hard-clipped at full scale over A:B: A:B:DB.
    #[arg(long, value_parser = parse_amount)]
    clip: Vec<(f64, f64, f64)>,
    /// MS milliseconds of digital silence from T seconds: T:MS (repeatable).
    #[arg(long, value_parser = parse_dropout)]
    dropout: Vec<(f64, f64)>,
}

impl SoundFaultArgs {
    fn into_faults(self) -> evalverse::sender::sound_faults::SoundFaults {
        evalverse::sender::sound_faults::SoundFaults {
            gain: self.gain,
            clip: self.clip,
            dropout: self.dropout,
        }
    }
}

/// `T:MS`: a time with a length in milliseconds.
fn parse_dropout(s: &str) -> Result<(f64, f64), String> {
    let (t, ms) = s
        .split_once(':')
        .ok_or_else(|| format!("{s:?}: expected T:MS"))?;
    let num = |x: &str| {
        x.trim()
            .parse::<f64>()
            .map_err(|_| format!("{x:?} is not a number"))
    };
    Ok((num(t)?, num(ms)?))
}

/// `A:B:X`: a span with an amount.
fn parse_amount(s: &str) -> Result<(f64, f64, f64), String> {
    let (span, x) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("{s:?}: expected A:B:AMOUNT"))?;
    let (a, b) = parse_span(span)?;
    let x: f64 = x
        .trim()
        .parse()
        .map_err(|_| format!("{x:?} is not a number"))?;
    Ok((a, b, x))
}

fn parse_span(s: &str) -> Result<(f64, f64), String> {
    let (a, b) = s
        .split_once(':')
        .ok_or_else(|| format!("{s:?}: expected A:B seconds"))?;
    let a: f64 = a
        .trim()
        .parse()
        .map_err(|_| format!("{a:?} is not a number"))?;
    let b: f64 = b
        .trim()
        .parse()
        .map_err(|_| format!("{b:?} is not a number"))?;
    if !(a.is_finite() && b.is_finite() && a >= 0.0 && b > a) {
        return Err(format!("{s:?}: need 0 <= A < B"));
    }
    Ok((a, b))
}

/// Worker threads for a batch: as asked, or one per core.
fn jobs(asked: Option<usize>) -> usize {
    asked.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// A progress bar over `len` items (drawn only on a terminal).
fn progress(len: usize, template: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// The model the settings ask for; the calibration they name is checked here (it loads, and
/// every `calibrated.*` alert names a dimension it maps) and applied by the evaluator.
fn model_for(s: &Settings) -> Result<Model> {
    let calibration = match &s.analysis.calibration {
        Some(p) => Some(evalverse::score::calibrated::Calibration::load(p)?),
        None => None,
    };
    if let Some(c) = &calibration {
        for r in &s.alerts {
            if let Some(dim) = r.measurement.strip_prefix("calibrated.")
                && !c.dimensions.contains_key(dim)
            {
                anyhow::bail!(
                    "alert {}: the calibration has no `{dim}` mapping (it has {:?}); label that \
                     dimension and rerun `evalverse calibrate`, or name another",
                    r.name,
                    c.dimensions.keys().collect::<Vec<_>>()
                );
            }
        }
    }
    let model = Model::new(s.analysis.backend)?.with_sync_head(s.analysis.sync_head);
    tracing::info!("model backend: {}", model.kind());
    Ok(model)
}

/// Software Vulkan (lavapipe) complains on every adapter probe when XDG_RUNTIME_DIR is unset;
/// give it a private one. Runs before any thread exists.
pub fn ensure_runtime_dir() {
    if std::env::var_os("XDG_RUNTIME_DIR").is_some() {
        return;
    }
    // One directory per user, reused by every run (not one per process left behind).
    #[cfg(unix)]
    // SAFETY: getuid has no preconditions.
    let owner = unsafe { libc::getuid() };
    #[cfg(not(unix))]
    let owner = 0;
    let dir = std::env::temp_dir().join(format!("evalverse-xdg-{owner}"));
    if std::fs::create_dir_all(&dir).is_ok() {
        #[cfg(unix)]
        {
            use std::os::unix::fs::{MetadataExt, PermissionsExt};
            // Someone else's directory of that name in a shared /tmp is not ours to use.
            if std::fs::metadata(&dir)
                .map(|m| m.uid() != owner)
                .unwrap_or(true)
            {
                return;
            }
            let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
        }
        // SAFETY: called first thing in main, before any other thread is started.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
    }
}

/// SIGINT or SIGTERM sets `flag` (a graceful stop); a second one exits at once (status 130).
fn signal_flag(flag: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            #[cfg(unix)]
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            for second in [false, true] {
                #[cfg(unix)]
                let terminated = async {
                    match term.as_mut() {
                        Some(t) => {
                            t.recv().await;
                        }
                        None => std::future::pending::<()>().await,
                    }
                };
                #[cfg(not(unix))]
                let terminated = std::future::pending::<()>();
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {},
                    () = terminated => {},
                }
                if second {
                    eprintln!("evalverse: second signal, exiting now");
                    std::process::exit(130);
                }
                eprintln!(
                    "evalverse: stopping (streams end with their summaries; again to exit now)"
                );
                flag.store(true, Ordering::Relaxed);
            }
        });
    });
}

/// The file a path names, for comparing paths that do not exist yet: the canonical folder it
/// lies in plus its name (the whole canonical path when it exists, so a symlink is seen through).
fn file_identity(p: &std::path::Path) -> PathBuf {
    if let Ok(c) = p.canonicalize() {
        return c;
    }
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    };
    match (abs.parent(), abs.file_name()) {
        (Some(dir), Some(name)) => dir.canonicalize().unwrap_or(dir.to_path_buf()).join(name),
        _ => abs,
    }
}

/// Refuses a run whose files would overwrite one another or an input: each `(role, path)` must
/// name a file of its own. Checked before any work, so nothing is half written.
fn distinct_files(files: &[(&str, &std::path::Path)]) -> Result<()> {
    for (i, (role_a, a)) in files.iter().enumerate() {
        for (role_b, b) in &files[..i] {
            if file_identity(a) == file_identity(b) {
                anyhow::bail!(
                    "{role_a} ({}) and {role_b} ({}) name the same file: one would overwrite \
                     the other; give them different names",
                    a.display(),
                    b.display()
                );
            }
        }
    }
    Ok(())
}
