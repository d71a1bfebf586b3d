//! Evaluator: drives ingest → window → model → score for files and live streams.
//!
//! - [`evaluate_file`]: one input, as fast as it decodes, records handed to a callback.
//! - [`Evaluator`]: many live streams in one process, each on its own thread and isolated from
//!   the others; records of all streams come out as a `tokio_stream::Stream` (see
//!   [`Evaluator::records`]). The CLI's `serve` and `demo` use exactly this API.
mod clock;
pub mod damage;
mod events;
mod finish;
mod flashes;
mod followers;
mod heads;
mod judge;
mod lifecycle;
mod media_rx;
mod pictures;
mod shots;
pub mod sink;
pub mod stream;

use crate::config::{Settings, StreamSettings};
use crate::ingest::{Ingest, IngestError, Source};
use crate::model::Model;
use crate::score::calibrated::Calibration;
use crate::score::record::{Record, StateRecord};
use crate::types::{IngestEvent, Media, Medium, StreamId, StreamState};
pub use clock::Timing;
use media_rx::{MediaRx, Step};
use parking_lot::Mutex;
use sink::Sinks;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
pub use stream::StreamEvaluator;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum EvalError {
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error("{input}: {message}")]
    Pipeline { input: String, message: String },
    #[error("{input}: no media arrived for {secs} s (the decoder is stuck or the input is empty)")]
    Timeout { input: String, secs: u64 },
    #[error("{input}: the input has no audio or video GStreamer can decode")]
    NoMedia { input: String },
    #[error(
        "{input}: one picture and no sound: a still image, not a video (evalverse scores moving \
         pictures; a generator's frames: `evalverse send DIR --fps N` or an encoded clip)"
    )]
    StillImage { input: String },
    #[error("the calibration {path}: {message}")]
    Calibration { path: String, message: String },
}

/// The expert calibration the settings name (`analysis.calibration`), loaded.
pub fn load_calibration(
    a: &crate::config::AnalysisSettings,
) -> Result<Option<Arc<Calibration>>, EvalError> {
    let Some(path) = &a.calibration else {
        return Ok(None);
    };
    Calibration::load(path)
        .map(|c| Some(Arc::new(c)))
        .map_err(|e| EvalError::Calibration {
            path: path.display().to_string(),
            message: e.to_string(),
        })
}

