//! Settings: plain serde data with defaults (`DEFAULT_*`) and validation with clear errors.
//!
//! Settings are what the user writes (`evalverse.toml`); run-time state is built from them when
//! a stream starts and dropped when it stops.
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use thiserror::Error;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:9800";
/// Largest config file read (a config with many streams and rules is a few tens of KB).
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;
pub const DEFAULT_ANALYSIS_WIDTH: u32 = 160;
pub const DEFAULT_AUDIO_RATE: u32 = 16_000;
/// The face picture's longer side: a close-up's face ~130 px, about the mesh's 192-px crop.
pub const DEFAULT_FACE_SIDE: u32 = 512;
pub const DEFAULT_WINDOW_S: f64 = 4.0;
pub const DEFAULT_HOP_S: f64 = 1.0;
pub const DEFAULT_SYNC_HORIZON_S: f64 = 12.0;
pub const DEFAULT_SYNC_SEARCH_MS: f64 = 2000.0;
pub const DEFAULT_MIN_EVENT_S: f64 = 0.5;
/// Off by default: the detail plane (focus, noise) costs ~17 % of a 720p file's evaluation
/// (docs/picture.md); 480 turns it on.
pub const DEFAULT_DETAIL_WIDTH: u32 = 0;
pub const DEFAULT_DETAIL_FPS: u32 = 10;
/// A forward timestamp jump larger than this is a discontinuity (folded away and reported).
pub const DEFAULT_DISCONTINUITY_S: f64 = 5.0;
pub const DEFAULT_BATCH_FRAMES: usize = 8;
pub const DEFAULT_LATENCY_MS: u32 = 200;
pub const DEFAULT_STALL_TIMEOUT_S: f64 = 3.0;
pub const DEFAULT_MAX_STREAMS: usize = 64;
pub const DEFAULT_QUEUE_FRAMES: usize = 64;
/// A still frame repeats its predecessor to within this mean absolute luma difference (0–1, on
/// the analysis frame). ffmpeg's freezedetect default (−60 dB of full scale at full resolution)
/// corresponds to about 0.0002–0.0003 here: downscaling averages the noise away.
pub const DEFAULT_FREEZE_MAD: f32 = 0.0003;
/// The picture is moving when the median `mad` of its last frames is at least this.
pub const DEFAULT_MOTION_MAD: f32 = 0.001;
pub const DEFAULT_BLACK_LUMA: f32 = 32.0 / 255.0;
pub const DEFAULT_BLACK_RATIO: f32 = 0.98;
pub const DEFAULT_SILENCE_DB: f32 = -60.0;
/// Quiet also means this far below the stream's own level (dB).
pub const DEFAULT_SILENCE_RELATIVE_DB: f32 = 30.0;
pub const DEFAULT_FLICKER_AMPLITUDE: f32 = 0.02;
/// A client must send a request's whole header within this many seconds (slow-header clients).
pub const DEFAULT_HEADER_TIMEOUT_S: f64 = 10.0;
/// A request (body included) must be answered within this many seconds; event streams are not
/// cut by it (their response starts at once).
pub const DEFAULT_REQUEST_TIMEOUT_S: f64 = 30.0;
/// Open HTTP connections at once; more are answered 503 and closed.
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
/// Clients of `GET /v1/events` at once; more get 503.
pub const DEFAULT_MAX_EVENT_CLIENTS: usize = 32;
/// Seconds an ended or failed stream keeps its name, slot and metric series before it is
/// reaped (its final record stays readable through the API).
pub const DEFAULT_RETENTION_S: f64 = 300.0;
/// Seconds the webhooks still queued get at shutdown.
pub const DEFAULT_SHUTDOWN_GRACE_S: f64 = 5.0;
/// Largest raw-video frame side a stream may declare, pixels.
pub const MAX_RAW_SIDE: u32 = 8192;
/// Largest picture side a file or URI input may have (8K video is 7680 × 4320): a larger
/// picture (a 16000 × 16000 image would take over a gigabyte a frame) is refused before it is
/// decoded.
pub const MAX_SOURCE_SIDE: u32 = 8192;
/// Largest pipeline file read (a launch description is a few hundred bytes; this keeps a
/// mistaken `pipeline = "/dev/zero"` from eating memory).
pub const MAX_PIPELINE_FILE: u64 = 64 * 1024;
/// Longest `uri`, `pipeline` path or webhook URL accepted, bytes.
pub const MAX_LOCATION_LEN: usize = 4096;
/// Most alert rules in one config.
pub const MAX_ALERT_RULES: usize = 256;

/// Errors in a configuration a user wrote. Messages name the field and what would be valid.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {why}")]
    Read {
        path: PathBuf,
        why: crate::files::SmallFileError,
    },
    /// `message`: the parser's words, cut to a short excerpt of the offending line.
    #[error("config {path} is not valid TOML for evalverse: {message}")]
    Parse { path: PathBuf, message: String },
    /// Valid TOML that evalverse cannot take: a key it does not know (a typo, a key of another
    /// table), a value of the wrong type, a table without a key it needs.
    #[error("config {path}, line {line}: {message} (every key: evalverse.example.toml)")]
    UnknownKey {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("invalid setting `{field}`: {why}")]
    Invalid { field: String, why: String },
}

fn invalid(field: impl Into<String>, why: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        why: why.into(),
    }
}

/// Which Burn backend runs the model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// burn-wgpu on a hardware GPU when one exists, otherwise the CPU backend.
    #[default]
    Auto,
    /// The CPU backend (burn-ndarray).
    Cpu,
    /// burn-wgpu on whatever adapter exists (a software Vulkan adapter included).
    Wgpu,
}

/// Who decides whether the sync head commits to an estimate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SyncHead {
    /// The learned commitment head (`weights/sync_commit.json`, see `evalverse train`).
    #[default]
    Learned,
    /// The hand-set rules alone (≥ 3 matches above chance, unambiguous peak, tight spread).
    Rules,
}

