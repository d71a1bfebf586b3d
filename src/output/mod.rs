//! Output: where records go — JSON lines, the terminal, Prometheus metrics, HTTP.
pub mod admission;
pub mod html;
pub mod http;
pub mod live;
pub mod markup;
pub mod run_page;
pub mod sinks;
pub mod telemetry;
pub mod terminal;
pub mod webhook;

use crate::score::record::Record;
use std::io::Write;

/// Write one record as a JSON line. Returns false when stdout is gone (a closed pipe).
pub fn json_line(out: &mut impl Write, r: &Record) -> bool {
    writeln!(out, "{}", r.to_json()).is_ok()
}
