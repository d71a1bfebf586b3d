//! Metrics: records become Prometheus series through the `metrics` facade. Library code only
//! calls `metrics::` macros; the binary installs the recorder once ([`install`]).
//!
//! Stream removal: the Prometheus exporter (0.18) has no call that deletes a series (only an
//! idle timeout, which would also drop a live stream's quiet counters). So the recorder
//! [`install`] puts in place routes every series with a `stream` label to that stream's own
//! `PrometheusRecorder`, and the rest to a shared one; [`forget_stream`] drops the stream's
//! recorder, and its series are gone from memory, not hidden. [`Handle::render`] merges the
//! recorders' expositions into one (each metric family once, with its HELP and TYPE).
//! A thread drains histogram samples every 5 s ([`UPKEEP`]), so memory stays bounded
//! when nobody scrapes.
use crate::metric_names as m;
use crate::model::local_sync::SyncSource;
use crate::score::record::Record;
use crate::types::StreamState;
use metrics::{
    Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit,
    describe_counter, describe_gauge, describe_histogram,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};
use parking_lot::{Mutex, RwLock};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

static ROUTER: OnceLock<Option<Handle>> = OnceLock::new();

/// Latency buckets, seconds (evaluation latency is ~ms on a CPU, up to the hop length).
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.5, 1.0, 2.5,
];

/// How often histogram samples are drained into their buckets.
pub const UPKEEP: Duration = Duration::from_secs(5);

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// The installed recorder: one Prometheus recorder for series without a `stream` label, one
/// per stream for the others.
struct Router {
    shared: PrometheusRecorder,
    streams: RwLock<HashMap<String, PrometheusRecorder>>,
    descriptions: Mutex<Vec<(Kind, KeyName, Option<Unit>, SharedString)>>,
}

fn new_recorder() -> PrometheusRecorder {
    PrometheusBuilder::new()
        .set_buckets(BUCKETS)
        .unwrap_or_else(|_| PrometheusBuilder::new())
        .build_recorder()
}

fn describe_on(r: &PrometheusRecorder, kind: Kind, k: KeyName, u: Option<Unit>, d: SharedString) {
    match kind {
        Kind::Counter => r.describe_counter(k, u, d),
        Kind::Gauge => r.describe_gauge(k, u, d),
        Kind::Histogram => r.describe_histogram(k, u, d),
    }
}

impl Router {
    fn describe(&self, kind: Kind, key: KeyName, unit: Option<Unit>, text: SharedString) {
        describe_on(&self.shared, kind, key.clone(), unit, text.clone());
        for r in self.streams.read().values() {
            describe_on(r, kind, key.clone(), unit, text.clone());
        }
        self.descriptions.lock().push((kind, key, unit, text));
    }

    /// The recorder a series belongs to (a stream's is made on its first series).
    fn with<T>(&self, key: &Key, f: impl Fn(&PrometheusRecorder) -> T) -> T {
        let Some(stream) = key.labels().find(|l| l.key() == "stream") else {
            return f(&self.shared);
        };
        if let Some(r) = self.streams.read().get(stream.value()) {
            return f(r);
        }
        let mut streams = self.streams.write();
        let r = streams
            .entry(stream.value().to_string())
            .or_insert_with(|| {
                let r = new_recorder();
                for (kind, k, u, d) in self.descriptions.lock().iter() {
                    describe_on(&r, *kind, k.clone(), *u, d.clone());
                }
                r
            });
        f(r)
    }
}

/// What is installed as the global recorder.
struct Installed(Arc<Router>);

impl Recorder for Installed {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe(Kind::Counter, key, unit, description);
    }
    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe(Kind::Gauge, key, unit, description);
    }
    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe(Kind::Histogram, key, unit, description);
    }
    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        self.0.with(key, |r| r.register_counter(key, metadata))
    }
    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        self.0.with(key, |r| r.register_gauge(key, metadata))
    }
    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        self.0.with(key, |r| r.register_histogram(key, metadata))
    }
}

/// The installed recorder, for rendering `/metrics`.
#[derive(Clone)]
pub struct Handle(Arc<Router>);

impl Handle {
    /// Prometheus exposition text of every series the recorder holds.
    pub fn render(&self) -> String {
        let mut texts = vec![self.0.shared.handle().render()];
        texts.extend(self.0.streams.read().values().map(|r| r.handle().render()));
        merge(&texts)
    }

