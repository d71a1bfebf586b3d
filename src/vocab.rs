//! The shared vocabulary: what every room of the house talks about, as plain data — event
//! kinds and detections, cuts, rule definitions with their severities and actions, verdicts.
//! It imports nothing of ours, so anything may import it: the detectors produce these, the
//! records serialise them, the config reads rules into them and the alert engine runs them.
use serde::{Deserialize, Serialize};

// ---- events ----

/// Kinds of continuity and picture events (the JSON `event.kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Freeze,
    Black,
    Silence,
    Flicker,
    Flash,
    /// A 1–3 frame change of content inside a shot that returns (a swapped or corrupt frame).
    Glitch,
    /// An abrupt exposure or colour-grade change inside a shot (same picture, other look).
    GradeJump,
    /// A still picture that is the content's own (the shot opened still, or its motion settled):
    /// informative, not a fault.
    StaticShot,
    /// Black reached by a fade, or at the start of the stream: informative, not a fault.
    FadeBlack,
    /// A quiet passage or a pause in the sound: informative, not a fault.
    Quiet,
    /// An abrupt light change inside a shot that is not one global grade (a lamp, a stage
    /// light): informative, not a fault.
    LightingChange,
    /// The timestamps of a medium jumped (folded out of the timeline; cause `transport`).
    Discontinuity,
    /// Runs of full-scale samples in the sound (a flat top: the mix went into the rails).
    Clipping,
    /// A short hole of digital silence cut abruptly into continuing sound.
    Dropout,
    /// A step in the sound's level (≥ 12 dB within a second), at a cut or inside a shot
    /// (`at_cut`): informative, not a fault.
    LoudnessJump,
    /// A large share of the picture burnt to video-range white, held (lost highlight detail).
    Overexposed,
    /// Most of the picture crushed to video-range black while the picture is not black, held
    /// steady (lost shadow detail; a fade passes through, it does not hold).
    Underexposed,
    /// Focus lost inside a shot: fine detail fell well below the shot's own level.
    Blur,
    /// Noise rose inside a shot well above the shot's own level.
    Noise,
    /// High-frequency jitter of the camera path (a shaking camera).
    Shake,
    /// The whole picture jumped sideways between two frames inside a shot.
    CameraJump,
    /// Speech while the face that talks keeps its mouth still (it starts late, stops early).
    SpeechWithoutMouth,
    /// A mouth moving like a talker's through silence.
    MouthWithoutSpeech,
    /// A flash with a transient sound on its first frame (a slate, a camera flash, a shot):
    /// informative, not a fault.
    FlashWithSound,
}

impl EventKind {
    pub const ALL: [EventKind; 24] = [
        EventKind::Freeze,
        EventKind::Black,
        EventKind::Silence,
        EventKind::Flicker,
        EventKind::Flash,
        EventKind::Glitch,
        EventKind::GradeJump,
        EventKind::StaticShot,
        EventKind::FadeBlack,
        EventKind::Quiet,
        EventKind::LightingChange,
        EventKind::Discontinuity,
        EventKind::Clipping,
        EventKind::Dropout,
        EventKind::LoudnessJump,
        EventKind::Overexposed,
        EventKind::Underexposed,
        EventKind::Blur,
        EventKind::Noise,
        EventKind::Shake,
        EventKind::CameraJump,
        EventKind::SpeechWithoutMouth,
        EventKind::MouthWithoutSpeech,
        EventKind::FlashWithSound,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Freeze => "freeze",
            EventKind::Black => "black",
            EventKind::Silence => "silence",
            EventKind::Flicker => "flicker",
            EventKind::Flash => "flash",
            EventKind::Glitch => "glitch",
            EventKind::GradeJump => "grade_jump",
            EventKind::StaticShot => "static_shot",
            EventKind::FadeBlack => "fade_black",
            EventKind::Quiet => "quiet",
            EventKind::LightingChange => "lighting_change",
            EventKind::Discontinuity => "discontinuity",
            EventKind::Clipping => "clipping",
            EventKind::Dropout => "dropout",
            EventKind::LoudnessJump => "loudness_jump",
            EventKind::Overexposed => "overexposed",
            EventKind::Underexposed => "underexposed",
            EventKind::Blur => "blur",
            EventKind::Noise => "noise",
            EventKind::Shake => "shake",
            EventKind::CameraJump => "camera_jump",
            EventKind::SpeechWithoutMouth => "speech_without_mouth",
            EventKind::MouthWithoutSpeech => "mouth_without_speech",
            EventKind::FlashWithSound => "flash_with_sound",
        }
    }

    /// `content` (the picture or sound as generated) or `transport` (how it was delivered:
    /// timestamps, packets).
    pub fn cause(self) -> Cause {
        match self {
            EventKind::Discontinuity => Cause::Transport,
            _ => Cause::Content,
        }
    }

    /// Whether the event is a generation fault (counted in scores and default alert rules), or
    /// an informative record of something a film-maker does on purpose.
    pub fn is_fault(self) -> bool {
        !matches!(
            self,
            EventKind::StaticShot
                | EventKind::FadeBlack
                | EventKind::Quiet
                | EventKind::LightingChange
                | EventKind::Discontinuity
                | EventKind::LoudnessJump
                | EventKind::FlashWithSound
        )
    }
}

