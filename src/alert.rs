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
use crate::score::record::{AlertRecord, AlertState, WindowRecord};
use crate::vocab::EventKind;
pub use crate::vocab::{
    Action, AlertRule, Decision, MEASUREMENTS, Op, Reason, Severity, Verdict, default_rules,
};

#[derive(Clone, Debug, Default)]
struct RuleState {
    pending_since: Option<f64>,
    firing_since: Option<f64>,
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
                        AlertState::Resolved,
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
                    let rec =
                        AlertRecord::new(&self.stream, rule, AlertState::Firing, value, since, now);
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
                Decision::Continue
            } else {
                Decision::Stop
            },
            reasons: self.stop_reasons.clone(),
            firing: self.firing.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::Scores;
    use crate::types::Timing;

    fn window(end: f64, overall: f64) -> WindowRecord {
        WindowRecord {
            scores: Scores {
                sync: None,
                continuity: Some(overall),
                rhythm: Some(100.0),
                sound: None,
                picture: None,
                overall: Some(overall),
            },
            ..WindowRecord::for_test("s", end - 4.0, end)
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
                let mut f = SyncFigures::new(
                    &SyncEstimate::declined(Decline::Silence, 0, 0),
                    Timing::File,
                );
                if i != 2 {
                    f.audio_delay_ms = Some(drift);
                    f.drift_ms = Some(drift);
                    f.drift_abs_ms = Some(f64::abs(drift));
                }
                w.sync = Some(f);
                fired.extend(e.on_window(&w).into_iter().map(|a| (i, a.state)));
            }
            assert_eq!(fired, vec![(3, AlertState::Firing)], "drift {drift}");
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
        assert_eq!(
            fired,
            vec![(4, AlertState::Firing), (7, AlertState::Resolved)]
        );
        assert_eq!(e.verdict().verdict, Decision::Stop, "stop is latched");
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
