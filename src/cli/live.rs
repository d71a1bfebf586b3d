//! The runtime `serve` and `demo` share: evaluator, metrics recorder, HTTP server, signals,
//! and the records printed as they come.
use super::{model_for, signal_flag};
use anyhow::{Context, Result, bail};
use evalverse::config::Settings;
use evalverse::evaluator::Evaluator;
use evalverse::output::{self, http, telemetry, terminal};
use evalverse::score::record::Record;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Runtime shared by serve and demo: evaluator, metrics, HTTP.
pub struct Live {
    rt: tokio::runtime::Runtime,
    pub evaluator: Arc<Evaluator>,
    pub stop: Arc<AtomicBool>,
}

/// The API token from `--token`/`EVALVERSE_TOKEN` or `--token-file`, checked for shape.
pub fn api_token(token: Option<String>, file: Option<&std::path::Path>) -> Result<Option<String>> {
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
            let text = evalverse::files::read_text(f, 64 * 1024, "token file")
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

pub fn parse_listen(listen: &str) -> Result<std::net::SocketAddr> {
    listen
        .parse()
        .with_context(|| format!("--listen {listen:?} is not ADDR:PORT"))
}

pub fn start_live(
    settings: Settings,
    addr: std::net::SocketAddr,
    token: Option<String>,
) -> Result<Live> {
    let model = model_for(&settings)?;
    let handle = telemetry::install();
    let (evaluator, pages) = evalverse::output::sinks::served(settings, model);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(addr))
        .with_context(|| format!("cannot listen on {addr}"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let state = http::AppState::new(evaluator.clone(), handle, token).with_pages(pages);
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
pub fn print_records(
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

/// Close the sinks (webhooks flushed, bounded) and stop the HTTP server.
pub fn finish_live(live: Live) {
    let grace = live.evaluator.settings().alerting.shutdown_grace_s;
    if !live.evaluator.close_sinks(Duration::from_secs_f64(grace)) {
        eprintln!(
            "evalverse: webhooks still queued after {grace} s (alerting.shutdown_grace_s) were dropped"
        );
    }
    live.stop.store(true, Ordering::Relaxed);
    drop(live.rt);
}
