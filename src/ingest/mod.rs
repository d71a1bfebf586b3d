//! Ingest: GStreamer pipelines that turn RTP sessions, files or test sources into small
//! analysis frames ([`VideoFrame`], I420 at ~160 px wide) and mono F32 audio ([`AudioChunk`]),
//! plus typed [`IngestEvent`]s (errors, EOS, caps changes, stalls).
//!
//! ```text
//!  udpsrc ─▶ rtpbin (RTCP lip sync) ─▶ depay ─▶ decode ─▶ scale ─▶ convert ─▶ appsink ─┐
//!  uridecodebin ─────────────────────────────────────────▶ scale ─▶ convert ─▶ appsink ─┤
//!                                          pad probe on udpsrc: RtpStats (loss, jitter) │
//!                                                        bounded crossbeam channels ◀───┘
//! ```
//!
//! Live branches never block a streaming thread: callbacks `try_send`, a full channel drops
//! and counts. File branches (a local file, also when a server stream names one) are pulled
//! by our own threads so nothing is lost.
pub mod pipeline;
pub mod rtp_stats;
pub mod scale;
pub mod senders;
pub mod sink;
pub mod thumbs;

use crate::config::{AnalysisSettings, StreamSettings};
use crate::metric_names as m;
use crate::types::{AudioChunk, DetailFrame, IngestEvent, Media, SoundChunk, StreamId, VideoFrame};
use crossbeam::channel::{Receiver, Sender, bounded};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use parking_lot::Mutex;
use rtp_stats::{PacketVerdict, RtpStats};
use sink::{Branch, BranchCounters, Medium};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use thiserror::Error;

/// Why a stream's ingest could not start.
#[derive(Debug, Error)]
pub enum IngestError {
    #[error("GStreamer could not be initialised: {0}")]
    Init(String),
    #[error("no such file: {0}")]
    NoSuchFile(String),
    #[error("stream '{stream}': bad pipeline description: {why}\n  description: {description}")]
    Description {
        stream: String,
        why: String,
        description: String,
    },
    #[error(
        "stream '{stream}': the pipeline has no appsink named 'video' or 'audio' (see pipelines/README.md)"
    )]
    NoSinks { stream: String },
    #[error("stream '{stream}': cannot start the pipeline: {why}")]
    Start { stream: String, why: String },
}

/// Where a stream's media come from.
#[derive(Clone, Debug)]
pub enum Source {
    /// A file path or URI, decoded as fast as the evaluator consumes it.
    Uri(String),
    /// RTP sessions (or a user's pipeline file) as configured.
    Live(StreamSettings),
}

/// Initialise GStreamer once; later calls are free.
pub fn init() -> Result<(), IngestError> {
    gst::init().map_err(|e| IngestError::Init(e.to_string()))
}

/// Turn a path or URI into a URI GStreamer accepts, with a clear error for a missing file.
pub fn to_uri(input: &str) -> Result<String, IngestError> {
    if input.contains("://") {
        return Ok(input.to_string());
    }
    let path = Path::new(input);
    if !path.exists() {
        return Err(IngestError::NoSuchFile(input.to_string()));
    }
    let abs =
        std::fs::canonicalize(path).map_err(|_| IngestError::NoSuchFile(input.to_string()))?;
    gst::glib::filename_to_uri(&abs, None)
        .map(|u| u.to_string())
        .map_err(|e| IngestError::NoSuchFile(format!("{input}: {e}")))
}

pub use crate::config::MAX_PIPELINE_FILE;

