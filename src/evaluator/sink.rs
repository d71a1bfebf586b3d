//! Where a live evaluator's records go besides its broadcast: sinks the application installs
//! (Prometheus telemetry, alert and stop webhooks, in the sinks of the outputs). The evaluator emits
//! and knows no output; as in metrics-rs, where a library emits and the executable installs
//! the recorder, or a GStreamer element that posts a message and lets the application decide.
use crate::score::record::Record;
use std::time::Instant;

/// One destination of records. Called on the stream's thread: an implementation never blocks
/// (queue and count what it cannot take).
pub trait RecordSink: Send + Sync {
    /// A record of a stream, in the order the stream produced it (a live stream's `verdict`
    /// record when its verdict turns to `stop`).
    fn record(&self, r: &Record);

    /// A stream is gone (removed or reaped): forget what is kept for it.
    fn stream_gone(&self, _stream: &str) {}

    /// Deliver what is still queued by `deadline`, then stop. Returns whether nothing was
    /// given up.
    fn close(&self, _deadline: Instant) -> bool {
        true
    }
}

/// The installed sinks, in the order they were installed.
#[derive(Default, Clone)]
pub struct Sinks(Vec<std::sync::Arc<dyn RecordSink>>);

impl Sinks {
    pub fn new(sinks: Vec<std::sync::Arc<dyn RecordSink>>) -> Self {
        Self(sinks)
    }

    /// Install one more sink, after the others.
    pub fn push(&mut self, sink: std::sync::Arc<dyn RecordSink>) {
        self.0.push(sink);
    }

    pub fn record(&self, r: &Record) {
        for s in &self.0 {
            s.record(r);
        }
    }

    pub fn stream_gone(&self, stream: &str) {
        for s in &self.0 {
            s.stream_gone(stream);
        }
    }

    /// Close every sink by one common deadline.
    pub fn close(&self, deadline: Instant) -> bool {
        let mut all = true;
        for s in &self.0 {
            all &= s.close(deadline);
        }
        all
    }
}
