//! The JSON-lines contract (stable): one object per line, `"type"` first.
//!
//! - `cut`: `frame` (0-based index of the first frame of the new shot), `pts` (s), `kind`
//!   (`hard`|`gradual`), `stream`; gradual cuts add `start`, `end`.
//! - `event`: `kind` — faults `freeze`|`black`|`silence`|`flicker`|`flash`|`glitch`|`grade_jump`,
//!   informative `static_shot`|`fade_black`|`quiet`|`lighting_change`, and `discontinuity` (a
//!   timestamp jump) — `fault` (bool), `cause` (`content`|`transport`), `start`, `end` (s),
//!   `stream`, `ongoing`, the measured values, and a `diagnosis`.
//! - `window`: `start`, `end`, `stream`, `scores` {`sync`, `continuity`, `rhythm`, `overall`}
//!   and the raw measurements behind them (`sync.audio_delay_ms`, `sync.confidence`, …).
//! - `state`: a stream's lifecycle (`starting`, `running`, `stalled`, `ended`, `failed`) with a
//!   message.
//! - `alert`: a rule that fired or resolved (`rule`, `state`, `severity`, `action`,
//!   `measurement`, `value`, `threshold`, `since`, `at`, `message`).
//! - `verdict` (live): the stream's early-stop verdict turned to `stop` (`verdict`, `reasons`,
//!   `firing`), once.
//! - `summary` (last line of a file run): whole-input figures, including `sync`
//!   {`audio_delay_ms` (null when there is no audio or no evidence), `confidence`}.
//!
//! With `--calibration FILE`, `window` and `summary` gain `calibrated` {dimension: score on the
//! raters' scale} (see the `calibrated` module beside this one).
use super::Scores;
use super::taxonomy::Diagnosis;
use crate::model::local_sync::SyncSource;
use crate::model::rhythm::PacingFigures;
use crate::model::sync::{Decline, SyncEstimate};
use crate::types::{Media, StreamState, Timing};
use crate::vocab::{Cause, Cut, CutKind, Detection, EventKind};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;

fn round(x: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (x * p).round() / p
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CutRecord {
    pub stream: String,
    pub frame: u64,
    pub pts: f64,
    pub kind: CutKind,
    /// `content` (an edit in the picture as generated) or `transport` (the picture changed
    /// where it was damaged or healed at a keyframe: not counted as editing).
    pub cause: Cause,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<f64>,
    pub distance: f64,
}

impl CutRecord {
    pub fn new(stream: &str, c: &Cut) -> Self {
        Self {
            stream: stream.into(),
            frame: c.frame,
            pts: round(c.pts, 6),
            kind: c.kind,
            cause: Cause::Content,
            start: c.span.map(|s| round(s.0, 6)),
            end: c.span.map(|s| round(s.1, 6)),
            distance: round(c.distance as f64, 4),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EventRecord {
    pub stream: String,
    pub kind: EventKind,
    /// A generation fault (scored, default rules) or an informative record of the content's
    /// own choice (static shot, fade to black, quiet passage, lighting change).
    pub fault: bool,
    /// What caused it: `content` (the picture or sound as generated) or `transport` (how it was
    /// delivered: timestamps, packets).
    pub cause: Cause,
    pub start: f64,
    pub end: f64,
    pub duration: f64,
    pub ongoing: bool,
    #[serde(flatten)]
    pub values: Map<String, Value>,
    pub diagnosis: Diagnosis,
}

impl EventRecord {
    pub fn new(stream: &str, d: &Detection) -> Self {
        let values = d
            .values
            .iter()
            .filter(|(_, v)| v.is_finite())
            .map(|(k, v)| (k.to_string(), Value::from(round(*v, 4))))
            .collect();
        Self {
            stream: stream.into(),
            kind: d.kind,
            fault: d.kind.is_fault() && !d.transport,
            cause: if d.transport {
                Cause::Transport
            } else {
                d.kind.cause()
            },
            start: round(d.start, 6),
            end: round(d.end, 6),
            duration: round(d.end - d.start, 6),
            ongoing: d.ongoing,
            values,
            diagnosis: super::taxonomy::event(d),
        }
    }
}

/// Whether a sync estimate committed to a delay.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncStatus {
    Committed,
    #[default]
    Declined,
}

/// An alert rule's condition began to hold (for its `for_s`), or stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    Firing,
    Resolved,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        }
    }
}