/// A stream's own pipeline file, at most [`MAX_PIPELINE_FILE`] bytes of UTF-8.
fn read_pipeline_file(path: &Path) -> std::io::Result<String> {
    crate::files::read_text(path, MAX_PIPELINE_FILE, "pipeline file")
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// Counters of one stream's ingest, readable at any time.
#[derive(Default)]
pub struct IngestStats {
    pub video: Arc<BranchCounters>,
    pub audio: Arc<BranchCounters>,
    pub sound: Arc<BranchCounters>,
    pub detail: Arc<BranchCounters>,
    /// RTP statistics per medium (`video`, `audio`), when the source is RTP.
    pub rtp: Mutex<Vec<(Medium, RtpStats)>>,
    /// RTCP sender reports received from the SSRC whose RTP we receive (they make lip sync
    /// exact).
    pub rtcp_packets: std::sync::atomic::AtomicU64,
    /// Datagrams on the RTCP ports that were not RTCP (dropped).
    pub rtcp_junk: std::sync::atomic::AtomicU64,
}

/// A running ingest pipeline and the channels it fills.
pub struct Ingest {
    pub stream: StreamId,
    pipeline: gst::Pipeline,
    pub video: Receiver<VideoFrame>,
    pub audio: Receiver<AudioChunk>,
    /// The sound at its own rate and layout, when the pipeline has an appsink named `sound`.
    pub sound: Receiver<SoundChunk>,
    pub has_sound: bool,
    /// The larger luma plane for focus and noise, when the pipeline has an appsink `detail`.
    pub detail: Receiver<DetailFrame>,
    pub has_detail: bool,
    pub events: Receiver<IngestEvent>,
    pub stats: Arc<IngestStats>,
    /// Media declared up front (RTP) — for files this arrives as `IngestEvent::Started`.
    pub declared: Option<Media>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// The threads pulling from the appsinks (a file's branches), apart from `threads`.
    pulls: Vec<JoinHandle<()>>,
}

/// Is the branch feeding `sink` connected all the way up to a source element?
fn branch_linked(sink: &gst::Element) -> bool {
    let Some(mut pad) = sink.static_pad("sink") else {
        return false;
    };
    for _ in 0..64 {
        let Some(peer) = pad.peer() else { return false };
        let Some(element) = peer.parent_element() else {
            return false;
        };
        let sinks = element.sink_pads();
        match sinks.first() {
            None => return true,
            Some(p) => pad = p.clone(),
        }
        // Ghost pads of bins (uridecodebin) have no sink pads of their own: a source.
    }
    true
}

/// How far ahead of the slowest branch decodebin's queues may run in a file, in time.
/// decodebin leaves its multiqueue unbounded in time for seekable files and grows a stream's
/// queue whenever another stream's runs dry; when one medium ends long before the other (one
/// frame of picture over hours of sound) the demuxer then reads the whole file into memory
/// ahead of the evaluation (305 MB more for 3 h of sound). 10 s keeps memory flat and leaves
/// room for files whose media are stored seconds apart.
const DECODER_QUEUE_S: u64 = 10;

/// Bound the multiqueue of every decodebin in the pipeline (`decode`, or the one a
/// uridecodebin makes) in time, before it is configured, and keep gap events off the picture
/// branches.
fn bound_decoder_queues(pipeline: &gst::Pipeline) {
    fn bound(e: &gst::Element) {
        let is_decodebin = e.factory().is_some_and(|f| f.name() == "decodebin");
        if is_decodebin && e.find_property("max-size-time").is_some() {
            e.set_property("max-size-time", DECODER_QUEUE_S * 1_000_000_000);
        }
    }
    // Gap events tell a sink that syncs to the clock that a sparse stream goes on; ours do not
    // sync, and once a file's picture has ended the demuxer sends one every few frames of
    // sound, which the picture branch would keep (37 MB of them over 45 min).
    if let Some(pad) = pipeline
        .by_name("source_size")
        .and_then(|f| f.static_pad("sink"))
    {
        pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, |_, info| {
            match &info.data {
                Some(gst::PadProbeData::Event(e)) if e.type_() == gst::EventType::Gap => {
                    gst::PadProbeReturn::Drop
                }
                _ => gst::PadProbeReturn::Ok,
            }
        });
    }
    let Some(decode) = pipeline.by_name("decode") else {
        return;
    };
    bound(&decode);
    if let Some(bin) = decode.downcast_ref::<gst::Bin>() {
        bin.connect_element_added(|_, child| bound(child));
    }
}

/// The appsink named `name`, if the pipeline has one.
fn appsink(pipeline: &gst::Pipeline, name: &str) -> Option<gst_app::AppSink> {
    pipeline
        .by_name(name)
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
}