/// How the analysis runs; shared by every stream of a process.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AnalysisSettings {
    /// Analysis frame width in pixels (height keeps the aspect ratio, square pixels).
    pub width: u32,
    /// Analysis audio rate in Hz (mono F32).
    pub audio_rate: u32,
    /// Window length in seconds for rolling scores.
    pub window_s: f64,
    /// Hop between windows in seconds (≤ 1 s keeps scores "second by second").
    pub hop_s: f64,
    /// How much history the sync head looks at, seconds.
    pub sync_horizon_s: f64,
    /// Largest audio delay searched for, ± milliseconds.
    pub sync_search_ms: f64,
    /// Minimum duration of a freeze/black/silence/flicker event, seconds.
    pub min_event_s: f64,
    /// A forward jump of a medium's timestamps larger than this (or a backward one larger than
    /// 1 s) is a discontinuity: reported, and folded out of the stream's timeline.
    pub discontinuity_s: f64,
    /// Frames per model call (more amortises overhead, fewer lowers live latency).
    pub batch_frames: usize,
    pub backend: BackendChoice,
    /// Sync commitment: `learned` (default) or `rules`.
    pub sync_head: SyncHead,
    /// An expert calibration written by `evalverse calibrate`: windows and summaries gain
    /// `calibrated` scores on the raters' scale.
    pub calibration: Option<std::path::PathBuf>,
    /// Measure the sound at its own rate and layout (EBU R 128 loudness, true peak, clipping,
    /// dropouts: the `sound` dimension). Off: the built-in pipelines leave that branch out.
    pub sound: bool,
    /// Width of the detail plane (luma, for focus and noise: the `blur` and `noise` events),
    /// e.g. 480; 0 (the default: it costs ~17 % in file mode) leaves that branch out.
    pub detail_width: u32,
    /// Detail frames per second at most (focus does not change 30 times a second).
    pub detail_fps: u32,
    /// The longer side of the picture the face models look at, pixels (a frame is never
    /// enlarged); 0 turns faces and lip sync off.
    pub face_side: u32,
    pub detectors: DetectorSettings,
}

impl Default for AnalysisSettings {
    fn default() -> Self {
        Self {
            width: DEFAULT_ANALYSIS_WIDTH,
            audio_rate: DEFAULT_AUDIO_RATE,
            window_s: DEFAULT_WINDOW_S,
            hop_s: DEFAULT_HOP_S,
            sync_horizon_s: DEFAULT_SYNC_HORIZON_S,
            sync_search_ms: DEFAULT_SYNC_SEARCH_MS,
            min_event_s: DEFAULT_MIN_EVENT_S,
            discontinuity_s: DEFAULT_DISCONTINUITY_S,
            batch_frames: DEFAULT_BATCH_FRAMES,
            backend: BackendChoice::Auto,
            sync_head: SyncHead::Learned,
            sound: true,
            detail_width: DEFAULT_DETAIL_WIDTH,
            detail_fps: DEFAULT_DETAIL_FPS,
            face_side: DEFAULT_FACE_SIDE,
            calibration: None,
            detectors: DetectorSettings::default(),
        }
    }
}

/// Thresholds of the continuity detectors (luma in 0–1, audio in dBFS).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DetectorSettings {
    /// A frame is still when its mean absolute luma difference to the previous is at most this
    /// (and at most a quarter of its shot's noise floor).
    pub freeze_mad: f32,
    /// A still run is a freeze only when the median mean absolute luma difference of the frames
    /// of the same shot just before it is at least this (the picture stopped mid-motion).
    pub motion_mad: f32,
    /// A pixel is black at or below this luma.
    pub black_luma: f32,
    /// A frame is black when at least this share of its pixels is black.
    pub black_ratio: f32,
    /// Audio is quiet below this RMS level (dBFS, 10 ms blocks) ...
    pub silence_db: f32,
    /// ... and this many dB below the stream's own (slowly averaged) level.
    pub silence_relative_db: f32,
    /// Smallest frame-to-frame luma oscillation (peak-to-peak, 0–1) that counts as flicker.
    pub flicker_amplitude: f32,
}

impl Default for DetectorSettings {
    fn default() -> Self {
        Self {
            freeze_mad: DEFAULT_FREEZE_MAD,
            motion_mad: DEFAULT_MOTION_MAD,
            black_luma: DEFAULT_BLACK_LUMA,
            black_ratio: DEFAULT_BLACK_RATIO,
            silence_db: DEFAULT_SILENCE_DB,
            silence_relative_db: DEFAULT_SILENCE_RELATIVE_DB,
            flicker_amplitude: DEFAULT_FLICKER_AMPLITUDE,
        }
    }
}

/// Video codecs the built-in RTP pipelines receive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VideoCodec {
    #[default]
    H264,
    /// RFC 4175 raw video (YCbCr 4:2:0, 8 bit); needs `width` and `height`.
    Raw,
}

/// Audio codecs the built-in RTP pipelines receive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AudioCodec {
    #[default]
    Opus,
    /// RFC 3551 L16 (big-endian 16-bit PCM).
    L16,
}

/// One RTP video session (RTCP on `port + 1`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RtpVideo {
    pub port: u16,
    #[serde(default)]
    pub codec: VideoCodec,
    #[serde(default = "default_video_pt")]
    pub payload: u8,
    /// Raw video only: the sender's frame size (even, 16–8192 pixels).
    pub width: Option<u32>,
    pub height: Option<u32>,
}

/// One RTP audio session (RTCP on `port + 1`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RtpAudio {
    pub port: u16,
    #[serde(default)]
    pub codec: AudioCodec,
    #[serde(default = "default_audio_pt")]
    pub payload: u8,
    /// L16 only: clock rate and channels of the sender.
    #[serde(default = "default_l16_rate")]
    pub clock_rate: u32,
    #[serde(default = "default_channels")]
    pub channels: u32,
}

fn default_video_pt() -> u8 {
    96
}
fn default_audio_pt() -> u8 {
    97
}
fn default_l16_rate() -> u32 {
    48_000
}
fn default_channels() -> u32 {
    1
}
fn default_address() -> String {
    "127.0.0.1".into()
}
fn default_latency() -> u32 {
    DEFAULT_LATENCY_MS
}
fn default_stall() -> f64 {
    DEFAULT_STALL_TIMEOUT_S
}

/// One stream to evaluate: RTP sessions or a URI, optionally with a pipeline file of one's own.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StreamSettings {
    pub name: String,
    /// Address the UDP sockets bind to.
    #[serde(default = "default_address")]
    pub address: String,
    pub video: Option<RtpVideo>,
    pub audio: Option<RtpAudio>,
    /// A file path or URI instead of RTP.
    pub uri: Option<String>,
    /// A launch description of one's own (same appsink naming contract as `pipelines/`).
    pub pipeline: Option<PathBuf>,
    /// Jitter-buffer latency, milliseconds.
    #[serde(default = "default_latency")]
    pub latency_ms: u32,
    /// Seconds without packets before the stream counts as stalled.
    #[serde(default = "default_stall")]
    pub stall_timeout_s: f64,
    /// What an API definition's `pipeline` and `uri` name, opened when they were admitted
    /// ([`ApiSources::admit`]): what runs is what was checked, whatever the paths become.
    #[serde(skip)]
    pub opened: Opened,
}

