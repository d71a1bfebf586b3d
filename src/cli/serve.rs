//! `evalverse serve`: evaluate the live RTP streams of a config; /metrics and the HTTP API.
use super::live::{api_token, finish_live, parse_listen, print_records, start_live};
use super::{CalibrationArg, ModelArgs};
use anyhow::{Context, Result, bail};
use clap::Args;
use evalverse::output::http;
use std::path::PathBuf;

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    calibration: CalibrationArg,
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
}

pub fn run(a: ServeArgs) -> Result<i32> {
    let token = api_token(a.token, a.token_file.as_deref())?;
    let (listen, insecure_no_token, json) = (a.listen, a.insecure_no_token, a.json);
    let settings = a.model.settings_with(&a.calibration)?;
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
    if streams.is_empty() {
        eprintln!(
            "evalverse: no streams configured: listening on {addr} for streams added with \
             POST /v1/streams, or name them in a config (cp evalverse.example.toml \
             evalverse.toml; evalverse serve --config evalverse.toml)"
        );
    }
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
