//! Appsink → typed media. Live branches use callbacks that make the small analysis frame (scaled
//! from the decoder's, `super::scale`; ~50 µs at 720p) and `try_send` it (full channel → drop and count); file branches are pulled from a thread of
//! our own, so the decoder is paced by the evaluator and nothing is lost.
use super::scale::PlaneScaler;
use crate::metric_names as m;
use crate::types::{AudioChunk, DetailFrame, IngestEvent, SoundChunk, StreamId, VideoFrame};
use crossbeam::channel::{Sender, TrySendError};
use gstreamer as gst;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Counters a branch keeps (also exported as metrics).
#[derive(Default, Debug)]
pub struct BranchCounters {
    pub delivered: AtomicU64,
    pub dropped: AtomicU64,
    pub unreadable: AtomicU64,
}

/// A buffer's time on the stream's timeline: its running time in the sample's segment (an MP4
/// whose edit list starts its picture at 0.08 s starts at 0), in seconds.
pub(super) fn running_time_s(sample: &gst::Sample, pts: Option<gst::ClockTime>) -> Option<f64> {
    let pts = pts?;
    let rt = sample
        .segment()
        .and_then(|s| s.downcast_ref::<gst::ClockTime>())
        .and_then(|s| s.to_running_time(pts))
        .unwrap_or(pts);
    Some(rt.nseconds() as f64 / 1e9)
}

/// Tracks the branch's caps so a change is reported once, not per buffer.
#[derive(Default)]
pub struct CapsTracker {
    last: Option<gst::Caps>,
    video_info: Option<gst_video::VideoInfo>,
    /// The Y, Cb, Cr scalers from the video caps to the analysis size (made on first use).
    scalers: Option<[PlaneScaler; 3]>,
    /// The face picture's longer side (0: none), and its scalers (made on first use).
    face_side: u32,
    face_scalers: Option<[PlaneScaler; 3]>,
    /// Live: what the faces head wants, and frames since the last face picture.
    face_demand: Option<std::sync::Arc<crate::types::FaceDemand>>,
    since_face: u64,
}

impl CapsTracker {
    /// A tracker whose video frames carry a face picture of longer side `face_side` (0: none).
    pub fn with_face_side(face_side: u32) -> Self {
        Self {
            face_side,
            ..Self::default()
        }
    }

    /// A live branch's tracker: face pictures only for the frames its faces head wants.
    pub fn live_with_face_side(face_side: u32) -> Self {
        Self {
            face_side,
            face_demand: (face_side > 0).then(Default::default),
            ..Self::default()
        }
    }

    /// Whether frame `index` gets a face picture (every frame unless a live stream's faces
    /// head wants fewer).
    fn wants_face(&mut self, index: u64) -> bool {
        let want = self.face_demand.as_ref().is_none_or(|d| {
            d.every() || index == 0 || self.since_face + 1 >= crate::types::FaceDemand::IDLE_EVERY
        });
        self.since_face = if want { 0 } else { self.since_face + 1 };
        want
    }

    /// Returns the caps string when the caps changed after the first negotiation.
    fn update(&mut self, caps: Option<&gst::CapsRef>) -> Option<String> {
        let caps = caps?;
        if self
            .last
            .as_ref()
            .map(|c| c.as_ref() == caps)
            .unwrap_or(false)
        {
            return None;
        }
        let before = self.last.replace(caps.to_owned());
        self.video_info = gst_video::VideoInfo::from_caps(caps).ok();
        self.scalers = None;
        self.face_scalers = None;
        before.map(|b| {
            format!(
                "{} → {} (analysis follows)",
                super::describe_caps(&b),
                super::describe_caps(caps)
            )
        })
    }
}