/// How long file mode waits for the decoder before giving up.
const FILE_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How long file mode waits, once every branch ended, for the bus to end too (or to say
/// why it failed).
const BUS_VERDICT_WAIT: Duration = Duration::from_secs(2);
/// The same wait when the file lacks one of the media: the branch that has no source is never
/// linked, so the bus never ends; an error posted before the other branch's end is passed on
/// by the bus thread within milliseconds.
const BUS_VERDICT_WAIT_PARTIAL: Duration = Duration::from_millis(300);

/// Evaluate one file or URI as fast as it decodes.
///
/// `on_record` receives every record in order (cuts and events as found, windows as they
/// complete, the summary last). `on_progress` receives (media seconds done, total if known).
pub fn evaluate_file(
    input: &str,
    settings: &Settings,
    model: &Model,
    mut on_record: impl FnMut(&Record),
    mut on_progress: impl FnMut(f64, Option<f64>),
) -> Result<(), EvalError> {
    let id: StreamId = Arc::from(
        std::path::Path::new(input)
            .file_name()
            .map(|f| f.to_string_lossy().to_string())
            .unwrap_or_else(|| input.to_string()),
    );
    let a = &settings.analysis;
    let calibration = load_calibration(a)?;
    // The branches are read in timestamp order: their queues are the room each decoder has
    // to work ahead while the evaluator takes the other's items (48 frames: 1.6 s at 30 fps).
    let mut ingest = Ingest::start(id.clone(), &Source::Uri(input.to_string()), a, 48)?;
    let mut ev = StreamEvaluator::new(
        id,
        a,
        &settings.alert_rules(),
        model.clone(),
        false,
        Timing::File,
    )
    .with_calibration(calibration);
    let mut out = Vec::with_capacity(64);
    let mut run = FileRun::new(ingest.has_sound, ingest.has_detail);
    let mut last_progress = Instant::now();
    let mut duration = None;
    let mut rx = MediaRx::new(&ingest, true);
    while !(run.done() && rx.settled()) && run.failure.is_none() {
        // Before the streams are known, look often: a demuxer that gave up is told at once.
        let wait = if run.media.is_none() { 100 } else { 500 };
        match rx.next(&mut ev, &mut out, Duration::from_millis(wait)) {
            Step::Data => run.last_data = Instant::now(),
            Step::Event(e) => run.on_branch_event(e, &mut rx, &mut ev, &mut out, input)?,
            Step::Idle => run.on_idle(&ingest, input)?,
        }
        for r in out.drain(..) {
            on_record(&r);
        }
        if last_progress.elapsed() > Duration::from_millis(200) {
            last_progress = Instant::now();
            if duration.is_none() {
                duration = ingest.duration_s();
            }
            on_progress(ev.progress_s(), duration);
        }
    }
    run.await_bus_verdict(&rx, &mut ev, &mut out, input)?;
    if let Some(d) = duration.or_else(|| ingest.duration_s()) {
        ev.set_declared_duration(d);
    }
    // One picture and no sound (a PNG, a JPEG): nothing moves, nothing to score.
    let still = run.failure.is_none() && run.media.is_some_and(|m| !m.audio) && ev.frames == 1;
    let result = if still {
        ingest.stop();
        let e = EvalError::StillImage {
            input: input.to_string(),
        };
        out.push(Record::State(StateRecord {
            stream: ev.id().to_string(),
            state: StreamState::Failed,
            message: e.to_string(),
        }));
        Err(e)
    } else {
        finish_file(&mut ingest, &mut rx, &mut ev, run.failure, input, &mut out)
    };
    for r in out.drain(..) {
        on_record(&r);
    }
    result
}

/// The end of a file: drain what the branches delivered before their EOS, stop the pipeline,
/// and close the evaluation (with the failure, if there was one, after what could be
/// evaluated).
fn finish_file(
    ingest: &mut Ingest,
    rx: &mut MediaRx,
    ev: &mut StreamEvaluator,
    failure: Option<String>,
    input: &str,
    out: &mut Vec<Record>,
) -> Result<(), EvalError> {
    rx.flush(ev, out);
    ingest.stop();
    match failure {
        Some(message) => {
            if ev.frames > 0 {
                // Report what could be evaluated before the failure, then the failure itself.
                ev.finish(out);
            }
            out.push(Record::State(StateRecord {
                stream: ev.id().to_string(),
                state: StreamState::Failed,
                message: message.clone(),
            }));
            Err(EvalError::Pipeline {
                input: input.to_string(),
                message,
            })
        }
        None => {
            ev.finish(out);
            Ok(())
        }
    }
}

/// A branch that follows another from the same source (sound after the audio, detail after
/// the video): done when it ended, when the pipeline has none, or 2 s after its lead ended (a
/// user's unlinked sink never ends).
struct Follower {
    expected: bool,
    eos: bool,
    lead_eos_at: Option<Instant>,
}

impl Follower {
    fn new(expected: bool) -> Self {
        Self {
            expected,
            eos: false,
            lead_eos_at: None,
        }
    }

    fn lead_ended(&mut self) {
        self.lead_eos_at.get_or_insert_with(Instant::now);
    }

    fn done(&self) -> bool {
        !self.expected
            || self.eos
            || self
                .lead_eos_at
                .is_some_and(|t| t.elapsed() > Duration::from_secs(2))
    }
}

/// Where a file evaluation stands: which media the file has, which have ended, and why it
/// failed.
struct FileRun {
    media: Option<Media>,
    eos: Media,
    /// The `sound` branch follows the audio, the `detail` branch the video.
    sound: Follower,
    detail: Follower,
    bus_eos: bool,
    failure: Option<String>,
    last_data: Instant,
    /// The last idle look found the demuxer given up.
    gave_up_before: bool,
}

impl FileRun {
    fn new(sound_expected: bool, detail_expected: bool) -> Self {
        Self {
            media: None,
            eos: Media::default(),
            sound: Follower::new(sound_expected),
            detail: Follower::new(detail_expected),
            bus_eos: false,
            failure: None,
            last_data: Instant::now(),
            gave_up_before: false,
        }
    }

    /// Every branch the file has reached its end (or the pipeline did, before the media were
    /// known).
    fn done(&self) -> bool {
        match self.media {
            Some(m) => {
                (!m.video || (self.eos.video && self.detail.done()))
                    && (!m.audio || (self.eos.audio && self.sound.done()))
            }
            None => self.bus_eos,
        }
    }

    /// An event, and when it is a medium's end, what it queued before it and the end itself
    /// (the windows then follow the other medium).
    fn on_branch_event(
        &mut self,
        e: Option<IngestEvent>,
        rx: &mut MediaRx,
        ev: &mut StreamEvaluator,
        out: &mut Vec<Record>,
        input: &str,
    ) -> Result<(), EvalError> {
        let ended = match &e {
            Some(IngestEvent::BranchEos { medium }) => Some(*medium),
            Some(IngestEvent::Started { media }) => {
                rx.set_media(*media);
                None
            }
            _ => None,
        };
        self.on_event(e, ev, out, input)?;
        if let Some(m) = ended {
            rx.branch_ended(m, ev, out);
        }
        Ok(())
    }

    /// Every branch ended: the bus has the last word. An error posted before the end (a
    /// picture refused at negotiation, after which the branch ends without a frame) may still
    /// be on its way from the bus thread; the bus's own end comes after it. Waits for either,
    /// at most [`BUS_VERDICT_WAIT`] (a user's pipeline may hold a sink that never ends).
    fn await_bus_verdict(
        &mut self,
        rx: &MediaRx,
        ev: &mut StreamEvaluator,
        out: &mut Vec<Record>,
        input: &str,
    ) -> Result<(), EvalError> {
        let partial = self.media.is_some_and(|m| !(m.video && m.audio));
        let until = Instant::now()
            + if partial {
                BUS_VERDICT_WAIT_PARTIAL
            } else {
                BUS_VERDICT_WAIT
            };
        while !self.bus_eos && self.failure.is_none() {
            let left = until.saturating_duration_since(Instant::now());
            match rx.events.recv_timeout(left) {
                Ok(e) => self.on_event(Some(e), ev, out, input)?,
                Err(crossbeam::channel::RecvTimeoutError::Timeout) => break,
                Err(crossbeam::channel::RecvTimeoutError::Disconnected) => break,
            }
        }
        Ok(())
    }

    /// Nothing came for a while. decodebin drops the error a demuxer posts while it is being
    /// plugged (a truncated MP4: "no playable streams"), so the bus may never say it: look,
    /// twice in a row (a demuxer between two states is not one that gave up). And
    /// a decoder stuck for [`FILE_IDLE_TIMEOUT`] is given up on.
    fn on_idle(&mut self, ingest: &Ingest, input: &str) -> Result<(), EvalError> {
        let gave_up = self.media.is_none() && ingest.demuxer_gave_up();
        if gave_up && self.gave_up_before {
            return Err(EvalError::Pipeline {
                input: input.to_string(),
                message: "the demuxer stopped before finding a stream: the file is truncated \
                          or holds no playable streams"
                    .into(),
            });
        }
        self.gave_up_before = gave_up;
        if self.last_data.elapsed() > FILE_IDLE_TIMEOUT {
            return Err(EvalError::Timeout {
                input: input.to_string(),
                secs: FILE_IDLE_TIMEOUT.as_secs(),
            });
        }
        Ok(())
    }

    /// An event from the pipeline (`None`: the pipeline went away).
    fn on_event(
        &mut self,
        e: Option<IngestEvent>,
        ev: &mut StreamEvaluator,
        out: &mut Vec<Record>,
        input: &str,
    ) -> Result<(), EvalError> {
        match e {
            Some(IngestEvent::Error { message }) => self.failure = Some(message),
            Some(IngestEvent::Eos) => self.bus_eos = true,
            Some(IngestEvent::BranchEos { medium }) => match medium {
                Medium::Video => {
                    self.eos.video = true;
                    self.detail.lead_ended();
                }
                Medium::Sound => self.sound.eos = true,
                Medium::Detail => self.detail.eos = true,
                Medium::Audio => {
                    self.eos.audio = true;
                    self.sound.lead_ended();
                }
            },
            Some(IngestEvent::Started { media: m }) => {
                self.media = Some(m);
                if !m.video && !m.audio {
                    return Err(EvalError::NoMedia {
                        input: input.to_string(),
                    });
                }
                ev.on_ingest(&IngestEvent::Started { media: m }, out);
            }
            Some(other) => ev.on_ingest(&other, out),
            None => self.failure = Some("the pipeline went away".into()),
        }
        Ok(())
    }
}

/// A live stream's public facts (`GET /v1/streams`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct StreamInfo {
    pub name: String,
    pub state: StreamState,
    pub message: String,
    pub frames: u64,
    pub dropped_frames: u64,
    /// The early-stop verdict so far.
    pub verdict: crate::alert::Verdict,
    pub settings: StreamSettings,
    /// The stream's final summary, once it has ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<Box<crate::score::record::SummaryRecord>>,
}

