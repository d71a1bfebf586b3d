//! Focus and noise (production / cinematography) from the pipelines' `detail` plane: luma
//! wider than the analysis frame (`analysis.detail_width`, 480 px by default) and decimated in
//! time (`analysis.detail_fps`, 10 by default: focus does not change 30 times a second).
//!
//! Per detail frame, from the [`evalverse_kernels::frame_detail`] sums (a CubeCL kernel on wgpu,
//! a native loop on the CPU, both checked against a `conv2d` reference):
//! - **sharpness**: the standard deviation of the 3×3 Laplacian over that of the picture
//!   (dimensionless; a contrast or exposure change leaves it, a loss of focus lowers it);
//! - **noise**: Immerkær's (1996) estimator, `σ = √(π/2) · mean|N ∗ I| / 6` with
//!   `N = [[1,−2,1],[−2,4,−2],[1,−2,1]]`, in code values (0–255) of the detail plane.
//!
//! Events, **relative to the shot's own level** (a soft or grainy shot is a style, not a fault):
//! the shot's level is the median of its frames over the 4 s before (at least 3 frames, none
//! inside an event), frozen while an event runs.
//! - **blur**: sharpness below [`BLUR_RATIO`] of the shot's level for at least `min_event_s`;
//!   it ends above 0.75 of it.
//! - **noise**: noise above [`NOISE_RATIO`] × the shot's level and at least [`NOISE_STEP`] code
//!   values over it, for at least `min_event_s`; it ends below 1.4 ×.
//!
//! The stream feeds frames here only once the cut detector has seen past them, so that the
//! shot a frame belongs to is known (a cut to a softer shot starts a new level, not a blur).
use crate::vocab::{Detection, EventKind};
use evalverse_kernels::{D_COUNT, D_LAP, D_LAP2, D_NOISE, D_SUM, D_SUMSQ, DETAIL};
use std::collections::VecDeque;

pub const BLUR_RATIO: f64 = 0.6;
pub const NOISE_RATIO: f64 = 1.8;
/// Smallest noise rise that counts, code values.
pub const NOISE_STEP: f64 = 0.5;
/// Span of the shot level, s.
const LEVEL_S: f64 = 4.0;
const KEEP_S: f64 = 120.0;

/// One detail frame's figures.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DetailFigures {
    pub sharpness: f64,
    /// Noise σ, code values of the detail plane.
    pub noise: f64,
    /// Standard deviation of the picture (0–1): below [`FLAT`] a frame carries no focus.
    pub contrast: f64,
}

/// Frames flatter than this (a black or grey frame, the end of a fade) say nothing of focus.
pub const FLAT: f64 = 0.03;

/// The figures from one frame's [`DETAIL`] sums (pixels in 0–1).
pub fn figures(sums: &[f32]) -> DetailFigures {
    if sums.len() < DETAIL || sums[D_COUNT] < 1.0 {
        return DetailFigures::default();
    }
    let s = |k: usize| sums[k] as f64;
    let n = s(D_COUNT);
    let lap_var = (s(D_LAP2) / n - (s(D_LAP) / n).powi(2)).max(0.0);
    let pic_var = (s(D_SUMSQ) / n - (s(D_SUM) / n).powi(2)).max(0.0);
    DetailFigures {
        sharpness: lap_var.sqrt() / pic_var.sqrt().max(0.01),
        noise: (std::f64::consts::PI / 2.0).sqrt() * s(D_NOISE) / (6.0 * n) * 255.0,
        contrast: pic_var.sqrt(),
    }
}

#[derive(Clone, Copy, Debug)]
struct Point {
    t: f64,
    f: DetailFigures,
    /// Inside an event (kept out of the shot level).
    flagged: bool,
}

#[derive(Clone, Debug)]
struct Run {
    start: f64,
    end: f64,
    level: f64,
    sum: f64,
    n: usize,
    misses: usize,
    reported: bool,
}

/// Blur and noise of one stream.
pub struct DetailTracker {
    min_s: f64,
    points: VecDeque<Point>,
    shot_start: f64,
    blur: Option<Run>,
    noise: Option<Run>,
}

impl DetailTracker {
    pub fn new(min_event_s: f64) -> Self {
        Self {
            min_s: min_event_s,
            points: VecDeque::new(),
            shot_start: f64::NEG_INFINITY,
            blur: None,
            noise: None,
        }
    }

    /// A shot starts at `t` (frames from `t` on get their own level); open events end.
    pub fn on_shot_start(&mut self, t: f64, out: &mut Vec<Detection>) {
        self.shot_start = self.shot_start.max(t);
        self.close(out);
    }

    fn level(&self, t: f64, g: fn(&DetailFigures) -> f64) -> Option<f64> {
        let from = self.shot_start.max(t - LEVEL_S);
        let mut v: Vec<f64> = self
            .points
            .iter()
            .filter(|p| p.t >= from && p.t < t && !p.flagged && p.f.contrast >= FLAT)
            .map(|p| g(&p.f))
            .collect();
        if v.len() < 3 {
            return None;
        }
        v.sort_by(f64::total_cmp);
        Some(v[v.len() / 2])
    }

