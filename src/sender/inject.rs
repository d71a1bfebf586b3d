//! `evalverse inject`: copy a file with faults of exactly known ground truth (GStreamer decode →
//! modify raw frames and samples → H.264 + AAC in MP4). Users test their alerting with it; the
//! accuracy tests use it on generated and real clips.
//!
//! Times are seconds of the output; a span `A:B` covers the frames `⌈A·fps⌉ … ⌈B·fps⌉ − 1`.
//! - `freeze A:B`: those frames repeat the first of them (like ffmpeg `freezeframes`).
//! - `black A:B`: black frames. `flicker A:B`: odd frames 14 luma levels brighter.
//! - `flash T`: two white frames from `⌈T·fps⌉`. `swap_frame T`: frame `⌈T·fps⌉` replaced by
//!   the frame one second earlier (a within-shot glitch).
//! - `grade_shift A:B`: a colour grade change (warmer, darker) over the span.
//! - `silence A:B`: zero audio. `audio_delay_ms N`: audio later by N ms (earlier if negative);
//!   the audio is re-timed sample-exactly (silence padded or the head trimmed).
//!
//! - sound: `gain`, `clip`, `dropout` (see [`super::sound_faults`]).
//!
//! Audio is written mono (the analysis is mono).
use super::SendError;
use crate::ingest::pipeline::{fill, strip_comments};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub const INJECT_READ: &str = include_str!("../../pipelines/inject-read.pipeline");
pub const WRITE_VIDEO: &str = include_str!("../../pipelines/write-video.pipeline");

const RATE: f64 = 48_000.0;

/// How long `inject` lets the reader and the writer go without moving a frame or a chunk of
/// sound before it stops with an error that says where: a source that stops sending (a pipe,
/// a network URI) or a pipeline that locks up must not hang a batch job or CI. With
/// `GST_DEBUG_DUMP_DOT_DIR` set, both pipelines' graphs are written there on a stall.
pub const STALL: Duration = Duration::from_secs(60);

/// Progress of a copy, shared by the video loop and the audio thread.
#[derive(Clone)]
struct Watch {
    start: Instant,
    /// Milliseconds from `start` to the last frame or chunk moved.
    last_ms: Arc<AtomicU64>,
    limit: Duration,
    /// Set by whichever side saw the stall, so that the other stops too.
    stalled: Arc<AtomicBool>,
}

impl Watch {
    fn new(limit: Duration) -> Self {
        Self {
            start: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
            limit,
            stalled: Arc::new(AtomicBool::new(false)),
        }
    }

    fn tick(&self) {
        let now = self.start.elapsed().as_millis() as u64;
        self.last_ms.store(now, Ordering::Relaxed);
    }

    /// Whether nothing moved for the limit (or the other side said so).
    fn stalled(&self) -> bool {
        if self.stalled.load(Ordering::Relaxed) {
            return true;
        }
        let now = self.start.elapsed().as_millis() as u64;
        let idle = now.saturating_sub(self.last_ms.load(Ordering::Relaxed));
        let stalled = idle > self.limit.as_millis() as u64;
        if stalled {
            self.stalled.store(true, Ordering::Relaxed);
        }
        stalled
    }
}

/// The next sample of `sink`; `None` at the end of the stream or on a stall.
fn next_sample(sink: &gst_app::AppSink, watch: &Watch) -> Option<gst::Sample> {
    loop {
        if let Some(s) = sink.try_pull_sample(gst::ClockTime::from_mseconds(100)) {
            watch.tick();
            return Some(s);
        }
        if sink.is_eos() || watch.stalled() {
            return None;
        }
    }
}