struct Running {
    info: Arc<Mutex<StreamInfo>>,
    stop: Arc<AtomicBool>,
    /// When the stream's thread ended (input ended, failed, stopped), for the retention.
    ended_at: Arc<Mutex<Option<Instant>>>,
    thread: Option<JoinHandle<()>>,
}

impl Running {
    fn ended_at(&self) -> Option<Instant> {
        *self.ended_at.lock()
    }

    /// Stop the stream's thread and wait for it (its last window and summary are published).
    fn stop_and_join(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[derive(Debug, Error)]
pub enum AddError {
    #[error("a stream named {0:?} already exists")]
    Exists(String),
    #[error("the server already evaluates {0} streams (server.max_streams)")]
    Full(usize),
    #[error(transparent)]
    Invalid(#[from] crate::config::ConfigError),
    #[error("UDP port {port} is already used by stream {other:?}")]
    PortClash { port: u16, other: String },
    #[error(
        "stream {stream:?}: cannot bind UDP port {port} on {address}: {why} (another process holds it?)"
    )]
    PortTaken {
        stream: String,
        address: String,
        port: u16,
        why: String,
    },
}

/// What the stream threads share with the [`Evaluator`]. They hold this, never the evaluator
/// itself, so dropping the last `Arc<Evaluator>` stops them (no reference cycle).
struct Shared {
    settings: Settings,
    model: Model,
    /// The expert calibration the settings name, loaded once for every stream.
    calibration: Option<Arc<Calibration>>,
    tx: tokio::sync::broadcast::Sender<Arc<Record>>,
    /// Where records and stop verdicts go besides the broadcast (installed by the application).
    sinks: Sinks,
}

/// Many live streams in one process. Each stream runs on its own thread; a stream's failure
/// (bad input, stall, a panic in its code) ends that stream only. On wgpu the per-frame
/// features of all streams go through one batched model call ([`crate::model::batch`]).
///
/// Lifecycle: a stream that ended or failed keeps its name, record and metric series for
/// `server.retention_s`, then it is reaped (its slot freed, its series removed from the
/// recorder); its final record (state, counters, verdict, summary) stays readable through
/// [`Evaluator::stream`] among the last `server.max_streams` reaped ones. Dropping the
/// evaluator stops every stream and its own threads.
pub struct Evaluator {
    shared: Arc<Shared>,
    streams: Mutex<BTreeMap<String, Running>>,
    /// Final records of reaped streams, oldest first (at most `server.max_streams`).
    reaped: Mutex<VecDeque<StreamInfo>>,
    /// Dropping the sender stops the reaper thread.
    reaper: Mutex<Option<(crossbeam::channel::Sender<()>, JoinHandle<()>)>>,
}

/// Frames per batched GPU call: on an H200 the cost per frame was lowest from 64 to 256
/// frames (20–27 µs) and rose beyond (uploads of f32 planes dominate).
const MAX_BATCH_FRAMES: usize = 256;

impl Evaluator {
    /// An evaluator whose records go to its broadcast only (no metrics, no webhooks); `serve`
    /// runs one with the standard sinks installed ([`Evaluator::with_sinks`]).
    pub fn new(settings: Settings, model: Model) -> Arc<Self> {
        Self::with_sinks(settings, model, Sinks::default())
    }