/// Files opened when an API definition was admitted.
#[derive(Clone, Default)]
pub struct Opened {
    /// The pipeline file's text.
    pub pipeline_text: Option<std::sync::Arc<str>>,
    /// The media file, kept open while the stream runs; GStreamer reads it through
    /// `/proc/self/fd/N`, which reopens this very file, not the path.
    pub media: Option<std::sync::Arc<std::fs::File>>,
}

impl Opened {
    /// The URI GStreamer reads the opened media file by.
    pub fn media_uri(&self) -> Option<String> {
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            self.media
                .as_ref()
                .map(|f| format!("file:///proc/self/fd/{}", f.as_raw_fd()))
        }
        #[cfg(not(unix))]
        None
    }
}

impl PartialEq for Opened {
    fn eq(&self, other: &Self) -> bool {
        let same_file = match (&self.media, &other.media) {
            (Some(a), Some(b)) => std::sync::Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        same_file && self.pipeline_text == other.pipeline_text
    }
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field(
                "pipeline_text",
                &self.pipeline_text.as_ref().map(|t| t.len()),
            )
            .field("media", &self.media.is_some())
            .finish()
    }
}

impl StreamSettings {
    /// An RTP stream with H.264 video on `video_port` and Opus audio on `audio_port`.
    pub fn rtp(name: &str, video_port: Option<u16>, audio_port: Option<u16>) -> Self {
        Self {
            name: name.into(),
            address: default_address(),
            video: video_port.map(|port| RtpVideo {
                port,
                codec: VideoCodec::H264,
                payload: default_video_pt(),
                width: None,
                height: None,
            }),
            audio: audio_port.map(|port| RtpAudio {
                port,
                codec: AudioCodec::Opus,
                payload: default_audio_pt(),
                clock_rate: default_l16_rate(),
                channels: default_channels(),
            }),
            uri: None,
            pipeline: None,
            latency_ms: DEFAULT_LATENCY_MS,
            stall_timeout_s: DEFAULT_STALL_TIMEOUT_S,
            opened: Opened::default(),
        }
    }

    /// The UDP ports the stream binds: each RTP port and its RTCP port (+ 1).
    pub fn udp_ports(&self) -> Vec<u16> {
        let mut p = vec![];
        if let Some(v) = &self.video {
            p.extend([v.port, v.port.saturating_add(1)]);
        }
        if let Some(a) = &self.audio {
            p.extend([a.port, a.port.saturating_add(1)]);
        }
        p
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let f = |k: &str| format!("streams.{}.{k}", self.name);
        // Names become metric labels, URL path segments and thread names: no `.`/`..`.
        if self.name.len() > 64
            || !self.name.starts_with(|c: char| c.is_ascii_alphanumeric())
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(invalid(
                "streams.name",
                format!(
                    "{:?}: use 1–64 characters from A-Z a-z 0-9 - _ ., starting with a letter or digit",
                    self.name
                ),
            ));
        }
        let has_rtp = self.video.is_some() || self.audio.is_some();
        if self.uri.is_some() && has_rtp {
            return Err(invalid(
                f("uri"),
                "give either `uri` or RTP `video`/`audio`, not both",
            ));
        }
        if self.uri.is_none() && !has_rtp && self.pipeline.is_none() {
            return Err(invalid(
                f("video"),
                "a stream needs `uri`, RTP `video`/`audio`, or `pipeline`",
            ));
        }
        if self.address.parse::<std::net::IpAddr>().is_err() {
            return Err(invalid(
                f("address"),
                format!("{:?} is not an IP address", self.address),
            ));
        }
        let mut ports = vec![];
        if let Some(v) = &self.video {
            if v.port == 0 || v.port == u16::MAX {
                return Err(invalid(
                    f("video.port"),
                    "must be 1–65534 (RTCP uses port + 1)",
                ));
            }
            if v.codec == VideoCodec::Raw && (v.width.is_none() || v.height.is_none()) {
                return Err(invalid(f("video"), "raw video needs `width` and `height`"));
            }
            for (k, side) in [("video.width", v.width), ("video.height", v.height)] {
                if let Some(side) = side
                    && (!(16..=MAX_RAW_SIDE).contains(&side) || !side.is_multiple_of(2))
                {
                    return Err(invalid(
                        f(k),
                        format!("{side}: must be an even number of pixels, 16–{MAX_RAW_SIDE}"),
                    ));
                }
            }
            if v.payload < 96 || v.payload > 127 {
                return Err(invalid(
                    f("video.payload"),
                    "dynamic payload types are 96–127",
                ));
            }
            ports.extend([v.port, v.port + 1]);
        }
        if let Some(a) = &self.audio {
            if a.port == 0 || a.port == u16::MAX {
                return Err(invalid(
                    f("audio.port"),
                    "must be 1–65534 (RTCP uses port + 1)",
                ));
            }
            if a.payload < 96 || a.payload > 127 {
                return Err(invalid(
                    f("audio.payload"),
                    "dynamic payload types are 96–127",
                ));
            }
            if !(1..=8).contains(&a.channels) {
                return Err(invalid(f("audio.channels"), "must be 1–8"));
            }
            if !(8000..=192_000).contains(&a.clock_rate) {
                return Err(invalid(f("audio.clock_rate"), "must be 8000–192000 Hz"));
            }
            if ports.contains(&a.port) || ports.contains(&(a.port + 1)) {
                return Err(invalid(
                    f("audio.port"),
                    "overlaps the video RTP/RTCP ports",
                ));
            }
        }
        if let Some(uri) = &self.uri
            && (uri.is_empty() || uri.len() > MAX_LOCATION_LEN || uri.chars().any(char::is_control))
        {
            return Err(invalid(
                f("uri"),
                format!("must be 1–{MAX_LOCATION_LEN} bytes without control characters"),
            ));
        }
        if let Some(p) = &self.pipeline {
            let len = p.as_os_str().len();
            if len == 0 || len > MAX_LOCATION_LEN {
                return Err(invalid(
                    f("pipeline"),
                    format!("must be a path of 1–{MAX_LOCATION_LEN} bytes"),
                ));
            }
        }
        if !(10..=10_000).contains(&self.latency_ms) {
            return Err(invalid(f("latency_ms"), "must be 10–10000"));
        }
        if !(0.2..=3600.0).contains(&self.stall_timeout_s) {
            return Err(invalid(f("stall_timeout_s"), "must be 0.2–3600 seconds"));
        }
        Ok(())
    }
}