impl Ingest {
    /// Build and start the pipeline for `source`.
    pub fn start(
        stream: StreamId,
        source: &Source,
        analysis: &AnalysisSettings,
        queue_frames: usize,
    ) -> Result<Self, IngestError> {
        init()?;
        let name = stream.to_string();
        let (description, live) = describe(&name, source, analysis)?;
        let pipeline = launch(&name, &description)?;
        let sink = |n: &str| appsink(&pipeline, n);
        let (video_sink, audio_sink, sound_sink) = (sink("video"), sink("audio"), sink("sound"));
        // `analysis.detail_width = 0` turns the detail plane off, a user pipeline's sink too.
        let detail_sink = sink("detail").filter(|_| analysis.detail_width > 0);
        if video_sink.is_none() && audio_sink.is_none() {
            return Err(IngestError::NoSinks { stream: name });
        }

        let (etx, erx) = bounded(1024);
        watch_source_caps(&pipeline, &etx);
        refuse_huge_pictures(&pipeline);
        if !live {
            bound_decoder_queues(&pipeline);
        }
        // Transport damage is tracked where we know the bitstream: the built-in RTP branches
        // (a depayloader to watch for lost packets and keyframes).
        let transport = (live && pipeline.by_name("rtpbin").is_some()).then(|| {
            let t = senders::Transport::new(pipeline.by_name("video_depay").is_some());
            senders::watch(&pipeline, &t, &etx);
            t
        });
        let stats = Arc::new(IngestStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let mut pulls = vec![];
        let mut at = Attach {
            stream: &stream,
            events: &etx,
            transport: &transport,
            live,
            stop: &stop,
            threads: &mut pulls,
            face_side: analysis.face_side,
        };
        // Audio arrives in ~10–20 ms chunks: give it a few seconds of room. The video branch
        // is scaled to the analysis width, the detail branch's luma decimated to its width.
        let (rate, q) = (analysis.audio_rate, queue_frames);
        let vrx = at.branch(&video_sink, Medium::Video, analysis.width, &stats.video, q);
        let arx = at.branch(&audio_sink, Medium::Audio, rate, &stats.audio, q * 4);
        let srx = at.branch(&sound_sink, Medium::Sound, rate, &stats.sound, q * 4);
        let width = analysis.detail_width;
        let drx = at.branch(&detail_sink, Medium::Detail, width, &stats.detail, q);
        let (stall_media, timeout) = match source {
            Source::Live(s) => (
                probe_rtp(&pipeline, s, &stats, &stream, transport.as_ref()),
                s.stall_timeout_s,
            ),
            Source::Uri(_) => (vec![], f64::INFINITY),
        };
        probe_rtcp(&pipeline, &stats);
        let declared = announce_media(&pipeline, source, &video_sink, &audio_sink, &etx);
        let watch = (etx, stall_media, timeout);
        let threads = vec![spawn_bus_watch(&pipeline, &stream, &stop, &stats, watch)?];
        play(&pipeline, &name, &stop)?;
        Ok(Ingest {
            stream,
            pipeline,
            video: vrx,
            audio: arx,
            sound: srx,
            has_sound: sound_sink.is_some(),
            detail: drx,
            has_detail: detail_sink.is_some(),
            events: erx,
            stats,
            declared,
            stop,
            threads,
            pulls,
        })
    }

    /// Whether a file's demuxer stopped before exposing any stream: inside the decoder bin, an
    /// element without source pads whose pulling task has paused (a demuxer pauses its task on
    /// an error or at the end; before it starts, the task is stopped). decodebin drops
    /// an error posted while it plugs the element (its error filter), so the bus may never
    /// carry it, and the pipeline then waits in PAUSED for ever.
    pub fn demuxer_gave_up(&self) -> bool {
        let Some(decode) = self
            .pipeline
            .by_name("decode")
            .and_then(|e| e.downcast::<gst::Bin>().ok())
        else {
            return false;
        };
        if !decode.src_pads().is_empty() {
            return false;
        }
        decode
            .iterate_recurse()
            .into_iter()
            .filter_map(Result::ok)
            .any(|e| {
                e.src_pads().is_empty()
                    && e.sink_pads().iter().any(|p| {
                        p.mode() == gst::PadMode::Pull && p.task_state() == gst::TaskState::Paused
                    })
            })
    }

    /// Duration of the input when it is known (files).
    pub fn duration_s(&self) -> Option<f64> {
        self.pipeline
            .query_duration::<gst::ClockTime>()
            .map(|d| d.nseconds() as f64 / 1e9)
    }

    /// Whether RTCP packets have arrived (so rtpbin maps streams to the sender's clock).
    pub fn rtcp_seen(&self) -> bool {
        self.stats.rtcp_packets.load(Ordering::Relaxed) > 0
    }

    /// Stop the pipeline and the threads. Safe to call more than once.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.pipeline.set_state(gst::State::Null);
        for t in self.threads.drain(..).chain(self.pulls.drain(..)) {
            let _ = t.join();
        }
    }

