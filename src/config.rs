//! Settings: plain serde data with defaults (`DEFAULT_*`) and validation with clear errors.
//!
//! Settings are what the user writes (`evalverse.toml`); run-time state is built from them when
//! a stream starts and dropped when it stops.
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use thiserror::Error;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:9800";
pub const DEFAULT_ANALYSIS_WIDTH: u32 = 160;
pub const DEFAULT_AUDIO_RATE: u32 = 16_000;
pub const DEFAULT_WINDOW_S: f64 = 4.0;
pub const DEFAULT_HOP_S: f64 = 1.0;
pub const DEFAULT_SYNC_HORIZON_S: f64 = 12.0;
pub const DEFAULT_SYNC_SEARCH_MS: f64 = 2000.0;
pub const DEFAULT_MIN_EVENT_S: f64 = 0.5;
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

/// Errors in a configuration a user wrote. Messages name the field and what would be valid.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config {path} is not valid TOML for evalverse: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
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
    /// Raw video only: the sender's frame size.
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
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let f = |k: &str| format!("streams.{}.{k}", self.name);
        if self.name.is_empty()
            || self.name.len() > 64
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(invalid(
                "streams.name",
                format!(
                    "{:?}: use 1–64 characters from A-Z a-z 0-9 - _ .",
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
            if a.channels == 0 || a.channels > 8 || a.clock_rate < 8000 || a.clock_rate > 192_000 {
                return Err(invalid(
                    f("audio"),
                    "channels 1–8 and clock_rate 8000–192000",
                ));
            }
            if ports.contains(&a.port) || ports.contains(&(a.port + 1)) {
                return Err(invalid(
                    f("audio.port"),
                    "overlaps the video RTP/RTCP ports",
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
    pub fn validate(&self) -> Result<(), ConfigError> {
        let a = |k: &str| format!("analysis.{k}");
        if !(32..=1920).contains(&self.width) || self.width % 2 != 0 {
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
    pub alerts: Vec<crate::alert::AlertRule>,
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
}

impl Default for AlertingSettings {
    fn default() -> Self {
        Self {
            webhook: None,
            stop_webhook: None,
            retries: 3,
            timeout_s: 2.0,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address of the HTTP server (`/metrics`, `/v1/...`).
    pub listen: String,
    /// Most streams one process evaluates at once.
    pub max_streams: usize,
    /// Frames buffered between GStreamer and the evaluator per stream (full → dropped, counted).
    pub queue_frames: usize,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.into(),
            max_streams: DEFAULT_MAX_STREAMS,
            queue_frames: DEFAULT_QUEUE_FRAMES,
        }
    }
}

impl Settings {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        let settings: Settings = toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.into(),
            source,
        })?;
        settings.validate()?;
        Ok(settings)
    }

    /// The rules in force: the configured ones, or the built-in defaults.
    pub fn alert_rules(&self) -> Vec<crate::alert::AlertRule> {
        if self.alerts.is_empty() {
            crate::alert::default_rules()
        } else {
            self.alerts.clone()
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.analysis.validate()?;
        for r in &self.alerts {
            r.validate().map_err(|why| invalid("alerts", why))?;
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
            }
        }
        if self.alerting.retries > 10 || !(0.1..=60.0).contains(&self.alerting.timeout_s) {
            return Err(invalid("alerting", "retries 0–10 and timeout_s 0.1–60"));
        }
        if self.server.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(invalid(
                "server.listen",
                format!("{:?} is not ADDR:PORT", self.server.listen),
            ));
        }
        if !(1..=4096).contains(&self.server.max_streams) {
            return Err(invalid("server.max_streams", "must be 1–4096"));
        }
        if !(4..=4096).contains(&self.server.queue_frames) {
            return Err(invalid("server.queue_frames", "must be 4–4096"));
        }
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
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut bad = s.clone();
        bad.streams[0].name = "bad name!".into();
        assert!(bad.validate().is_err());
        let mut bad = s;
        bad.analysis.window_s = f64::NAN;
        assert!(bad.validate().is_err());
        assert!(
            toml::from_str::<Settings>("[analysis]\nwindow = 3").is_err(),
            "unknown keys are refused"
        );
    }
}
