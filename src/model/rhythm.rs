//! Rhythm: where the shots change and how the cutting is paced.
//!
//! **Hard cuts** (streaming, 4 frames of look-ahead). For each frame `t`, `d_t` is the
//! thumbnail distance to frame `t−1` ([`thumb_distance`], Y weighted twice Cb/Cr, 0–1).
//! Frame `t` starts a new shot when
//! - `d_t ≥ 0.06` and `d_t / mean(d_{t−3..t−1}, d_{t+1..t+3}) ≥ 3` (the spike stands out of its
//!   neighbourhood, as in PySceneDetect's adaptive detector), or `d_t ≥ 0.20` with ratio ≥ 2; and
//! - the change is not transient: if some frame `t+k` (`k = 1..3`) is again close to `t−1`
//!   (distance below `max(0.4·d_t, 0.025)`) the frames `t..t+k−1` are a **flash**, reported as
//!   an event, not a cut; and
//! - the picture's structure changed: the normalised cross-correlation of the luma thumbnails
//!   ([`structure`]) is below 0.9, and the distance between brightness/contrast-normalised
//!   thumbnails ([`normalised_distance`]) spikes too (≥ 2× its neighbourhood) — a grade jump,
//!   a fade step or flicker moves the raw distance but not the normalised one; and
//! - the luma histogram moved too (`hist_distance ≥ 0.08`) or the chroma changed clearly, so a
//!   fast pan over the same scene (thumbnails shift, histogram stays) is not a cut.
//!
//! **Visual events** for the sync head: every spike that passes the first test (cuts and flash
//! onsets alike): a moment the audio may be tied to.
//!
//! **Pacing** (window figures): cuts in the window, `cuts_per_minute` over the last 60 s of
//! stream time (or all of it, when shorter), and `average_shot_length_s` = mean length of the
//! last 20 completed shots. Film norms: modern features average roughly 2–6 s a shot, and
//! shot lengths are roughly lognormal.
use super::continuity::{Detection, EventKind};
use super::features::{FrameFeatures, hist_distance, thumb_distance};
use std::collections::VecDeque;

const LOOKAHEAD: usize = 4;
const NEIGHBOURS: usize = 3;
const MIN_CUT: f32 = 0.06;
const STRONG_CUT: f32 = 0.20;
const RATIO: f32 = 3.0;
const STRONG_RATIO: f32 = 2.0;
const MIN_HIST: f32 = 0.08;
const SAME_STRUCTURE: f32 = 0.9;
const STRUCTURE_RATIO: f32 = 2.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
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

/// A moment of abrupt visual change, for the sync head.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VisualEvent {
    pub pts: f64,
    pub strength: f32,
}

/// What the cut detector produced for one step.
#[derive(Default, Debug)]
pub struct CutOutput {
    pub cuts: Vec<Cut>,
    pub flashes: Vec<Detection>,
    pub visual: Vec<VisualEvent>,
}

struct Slot {
    f: FrameFeatures,
    /// Distance to the previous frame (0 for the first).
    d: f32,
    /// The same on brightness/contrast-normalised luma thumbnails (photometric changes —
    /// fades, grade jumps, flicker — leave it small).
    dn: f32,
}

pub struct CutDetector {
    ring: VecDeque<Slot>,
    /// Frames of a flash still to skip as cut candidates.
    skip: usize,
}

impl Default for CutDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl CutDetector {
    pub fn new() -> Self {
        Self { ring: VecDeque::with_capacity(2 * LOOKAHEAD + 4), skip: 0 }
    }

    /// Forget history (e.g. after a caps change: frames of another size are not comparable).
    pub fn reset(&mut self, out: &mut CutOutput) {
        self.finish(out);
        self.ring.clear();
        self.skip = 0;
    }