    /// Whether a branch's pulling thread is still delivering (a file's branches before their
    /// end); a live branch delivers from the streaming thread and is never waited for.
    pub fn delivering(&self) -> bool {
        self.pulls.iter().any(|t| !t.is_finished())
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The launch description of a source and whether it is live: one builder per source kind
/// (a file or URI; an RTP stream; the operator's own pipeline file).
fn describe(
    name: &str,
    source: &Source,
    analysis: &AnalysisSettings,
) -> Result<(String, bool), IngestError> {
    Ok(match source {
        Source::Uri(input) => {
            let uri = to_uri(input)?;
            let d = pipeline::file_description(&uri, analysis).map_err(|why| {
                IngestError::Description {
                    stream: name.to_string(),
                    why,
                    description: String::new(),
                }
            })?;
            (d, false)
        }
        Source::Live(s) => {
            let mut file = false;
            // What the API admitted was opened then (config/api_sources): use that, not the
            // path again.
            let d = match (&s.pipeline, &s.opened.pipeline_text) {
                (Some(_), Some(text)) => pipeline::custom_description(text, s, analysis),
                (Some(path), None) => {
                    let text = read_pipeline_file(path).map_err(|e| IngestError::Description {
                        stream: name.to_string(),
                        why: format!("cannot read {}: {e}", path.display()),
                        description: String::new(),
                    })?;
                    pipeline::custom_description(&text, s, analysis)
                }
                (None, _) => match (&s.uri, s.opened.media_uri()) {
                    (Some(_), Some(opened)) => {
                        file = opened.starts_with("file:");
                        pipeline::file_description(&opened, analysis)
                    }
                    (Some(uri), None) => {
                        let uri = to_uri(uri)?;
                        file = uri.starts_with("file:");
                        pipeline::file_description(&uri, analysis)
                    }
                    (None, _) => pipeline::rtp_description(s, analysis),
                },
            }
            .map_err(|why| IngestError::Description {
                stream: name.to_string(),
                why,
                description: String::new(),
            })?;
            // A local file served as a stream is read as fast as it is evaluated, not dropped
            // when its decoder outruns the evaluator (it is not live: nothing is lost by
            // waiting). Network URIs and RTP are live.
            (d, !file)
        }
    })
}

/// Parse a launch description into a pipeline.
pub(crate) fn launch(name: &str, description: &str) -> Result<gst::Pipeline, IngestError> {
    let element = gst::parse::launch(description).map_err(|e| IngestError::Description {
        stream: name.to_string(),
        why: e.to_string(),
        description: description.to_string(),
    })?;
    element
        .downcast::<gst::Pipeline>()
        .map_err(|_| IngestError::Description {
            stream: name.to_string(),
            why: "the description is not a pipeline".into(),
            description: description.to_string(),
        })
}

/// A branch before its queue is known (the same for video and audio).
struct BranchOf {
    stream: StreamId,
    medium: Medium,
    events: Sender<IngestEvent>,
    counters: Arc<BranchCounters>,
    target: u32,
    face_side: u32,
    transport: Option<Arc<senders::Transport>>,
}

impl BranchOf {
    fn sending<T>(self, tx: Sender<T>) -> Branch<T> {
        Branch {
            stream: self.stream,
            medium: self.medium,
            tx,
            events: self.events,
            counters: self.counters,
            target: self.target,
            face_side: self.face_side,
            transport: self.transport,
        }
    }
}

/// Appsink settings: never sync to the clock, a short queue, drop when live.
fn configure_sink(sink: &gst_app::AppSink, live: bool) {
    sink.set_sync(false);
    sink.set_async(false);
    sink.set_max_buffers(if live { 8 } else { 4 });
    sink.set_drop(live);
    sink.set_property("emit-signals", false);
    sink.set_enable_last_sample(false);
}

/// How a stream's branches are connected, and where their threads go.
struct Attach<'a> {
    stream: &'a StreamId,
    events: &'a Sender<IngestEvent>,
    transport: &'a Option<Arc<senders::Transport>>,
    live: bool,
    stop: &'a Arc<AtomicBool>,
    threads: &'a mut Vec<JoinHandle<()>>,
    face_side: u32,
}

impl Attach<'_> {
    /// Configure and connect the sink, when the pipeline has it; the branch's receiver
    /// (disconnected without a sink, so a select leaves it).
    fn branch<T: sink::Convert>(
        &mut self,
        sink: &Option<gst_app::AppSink>,
        medium: Medium,
        target: u32,
        counters: &Arc<BranchCounters>,
        capacity: usize,
    ) -> Receiver<T> {
        let (tx, rx) = bounded(capacity);
        if let Some(sink) = sink {
            configure_sink(sink, self.live);
            let of = BranchOf {
                stream: self.stream.clone(),
                medium,
                events: self.events.clone(),
                counters: Arc::clone(counters),
                target,
                face_side: if medium == Medium::Video {
                    self.face_side
                } else {
                    0
                },
                transport: self.transport.clone(),
            };
            let t = attach::<T>(sink, of.sending(tx), self.live, self.stop);
            self.threads.extend(t);
        }
        rx
    }
}