/// Push into a non-blocking appsrc once it has room under its `max-bytes`; false on a stall
/// or when the writer refuses (flushing, or it failed).
fn push_when_room(src: &gst_app::AppSrc, buffer: gst::Buffer, watch: &Watch) -> bool {
    let most = src.max_bytes();
    while most > 0 && src.current_level_bytes() >= most {
        if watch.stalled() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let pushed = src.push_buffer(buffer).is_ok();
    if pushed {
        watch.tick();
    }
    pushed
}

/// The faults to inject (seconds of the output timeline).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Faults {
    pub audio_delay_ms: f64,
    pub freeze: Vec<(f64, f64)>,
    pub black: Vec<(f64, f64)>,
    pub flicker: Vec<(f64, f64)>,
    pub silence: Vec<(f64, f64)>,
    pub grade_shift: Vec<(f64, f64)>,
    pub flash: Vec<f64>,
    pub swap_frame: Vec<f64>,
    /// Exposure, shake, blur and noise over spans (see [`super::picture_faults`]).
    #[serde(default)]
    pub picture: super::picture_faults::PictureFaults,
    /// Gain steps, clipping and dropouts (see [`super::sound_faults`]).
    #[serde(default)]
    pub sound: super::sound_faults::SoundFaults,
}

/// One injected fault as it landed in the output.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Applied {
    pub kind: String,
    /// Seconds (frame-exact for video faults).
    pub start: f64,
    pub end: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_frame: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_frame: Option<u64>,
    /// The fault's amount where it has one (stops, % of the width, pixels, code values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<f64>,
}

/// Ground truth of an injected copy.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Truth {
    pub output: String,
    pub fps: f64,
    pub frames: u64,
    pub width: u32,
    pub height: u32,
    pub audio: bool,
    pub audio_delay_ms: f64,
    pub faults: Vec<Applied>,
}

fn frame_at(t: f64, fps: f64) -> u64 {
    (t * fps - 1e-9).ceil().max(0.0) as u64
}

fn in_spans(n: u64, spans: &[(f64, f64)], fps: f64) -> Option<(u64, u64)> {
    spans
        .iter()
        .map(|(a, b)| (frame_at(*a, fps), frame_at(*b, fps)))
        .find(|(a, b)| n >= *a && n < *b)
}

impl Faults {
    pub fn validate(&self) -> Result<(), String> {
        let spans = [
            &self.freeze,
            &self.black,
            &self.flicker,
            &self.silence,
            &self.grade_shift,
        ];
        for s in spans.iter().flat_map(|v| v.iter()) {
            if !(s.0.is_finite() && s.1.is_finite() && s.0 >= 0.0 && s.1 > s.0) {
                return Err(format!("span {}:{} needs 0 <= A < B", s.0, s.1));
            }
        }
        self.picture.validate()?;
        self.sound.validate()?;
        if !(self.audio_delay_ms.is_finite() && self.audio_delay_ms.abs() <= 10_000.0) {
            return Err("audio delay must be within ±10000 ms".into());
        }
        if self
            .flash
            .iter()
            .chain(&self.swap_frame)
            .any(|t| !(t.is_finite() && *t >= 0.0))
        {
            return Err("flash and swap-frame times must be >= 0".into());
        }
        Ok(())
    }

    fn truth(&self, fps: f64, frames: u64) -> Vec<Applied> {
        let mut v = vec![];
        let span = |kind: &str, (a, b): (f64, f64)| {
            let (f0, f1) = (frame_at(a, fps), frame_at(b, fps).min(frames));
            Applied {
                kind: kind.into(),
                start: f0 as f64 / fps,
                end: f1 as f64 / fps,
                first_frame: Some(f0),
                last_frame: Some(f1.saturating_sub(1)),
                amount: None,
            }
        };
        v.extend(self.freeze.iter().map(|s| span("freeze", *s)));
        v.extend(self.black.iter().map(|s| span("black", *s)));
        v.extend(self.flicker.iter().map(|s| span("flicker", *s)));
        v.extend(self.grade_shift.iter().map(|s| span("grade_shift", *s)));
        let frames_from = |kind: &str, t: f64, n: u64| {
            let f0 = frame_at(t, fps);
            Applied {
                kind: kind.into(),
                start: f0 as f64 / fps,
                end: (f0 + n) as f64 / fps,
                first_frame: Some(f0),
                last_frame: Some(f0 + n - 1),
                amount: None,
            }
        };
        v.extend(self.flash.iter().map(|t| frames_from("flash", *t, 2)));
        v.extend(
            self.swap_frame
                .iter()
                .map(|t| frames_from("swap_frame", *t, 1)),
        );
        v.extend(self.silence.iter().map(|(a, b)| Applied {
            kind: "silence".into(),
            start: *a,
            end: *b,
            first_frame: None,
            last_frame: None,
            amount: None,
        }));
        for (kind, (a, b, x)) in self.picture.all() {
            v.push(Applied {
                amount: Some(x),
                ..span(kind, (a, b))
            });
        }
        v.extend(self.sound.all().map(|(kind, a, b, x)| Applied {
            kind: kind.into(),
            start: a,
            end: b,
            first_frame: None,
            last_frame: None,
            amount: Some(x),
        }));
        v
    }
}