    pub fn push(&mut self, f: &FrameFeatures, out: &mut CutOutput) {
        let (d, dn) = match self.ring.back() {
            Some(prev) if f.has_prev => (thumb_distance(&prev.f, f), normalised_distance(&prev.f, f)),
            _ => (0.0, 0.0),
        };
        self.ring.push_back(Slot { f: f.clone(), d, dn });
        if self.ring.len() > NEIGHBOURS + 1 + LOOKAHEAD {
            self.ring.pop_front();
        }
        if self.ring.len() == NEIGHBOURS + 1 + LOOKAHEAD {
            self.decide(NEIGHBOURS, out);
        }
    }

    /// Decide the frames still waiting for look-ahead at end of input.
    pub fn finish(&mut self, out: &mut CutOutput) {
        let start = if self.ring.len() == NEIGHBOURS + 1 + LOOKAHEAD { NEIGHBOURS + 1 } else { NEIGHBOURS.min(self.ring.len()) };
        for c in start..self.ring.len() {
            self.decide(c, out);
        }
    }

    fn decide(&mut self, c: usize, out: &mut CutOutput) {
        if self.skip > 0 {
            self.skip -= 1;
            return;
        }
        let r = &self.ring;
        if c == 0 || c >= r.len() {
            return;
        }
        let s = r[c].d;
        if s < MIN_CUT {
            return;
        }
        let neigh: Vec<f32> = (c.saturating_sub(NEIGHBOURS)..r.len().min(c + NEIGHBOURS + 1))
            .filter(|&i| i != c && r[i].f.has_prev)
            .map(|i| r[i].d)
            .collect();
        let base = if neigh.is_empty() { 0.0 } else { neigh.iter().sum::<f32>() / neigh.len() as f32 };
        let ratio = s / (base + 0.005);
        if !((s >= MIN_CUT && ratio >= RATIO) || (s >= STRONG_CUT && ratio >= STRONG_RATIO)) {
            return;
        }
        let cur = &r[c].f;
        out.visual.push(VisualEvent { pts: cur.pts, strength: s });
        // Transient: the picture comes back to where it was.
        let before = &r[c - 1].f;
        for k in 1..=3 {
            let Some(after) = r.get(c + k) else { break };
            if thumb_distance(before, &after.f) < (0.4 * s).max(0.025) {
                let end = after.f.pts;
                let peak = (c..c + k).map(|i| r[i].f.luma_mean).fold(f32::MIN, f32::max);
                out.flashes.push(Detection {
                    kind: EventKind::Flash,
                    start: cur.pts,
                    end,
                    ongoing: false,
                    values: vec![("frames", k as f64), ("luma_jump", (peak - before.luma_mean) as f64), ("distance", s as f64)],
                });
                self.skip = k;
                return;
            }
        }
        // Same picture, other exposure or grade (a fade step, a grade jump): the luma
        // structure survives, so it is not a new shot.
        let same = structure(before, cur);
        let dn: Vec<f32> = (c.saturating_sub(NEIGHBOURS)..r.len().min(c + NEIGHBOURS + 1))
            .filter(|&i| i != c && r[i].f.has_prev)
            .map(|i| r[i].dn)
            .collect();
        let dn_base = if dn.is_empty() { 0.0 } else { dn.iter().sum::<f32>() / dn.len() as f32 };
        let dn_ratio = r[c].dn / (dn_base + 0.02);
        tracing::debug!(frame = cur.index, distance = s, ratio, structure = same, dn_ratio, "cut candidate");
        if (same >= SAME_STRUCTURE || dn_ratio < STRUCTURE_RATIO) && s < STRONG_CUT * 2.0 {
            return;
        }
        let hist = hist_distance(before, cur);
        let (cb0, cr0) = before.chroma_means();
        let (cb1, cr1) = cur.chroma_means();
        let chroma = (cb1 - cb0).abs() + (cr1 - cr0).abs();
        if hist < MIN_HIST && chroma < 0.03 && s < STRONG_CUT {
            return;
        }
        out.cuts.push(Cut { frame: cur.index, pts: cur.pts, kind: CutKind::Hard, span: None, distance: s, ratio });
    }
}