impl AnalysisSettings {
    fn validate_detail(&self) -> Result<(), ConfigError> {
        let a = |f: &str| format!("analysis.{f}");
        if self.detail_width != 0 && !(64..=1920).contains(&self.detail_width) {
            return Err(invalid(
                a("detail_width"),
                "must be 0 (off) or 64–1920 pixels",
            ));
        }
        if self.face_side != 0 && !(128..=1920).contains(&self.face_side) {
            return Err(invalid(a("face_side"), "must be 0 (off) or 128–1920"));
        }
        if !(1..=120).contains(&self.detail_fps) {
            return Err(invalid(a("detail_fps"), "must be 1–120"));
        }
        Ok(())
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let a = |k: &str| format!("analysis.{k}");
        if !(32..=1920).contains(&self.width) || !self.width.is_multiple_of(2) {
            return Err(invalid(
                a("width"),
                "must be an even number of pixels, 32–1920",
            ));
        }
        if !(8000..=48_000).contains(&self.audio_rate) {
            return Err(invalid(a("audio_rate"), "must be 8000–48000 Hz"));
        }
        if !(self.window_s.is_finite() && (1.0..=120.0).contains(&self.window_s)) {
            return Err(invalid(a("window_s"), "must be 1–120 seconds"));
        }
        if !(self.hop_s.is_finite() && self.hop_s >= 0.1 && self.hop_s <= self.window_s) {
            return Err(invalid(
                a("hop_s"),
                "must be at least 0.1 s and at most window_s",
            ));
        }
        if !(self.sync_horizon_s.is_finite() && (2.0..=600.0).contains(&self.sync_horizon_s)) {
            return Err(invalid(a("sync_horizon_s"), "must be 2–600 seconds"));
        }
        if !(self.sync_search_ms.is_finite() && (100.0..=5000.0).contains(&self.sync_search_ms)) {
            return Err(invalid(a("sync_search_ms"), "must be 100–5000 ms"));
        }
        if !(self.min_event_s.is_finite() && (0.04..=60.0).contains(&self.min_event_s)) {
            return Err(invalid(a("min_event_s"), "must be 0.04–60 seconds"));
        }
        if !(self.discontinuity_s.is_finite() && (1.0..=3600.0).contains(&self.discontinuity_s)) {
            return Err(invalid(a("discontinuity_s"), "must be 1–3600 seconds"));
        }
        if !(1..=256).contains(&self.batch_frames) {
            return Err(invalid(a("batch_frames"), "must be 1–256"));
        }
        self.validate_detail()?;
        let d = &self.detectors;
        let unit = |v: f32| v.is_finite() && (0.0..=1.0).contains(&v);
        if !unit(d.freeze_mad)
            || !unit(d.motion_mad)
            || !unit(d.black_luma)
            || !unit(d.black_ratio)
            || !unit(d.flicker_amplitude)
        {
            return Err(invalid(
                "analysis.detectors",
                "freeze_mad, motion_mad, black_luma, black_ratio and flicker_amplitude are fractions in 0–1",
            ));
        }
        if !(d.silence_db.is_finite() && (-120.0..=0.0).contains(&d.silence_db)) {
            return Err(invalid(
                "analysis.detectors.silence_db",
                "must be -120–0 dBFS",
            ));
        }
        if !(d.silence_relative_db.is_finite() && (0.0..=120.0).contains(&d.silence_relative_db)) {
            return Err(invalid(
                "analysis.detectors.silence_relative_db",
                "must be 0–120 dB",
            ));
        }
        Ok(())
    }
}

/// The whole configuration file of `evalverse serve`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub analysis: AnalysisSettings,
    pub alerting: AlertingSettings,
    /// Alert rules; the built-in ones (`alert::default_rules`) when none are given.
    pub alerts: Vec<crate::vocab::AlertRule>,
    pub streams: Vec<StreamSettings>,
}

/// Where alerts go besides JSON lines and metrics.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AlertingSettings {
    /// POST every alert with action `webhook` or `stop` here (JSON).
    pub webhook: Option<String>,
    /// POST the verdict here when a stream's verdict turns to `stop` (e.g. the render farm).
    pub stop_webhook: Option<String>,
    /// Attempts per delivery (with exponential backoff from 0.5 s).
    pub retries: u32,
    pub timeout_s: f64,
    /// At shutdown (SIGTERM, SIGINT, dropping the evaluator), queued deliveries get this long.
    pub shutdown_grace_s: f64,
}

impl Default for AlertingSettings {
    fn default() -> Self {
        Self {
            webhook: None,
            stop_webhook: None,
            retries: 3,
            timeout_s: 2.0,
            shutdown_grace_s: DEFAULT_SHUTDOWN_GRACE_S,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address of the HTTP server (`/metrics`, `/v1/...`). A non-loopback address needs a token.
    pub listen: String,
    /// Most streams one process evaluates at once.
    pub max_streams: usize,
    /// Frames buffered between GStreamer and the evaluator per stream (full → dropped, counted).
    pub queue_frames: usize,
    /// What streams added over the HTTP API may read besides RTP: nothing unless listed here.
    pub api_sources: ApiSources,
    /// `/metrics` answers without the token (scrapers often cannot send one). `/healthz` always
    /// does; every `/v1/` endpoint needs the token when one is set.
    pub open_metrics: bool,
    /// Host names accepted in the `Host` header on a loopback bind besides `localhost` and
    /// loopback IP literals (e.g. the name a local reverse proxy forwards). Guards against DNS
    /// rebinding.
    pub allowed_hosts: Vec<String>,
    /// Origins (`scheme://host[:port]`) accepted in an `Origin` header besides the server's own.
    pub allowed_origins: Vec<String>,
    /// Seconds a client has to send a request's header before the connection is closed.
    pub header_timeout_s: f64,
    /// Seconds a request (body included) may take before it is answered 408.
    pub request_timeout_s: f64,
    /// Open HTTP connections at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// Clients of `GET /v1/events` at once; more get 503.
    pub max_event_clients: usize,
    /// Seconds an ended or failed stream is kept (name, slot, metric series) before it is
    /// reaped; its final record stays readable at `GET /v1/streams/{id}`.
    pub retention_s: f64,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.into(),
            max_streams: DEFAULT_MAX_STREAMS,
            queue_frames: DEFAULT_QUEUE_FRAMES,
            api_sources: ApiSources::default(),
            open_metrics: true,
            allowed_hosts: vec![],
            allowed_origins: vec![],
            header_timeout_s: DEFAULT_HEADER_TIMEOUT_S,
            request_timeout_s: DEFAULT_REQUEST_TIMEOUT_S,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_event_clients: DEFAULT_MAX_EVENT_CLIENTS,
            retention_s: DEFAULT_RETENTION_S,
        }
    }
}