/// Connect a branch: callbacks on the streaming thread when live, a pulling thread for files.
fn attach<T: sink::Convert>(
    sink: &gst_app::AppSink,
    branch: Branch<T>,
    live: bool,
    stop: &Arc<AtomicBool>,
) -> Option<JoinHandle<()>> {
    if live {
        sink::attach_live::<T>(sink, branch);
        None
    } else {
        Some(sink::spawn_pull::<T>(sink.clone(), branch, stop.clone()))
    }
}

/// RTP statistics from a probe on each udpsrc named video_rtp / audio_rtp; what is not RTP of
/// our payload type is dropped there. Returns the media watched for stalls.
fn probe_rtp(
    pipeline: &gst::Pipeline,
    s: &StreamSettings,
    stats: &Arc<IngestStats>,
    stream: &StreamId,
    transport: Option<&Arc<senders::Transport>>,
) -> Vec<Medium> {
    let mut stall_media = vec![];
    for (medium, clock, pt) in [
        (Medium::Video, 90_000, s.video.as_ref().map(|v| v.payload)),
        (
            Medium::Audio,
            s.audio
                .as_ref()
                .map(|a| {
                    if a.codec == crate::config::AudioCodec::Opus {
                        48_000
                    } else {
                        a.clock_rate
                    }
                })
                .unwrap_or(48_000),
            s.audio.as_ref().map(|a| a.payload),
        ),
    ] {
        let Some(src) = pipeline.by_name(&format!("{}_rtp", medium.as_str())) else {
            continue;
        };
        let Some(pad) = src.static_pad("src") else {
            continue;
        };
        let pt = pt.unwrap_or(if medium == Medium::Video { 96 } else { 97 });
        stats.rtp.lock().push((medium, RtpStats::new(clock, pt)));
        stall_media.push(medium);
        let st = stats.clone();
        let sid = stream.clone();
        let origin = transport.cloned();
        pad.add_probe(gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST, move |_, info| {
            let now = Instant::now();
            let account = |buf: &gst::BufferRef| -> bool {
                let Ok(map) = buf.map_readable() else {
                    return false;
                };
                let verdict = {
                    let mut rtp = st.rtp.lock();
                    rtp.iter_mut()
                        .find(|(md, _)| *md == medium)
                        .map(|(_, s)| s.on_datagram(map.as_slice(), now))
                };
                let valid = verdict == Some(PacketVerdict::Valid);
                // udpsrc stamps each datagram with its arrival in running time.
                if let (true, Some(t), Some(pts)) = (valid, &origin, buf.pts()) {
                    t.origin.offer(pts.nseconds());
                }
                let name = if valid { m::RTP_PACKETS } else { m::RTP_PACKETS_MALFORMED };
                metrics::counter!(name, "stream" => sid.to_string(), "medium" => medium.as_str()).increment(1);
                valid
            };
            match &info.data {
                // What is not RTP of our payload type never reaches rtpbin.
                Some(gst::PadProbeData::Buffer(b)) if !account(b) => gst::PadProbeReturn::Drop,
                Some(gst::PadProbeData::BufferList(list)) => {
                    list.iter().for_each(|b| {
                        account(b);
                    });
                    gst::PadProbeReturn::Ok
                }
                _ => gst::PadProbeReturn::Ok,
            }
        });
    }
    stall_media
}