/// Sync measurements of a window or of a whole input.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SyncFigures {
    pub audio_delay_ms: Option<f64>,
    pub confidence: f64,
    pub status: SyncStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub declined: Option<Decline>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Cow<'static, str>>,
    pub matched_events: usize,
    pub visual_events: usize,
    pub audio_onsets: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spread_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub second_peak_ratio: Option<f64>,
    /// Best-fitting delay whether committed or not (diagnostic; not an estimate to act on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub best_lag_ms: Option<f64>,
    /// Timing basis: `sender_clock` (RTCP) or `arrival` (no RTCP seen: lower confidence), or
    /// `file` (container timestamps).
    pub timing: Timing,
    /// Change of the delay relative to the stream's earlier committed windows, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drift_ms: Option<f64>,
    /// Its magnitude, whichever way the delay moved (what drift alerts compare), ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drift_abs_ms: Option<f64>,
    /// The learned commitment head's probability that the best lag is right.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit_probability: Option<f64>,
    /// The whole input's correlation against lag (summary only): what the best lag and the
    /// second-peak ratio were read from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation: Option<SyncCurve>,
    /// Which evidence the committed delay comes from: `events` (cuts and flashes) or
    /// `local_motion`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<SyncSource>,
    /// The local-motion estimate, committed or not: the whole input's in the summary; in a
    /// window, where the events lacked evidence, over the 40 s before its end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local: Option<crate::model::local_sync::LocalEstimate>,
    /// The mouths against the speech, committed or not (inputs where a face was seen): the
    /// whole input's in the summary (its last `faces::HORIZON_S`), in a window over the
    /// horizon before its end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lips: Option<crate::model::faces::lips::LipsEstimate>,
}

/// Correlation of the visual events with the audio onsets against the audio's lag, scaled to the
/// peak: `values[i]` is the lag `from_ms + i × step_ms`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SyncCurve {
    pub from_ms: f64,
    pub step_ms: f64,
    pub values: Vec<f64>,
}

impl SyncCurve {
    pub fn new((from_ms, step_ms, values): (f64, f64, Vec<f32>)) -> Self {
        Self {
            from_ms,
            step_ms,
            values: values.into_iter().map(|v| round(v as f64, 3)).collect(),
        }
    }
}