    /// An evaluator whose records also go to `sinks`, in order.
    pub fn with_sinks(settings: Settings, model: Model, sinks: Sinks) -> Arc<Self> {
        let (tx, _) = tokio::sync::broadcast::channel(4096);
        let model = model.batched_across_streams(MAX_BATCH_FRAMES);
        let every = Duration::from_secs_f64((settings.server.retention_s / 4.0).clamp(0.05, 1.0));
        // `serve` checked the file at start-up; a library caller whose file went bad gets
        // uncalibrated streams and the reason in the log.
        let calibration = load_calibration(&settings.analysis).unwrap_or_else(|e| {
            tracing::error!("{e}; streams run without it");
            None
        });
        let ev = Arc::new(Self {
            shared: Arc::new(Shared {
                settings,
                model,
                calibration,
                tx,
                sinks,
            }),
            streams: Mutex::new(BTreeMap::new()),
            reaped: Mutex::new(VecDeque::new()),
            reaper: Mutex::new(None),
        });
        let (stop_tx, stop_rx) = crossbeam::channel::bounded::<()>(0);
        let weak = Arc::downgrade(&ev);
        let reaper = std::thread::Builder::new()
            .name("reaper".into())
            .spawn(move || {
                while let Err(crossbeam::channel::RecvTimeoutError::Timeout) =
                    stop_rx.recv_timeout(every)
                {
                    match weak.upgrade() {
                        Some(ev) => ev.reap_ended(false),
                        None => break,
                    }
                }
            })
            .expect("spawning a thread");
        *ev.reaper.lock() = Some((stop_tx, reaper));
        ev
    }