/// Normalised cross-correlation of two luma thumbnails (1 = same structure, whatever the
/// brightness and contrast; 0 when either is flat).
pub fn structure(a: &FrameFeatures, b: &FrameFeatures) -> f32 {
    let (x, y) = (a.luma_thumb(), b.luma_thumb());
    let n = x.len() as f32;
    let (mx, my) = (x.iter().sum::<f32>() / n, y.iter().sum::<f32>() / n);
    let (mut sxy, mut sxx, mut syy) = (0f32, 0f32, 0f32);
    for (p, q) in x.iter().zip(y) {
        let (dp, dq) = (p - mx, q - my);
        sxy += dp * dq;
        sxx += dp * dp;
        syy += dq * dq;
    }
    if sxx < 1e-6 || syy < 1e-6 { 0.0 } else { sxy / (sxx * syy).sqrt() }
}

fn standardised(x: &[f32]) -> Vec<f32> {
    let n = x.len() as f32;
    let m = x.iter().sum::<f32>() / n;
    let sd = (x.iter().map(|v| (v - m) * (v - m)).sum::<f32>() / n).sqrt().max(0.02);
    x.iter().map(|v| (v - m) / sd).collect()
}

/// Mean absolute difference of standardised luma thumbnails (brightness and contrast removed).
pub fn normalised_distance(a: &FrameFeatures, b: &FrameFeatures) -> f32 {
    let (x, y) = (standardised(a.luma_thumb()), standardised(b.luma_thumb()));
    x.iter().zip(&y).map(|(p, q)| (p - q).abs()).sum::<f32>() / x.len() as f32
}

/// Shot lengths and cut rate over the stream.
#[derive(Debug, Default, Clone)]
pub struct Pacing {
    start: Option<f64>,
    cuts: VecDeque<f64>,
    shots: VecDeque<f64>,
    last_cut: Option<f64>,
    pub total_cuts: u64,
}

/// Pacing figures of a window.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct PacingFigures {
    pub cuts: usize,
    pub cuts_per_minute: f64,
    pub average_shot_length_s: Option<f64>,
    pub shortest_shot_s: Option<f64>,
    /// Completed shots shorter than 0.5 s in the window (stutter / jump cuts).
    pub short_shots: usize,
}

impl Pacing {
    pub fn start(&mut self, t: f64) {
        self.start.get_or_insert(t);
    }

    pub fn on_cut(&mut self, t: f64) {
        let prev = self.last_cut.or(self.start);
        if let Some(p) = prev {
            self.shots.push_back(t - p);
            if self.shots.len() > 20 {
                self.shots.pop_front();
            }
        }
        self.last_cut = Some(t);
        self.cuts.push_back(t);
        self.total_cuts += 1;
        while self.cuts.len() > 10_000 {
            self.cuts.pop_front();
        }
    }