impl ServerSettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(invalid(
                "server.listen",
                format!("{:?} is not ADDR:PORT", self.listen),
            ));
        }
        if !(1..=4096).contains(&self.max_streams) {
            return Err(invalid("server.max_streams", "must be 1–4096"));
        }
        if !(4..=4096).contains(&self.queue_frames) {
            return Err(invalid("server.queue_frames", "must be 4–4096"));
        }
        if !(self.header_timeout_s.is_finite() && (0.5..=300.0).contains(&self.header_timeout_s)) {
            return Err(invalid(
                "server.header_timeout_s",
                "must be 0.5–300 seconds",
            ));
        }
        if !(self.request_timeout_s.is_finite() && (1.0..=3600.0).contains(&self.request_timeout_s))
        {
            return Err(invalid(
                "server.request_timeout_s",
                "must be 1–3600 seconds",
            ));
        }
        if !(self.retention_s.is_finite() && (0.0..=604_800.0).contains(&self.retention_s)) {
            return Err(invalid("server.retention_s", "must be 0–604800 seconds"));
        }
        if !(4..=65_536).contains(&self.max_connections) {
            return Err(invalid("server.max_connections", "must be 4–65536"));
        }
        if self.max_event_clients == 0 || self.max_event_clients >= self.max_connections {
            return Err(invalid(
                "server.max_event_clients",
                "must be at least 1 and below server.max_connections (event clients hold a connection each)",
            ));
        }
        for h in &self.allowed_hosts {
            let ok = !h.is_empty()
                && h.len() <= 253
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._[]:".contains(c));
            if !ok {
                return Err(invalid(
                    "server.allowed_hosts",
                    format!("{h:?}: a host name or IP literal, without port"),
                ));
            }
        }
        for o in &self.allowed_origins {
            let ok = (o.starts_with("http://") || o.starts_with("https://"))
                && o.len() <= 300
                && o.bytes().all(|b| b.is_ascii_graphic())
                && !o
                    .trim_start_matches("https://")
                    .trim_start_matches("http://")
                    .contains('/');
            if !ok {
                return Err(invalid(
                    "server.allowed_origins",
                    format!("{o:?}: an origin is scheme://host[:port], no path"),
                ));
            }
        }
        self.api_sources.validate()
    }
}

/// What a stream definition sent over the HTTP API may name besides RTP sessions. By default
/// nothing: `pipeline` and `uri` come from the operator's config file only. Paths are resolved
/// (symlinks, `..`) before they are compared, so nothing outside `dirs` can be reached.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ApiSources {
    /// Directories whose regular files (pipeline files, media files given as a path or a
    /// `file://` URI) API streams may name. Absolute paths.
    pub dirs: Vec<PathBuf>,
    /// URI schemes other than `file` API streams may use as `uri` (e.g. `rtsp`, `srt`). The
    /// server then connects wherever the client says: list only what your network allows.
    pub schemes: Vec<String>,
}

/// A stream definition from the HTTP API names something the operator did not allow. The
/// message never says whether a path exists or what it holds.
#[derive(Debug, Error)]
#[error("`{field}` is not allowed over the API: {why}")]
pub struct SourceRefused {
    pub field: &'static str,
    pub why: String,
}