struct Frame {
    y: Vec<u8>,
    u: Vec<u8>,
    v: Vec<u8>,
}

fn read_frame(sample: &gst::Sample, info: &gst_video::VideoInfo) -> Option<Frame> {
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(sample.buffer()?, info).ok()?;
    let size = (info.width() as usize, info.height() as usize);
    let [y, u, v] = crate::ingest::sink::i420_planes(&frame, size)?;
    Some(Frame { y, u, v })
}

fn apply(
    frame: &mut Frame,
    size: (usize, usize),
    n: u64,
    f: &Faults,
    fps: f64,
    history: &VecDeque<(u64, Frame)>,
    held: &mut Option<(u64, Frame)>,
) {
    if let Some((first, _)) = in_spans(n, &f.freeze, fps) {
        match held {
            Some((k, h)) if *k == first => {
                frame.y.clone_from(&h.y);
                frame.u.clone_from(&h.u);
                frame.v.clone_from(&h.v);
            }
            _ => {
                *held = Some((
                    first,
                    Frame {
                        y: frame.y.clone(),
                        u: frame.u.clone(),
                        v: frame.v.clone(),
                    },
                ))
            }
        }
    }
    if f.swap_frame.iter().any(|t| frame_at(*t, fps) == n) {
        let back = fps.round() as u64;
        if let Some((_, old)) = history
            .iter()
            .find(|(k, _)| *k + back >= n)
            .or(history.front())
        {
            frame.y.clone_from(&old.y);
            frame.u.clone_from(&old.u);
            frame.v.clone_from(&old.v);
        }
    }
    if in_spans(n, &f.grade_shift, fps).is_some() {
        frame
            .y
            .iter_mut()
            .for_each(|y| *y = (*y as f32 * 0.88 + 6.0).clamp(16.0, 235.0) as u8);
        frame
            .u
            .iter_mut()
            .for_each(|u| *u = (*u as i32 - 18).clamp(16, 240) as u8);
        frame
            .v
            .iter_mut()
            .for_each(|v| *v = (*v as i32 + 22).clamp(16, 240) as u8);
    }
    if in_spans(n, &f.flicker, fps).is_some() && n % 2 == 1 {
        frame
            .y
            .iter_mut()
            .for_each(|y| *y = y.saturating_add(14).min(235));
    }
    if f.flash.iter().any(|t| {
        let s = frame_at(*t, fps);
        n == s || n == s + 1
    }) {
        frame.y.fill(235);
        frame.u.fill(128);
        frame.v.fill(128);
    }
    if in_spans(n, &f.black, fps).is_some() {
        frame.y.fill(16);
        frame.u.fill(128);
        frame.v.fill(128);
    }
    f.picture
        .apply([&mut frame.y, &mut frame.u, &mut frame.v], size, n, |s| {
            in_spans(n, std::slice::from_ref(s), fps).is_some()
        });
}

