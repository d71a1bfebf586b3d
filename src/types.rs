//! The typed values that cross stage seams.
//!
//! ```text
//! ingest ──VideoFrame/AudioChunk/IngestEvent──▶ window ──FrameBatch/AudioBlock──▶ model
//!        ──FrameFeatures/AudioFeatures + Cut/Event──▶ score ──Window──▶ alert ──Alert/Verdict──▶ output
//! ```
//!
//! Times are seconds of running time (`f64`): for a file, from the start of the file; for a live
//! stream, from the moment its pipeline started, on the sender's clock when RTCP is present.
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Instant;

/// A stream's name, shared cheaply across threads and records.
pub type StreamId = Arc<str>;

/// One decoded video frame, already scaled to the analysis size, in I420.
#[derive(Clone, Debug)]
pub struct VideoFrame {
    /// 0-based index of the frame among all displayed frames of the input (dropped ones included).
    pub index: u64,
    /// Presentation time, seconds of running time.
    pub pts: f64,
    /// Frame duration when known (seconds).
    pub duration: Option<f64>,
    pub width: usize,
    pub height: usize,
    /// Luma plane, `width * height` bytes, tightly packed.
    pub luma: Vec<u8>,
    /// Cb and Cr planes, `chroma_width() * chroma_height()` bytes each, tightly packed.
    pub cb: Vec<u8>,
    pub cr: Vec<u8>,
    /// When the frame left GStreamer (for latency metrics).
    pub arrival: Instant,
    /// Decoded from a damaged bitstream: before the first keyframe, or between a lost packet
    /// (or a sender change) and the next keyframe. What it shows is the transport's doing.
    pub damaged: bool,
    /// The same frame with its longer side at `analysis.face_side` pixels (never enlarged), for
    /// the face models; `None` when that is off, and on a live stream's frames they do not want
    /// (see [`FaceDemand`]).
    pub face: Option<Arc<Picture>>,
    /// A live stream's [`FaceDemand`] (file mode makes a face picture for every frame).
    pub face_demand: Option<Arc<FaceDemand>>,
}

/// Which frames of a live stream the face models want a face picture of, shared by its ingest
/// (which scales the pictures on GStreamer's streaming thread) and its faces head (which says
/// what it needs): every frame while a face is followed or about to be looked for, else one in
/// [`FaceDemand::IDLE_EVERY`] (the detector's cadence while no face is followed). Live, the
/// evaluator keeps within a frame or two of the ingest, so a face coming into view loses at most
/// those; in file mode the evaluator runs up to a queue (64 frames) behind the decoder, which
/// would lose up to that much of a new face, so files get a picture for every frame.
#[derive(Debug)]
pub struct FaceDemand {
    every: std::sync::atomic::AtomicBool,
}

impl FaceDemand {
    /// Frames per face picture while no face is followed (the detector looks at each).
    pub const IDLE_EVERY: u64 = 12;

    /// Every frame wanted until the faces head says otherwise.
    pub fn new() -> Self {
        Self {
            every: std::sync::atomic::AtomicBool::new(true),
        }
    }