    pub fn settings(&self) -> &Settings {
        &self.shared.settings
    }

    pub fn model(&self) -> &Model {
        &self.shared.model
    }

    /// Every record of every stream, as they are produced. A subscriber that falls more than
    /// 4096 records behind loses the oldest (counted in the item as an error).
    pub fn records(&self) -> tokio_stream::wrappers::BroadcastStream<Arc<Record>> {
        tokio_stream::wrappers::BroadcastStream::new(self.shared.tx.subscribe())
    }

    /// A raw receiver, for threads that are not async.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<Record>> {
        self.shared.tx.subscribe()
    }

    /// Every stream: those running or kept for the retention, then the final records of
    /// reaped ones (by name).
    pub fn streams(&self) -> Vec<StreamInfo> {
        let mut all: BTreeMap<String, StreamInfo> = self
            .reaped
            .lock()
            .iter()
            .map(|i| (i.name.clone(), i.clone()))
            .collect();
        for (name, r) in self.streams.lock().iter() {
            all.insert(name.clone(), r.info.lock().clone());
        }
        all.into_values().collect()
    }

    /// One stream, or the final record of a reaped one.
    pub fn stream(&self, name: &str) -> Option<StreamInfo> {
        if let Some(r) = self.streams.lock().get(name) {
            return Some(r.info.lock().clone());
        }
        self.reaped
            .lock()
            .iter()
            .rev()
            .find(|i| i.name == name)
            .cloned()
    }

    /// Streams whose threads run (not ended, failed or stopped).
    pub fn running(&self) -> usize {
        self.streams
            .lock()
            .values()
            .filter(|r| r.ended_at().is_none())
            .count()
    }