/// Copy `input` to `output` (MP4) with `faults`; returns the ground truth.
pub fn inject(input: &str, output: &Path, faults: &Faults) -> Result<Truth, SendError> {
    inject_within(input, output, faults, STALL)
}

/// [`inject`], giving up with an error when nothing moves for `stall` (see [`STALL`]).
pub fn inject_within(
    input: &str,
    output: &Path,
    faults: &Faults,
    stall: Duration,
) -> Result<Truth, SendError> {
    faults.validate().map_err(SendError::Pipeline)?;
    let (reader, vsink, asink) = open_reader(input)?;
    let reader = NullOnDrop(reader);
    let media = watch_media(&reader.0);
    reader
        .0
        .set_state(gst::State::Playing)
        .map_err(|e| SendError::Runtime(format!("{input}: {e}")))?;
    let bus = reader
        .0
        .bus()
        .ok_or_else(|| SendError::Runtime("no bus".into()))?;
    let fail = |bus: &gst::Bus| bus_error(bus, input);
    let watch = Watch::new(stall);
    let stalled =
        |what: &str, pipelines: &[&gst::Pipeline]| stall_error(input, stall, what, pipelines);
    let (has_video, has_audio) = loop {
        if let Ok(m) = media.recv_timeout(Duration::from_millis(100)) {
            break m;
        }
        if let Some(e) = fail(&bus) {
            return Err(SendError::Runtime(e));
        }
        if watch.stalled() {
            return Err(stalled("while looking for its streams", &[&reader.0]));
        }
    };
    if !has_video {
        return Err(SendError::Runtime(format!(
            "{input}: no video to inject faults into"
        )));
    }
    if !has_audio && !(faults.sound.is_empty() && faults.silence.is_empty()) {
        return Err(SendError::Runtime(format!(
            "{input}: no audio to inject sound faults into"
        )));
    }
    // The first frame tells the size and rate the writer needs.
    let Some(first) = next_sample(&vsink, &watch) else {
        if watch.stalled() {
            return Err(stalled("before the first frame", &[&reader.0]));
        }
        return Err(SendError::Runtime(
            fail(&bus).unwrap_or_else(|| format!("{input}: no frames")),
        ));
    };
    let caps = first
        .caps()
        .ok_or_else(|| SendError::Runtime("no caps".into()))?
        .to_owned();
    let info =
        gst_video::VideoInfo::from_caps(&caps).map_err(|e| SendError::Runtime(e.to_string()))?;
    let grain = !faults.picture.noise.is_empty();
    let (desc, fps) = writer_description(&info, output, has_audio, grain)?;
    let writer = NullOnDrop(super::launch(&desc)?);
    let src = |name: &str| {
        writer
            .0
            .by_name(name)
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
    };
    let vsrc = src("video_src").ok_or_else(|| SendError::Pipeline("no video_src".into()))?;
    // The copy loops wait for room themselves, so that a writer that stops taking data is
    // seen as a stall instead of blocking a push for good.
    vsrc.set_block(false);
    writer
        .0
        .set_state(gst::State::Playing)
        .map_err(|e| SendError::Runtime(e.to_string()))?;
    let audio_thread = match (has_audio, asink, src("audio_src")) {
        (true, Some(asink), Some(asrc)) => {
            asrc.set_block(false);
            Some(spawn_audio(asink, asrc, faults.clone(), watch.clone()))
        }
        _ => None,
    };
    let n = copy_video(&vsink, &vsrc, first, &info, fps, faults, &watch);
    let _ = vsrc.end_of_stream();
    if let Some(t) = audio_thread {
        let _ = t.join();
    }
    if watch.stalled() {
        return Err(stalled(
            &format!("after {n} frames (reader, writer)"),
            &[&reader.0, &writer.0],
        ));
    }
    if let Some(e) = fail(&bus) {
        return Err(SendError::Runtime(e));
    }
    drop(reader);
    // The writer finishes the file (the index goes in front) within the stall limit too.
    watch.tick();
    finish(&writer.0, output, &watch).map_err(|e| {
        e.unwrap_or_else(|| stalled(&format!("finishing {n} frames"), &[&writer.0]))
    })?;
    Ok(Truth {
        output: output.to_string_lossy().to_string(),
        fps,
        frames: n,
        width: info.width(),
        height: info.height(),
        audio: has_audio,
        audio_delay_ms: faults.audio_delay_ms,
        faults: faults.truth(fps, n),
    })
}