fn is_scheme(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.len() <= 32
        && c.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

impl ApiSources {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let k = "server.api_sources.dirs";
        if self.dirs.len() > 64 || self.schemes.len() > 64 {
            return Err(invalid(
                "server.api_sources",
                "at most 64 dirs and 64 schemes",
            ));
        }
        for d in &self.dirs {
            if !d.is_absolute() {
                return Err(invalid(
                    k,
                    format!("{}: give an absolute path", d.display()),
                ));
            }
            match std::fs::canonicalize(d) {
                Ok(c) if c.parent().is_none() => {
                    return Err(invalid(k, "`/` would expose every file of the server"));
                }
                Ok(c) if c.is_dir() => {}
                _ => {
                    return Err(invalid(
                        k,
                        format!("{}: not an existing directory", d.display()),
                    ));
                }
            }
        }
        for s in &self.schemes {
            if !is_scheme(s) {
                return Err(invalid(
                    "server.api_sources.schemes",
                    format!("{s:?} is not a URI scheme"),
                ));
            }
            if s.eq_ignore_ascii_case("file") {
                return Err(invalid(
                    "server.api_sources.schemes",
                    "`file` URIs are governed by server.api_sources.dirs",
                ));
            }
        }
        Ok(())
    }

    /// The definition as it may run, when everything it names is allowed: paths replaced by
    /// their resolved form (`uri` by a `file://` URI), so what runs is what was checked.
    ///
    /// A file is opened here, once, below one of `dirs` without following any symbolic link
    /// on the way ([`crate::files::open_beneath`]), checked as opened (a regular file), and
    /// kept: the pipeline file's text is read now, the media file stays open for the stream
    /// ([`Opened`]). A path swapped for a link after the check cannot lead outside.
    pub fn admit(&self, mut s: StreamSettings) -> Result<StreamSettings, SourceRefused> {
        if let Some(p) = s.pipeline.clone() {
            let Some(file) = self.open_under_dirs(&p) else {
                return Err(self.refuse_path("pipeline", &p.to_string_lossy()));
            };
            let text = crate::files::read_opened(file, MAX_PIPELINE_FILE, "pipeline file")
                .map_err(|e| SourceRefused {
                    field: "pipeline",
                    why: e.to_string(),
                })?;
            s.opened.pipeline_text = Some(text.into());
        }
        if let Some(u) = s.uri.take() {
            let (uri, file) = self.admit_uri(&u)?;
            s.uri = Some(uri);
            s.opened.media = file.map(std::sync::Arc::new);
        }
        Ok(s)
    }

    fn refuse_path(&self, field: &'static str, given: &str) -> SourceRefused {
        let why = if self.dirs.is_empty() {
            "files are named in the server's config file only (server.api_sources.dirs is empty)"
                .to_string()
        } else {
            let shown: String = given.chars().take(200).collect();
            format!(
                "{shown:?} is not the absolute path of a regular file under server.api_sources.dirs"
            )
        };
        SourceRefused { field, why }
    }

    /// The regular file `p` names below one of `dirs`, opened without following links.
    fn open_under_dirs(&self, p: &Path) -> Option<std::fs::File> {
        if self.dirs.is_empty() || !p.is_absolute() {
            return None;
        }
        #[cfg(unix)]
        {
            let file = self
                .dirs
                .iter()
                .find_map(|d| crate::files::open_beneath(d, p).ok())?;
            crate::files::check_regular(&file, u64::MAX, "media file").ok()?;
            Some(file)
        }
        #[cfg(not(unix))]
        None
    }

    /// The URI to run and, for a file, the file opened.
    fn admit_uri(&self, u: &str) -> Result<(String, Option<std::fs::File>), SourceRefused> {
        use gstreamer::glib;
        let file_uri = |p: &Path| {
            let file = self
                .open_under_dirs(p)
                .ok_or_else(|| self.refuse_path("uri", u))?;
            let uri = glib::filename_to_uri(p, None)
                .map(|u| u.to_string())
                .map_err(|_| self.refuse_path("uri", u))?;
            Ok((uri, Some(file)))
        };
        let Some((scheme, _)) = u.split_once("://") else {
            return file_uri(Path::new(u));
        };
        if !is_scheme(scheme) {
            return Err(SourceRefused {
                field: "uri",
                why: "not a path or a URI".into(),
            });
        }
        if scheme.eq_ignore_ascii_case("file") {
            return match glib::filename_from_uri(u) {
                Ok((path, host))
                    if host
                        .as_deref()
                        .is_none_or(|h| h.is_empty() || h == "localhost") =>
                {
                    file_uri(&path)
                }
                _ => Err(self.refuse_path("uri", u)),
            };
        }
        if !self.schemes.iter().any(|s| s.eq_ignore_ascii_case(scheme)) {
            return Err(SourceRefused {
                field: "uri",
                why: format!(
                    "scheme {:?} is not in server.api_sources.schemes",
                    scheme.to_ascii_lowercase()
                ),
            });
        }
        // RFC 3986 characters only: nothing that could end a quoted value in a launch line.
        if !u
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"\"\\<>^`{|}".contains(&b))
        {
            return Err(SourceRefused {
                field: "uri",
                why: "characters outside RFC 3986 (percent-encode them)".into(),
            });
        }
        Ok((u.to_string(), None))
    }
}

/// A parser error as the user needs it: an unknown key named with its line and every key its
/// table takes; anything else as the parser's words, cut short.
fn parse_error(path: &Path, text: &str, e: &toml::de::Error) -> ConfigError {
    let data = [
        "unknown field",
        "invalid type",
        "invalid value",
        "missing field",
    ];
    if data.iter().any(|d| e.message().starts_with(d)) {
        let line = e.span().map_or(0, |s| {
            text[..s.start.min(text.len())].matches('\n').count() + 1
        });
        let message = e.message().replace("unknown field", "unknown key");
        return ConfigError::UnknownKey {
            path: path.into(),
            line,
            message: message.chars().take(600).collect(),
        };
    }
    ConfigError::Parse {
        path: path.into(),
        message: crate::files::excerpt(&e.to_string()),
    }
}

