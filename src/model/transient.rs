//! The last few seconds of the analysis audio's level, and whether a transient sound (one
//! that leaps out of what came before and falls back within a few hundred ms: a clap, a
//! click, a shot) starts at a given time.
use std::collections::VecDeque;

/// The onset: the loudest 10-ms step within a frame of the time asked about, at least
/// `MIN_ONSET_DB` dBFS, `RISE_DB` over the 90th percentile of the 300 ms before it and
/// `FALL_DB` over that of 150–400 ms after it (a transient, not speech or music going on).
pub const MIN_ONSET_DB: f64 = -45.0;
pub const RISE_DB: f64 = 20.0;
pub const FALL_DB: f64 = 15.0;
/// 10-ms levels kept by default, steps.
const KEEP_STEPS: usize = 300;

/// The last few seconds of the analysis audio's level, 10-ms steps, dBFS.
#[derive(Debug)]
pub struct LevelTrail {
    origin: Option<f64>,
    /// `(step from the origin, dBFS)`.
    steps: VecDeque<(i64, f64)>,
    acc: Option<(i64, f64, u32)>,
    keep: usize,
}

impl Default for LevelTrail {
    fn default() -> Self {
        Self::keeping(KEEP_STEPS)
    }
}

impl LevelTrail {
    /// A trail of the last `keep` 10-ms steps.
    pub fn keeping(keep: usize) -> Self {
        Self {
            origin: None,
            steps: VecDeque::new(),
            acc: None,
            keep: keep.max(1),
        }
    }

    /// 1-ms mean-square energies from absolute ms `first_ms` of the timeline at `origin`.
    pub fn push(&mut self, origin: f64, first_ms: i64, e: &[f32]) {
        if self.origin.is_some_and(|o| o != origin) {
            *self = Self::keeping(self.keep);
        }
        self.origin = Some(origin);
        for (i, v) in e.iter().enumerate() {
            let step = (first_ms + i as i64).div_euclid(10);
            match &mut self.acc {
                Some((s, sum, n)) if *s == step => {
                    *sum += *v as f64;
                    *n += 1;
                }
                _ => {
                    if let Some((s, sum, n)) = self.acc.replace((step, *v as f64, 1)) {
                        self.steps
                            .push_back((s, 10.0 * (sum / n.max(1) as f64 + 1e-12).log10()));
                        if self.steps.len() > self.keep {
                            self.steps.pop_front();
                        }
                    }
                }
            }
        }
    }

    /// Stream time of the end of the last whole step.
    pub fn end(&self) -> Option<f64> {
        let (o, (s, _)) = (self.origin?, self.steps.back()?);
        Some(o + (*s + 1) as f64 * 0.01)
    }

    /// Every level kept, dBFS.
    pub fn all(&self) -> impl Iterator<Item = f64> + '_ {
        self.steps.iter().map(|x| x.1)
    }

    /// `(step centre, dBFS)` of the steps whose centres lie in `[from, to)`.
    pub fn levels(&self, from: f64, to: f64) -> impl Iterator<Item = (f64, f64)> + '_ {
        let o = self.origin.unwrap_or(0.0);
        self.steps
            .iter()
            .map(move |(s, db)| (o + (*s as f64 + 0.5) * 0.01, *db))
            .filter(move |(t, _)| *t >= from && *t < to)
    }

    fn p90(&self, from: f64, to: f64) -> Option<f64> {
        let mut v: Vec<f64> = self.levels(from, to).map(|x| x.1).collect();
        v.sort_by(f64::total_cmp);
        (!v.is_empty()).then(|| v[((v.len() - 1) as f64 * 0.9).round() as usize])
    }

    /// A transient sound within `frame_s` of `at`: `(onset dBFS, rise, fall)`.
    pub fn transient_at(&self, at: f64, frame_s: f64) -> Option<(f64, f64, f64)> {
        let (t, peak) = self
            .levels(at - frame_s, at + frame_s + 0.01)
            .max_by(|a, b| a.1.total_cmp(&b.1))?;
        let before = self.p90(t - 0.3, t - 0.02)?;
        let after = self.p90(t + 0.15, t + 0.4)?;
        let (rise, fall) = (peak - before, peak - after);
        (peak >= MIN_ONSET_DB && rise >= RISE_DB && fall >= FALL_DB).then_some((peak, rise, fall))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 3 s of a -37 dBFS tone with a `beep` (dBFS, 60 ms) at 1.5 s, then `after` dBFS.
    fn trail(beep: f32, after: f32) -> LevelTrail {
        let mut t = LevelTrail::default();
        let e: Vec<f32> = (0..3000)
            .map(|ms| {
                let db = match ms {
                    1500..1560 => beep,
                    1560.. => after,
                    _ => -37.0,
                };
                10f32.powf(db / 10.0)
            })
            .collect();
        t.push(0.0, 0, &e);
        t
    }

    #[test]
    fn a_beep_on_the_flash_is_a_transient_and_speech_going_on_is_not() {
        let (onset, rise, fall) = trail(-7.0, -37.0).transient_at(1.5, 0.04).unwrap();
        assert!((onset + 7.0).abs() < 0.5 && rise > 29.0 && fall > 29.0);
        // A beep a frame and a half away is not on the flash.
        assert!(trail(-7.0, -37.0).transient_at(1.44, 0.04).is_none());
        // Sound that leaps in and carries on (a line of dialogue after a pause).
        assert!(trail(-7.0, -12.0).transient_at(1.5, 0.04).is_none());
        // A step too small to stand out.
        assert!(trail(-25.0, -37.0).transient_at(1.5, 0.04).is_none());
    }
}