    /// Streams that have series in the recorder.
    pub fn streams(&self) -> Vec<String> {
        let mut v: Vec<String> = self.0.streams.read().keys().cloned().collect();
        v.sort();
        v
    }

    /// Drop a stream's recorder and with it every series of the stream.
    pub fn forget(&self, name: &str) {
        self.0.streams.write().remove(name);
    }

    fn upkeep(&self) {
        self.0.shared.handle().run_upkeep();
        for r in self.0.streams.read().values() {
            r.handle().run_upkeep();
        }
    }
}

/// Merge expositions: each metric family once (its HELP and TYPE from the first text that has
/// it), with the samples of every text, families in name order.
fn merge(texts: &[String]) -> String {
    let mut families: BTreeMap<String, (Vec<&str>, Vec<&str>)> = BTreeMap::new();
    for text in texts {
        let mut current: Option<String> = None;
        let mut help: Option<&str> = None;
        for line in text.lines() {
            if line.is_empty() {
                current = None;
            } else if line.starts_with("# HELP ") {
                help = Some(line);
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let name = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                families
                    .entry(name.clone())
                    .or_insert_with(|| (help.take().into_iter().chain([line]).collect(), vec![]));
                help = None;
                current = Some(name);
            } else if let Some(f) = current.as_ref().and_then(|c| families.get_mut(c)) {
                f.1.push(line);
            }
        }
    }
    let mut out = String::new();
    for (header, samples) in families.values() {
        for l in header.iter().chain(samples) {
            out.push_str(l);
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

/// Install the recorder (once per process), describe every metric and start the upkeep thread.
pub fn install() -> Option<Handle> {
    ROUTER
        .get_or_init(|| {
            let handle = Handle(Arc::new(Router {
                shared: new_recorder(),
                streams: RwLock::new(HashMap::new()),
                descriptions: Mutex::new(vec![]),
            }));
            metrics::set_global_recorder(Installed(handle.0.clone())).ok()?;
            describe();
            let h = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP);
                        h.upkeep();
                    }
                })
                .ok()?;
            Some(handle)
        })
        .clone()
}

/// Prometheus exposition text (kept for callers of the old API).
pub fn render(handle: &Handle) -> String {
    handle.render()
}

/// Forget every series of a stream: its recorder is dropped. Call once nothing records for
/// the stream any more (its threads have ended).
pub fn forget_stream(name: &str) {
    if let Some(Some(h)) = ROUTER.get() {
        h.forget(name);
    }
}