/// RTCP probes: junk never reaches rtpbin; sender reports of our SSRC are counted.
fn probe_rtcp(pipeline: &gst::Pipeline, stats: &Arc<IngestStats>) {
    for medium in [Medium::Video, Medium::Audio] {
        let name = format!("{}_rtcp", medium.as_str());
        let Some(pad) = pipeline.by_name(&name).and_then(|e| e.static_pad("src")) else {
            continue;
        };
        let st = stats.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            let Some(gst::PadProbeData::Buffer(b)) = &info.data else {
                return gst::PadProbeReturn::Ok;
            };
            let Ok(map) = b.map_readable() else {
                return gst::PadProbeReturn::Drop;
            };
            let data = map.as_slice();
            // Not RTCP at all (version 2, packet types 200–206): never reaches rtpbin.
            if data.len() < 8 || data[0] >> 6 != 2 || !(200..=206).contains(&data[1]) {
                st.rtcp_junk.fetch_add(1, Ordering::Relaxed);
                return gst::PadProbeReturn::Drop;
            }
            // Sender-clock timing needs a sender report from the SSRC we receive RTP from.
            let ours = st
                .rtp
                .lock()
                .iter()
                .find(|(md, _)| *md == medium)
                .and_then(|(_, s)| s.ssrc);
            if ours.is_some() && rtp_stats::rtcp_sender_ssrc(data) == ours {
                st.rtcp_packets.fetch_add(1, Ordering::Relaxed);
            }
            gst::PadProbeReturn::Ok
        });
    }
}

/// Which media are present: declared for RTP, found at no-more-pads for files.
fn announce_media(
    pipeline: &gst::Pipeline,
    source: &Source,
    video_sink: &Option<gst_app::AppSink>,
    audio_sink: &Option<gst_app::AppSink>,
    etx: &Sender<IngestEvent>,
) -> Option<Media> {
    let declared = match source {
        Source::Live(s) if s.pipeline.is_none() && s.uri.is_none() => Some(Media {
            video: s.video.is_some(),
            audio: s.audio.is_some(),
        }),
        _ => None,
    };
    if declared.is_none() {
        let (vs, as_) = (video_sink.clone(), audio_sink.clone());
        let tx = etx.clone();
        match pipeline.by_name("decode") {
            Some(decode) => {
                decode.connect("no-more-pads", false, move |_| {
                    let media = Media {
                        video: vs
                            .as_ref()
                            .map(|s| branch_linked(s.upcast_ref()))
                            .unwrap_or(false),
                        audio: as_
                            .as_ref()
                            .map(|s| branch_linked(s.upcast_ref()))
                            .unwrap_or(false),
                    };
                    let _ = tx.try_send(IngestEvent::Started { media });
                    None
                });
            }
            None => {
                let media = Media {
                    video: vs.is_some(),
                    audio: as_.is_some(),
                };
                let _ = tx.try_send(IngestEvent::Started { media });
            }
        }
    } else if let Some(media) = declared {
        let _ = etx.try_send(IngestEvent::Started { media });
    }

    declared
}

/// The bus and stall watch of a pipeline, in a thread of its own.
/// `watch`: where events go, the media watched for stalls, and the stall timeout (s).
fn spawn_bus_watch(
    pipeline: &gst::Pipeline,
    stream: &StreamId,
    stop: &Arc<AtomicBool>,
    stats: &Arc<IngestStats>,
    watch: (Sender<IngestEvent>, Vec<Medium>, f64),
) -> Result<JoinHandle<()>, IngestError> {
    let (tx, stall_media, timeout) = watch;
    let name = stream.to_string();
    let bus = pipeline.bus().ok_or_else(|| IngestError::Start {
        stream: name.clone(),
        why: "pipeline has no bus".into(),
    })?;
    let (stop, stats, sid) = (stop.clone(), stats.clone(), stream.clone());
    Ok(std::thread::Builder::new()
        .name(format!("bus-{name}"))
        .spawn(move || watch_bus(bus, tx, stop, stats, stall_media, timeout, sid))
        .expect("spawning a thread"))
}