/// The error of a stall: the first error either pipeline posted (a failed encoder stops
/// taking data), else where it stopped; with `GST_DEBUG_DUMP_DOT_DIR` set, the graphs too.
fn stall_error(
    input: &str,
    stall: Duration,
    what: &str,
    pipelines: &[&gst::Pipeline],
) -> SendError {
    let posted = pipelines
        .iter()
        .find_map(|p| p.bus().and_then(|b| bus_error(&b, input)));
    if let Some(e) = posted {
        return SendError::Runtime(e);
    }
    for (k, p) in pipelines.iter().enumerate() {
        p.debug_to_dot_file_with_ts(gst::DebugGraphDetails::all(), format!("inject-stall-{k}"));
    }
    SendError::Runtime(format!(
        "{input}: stalled: nothing moved for {} s {what}",
        stall.as_secs_f64()
    ))
}

/// Wait for the writer's end of stream: `Err(Some(e))` on its error, `Err(None)` on a stall.
fn finish(writer: &gst::Pipeline, output: &Path, watch: &Watch) -> Result<(), Option<SendError>> {
    let bus = writer
        .bus()
        .ok_or_else(|| Some(SendError::Runtime("no bus".into())))?;
    loop {
        let msg = bus.timed_pop(gst::ClockTime::from_mseconds(100));
        match msg.as_ref().map(|m| m.view()) {
            Some(gst::MessageView::Eos(_)) => return Ok(()),
            Some(gst::MessageView::Error(e)) => {
                return Err(Some(SendError::Runtime(format!(
                    "{}: {}",
                    output.display(),
                    e.error()
                ))));
            }
            _ if watch.stalled() => return Err(None),
            _ => {}
        }
    }
}

/// A pipeline set to `Null` when it goes out of scope, on every path out of [`inject_within`].
/// Its appsinks are unbounded first: a render waiting for room holds the sink's preroll lock,
/// which a pending asynchronous PAUSED→PLAYING waits for while it holds the pipeline's state
/// lock. The teardown runs on a helper thread; past [`TEARDOWN`] the pipeline is abandoned, so
/// that a stall ends in its error instead of a hang.
struct NullOnDrop(gst::Pipeline);

/// How long a pipeline gets to reach `Null` before it is abandoned.
const TEARDOWN: Duration = Duration::from_secs(10);

impl Drop for NullOnDrop {
    fn drop(&mut self) {
        for sink in self.0.iterate_sinks().into_iter().flatten() {
            if let Ok(s) = sink.downcast::<gst_app::AppSink>() {
                // Wakes a render blocked on a full queue.
                s.set_max_buffers(0);
            }
        }
        let p = self.0.clone();
        let (tx, rx) = crossbeam::channel::bounded::<()>(1);
        let t = std::thread::spawn(move || {
            let _ = p.set_state(gst::State::Null);
            let _ = tx.send(());
        });
        if rx.recv_timeout(TEARDOWN).is_ok() {
            let _ = t.join();
        } else {
            tracing::warn!("inject: a pipeline did not stop within {TEARDOWN:?}; abandoned");
        }
    }
}

