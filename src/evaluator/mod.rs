//! Evaluator: drives ingest → window → model → score for files and live streams.
//!
//! - [`evaluate_file`]: one input, as fast as it decodes, records handed to a callback.
//! - [`Evaluator`]: many live streams in one process, each on its own thread and isolated from
//!   the others; records of all streams come out as a `tokio_stream::Stream` (see
//!   [`Evaluator::records`]). The CLI's `serve` and `demo` use exactly this API.
pub mod damage;
pub mod stream;

use crate::config::{Settings, StreamSettings};
use crate::ingest::{Ingest, IngestError, Source};
use crate::model::Model;
use crate::score::record::{Record, StateRecord};
use crate::types::{IngestEvent, Media, StreamId, StreamState};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
pub use stream::{StreamEvaluator, Timing};
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
}

/// How long file mode waits for the decoder before giving up.
const FILE_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

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
    let mut ingest = Ingest::start(id.clone(), &Source::Uri(input.to_string()), a, 16)?;
    let mut ev = StreamEvaluator::new(
        id,
        a,
        &settings.alert_rules(),
        model.clone(),
        false,
        Timing::File,
    );
    let mut out = Vec::with_capacity(64);
    let mut media: Option<Media> = None;
    let mut eos = Media::default();
    let mut failure: Option<String> = None;
    let mut last_data = Instant::now();
    let mut last_progress = Instant::now();
    let mut duration = None;
    let mut bus_eos = false;

    let done = |media: Option<Media>, eos: Media, bus_eos: bool| match media {
        Some(m) => (!m.video || eos.video) && (!m.audio || eos.audio),
        None => bus_eos,
    };
    // A branch whose sender is gone (its thread ended) must leave the select, or the select
    // would return at once forever.
    let (mut vrx, mut arx) = (ingest.video.clone(), ingest.audio.clone());
    while !done(media, eos, bus_eos) && failure.is_none() {
        crossbeam::select! {
            recv(vrx) -> f => match f {
                Ok(f) => {
                    last_data = Instant::now();
                    ev.push_video(f, &mut out);
                }
                Err(_) => vrx = crossbeam::channel::never(),
            },
            recv(arx) -> c => match c {
                Ok(c) => {
                    last_data = Instant::now();
                    ev.push_audio(c, &mut out);
                }
                Err(_) => arx = crossbeam::channel::never(),
            },
            recv(ingest.events) -> e => match e {
                Ok(IngestEvent::Error { message }) => failure = Some(message),
                Ok(IngestEvent::Eos) => bus_eos = true,
                Ok(IngestEvent::BranchEos { medium }) => if medium == "video" { eos.video = true } else { eos.audio = true },
                Ok(IngestEvent::Started { media: m }) => {
                    media = Some(m);
                    if !m.video && !m.audio {
                        return Err(EvalError::NoMedia { input: input.to_string() });
                    }
                    ev.on_ingest(&IngestEvent::Started { media: m }, &mut out);
                }
                Ok(other) => ev.on_ingest(&other, &mut out),
                Err(_) => failure = Some("the pipeline went away".into()),
            },
            default(Duration::from_millis(500)) => {
                if last_data.elapsed() > FILE_IDLE_TIMEOUT {
                    return Err(EvalError::Timeout { input: input.to_string(), secs: FILE_IDLE_TIMEOUT.as_secs() });
                }
            },
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
    // Whatever the branches delivered before their EOS is already queued: drain it.
    while let Ok(f) = ingest.video.try_recv() {
        ev.push_video(f, &mut out);
    }
    while let Ok(c) = ingest.audio.try_recv() {
        ev.push_audio(c, &mut out);
    }
    ingest.stop();
    if let Some(message) = failure {
        if ev.frames > 0 {
            // Report what could be evaluated before the failure, then the failure itself.
            ev.finish(&mut out);
        }
        out.push(Record::State(StateRecord {
            stream: ev.id().to_string(),
            state: StreamState::Failed,
            message: message.clone(),
        }));
        for r in out.drain(..) {
            on_record(&r);
        }
        return Err(EvalError::Pipeline {
            input: input.to_string(),
            message,
        });
    }
    ev.finish(&mut out);
    for r in out.drain(..) {
        on_record(&r);
    }
    Ok(())
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
}

struct Running {
    info: Arc<Mutex<StreamInfo>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
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
}

/// Many live streams in one process. Each stream runs on its own thread; a stream's failure
/// (bad input, stall, a panic in its code) ends that stream only. On wgpu the per-frame
/// features of all streams go through one batched model call ([`crate::model::batch`]).
pub struct Evaluator {
    settings: Settings,
    model: Model,
    streams: Mutex<BTreeMap<String, Running>>,
    tx: tokio::sync::broadcast::Sender<Arc<Record>>,
    webhooks: Option<crate::output::webhook::Webhooks>,
}

/// Frames per batched GPU call: on an H200 the cost per frame was lowest from 64 to 256
/// frames (20–27 µs) and rose beyond (uploads of f32 planes dominate).
const MAX_BATCH_FRAMES: usize = 256;

impl Evaluator {
    pub fn new(settings: Settings, model: Model) -> Arc<Self> {
        let (tx, _) = tokio::sync::broadcast::channel(4096);
        let webhooks = (settings.alerting.webhook.is_some()
            || settings.alerting.stop_webhook.is_some())
        .then(|| crate::output::webhook::Webhooks::start(&settings.alerting));
        let model = model.batched_across_streams(MAX_BATCH_FRAMES);
        Arc::new(Self {
            settings,
            model,
            streams: Mutex::new(BTreeMap::new()),
            tx,
            webhooks,
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Every record of every stream, as they are produced. A subscriber that falls more than
    /// 4096 records behind loses the oldest (counted in the item as an error).
    pub fn records(&self) -> tokio_stream::wrappers::BroadcastStream<Arc<Record>> {
        tokio_stream::wrappers::BroadcastStream::new(self.tx.subscribe())
    }

    /// A raw receiver, for threads that are not async.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<Record>> {
        self.tx.subscribe()
    }

    pub fn streams(&self) -> Vec<StreamInfo> {
        self.streams
            .lock()
            .values()
            .map(|r| r.info.lock().clone())
            .collect()
    }

    pub fn stream(&self, name: &str) -> Option<StreamInfo> {
        self.streams.lock().get(name).map(|r| r.info.lock().clone())
    }

    /// Start evaluating a stream.
    pub fn add_stream(self: &Arc<Self>, s: StreamSettings) -> Result<(), AddError> {
        s.validate()?;
        let mut streams = self.streams.lock();
        if streams.contains_key(&s.name) {
            return Err(AddError::Exists(s.name.clone()));
        }
        if streams.len() >= self.settings.server.max_streams {
            return Err(AddError::Full(self.settings.server.max_streams));
        }
        let ports = |x: &StreamSettings| {
            let mut p = vec![];
            if let Some(v) = &x.video {
                p.extend([v.port, v.port + 1]);
            }
            if let Some(a) = &x.audio {
                p.extend([a.port, a.port + 1]);
            }
            p
        };
        for (name, r) in streams.iter() {
            let other = r.info.lock().settings.clone();
            if let Some(port) = ports(&s).into_iter().find(|p| ports(&other).contains(p)) {
                return Err(AddError::PortClash {
                    port,
                    other: name.clone(),
                });
            }
        }
        let info = Arc::new(Mutex::new(StreamInfo {
            name: s.name.clone(),
            state: StreamState::Starting,
            message: "starting".into(),
            frames: 0,
            dropped_frames: 0,
            verdict: crate::alert::Verdict {
                verdict: "continue",
                ..Default::default()
            },
            settings: s.clone(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let me = Arc::clone(self);
        let (info2, stop2) = (info.clone(), stop.clone());
        let name = s.name.clone();
        let thread = std::thread::Builder::new()
            .name(format!("stream-{name}"))
            .spawn(move || {
                let id: StreamId = Arc::from(s.name.as_str());
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    me.run_stream(&s, &info2, &stop2)
                }));
                if result.is_err() {
                    let msg =
                        "internal error while evaluating this stream; other streams are unaffected"
                            .to_string();
                    me.publish(
                        Record::State(StateRecord {
                            stream: id.to_string(),
                            state: StreamState::Failed,
                            message: msg.clone(),
                        }),
                        &info2,
                    );
                }
            })
            .expect("spawning a thread");
        streams.insert(
            name,
            Running {
                info,
                stop,
                thread: Some(thread),
            },
        );
        Ok(())
    }

    /// Stop and forget a stream. Returns false when there is none of that name.
    pub fn remove_stream(&self, name: &str) -> bool {
        let running = self.streams.lock().remove(name);
        match running {
            Some(mut r) => {
                r.stop.store(true, Ordering::Relaxed);
                if let Some(t) = r.thread.take() {
                    let _ = t.join();
                }
                crate::output::telemetry::forget_stream(name);
                true
            }
            None => false,
        }
    }

    /// Stop every stream.
    pub fn shutdown(&self) {
        let names: Vec<String> = self.streams.lock().keys().cloned().collect();
        for n in names {
            let running = self.streams.lock().remove(&n);
            if let Some(mut r) = running {
                r.stop.store(true, Ordering::Relaxed);
                if let Some(t) = r.thread.take() {
                    let _ = t.join();
                }
            }
        }
    }

    fn publish(&self, r: Record, info: &Mutex<StreamInfo>) {
        if let Record::State(s) = &r {
            let mut i = info.lock();
            i.state = s.state;
            i.message = s.message.clone();
        }
        if let (Record::Alert(a), Some(w), Some(url)) =
            (&r, &self.webhooks, &self.settings.alerting.webhook)
        {
            if a.action != crate::alert::Action::Log {
                w.send(url, serde_json::to_value(a).unwrap_or_default());
            }
        }
        crate::output::telemetry::observe(&r);
        // No subscriber is fine: records still reach metrics.
        let _ = self.tx.send(Arc::new(r));
    }

    fn update_verdict(&self, id: &str, v: crate::alert::Verdict, info: &Mutex<StreamInfo>) {
        let turned_stop = {
            let mut i = info.lock();
            let turned = i.verdict.verdict != "stop" && v.verdict == "stop";
            i.verdict = v.clone();
            turned
        };
        metrics::gauge!(crate::metric_names::VERDICT_STOP, "stream" => id.to_string())
            .set(if v.verdict == "stop" { 1.0 } else { 0.0 });
        if turned_stop {
            if let (Some(w), Some(url)) = (&self.webhooks, &self.settings.alerting.stop_webhook) {
                w.send(url, serde_json::json!({ "stream": id, "verdict": v }));
            }
        }
    }

    fn run_stream(&self, s: &StreamSettings, info: &Mutex<StreamInfo>, stop: &AtomicBool) {
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
        let rules = self.settings.alert_rules();
        let mut ev = StreamEvaluator::new(
            id.clone(),
            a,
            &rules,
            self.model.clone(),
            true,
            Timing::Arrival,
        );
        let mut out = vec![];
        let mut ended = false;
        let mut last_tick = Instant::now();
        let (mut vrx, mut arx) = (ingest.video.clone(), ingest.audio.clone());
        while !stop.load(Ordering::Relaxed) && !ended {
            // A short select timeout keeps stop responsive; a disconnected branch leaves it.
            crossbeam::select! {
                recv(vrx) -> f => match f { Ok(f) => ev.push_video(f, &mut out), Err(_) => vrx = crossbeam::channel::never() },
                recv(arx) -> c => match c { Ok(c) => ev.push_audio(c, &mut out), Err(_) => arx = crossbeam::channel::never() },
                recv(ingest.events) -> e => match e {
                    Ok(IngestEvent::Eos) => ended = true,
                    Ok(IngestEvent::Error { message }) => {
                        let message = public_message(s, "reported an error", message);
                        ev.on_ingest(&IngestEvent::Error { message }, &mut out);
                        ended = true;
                    }
                    Ok(IngestEvent::Warning { message }) => {
                        let message = public_message(s, "reported a warning", message);
                        ev.on_ingest(&IngestEvent::Warning { message }, &mut out);
                    }
                    Ok(e) => ev.on_ingest(&e, &mut out),
                    Err(_) => ended = true,
                },
                default(Duration::from_millis(50)) => {},
            }
            if last_tick.elapsed() > Duration::from_millis(100) {
                last_tick = Instant::now();
                ev.tick(0.25, &mut out);
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
            let had_windows = out.iter().any(|r| matches!(r, Record::Window(_)));
            for r in out.drain(..) {
                self.publish(r, info);
            }
            if had_windows {
                self.update_verdict(&id, ev.verdict(), info);
            }
        }
        let failed = info.lock().state == StreamState::Failed;
        ev.finish(&mut out);
        if !failed {
            let message = if ended { "input ended" } else { "stopped" };
            out.push(Record::State(StateRecord {
                stream: id.to_string(),
                state: StreamState::Ended,
                message: message.into(),
            }));
        }
        for r in out.drain(..) {
            self.publish(r, info);
        }
        ingest.stop();
    }
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
    fn drop(&mut self) {
        self.shutdown();
    }
}
