//! Exposure events (production / cinematography, exposure), defined by lost detail, so that a
//! low-key night scene, a bright daylight shot, a flash or a fade does not meet them:
//!
//! - **overexposed**: at least [`OVER_SHARE`] of the picture at video-range white (clipped
//!   highlights), held for [`HOLD_S`] (or `min_event_s`, if longer). A flash (two frames) or a
//!   cut through white is too short; a sunlit shot keeps its highlights under white.
//! - **underexposed**: a mean level at most [`UNDER_MEAN`] with nothing reaching a mid-tone (95 %
//!   of the picture at or below [`UNDER_P95`] of the range), while the picture is not black
//!   (more than 2 % of it above code 32: a black frame is the `black` detector's), held *steady*
//!   for the same time: the mean level moves by at most [`STEADY`] over the run. A fade passes
//!   through the dark range moving, it does not hold there; a night scene exposed for keeps its
//!   lights, faces and windows above a mid-tone.
//!
//! Up to two frames that miss the criteria do not end a run (an encoder's refresh frame).
use super::look::FrameLook;
use crate::vocab::{Detection, EventKind};

pub const OVER_SHARE: f64 = 0.2;
pub const UNDER_MEAN: f64 = 0.07;
pub const UNDER_P95: f64 = 0.2;
/// Largest change of the mean level over an underexposed run (0–1 of the video range).
pub const STEADY: f64 = 0.04;
pub const HOLD_S: f64 = 1.0;
/// Frames that miss the criteria inside a run without ending it.
const MISSES: usize = 2;

#[derive(Clone, Debug)]
struct Run {
    start: f64,
    end: f64,
    frames: usize,
    share: f64,
    mean: f64,
    lo: f64,
    hi: f64,
    misses: usize,
    reported: bool,
}

impl Run {
    fn new(pts: f64, dur: f64, share: f64, mean: f64) -> Self {
        Run {
            start: pts,
            end: pts + dur,
            frames: 1,
            share,
            mean,
            lo: mean,
            hi: mean,
            misses: 0,
            reported: false,
        }
    }

    fn detection(&self, kind: EventKind, ongoing: bool) -> Detection {
        let n = self.frames.max(1) as f64;
        let key = if kind == EventKind::Overexposed {
            "highlights"
        } else {
            "p95"
        };
        Detection {
            kind,
            start: self.start,
            end: self.end,
            ongoing,
            values: vec![(key, self.share / n), ("mean_luma", self.mean / n)],
            transport: false,
        }
    }
}

/// Over- and underexposure runs of one stream.
#[derive(Default)]
pub struct ExposureDetector {
    min_s: f64,
    over: Option<Run>,
    under: Option<Run>,
}

impl ExposureDetector {
    pub fn new(min_event_s: f64) -> Self {
        Self {
            min_s: HOLD_S.max(min_event_s),
            ..Default::default()
        }
    }

    pub fn push(&mut self, pts: f64, dur: f64, l: &FrameLook, out: &mut Vec<Detection>) {
        let over = l.highlights >= OVER_SHARE;
        let under = l.mean_luma <= UNDER_MEAN && l.p95 <= UNDER_P95 && l.dark < 0.98;
        let min_s = self.min_s;
        step(
            &mut self.over,
            EventKind::Overexposed,
            over,
            (pts, dur, l.highlights, l.mean_luma),
            min_s,
            out,
        );
        step(
            &mut self.under,
            EventKind::Underexposed,
            under,
            (pts, dur, l.p95, l.mean_luma),
            min_s,
            out,
        );
        // A run that drifts is a fade, not a held exposure: it restarts from here.
        if let Some(r) = &mut self.under {
            if r.hi - r.lo > STEADY {
                if r.reported {
                    out.push(r.detection(EventKind::Underexposed, false));
                }
                self.under = under.then(|| Run::new(pts, dur, l.p95, l.mean_luma));
            }
        }
    }

    pub fn finish(&mut self, out: &mut Vec<Detection>) {
        for (run, kind) in [
            (self.over.take(), EventKind::Overexposed),
            (self.under.take(), EventKind::Underexposed),
        ] {
            if let Some(r) = run.filter(|r| r.end - r.start >= self.min_s) {
                out.push(r.detection(kind, false));
            }
        }
    }
}

fn step(
    run: &mut Option<Run>,
    kind: EventKind,
    hit: bool,
    (pts, dur, share, mean): (f64, f64, f64, f64),
    min_s: f64,
    out: &mut Vec<Detection>,
) {
    match (run.as_mut(), hit) {
        (None, true) => *run = Some(Run::new(pts, dur, share, mean)),
        (None, false) => {}
        (Some(r), true) => {
            r.end = pts + dur;
            r.frames += 1;
            r.share += share;
            r.mean += mean;
            r.lo = r.lo.min(mean);
            r.hi = r.hi.max(mean);
            r.misses = 0;
            if !r.reported && r.end - r.start >= min_s {
                r.reported = true;
                out.push(r.detection(kind, true));
            }
        }
        (Some(r), false) => {
            r.misses += 1;
            if r.misses > MISSES {
                if r.end - r.start >= min_s {
                    out.push(r.detection(kind, false));
                }
                *run = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(d: &mut ExposureDetector, looks: &[FrameLook]) -> Vec<Detection> {
        let mut out = vec![];
        for (i, l) in looks.iter().enumerate() {
            d.push(i as f64 * 0.04, 0.04, l, &mut out);
        }
        d.finish(&mut out);
        out.retain(|x| !x.ongoing);
        out
    }

    /// `lo`: here the level 95 % of the picture is under (`p95`).
    fn look(mean: f64, hi: f64, lo: f64) -> FrameLook {
        FrameLook {
            mean_luma: mean,
            highlights: hi,
            p95: if hi > 0.0 { 1.0 } else { lo },
            dark: 0.5,
            ..Default::default()
        }
    }

    #[test]
    fn held_clipping_is_overexposed_but_a_flash_is_not() {
        let mut v = vec![look(0.5, 0.0, 0.0); 100];
        v[10] = look(1.0, 1.0, 0.0);
        v[11] = look(1.0, 1.0, 0.0);
        for l in &mut v[40..80] {
            *l = look(0.8, 0.35, 0.0);
        }
        let out = feed(&mut ExposureDetector::new(0.5), &v);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].kind, EventKind::Overexposed);
        assert!((out[0].start - 1.6).abs() < 1e-9 && (out[0].end - 3.2).abs() < 1e-9);
    }

    #[test]
    fn a_fade_through_the_dark_is_not_underexposed_but_a_crushed_hold_is() {
        // Fade: the mean falls 0.1 → 0 over 2 s with crushed shadows growing.
        let fade: Vec<FrameLook> = (0..50)
            .map(|i| {
                let m = 0.1 * (1.0 - i as f64 / 50.0);
                look(m, 0.0, 2.0 * m)
            })
            .collect();
        assert!(feed(&mut ExposureDetector::new(0.5), &fade).is_empty());
        let mut held = vec![look(0.4, 0.0, 0.8); 30];
        held.extend(vec![look(0.05, 0.0, 0.12); 40]);
        let out = feed(&mut ExposureDetector::new(0.5), &held);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].kind, EventKind::Underexposed);
        assert!((out[0].start - 1.2).abs() < 1e-9);
    }
}