/// The reader of the input, with its video sink and audio sink (when the file has audio).
fn open_reader(
    input: &str,
) -> Result<(gst::Pipeline, gst_app::AppSink, Option<gst_app::AppSink>), SendError> {
    let uri = crate::ingest::to_uri(input).map_err(|e| SendError::Pipeline(e.to_string()))?;
    let mut v = BTreeMap::new();
    v.insert("uri", uri.replace('"', "%22"));
    let reader =
        super::launch(&fill(&strip_comments(INJECT_READ), &v).map_err(SendError::Pipeline)?)?;
    let sink = |name: &str| {
        reader
            .by_name(name)
            .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
    };
    let (vsink, asink) = (
        sink("video").ok_or_else(|| SendError::Pipeline("no video sink".into()))?,
        sink("audio"),
    );
    for s in [Some(&vsink), asink.as_ref()].into_iter().flatten() {
        s.set_sync(false);
        s.set_async(false);
        s.set_max_buffers(8);
    }
    // Nothing pulls the sound before the first frame is out and the writer is up
    // (`spawn_audio`). A bounded audio sink could then block in render holding its preroll
    // lock; if the bin's asynchronous PAUSED→PLAYING reaches it at that moment, it never gets
    // to the video sink, no frame comes and the sound is never pulled (a hang seen twice in
    // CI). Unbounded here: the demuxer stops on the video branch (`vq`, the 8-frame video
    // sink), which the copy drains at its own pace, so the sound waiting is bounded by the
    // file's interleave.
    if let Some(a) = &asink {
        a.set_max_buffers(0);
    }
    Ok((reader, vsink, asink))
}

/// The first error on the bus, if any.
fn bus_error(bus: &gst::Bus, input: &str) -> Option<String> {
    bus.pop_filtered(&[gst::MessageType::Error])
        .and_then(|m| match m.view() {
            gst::MessageView::Error(e) => Some(format!("{input}: {}", e.error())),
            _ => None,
        })
}

/// Which media the reader's decoder found (video, audio), once it has found them all.
fn watch_media(reader: &gst::Pipeline) -> crossbeam::channel::Receiver<(bool, bool)> {
    let (tx, rx) = crossbeam::channel::bounded::<(bool, bool)>(1);
    if let Some(decode) = reader.by_name("decode") {
        let (vq, aq) = (reader.by_name("vq"), reader.by_name("aq"));
        decode.connect("no-more-pads", false, move |_| {
            let linked = |q: &Option<gst::Element>| {
                q.as_ref()
                    .and_then(|q| q.static_pad("sink"))
                    .map(|p| p.is_linked())
                    .unwrap_or(false)
            };
            let _ = tx.try_send((linked(&vq), linked(&aq)));
            None
        });
    }
    rx
}

/// The writer's launch description for frames of `info` (and the frame rate).
/// The writer for `info`; `grain`: the copy carries injected noise, so the encoder gets four
/// times the bits and x264's grain tuning (at 0.15 bit a pixel it smooths the noise away).
fn writer_description(
    info: &gst_video::VideoInfo,
    output: &Path,
    has_audio: bool,
    grain: bool,
) -> Result<(String, f64), SendError> {
    let (fps_n, fps_d) = (info.fps().numer().max(1), info.fps().denom().max(1));
    let fps = fps_n as f64 / fps_d as f64;
    let mut w = BTreeMap::new();
    w.insert("path", output.to_string_lossy().replace('"', ""));
    w.insert("width", info.width().to_string());
    w.insert("height", info.height().to_string());
    w.insert("fps_n", fps_n.to_string());
    w.insert("fps_d", fps_d.to_string());
    w.insert("gop", ((fps * 2.0).round() as u32).max(1).to_string());
    w.insert(
        "bitrate_kbps",
        ((info.width() * info.height()) as f64 * fps * if grain { 0.6 } else { 0.15 } / 1000.0)
            .clamp(500.0, 40_000.0)
            .round()
            .to_string(),
    );
    w.insert("tune", if grain { "grain" } else { "none" }.to_string());
    let mut desc = fill(&strip_comments(WRITE_VIDEO), &w).map_err(SendError::Pipeline)?;
    if !has_audio {
        desc = desc
            .split(" appsrc name=audio_src")
            .next()
            .unwrap_or(&desc)
            .to_string();
    }
    Ok((desc, fps))
}

