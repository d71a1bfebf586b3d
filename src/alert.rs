//! Alert: rules over the window measurements, with `for` durations and hysteresis, and the
//! early-stop verdict they feed.
//!
//! A rule names a measurement of the `window` record by its JSON path (`scores.overall`,
//! `sync.audio_delay_ms`, `continuity.freeze_ratio`, …), a comparison and a threshold. It goes
//! **pending** when the comparison first holds, **fires** once it has held for `for_s` seconds
//! of stream time, and **resolves** when the value crosses back past `clear` (hysteresis; the
//! threshold itself when `clear` is not given). A window without the measurement (e.g. sync
//! declined) neither advances nor clears a rule.
//!
//! The verdict is `stop` as soon as a rule whose action is `stop` fires, and stays `stop`
//! (a render stopped early is not restarted); otherwise `continue`.
use crate::model::continuity::EventKind;
use crate::score::record::{AlertRecord, WindowRecord};
use serde::{Deserialize, Serialize};

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
    fn holds(self, v: f64, t: f64) -> bool {
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
];

impl AlertRule {
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

    fn cleared(&self, v: f64) -> bool {
        let c = self.clear.unwrap_or(self.threshold);
        match self.op {
            Op::Gt | Op::Ge => v <= c,
            Op::Lt | Op::Le => v >= c,
        }
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

#[derive(Clone, Debug, Default)]
struct RuleState {
    pending_since: Option<f64>,
    firing_since: Option<f64>,
}

/// Why the verdict is what it is.
#[derive(Clone, Debug, PartialEq, Serialize)]
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

/// Event kinds behind a window measurement (`None`: every fault of the window).
fn kinds_behind(measurement: &str) -> Option<&'static [EventKind]> {
    use EventKind::*;
    Some(match measurement {
        "continuity.freeze_ratio" => &[Freeze],
        "continuity.black_ratio" => &[Black],
        "continuity.silence_ratio" => &[Silence],
        "continuity.flicker_ratio" | "continuity.flicker_index" | "continuity.flicker_vbench" => {
            &[Flicker]
        }
        "continuity.static_ratio" => &[StaticShot],
        "continuity.quiet_ratio" => &[Quiet],
        "continuity.flashes" => &[Flash],
        "continuity.glitches" => &[Glitch, GradeJump],
        _ => return None,
    })
}

/// The observations behind a rule's measurement in window `w`.
fn evidence(rule: &AlertRule, w: &WindowRecord) -> Vec<String> {
    let behind = kinds_behind(&rule.measurement);
    let sync = rule.measurement.starts_with("sync.") || rule.measurement == "scores.sync";
    w.diagnosis
        .iter()
        .filter(|d| match (d.event, behind) {
            (Some(k), Some(kinds)) => kinds.contains(&k),
            (Some(k), None) => !sync && k.is_fault(),
            (None, Some(_)) => false,
            (None, None) => !sync || d.dimension == crate::score::taxonomy::Dimension::Sync,
        })
        .map(|d| d.observed.clone())
        .collect()
}

/// The early-stop verdict of one stream.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Verdict {
    /// `continue` or `stop`.
    pub verdict: &'static str,
    /// Rules that demanded a stop (latched).
    pub reasons: Vec<Reason>,
    /// Alerts firing now, whatever their action.
    pub firing: Vec<Reason>,
}

/// Alert state of one stream.
pub struct AlertEngine {
    stream: String,
    rules: Vec<AlertRule>,
    states: Vec<RuleState>,
    stop_reasons: Vec<Reason>,
    firing: Vec<Reason>,
}

fn lookup(v: &serde_json::Value, path: &str) -> Option<f64> {
    let mut cur = v;
    for part in path.split('.') {
        cur = cur.get(part)?;
    }
    cur.as_f64()
}

impl AlertEngine {
    pub fn new(stream: &str, rules: &[AlertRule]) -> Self {
        Self {
            stream: stream.into(),
            rules: rules.to_vec(),
            states: vec![RuleState::default(); rules.len()],
            stop_reasons: vec![],
            firing: vec![],
        }
    }