    /// Start evaluating a stream. A stream of the same name that has ended is reaped first;
    /// when every slot is taken, ended streams are reaped (oldest first) to make room.
    pub fn add_stream(&self, s: StreamSettings) -> Result<(), AddError> {
        s.validate()?;
        let max = self.shared.settings.server.max_streams;
        {
            let streams = self.streams.lock();
            if let Some(r) = streams.get(&s.name) {
                if r.ended_at().is_none() {
                    return Err(AddError::Exists(s.name.clone()));
                }
            }
        }
        self.reap(&s.name);
        if self.streams.lock().len() >= max {
            self.reap_ended(true);
        }
        let mut streams = self.streams.lock();
        if streams.contains_key(&s.name) {
            return Err(AddError::Exists(s.name.clone()));
        }
        if streams.len() >= max {
            return Err(AddError::Full(max));
        }
        // An ended stream's sockets are closed: only running streams hold their ports.
        let running = streams.iter().filter(|(_, r)| r.ended_at().is_none());
        for (name, r) in running {
            if let Some(port) = shared_port(&s, &r.info.lock().settings) {
                return Err(AddError::PortClash {
                    port,
                    other: name.clone(),
                });
            }
        }
        // GStreamer would only say "element failed to change its state".
        if let Some((port, e)) = port_taken(&s) {
            return Err(AddError::PortTaken {
                stream: s.name.clone(),
                address: s.address.clone(),
                port,
                why: e.to_string(),
            });
        }
        self.reaped.lock().retain(|i| i.name != s.name);
        let info = Arc::new(Mutex::new(StreamInfo {
            name: s.name.clone(),
            state: StreamState::Starting,
            message: "starting".into(),
            frames: 0,
            dropped_frames: 0,
            verdict: crate::alert::Verdict {
                verdict: crate::vocab::Decision::Continue,
                ..Default::default()
            },
            settings: s.clone(),
            summary: None,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let ended_at = Arc::new(Mutex::new(None));
        let name = s.name.clone();
        let thread = spawn_stream(&self.shared, s, &info, &stop, &ended_at);
        streams.insert(
            name,
            Running {
                info,
                stop,
                ended_at,
                thread: Some(thread),
            },
        );
        Ok(())
    }

    /// Stop and forget a stream (or the final record of a reaped one). Returns false when there
    /// is none of that name.
    pub fn remove_stream(&self, name: &str) -> bool {
        let running = self.streams.lock().remove(name);
        let had_record = {
            let mut reaped = self.reaped.lock();
            let before = reaped.len();
            reaped.retain(|i| i.name != name);
            reaped.len() != before
        };
        match running {
            Some(mut r) => {
                r.stop_and_join();
                self.shared.sinks.stream_gone(name);
                true
            }
            None => had_record,
        }
    }

    /// Reap the stream `name` if it has ended: its slot and series go, its final record stays.
    fn reap(&self, name: &str) {
        let ended = {
            let mut streams = self.streams.lock();
            match streams.get(name) {
                Some(r) if r.ended_at().is_some() => streams.remove(name),
                _ => None,
            }
        };
        if let Some(mut r) = ended {
            r.stop_and_join();
            self.shared.sinks.stream_gone(name);
            let info = r.info.lock().clone();
            let mut reaped = self.reaped.lock();
            reaped.retain(|i| i.name != name);
            reaped.push_back(info);
            while reaped.len() > self.shared.settings.server.max_streams {
                reaped.pop_front();
            }
        }
    }

    /// Reap ended streams past the retention (`all`: every ended one, e.g. to make room).
    fn reap_ended(&self, all: bool) {
        let retention = Duration::from_secs_f64(self.shared.settings.server.retention_s);
        let mut due: Vec<(Instant, String)> = self
            .streams
            .lock()
            .iter()
            .filter_map(|(n, r)| r.ended_at().map(|t| (t, n.clone())))
            .filter(|(t, _)| all || t.elapsed() >= retention)
            .collect();
        due.sort();
        for (_, name) in due {
            self.reap(&name);
        }
    }

    /// Stop every stream (each publishes its last window and summary); their records stay
    /// readable.
    pub fn shutdown(&self) {
        let names: Vec<String> = self.streams.lock().keys().cloned().collect();
        for n in names {
            let running = self.streams.lock().get_mut(&n).and_then(|r| {
                r.stop.store(true, Ordering::Relaxed);
                r.thread.take()
            });
            if let Some(t) = running {
                let _ = t.join();
            }
        }
    }

    /// Close the sinks: what they still queue (webhook deliveries) goes out for at most `grace`
    /// in all; what is left then is dropped and counted. Returns whether everything was sent.
    pub fn close_sinks(&self, grace: Duration) -> bool {
        self.shared.sinks.close(Instant::now() + grace)
    }
}

impl Shared {
    fn publish(&self, r: Record, info: &Mutex<StreamInfo>) {
        match &r {
            Record::State(s) => {
                let mut i = info.lock();
                i.state = s.state;
                i.message = s.message.clone();
            }
            Record::Summary(s) => info.lock().summary = Some(s.clone()),
            _ => {}
        }
        self.sinks.record(&r);
        // No subscriber is fine: records still reach the sinks.
        let _ = self.tx.send(Arc::new(r));
    }

    fn update_verdict(&self, id: &str, v: crate::alert::Verdict, info: &Mutex<StreamInfo>) {
        let stop = crate::vocab::Decision::Stop;
        let turned_stop = {
            let mut i = info.lock();
            let turned = i.verdict.verdict != stop && v.verdict == stop;
            i.verdict = v.clone();
            turned
        };
        metrics::gauge!(crate::metric_names::VERDICT_STOP, "stream" => id.to_string())
            .set(if v.verdict == stop { 1.0 } else { 0.0 });
        if turned_stop {
            let r = Record::Verdict(crate::score::record::VerdictRecord {
                stream: id.to_string(),
                verdict: v,
            });
            self.publish(r, info);
        }
    }

    /// A live stream's evaluator: the settings' rules, the model, the calibration.
    /// A live stream's evaluator; its counters start at 0 in the metrics.
    fn live_evaluator(&self, id: &StreamId, s: &StreamSettings) -> StreamEvaluator {
        let a = &self.settings.analysis;
        let rules = self.settings.alert_rules();
        zero_series(id, s, &rules);
        let model = self.model.clone();
        StreamEvaluator::new(id.clone(), a, &rules, model, true, Timing::Arrival)
            .with_calibration(self.calibration.clone())
    }

    /// Publish what the evaluator wrote; windows among it update the verdict.
    fn publish_all(
        &self,
        id: &StreamId,
        out: &mut Vec<Record>,
        ev: &StreamEvaluator,
        info: &Mutex<StreamInfo>,
    ) {
        let had_windows = out.iter().any(|r| matches!(r, Record::Window(_)));
        for r in out.drain(..) {
            self.publish(r, info);
        }
        if had_windows {
            self.update_verdict(id, ev.verdict(), info);
        }
    }

    fn run_stream(
        &self,
        s: &StreamSettings,
        info: &Mutex<StreamInfo>,
        stop: &AtomicBool,
        ended_at: &Mutex<Option<Instant>>,
    ) {
        let id: StreamId = Arc::from(s.name.as_str());
        let a = &self.settings.analysis;
        let mut ingest = match Ingest::start(
            id.clone(),
            &Source::Live(s.clone()),
            a,
            self.settings.server.queue_frames,
        ) {
            Ok(i) => i,
            Err(e) => {
                self.publish(
                    Record::State(StateRecord {
                        stream: id.to_string(),
                        state: StreamState::Failed,
                        message: public_message(s, "could not be started", e.to_string()),
                    }),
                    info,
                );
                return;
            }
        };
        let mut ev = self.live_evaluator(&id, s);
        let mut out = vec![];
        let mut ended = false;
        let mut last_tick = Instant::now();
        let mut rx = MediaRx::new(&ingest, false);
        while !stop.load(Ordering::Relaxed) && !ended {
            // A short timeout keeps stop responsive.
            if let Step::Event(e) = rx.next(&mut ev, &mut out, Duration::from_millis(50)) {
                ended = live_event(s, e, &mut ev, &mut out);
            }
            if last_tick.elapsed() > Duration::from_millis(100) {
                last_tick = Instant::now();
                live_tick(&mut ev, &ingest, info, &mut out);
            }
            self.publish_all(&id, &mut out, &ev, info);
        }
        let failed = info.lock().state == StreamState::Failed;
        let end = LiveEnd {
            ended,
            ingest: &ingest,
            info,
            stop,
        };
        end.drain_and_finish(&mut rx, &mut ev, &mut out);
        // The pipeline is down before the stream says it ended: a client that sees `ended`
        // (and the slot count) finds nothing of it still running.
        ingest.stop();
        // Windows scored from the drained tail count for the verdict like any other, and the
        // verdict is settled before the stream says it ended.
        self.publish_all(&id, &mut out, &ev, info);
        // Nothing of it runs any more: a client that sees `ended` finds its slot free.
        ended_at.lock().get_or_insert_with(Instant::now);
        if !failed {
            let message = if ended { "input ended" } else { "stopped" };
            let r = Record::State(StateRecord {
                stream: id.to_string(),
                state: StreamState::Ended,
                message: message.into(),
            });
            self.publish(r, info);
        }
    }
}

/// How a live stream's loop ended, and what its last records need.
struct LiveEnd<'a> {
    ended: bool,
    ingest: &'a Ingest,
    info: &'a Mutex<StreamInfo>,
    stop: &'a AtomicBool,
}

impl LiveEnd<'_> {
    /// The input ended (a file played as a live stream, a sender's EOS): what the branches
    /// delivered before their EOS is still queued, and a file's pulling threads may still hold
    /// their last items; evaluate it all, do not lose it. Then the summary, with the last
    /// counts in it and in the stream's facts alike.
    fn drain_and_finish(&self, rx: &mut MediaRx, ev: &mut StreamEvaluator, out: &mut Vec<Record>) {
        if self.ended {
            rx.flush(ev, out);
            while self.ingest.delivering() && !self.stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(2));
                rx.flush(ev, out);
            }
        }
        ev.dropped_frames = self.ingest.stats.video.dropped.load(Ordering::Relaxed);
        ev.finish(out);
        let mut i = self.info.lock();
        i.frames = ev.frames;
        i.dropped_frames = ev.dropped_frames;
    }
}

