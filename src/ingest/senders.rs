//! Senders come and go; packets get lost. Two jobs on an RTP stream's pipeline, both pad probes
//! that only look, count and `try_send` (never block a streaming thread):
//!
//! - **Following senders.** rtpbin demuxes each sender (SSRC) onto a pad of its own. Every such
//!   pad of a session is linked into the branch's `funnel` (`video_in` / `audio_in`), and a probe
//!   passes only the *current* sender's packets. A new SSRC becomes current as soon as the
//!   current one has been quiet for [`QUIET`] (a restarted encoder), or at once when there is
//!   none; a second sender next to a live one is ignored (so a stray packet cannot hijack a
//!   stream). Each change is reported as [`IngestEvent::SenderChanged`].
//! - **Transport damage.** A picture decoded from an incomplete bitstream is the network's doing,
//!   not the generator's. Video is damaged from the start until the first keyframe, and from a
//!   packet the jitter buffer gave up on (its `GstRTPPacketLost` event) or a sender change until
//!   the next keyframe; audio around each lost packet (Opus conceals it). The spans are kept in
//!   running time, the clock of the frames' timestamps, and the appsink callbacks mark each
//!   frame and chunk that falls in one ([`Damage::covers`]).
use crate::types::{IngestEvent, Medium};
use crossbeam::channel::Sender;
use gstreamer as gst;
use gstreamer::prelude::*;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the current sender must have been silent before another takes over.
pub const QUIET: Duration = Duration::from_millis(500);
/// Audio around a lost packet that counts as damaged (Opus concealment spans a packet or two).
const AUDIO_DAMAGE_S: f64 = 0.06;
/// Damage spans kept (older ones are behind every frame still in flight).
const MAX_SPANS: usize = 64;

/// Damaged spans of one medium, in running-time seconds; `to: None` is still open (waiting
/// for a keyframe).
#[derive(Debug, Default)]
pub struct Damage {
    spans: VecDeque<(f64, Option<f64>)>,
    /// Spans opened so far (lost packets, sender changes, the start).
    pub opened: u64,
    /// Running time of the last unit marked (frames hidden by the decoder leave a gap).
    last: Option<f64>,
}

impl Damage {
    /// Damaged from `from` until further notice (video: until the next keyframe).
    pub fn open(&mut self, from: f64) {
        if self.spans.back().map(|s| s.1.is_none()).unwrap_or(false) {
            return;
        }
        self.opened += 1;
        self.spans.push_back((from, None));
        while self.spans.len() > MAX_SPANS {
            self.spans.pop_front();
        }
    }

    /// A damaged span with a known end.
    pub fn span(&mut self, from: f64, to: f64) {
        self.opened += 1;
        self.spans.push_back((from, Some(to)));
        while self.spans.len() > MAX_SPANS {
            self.spans.pop_front();
        }
    }

    /// A keyframe at `at`: the open span ends there.
    pub fn heal(&mut self, at: f64) {
        if let Some(s) = self.spans.back_mut() {
            if s.1.is_none() {
                s.1 = Some(at.max(s.0));
            }
        }
    }

    /// Whether running time `t` is inside a damaged span.
    pub fn covers(&self, t: f64) -> bool {
        self.spans
            .iter()
            .any(|(a, b)| t >= *a && b.map(|b| t < b).unwrap_or(true))
    }

    /// Whether the unit at `t` is damaged, or follows damage the decoder hid (frames it did not
    /// output since the previous unit). Call once per unit, in order.
    pub fn mark(&mut self, t: f64) -> bool {
        let since = self.last.replace(t);
        self.covers(t)
            || since
                .map(|p| {
                    self.spans
                        .iter()
                        .any(|(a, b)| *a < t && b.map(|b| b > p).unwrap_or(true))
                })
                .unwrap_or(false)
    }
}

/// Damage of both media, shared by the probes and the appsink callbacks.
#[derive(Debug, Default)]
pub struct Transport {
    pub video: Mutex<Damage>,
    pub audio: Mutex<Damage>,
    /// Where the stream's own time starts: the running time of its first RTP packet.
    pub origin: StreamOrigin,
}

