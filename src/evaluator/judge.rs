//! What is applied to every finished window in one place: the overall score from the heads'
//! scores, the running means of the summary, the expert calibration and the alert rules.
use crate::alert::{AlertEngine, AlertRule, Verdict};
use crate::score::calibrated::{Calibration, Tracker};
use crate::score::record::{AlertRecord, WindowRecord};
use crate::score::{self, Scores};
use std::collections::BTreeMap;
use std::sync::Arc;

pub struct Judge {
    alerts: AlertEngine,
    /// Applies `--calibration` to windows and the summary.
    calibrated: Option<Tracker>,
    /// Windows scored, and each dimension's (sum, count) of scores.
    windows: usize,
    sums: BTreeMap<&'static str, (f64, usize)>,
}

impl Judge {
    pub fn new(stream: &str, rules: &[AlertRule]) -> Self {
        Self {
            alerts: AlertEngine::new(stream, rules),
            calibrated: None,
            windows: 0,
            sums: BTreeMap::new(),
        }
    }

    /// Apply this expert calibration to the windows and the summary.
    pub fn set_calibration(&mut self, c: Option<Arc<Calibration>>) {
        self.calibrated = c.map(Tracker::new);
    }

    /// A window the heads filled: its overall score, every score rounded, the calibrated
    /// scores; the alerts it fires or resolves.
    pub fn on_window(&mut self, w: &mut WindowRecord) -> Vec<AlertRecord> {
        let s = &mut w.scores;
        s.overall = score::overall(s.sync, s.continuity, s.rhythm);
        *s = s.rounded();
        self.windows += 1;
        for (name, v) in s.named() {
            if let Some(v) = v {
                let acc = self.sums.entry(name).or_default();
                acc.0 += v;
                acc.1 += 1;
            }
        }
        if let Some(t) = &mut self.calibrated {
            w.calibrated = Some(t.on_window(w));
        }
        self.alerts.on_window(w)
    }

    pub fn windows(&self) -> usize {
        self.windows
    }

    /// The mean of each dimension's window scores.
    pub fn means(&self) -> Scores {
        Scores::from_named(|name| {
            self.sums
                .get(name)
                .filter(|(_, n)| *n > 0)
                .map(|(sum, n)| crate::score::record::rounded(sum / *n as f64))
        })
    }

    /// The calibrated scores over the whole input.
    pub fn calibrated_whole(&self) -> Option<BTreeMap<String, f64>> {
        self.calibrated.as_ref().and_then(|t| t.whole())
    }

    /// The early-stop verdict so far.
    pub fn verdict(&self) -> Verdict {
        self.alerts.verdict()
    }
}