/// One I420 sample as a [`VideoFrame`] `width` pixels wide (square pixels): scaled here from
/// the decoder's frame (see [`super::scale`]), or taken as it is when it already has the
/// analysis size. `None` when the buffer cannot be read as the negotiated format (counted by
/// the caller).
pub fn video_frame(
    sample: &gst::Sample,
    index: u64,
    width: u32,
    caps: &mut CapsTracker,
    events: &Sender<IngestEvent>,
) -> Option<VideoFrame> {
    if let Some(c) = caps.update(sample.caps()) {
        let _ = events.try_send(IngestEvent::CapsChanged {
            medium: Medium::Video,
            caps: c,
        });
    }
    let Some(info) = caps.video_info.as_ref() else {
        tracing::debug!("video sample without usable caps: {:?}", sample.caps());
        return None;
    };
    if info.format() != gst_video::VideoFormat::I420 {
        tracing::debug!("video sample is {:?}, not I420", info.format());
        return None;
    }
    let buffer = sample.buffer()?;
    let Some(pts) = running_time_s(sample, buffer.pts()) else {
        tracing::debug!("video buffer without timestamp");
        return None;
    };
    let src = (info.width() as usize, info.height() as usize);
    let par = (info.par().numer(), info.par().denom());
    let (w, h) = super::scale::analysis_size(src, par, width as usize);
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, info).ok()?;
    let [luma, cb, cr] = scaled_planes(&frame, src, (w, h), &mut caps.scalers)?;
    let face = match caps.face_side as usize {
        0 => None,
        _ if !caps.wants_face(index) => None,
        side => {
            let (fw, fh) = face_size(src, par, side);
            let [luma, cb, cr] = scaled_planes(&frame, src, (fw, fh), &mut caps.face_scalers)?;
            Some(std::sync::Arc::new(crate::types::Picture {
                width: fw,
                height: fh,
                luma,
                cb,
                cr,
            }))
        }
    };
    Some(VideoFrame {
        index,
        pts,
        duration: buffer.duration().map(|d| d.nseconds() as f64 / 1e9),
        width: w,
        height: h,
        luma,
        cb,
        cr,
        arrival: Instant::now(),
        damaged: false,
        face,
        face_demand: caps.face_demand.clone(),
    })
}

/// The size of a frame of `src` pixels (aspect `par`) with its longer side at `side` (square
/// pixels), never larger than the frame.
fn face_size(src: (usize, usize), par: (i32, i32), side: usize) -> (usize, usize) {
    let (w, h) = super::scale::analysis_size(src, par, src.0);
    if w.max(h) <= side {
        return (w, h);
    }
    let width = if w >= h {
        side
    } else {
        (side * w / h.max(1)).max(1)
    };
    super::scale::analysis_size(src, par, width)
}

/// The Y, Cb, Cr planes of `frame` (of `src` pixels) at `dst`: as they are when the sizes
/// match, else through `scalers` (made on first use for these sizes).
fn scaled_planes(
    frame: &gst_video::VideoFrameRef<&gst::BufferRef>,
    src: (usize, usize),
    dst: (usize, usize),
    scalers: &mut Option<[PlaneScaler; 3]>,
) -> Option<[Vec<u8>; 3]> {
    if dst == src {
        return i420_planes(frame, src);
    }
    let scalers = scalers.get_or_insert_with(|| {
        let c = |(a, b): (usize, usize)| (a.div_ceil(2), b.div_ceil(2));
        [
            PlaneScaler::new(src, dst),
            PlaneScaler::new(c(src), c(dst)),
            PlaneScaler::new(c(src), c(dst)),
        ]
    });
    let mut planes: [Vec<u8>; 3] = Default::default();
    for (p, (plane, scaler)) in planes.iter_mut().zip(scalers.iter()).enumerate() {
        let data = frame.plane_data(p as u32).ok()?;
        *plane = scaler.scale(data, frame.plane_stride()[p] as usize)?;
    }
    Some(planes)
}