/// The running time (ns) of a live stream's first packet, set once by whichever medium's
/// packet comes first. The pipeline's running time counts from when the server started it:
/// without this a flash 2 s into a stream that began 30 s after the server is timed at 32 s.
#[derive(Debug, Default)]
pub struct StreamOrigin(std::sync::atomic::AtomicU64);

impl StreamOrigin {
    /// The first call sets the origin (`0` is kept as 1 ns: 0 means unset).
    pub fn offer(&self, running_ns: u64) {
        use std::sync::atomic::Ordering;
        let _ = self
            .0
            .compare_exchange(0, running_ns.max(1), Ordering::AcqRel, Ordering::Acquire);
    }

    /// The origin in seconds, once a packet came.
    pub fn get(&self) -> Option<f64> {
        match self.0.load(std::sync::atomic::Ordering::Acquire) {
            0 => None,
            ns => Some(ns as f64 / 1e9),
        }
    }
}

impl Transport {
    /// A fresh record: video damaged until its first keyframe.
    pub fn new(video: bool) -> Arc<Self> {
        let t = Self::default();
        if video {
            t.video.lock().open(f64::NEG_INFINITY);
        }
        Arc::new(t)
    }

    pub fn damage(&self, video: bool) -> &Mutex<Damage> {
        if video { &self.video } else { &self.audio }
    }
}

/// Whether an H.264 access unit carries the *first* IDR slice of a picture (NAL type 5 with
/// `first_mb_in_slice = 0`, i.e. the first bit of the slice header set): decoding can start, or
/// recover, there — an IDR whose first packets were lost (a receiver that joined mid-frame)
/// cannot. Reads both forms a depayloader may output: `avc` (4-byte big-endian NAL lengths)
/// and `byte-stream` (start codes).
pub fn h264_has_idr(au: &[u8]) -> bool {
    // avc: lengths that tile the buffer exactly.
    let mut i = 0;
    let mut tiled = !au.is_empty();
    let mut idr = false;
    while i < au.len() {
        if i + 5 > au.len() {
            tiled = false;
            break;
        }
        let len = u32::from_be_bytes([au[i], au[i + 1], au[i + 2], au[i + 3]]) as usize;
        if len == 0 || i + 4 + len > au.len() {
            tiled = false;
            break;
        }
        idr |= au[i + 4] & 0x1f == 5 && len > 1 && au[i + 5] & 0x80 != 0;
        i += 4 + len;
    }
    if tiled {
        return idr;
    }
    let mut i = 0;
    while i + 3 < au.len() {
        if au[i] == 0 && au[i + 1] == 0 && au[i + 2] == 1 {
            if au[i + 3] & 0x1f == 5 && au.get(i + 4).map(|b| b & 0x80 != 0).unwrap_or(false) {
                return true;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    false
}

/// Running time (s) of a buffer or event timestamp on `pad`, from its sticky segment.
fn running_s(pad: &gst::Pad, pts: Option<gst::ClockTime>) -> Option<f64> {
    let pts = pts?;
    let seg = pad.sticky_event::<gst::event::Segment>(0)?;
    let seg = seg.segment().downcast_ref::<gst::ClockTime>()?.clone();
    let rt = seg.to_running_time(pts)?;
    Some(rt.nseconds() as f64 / 1e9)
}

#[derive(Debug, Default)]
struct Current {
    ssrc: Option<u32>,
    last: Option<Instant>,
}

/// Wire the sender-following and damage probes into a built-in RTP pipeline. A pipeline
/// without `rtpbin` or without the `{medium}_in` funnels (a user's own) is left alone.
pub fn watch(pipeline: &gst::Pipeline, transport: &Arc<Transport>, events: &Sender<IngestEvent>) {
    let Some(rtpbin) = pipeline.by_name("rtpbin") else {
        return;
    };
    for medium in ["video", "audio"] {
        let video = medium == "video";
        if let Some(depay) = pipeline.by_name(&format!("{medium}_depay")) {
            if let Some(sink) = depay.static_pad("sink") {
                watch_lost(&sink, transport, video);
            }
            if let (true, Some(src)) = (video, depay.static_pad("src")) {
                watch_keyframes(&depay, &src, transport);
            }
        }
    }
    follow_senders(&rtpbin, pipeline, transport, events);
}

/// Lost packets seen by the depayloader open damage (video: until the next keyframe; audio:
/// around the gap).
fn watch_lost(sink: &gst::Pad, transport: &Arc<Transport>, video: bool) {
    let t = transport.clone();
    sink.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |pad, info| {
        if let Some(gst::PadProbeData::Event(e)) = &info.data {
            if let Some(s) = e.structure() {
                if s.name() == "GstRTPPacketLost" {
                    let ts = s
                        .get::<u64>("timestamp")
                        .ok()
                        .map(gst::ClockTime::from_nseconds);
                    let dur = s.get::<u64>("duration").unwrap_or(0) as f64 / 1e9;
                    if let Some(at) = running_s(pad, ts) {
                        let mut d = t.damage(video).lock();
                        if video {
                            d.open(at);
                        } else {
                            d.span(at - AUDIO_DAMAGE_S, at + dur + AUDIO_DAMAGE_S);
                        }
                    }
                }
            }
        }
        gst::PadProbeReturn::Ok
    });
}

/// Keyframes leaving the depayloader heal the video damage.
fn watch_keyframes(depay: &gst::Element, src: &gst::Pad, transport: &Arc<Transport>) {
    let t = transport.clone();
    let h264 = depay
        .factory()
        .map(|f| f.name() == "rtph264depay")
        .unwrap_or(false);
    src.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        if let Some(gst::PadProbeData::Buffer(b)) = &info.data {
            // H.264: an access unit with an IDR slice (the depayloader's flags
            // are not to be trusted on a stream joined mid-GOP); other
            // payloads: what the depayloader says.
            let key = if h264 {
                b.map_readable()
                    .map(|m| h264_has_idr(m.as_slice()))
                    .unwrap_or(false)
            } else {
                !b.flags().contains(gst::BufferFlags::DELTA_UNIT)
            };
            if key {
                if let Some(at) = running_s(pad, b.pts()) {
                    t.video.lock().heal(at);
                }
            }
        }
        gst::PadProbeReturn::Ok
    });
}

