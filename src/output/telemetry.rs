//! Metrics: records become Prometheus series through the `metrics` facade. Library code only
//! calls `metrics::` macros; the binary installs the exporter once ([`install`]).
//!
//! Stream removal: the exporter has no way to delete a series, so the `/metrics` handler
//! leaves out every series of a removed stream ([`render`]) until a stream of that name is
//! added again.
use crate::metric_names as m;
use crate::score::record::Record;
use crate::types::StreamState;
use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use parking_lot::Mutex;
use std::collections::BTreeSet;
use std::sync::OnceLock;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
static REMOVED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// Latency buckets, seconds (evaluation latency is ~ms on a CPU, up to the hop length).
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.5, 1.0, 2.5,
];

/// Install the Prometheus recorder (once per process) and describe every metric.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets(BUCKETS)
                .ok()?
                .install_recorder()
                .ok()?;
            describe();
            Some(handle)
        })
        .clone()
}

/// Prometheus exposition text without the series of removed streams.
pub fn render(handle: &PrometheusHandle) -> String {
    handle.run_upkeep();
    let text = handle.render();
    let removed = REMOVED.lock().clone();
    if removed.is_empty() {
        return text;
    }
    text.lines()
        .filter(|l| {
            l.starts_with('#')
                || !removed
                    .iter()
                    .any(|s| l.contains(&format!("stream=\"{s}\"")))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Hide a removed stream's series.
pub fn forget_stream(name: &str) {
    REMOVED.lock().insert(name.to_string());
}

/// A stream (re)appears: show its series again.
pub fn remember_stream(name: &str) {
    REMOVED.lock().remove(name);
}

/// Register descriptions and units of every metric (the README table lists the same set).
pub fn describe() {
    describe_counter!(m::FRAMES, Unit::Count, "Video frames evaluated");
    describe_counter!(
        m::DROPPED_FRAMES,
        Unit::Count,
        "Video frames dropped because the evaluator fell behind (bounded queue full)"
    );
    describe_counter!(
        m::DROPPED_AUDIO_CHUNKS,
        Unit::Count,
        "Audio chunks dropped because the evaluator fell behind"
    );
    describe_counter!(m::RTP_PACKETS, Unit::Count, "Valid RTP packets received");
    describe_counter!(
        m::RTP_PACKETS_LOST,
        Unit::Count,
        "RTP packets lost (sequence gaps, RFC 3550)"
    );
    describe_counter!(
        m::RTP_PACKETS_MALFORMED,
        Unit::Count,
        "UDP datagrams on an RTP port that were not valid RTP of the expected payload type"
    );
    describe_counter!(
        m::RTP_PACKETS_REORDERED,
        Unit::Count,
        "RTP packets that arrived after a later sequence number"
    );
    describe_gauge!(m::RTP_JITTER, Unit::Seconds, "RFC 3550 interarrival jitter");
    describe_gauge!(
        m::RTP_LAST_PACKET_AGE,
        Unit::Seconds,
        "Seconds since the last valid RTP packet"
    );
    describe_gauge!(
        m::STREAM_STATE,
        "1 for the stream's current state (label state), 0 otherwise"
    );
    describe_gauge!(
        m::SCORE,
        "Rolling score 0-100, higher is better (label dimension: sync, continuity, rhythm, overall)"
    );
    describe_gauge!(
        m::AUDIO_DELAY,
        Unit::Seconds,
        "Committed audio delay of the latest window; positive = audio later than video"
    );
    describe_gauge!(
        m::SYNC_CONFIDENCE,
        "Confidence of the latest sync estimate, 0-1 (0 when declined)"
    );
    describe_gauge!(
        m::FLICKER,
        "Share of the latest window inside flicker events, 0-1"
    );
    describe_gauge!(
        m::FREEZE_RATIO,
        "Share of the latest window inside freeze events, 0-1"
    );
    describe_gauge!(
        m::BLACK_RATIO,
        "Share of the latest window inside black events, 0-1"
    );
    describe_gauge!(
        m::SILENCE_RATIO,
        "Share of the latest window inside silence events, 0-1"
    );
    describe_gauge!(
        m::SHOT_LENGTH,
        Unit::Seconds,
        "Rolling average shot length (last 20 shots)"
    );
    describe_gauge!(
        m::CUTS_PER_MINUTE,
        "Cuts per minute over the last 60 s of stream time"
    );
    describe_counter!(
        m::CUTS,
        Unit::Count,
        "Shot boundaries (label kind: hard, gradual; cause: content, transport)"
    );
    describe_counter!(
        m::EVENTS,
        Unit::Count,
        "Continuity events, counted when they end (label kind; cause: content, transport)"
    );
    describe_gauge!(
        m::TRANSPORT_DAMAGED,
        "Share of the latest window decoded from damaged input (label medium), 0-1"
    );
    describe_counter!(m::WINDOWS, Unit::Count, "Windows scored");
    describe_histogram!(
        m::LATENCY,
        Unit::Seconds,
        "Evaluation latency (label stage: features = model time per batch; window = newest frame arrival to window score)"
    );
    describe_counter!(
        m::ALERTS,
        Unit::Count,
        "Alerts fired (labels rule, severity)"
    );
    describe_gauge!(
        m::VERDICT_STOP,
        "1 when the early-stop verdict for the stream is stop"
    );
    describe_counter!(
        crate::output::webhook::DELIVERIES,
        Unit::Count,
        "Webhook deliveries (label outcome: delivered, rejected, failed, dropped)"
    );
}

/// Update metrics from one record.
pub fn observe(r: &Record) {
    match r {
        Record::Window(w) => {
            let s = w.stream.clone();
            metrics::counter!(m::WINDOWS, "stream" => s.clone()).increment(1);
            for (dim, v) in [
                ("sync", w.scores.sync),
                ("continuity", w.scores.continuity),
                ("rhythm", w.scores.rhythm),
                ("overall", w.scores.overall),
            ] {
                if let Some(v) = v {
                    metrics::gauge!(m::SCORE, "stream" => s.clone(), "dimension" => dim).set(v);
                }
            }
            if let Some(sync) = &w.sync {
                if let Some(d) = sync.audio_delay_ms {
                    metrics::gauge!(m::AUDIO_DELAY, "stream" => s.clone()).set(d / 1000.0);
                }
                metrics::gauge!(m::SYNC_CONFIDENCE, "stream" => s.clone()).set(sync.confidence);
            }
            metrics::gauge!(m::FLICKER, "stream" => s.clone()).set(w.continuity.flicker_ratio);
            metrics::gauge!(m::FREEZE_RATIO, "stream" => s.clone()).set(w.continuity.freeze_ratio);
            metrics::gauge!(m::BLACK_RATIO, "stream" => s.clone()).set(w.continuity.black_ratio);
            if let Some(x) = w.continuity.silence_ratio {
                metrics::gauge!(m::SILENCE_RATIO, "stream" => s.clone()).set(x);
            }
            if let Some(asl) = w.rhythm.average_shot_length_s {
                metrics::gauge!(m::SHOT_LENGTH, "stream" => s.clone()).set(asl);
            }
            metrics::gauge!(m::CUTS_PER_MINUTE, "stream" => s.clone())
                .set(w.rhythm.cuts_per_minute);
            if let Some(t) = &w.transport {
                metrics::gauge!(m::TRANSPORT_DAMAGED, "stream" => s.clone(), "medium" => "video")
                    .set(t.damaged_video_ratio);
                metrics::gauge!(m::TRANSPORT_DAMAGED, "stream" => s.clone(), "medium" => "audio")
                    .set(t.damaged_audio_ratio);
            }
            metrics::histogram!(m::LATENCY, "stream" => s, "stage" => "window").record(w.latency_s);
        }
        Record::Cut(c) => {
            let kind = match c.kind {
                crate::model::rhythm::CutKind::Hard => "hard",
                crate::model::rhythm::CutKind::Gradual => "gradual",
            };
            metrics::counter!(m::CUTS, "stream" => c.stream.clone(), "kind" => kind, "cause" => c.cause).increment(1);
        }
        Record::Event(e) if !e.ongoing => {
            metrics::counter!(m::EVENTS, "stream" => e.stream.clone(), "kind" => e.kind.as_str(), "cause" => e.cause)
                .increment(1);
        }
        Record::Alert(a) if a.state == "firing" => {
            metrics::counter!(m::ALERTS, "stream" => a.stream.clone(), "rule" => a.rule.clone(), "severity" => a.severity.as_str()).increment(1);
        }
        Record::State(st) => {
            for state in StreamState::ALL {
                let v = if state == st.state { 1.0 } else { 0.0 };
                metrics::gauge!(m::STREAM_STATE, "stream" => st.stream.clone(), "state" => state.as_str()).set(v);
            }
        }
        _ => {}
    }
}