impl Settings {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = crate::files::read_text(path, MAX_CONFIG_BYTES, "config").map_err(|why| {
            ConfigError::Read {
                path: path.into(),
                why,
            }
        })?;
        let settings: Settings = toml::from_str(&text).map_err(|e| parse_error(path, &text, &e))?;
        settings.validate()?;
        Ok(settings)
    }

    /// The rules in force: the configured ones, or the built-in defaults.
    pub fn alert_rules(&self) -> Vec<crate::vocab::AlertRule> {
        if self.alerts.is_empty() {
            crate::vocab::default_rules()
        } else {
            self.alerts.clone()
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.analysis.validate()?;
        if self.alerts.len() > MAX_ALERT_RULES {
            return Err(invalid(
                "alerts",
                format!("at most {MAX_ALERT_RULES} rules"),
            ));
        }
        for r in &self.alerts {
            r.validate().map_err(|why| invalid("alerts", why))?;
            if r.measurement.starts_with("calibrated.") && self.analysis.calibration.is_none() {
                return Err(invalid(
                    "alerts",
                    format!(
                        "alert {}: {} exists only with an expert calibration; set \
                         analysis.calibration (or --calibration) to the file `evalverse \
                         calibrate` wrote",
                        r.name, r.measurement
                    ),
                ));
            }
        }
        for (k, url) in [
            ("alerting.webhook", &self.alerting.webhook),
            ("alerting.stop_webhook", &self.alerting.stop_webhook),
        ] {
            if let Some(u) = url {
                if !u.starts_with("http://") {
                    return Err(invalid(
                        k,
                        format!("{u:?}: only http:// URLs (put a TLS proxy in front for https)"),
                    ));
                }
                if u.len() > MAX_LOCATION_LEN || !u.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(invalid(
                        k,
                        format!("at most {MAX_LOCATION_LEN} visible ASCII characters"),
                    ));
                }
            }
        }
        if self.alerting.retries > 10 {
            return Err(invalid("alerting.retries", "must be 0–10"));
        }
        if !(self.alerting.timeout_s.is_finite() && (0.1..=60.0).contains(&self.alerting.timeout_s))
        {
            return Err(invalid("alerting.timeout_s", "must be 0.1–60 seconds"));
        }
        if !(self.alerting.shutdown_grace_s.is_finite()
            && (0.0..=300.0).contains(&self.alerting.shutdown_grace_s))
        {
            return Err(invalid(
                "alerting.shutdown_grace_s",
                "must be 0–300 seconds",
            ));
        }
        self.server.validate()?;
        if self.streams.len() > self.server.max_streams {
            return Err(invalid(
                "streams",
                format!(
                    "{} streams configured but server.max_streams is {}",
                    self.streams.len(),
                    self.server.max_streams
                ),
            ));
        }
        let mut names = std::collections::HashSet::new();
        for s in &self.streams {
            s.validate()?;
            if !names.insert(s.name.as_str()) {
                return Err(invalid(
                    "streams.name",
                    format!("{:?} appears twice", s.name),
                ));
            }
        }
        // Each UDP port (RTP and its RTCP port + 1) belongs to one stream: a clash is told
        // here, before any stream starts, not by the second stream failing to bind.
        let mut owner: std::collections::HashMap<u16, &str> = Default::default();
        for s in &self.streams {
            for port in s.udp_ports() {
                if let Some(other) = owner.insert(port, s.name.as_str())
                    && other != s.name
                {
                    return Err(invalid(
                        format!("streams.{}", s.name),
                        format!(
                            "UDP port {port} is also used by stream {other:?} (each RTP port \
                             and its RTCP port, + 1, belong to one stream)"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_configuration_parses_and_validates() {
        let readme = include_str!("../README.md");
        let start = readme
            .find("## Configuration")
            .expect("a Configuration section");
        let block = &readme[start..];
        let from = block.find("```toml").expect("a toml block") + "```toml".len();
        let to = from + block[from..].find("```").expect("closed");
        let s: Settings = toml::from_str(&block[from..to]).expect("README config parses");
        s.validate().expect("README config is valid");
        assert_eq!(s.analysis.detectors.motion_mad, DEFAULT_MOTION_MAD);
    }

    /// The shipped example names every key at its default and sends nothing anywhere.
    #[test]
    fn the_example_configuration_is_every_default_and_safe_to_copy() {
        let text = include_str!("../evalverse.example.toml");
        let s: Settings = toml::from_str(text).expect("the example parses");
        s.validate().expect("the example is valid");
        let d = AnalysisSettings::default();
        let mut a = s.analysis.clone();
        assert!((a.detectors.black_luma - d.detectors.black_luma).abs() < 1e-5);
        a.detectors.black_luma = d.detectors.black_luma;
        assert_eq!(a, d, "the example's [analysis] is the default");
        assert_eq!(s.server, ServerSettings::default());
        assert_eq!(
            s.alerting,
            AlertingSettings::default(),
            "no webhook to an address nobody runs"
        );
        assert!(
            s.alerts.is_empty(),
            "no [[alerts]]: the built-in rules stay"
        );
        assert_eq!(s.streams.len(), 1);
        // Every key of a table is written out (a key left out would still parse).
        for key in [
            "audio_rate",
            "batch_frames",
            "black_ratio",
            "flicker_amplitude",
            "face_side",
        ] {
            assert!(
                text.lines()
                    .any(|l| l.trim_start().starts_with(&format!("{key} ="))),
                "{key}"
            );
        }
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line_not_called_bad_toml() {
        let dir = std::env::temp_dir().join(format!("evalverse-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("typo.toml");
        std::fs::write(&path, "[analysis]\nwidth = 160\nwindow = 4.0\n").unwrap();
        let e = Settings::load(&path).unwrap_err().to_string();
        assert!(e.contains("line 3: unknown key `window`"), "{e}");
        assert!(
            e.contains("`window_s`") && !e.contains("not valid TOML"),
            "{e}"
        );
        std::fs::write(&path, "[analysis]\nwidth = \"wide\"\n").unwrap();
        let e = Settings::load(&path).unwrap_err().to_string();
        assert!(
            e.contains("line 2: invalid type: string \"wide\", expected u32"),
            "{e}"
        );
        std::fs::write(&path, "[analysis\n").unwrap();
        let e = Settings::load(&path).unwrap_err().to_string();
        assert!(e.contains("not valid TOML"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn parses_a_full_config_and_rejects_absurd_values() {
        let text = r#"
            [server]
            listen = "127.0.0.1:9900"
            [analysis]
            window_s = 5.0
            hop_s = 0.5
            [[streams]]
            name = "cam1"
            video = { port = 5004 }
            audio = { port = 5006, codec = "l16", channels = 2 }
        "#;
        let s: Settings = toml::from_str(text).unwrap();
        s.validate().unwrap();
        assert_eq!(s.streams[0].audio.as_ref().unwrap().codec, AudioCodec::L16);
        assert_eq!(s.analysis.hop_s, 0.5);

        let mut bad = s.clone();
        bad.analysis.hop_s = 10.0;
        assert!(bad.validate().unwrap_err().to_string().contains("hop_s"));
        let mut bad = s.clone();
        bad.streams[0].audio.as_mut().unwrap().port = 5005;
        assert!(bad.validate().unwrap_err().to_string().contains("overlaps"));
        for name in ["bad name!", "", "..", ".hidden", "-x", &"a".repeat(65)] {
            let mut bad = s.clone();
            bad.streams[0].name = name.into();
            assert!(bad.validate().is_err(), "{name:?}");
        }
        let mut bad = s;
        bad.analysis.window_s = f64::NAN;
        assert!(bad.validate().is_err());
        assert!(
            toml::from_str::<Settings>("[analysis]\nwindow = 3").is_err(),
            "unknown keys are refused"
        );
    }

    #[test]
    fn numbers_out_of_range_name_their_field() {
        let mut s = StreamSettings::rtp("cam", Some(5004), Some(5006));
        let v = s.video.as_mut().unwrap();
        v.codec = VideoCodec::Raw;
        v.width = Some(100_000);
        v.height = Some(720);
        let e = s.validate().unwrap_err().to_string();
        assert!(
            e.contains("streams.cam.video.width") && e.contains("8192"),
            "{e}"
        );
        s.video.as_mut().unwrap().width = Some(1280);
        s.validate().unwrap();
        s.audio.as_mut().unwrap().channels = 64;
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("audio.channels"), "{e}");
        s.audio.as_mut().unwrap().channels = 2;
        s.stall_timeout_s = f64::INFINITY;
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("stall_timeout_s")
        );

        let mut c = Settings::default();
        c.server.header_timeout_s = f64::NAN;
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("server.header_timeout_s")
        );
        let mut c = Settings::default();
        c.server.max_event_clients = c.server.max_connections;
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("max_event_clients")
        );
        let mut c = Settings::default();
        c.alerting.timeout_s = 0.0;
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("alerting.timeout_s")
        );
    }

    /// The race of a path swapped between a real folder and a link to one outside while
    /// definitions naming it are admitted: what is admitted is what was opened, never the
    /// outside file.
    #[cfg(unix)]
    #[test]
    fn a_path_swapped_for_a_link_during_admission_never_reads_outside() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let root = tempfile::tempdir().unwrap();
        let allowed = root.path().join("allowed");
        let outside = root.path().join("outside");
        std::fs::create_dir_all(allowed.join("real")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(allowed.join("real/p.pipeline"), "INSIDE").unwrap();
        std::fs::write(outside.join("p.pipeline"), "OUTSIDE").unwrap();
        let sw = allowed.join("sw");
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let swapper = {
            let (allowed, outside, sw, stop) =
                (allowed.clone(), outside.clone(), sw.clone(), stop.clone());
            std::thread::spawn(move || {
                let tmp = allowed.join("tmp");
                while !stop.load(Ordering::Relaxed) {
                    // A real folder holding the inside file, then a link to the outside one,
                    // each swapped in atomically.
                    let _ = std::fs::remove_dir_all(&tmp).or_else(|_| std::fs::remove_file(&tmp));
                    std::fs::create_dir(&tmp).unwrap();
                    std::fs::write(tmp.join("p.pipeline"), "INSIDE").unwrap();
                    let _ = std::fs::remove_file(&sw).or_else(|_| std::fs::remove_dir_all(&sw));
                    let _ = std::fs::rename(&tmp, &sw);
                    std::thread::yield_now();
                    let _ = std::fs::remove_dir_all(&sw).or_else(|_| std::fs::remove_file(&sw));
                    let _ = std::os::unix::fs::symlink(&outside, &sw);
                    std::thread::yield_now();
                }
            })
        };
        let sources = ApiSources {
            dirs: vec![allowed.clone()],
            schemes: vec![],
        };
        let (mut admitted, mut outside_reads) = (0, 0);
        for _ in 0..150 {
            let mut s = StreamSettings::rtp("x", None, None);
            s.pipeline = Some(sw.join("p.pipeline"));
            if let Ok(a) = sources.admit(s) {
                admitted += 1;
                let text = a.opened.pipeline_text.expect("read at admission");
                outside_reads += usize::from(&*text == "OUTSIDE");
            }
        }
        stop.store(true, Ordering::Relaxed);
        swapper.join().unwrap();
        eprintln!(
            "measured: 150 admissions during the swap: {admitted} admitted, {outside_reads} read outside"
        );
        assert_eq!(outside_reads, 0);
    }

    #[test]
    fn duplicate_ports_across_streams_are_refused_before_any_starts() {
        let mut s = Settings::default();
        s.streams = vec![
            StreamSettings::rtp("a", Some(5004), Some(5006)),
            StreamSettings::rtp("b", Some(5007), None),
        ];
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("5007") && e.contains("\"a\""), "{e}");
        s.streams[1] = StreamSettings::rtp("b", Some(5010), None);
        s.validate().unwrap();
    }

    #[test]
    fn api_sources_admit_only_regular_files_inside_the_allowed_dirs() {
        let root = tempfile::tempdir().unwrap();
        let allowed = root.path().join("allowed");
        let outside = root.path().join("outside");
        std::fs::create_dir_all(&allowed).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        let inside = allowed.join("own.pipeline");
        let secret = outside.join("secret.txt");
        std::fs::write(&inside, "videotestsrc ! fakesink").unwrap();
        std::fs::write(&secret, "secret").unwrap();
        let with = |pipeline: Option<&str>, uri: Option<&str>| {
            let mut s = StreamSettings::rtp("x", None, None);
            s.pipeline = pipeline.map(PathBuf::from);
            s.uri = uri.map(String::from);
            s
        };

        // Nothing is allowed by default, and the file system is not consulted.
        let none = ApiSources::default();
        let e = none
            .admit(with(Some(inside.to_str().unwrap()), None))
            .unwrap_err();
        assert_eq!(e.field, "pipeline");
        assert!(none.admit(with(None, Some("/etc/passwd"))).is_err());
        assert!(none.admit(with(None, Some("rtsp://cam/1"))).is_err());
        assert!(
            none.admit(StreamSettings::rtp("x", Some(5004), None))
                .is_ok()
        );

        std::os::unix::fs::symlink(&secret, allowed.join("link.pipeline")).unwrap();
        let some = ApiSources {
            dirs: vec![allowed.clone()],
            schemes: vec!["rtsp".into()],
        };
        some.validate().unwrap();
        let admitted = some
            .admit(with(Some(inside.to_str().unwrap()), None))
            .unwrap();
        assert_eq!(
            admitted.pipeline.unwrap(),
            std::fs::canonicalize(&inside).unwrap()
        );
        let escape = format!("{}/../outside/secret.txt", allowed.display());
        let file_uri = format!("file://{}", secret.display());
        let escape_uri = format!("file://{escape}");
        let other_host = format!("file://elsewhere{}", inside.display());
        for (p, u) in [
            (Some(secret.to_str().unwrap()), None),
            (Some(escape.as_str()), None),
            (Some(allowed.join("link.pipeline").to_str().unwrap()), None),
            (Some(allowed.to_str().unwrap()), None),
            (Some("allowed/own.pipeline"), None),
            (Some(allowed.join("missing").to_str().unwrap()), None),
            (None, Some(secret.to_str().unwrap())),
            (None, Some(file_uri.as_str())),
            (None, Some(escape_uri.as_str())),
            (None, Some(other_host.as_str())),
            (None, Some("http://127.0.0.1/clip.mp4")),
            (None, Some("rtsp://cam/1\" ! filesrc location=/etc/passwd")),
        ] {
            assert!(some.admit(with(p, u)).is_err(), "{p:?} {u:?} was admitted");
        }
        let u = some
            .admit(with(None, Some(&format!("file://{}", inside.display()))))
            .unwrap()
            .uri
            .unwrap();
        assert!(
            u.starts_with("file:///") && u.ends_with("own.pipeline"),
            "{u}"
        );
        assert_eq!(
            some.admit(with(None, Some("RTSP://cam/1")))
                .unwrap()
                .uri
                .unwrap(),
            "RTSP://cam/1"
        );
        // Misconfigurations are refused at load.
        for bad in [
            ApiSources {
                dirs: vec!["/".into()],
                schemes: vec![],
            },
            ApiSources {
                dirs: vec!["relative".into()],
                schemes: vec![],
            },
            ApiSources {
                dirs: vec![root.path().join("nope")],
                schemes: vec![],
            },
            ApiSources {
                dirs: vec![],
                schemes: vec!["file".into()],
            },
            ApiSources {
                dirs: vec![],
                schemes: vec!["a b".into()],
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
