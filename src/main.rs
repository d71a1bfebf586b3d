//! `evalverse`: the command line. Parse and dispatch; each command lives in `cli/`, everything
//! else in the library.
mod cli;

use clap::Parser;

fn main() {
    evalverse::tune_allocator();
    cli::ensure_runtime_dir();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("EVALVERSE_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let code = match cli::run(cli::Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("evalverse: {e:#}");
            2
        }
    };
    std::process::exit(code);
}