/// One detected event with the measured values behind it.
#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    pub kind: EventKind,
    pub start: f64,
    pub end: f64,
    /// Still going: `end` is "so far" (live reporting once the minimum duration is reached).
    pub ongoing: bool,
    pub values: Vec<(&'static str, f64)>,
    /// It coincides with transport damage (lost packets, a sender change, the frames before
    /// the first keyframe): reported with `cause: transport`, not scored.
    pub transport: bool,
}

// ---- cuts ----

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum CutKind {
    Hard,
    Gradual,
}

/// A shot boundary. `frame` is the first frame of the new shot.
#[derive(Clone, Debug, PartialEq)]
pub struct Cut {
    pub frame: u64,
    pub pts: f64,
    pub kind: CutKind,
    /// Transition span for gradual cuts.
    pub span: Option<(f64, f64)>,
    pub distance: f32,
    pub ratio: f32,
}

// ---- alert rules and verdicts ----

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
}

impl Op {
    /// Whether `v` compared with threshold `t` holds.
    pub fn holds(self, v: f64, t: f64) -> bool {
        match self {
            Op::Gt => v > t,
            Op::Ge => v >= t,
            Op::Lt => v < t,
            Op::Le => v <= t,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Only report (JSON lines, metrics, event stream).
    Log,
    /// Report and POST the alert to the configured webhook.
    Webhook,
    /// Report, POST it, and turn the stream's verdict to `stop`.
    Stop,
}

/// One alerting rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    pub name: String,
    /// JSON path into the window record, dot-separated (`scores.overall`).
    pub measurement: String,
    pub op: Op,
    pub threshold: f64,
    /// Value that resolves the alert (hysteresis); defaults to `threshold`.
    pub clear: Option<f64>,
    /// Seconds of stream time the condition must hold before the alert fires.
    #[serde(default)]
    pub for_s: f64,
    #[serde(default = "default_severity")]
    pub severity: Severity,
    #[serde(default = "default_action")]
    pub action: Action,
}

fn default_severity() -> Severity {
    Severity::Warning
}
fn default_action() -> Action {
    Action::Log
}

/// Measurements a rule may name (paths into the window record).
pub const MEASUREMENTS: &[&str] = &[
    "scores.sync",
    "scores.continuity",
    "scores.rhythm",
    "scores.overall",
    "sync.audio_delay_ms",
    "sync.confidence",
    "sync.drift_ms",
    "sync.drift_abs_ms",
    "continuity.freeze_ratio",
    "continuity.black_ratio",
    "continuity.silence_ratio",
    "continuity.flicker_ratio",
    "continuity.static_ratio",
    "continuity.quiet_ratio",
    "continuity.flicker_index",
    "continuity.flicker_vbench",
    "continuity.flashes",
    "continuity.glitches",
    "rhythm.cuts",
    "rhythm.cuts_per_minute",
    "rhythm.average_shot_length_s",
    "rhythm.short_shots",
    "beat.cut_beat_alignment",
    "beat.tempo_bpm",
    "style.drift_prev",
    "style.drift_sequence",
    "style.score",
    "latency_s",
    "transport.score",
    "transport.damaged_video_ratio",
    "transport.damaged_audio_ratio",
    // Present with an expert calibration (`analysis.calibration`), on the raters' scale.
    "calibrated.overall",
    "calibrated.sync",
    "calibrated.continuity",
    "calibrated.rhythm",
];

impl AlertRule {
    /// Whether `v` is back on the healthy side of `clear` (the threshold when unset).
    pub fn cleared(&self, v: f64) -> bool {
        let c = self.clear.unwrap_or(self.threshold);
        match self.op {
            Op::Gt | Op::Ge => v <= c,
            Op::Lt | Op::Le => v >= c,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.name.is_empty()
            || self.name.len() > 64
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(format!(
                "alert name {:?}: use 1–64 characters from A-Z a-z 0-9 _",
                self.name
            ));
        }
        if !MEASUREMENTS.contains(&self.measurement.as_str()) {
            return Err(format!(
                "alert {}: unknown measurement {:?}; one of {}",
                self.name,
                self.measurement,
                MEASUREMENTS.join(", ")
            ));
        }
        if !self.threshold.is_finite() || self.clear.map(|c| !c.is_finite()).unwrap_or(false) {
            return Err(format!(
                "alert {}: threshold and clear must be finite numbers",
                self.name
            ));
        }
        if let Some(c) = self.clear {
            // The clear value must lie on the "healthy" side of the threshold.
            let ok = match self.op {
                Op::Gt | Op::Ge => c <= self.threshold,
                Op::Lt | Op::Le => c >= self.threshold,
            };
            if !ok {
                return Err(format!(
                    "alert {}: clear {c} must be on the healthy side of threshold {}",
                    self.name, self.threshold
                ));
            }
        }
        if !(self.for_s.is_finite() && (0.0..=86_400.0).contains(&self.for_s)) {
            return Err(format!(
                "alert {}: for_s must be 0–86400 seconds",
                self.name
            ));
        }
        Ok(())
    }
}

fn rule(
    name: &str,
    measurement: &str,
    op: Op,
    threshold: f64,
    clear: f64,
    for_s: f64,
    severity: Severity,
    action: Action,
) -> AlertRule {
    AlertRule {
        name: name.into(),
        measurement: measurement.into(),
        op,
        threshold,
        clear: Some(clear),
        for_s,
        severity,
        action,
    }
}

/// The built-in rules (used when the config has no `[[alerts]]`). Sync thresholds are
/// ITU-R BT.1359's detectability limits (audio 45 ms early, 125 ms late).
pub fn default_rules() -> Vec<AlertRule> {
    use Action::*;
    use Op::*;
    use Severity::*;
    vec![
        rule(
            "audio_late",
            "sync.audio_delay_ms",
            Gt,
            125.0,
            100.0,
            3.0,
            Warning,
            Webhook,
        ),
        rule(
            "audio_early",
            "sync.audio_delay_ms",
            Lt,
            -45.0,
            -30.0,
            3.0,
            Warning,
            Webhook,
        ),
        // Drift either way: the magnitude of the move against the stream's earlier windows.
        rule(
            "audio_drift",
            "sync.drift_abs_ms",
            Gt,
            80.0,
            40.0,
            3.0,
            Warning,
            Webhook,
        ),
        rule(
            "frozen",
            "continuity.freeze_ratio",
            Gt,
            0.5,
            0.1,
            3.0,
            Critical,
            Stop,
        ),
        rule(
            "black",
            "continuity.black_ratio",
            Gt,
            0.9,
            0.5,
            5.0,
            Warning,
            Webhook,
        ),
        rule(
            "silent",
            "continuity.silence_ratio",
            Gt,
            0.9,
            0.5,
            5.0,
            Warning,
            Webhook,
        ),
        rule(
            "flicker",
            "continuity.flicker_ratio",
            Gt,
            0.3,
            0.1,
            3.0,
            Warning,
            Webhook,
        ),
        rule(
            "overall_low",
            "scores.overall",
            Lt,
            40.0,
            50.0,
            10.0,
            Critical,
            Stop,
        ),
    ]
}

/// Why the verdict is what it is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    pub rule: String,
    pub severity: Severity,
    pub measurement: String,
    pub value: f64,
    pub since: f64,
    pub message: String,
    /// What was observed behind the measurement when the rule fired: the diagnoses of the
    /// window's faults that feed it (e.g. "picture frozen 8.000–10.520 s …").
    pub evidence: Vec<String>,
}

/// What caused a cut or an event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// The picture or sound as generated.
    #[default]
    Content,
    /// How it was delivered: timestamps, packets.
    Transport,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Content => "content",
            Cause::Transport => "transport",
        }
    }
}

/// Go on generating, or stop.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    #[default]
    Continue,
    Stop,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Continue => "continue",
            Decision::Stop => "stop",
        }
    }
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The early-stop verdict of one stream.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// `continue` or `stop`.
    pub verdict: Decision,
    /// Rules that demanded a stop (latched).
    pub reasons: Vec<Reason>,
    /// Alerts firing now, whatever their action.
    pub firing: Vec<Reason>,
}