    /// Evaluate the rules on a window; returns alerts that fired or resolved.
    pub fn on_window(&mut self, w: &WindowRecord) -> Vec<AlertRecord> {
        let Ok(v) = serde_json::to_value(w) else {
            return vec![];
        };
        let now = w.end;
        let mut out = vec![];
        for (rule, st) in self.rules.iter().zip(self.states.iter_mut()) {
            let Some(value) = lookup(&v, &rule.measurement) else {
                continue;
            };
            if st.firing_since.is_some() {
                if rule.cleared(value) {
                    let since = st.firing_since.take().unwrap_or(now);
                    st.pending_since = None;
                    self.firing.retain(|r| r.rule != rule.name);
                    out.push(AlertRecord::new(
                        &self.stream,
                        rule,
                        "resolved",
                        value,
                        since,
                        now,
                    ));
                } else if let Some(r) = self.firing.iter_mut().find(|r| r.rule == rule.name) {
                    r.value = value;
                }
                continue;
            }
            if rule.op.holds(value, rule.threshold) {
                let since = *st.pending_since.get_or_insert(now);
                if now - since >= rule.for_s - 1e-9 {
                    st.firing_since = Some(since);
                    let rec = AlertRecord::new(&self.stream, rule, "firing", value, since, now);
                    let reason = Reason {
                        rule: rule.name.clone(),
                        severity: rule.severity,
                        measurement: rule.measurement.clone(),
                        value,
                        since,
                        message: rec.message.clone(),
                        evidence: evidence(rule, w),
                    };
                    if rule.action == Action::Stop
                        && !self.stop_reasons.iter().any(|r| r.rule == rule.name)
                    {
                        self.stop_reasons.push(reason.clone());
                    }
                    self.firing.push(reason);
                    out.push(rec);
                }
            } else {
                st.pending_since = None;
            }
        }
        out
    }

    pub fn verdict(&self) -> Verdict {
        Verdict {
            verdict: if self.stop_reasons.is_empty() {
                "continue"
            } else {
                "stop"
            },
            reasons: self.stop_reasons.clone(),
            firing: self.firing.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::rhythm::PacingFigures;
    use crate::score::Scores;
    use crate::score::record::ContinuityWindow;

    fn window(end: f64, overall: f64) -> WindowRecord {
        WindowRecord {
            stream: "s".into(),
            start: end - 4.0,
            end,
            frames: 100,
            scores: Scores {
                sync: None,
                continuity: Some(overall),
                rhythm: Some(100.0),
                overall: Some(overall),
            },
            sync: None,
            continuity: ContinuityWindow {
                freeze_ratio: 0.0,
                black_ratio: 0.0,
                silence_ratio: None,
                flicker_ratio: 0.0,
                flicker_index: 0.0,
                flicker_vbench: 1.0,
                flashes: 0,
                glitches: 0,
                static_ratio: 0.0,
                quiet_ratio: None,
            },
            rhythm: PacingFigures::default(),
            beat: None,
            style: None,
            events: Default::default(),
            diagnosis: vec![],
            latency_s: 0.0,
            transport: None,
        }
    }

    /// The built-in drift rule fires on a move of the delay either way, and a window whose
    /// sync declined neither fires nor clears it.
    #[test]
    fn drift_alerts_fire_both_ways() {
        use crate::model::sync::{Decline, SyncEstimate};
        use crate::score::record::SyncFigures;
        let rules: Vec<AlertRule> = default_rules()
            .into_iter()
            .filter(|r| r.name == "audio_drift")
            .collect();
        for drift in [120.0, -120.0] {
            let mut e = AlertEngine::new("s", &rules);
            let mut fired = vec![];
            for i in 0..8 {
                let mut w = window(10.0 + i as f64, 90.0);
                let mut f =
                    SyncFigures::new(&SyncEstimate::declined(Decline::Silence, 0, 0), "file");
                if i != 2 {
                    f.audio_delay_ms = Some(drift);
                    f.drift_ms = Some(drift);
                    f.drift_abs_ms = Some(f64::abs(drift));
                }
                w.sync = Some(f);
                fired.extend(e.on_window(&w).into_iter().map(|a| (i, a.state)));
            }
            assert_eq!(fired, vec![(3, "firing")], "drift {drift}");
        }
    }

    #[test]
    fn fires_after_for_resolves_with_hysteresis_and_latches_stop() {
        let rules = vec![AlertRule {
            name: "low".into(),
            measurement: "scores.overall".into(),
            op: Op::Lt,
            threshold: 40.0,
            clear: Some(60.0),
            for_s: 3.0,
            severity: Severity::Critical,
            action: Action::Stop,
        }];
        let mut e = AlertEngine::new("s", &rules);
        let series = [90.0, 30.0, 30.0, 30.0, 30.0, 50.0, 55.0, 70.0, 90.0];
        let mut fired = vec![];
        for (i, v) in series.iter().enumerate() {
            for a in e.on_window(&window(4.0 + i as f64, *v)) {
                fired.push((i, a.state));
            }
        }
        // Low from window 1 (t=5); held 3 s at window 4 (t=8); 50 and 55 are below the clear
        // value 60, so it resolves only at window 7.
        assert_eq!(fired, vec![(4, "firing"), (7, "resolved")]);
        assert_eq!(e.verdict().verdict, "stop", "stop is latched");
        assert!(e.verdict().firing.is_empty());
        assert!(rules[0].validate().is_ok());
        let mut bad = rules[0].clone();
        bad.clear = Some(10.0);
        assert!(bad.validate().is_err());
        bad.clear = None;
        bad.measurement = "scores.nope".into();
        assert!(bad.validate().is_err());
        for r in default_rules() {
            r.validate().unwrap();
        }
    }
}