/// The gauges each window sets (scores and the figures behind them).
fn describe_window_gauges() {
    describe_gauge!(
        m::SCORE,
        "Rolling score 0-100, higher is better (label dimension: sync, continuity, rhythm, sound, picture, overall; sound and picture are not part of overall)"
    );
    describe_gauge!(
        m::AUDIO_DELAY,
        Unit::Seconds,
        "Committed audio delay of the latest window; positive = audio later than video; NaN while sync declines"
    );
    describe_gauge!(
        m::AUDIO_DRIFT,
        Unit::Seconds,
        "Change of the committed audio delay against the stream's earlier windows (either sign); NaN while sync declines or before there is a reference"
    );
    describe_gauge!(
        m::SYNC_CONFIDENCE,
        "Confidence of the latest committed sync estimate, 0-1; NaN while sync declines"
    );
    describe_gauge!(
        m::SYNC_EVIDENCE,
        "1 for the evidence the latest committed audio delay rests on (source: events = cuts and flashes, local_motion = motion that makes sound, lips = a speaking face against the speech), 0 for the others; all 0 while sync declines"
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
        m::LOUDNESS,
        "EBU R 128 loudness of the sound, LUFS (label kind: short_term at the latest window's end, momentary_max over it)"
    );
    describe_gauge!(
        m::TRUE_PEAK,
        "Highest true peak of the sound in the latest window, dBTP (over -1 breaks EBU R 128)"
    );
    describe_gauge!(
        m::EXPOSURE_CLIPPED,
        "Share of the picture lost to clipping in the latest window, 0-1 (label side: highlights at video white, shadows at video black)"
    );
    describe_gauge!(
        m::CAMERA_SHAKE,
        "Highest trailing-second median jitter of the camera path in the latest window, as a fraction of the picture width (shake events from 0.003)"
    );
    describe_gauge!(
        m::FACES,
        "Faces followed at the latest window's end (windows of inputs where a face was seen)"
    );
    describe_gauge!(
        m::LIP_MOVEMENT,
        "Median lip movement of the most moving visible face in the latest window (inner-lip gap standard deviation over 1-s spans, over the eye span; label during: speech, silence); NaN when the window had no such span (talking mouths: about 0.015-0.12; still: under 0.004)"
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
    describe_calibration();
    describe_gauge!(
        m::RTP_LAST_PACKET_AGE,
        Unit::Seconds,
        "Seconds since the last valid RTP packet"
    );
    describe_gauge!(
        m::STREAM_STATE,
        "1 for the stream's current state (label state), 0 otherwise"
    );
    describe_window_gauges();
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

/// The metrics of an expert calibration (`--calibration`).
fn describe_calibration() {
    describe_gauge!(
        m::CALIBRATED_SCORE,
        Unit::Count,
        "Score on the raters' scale from the mapping `--calibration` loaded (label dimension), over the trailing span the mapping was fitted on"
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
                ("sound", w.scores.sound),
                ("picture", w.scores.picture),
                ("overall", w.scores.overall),
            ] {
                if let Some(v) = v {
                    metrics::gauge!(m::SCORE, "stream" => s.clone(), "dimension" => dim)
                        .set(unsigned_zero(v));
                }
            }
            for (dim, v) in w.calibrated.iter().flatten() {
                metrics::gauge!(m::CALIBRATED_SCORE, "stream" => s.clone(), "dimension" => dim.clone())
                    .set(unsigned_zero(*v));
            }
            // A declined window clears the sync gauges (NaN: every comparison is false), so
            // no rule fires on the last committed value.
            let committed = w.sync.as_ref().filter(|s| s.audio_delay_ms.is_some());
            let (delay, confidence, drift) = match committed {
                Some(s) => (
                    s.audio_delay_ms.map_or(f64::NAN, |d| d / 1000.0),
                    s.confidence,
                    s.drift_ms.map_or(f64::NAN, |d| d / 1000.0),
                ),
                None => (f64::NAN, f64::NAN, f64::NAN),
            };
            metrics::gauge!(m::AUDIO_DELAY, "stream" => s.clone()).set(unsigned_zero(delay));
            metrics::gauge!(m::SYNC_CONFIDENCE, "stream" => s.clone())
                .set(unsigned_zero(confidence));
            metrics::gauge!(m::AUDIO_DRIFT, "stream" => s.clone()).set(unsigned_zero(drift));
            let rests_on = committed.and_then(|c| c.source);
            for source in [
                SyncSource::Events,
                SyncSource::LocalMotion,
                SyncSource::Lips,
            ] {
                metrics::gauge!(m::SYNC_EVIDENCE, "stream" => s.clone(), "source" => source.as_str())
                    .set(f64::from(u8::from(rests_on == Some(source))));
            }
            metrics::gauge!(m::FLICKER, "stream" => s.clone())
                .set(unsigned_zero(w.continuity.flicker_ratio));
            metrics::gauge!(m::FREEZE_RATIO, "stream" => s.clone())
                .set(unsigned_zero(w.continuity.freeze_ratio));
            metrics::gauge!(m::BLACK_RATIO, "stream" => s.clone())
                .set(unsigned_zero(w.continuity.black_ratio));
            if let Some(x) = w.continuity.silence_ratio {
                metrics::gauge!(m::SILENCE_RATIO, "stream" => s.clone()).set(unsigned_zero(x));
            }
            if let Some(snd) = &w.sound {
                let nan = |v: Option<f64>| v.unwrap_or(f64::NAN);
                metrics::gauge!(m::LOUDNESS, "stream" => s.clone(), "kind" => "short_term")
                    .set(unsigned_zero(nan(snd.short_term_lufs)));
                metrics::gauge!(m::LOUDNESS, "stream" => s.clone(), "kind" => "momentary_max")
                    .set(unsigned_zero(nan(snd.momentary_max_lufs)));
                metrics::gauge!(m::TRUE_PEAK, "stream" => s.clone())
                    .set(unsigned_zero(nan(snd.true_peak_dbtp)));
            }
            if let Some(p) = &w.picture {
                metrics::gauge!(m::EXPOSURE_CLIPPED, "stream" => s.clone(), "side" => "highlights")
                    .set(unsigned_zero(p.highlights_clipped));
                metrics::gauge!(m::EXPOSURE_CLIPPED, "stream" => s.clone(), "side" => "shadows")
                    .set(unsigned_zero(p.shadows_crushed));
                metrics::gauge!(m::CAMERA_SHAKE, "stream" => s.clone())
                    .set(unsigned_zero(p.shake_pct / 100.0));
            }
            if let Some(f) = &w.faces {
                metrics::gauge!(m::FACES, "stream" => s.clone()).set(f.count as f64);
                for (during, v) in [
                    ("speech", f.mouth_in_speech),
                    ("silence", f.mouth_in_silence),
                ] {
                    metrics::gauge!(m::LIP_MOVEMENT, "stream" => s.clone(), "during" => during)
                        .set(unsigned_zero(v.unwrap_or(f64::NAN)));
                }
            }
            if let Some(asl) = w.rhythm.average_shot_length_s {
                metrics::gauge!(m::SHOT_LENGTH, "stream" => s.clone()).set(unsigned_zero(asl));
            }
            metrics::gauge!(m::CUTS_PER_MINUTE, "stream" => s.clone())
                .set(unsigned_zero(w.rhythm.cuts_per_minute));
            if let Some(t) = &w.transport {
                metrics::gauge!(m::TRANSPORT_DAMAGED, "stream" => s.clone(), "medium" => "video")
                    .set(unsigned_zero(t.damaged_video_ratio));
                metrics::gauge!(m::TRANSPORT_DAMAGED, "stream" => s.clone(), "medium" => "audio")
                    .set(unsigned_zero(t.damaged_audio_ratio));
            }
            metrics::histogram!(m::LATENCY, "stream" => s, "stage" => "window").record(w.latency_s);
        }
        Record::Cut(c) => {
            let kind = match c.kind {
                crate::vocab::CutKind::Hard => "hard",
                crate::vocab::CutKind::Gradual => "gradual",
            };
            metrics::counter!(m::CUTS, "stream" => c.stream.clone(), "kind" => kind, "cause" => c.cause.as_str()).increment(1);
        }
        Record::Event(e) if !e.ongoing => {
            metrics::counter!(m::EVENTS, "stream" => e.stream.clone(), "kind" => e.kind.as_str(), "cause" => e.cause.as_str())
                .increment(1);
        }
        Record::Alert(a) if a.state == crate::score::record::AlertState::Firing => {
            metrics::counter!(m::ALERTS, "stream" => a.stream.clone(), "rule" => a.rule.clone(), "severity" => a.severity.as_str()).increment(1);
        }
        Record::State(st) => {
            for state in StreamState::ALL {
                let v = if state == st.state { 1.0 } else { 0.0 };
                metrics::gauge!(m::STREAM_STATE, "stream" => st.stream.clone(), "state" => state.as_str()).set(unsigned_zero(v));
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sync::{Decline, SyncEstimate};
    use crate::score::record::{SyncFigures, WindowRecord};

    fn router() -> (Handle, Installed) {
        let h = Handle(Arc::new(Router {
            shared: new_recorder(),
            streams: RwLock::new(HashMap::new()),
            descriptions: Mutex::new(vec![]),
        }));
        let installed = Installed(h.0.clone());
        (h, installed)
    }

    #[test]
    fn a_negative_zero_is_exposed_as_zero() {
        assert_eq!(format!("{}", -0.0f64), "-0");
        assert_eq!(format!("{}", unsigned_zero(-0.0)), "0");
        assert_eq!(unsigned_zero(-0.25), -0.25);
        assert!(unsigned_zero(f64::NAN).is_nan());
    }

    fn window(delay_ms: Option<f64>) -> Record {
        let mut sync = SyncFigures::new(
            &SyncEstimate::declined(Decline::Silence, 0, 0),
            crate::types::Timing::File,
        );
        sync.audio_delay_ms = delay_ms;
        sync.confidence = if delay_ms.is_some() { 0.9 } else { 0.0 };
        sync.drift_ms = delay_ms.map(|_| -90.0);
        sync.source = delay_ms.map(|_| SyncSource::LocalMotion);
        Record::Window(Box::new(WindowRecord {
            sync: Some(sync),
            ..WindowRecord::for_test("cam", 0.0, 4.0)
        }))
    }

    fn sample(text: &str, name: &str) -> Option<String> {
        text.lines()
            .find(|l| l.starts_with(&format!("{name}{{stream=\"cam\"}}")))
            .and_then(|l| l.rsplit(' ').next())
            .map(str::to_string)
    }

    /// A declined window leaves NaN in the sync gauges, never the last committed value.
    #[test]
    fn sync_gauges_are_cleared_when_sync_declines() {
        let (h, rec) = router();
        metrics::with_local_recorder(&rec, || observe(&window(Some(200.0))));
        let text = h.render();
        assert_eq!(
            sample(&text, m::AUDIO_DELAY).as_deref(),
            Some("0.2"),
            "{text}"
        );
        assert_eq!(
            sample(&text, m::AUDIO_DRIFT).as_deref(),
            Some("-0.09"),
            "{text}"
        );
        assert_eq!(sample(&text, m::SYNC_CONFIDENCE).as_deref(), Some("0.9"));
        let evidence = |text: &str, source: &str| {
            let series = format!(
                "{}{{stream=\"cam\",source=\"{source}\"}} ",
                m::SYNC_EVIDENCE
            );
            text.lines()
                .find_map(|l| l.strip_prefix(&series).map(str::to_string))
        };
        assert_eq!(
            evidence(&text, "local_motion").as_deref(),
            Some("1"),
            "{text}"
        );
        assert_eq!(evidence(&text, "events").as_deref(), Some("0"), "{text}");
        metrics::with_local_recorder(&rec, || observe(&window(None)));
        let text = h.render();
        assert_eq!(
            evidence(&text, "local_motion").as_deref(),
            Some("0"),
            "{text}"
        );
        assert_eq!(evidence(&text, "events").as_deref(), Some("0"), "{text}");
        for name in [m::AUDIO_DELAY, m::AUDIO_DRIFT, m::SYNC_CONFIDENCE] {
            assert_eq!(
                sample(&text, name).as_deref(),
                Some("NaN"),
                "{name}: {text}"
            );
        }
    }

    /// Every stream's series live in a recorder of their own: forgetting the stream drops
    /// them, the exposition names each family once, the other streams' series stay.
    #[test]
    fn a_forgotten_stream_leaves_the_recorder() {
        let (h, rec) = router();
        metrics::with_local_recorder(&rec, || {
            describe();
            for s in ["a", "b"] {
                metrics::counter!(m::FRAMES, "stream" => s).increment(3);
                metrics::histogram!(m::LATENCY, "stream" => s, "stage" => "window").record(0.01);
            }
            metrics::counter!(crate::output::webhook::DELIVERIES, "queue" => "stops", "outcome" => "delivered").increment(1);
        });
        let text = h.render();
        assert_eq!(
            text.matches("# TYPE evalverse_frames_total counter")
                .count(),
            1,
            "{text}"
        );
        assert_eq!(
            text.matches("# HELP evalverse_frames_total").count(),
            1,
            "{text}"
        );
        assert!(
            text.contains("evalverse_frames_total{stream=\"a\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("evalverse_frames_total{stream=\"b\"} 3"),
            "{text}"
        );
        assert_eq!(h.streams(), vec!["a".to_string(), "b".to_string()]);
        h.forget("a");
        let text = h.render();
        assert!(!text.contains("stream=\"a\""), "{text}");
        assert!(
            text.contains("evalverse_frames_total{stream=\"b\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("evalverse_webhook_deliveries_total"),
            "{text}"
        );
        assert_eq!(h.streams(), vec!["b".to_string()]);
        // The stream comes back: a fresh recorder, described like the first.
        metrics::with_local_recorder(&rec, || {
            metrics::counter!(m::FRAMES, "stream" => "a").increment(1);
        });
        let text = h.render();
        assert!(
            text.contains("evalverse_frames_total{stream=\"a\"} 1"),
            "{text}"
        );
        assert_eq!(
            text.matches("# HELP evalverse_frames_total").count(),
            1,
            "{text}"
        );
    }
}

/// `v`, with a negative zero (a rounded −0.3 ms, a −0.0 from a product) as plain 0: the
/// exposition would print `-0`.
fn unsigned_zero(v: f64) -> f64 {
    v + 0.0
}