/// Copy the audio with the delay and silences applied, in a thread of its own.
fn spawn_audio(
    asink: gst_app::AppSink,
    asrc: gst_app::AppSrc,
    f: Faults,
    watch: Watch,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let delay = (f.audio_delay_ms / 1000.0 * RATE).round() as i64;
        let mut out_k: u64 = 0;
        // The AAC encoder's priming samples come out first and MP4 as written here does
        // not say so: drop as many from the head so the decoded audio lines up.
        let head = delay - super::AAC_PRIMING as i64;
        let mut skip = (-head).max(0) as u64;
        let mut pad = head.max(0) as u64;
        let push = |samples: &[f32], out_k: &mut u64| -> bool {
            let mut bytes = Vec::with_capacity(samples.len() * 4);
            for (i, s) in samples.iter().enumerate() {
                // Pushed sample k plays at (k + priming) / rate in the decoded file.
                let t = (*out_k + i as u64 + super::AAC_PRIMING) as f64 / RATE;
                let s = if f.silence.iter().any(|(a, b)| t >= *a && t < *b) {
                    0.0
                } else {
                    f.sound.apply(t, *s)
                };
                bytes.extend_from_slice(&s.to_le_bytes());
            }
            let mut b = gst::Buffer::from_slice(bytes);
            if let Some(b) = b.get_mut() {
                b.set_pts(gst::ClockTime::from_nseconds(
                    (*out_k as f64 / RATE * 1e9) as u64,
                ));
                b.set_duration(gst::ClockTime::from_nseconds(
                    (samples.len() as f64 / RATE * 1e9) as u64,
                ));
            }
            *out_k += samples.len() as u64;
            push_when_room(&asrc, b, &watch)
        };
        while pad > 0 {
            let n = pad.min(4800);
            if !push(&vec![0.0; n as usize], &mut out_k) {
                return;
            }
            pad -= n;
        }
        while let Some(sample) = next_sample(&asink, &watch) {
            let Some(map) = sample.buffer().and_then(|b| b.map_readable().ok()) else {
                continue;
            };
            let samples: Vec<f32> = map
                .as_slice()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            let from = (skip as usize).min(samples.len());
            skip -= from as u64;
            if from < samples.len() && !push(&samples[from..], &mut out_k) {
                return;
            }
        }
        let _ = asrc.end_of_stream();
    })
}

/// Copy the video with the picture faults applied; the number of frames written.
fn copy_video(
    vsink: &gst_app::AppSink,
    vsrc: &gst_app::AppSrc,
    first: gst::Sample,
    info: &gst_video::VideoInfo,
    fps: f64,
    faults: &Faults,
    watch: &Watch,
) -> u64 {
    let mut n = 0u64;
    let mut history: VecDeque<(u64, Frame)> = VecDeque::new();
    let mut held = None;
    let mut sample = Some(first);
    let fd = gst::ClockTime::from_nseconds((1e9 / fps) as u64);
    while let Some(s) = sample.take().or_else(|| next_sample(vsink, watch)) {
        let Some(mut frame) = read_frame(&s, info) else {
            continue;
        };
        let original = Frame {
            y: frame.y.clone(),
            u: frame.u.clone(),
            v: frame.v.clone(),
        };
        let size = (info.width() as usize, info.height() as usize);
        apply(&mut frame, size, n, faults, fps, &history, &mut held);
        history.push_back((n, original));
        while history.len() > fps.ceil() as usize + 2 {
            history.pop_front();
        }
        let mut bytes = frame.y;
        bytes.extend_from_slice(&frame.u);
        bytes.extend_from_slice(&frame.v);
        let mut b = gst::Buffer::from_slice(bytes);
        if let Some(b) = b.get_mut() {
            b.set_pts(gst::ClockTime::from_nseconds((n as f64 * 1e9 / fps) as u64));
            b.set_duration(fd);
        }
        if !push_when_room(vsrc, b, watch) {
            break;
        }
        n += 1;
    }
    n
}