/// Set the pipeline playing; on failure, the reason from the bus.
fn play(pipeline: &gst::Pipeline, name: &str, stop: &AtomicBool) -> Result<(), IngestError> {
    if let Err(e) = pipeline.set_state(gst::State::Playing) {
        // The bus carries the reason; give it a moment to arrive.
        let why = pipeline
            .bus()
            .and_then(|b| {
                b.timed_pop_filtered(
                    gst::ClockTime::from_mseconds(500),
                    &[gst::MessageType::Error],
                )
            })
            .and_then(|msg| match msg.view() {
                gst::MessageView::Error(err) => Some(err.error().to_string()),
                _ => None,
            })
            .unwrap_or_else(|| e.to_string());
        stop.store(true, Ordering::Relaxed);
        let _ = pipeline.set_state(gst::State::Null);
        return Err(IngestError::Start {
            stream: name.to_string(),
            why,
        });
    }

    Ok(())
}

fn describe_error(
    src: Option<&gst::Object>,
    err: &gst::glib::Error,
    debug: Option<&str>,
) -> String {
    let from = src
        .map(|s| s.path_string().to_string())
        .unwrap_or_else(|| "pipeline".into());
    let element = from.rsplit('/').next().unwrap_or(&from).to_string();
    match debug {
        Some(d) if !d.is_empty() => {
            let short: String = d.lines().last().unwrap_or(d).chars().take(300).collect();
            format!("{err} (element {element}: {short})")
        }
        _ => format!("{err} (element {element})"),
    }
}

fn watch_bus(
    bus: gst::Bus,
    tx: Sender<IngestEvent>,
    stop: Arc<AtomicBool>,
    stats: Arc<IngestStats>,
    stall_media: Vec<Medium>,
    stall_timeout_s: f64,
    stream: StreamId,
) {
    let mut stalled = vec![false; stall_media.len()];
    let mut last_lost = vec![0u64; stall_media.len()];
    let mut last_reordered = vec![0u64; stall_media.len()];
    while !stop.load(Ordering::Relaxed) {
        if let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) {
            let event = match msg.view() {
                gst::MessageView::Eos(_) => Some(IngestEvent::Eos),
                gst::MessageView::Error(e) => Some(IngestEvent::Error {
                    message: describe_error(msg.src(), &e.error(), e.debug().as_deref()),
                }),
                // A decoder pad that fits only one of the branches: expected, not news.
                gst::MessageView::Warning(w)
                    if w.error().message().contains("Delayed linking failed") =>
                {
                    None
                }
                gst::MessageView::Warning(w) => Some(IngestEvent::Warning {
                    message: describe_error(msg.src(), &w.error(), w.debug().as_deref()),
                }),
                _ => None,
            };
            if let Some(ev) = event {
                let _ = tx.send_timeout(ev, Duration::from_millis(200));
            }
        }
        // Stall detection and RTP gauges, ~10 Hz.
        let now = Instant::now();
        let rtp = stats.rtp.lock().clone();
        for (i, medium) in stall_media.iter().enumerate() {
            let Some((_, s)) = rtp.iter().find(|(md, _)| md == medium) else {
                continue;
            };
            let age = s.last_packet_age_s(now);
            let labels = [
                ("stream", stream.to_string()),
                ("medium", medium.as_str().to_string()),
            ];
            metrics::gauge!(m::RTP_LAST_PACKET_AGE, &labels).set(age);
            metrics::gauge!(m::RTP_JITTER, &labels).set(s.jitter_s());
            let lost = s.lost();
            if lost > last_lost[i] {
                metrics::counter!(m::RTP_PACKETS_LOST, &labels).increment(lost - last_lost[i]);
                last_lost[i] = lost;
            }
            if s.reordered > last_reordered[i] {
                metrics::counter!(m::RTP_PACKETS_REORDERED, &labels)
                    .increment(s.reordered - last_reordered[i]);
                last_reordered[i] = s.reordered;
            }
            if !stalled[i] && age > stall_timeout_s {
                stalled[i] = true;
                let _ = tx.try_send(IngestEvent::Stalled {
                    medium: *medium,
                    for_s: age,
                });
            } else if stalled[i] && age < stall_timeout_s {
                stalled[i] = false;
                let _ = tx.try_send(IngestEvent::Resumed { medium: *medium });
            }
        }
    }
}

