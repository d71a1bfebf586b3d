//! `evalverse`: the command line. Parse, build, run; everything else lives in the library.
use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use evalverse::config::{BackendChoice, Settings, StreamSettings, SyncHead};
use evalverse::evaluator::{Evaluator, evaluate_file};
use evalverse::model::Model;
use evalverse::output::{self, http, telemetry, terminal};
use evalverse::score::record::Record;
use evalverse::sender::{self, RtpTarget, synth::SceneSpec};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    name = "evalverse",
    version,
    about = "Live evaluation of generated cinematic video: audio-visual sync, continuity and rhythm, second by second"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct ModelArgs {
    /// Model backend: auto (GPU via wgpu when present, else CPU), cpu, or wgpu (any adapter,
    /// including software Vulkan).
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    backend: BackendChoice,
    /// Sync commitment: the learned head (default) or the hand-set rules (overrides the config).
    #[arg(long, value_enum)]
    sync_head: Option<SyncHead>,
    /// Configuration file (TOML); its [analysis] table applies.
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

impl ModelArgs {
    fn settings(&self) -> Result<Settings> {
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
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate a file or URI as fast as it decodes.
    Eval {
        /// A media file GStreamer can decode, or a URI.
        input: String,
        /// Print JSON lines (cut, event, window, summary) instead of a progress bar and summary.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Evaluate live RTP streams named in a config; serve /metrics and the HTTP API.
    Serve {
        #[command(flatten)]
        model: ModelArgs,
        /// Address of the HTTP server (overrides server.listen). Any address but the loopback
        /// needs a token.
        #[arg(long)]
        listen: Option<String>,
        /// Require `Authorization: Bearer TOKEN` on every /v1 endpoint (and /metrics when
        /// server.open_metrics = false). Prefer EVALVERSE_TOKEN or --token-file: the command
        /// line is visible to other users of the machine.
        #[arg(long, env = "EVALVERSE_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Read the token from this file (first line; keep it mode 600).
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
        /// Listen on a non-loopback address without a token: anyone who can reach it may add
        /// and remove streams and read every record.
        #[arg(long)]
        insecure_no_token: bool,
        /// Print records as JSON lines on stdout (default: one readable line per record).
        #[arg(long)]
        json: bool,
    },
    /// Self-contained demo: a generated sequence with cuts, beeps, a known audio delay and a
    /// freeze is streamed as RTP over loopback and evaluated live.
    Demo {
        /// How long the generated sequence runs, seconds.
        #[arg(long, default_value_t = 30.0)]
        duration: f64,
        /// Audio delay injected by the sender, ms (positive = audio late).
        #[arg(long, default_value_t = 200.0)]
        audio_delay_ms: f64,
        /// First of four UDP ports used (video RTP, RTCP, audio RTP, RTCP).
        #[arg(long, default_value_t = 5004)]
        port: u16,
        /// Address of the HTTP server (/metrics, /v1/...); loopback only (the demo has no token).
        #[arg(long, default_value = evalverse::config::DEFAULT_LISTEN)]
        listen: String,
        /// Print JSON lines instead of readable lines.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Stream a file, a directory a generator is writing (PNG/JPEG frames, or .ts / .m4s
    /// fragments), or a generated sequence as RTP to an evaluator, in real time.
    Send {
        /// File, URI or directory to send; omit with --synthetic.
        input: Option<String>,
        /// Frame rate of an image sequence (DIR of PNG/JPEG files).
        #[arg(long, default_value_t = 24)]
        fps: u32,
        /// DIR mode: stop when no new file appeared for this many seconds (or at a file named END).
        #[arg(long, default_value_t = 10.0)]
        idle: f64,
        /// Send a generated sequence (cuts with beeps) instead of a file.
        #[arg(long)]
        synthetic: bool,
        /// Seconds of generated sequence.
        #[arg(long, default_value_t = 60.0)]
        duration: f64,
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        #[arg(long, default_value_t = 5004)]
        video_port: u16,
        #[arg(long, default_value_t = 5006)]
        audio_port: u16,
        #[arg(long, default_value_t = 2000)]
        bitrate_kbps: u32,
        /// Print the equivalent gst-launch-1.0 line and exit.
        #[arg(long)]
        print: bool,
    },
    /// Copy a file with faults of exactly known ground truth (prints the ground truth as JSON).
    Inject {
        input: String,
        output: PathBuf,
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
        /// Two white frames at T seconds (repeatable).
        #[arg(long)]
        flash: Vec<f64>,
        /// Replace the frame at T seconds with the frame one second earlier (repeatable).
        #[arg(long)]
        swap_frame: Vec<f64>,
        /// Colour-grade change over A:B seconds (repeatable).
        #[arg(long, value_parser = parse_span)]
        grade_shift: Vec<(f64, f64)>,
    },
    /// Train the learned sync commitment head on generated sequences, compare it with the
    /// hand-set rules on held-out sequences, and write its weights (deterministic: the same
    /// options write the same file).
    Train {
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
    },
    /// Write a generated test sequence with exactly known cuts and faults to an MP4 file.
    Generate {
        output: PathBuf,
        #[arg(long, default_value_t = 20.0)]
        duration: f64,
        #[arg(long, default_value_t = 640)]
        width: usize,
        #[arg(long, default_value_t = 360)]
        height: usize,
        #[arg(long, default_value_t = 25)]
        fps: u32,
        /// Cut times in seconds, comma-separated (default: irregular cuts every 2–4 s).
        #[arg(long, value_delimiter = ',')]
        cuts: Option<Vec<f64>>,
        #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
        audio_delay_ms: f64,
        /// Freeze span A:B seconds (repeatable).
        #[arg(long, value_parser = parse_span)]
        freeze: Vec<(f64, f64)>,
        /// Black span A:B seconds (repeatable).
        #[arg(long, value_parser = parse_span)]
        black: Vec<(f64, f64)>,
        /// Flicker span A:B seconds (repeatable).
        #[arg(long, value_parser = parse_span)]
        flicker: Vec<(f64, f64)>,
        /// Silence span A:B seconds (repeatable).
        #[arg(long, value_parser = parse_span)]
        silence: Vec<(f64, f64)>,
        /// A 2-frame white flash with a beep at T seconds (repeatable).
        #[arg(long)]
        flash: Vec<f64>,
        /// Fade through black over A:B seconds (repeatable; put a cut at its middle for a
        /// gradual transition).
        #[arg(long, value_parser = parse_span)]
        fade: Vec<(f64, f64)>,
        /// Cross-dissolve into the next shot over A:B seconds (repeatable; the new shot is
        /// alone from B).
        #[arg(long, value_parser = parse_span)]
        dissolve: Vec<(f64, f64)>,
        /// Print the ground truth as JSON.
        #[arg(long)]
        truth: bool,
    },
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

fn model_for(s: &Settings) -> Result<Model> {
    let model = Model::new(s.analysis.backend)?.with_sync_head(s.analysis.sync_head);
    tracing::info!("model backend: {}", model.kind());
    Ok(model)
}

/// Software Vulkan (lavapipe) complains on every adapter probe when XDG_RUNTIME_DIR is unset;
/// give it a private one. Runs before any thread exists.
fn ensure_runtime_dir() {
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

fn main() {
    evalverse::tune_allocator();
    ensure_runtime_dir();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("EVALVERSE_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let code = match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("evalverse: {e:#}");
            2
        }
    };
    std::process::exit(code);
}

fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Eval { input, json, model } => eval(&input, json, &model),
        Command::Serve {
            model,
            listen,
            token,
            token_file,
            insecure_no_token,
            json,
        } => {
            let token = api_token(token, token_file.as_deref())?;
            serve(&model, listen, token, insecure_no_token, json)
        }
        Command::Demo {
            duration,
            audio_delay_ms,
            port,
            listen,
            json,
            model,
        } => demo(duration, audio_delay_ms, port, &listen, json, &model),
        Command::Send {
            input,
            fps,
            idle,
            synthetic,
            duration,
            host,
            video_port,
            audio_port,
            bitrate_kbps,
            print,
        } => {
            let target = RtpTarget {
                host,
                video_port,
                audio_port,
                bitrate_kbps,
            };
            let stop = Arc::new(AtomicBool::new(false));
            signal_flag(stop.clone());
            match (input, synthetic) {
                (Some(f), false) if print => {
                    println!("{}", sender::send_file_launch_line(&f, &target)?);
                }
                (Some(f), false) if std::path::Path::new(&f).is_dir() => {
                    if !(1..=240).contains(&fps) || !(0.5..=86_400.0).contains(&idle) {
                        bail!("--fps 1–240 and --idle 0.5–86400 seconds, please");
                    }
                    sender::send_dir(
                        std::path::Path::new(&f),
                        &target,
                        &sender::DirOptions { fps, idle_s: idle },
                        stop,
                    )?
                }
                (Some(f), false) => sender::send_file(&f, &target, stop)?,
                (None, true) => {
                    let spec = SceneSpec {
                        duration_s: duration,
                        cuts: sender::synth::irregular_cuts(2.0, duration),
                        ..Default::default()
                    };
                    sender::send_synthetic(&spec, &target, stop)?
                }
                _ => bail!("give a FILE, or --synthetic"),
            }
            Ok(0)
        }
        Command::Inject {
            input,
            output,
            audio_delay_ms,
            freeze,
            black,
            silence,
            flicker,
            flash,
            swap_frame,
            grade_shift,
        } => {
            let faults = sender::inject::Faults {
                audio_delay_ms,
                freeze,
                black,
                flicker,
                silence,
                grade_shift,
                flash,
                swap_frame,
            };
            let truth = sender::inject::inject(&input, &output, &faults)?;
            println!("{}", serde_json::to_string(&truth)?);
            Ok(0)
        }
        Command::Train {
            out,
            sequences,
            seed,
            steps,
        } => {
            if !(12..=100_000).contains(&sequences) || !(1..=1_000_000).contains(&steps) {
                bail!("--sequences 12–100000 and --steps 1–1000000, please");
            }
            use evalverse::model::train;
            let opts = train::TrainOptions {
                sequences,
                seed,
                steps,
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
            if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            std::fs::write(&out, text).with_context(|| format!("writing {}", out.display()))?;
            eprintln!(
                "wrote {} ({} examples, {:.0} s)",
                out.display(),
                examples.len(),
                t0.elapsed().as_secs_f64()
            );
            Ok(0)
        }
        Command::Generate {
            output,
            duration,
            width,
            height,
            fps,
            cuts,
            audio_delay_ms,
            freeze,
            black,
            flicker,
            silence,
            flash,
            fade: fades,
            dissolve: dissolves,
            truth,
        } => {
            if !(0.5..=3600.0).contains(&duration)
                || width < 16
                || height < 16
                || width > 3840
                || height > 2160
                || !(1..=120).contains(&fps)
            {
                bail!("duration 0.5–3600 s, size 16x16–3840x2160 and fps 1–120, please");
            }
            let spec = SceneSpec {
                width,
                height,
                fps,
                duration_s: duration,
                cuts: cuts.unwrap_or_else(|| sender::synth::irregular_cuts(2.0, duration)),
                beep_on_cut: true,
                flashes: flash,
                audio_delay_ms,
                freeze,
                black,
                flicker,
                silence,
                fades,
                dissolves,
                seed: 7,
                ..Default::default()
            };
            sender::write_synthetic(&spec, &output)?;
            if truth {
                println!(
                    "{}",
                    serde_json::json!({ "spec": spec, "cut_frames": spec.cut_frames(), "dissolve_frames": spec.dissolve_frames() })
                );
            }
            Ok(0)
        }
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

fn eval(input: &str, json: bool, args: &ModelArgs) -> Result<i32> {
    let settings = args.settings()?;
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

/// Runtime shared by serve and demo: evaluator, metrics, HTTP.
struct Live {
    rt: tokio::runtime::Runtime,
    evaluator: Arc<Evaluator>,
    stop: Arc<AtomicBool>,
}

/// The API token from `--token`/`EVALVERSE_TOKEN` or `--token-file`, checked for shape.
fn api_token(token: Option<String>, file: Option<&std::path::Path>) -> Result<Option<String>> {
    let token = match (token, file) {
        (Some(_), Some(_)) => {
            bail!("give the token once: --token (or EVALVERSE_TOKEN) or --token-file")
        }
        (Some(t), None) => t,
        (None, Some(f)) => {
            let meta =
                std::fs::metadata(f).with_context(|| format!("--token-file {}", f.display()))?;
            if !meta.is_file() || meta.len() > 4096 {
                bail!(
                    "--token-file {}: not a regular file of at most 4096 bytes",
                    f.display()
                );
            }
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                if meta.permissions().mode() & 0o077 != 0 {
                    eprintln!(
                        "evalverse: warning: token file {} is readable by other users (chmod 600 it)",
                        f.display()
                    );
                }
            }
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("--token-file {}", f.display()))?;
            text.lines().next().unwrap_or_default().to_string()
        }
        (None, None) => return Ok(None),
    };
    let token = token.trim();
    if token.is_empty() || token.len() > 4096 || !token.bytes().all(|b| b.is_ascii_graphic()) {
        bail!("the API token must be 1–4096 visible ASCII characters, without spaces");
    }
    if token.len() < 16 {
        eprintln!(
            "evalverse: warning: the API token has only {} characters; use 16 or more random ones (e.g. `openssl rand -hex 16`)",
            token.len()
        );
    }
    Ok(Some(token.to_string()))
}

fn parse_listen(listen: &str) -> Result<std::net::SocketAddr> {
    listen
        .parse()
        .with_context(|| format!("--listen {listen:?} is not ADDR:PORT"))
}

fn start_live(
    settings: Settings,
    addr: std::net::SocketAddr,
    token: Option<String>,
) -> Result<Live> {
    let model = model_for(&settings)?;
    let handle = telemetry::install();
    let evaluator = Evaluator::new(settings, model);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(addr))
        .with_context(|| format!("cannot listen on {addr}"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let state = http::AppState::new(evaluator.clone(), handle, token);
    let stop2 = stop.clone();
    rt.spawn(async move {
        let shutdown = async move {
            while !stop2.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        if let Err(e) = http::serve(listener, state, shutdown).await {
            eprintln!("evalverse: HTTP server stopped: {e}");
        }
    });
    eprintln!("evalverse: metrics on http://{addr}/metrics, API on http://{addr}/v1/streams");
    signal_flag(stop.clone());
    Ok(Live {
        rt,
        evaluator,
        stop,
    })
}

/// Print records until `until` says stop (then whatever is already queued); returns the
/// summaries seen.
fn print_records(
    live: &Live,
    rx: &mut tokio::sync::broadcast::Receiver<Arc<Record>>,
    json: bool,
    until: impl Fn() -> bool,
) -> Vec<Record> {
    let mut summaries = vec![];
    let stdout = std::io::stdout();
    loop {
        let stopping = until() || live.stop.load(Ordering::Relaxed);
        match rx.try_recv() {
            Ok(r) => {
                let mut lock = stdout.lock();
                if json {
                    output::json_line(&mut lock, &r);
                } else if let Some(l) = terminal::line(&r) {
                    let _ = writeln!(lock, "{l}");
                }
                if matches!(*r, Record::Summary(_)) {
                    summaries.push((*r).clone());
                }
            }
            Err(tokio::sync::broadcast::error::TryRecvError::Empty) if stopping => break,
            Err(tokio::sync::broadcast::error::TryRecvError::Empty) => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(tokio::sync::broadcast::error::TryRecvError::Lagged(n)) => {
                eprintln!("evalverse: terminal fell behind, {n} records not shown")
            }
            Err(_) => break,
        }
    }
    summaries
}

fn serve(
    args: &ModelArgs,
    listen: Option<String>,
    token: Option<String>,
    insecure_no_token: bool,
    json: bool,
) -> Result<i32> {
    let settings = args.settings()?;
    let addr = parse_listen(&listen.unwrap_or_else(|| settings.server.listen.clone()))?;
    if http::needs_token(&addr) && token.is_none() {
        if !insecure_no_token {
            bail!(
                "refusing to listen on {addr} without a token: anyone who can reach it could add \
                 streams and read every record. Give a token (EVALVERSE_TOKEN or --token-file \
                 FILE), listen on a loopback address, or pass --insecure-no-token to accept that"
            );
        }
        eprintln!(
            "evalverse: WARNING: listening on {addr} WITHOUT A TOKEN (--insecure-no-token): anyone who can reach this address can add and remove streams and read every record"
        );
    }
    let sources = &settings.server.api_sources;
    if !sources.dirs.is_empty() || !sources.schemes.is_empty() {
        eprintln!(
            "evalverse: streams added over the API may read files under {:?} and URIs of schemes {:?} (server.api_sources)",
            sources.dirs, sources.schemes
        );
    }
    let streams = settings.streams.clone();
    let live = start_live(settings, addr, token)?;
    for s in streams {
        let name = s.name.clone();
        live.evaluator
            .add_stream(s)
            .with_context(|| format!("stream {name}"))?;
    }
    let mut rx = live.evaluator.subscribe();
    print_records(&live, &mut rx, json, || false);
    // SIGTERM / SIGINT: every stream ends with its last window and summary, then the webhooks
    // still queued get alerting.shutdown_grace_s.
    live.evaluator.shutdown();
    print_records(&live, &mut rx, json, || true);
    finish_live(live);
    Ok(0)
}

/// Flush the webhooks (bounded) and stop the HTTP server.
fn finish_live(live: Live) {
    let grace = live.evaluator.settings().alerting.shutdown_grace_s;
    if !live
        .evaluator
        .flush_webhooks(Duration::from_secs_f64(grace))
    {
        eprintln!(
            "evalverse: webhooks still queued after {grace} s (alerting.shutdown_grace_s) were dropped"
        );
    }
    live.stop.store(true, Ordering::Relaxed);
    drop(live.rt);
}

fn demo(
    duration: f64,
    delay: f64,
    port: u16,
    listen: &str,
    json: bool,
    args: &ModelArgs,
) -> Result<i32> {
    if !(3.0..=3600.0).contains(&duration) {
        bail!("--duration must be 3–3600 seconds");
    }
    let settings = args.settings()?;
    let addr = parse_listen(listen)?;
    if http::needs_token(&addr) {
        bail!("the demo has no token: give --listen a loopback address (e.g. 127.0.0.1:9800)");
    }
    let live = start_live(settings, addr, None)?;
    let stream = StreamSettings::rtp("demo", Some(port), Some(port + 2));
    live.evaluator.add_stream(stream)?;
    let freeze = (duration * 0.45, duration * 0.45 + 1.5);
    let spec = SceneSpec {
        width: 640,
        height: 360,
        fps: 30,
        duration_s: duration,
        cuts: sender::synth::irregular_cuts(1.5, duration),
        audio_delay_ms: delay,
        freeze: vec![freeze],
        ..Default::default()
    };
    if !json {
        println!(
            "demo: streaming {duration:.0} s of generated video (640x360@30, H.264 + Opus over RTP/RTCP on 127.0.0.1:{port}-{}) with {} cuts, audio {delay:+.0} ms late, a freeze at {:.1}–{:.1} s",
            port + 3,
            spec.cut_frames().len(),
            freeze.0,
            freeze.1
        );
    }
    // Start sending once the receiver is listening, so the first keyframe is not lost.
    let ready = Instant::now();
    while live
        .evaluator
        .stream("demo")
        .map(|i| i.state == evalverse::StreamState::Starting)
        .unwrap_or(false)
        && ready.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let done = Arc::new(AtomicBool::new(false));
    let sender_thread = {
        let (spec, done, stop) = (spec.clone(), done.clone(), live.stop.clone());
        std::thread::spawn(move || {
            let target = RtpTarget {
                host: "127.0.0.1".into(),
                video_port: port,
                audio_port: port + 2,
                bitrate_kbps: 1500,
            };
            let r = sender::send_synthetic(&spec, &target, stop);
            done.store(true, Ordering::Relaxed);
            r
        })
    };
    let finished_at = std::sync::Mutex::new(None::<Instant>);
    let mut rx = live.evaluator.subscribe();
    print_records(&live, &mut rx, json, || {
        if done.load(Ordering::Relaxed) {
            let mut f = finished_at.lock().unwrap_or_else(|e| e.into_inner());
            // Let the jitter buffer and the last window drain.
            f.get_or_insert_with(Instant::now).elapsed() > Duration::from_secs(2)
        } else {
            false
        }
    });
    // Removing the stream ends it: its last window and summary follow.
    live.evaluator.remove_stream("demo");
    print_records(&live, &mut rx, json, || true);
    let sender_result = sender_thread.join();
    live.stop.store(true, Ordering::Relaxed);
    if let Ok(Err(e)) = sender_result {
        bail!("the demo sender failed: {e}");
    }
    if !json {
        println!(
            "demo: ground truth was audio {delay:+.0} ms, cuts at frames {:?}, freeze {:.1}–{:.1} s",
            spec.cut_frames(),
            freeze.0,
            freeze.1
        );
    }
    finish_live(live);
    Ok(0)
}