/// Each sender (SSRC) rtpbin finds is linked into its session's funnel; only the current
/// sender's packets pass, and a new one takes over once the current one has gone quiet.
fn follow_senders(
    rtpbin: &gst::Element,
    pipeline: &gst::Pipeline,
    transport: &Arc<Transport>,
    events: &Sender<IngestEvent>,
) {
    let session_funnels: Vec<Option<gst::Element>> = ["video", "audio"]
        .iter()
        .map(|m| pipeline.by_name(&format!("{m}_in")))
        .collect();
    if session_funnels.iter().all(Option::is_none) {
        return;
    }
    let current: Arc<[Mutex<Current>; 2]> = Arc::new(Default::default());
    let tx = events.clone();
    let t = transport.clone();
    rtpbin.connect_pad_added(move |_, pad| {
        let name = pad.name();
        let Some(rest) = name.strip_prefix("recv_rtp_src_") else {
            return;
        };
        let mut parts = rest.split('_');
        let session: usize = match parts.next().and_then(|s| s.parse().ok()) {
            Some(s @ (0 | 1)) => s,
            _ => return,
        };
        let ssrc: u32 = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        let Some(funnel) = session_funnels[session].as_ref() else {
            return;
        };
        let Some(sink) = funnel.request_pad_simple("sink_%u") else {
            return;
        };
        let medium = if session == 0 {
            Medium::Video
        } else {
            Medium::Audio
        };
        let gate = Gate {
            session,
            ssrc,
            medium,
            current: current.clone(),
            tx: tx.clone(),
            transport: t.clone(),
        };
        pad.add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
            move |p, info| gate.pass(p, info),
        );
        if let Err(e) = pad.link(&sink) {
            tracing::warn!("cannot link {name} into {medium}_in: {e:?}");
            funnel.release_request_pad(&sink);
        }
    });
    // A sender that timed out (autoremove): give its funnel pad back.
    rtpbin.connect_pad_removed(move |_, pad| {
        if !pad.name().starts_with("recv_rtp_src_") {
            return;
        }
        if let Some(peer) = pad.peer() {
            let _ = pad.unlink(&peer);
            if let Some(f) = peer.parent_element() {
                f.release_request_pad(&peer);
            }
        }
    });
}