/// The Y, Cb, Cr planes of a mapped I420 frame of `size` (width, height), tightly packed
/// (strides removed); `None` when the frame does not hold that much.
pub fn i420_planes(
    frame: &gst_video::VideoFrameRef<&gst::BufferRef>,
    (w, h): (usize, usize),
) -> Option<[Vec<u8>; 3]> {
    let mut planes: [Vec<u8>; 3] = Default::default();
    for (p, plane) in planes.iter_mut().enumerate() {
        let (pw, ph) = if p == 0 {
            (w, h)
        } else {
            (w.div_ceil(2), h.div_ceil(2))
        };
        let stride = frame.plane_stride()[p] as usize;
        let data = frame.plane_data(p as u32).ok()?;
        if ph == 0 || stride < pw || data.len() < stride * (ph - 1) + pw {
            return None;
        }
        plane.reserve_exact(pw * ph);
        for row in 0..ph {
            plane.extend_from_slice(&data[row * stride..row * stride + pw]);
        }
    }
    Some(planes)
}

/// Copy one F32 mono sample into an [`AudioChunk`].
pub fn audio_chunk(
    sample: &gst::Sample,
    rate: u32,
    caps: &mut CapsTracker,
    events: &Sender<IngestEvent>,
) -> Option<AudioChunk> {
    if let Some(c) = caps.update(sample.caps()) {
        let _ = events.try_send(IngestEvent::CapsChanged {
            medium: Medium::Audio,
            caps: c,
        });
    }
    let buffer = sample.buffer()?;
    let pts = running_time_s(sample, buffer.pts())?;
    let map = buffer.map_readable().ok()?;
    let samples = f32_samples(map.as_slice(), 1.0);
    Some(AudioChunk {
        pts,
        rate,
        samples,
        arrival: Instant::now(),
        damaged: false,
    })
}

/// F32LE bytes as samples; non-finite ones become 0, the rest are held within ±`limit`.
fn f32_samples(bytes: &[u8], limit: f32) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .map(|s| {
            if s.is_finite() {
                s.clamp(-limit, limit)
            } else {
                0.0
            }
        })
        .collect()
}

/// Copy one interleaved F32 sample at its own rate and layout into a [`SoundChunk`]. Values
/// over full scale are kept (up to ±4): a decoder's overshoot is what clipping looks like.
pub fn sound_chunk(sample: &gst::Sample) -> Option<SoundChunk> {
    let caps = sample.caps()?.structure(0)?;
    let rate = caps
        .get::<i32>("rate")
        .ok()
        .filter(|r| (1000..=768_000).contains(r))?;
    let channels = caps
        .get::<i32>("channels")
        .ok()
        .filter(|c| (1..=64).contains(c))?;
    // The loudness meter keeps 3 s of every channel: refuse layouts beyond 192 kHz × 16.
    if rate as i64 * channels as i64 > 192_000 * 16 {
        return None;
    }
    let buffer = sample.buffer()?;
    let pts = running_time_s(sample, buffer.pts())?;
    let map = buffer.map_readable().ok()?;
    let mut samples = f32_samples(map.as_slice(), 4.0);
    samples.truncate(samples.len() / channels as usize * channels as usize);
    Some(SoundChunk {
        pts,
        rate: rate as u32,
        channels: channels as u32,
        samples,
    })
}

/// The luma of one decoded frame (any planar YUV or GRAY8 format: plane 0 is luma) as a
/// [`DetailFrame`], box-averaged by the largest integer factor that keeps it at least `width`
/// wide (a 1280-px picture gives 640, a 704-px one stays whole). The pipeline hands over the decoder's own frames (no GStreamer scaling or conversion:
/// at 720p those cost more than the decode's tenth); decimating here reads each pixel once.
pub fn detail_frame(
    sample: &gst::Sample,
    width: u32,
    caps: &mut CapsTracker,
) -> Option<DetailFrame> {
    caps.update(sample.caps());
    let info = caps.video_info.as_ref()?;
    let yuv = info.format_info().is_yuv() || info.format() == gst_video::VideoFormat::Gray8;
    if !yuv || info.format_info().depth()[0] != 8 || info.format_info().pixel_stride()[0] != 1 {
        return None;
    }
    let buffer = sample.buffer()?;
    let pts = running_time_s(sample, buffer.pts())?;
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, info).ok()?;
    let (w, h) = (info.width() as usize, info.height() as usize);
    let stride = frame.plane_stride()[0] as usize;
    let data = frame.plane_data(0).ok()?;
    if h == 0 || stride < w || data.len() < stride * (h - 1) + w {
        return None;
    }
    let k = (w / width.max(1) as usize).max(1);
    let (ow, oh) = (w / k, h / k);
    if ow == 0 || oh == 0 {
        return None;
    }
    let mut luma = vec![0u8; ow * oh];
    // Column sums over the k rows first (one add a pixel, vectorised), then groups of k.
    let mut cols = vec![0u32; ow * k];
    let n = (k * k) as u32;
    for (oy, out) in luma.chunks_exact_mut(ow).enumerate() {
        cols.fill(0);
        for row in oy * k..(oy + 1) * k {
            let line = &data[row * stride..row * stride + ow * k];
            for (c, &v) in cols.iter_mut().zip(line) {
                *c += v as u32;
            }
        }
        for (o, g) in out.iter_mut().zip(cols.chunks_exact(k)) {
            let sum: u32 = g.iter().sum();
            *o = ((sum + n / 2) / n) as u8;
        }
    }
    Some(DetailFrame {
        pts,
        width: ow,
        height: oh,
        luma,
    })
}