    /// Every frame (true) or one in [`Self::IDLE_EVERY`].
    pub fn want_every(&self, every: bool) {
        self.every
            .store(every, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn every(&self) -> bool {
        self.every.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Default for FaceDemand {
    fn default() -> Self {
        Self::new()
    }
}

/// A picture in I420: Y at `width × height`, Cb and Cr at half size rounded up, tightly packed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Picture {
    pub width: usize,
    pub height: usize,
    pub luma: Vec<u8>,
    pub cb: Vec<u8>,
    pub cr: Vec<u8>,
}

impl VideoFrame {
    /// A clean frame from a tightly packed I420 buffer (`width × height` luma, then Cb and
    /// Cr at half size, rounded up), arriving now: what the in-process feeds (the trainer,
    /// tests) push.
    pub fn from_i420(
        index: u64,
        pts: f64,
        duration: f64,
        (width, height): (usize, usize),
        i420: &[u8],
    ) -> Self {
        let luma = width * height;
        let chroma = width.div_ceil(2) * height.div_ceil(2);
        VideoFrame {
            index,
            pts,
            duration: Some(duration),
            width,
            height,
            luma: i420[..luma].to_vec(),
            cb: i420[luma..luma + chroma].to_vec(),
            cr: i420[luma + chroma..luma + 2 * chroma].to_vec(),
            arrival: Instant::now(),
            damaged: false,
            face: None,
            face_demand: None,
        }
    }

    pub fn chroma_width(&self) -> usize {
        self.width.div_ceil(2)
    }
    pub fn chroma_height(&self) -> usize {
        self.height.div_ceil(2)
    }
}

/// A larger luma plane for fine detail (focus, noise): the pipelines' `detail` branch, wider
/// than the analysis frame and decimated in time.
#[derive(Clone, Debug)]
pub struct DetailFrame {
    /// Presentation time, seconds of running time.
    pub pts: f64,
    pub width: usize,
    pub height: usize,
    /// `width × height` bytes, tightly packed.
    pub luma: Vec<u8>,
}

/// A run of the sound as decoded: interleaved F32 at the input's own rate and channel layout
/// (the pipelines' `sound` branch, for loudness, true peak, clipping and dropouts).
#[derive(Clone, Debug)]
pub struct SoundChunk {
    /// Presentation time of the first frame, seconds of running time.
    pub pts: f64,
    pub rate: u32,
    pub channels: u32,
    pub samples: Vec<f32>,
}

/// A run of mono audio samples at the analysis rate.
#[derive(Clone, Debug)]
pub struct AudioChunk {
    /// Presentation time of the first sample, seconds of running time.
    pub pts: f64,
    pub rate: u32,
    pub samples: Vec<f32>,
    pub arrival: Instant,
    /// Concealed or missing samples around a lost packet (the transport's doing).
    pub damaged: bool,
}

impl AudioChunk {
    pub fn end(&self) -> f64 {
        self.pts + self.samples.len() as f64 / self.rate as f64
    }
}

/// One medium of a stream: the picture and the sound, and the two extra branches an input is
/// decoded into for the picture's and the sound's craft.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Medium {
    Video,
    Audio,
    /// The sound at its own rate and layout (loudness); counted with the audio.
    Sound,
    /// The larger luma plane for focus and noise; counted with the video.
    Detail,
}

impl Medium {
    pub const ALL: [Medium; 4] = [Medium::Video, Medium::Audio, Medium::Sound, Medium::Detail];

    pub fn as_str(self) -> &'static str {
        match self {
            Medium::Video => "video",
            Medium::Audio => "audio",
            Medium::Sound => "sound",
            Medium::Detail => "detail",
        }
    }

    /// The track it belongs to: the detail with the video, the sound with the audio.
    pub fn track(self) -> Medium {
        match self {
            Medium::Video | Medium::Detail => Medium::Video,
            Medium::Audio | Medium::Sound => Medium::Audio,
        }
    }

    /// Its track's index in per-track arrays: 0 for the video, 1 for the audio.
    pub fn index(self) -> usize {
        match self.track() {
            Medium::Video => 0,
            _ => 1,
        }
    }
}

impl std::fmt::Display for Medium {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which media a stream carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Media {
    pub video: bool,
    pub audio: bool,
}

/// What a stream's ingest reports besides media.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IngestEvent {
    /// The pipeline is running; `media` says which branches are linked (known for files once the
    /// decoder has exposed all its pads; for RTP, what the config declares).
    Started { media: Media },
    /// Negotiated format of a branch changed (e.g. resolution change mid-stream).
    CapsChanged { medium: Medium, caps: String },
    /// No RTP packets (or no decoded media) for `for_s` seconds.
    Stalled { medium: Medium, for_s: f64 },
    /// Data flows again after a stall.
    Resumed { medium: Medium },
    /// A sender (RTP SSRC) became the one a branch follows: the first, or one that took over
    /// from a sender gone quiet (an encoder restart) — `previous` says which.
    SenderChanged {
        medium: Medium,
        ssrc: u32,
        previous: Option<u32>,
    },
    /// A branch reached its end.
    BranchEos { medium: Medium },
    /// The whole input ended.
    Eos,
    /// The pipeline failed; the stream is over.
    Error { message: String },
    /// A non-fatal warning from GStreamer.
    Warning { message: String },
}

/// Lifecycle state of a stream, exported as a metric and in `GET /v1/streams`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamState {
    Starting,
    Running,
    Stalled,
    Ended,
    Failed,
}

impl StreamState {
    pub const ALL: [StreamState; 5] = [
        StreamState::Starting,
        StreamState::Running,
        StreamState::Stalled,
        StreamState::Ended,
        StreamState::Failed,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            StreamState::Starting => "starting",
            StreamState::Running => "running",
            StreamState::Stalled => "stalled",
            StreamState::Ended => "ended",
            StreamState::Failed => "failed",
        }
    }
}

/// How timestamps relate to the source (reported with every sync figure).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Timing {
    /// Container timestamps of a file.
    #[default]
    File,
    /// RTP mapped to the sender's clock by RTCP sender reports.
    SenderClock,
    /// RTP timed by packet arrival (no RTCP): skew may be the network's, lower confidence.
    Arrival,
}

impl Timing {
    pub fn as_str(self) -> &'static str {
        match self {
            Timing::File => "file",
            Timing::SenderClock => "sender_clock",
            Timing::Arrival => "arrival",
        }
    }
}