/// The gate on one sender's pad: only the current sender of the session passes.
struct Gate {
    session: usize,
    ssrc: u32,
    medium: Medium,
    current: Arc<[Mutex<Current>; 2]>,
    tx: Sender<IngestEvent>,
    transport: Arc<Transport>,
}

impl Gate {
    fn pass(&self, p: &gst::Pad, info: &gst::PadProbeInfo) -> gst::PadProbeReturn {
        let now = Instant::now();
        let mut c = self.current[self.session].lock();
        let quiet = c
            .last
            .map(|l| now.duration_since(l) > QUIET)
            .unwrap_or(true);
        if c.ssrc != Some(self.ssrc) {
            if !quiet {
                // Another sender is live: this one waits.
                return gst::PadProbeReturn::Drop;
            }
            let before = c.ssrc.replace(self.ssrc);
            if before.is_some() {
                let pts = match &info.data {
                    Some(gst::PadProbeData::Buffer(b)) => b.pts(),
                    _ => None,
                };
                if let Some(at) = running_s(p, pts) {
                    self.transport.damage(self.session == 0).lock().open(at);
                }
            }
            let _ = self.tx.try_send(IngestEvent::SenderChanged {
                medium: self.medium,
                ssrc: self.ssrc,
                previous: before,
            });
        }
        c.last = Some(now);
        gst::PadProbeReturn::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idr_slices_are_found_in_byte_streams() {
        // SPS, PPS, IDR slice (4-byte and 3-byte start codes).
        let key = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x68, 3, 0, 0, 1, 0x65, 0x88, 9,
        ];
        assert!(h264_has_idr(&key));
        let p = [0, 0, 0, 1, 0x41, 7, 7, 7];
        assert!(!h264_has_idr(&p));
        assert!(!h264_has_idr(&[]) && !h264_has_idr(&[0, 0, 1]));
        // avc: 4-byte lengths.
        let avc = [0, 0, 0, 2, 0x67, 1, 0, 0, 0, 3, 0x65, 0x88, 8];
        // The second slice of an IDR picture (first_mb_in_slice > 0): not where decoding starts.
        let tail = [0, 0, 0, 3, 0x65, 0x08, 8];
        assert!(!h264_has_idr(&tail));
        assert!(h264_has_idr(&avc));
        let avc_p = [0, 0, 0, 3, 0x41, 8, 8];
        assert!(!h264_has_idr(&avc_p));
    }

    #[test]
    fn damage_spans_open_heal_and_cover() {
        let t = Transport::new(true);
        assert!(t.video.lock().covers(3.0), "before the first keyframe");
        t.video.lock().heal(1.0);
        assert!(t.video.lock().covers(0.9) && !t.video.lock().covers(1.0));
        t.video.lock().open(5.0);
        t.video.lock().open(5.5); // already open: one span
        assert!(t.video.lock().covers(7.0));
        t.video.lock().heal(6.0);
        assert!(!t.video.lock().covers(6.0) && t.video.lock().covers(5.9));
        assert_eq!(t.video.lock().opened, 2);
        t.audio.lock().span(2.0, 2.1);
        assert!(t.audio.lock().covers(2.05) && !t.audio.lock().covers(2.2));
        for k in 0..200 {
            t.audio.lock().span(k as f64, k as f64 + 0.01);
        }
        assert!(t.audio.lock().spans.len() <= MAX_SPANS);
        // A frame after frames the decoder hid (damage between it and the previous frame).
        let mut d = Damage::default();
        assert!(!d.mark(1.0));
        d.span(1.2, 1.5);
        assert!(
            d.mark(1.6),
            "the damage at 1.2–1.5 s lies between 1.0 and 1.6"
        );
        assert!(!d.mark(1.64));
    }
}