/// Send from a thread of ours, waiting while the evaluator catches up, giving up on stop.
fn send_blocking<T>(tx: &Sender<T>, mut item: T, stop: &AtomicBool) -> bool {
    loop {
        match tx.send_timeout(item, Duration::from_millis(100)) {
            Ok(()) => return true,
            Err(crossbeam::channel::SendTimeoutError::Timeout(back)) => {
                if stop.load(Ordering::Relaxed) {
                    return false;
                }
                item = back;
            }
            Err(crossbeam::channel::SendTimeoutError::Disconnected(_)) => return false,
        }
    }
}

pub use crate::types::Medium;

/// Everything a branch needs to deliver media.
pub struct Branch<T> {
    pub stream: StreamId,
    pub medium: Medium,
    pub tx: Sender<T>,
    pub events: Sender<IngestEvent>,
    pub counters: Arc<BranchCounters>,
    /// What the items are made to: the audio rate, the video's analysis width, the detail
    /// width (unused by the sound).
    pub target: u32,
    /// The video's face picture, longer side in pixels (0: none; other media: 0).
    pub face_side: u32,
    /// Transport damage of an RTP stream (marks frames and chunks decoded from it).
    pub transport: Option<Arc<super::senders::Transport>>,
}

pub trait Convert: Sized + Send + 'static {
    fn convert(
        sample: &gst::Sample,
        index: u64,
        target: u32,
        caps: &mut CapsTracker,
        ev: &Sender<IngestEvent>,
    ) -> Option<Self>;
    /// Mark the item when it falls in a span of transport damage.
    fn mark(&mut self, t: &super::senders::Transport);
    /// Move the item onto the stream's own time (its start `by` seconds of running time).
    fn rebase(&mut self, by: f64);
}
impl Convert for VideoFrame {
    fn convert(
        sample: &gst::Sample,
        index: u64,
        width: u32,
        caps: &mut CapsTracker,
        ev: &Sender<IngestEvent>,
    ) -> Option<Self> {
        video_frame(sample, index, width, caps, ev)
    }
    fn mark(&mut self, t: &super::senders::Transport) {
        self.damaged = t.video.lock().mark(self.pts);
    }
    fn rebase(&mut self, by: f64) {
        self.pts -= by;
    }
}
impl Convert for AudioChunk {
    fn convert(
        sample: &gst::Sample,
        _index: u64,
        rate: u32,
        caps: &mut CapsTracker,
        ev: &Sender<IngestEvent>,
    ) -> Option<Self> {
        audio_chunk(sample, rate, caps, ev)
    }
    fn mark(&mut self, t: &super::senders::Transport) {
        let d = t.audio.lock();
        self.damaged = d.covers(self.pts) || d.covers(self.end());
    }
    fn rebase(&mut self, by: f64) {
        self.pts -= by;
    }
}