    pub fn figures(&self, start: f64, end: f64) -> PacingFigures {
        let in_window: Vec<f64> = self.cuts.iter().copied().filter(|t| *t >= start && *t < end).collect();
        let since = self.start.unwrap_or(start).max(end - 60.0);
        let recent = self.cuts.iter().filter(|t| **t >= since && **t < end).count();
        let span = (end - since).max(1.0);
        // Shots completed inside the window.
        let mut lens = vec![];
        let mut prev = self.cuts.iter().copied().filter(|t| *t < start).last().or(self.start);
        for t in &in_window {
            if let Some(p) = prev {
                lens.push(t - p);
            }
            prev = Some(*t);
        }
        PacingFigures {
            cuts: in_window.len(),
            cuts_per_minute: recent as f64 * 60.0 / span,
            average_shot_length_s: (!self.shots.is_empty()).then(|| self.shots.iter().sum::<f64>() / self.shots.len() as f64),
            shortest_shot_s: lens.iter().copied().reduce(f64::min),
            short_shots: lens.iter().filter(|l| **l < 0.5).count(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::features::THUMB_CELLS;
    use std::time::Instant;

    fn frame(i: u64, level: f32, pan: f32) -> FrameFeatures {
        // A "scene" thumbnail: a pattern shifted by `pan`; each brightness level is another
        // scene with a pattern of its own (another frequency and orientation).
        let mut thumb = vec![0f32; 3 * THUMB_CELLS];
        let freq = 1.0 + 4.0 * level;
        for (k, v) in thumb.iter_mut().enumerate() {
            let x = (k % 32) as f32 / 32.0;
            let y = ((k / 32) % 18) as f32 / 18.0;
            let coord = if level > 0.5 { y } else { x };
            *v = (level + 0.3 * ((coord * freq + pan) * 6.28).sin()).clamp(0.0, 1.0);
        }
        let mut hist = [0f32; 16];
        hist[((level * 15.0) as usize).min(15)] = 1.0;
        FrameFeatures {
            index: i,
            pts: i as f64 / 25.0,
            duration: 0.04,
            has_prev: i > 0,
            mad: 0.01,
            luma_mean: level,
            luma_std: 0.2,
            black_ratio: 0.0,
            hist,
            thumb: thumb.into_boxed_slice(),
            arrival: Instant::now(),
        }
    }

    #[test]
    fn cuts_are_found_and_flashes_and_pans_are_not_cuts() {
        let mut det = CutDetector::new();
        let mut out = CutOutput::default();
        for i in 0..150u64 {
            let (level, pan) = match i {
                0..=49 => (0.3, i as f32 * 0.01),
                50..=99 => (0.7, 0.0),
                _ => (0.3, i as f32 * 0.03), // fast pan, shot 3
            };
            let mut f = frame(i, level, pan);
            if i == 70 || i == 71 {
                // two-frame white flash inside shot 2
                f = frame(i, 1.0, 0.0);
            }
            det.push(&f, &mut out);
        }
        det.finish(&mut out);
        let frames: Vec<u64> = out.cuts.iter().map(|c| c.frame).collect();
        assert_eq!(frames, vec![50, 100], "{:?}", out.cuts);
        assert_eq!(out.flashes.len(), 1);
        assert!((out.flashes[0].start - 70.0 / 25.0).abs() < 1e-9);
        assert!(out.visual.iter().any(|v| (v.pts - 2.8).abs() < 1e-9));
    }

    #[test]
    fn a_grade_jump_inside_a_shot_is_not_a_cut() {
        let mut det = CutDetector::new();
        let mut out = CutOutput::default();
        for i in 0..60u64 {
            let mut f = frame(i, 0.3, i as f32 * 0.01);
            if i >= 30 {
                // Same picture, darker and re-tinted from frame 30 on.
                f.thumb.iter_mut().enumerate().for_each(|(k, v)| *v = if k < THUMB_CELLS { *v * 0.7 + 0.02 } else { (*v + 0.15).min(1.0) });
                f.luma_mean = f.luma_mean * 0.7 + 0.02;
            }
            det.push(&f, &mut out);
        }
        det.finish(&mut out);
        assert!(out.cuts.is_empty(), "{:?}", out.cuts);
        assert_eq!(out.visual.len(), 1, "still an abrupt visual change for the sync head");
    }

    #[test]
    fn pacing_counts_shots_and_rate() {
        let mut p = Pacing::default();
        p.start(0.0);
        for t in [2.0, 5.0, 5.3, 9.0] {
            p.on_cut(t);
        }
        let f = p.figures(4.0, 10.0);
        assert_eq!(f.cuts, 3);
        assert_eq!(f.short_shots, 1);
        assert!((f.average_shot_length_s.unwrap() - 2.25).abs() < 1e-9);
        assert!((f.cuts_per_minute - 4.0 * 60.0 / 10.0).abs() < 1e-9);
    }
}