/// The first port two stream definitions both need (RTP and RTCP of each medium).
fn shared_port(a: &StreamSettings, b: &StreamSettings) -> Option<u16> {
    let theirs = b.udp_ports();
    a.udp_ports().into_iter().find(|p| theirs.contains(p))
}

/// A UDP port of `s` that another process holds (binding it here fails), with the reason.
fn port_taken(s: &StreamSettings) -> Option<(u16, std::io::Error)> {
    let ip: std::net::IpAddr = s.address.parse().ok()?;
    s.udp_ports().into_iter().find_map(|port| {
        std::net::UdpSocket::bind((ip, port))
            .err()
            .map(|e| (port, e))
    })
}

/// A stream's thread: evaluates until the input ends or `stop`; a panic inside it fails this
/// stream only.
fn spawn_stream(
    shared: &Arc<Shared>,
    s: StreamSettings,
    info: &Arc<Mutex<StreamInfo>>,
    stop: &Arc<AtomicBool>,
    ended_at: &Arc<Mutex<Option<Instant>>>,
) -> JoinHandle<()> {
    let shared = Arc::clone(shared);
    let (info2, stop2, ended2) = (info.clone(), stop.clone(), ended_at.clone());
    std::thread::Builder::new()
        .name(format!("stream-{}", s.name))
        .spawn(move || {
            let id: StreamId = Arc::from(s.name.as_str());
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                shared.run_stream(&s, &info2, &stop2, &ended2)
            }));
            if result.is_err() {
                let msg =
                    "internal error while evaluating this stream; other streams are unaffected"
                        .to_string();
                shared.publish(
                    Record::State(StateRecord {
                        stream: id.to_string(),
                        state: StreamState::Failed,
                        message: msg.clone(),
                    }),
                    &info2,
                );
            }
            ended2.lock().get_or_insert_with(Instant::now);
        })
        .expect("spawning a thread")
}