impl Convert for SoundChunk {
    fn convert(
        sample: &gst::Sample,
        _index: u64,
        _rate: u32,
        _caps: &mut CapsTracker,
        _ev: &Sender<IngestEvent>,
    ) -> Option<Self> {
        sound_chunk(sample)
    }
    fn mark(&mut self, _t: &super::senders::Transport) {}
    fn rebase(&mut self, by: f64) {
        self.pts -= by;
    }
}

impl Convert for DetailFrame {
    /// `rate`: the detail width (see `ingest::Ingest::start`).
    fn convert(
        sample: &gst::Sample,
        _index: u64,
        rate: u32,
        caps: &mut CapsTracker,
        _ev: &Sender<IngestEvent>,
    ) -> Option<Self> {
        detail_frame(sample, rate, caps)
    }
    fn mark(&mut self, _t: &super::senders::Transport) {}
    fn rebase(&mut self, by: f64) {
        self.pts -= by;
    }
}

fn dropped_metric(stream: &StreamId, medium: Medium) {
    let name = match medium {
        Medium::Video => m::DROPPED_FRAMES,
        // Detail frames are a sample by design (counted in the branch's own counters): a
        // dropped one is not a dropped video frame.
        Medium::Detail => return,
        Medium::Audio | Medium::Sound => m::DROPPED_AUDIO_CHUNKS,
    };
    metrics::counter!(name, "stream" => stream.to_string()).increment(1);
}

/// Live delivery: callbacks on GStreamer's streaming thread that never block.
pub fn attach_live<T: Convert>(sink: &gst_app::AppSink, branch: Branch<T>) {
    let index = AtomicU64::new(0);
    let caps = std::sync::Mutex::new(CapsTracker::live_with_face_side(branch.face_side));
    let eos_events = branch.events.clone();
    let medium = branch.medium;
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Flushing)?;
                let i = index.fetch_add(1, Ordering::Relaxed);
                let item = {
                    let mut caps = caps.lock().unwrap_or_else(|e| e.into_inner());
                    T::convert(&sample, i, branch.target, &mut caps, &branch.events)
                };
                match item {
                    Some(mut item) => match {
                        if let Some(t) = &branch.transport {
                            item.mark(t);
                            if let Some(o) = t.origin.get() {
                                item.rebase(o);
                            }
                        }
                        branch.tx.try_send(item)
                    } {
                        Ok(()) => {
                            branch.counters.delivered.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(TrySendError::Full(_)) => {
                            branch.counters.dropped.fetch_add(1, Ordering::Relaxed);
                            dropped_metric(&branch.stream, branch.medium);
                        }
                        Err(TrySendError::Disconnected(_)) => return Err(gst::FlowError::Flushing),
                    },
                    None => {
                        branch.counters.unreadable.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .eos(move |_| {
                let _ = eos_events.try_send(IngestEvent::BranchEos { medium });
            })
            .build(),
    );
}

/// File delivery: a thread of ours pulls and waits for the evaluator; nothing is dropped.
pub fn spawn_pull<T: Convert>(
    sink: gst_app::AppSink,
    branch: Branch<T>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name(format!("pull-{}-{}", branch.stream, branch.medium.as_str()))
        .spawn(move || {
            let mut caps = CapsTracker::with_face_side(branch.face_side);
            let mut index = 0u64;
            loop {
                match sink.pull_sample() {
                    Ok(sample) => {
                        match T::convert(&sample, index, branch.target, &mut caps, &branch.events) {
                            Some(item) => {
                                if !send_blocking(&branch.tx, item, &stop) {
                                    return;
                                }
                                branch.counters.delivered.fetch_add(1, Ordering::Relaxed);
                            }
                            None => {
                                branch.counters.unreadable.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        index += 1;
                    }
                    Err(_) => {
                        // appsink also says "EOS" while it is not yet PAUSED or PLAYING.
                        let running = sink.current_state() >= gst::State::Paused;
                        if running && sink.is_eos() {
                            let _ = branch.events.send_timeout(
                                IngestEvent::BranchEos {
                                    medium: branch.medium,
                                },
                                Duration::from_secs(1),
                            );
                            return;
                        }
                        // Not playing yet (or flushing): wait, unless we are told to stop.
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
            }
        })
        .expect("spawning a thread")
}