/// What a source format is, in a few words (`1280x720 I420 25/1`, `48000 Hz 2 ch F32LE`).
pub(crate) fn describe_caps(caps: &gst::CapsRef) -> String {
    if let Ok(v) = gstreamer_video::VideoInfo::from_caps(caps) {
        return format!(
            "{}x{} {:?} {}/{}",
            v.width(),
            v.height(),
            v.format(),
            v.fps().numer(),
            v.fps().denom()
        );
    }
    if let Ok(a) = gstreamer_audio::AudioInfo::from_caps(caps) {
        return format!("{} Hz {} ch {:?}", a.rate(), a.channels(), a.format());
    }
    // Only what the analysis can read is described: caps text can come from a user's pipeline
    // file, and state messages travel over HTTP.
    "a format the analysis does not read".into()
}

/// Report changes of the *source* format (the decoder's output: resolution, frame rate, audio
/// rate, channels) mid-stream. The analysis follows them by itself (scale and convert
/// renegotiate); this says so. A caps-event probe on the first scaler/converter of each branch:
/// it only compares and `try_send`s, never blocks the streaming thread.
/// A file's picture larger than [`crate::config::MAX_SOURCE_SIDE`] a side cannot pass the
/// `source_size` filter: say so on the bus, with the size, when the decoder asks.
fn refuse_huge_pictures(pipeline: &gst::Pipeline) {
    let Some(filter) = pipeline.by_name("source_size") else {
        return;
    };
    let Some(pad) = filter.static_pad("sink") else {
        return;
    };
    let told = std::sync::atomic::AtomicBool::new(false);
    let max = crate::config::MAX_SOURCE_SIDE as i32;
    pad.add_probe(gst::PadProbeType::QUERY_DOWNSTREAM, move |pad, info| {
        let Some(gst::PadProbeData::Query(q)) = &info.data else {
            return gst::PadProbeReturn::Ok;
        };
        let caps = match q.view() {
            gst::QueryView::AcceptCaps(a) => a.caps_owned(),
            _ => return gst::PadProbeReturn::Ok,
        };
        let side = |k: &str| {
            caps.structure(0)
                .and_then(|s| s.get::<i32>(k).ok())
                .unwrap_or(0)
        };
        let (w, h) = (side("width"), side("height"));
        if (w > max || h > max) && !told.swap(true, Ordering::Relaxed) {
            if let Some(el) = pad.parent_element() {
                let msg = format!(
                    "the picture is {w} × {h}: evalverse reads pictures of at most {max} pixels a side"
                );
                let _ = el.post_message(
                    gst::message::Error::builder(gst::StreamError::Format, &msg)
                        .src(&el)
                        .build(),
                );
            }
        }
        gst::PadProbeReturn::Ok
    });
}

fn watch_source_caps(pipeline: &gst::Pipeline, events: &Sender<IngestEvent>) {
    let mut iter = pipeline.iterate_recurse();
    let mut elements = vec![];
    while let Ok(Some(e)) = iter.next() {
        elements.push(e);
    }
    for e in elements {
        let Some(factory) = e.factory() else { continue };
        let medium = match factory.name().as_str() {
            "videoscale" | "videoconvertscale" => Medium::Video,
            "audioconvert" => Medium::Audio,
            _ => continue,
        };
        let Some(pad) = e.static_pad("sink") else {
            continue;
        };
        let last: Mutex<Option<String>> = Mutex::new(None);
        let tx = events.clone();
        pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
            if let Some(gst::PadProbeData::Event(ev)) = &info.data {
                if let gst::EventView::Caps(c) = ev.view() {
                    let now = describe_caps(c.caps());
                    let before = last.lock().replace(now.clone());
                    if let Some(before) = before.filter(|b| *b != now) {
                        let _ = tx.try_send(IngestEvent::CapsChanged {
                            medium,
                            caps: format!("source {before} → {now} (analysis follows)"),
                        });
                    }
                }
            }
            gst::PadProbeReturn::Ok
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipeline_files_are_read_up_to_a_bound() {
        let e = read_pipeline_file(Path::new("/dev/zero")).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ok.pipeline");
        std::fs::write(&p, "videotestsrc ! appsink name=video").unwrap();
        assert!(read_pipeline_file(&p).unwrap().contains("appsink"));
    }
}