impl SyncFigures {
    pub fn new(e: &SyncEstimate, timing: Timing) -> Self {
        Self {
            audio_delay_ms: e.audio_delay_ms.map(|d| round(d, 2)),
            confidence: round(e.confidence, 3),
            status: if e.audio_delay_ms.is_some() {
                SyncStatus::Committed
            } else {
                SyncStatus::Declined
            },
            declined: e.declined,
            reason: e.declined.map(|d| Cow::Borrowed(d.explain())),
            matched_events: e.matched,
            visual_events: e.visual_events,
            audio_onsets: e.audio_onsets,
            spread_ms: e.spread_ms.map(|s| round(s, 2)),
            second_peak_ratio: e.second_ratio.map(|s| round(s, 3)),
            best_lag_ms: e.best_lag_ms.map(|s| round(s, 1)),
            timing,
            drift_ms: None,
            drift_abs_ms: None,
            commit_probability: e.commit_probability.map(|p| round(p, 3)),
            correlation: None,
            source: None,
            local: None,
            lips: None,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ContinuityWindow {
    pub freeze_ratio: f64,
    pub black_ratio: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub silence_ratio: Option<f64>,
    pub flicker_ratio: f64,
    pub flicker_index: f64,
    pub flicker_vbench: f64,
    pub flashes: usize,
    /// Glitches and grade jumps in the window.
    pub glitches: usize,
    /// Share of the window inside static shots (informative: no score penalty).
    pub static_ratio: f64,
    /// Share of the window inside quiet passages (informative: no score penalty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quiet_ratio: Option<f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WindowRecord {
    pub stream: String,
    pub start: f64,
    pub end: f64,
    pub frames: usize,
    pub scores: Scores,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync: Option<SyncFigures>,
    pub continuity: ContinuityWindow,
    pub rhythm: PacingFigures,
    /// Audio tempo and cut–beat alignment (streams with audio and video).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub beat: Option<crate::model::beat::BeatFigures>,
    /// Colour/grade signature of the current shot and its drift.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub style: Option<crate::model::style::StyleFigures>,
    /// Exposure, contrast, colourfulness and colour cast of the window's frames.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub picture: Option<crate::model::picture::PictureWindow>,
    /// Loudness, true peak and clipping of the sound at its own rate (inputs with a `sound`
    /// branch and audio).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sound: Option<crate::model::sound::SoundWindow>,
    /// The faces in view (inputs where a face was seen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faces: Option<crate::model::faces::FacesFigures>,
    pub events: BTreeMap<Cow<'static, str>, usize>,
    pub diagnosis: Vec<Diagnosis>,
    /// Seconds from the newest frame's arrival to this window's score (live latency).
    pub latency_s: f64,
    /// Transport health of a live RTP stream (absent for files).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport: Option<TransportWindow>,
    /// Scores on the raters' scale per calibrated dimension (with `--calibration`), over the
    /// trailing span the mapping was fitted on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibrated: Option<BTreeMap<String, f64>>,
}

impl WindowRecord {
    /// A window of `stream` over `[start, end)` with nothing measured yet: the window heads
    /// fill their parts.
    pub fn empty(stream: &str, start: f64, end: f64) -> Self {
        WindowRecord {
            stream: stream.into(),
            start,
            end,
            frames: 0,
            scores: Scores::default(),
            sync: None,
            continuity: ContinuityWindow::default(),
            rhythm: PacingFigures::default(),
            beat: None,
            style: None,
            events: Default::default(),
            diagnosis: vec![],
            latency_s: 0.0,
            transport: None,
            calibrated: None,
            picture: None,
            sound: None,
            faces: None,
        }
    }

    /// A quiet window of stream `stream` for tests: 100 frames, no faults, no sync; tests set
    /// what they exercise (`WindowRecord { scores, ..WindowRecord::for_test("s", 0.0, 4.0) }`).
    #[cfg(test)]
    pub fn for_test(stream: &str, start: f64, end: f64) -> Self {
        let mut w = Self::empty(stream, start, end);
        w.frames = 100;
        w.continuity.flicker_vbench = 1.0;
        w
    }
}

/// How much of a window the network damaged. Scored apart from the generation dimensions:
/// `score = 100 · (1 − the larger damaged share)`.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct TransportWindow {
    /// Share of the window's video (audio) time decoded from damaged input.
    pub damaged_video_ratio: f64,
    pub damaged_audio_ratio: f64,
    /// Events and cuts in the window put down to the transport.
    pub events: usize,
    pub score: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StateRecord {
    pub stream: String,
    pub state: StreamState,
    pub message: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SummaryRecord {
    pub stream: String,
    pub media: Media,
    pub duration_s: f64,
    pub frames: u64,
    pub dropped_frames: u64,
    pub windows: usize,
    pub cuts: BTreeMap<Cow<'static, str>, usize>,
    pub events: BTreeMap<Cow<'static, str>, usize>,
    pub sync: SyncFigures,
    pub rhythm: PacingFigures,
    /// Mean of the window scores.
    pub scores: Scores,
    pub backend: String,
    pub elapsed_s: f64,
    /// Input seconds evaluated per wall-clock second.
    pub speed_x: f64,
    /// The early-stop verdict at the end.
    pub verdict: crate::vocab::Verdict,
    /// Scores on the raters' scale per calibrated dimension over the whole input (with
    /// `--calibration`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibrated: Option<BTreeMap<String, f64>>,
    /// Integrated loudness, loudness range, true peak and clipped time of the whole sound.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sound: Option<crate::model::sound::SoundSummary>,
    /// The faces seen over the whole input (inputs where a face was seen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faces: Option<crate::model::faces::FacesFigures>,
    /// The input ended well before the duration its container declares (a truncated file, a
    /// header that lies): where the media ended and what was declared, seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_early: Option<EndedEarly>,
}

/// Where a file's media ended against the duration its container declares.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct EndedEarly {
    pub at_s: f64,
    pub declared_s: f64,
}

impl EndedEarly {
    /// `Some` when media that ended at `at_s` fall short of `declared_s` by more than a second
    /// and 5 % of it.
    pub fn check(at_s: f64, declared_s: f64) -> Option<Self> {
        let short = declared_s - at_s;
        (declared_s.is_finite() && short > 1.0 && short > 0.05 * declared_s)
            .then_some(Self { at_s, declared_s })
    }

    pub fn message(&self) -> String {
        format!(
            "the input ended at {:.2} s, but its container declares {:.2} s: the file is \
             truncated or its header is wrong; only what arrived was evaluated",
            self.at_s, self.declared_s
        )
    }
}

/// An alert that fired or resolved.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AlertRecord {
    pub stream: String,
    pub rule: String,
    /// `firing` or `resolved`.
    pub state: AlertState,
    pub severity: crate::vocab::Severity,
    pub action: crate::vocab::Action,
    pub measurement: String,
    pub value: f64,
    pub threshold: f64,
    /// Stream time the condition started to hold, and now.
    pub since: f64,
    pub at: f64,
    pub message: String,
}

impl AlertRecord {
    pub fn new(
        stream: &str,
        r: &crate::vocab::AlertRule,
        state: AlertState,
        value: f64,
        since: f64,
        at: f64,
    ) -> Self {
        let message = match state {
            AlertState::Firing => format!(
                "{}: {} = {:.3} {} {} since {:.1} s",
                r.name,
                r.measurement,
                value,
                r.op.as_str(),
                r.threshold,
                since
            ),
            AlertState::Resolved => format!(
                "{}: {} back to {:.3} (cleared)",
                r.name, r.measurement, value
            ),
        };
        Self {
            stream: stream.into(),
            rule: r.name.clone(),
            state,
            severity: r.severity,
            action: r.action,
            measurement: r.measurement.clone(),
            value: round(value, 4),
            threshold: r.threshold,
            since: round(since, 3),
            at: round(at, 3),
            message,
        }
    }
}

/// A live stream's verdict turned to `stop`: generation of this sample can end. The same
/// figures as `GET /v1/streams/{id}/verdict`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VerdictRecord {
    pub stream: String,
    #[serde(flatten)]
    pub verdict: crate::vocab::Verdict,
}

/// One line of output (written with [`Record::to_json`], read back with `serde_json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    Cut(CutRecord),
    Event(EventRecord),
    Window(Box<WindowRecord>),
    State(StateRecord),
    Alert(AlertRecord),
    Verdict(VerdictRecord),
    Summary(Box<SummaryRecord>),
}

impl Record {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self)
            .unwrap_or_else(|e| format!("{{\"type\":\"error\",\"message\":\"{e}\"}}"))
    }
    pub fn stream(&self) -> &str {
        match self {
            Record::Cut(r) => &r.stream,
            Record::Event(r) => &r.stream,
            Record::Window(r) => &r.stream,
            Record::State(r) => &r.stream,
            Record::Alert(r) => &r.stream,
            Record::Verdict(r) => &r.stream,
            Record::Summary(r) => &r.stream,
        }
    }
}

pub fn rounded(x: f64) -> f64 {
    round(x, 4)
}