    /// Feed the next detail frame (stream time `t`, lasting `dur` until the next).
    pub fn push(&mut self, t: f64, dur: f64, f: DetailFigures, out: &mut Vec<Detection>) {
        let min_s = self.min_s;
        let blur_level = self
            .blur
            .as_ref()
            .map(|r| r.level)
            .or_else(|| self.level(t, |f| f.sharpness));
        let noise_level = self
            .noise
            .as_ref()
            .map(|r| r.level)
            .or_else(|| self.level(t, |f| f.noise));
        // A flat frame neither starts nor continues a blur.
        let blurred = blur_level.filter(|_| f.contrast >= FLAT).map(|l| {
            let ratio = if self.blur.is_some() {
                0.75
            } else {
                BLUR_RATIO
            };
            f.sharpness < ratio * l
        });
        let noisy = noise_level.map(|l| {
            let ratio = if self.noise.is_some() {
                1.4
            } else {
                NOISE_RATIO
            };
            f.noise > ratio * l && f.noise > l + NOISE_STEP
        });
        let b = step(
            &mut self.blur,
            EventKind::Blur,
            blurred.zip(blur_level),
            (t, dur, f.sharpness),
            min_s,
            out,
        );
        let n = step(
            &mut self.noise,
            EventKind::Noise,
            noisy.zip(noise_level),
            (t, dur, f.noise),
            min_s,
            out,
        );
        self.points.push_back(Point {
            t,
            f,
            flagged: b || n,
        });
        while self.points.front().is_some_and(|p| p.t < t - KEEP_S) {
            self.points.pop_front();
        }
    }

    fn close(&mut self, out: &mut Vec<Detection>) {
        for (run, kind) in [
            (self.blur.take(), EventKind::Blur),
            (self.noise.take(), EventKind::Noise),
        ] {
            if let Some(r) = run.filter(|r| r.end - r.start >= self.min_s) {
                out.push(detection(&r, kind, false));
            }
        }
    }

    pub fn finish(&mut self, out: &mut Vec<Detection>) {
        self.close(out);
    }

    /// Mean sharpness and noise of the detail frames in `[s, e)`.
    pub fn window(&self, s: f64, e: f64) -> Option<DetailFigures> {
        let inside: Vec<&Point> = self.points.iter().filter(|p| p.t >= s && p.t < e).collect();
        if inside.is_empty() {
            return None;
        }
        let n = inside.len() as f64;
        Some(DetailFigures {
            sharpness: inside.iter().map(|p| p.f.sharpness).sum::<f64>() / n,
            noise: inside.iter().map(|p| p.f.noise).sum::<f64>() / n,
            contrast: inside.iter().map(|p| p.f.contrast).sum::<f64>() / n,
        })
    }
}

/// Advance one run; returns whether this frame is inside it.
fn step(
    run: &mut Option<Run>,
    kind: EventKind,
    hit: Option<(bool, f64)>,
    (t, dur, v): (f64, f64, f64),
    min_s: f64,
    out: &mut Vec<Detection>,
) -> bool {
    match (run.as_mut(), hit) {
        (None, Some((true, level))) => {
            *run = Some(Run {
                start: t,
                end: t + dur,
                level,
                sum: v,
                n: 1,
                misses: 0,
                reported: false,
            });
            true
        }
        (Some(r), Some((true, _))) => {
            r.end = t + dur;
            r.sum += v;
            r.n += 1;
            r.misses = 0;
            if !r.reported && r.end - r.start >= min_s {
                r.reported = true;
                out.push(detection(r, kind, true));
            }
            true
        }
        (Some(r), _) => {
            r.misses += 1;
            if r.misses > 1 {
                if r.end - r.start >= min_s {
                    out.push(detection(r, kind, false));
                }
                *run = None;
            }
            false
        }
        (None, _) => false,
    }
}

fn detection(r: &Run, kind: EventKind, ongoing: bool) -> Detection {
    let mean = r.sum / r.n.max(1) as f64;
    let values = if kind == EventKind::Blur {
        vec![
            ("sharpness", mean),
            ("shot_sharpness", r.level),
            ("ratio", mean / r.level.max(1e-9)),
        ]
    } else {
        vec![("noise", mean), ("shot_noise", r.level)]
    };
    Detection {
        kind,
        start: r.start,
        end: r.end,
        ongoing,
        values,
        transport: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(series: &[(f64, f64)], cuts: &[f64]) -> Vec<Detection> {
        let mut d = DetailTracker::new(0.5);
        let mut out = vec![];
        for (i, &(sharpness, noise)) in series.iter().enumerate() {
            let t = i as f64 * 0.1;
            if cuts.iter().any(|c| (c - t).abs() < 1e-9) {
                d.on_shot_start(t, &mut out);
            }
            let f = DetailFigures {
                sharpness,
                noise,
                contrast: 0.2,
            };
            d.push(t, 0.1, f, &mut out);
        }
        d.finish(&mut out);
        out.retain(|x| !x.ongoing);
        out
    }

    #[test]
    fn focus_lost_inside_a_shot_is_blur_but_a_cut_to_a_soft_shot_is_not() {
        let mut s = vec![(2.0, 1.0); 60];
        for p in &mut s[30..45] {
            p.0 = 0.8;
        }
        let out = run(&s, &[]);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].kind, EventKind::Blur);
        assert!((out[0].start - 3.0).abs() < 1e-9 && (out[0].end - 4.5).abs() < 1e-9);
        let mut soft = vec![(2.0, 1.0); 30];
        soft.extend(vec![(0.8, 1.0); 30]);
        assert!(run(&soft, &[3.0]).is_empty());
    }

    #[test]
    fn noise_rising_inside_a_shot_is_noise() {
        let mut s = vec![(2.0, 1.0); 60];
        for p in &mut s[20..40] {
            p.1 = 4.0;
        }
        let out = run(&s, &[]);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].kind, EventKind::Noise);
        assert!((out[0].start - 2.0).abs() < 1e-9);
    }
}
