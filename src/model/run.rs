//! A run of flagged units (frames or audio blocks) that becomes an event once it lasts long
//! enough. Shared by the freeze, black, silence and flicker detectors.

/// What a run tracker reports.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RunUpdate {
    /// The run reached the minimum duration and is still going (live reporting).
    Ongoing { start: f64, now: f64 },
    /// The run ended; `end` is the start of the first unflagged unit.
    Ended { start: f64, end: f64 },
}

#[derive(Clone, Debug)]
pub struct RunTracker {
    min_s: f64,
    start: Option<f64>,
    reported: bool,
    last_end: f64,
}

impl RunTracker {
    pub fn new(min_s: f64) -> Self {
        Self {
            min_s,
            start: None,
            reported: false,
            last_end: 0.0,
        }
    }

    /// Feed one unit. `run_start` is where a run beginning at this unit starts (e.g. the frozen
    /// frame's predecessor for a freeze); `unit_start`/`unit_end` bound the unit itself.
    pub fn update(
        &mut self,
        flagged: bool,
        run_start: f64,
        unit_start: f64,
        unit_end: f64,
    ) -> Option<RunUpdate> {
        let out = if flagged {
            let start = *self.start.get_or_insert(run_start);
            if !self.reported && unit_end - start >= self.min_s - 1e-9 {
                self.reported = true;
                Some(RunUpdate::Ongoing {
                    start,
                    now: unit_end,
                })
            } else {
                None
            }
        } else {
            self.close(unit_start)
        };
        self.last_end = unit_end;
        out
    }

    /// End any open run at `end` (end of input).
    pub fn close(&mut self, end: f64) -> Option<RunUpdate> {
        let start = self.start.take()?;
        self.reported = false;
        (end - start >= self.min_s - 1e-9).then_some(RunUpdate::Ended { start, end })
    }

    /// End any open run at the end of the last unit seen.
    pub fn finish(&mut self) -> Option<RunUpdate> {
        let end = self.last_end;
        self.close(end)
    }

    pub fn active_since(&self) -> Option<f64> {
        self.start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_ongoing_once_then_the_end_and_ignores_short_runs() {
        let mut r = RunTracker::new(0.5);
        let mut out = vec![];
        // 25 fps: frames 0..40; flagged 5..9 (0.2 s, too short) and 10..30 (0.8 s).
        for i in 0..40 {
            let t = i as f64 * 0.04;
            let flagged = (5..10).contains(&i) || (10 + 2..30).contains(&i);
            out.extend(r.update(flagged, t, t, t + 0.04));
        }
        assert_eq!(out.len(), 2, "{out:?}");
        match out[0] {
            RunUpdate::Ongoing { start, now } => {
                assert!((start - 0.48).abs() < 1e-9);
                assert!((now - start - 0.52).abs() < 1e-6);
            }
            _ => panic!(),
        }
        assert_eq!(
            out[1],
            RunUpdate::Ended {
                start: 0.48,
                end: 1.2
            }
        );
    }
}