/// An event of a live stream's pipeline; whether the stream ended with it. Error and warning
/// texts pass through [`public_message`] first.
fn live_event(
    s: &StreamSettings,
    e: Option<IngestEvent>,
    ev: &mut StreamEvaluator,
    out: &mut Vec<Record>,
) -> bool {
    match e {
        Some(IngestEvent::Eos) | None => true,
        Some(IngestEvent::Error { message }) => {
            let message = public_message(s, "reported an error", message);
            ev.on_ingest(&IngestEvent::Error { message }, out);
            true
        }
        Some(IngestEvent::Warning { message }) => {
            let message = public_message(s, "reported a warning", message);
            ev.on_ingest(&IngestEvent::Warning { message }, out);
            false
        }
        Some(e) => {
            ev.on_ingest(&e, out);
            false
        }
    }
}

/// The periodic upkeep of a live stream: windows due by the clock, timing (sender clock once
/// RTCP names the sender), drop counts in the public facts.
fn live_tick(
    ev: &mut StreamEvaluator,
    ingest: &Ingest,
    info: &Mutex<StreamInfo>,
    out: &mut Vec<Record>,
) {
    ev.tick(0.25, out);
    ev.timing = if ingest.rtcp_seen() {
        Timing::SenderClock
    } else {
        Timing::Arrival
    };
    ev.dropped_frames = ingest.stats.video.dropped.load(Ordering::Relaxed);
    let mut i = info.lock();
    i.frames = ev.frames;
    i.dropped_frames = ev.dropped_frames;
}

/// What a stream's state message may say to API clients and event subscribers. A stream with
/// its own pipeline file gets a fixed text: GStreamer's messages quote the launch description
/// (read from disk) and whatever it names, so the full message goes to the server's log only.
fn public_message(s: &StreamSettings, what: &str, detail: String) -> String {
    if s.pipeline.is_none() {
        return detail;
    }
    tracing::warn!(stream = %s.name, "the stream's own pipeline {what}: {detail}");
    format!("the stream's own pipeline {what} (details in the server's log)")
}

impl Drop for Evaluator {
    /// Stops every stream, the reaper, and the sinks (what webhooks queue gets
    /// `alerting.shutdown_grace_s` to go out); the streams' series leave the recorder.
    fn drop(&mut self) {
        if let Some((stop, thread)) = self.reaper.lock().take() {
            drop(stop);
            // The reaper may hold the last reference itself: it ends on its own then.
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
        self.shutdown();
        self.close_sinks(Duration::from_secs_f64(
            self.shared.settings.alerting.shutdown_grace_s,
        ));
        for name in self.streams.lock().keys() {
            self.shared.sinks.stream_gone(name);
        }
    }
}

/// A live stream's counters exist from its start, at 0, as Prometheus users expect (a rate
/// over a series that appears only with its first increment misses that increment): frames,
/// windows, drops, each alert rule's firings and, for RTP media, the packet counters.
fn zero_series(id: &StreamId, s: &StreamSettings, rules: &[crate::vocab::AlertRule]) {
    use crate::metric_names as m;
    let stream = id.to_string();
    for name in [
        m::FRAMES,
        m::WINDOWS,
        m::DROPPED_FRAMES,
        m::DROPPED_AUDIO_CHUNKS,
    ] {
        metrics::counter!(name, "stream" => stream.clone()).increment(0);
    }
    for r in rules {
        metrics::counter!(m::ALERTS, "stream" => stream.clone(), "rule" => r.name.clone(), "severity" => r.severity.as_str())
            .increment(0);
    }
    let rtp = [
        (Medium::Video, s.video.is_some()),
        (Medium::Audio, s.audio.is_some()),
    ];
    for (medium, _) in rtp.iter().filter(|(_, on)| *on && s.uri.is_none()) {
        for name in [
            m::RTP_PACKETS,
            m::RTP_PACKETS_LOST,
            m::RTP_PACKETS_MALFORMED,
            m::RTP_PACKETS_REORDERED,
        ] {
            metrics::counter!(name, "stream" => stream.clone(), "medium" => medium.as_str())
                .increment(0);
        }
    }
}
