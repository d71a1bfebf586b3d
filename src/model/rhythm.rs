//! Rhythm: where the shots change and how the cutting is paced.
//!
//! **Hard cuts** (streaming, 4 frames of look-ahead). For each frame `t`, `d_t` is the
//! thumbnail distance to frame `t−1` ([`thumb_distance`], Y weighted twice Cb/Cr, 0–1).
//! Frame `t` starts a new shot when
//! - `d_t ≥ 0.06` and `d_t / median(d_{t−3..t−1}, d_{t+1..t+3}) ≥ 3` (the spike stands out of
//!   its neighbourhood, as in PySceneDetect's adaptive detector, with a median so the return
//!   spike of a transient does not hide it), or `d_t ≥ 0.20` with ratio ≥ 2; and
//! - the change is not transient: if some frame `t+k` (`k = 1..3`) is again close to `t−1`
//!   (distance below `max(0.4·d_t, 0.012)`; spikes from `d_t ≥ 0.025` are checked) the frames
//!   `t..t+k−1` are a **flash**, reported as
//!   an event, not a cut (a **glitch** when the mean luma moved less than 0.12: other content,
//!   not a brightness spike); and
//! - it is not a **grade jump**: an abrupt (previous step < 30 % of it), lasting (next 3 frames
//!   within 30 %) change of |Δluma| + |ΔCb| + |ΔCr| ≥ 0.04 with the structure kept (NCC ≥ 0.8).
//!   It is a grade jump (a fault: the generator lost its look) when one global colour transform
//!   explains it (per channel `b ≈ g·a + o` over the thumbnail blocks leaves at most 50 % of the
//!   change, [`global_grade_residual`]); a change that varies across the picture is a
//!   **lighting change** in the scene (a lamp, a stage light: informative, not scored);
//! - the picture's structure changed: the normalised cross-correlation of the luma thumbnails
//!   ([`structure`]) is below 0.9, and the distance between brightness/contrast-normalised
//!   thumbnails ([`normalised_distance`]) spikes too (≥ 2× its neighbourhood) — a grade jump,
//!   a fade step or flicker moves the raw distance but not the normalised one (an abrupt one is
//!   reported as a **grade jump**); and
//! - the luma histogram moved too (`hist_distance ≥ 0.08`) or the chroma changed clearly, so a
//!   fast pan over the same scene (thumbnails shift, histogram stays) is not a cut.
//!
//! **Gradual cuts**: fades through black ([`FadeDetector`]) and cross-dissolves between two
//! pictures ([`DissolveDetector`]), each with its span.
//!
//! **Visual events** for the sync head: every spike that passes the first test (cuts and flash
//! onsets alike): a moment the audio may be tied to.
//!
//! **Pacing** (window figures): cuts in the window, `cuts_per_minute` over the last 60 s of
//! stream time (or all of it, when shorter), and `average_shot_length_s` = mean length of the
//! last 20 completed shots. Film norms: modern features average roughly 2–6 s a shot, and
//! shot lengths are roughly lognormal: with ≥ 5 completed shots, `μ` and `σ` of `ln(length)`
//! give `shot_length_median_s = e^μ`, `shot_length_log_sd = σ` and
//! `film_norm_distance = √(((μ − ln 3.5)/0.5)² + ((σ − 0.9)/0.4)²)` (≤ 1: like feature films).
use super::continuity::{Detection, EventKind};
use super::features::{FrameFeatures, THUMB_CELLS, hist_distance, thumb_distance};
pub use crate::vocab::{Cut, CutKind};
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
/// Smallest frame distance of a 1–3 frame transient (flash or glitch).
const MIN_TRANSIENT: f32 = 0.025;
/// Smallest abrupt change of |Δ luma| + |Δ Cb| + |Δ Cr| (0–1 each) that is a grade jump.
const GRADE_JUMP: f32 = 0.04;
/// Mean-luma jump (0–1) that makes a transient a flash rather than a glitch.
const FLASH_JUMP: f32 = 0.12;

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
        Self {
            ring: VecDeque::with_capacity(2 * LOOKAHEAD + 4),
            skip: 0,
        }
    }

    /// Forget history (e.g. after a caps change: frames of another size are not comparable).
    pub fn reset(&mut self, out: &mut CutOutput) {
        self.finish(out);
        self.ring.clear();
        self.skip = 0;
    }

    pub fn push(&mut self, f: &FrameFeatures, out: &mut CutOutput) {
        let (d, dn) = match self.ring.back() {
            Some(prev) if f.has_prev => {
                (thumb_distance(&prev.f, f), normalised_distance(&prev.f, f))
            }
            _ => (0.0, 0.0),
        };
        self.ring.push_back(Slot {
            f: f.clone(),
            d,
            dn,
        });
        if self.ring.len() > NEIGHBOURS + 1 + LOOKAHEAD {
            self.ring.pop_front();
        }
        if self.ring.len() == NEIGHBOURS + 1 + LOOKAHEAD {
            self.decide(NEIGHBOURS, out);
        }
    }

    /// Decide the frames still waiting for look-ahead at end of input.
    pub fn finish(&mut self, out: &mut CutOutput) {
        let start = if self.ring.len() == NEIGHBOURS + 1 + LOOKAHEAD {
            NEIGHBOURS + 1
        } else {
            NEIGHBOURS.min(self.ring.len())
        };
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
        let neigh: Vec<f32> = (c.saturating_sub(NEIGHBOURS)..r.len().min(c + NEIGHBOURS + 1))
            .filter(|&i| i != c && r[i].f.has_prev)
            .map(|i| r[i].d)
            .collect();
        // Median, not mean: the return spike of a transient must not hide its onset.
        let base = median(neigh);
        let ratio = s / (base + 0.005);
        let (pts, index) = (r[c].f.pts, r[c].f.index);
        if self.transient(c, s, ratio, out) {
            return;
        }
        if let Some(d) = self.grade_jump(c) {
            if s >= MIN_CUT && ratio >= RATIO {
                out.visual.push(VisualEvent { pts, strength: s });
            }
            out.flashes.push(d);
            return;
        }
        if s < MIN_CUT || !((ratio >= RATIO) || (s >= STRONG_CUT && ratio >= STRONG_RATIO)) {
            return;
        }
        out.visual.push(VisualEvent { pts, strength: s });
        if self.same_shot(c, s, ratio) {
            return;
        }
        out.cuts.push(Cut {
            frame: index,
            pts,
            kind: CutKind::Hard,
            span: None,
            distance: s,
            ratio,
        });
    }

    /// A transient: the picture leaves and comes back to where it was within 3 frames — a
    /// flash (a brightness spike) or a glitch (other content for a frame or two). Recorded in
    /// `out`; true when frame `c` was one.
    fn transient(&mut self, c: usize, s: f32, ratio: f32, out: &mut CutOutput) -> bool {
        let r = &self.ring;
        let cur = &r[c].f;
        let before = &r[c - 1].f;
        // Transient: the picture leaves and comes back to where it was within 3 frames.
        if s >= 0.01 && ratio >= 2.0 && tracing::enabled!(tracing::Level::DEBUG) {
            let back: Vec<f32> = (1..=3)
                .filter_map(|k| r.get(c + k))
                .map(|a| thumb_distance(before, &a.f))
                .collect();
            tracing::debug!(
                frame = cur.index,
                distance = s,
                ratio,
                ?back,
                "transient candidate"
            );
        }
        if s >= MIN_TRANSIENT && ratio >= RATIO {
            for k in 1..=3 {
                let Some(after) = r.get(c + k) else { break };
                if thumb_distance(before, &after.f) < (0.4 * s).max(0.012) {
                    let end = after.f.pts;
                    let peak = (c..c + k)
                        .map(|i| r[i].f.luma_mean)
                        .fold(f32::MIN, f32::max);
                    let trough = (c..c + k)
                        .map(|i| r[i].f.luma_mean)
                        .fold(f32::MAX, f32::min);
                    let jump = if peak - before.luma_mean >= before.luma_mean - trough {
                        peak - before.luma_mean
                    } else {
                        trough - before.luma_mean
                    };
                    // A brightness spike is a flash; other content for a frame or two is a glitch.
                    let kind = if jump.abs() >= FLASH_JUMP {
                        EventKind::Flash
                    } else {
                        EventKind::Glitch
                    };
                    if s >= MIN_CUT {
                        out.visual.push(VisualEvent {
                            pts: cur.pts,
                            strength: s,
                        });
                    }
                    out.flashes.push(Detection {
                        kind,
                        start: cur.pts,
                        end,
                        ongoing: false,
                        values: vec![
                            ("frames", k as f64),
                            ("luma_jump", jump as f64),
                            ("distance", s as f64),
                        ],
                        transport: false,
                    });
                    self.skip = k;
                    return true;
                }
            }
        }
        false
    }

    /// Whether a cut candidate at `c` is the same shot after all: same luma structure under
    /// another exposure or grade (a fade or flicker step), or the same colours.
    fn same_shot(&self, c: usize, s: f32, ratio: f32) -> bool {
        let r = &self.ring;
        let cur = &r[c].f;
        let before = &r[c - 1].f;
        // Same picture, other exposure or grade (a fade step, a flicker step): the luma
        // structure survives, so it is not a new shot.
        let same = structure(before, cur);
        let dn: Vec<f32> = (c.saturating_sub(NEIGHBOURS)..r.len().min(c + NEIGHBOURS + 1))
            .filter(|&i| i != c && r[i].f.has_prev)
            .map(|i| r[i].dn)
            .collect();
        let dn_base = if dn.is_empty() {
            0.0
        } else {
            dn.iter().sum::<f32>() / dn.len() as f32
        };
        let dn_ratio = r[c].dn / (dn_base + 0.02);
        tracing::debug!(
            frame = cur.index,
            distance = s,
            ratio,
            structure = same,
            dn_ratio,
            "cut candidate"
        );
        let hist = hist_distance(before, cur);
        let (cb0, cr0) = before.chroma_means();
        let (cb1, cr1) = cur.chroma_means();
        let chroma = (cb1 - cb0).abs() + (cr1 - cr0).abs();
        // Two flat pictures (colour cards, a flat sky) have no structure to compare: another
        // colour is another shot.
        if flat(before) && flat(cur) {
            return chroma < 0.03;
        }
        if (same >= SAME_STRUCTURE || dn_ratio < STRUCTURE_RATIO) && s < STRONG_CUT * 2.0 {
            return true;
        }
        hist < MIN_HIST && chroma < 0.03 && s < STRONG_CUT
    }

    /// An abrupt, lasting change of the look (mean luma, Cb, Cr) with the picture's structure
    /// kept: a grade or exposure jump inside a shot.
    fn grade_jump(&self, c: usize) -> Option<Detection> {
        let r = &self.ring;
        let look = |f: &FrameFeatures| {
            let (cb, cr) = f.chroma_means();
            (f.luma_mean, cb, cr)
        };
        let step = |a: &FrameFeatures, b: &FrameFeatures| {
            let (x, y) = (look(a), look(b));
            (y.0 - x.0).abs() + (y.1 - x.1).abs() + (y.2 - x.2).abs()
        };
        let (before, cur) = (&r[c - 1].f, &r[c].f);
        let jump = step(before, cur);
        if jump < GRADE_JUMP || !cur.has_prev {
            return None;
        }
        // Abrupt: the look was steady before; lasting: it stays at the new level.
        if c >= 2 && r[c - 1].f.has_prev && step(&r[c - 2].f, before) > 0.3 * jump {
            return None;
        }
        for k in 1..=3 {
            let after = &r.get(c + k)?.f;
            if step(cur, after) > 0.3 * jump {
                return None;
            }
        }
        let same = structure(before, cur);
        if same < 0.8 {
            return None;
        }
        let (l0, cb0, cr0) = look(before);
        let (l1, cb1, cr1) = look(cur);
        // A generator's grade instability moves the whole picture by one colour transform; a
        // light that changes in the scene (a lamp, a stage light) moves parts of it differently.
        let residual = global_grade_residual(before, cur);
        let kind = if residual <= GRADE_RESIDUAL {
            EventKind::GradeJump
        } else {
            EventKind::LightingChange
        };
        Some(Detection {
            kind,
            start: cur.pts,
            end: cur.pts + cur.duration,
            ongoing: false,
            values: vec![
                ("luma_shift", (l1 - l0) as f64),
                ("cb_shift", (cb1 - cb0) as f64),
                ("cr_shift", (cr1 - cr0) as f64),
                ("structure", same as f64),
                ("residual", residual as f64),
            ],
            transport: false,
        })
    }
}

/// Largest share of an abrupt look change left unexplained by one global colour transform for
/// it to count as a grade jump (above: a lighting change in the scene).
const GRADE_RESIDUAL: f32 = 0.5;

/// How much of the change from `a` to `b` one global colour transform does *not* explain:
/// per channel (Y, Cb, Cr thumbnails) the least-squares fit `b ≈ g·a + o`, then
/// `√(Σ residual² / Σ (b − a)²)` over all blocks and channels (0: a pure grade change; near 1:
/// a change that varies across the picture).
pub fn global_grade_residual(a: &FrameFeatures, b: &FrameFeatures) -> f32 {
    let (mut residual, mut change) = (0f64, 0f64);
    for c in 0..3 {
        let r = c * THUMB_CELLS..(c + 1) * THUMB_CELLS;
        let (x, y) = (&a.thumb[r.clone()], &b.thumb[r]);
        let n = x.len() as f64;
        let mx = x.iter().map(|&v| v as f64).sum::<f64>() / n;
        let my = y.iter().map(|&v| v as f64).sum::<f64>() / n;
        let (mut sxy, mut sxx) = (0f64, 0f64);
        for (&xi, &yi) in x.iter().zip(y) {
            sxy += (xi as f64 - mx) * (yi as f64 - my);
            sxx += (xi as f64 - mx).powi(2);
        }
        let g = if sxx > 1e-9 { sxy / sxx } else { 1.0 };
        for (&xi, &yi) in x.iter().zip(y) {
            let fit = my + g * (xi as f64 - mx);
            residual += (yi as f64 - fit).powi(2);
            change += (yi as f64 - xi as f64).powi(2);
        }
    }
    if change <= 1e-12 {
        return 0.0;
    }
    (residual / change).sqrt() as f32
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
    if sxx < 1e-6 || syy < 1e-6 {
        0.0
    } else {
        sxy / (sxx * syy).sqrt()
    }
}

/// A picture with no structure to speak of: its luma thumbnail's standard deviation is under
/// 0.02 (the floor [`normalised_distance`] standardises with).
fn flat(f: &FrameFeatures) -> bool {
    let x = f.luma_thumb();
    let n = x.len().max(1) as f32;
    let m = x.iter().sum::<f32>() / n;
    x.iter().map(|v| (v - m) * (v - m)).sum::<f32>() / n < 0.02 * 0.02
}

fn median(mut v: Vec<f32>) -> f32 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f32::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 0 {
        (v[m - 1] + v[m]) / 2.0
    } else {
        v[m]
    }
}

fn standardised(x: &[f32]) -> Vec<f32> {
    let n = x.len() as f32;
    let m = x.iter().sum::<f32>() / n;
    let sd = (x.iter().map(|v| (v - m) * (v - m)).sum::<f32>() / n)
        .sqrt()
        .max(0.02);
    x.iter().map(|v| (v - m) / sd).collect()
}

/// Mean absolute difference of standardised luma thumbnails (brightness and contrast removed).
pub fn normalised_distance(a: &FrameFeatures, b: &FrameFeatures) -> f32 {
    let (x, y) = (standardised(a.luma_thumb()), standardised(b.luma_thumb()));
    x.iter().zip(&y).map(|(p, q)| (p - q).abs()).sum::<f32>() / x.len() as f32
}

/// Fades through black, reported as gradual cuts: the new shot starts at the first frame that
/// leaves the dark (mean luma < 0.1 and nearly flat), the transition spans from where the
/// picture started to darken to where it stops brightening. A jump out of the dark (a hard
/// cut from black) is left to the hard-cut detector.
#[derive(Default)]
pub struct FadeDetector {
    history: VecDeque<(f64, f32)>,
    dark_since: Option<f64>,
    out_start: Option<f64>,
    fade_in: Option<FadeIn>,
}

struct FadeIn {
    frame: u64,
    pts: f64,
    start: f64,
    prev_mean: f32,
    rising: u32,
    stable: u32,
    /// End of the last frame that still brightened.
    last_rise: f64,
}

const DARK_MEAN: f32 = 0.1;
const DARK_STD: f32 = 0.05;
const RISE: f32 = 0.004;

impl FadeDetector {
    pub fn push(&mut self, f: &FrameFeatures) -> Option<Cut> {
        let dark = f.luma_mean < DARK_MEAN && f.luma_std < DARK_STD;
        let mut out = None;
        if dark {
            if self.dark_since.is_none() {
                self.dark_since = Some(f.pts);
                // Walk back while the picture was brighter: where the fade-out began.
                let mut start = f.pts;
                let mut level = f.luma_mean;
                for (pts, m) in self.history.iter().rev() {
                    if *m < level + 0.002 {
                        break;
                    }
                    level = *m;
                    start = *pts;
                }
                self.out_start = Some(start);
            }
            self.fade_in = None;
        } else if let Some(dark_since) = self.dark_since.take() {
            self.fade_in = Some(FadeIn {
                frame: f.index,
                pts: f.pts,
                start: self.out_start.take().unwrap_or(dark_since),
                prev_mean: f.luma_mean,
                rising: 0,
                stable: 0,
                last_rise: f.pts + f.duration,
            });
        } else if let Some(fi) = self.fade_in.as_mut() {
            if f.luma_mean - fi.prev_mean >= RISE {
                fi.rising += 1;
                fi.stable = 0;
                fi.last_rise = f.pts + f.duration;
            } else {
                fi.stable += 1;
            }
            fi.prev_mean = f.luma_mean;
            if fi.stable >= 3 || f.pts - fi.pts > 3.0 {
                let fi = self.fade_in.take().expect("present");
                if fi.rising >= 2 {
                    out = Some(Cut {
                        frame: fi.frame,
                        pts: fi.pts,
                        kind: CutKind::Gradual,
                        span: Some((fi.start, fi.last_rise)),
                        distance: 0.0,
                        ratio: 0.0,
                    });
                }
            }
        }
        self.history.push_back((f.pts, f.luma_mean));
        while self
            .history
            .front()
            .map(|h| h.0 < f.pts - 3.0)
            .unwrap_or(false)
        {
            self.history.pop_front();
        }
        out
    }
}

/// Cross-dissolves, reported as gradual cuts with their span.
///
/// A dissolve from shot A to shot B over frames `s+1 … e−1` (`s`: last frame of A alone, `e`:
/// first of B alone) makes every frame in between a blend `F_m ≈ F_s + α_m (F_e − F_s)` with
/// `α` rising from 0 to 1. On the Y/Cb/Cr thumbnails (1 728 values a frame) the detector looks,
/// `CALM` (3) frames after a candidate end `e`, for the shortest span `K = e − s` of 5–45 frames
/// such that
/// - the picture was calm before `s` and after `e` and moved clearly inside: the mean step
///   inside is ≥ 1.5× the mean steps of the 3 frames before `s` and after `e` (+0.002);
/// - the change is one move, not many: `D = dist(F_s, F_e) ≥ 0.06` (a cut-sized change), at
///   least half the sum of the steps inside, and no single step above half of `D` (that is a
///   hard cut);
/// - it is another picture, not a slow grade or exposure change: the luma structure (NCC of the
///   thumbnails) of `F_s` and `F_e` is below 0.8, and nothing in the span is dark (fades through
///   black are [`FadeDetector`]'s);
/// - the frames in between lie on the line from `F_s` to `F_e`: with `α_m` the least-squares
///   blend weight, the residual `‖F_m − F_s − α_m (F_e − F_s)‖ / ‖F_e − F_s‖` is ≤ 0.2 on
///   average and ≤ 0.35 at worst, and `α` rises (never falls by more than 0.1, starts below
///   0.4, ends above 0.6). Pans, zooms and motion move pixels, which no blend reproduces.
///
/// The cut's frame is the first with `α ≥ 0.5`; the span runs from the first blended frame to
/// the first frame of the new shot alone.
#[derive(Default)]
pub struct DissolveDetector {
    ring: VecDeque<(FrameFeatures, f32)>,
    /// Frames up to this index belong to a reported dissolve.
    hold_until: Option<u64>,
}

const DISSOLVE_MIN: usize = 5;
const DISSOLVE_MAX: usize = 45;
const CALM: usize = 3;

impl DissolveDetector {
    pub fn push(&mut self, f: &FrameFeatures) -> Option<Cut> {
        if !f.has_prev {
            self.ring.clear();
        }
        let d = self
            .ring
            .back()
            .map(|(p, _)| thumb_distance(p, f))
            .unwrap_or(0.0);
        self.ring.push_back((f.clone(), d));
        if self.ring.len() > DISSOLVE_MAX + 2 * CALM + 1 {
            self.ring.pop_front();
        }
        let len = self.ring.len();
        if len < DISSOLVE_MIN + 2 * CALM + 1 {
            return None;
        }
        let e = len - 1 - CALM;
        if self.hold_until.is_some_and(|h| self.ring[e].0.index <= h) {
            return None;
        }
        let step = |i: usize| self.ring[i].1;
        let after = (e + 1..len).map(step).sum::<f32>() / CALM as f32;
        // Steps inside the span, kept as the span grows backwards (one step more per `k`).
        let (mut total, mut biggest) = (0f32, 0f32);
        for i in e + 1 - DISSOLVE_MIN..=e {
            total += step(i);
            biggest = biggest.max(step(i));
        }
        for k in DISSOLVE_MIN..=DISSOLVE_MAX.min(e - CALM) {
            if k > DISSOLVE_MIN {
                total += step(e + 1 - k);
                biggest = biggest.max(step(e + 1 - k));
            }
            let s = e - k;
            // A new dissolve starts after the last one ended.
            if self.hold_until.is_some_and(|h| self.ring[s].0.index < h) {
                break;
            }
            let before = (s + 1 - CALM..=s).map(step).sum::<f32>() / CALM as f32;
            let mean = total / k as f32;
            // dist(F_s, F_e) ≤ Σ steps, so these reject before touching the thumbnails.
            if mean < 1.5 * before.max(after) + 0.002 || total < 0.06 || biggest > 0.5 * total {
                continue;
            }
            let (fs, fe) = (&self.ring[s].0, &self.ring[e].0);
            let dist = thumb_distance(fs, fe);
            if dist < 0.06 || dist < 0.5 * total || biggest > 0.5 * dist {
                continue;
            }
            if structure(fs, fe) >= 0.8 || (s..=e).any(|i| self.ring[i].0.luma_mean < DARK_MEAN) {
                continue;
            }
            if let Some(mid) = blend_fit(&self.ring, s, e) {
                let m = &self.ring[mid].0;
                self.hold_until = Some(fe.index);
                return Some(Cut {
                    frame: m.index,
                    pts: m.pts,
                    kind: CutKind::Gradual,
                    span: Some((self.ring[s + 1].0.pts, fe.pts)),
                    distance: dist,
                    ratio: mean / (before.max(after) + 0.002),
                });
            }
        }
        None
    }
}

/// Whether frames `s+1 … e−1` are blends of `s` and `e` (see [`DissolveDetector`]); the ring
/// index of the first frame at least half way, when they are.
fn blend_fit(ring: &VecDeque<(FrameFeatures, f32)>, s: usize, e: usize) -> Option<usize> {
    let (a, b) = (&ring[s].0.thumb, &ring[e].0.thumb);
    let v: Vec<f32> = b.iter().zip(a.iter()).map(|(y, x)| y - x).collect();
    let vv: f32 = v.iter().map(|x| x * x).sum();
    if vv < 1e-6 {
        return None;
    }
    let norm = vv.sqrt();
    let (mut prev_alpha, mut worst, mut sum_res) = (0f32, 0f32, 0f32);
    let mut mid = None;
    for m in s + 1..e {
        let f = &ring[m].0.thumb;
        let alpha = f
            .iter()
            .zip(a.iter())
            .zip(&v)
            .map(|((p, q), w)| (p - q) * w)
            .sum::<f32>()
            / vv;
        let res = f
            .iter()
            .zip(a.iter())
            .zip(&v)
            .map(|((p, q), w)| {
                let r = p - q - alpha * w;
                r * r
            })
            .sum::<f32>()
            .sqrt()
            / norm;
        if alpha < prev_alpha - 0.1 || (m == s + 1 && alpha > 0.4) || (m == e - 1 && alpha < 0.6) {
            return None;
        }
        if mid.is_none() && alpha >= 0.5 {
            mid = Some(m);
        }
        prev_alpha = prev_alpha.max(alpha);
        worst = worst.max(res);
        sum_res += res;
    }
    let mean_res = sum_res / (e - s - 1) as f32;
    tracing::debug!(
        from = ring[s].0.index,
        to = ring[e].0.index,
        mean_res,
        worst,
        "dissolve candidate"
    );
    (mean_res <= 0.2 && worst <= 0.35).then(|| mid.unwrap_or(e))
}

/// Shot lengths and cut rate over the stream.
///
/// Holds the cuts of the last minute or so (the owner says how far back with
/// [`Pacing::forget_before`]) and the last [`RECENT_SHOTS`] shot lengths; figures over the whole
/// stream (cuts, shortest shot, short shots) are running aggregates.
#[derive(Debug, Default, Clone)]
pub struct Pacing {
    start: Option<f64>,
    cuts: VecDeque<f64>,
    shots: VecDeque<f64>,
    last_cut: Option<f64>,
    pub total_cuts: u64,
    shortest_shot: Option<f64>,
    short_shots: usize,
}

/// Shot lengths the rolling figures (average, lognormal fit) look at.
const RECENT_SHOTS: usize = 20;
/// A completed shot shorter than this is a short shot (stutter, jump cut), s.
const SHORT_SHOT_S: f64 = 0.5;

/// Median shot length of modern feature films (their averages run ~2–6 s), s.
const FILM_MEDIAN_SHOT_S: f64 = 3.5;
/// Typical standard deviation of ln(shot length) in films (shot lengths are roughly lognormal).
const FILM_LOG_SD: f64 = 0.9;

/// Pacing figures of a window.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PacingFigures {
    pub cuts: usize,
    pub cuts_per_minute: f64,
    pub average_shot_length_s: Option<f64>,
    pub shortest_shot_s: Option<f64>,
    /// Completed shots shorter than 0.5 s in the window (stutter / jump cuts).
    pub short_shots: usize,
    /// Lognormal fit of the last 20 completed shot lengths (≥ 5 shots): median `e^μ`, s.
    pub shot_length_median_s: Option<f64>,
    /// … and `σ`, the standard deviation of `ln(length)`.
    pub shot_length_log_sd: Option<f64>,
    /// Distance of that fit from film norms, `√(((μ − ln 3.5)/0.5)² + ((σ − 0.9)/0.4)²)`:
    /// ≤ 1 reads like modern feature films, ≥ 2 is far from them.
    pub film_norm_distance: Option<f64>,
}

impl Pacing {
    pub fn start(&mut self, t: f64) {
        self.start.get_or_insert(t);
    }

    pub fn on_cut(&mut self, t: f64) {
        let prev = self.last_cut.or(self.start);
        if let Some(p) = prev {
            let len = t - p;
            self.shots.push_back(len);
            if self.shots.len() > RECENT_SHOTS {
                self.shots.pop_front();
            }
            self.shortest_shot = Some(self.shortest_shot.map_or(len, |s| s.min(len)));
            self.short_shots += (len < SHORT_SHOT_S) as usize;
        }
        self.last_cut = Some(t);
        self.cuts.push_back(t);
        self.total_cuts += 1;
    }

    /// Forget cuts before `t` (keeping the last one before it: the start of the shot at `t`).
    pub fn forget_before(&mut self, t: f64) {
        while self.cuts.len() > 1 && self.cuts[1] < t {
            self.cuts.pop_front();
        }
    }

    /// Entries held.
    pub fn sizes(&self) -> [(&'static str, usize); 2] {
        [
            ("pacing.cuts", self.cuts.len()),
            ("pacing.shots", self.shots.len()),
        ]
    }

    /// Figures over the whole stream up to `end`, from the running aggregates: every cut, the
    /// shortest and the short shots of the whole stream; the rolling figures as in a window.
    pub fn summary(&self, end: f64) -> PacingFigures {
        let since = self.start.unwrap_or(end).max(end - 60.0);
        let recent = self
            .cuts
            .iter()
            .filter(|t| **t >= since && **t < end)
            .count();
        let span = (end - since).max(1.0);
        PacingFigures {
            cuts: self.total_cuts as usize,
            cuts_per_minute: recent as f64 * 60.0 / span,
            average_shot_length_s: (!self.shots.is_empty())
                .then(|| self.shots.iter().sum::<f64>() / self.shots.len() as f64),
            shortest_shot_s: self.shortest_shot,
            short_shots: self.short_shots,
            ..self.distribution()
        }
    }

    /// Cut times in `[start, end)`.
    pub fn cuts_between(&self, start: f64, end: f64) -> Vec<f64> {
        self.cuts
            .iter()
            .copied()
            .filter(|t| *t >= start && *t < end)
            .collect()
    }

    /// Lengths of all completed shots seen (the last 20).
    pub fn shot_lengths(&self) -> Vec<f64> {
        self.shots.iter().copied().collect()
    }

    pub fn figures(&self, start: f64, end: f64) -> PacingFigures {
        let in_window: Vec<f64> = self
            .cuts
            .iter()
            .copied()
            .filter(|t| *t >= start && *t < end)
            .collect();
        let since = self.start.unwrap_or(start).max(end - 60.0);
        let recent = self
            .cuts
            .iter()
            .filter(|t| **t >= since && **t < end)
            .count();
        let span = (end - since).max(1.0);
        // Shots completed inside the window.
        let mut lens = vec![];
        let mut prev = self
            .cuts
            .iter()
            .copied()
            .filter(|t| *t < start)
            .last()
            .or(self.start);
        for t in &in_window {
            if let Some(p) = prev {
                lens.push(t - p);
            }
            prev = Some(*t);
        }
        PacingFigures {
            cuts: in_window.len(),
            cuts_per_minute: recent as f64 * 60.0 / span,
            average_shot_length_s: (!self.shots.is_empty())
                .then(|| self.shots.iter().sum::<f64>() / self.shots.len() as f64),
            shortest_shot_s: lens.iter().copied().reduce(f64::min),
            short_shots: lens.iter().filter(|l| **l < SHORT_SHOT_S).count(),
            ..self.distribution()
        }
    }

    /// Lognormal fit of the recent shot lengths against film norms (see [`PacingFigures`]).
    fn distribution(&self) -> PacingFigures {
        let logs: Vec<f64> = self
            .shots
            .iter()
            .filter(|l| **l > 0.0)
            .map(|l| l.ln())
            .collect();
        if logs.len() < 5 {
            return PacingFigures::default();
        }
        let n = logs.len() as f64;
        let mu = logs.iter().sum::<f64>() / n;
        let sigma = (logs.iter().map(|x| (x - mu).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        let z = (((mu - FILM_MEDIAN_SHOT_S.ln()) / 0.5).powi(2)
            + ((sigma - FILM_LOG_SD) / 0.4).powi(2))
        .sqrt();
        PacingFigures {
            shot_length_median_s: Some(mu.exp()),
            shot_length_log_sd: Some(sigma),
            film_norm_distance: Some(z),
            ..PacingFigures::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::features::THUMB_CELLS;

    fn frame(i: u64, level: f32, pan: f32) -> FrameFeatures {
        // A "scene" thumbnail: a pattern shifted by `pan`; each brightness level is another
        // scene with a pattern of its own (another frequency and orientation).
        let mut thumb = vec![0f32; 3 * THUMB_CELLS];
        let freq = 1.0 + 4.0 * level;
        for (k, v) in thumb.iter_mut().enumerate() {
            let x = (k % 32) as f32 / 32.0;
            let y = ((k / 32) % 18) as f32 / 18.0;
            let coord = if level > 0.5 { y } else { x };
            *v = (level + 0.3 * ((coord * freq + pan) * std::f32::consts::TAU).sin())
                .clamp(0.0, 1.0);
        }
        let mut hist = [0f32; 16];
        hist[((level * 15.0) as usize).min(15)] = 1.0;
        FrameFeatures {
            luma_mean: level,
            luma_std: 0.2,
            hist,
            thumb: thumb.into(),
            ..FrameFeatures::for_test(i)
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

    /// A flat card of one colour (Y, Cb, Cr), frame `i`.
    fn card(i: u64, ycbcr: [f32; 3]) -> FrameFeatures {
        let mut thumb = vec![0f32; 3 * THUMB_CELLS];
        for (k, v) in thumb.iter_mut().enumerate() {
            *v = ycbcr[k / THUMB_CELLS];
        }
        let mut hist = [0f32; 16];
        hist[((ycbcr[0] * 15.0) as usize).min(15)] = 1.0;
        FrameFeatures {
            luma_mean: ycbcr[0],
            luma_std: 0.0,
            hist,
            thumb: thumb.into(),
            ..FrameFeatures::for_test(i)
        }
    }

    #[test]
    fn a_cut_between_two_flat_cards_of_other_colours_is_a_cut() {
        let (red, blue, grey) = ([0.3, 0.35, 0.9], [0.15, 0.95, 0.45], [0.5, 0.5, 0.5]);
        let mut det = CutDetector::new();
        let mut out = CutOutput::default();
        for i in 0..90u64 {
            let c = match i {
                0..=29 => red,
                30..=59 => blue,
                // The same grey, a little brighter from frame 75: no new colour, no cut.
                60..=74 => grey,
                _ => [0.53, 0.5, 0.5],
            };
            det.push(&card(i, c), &mut out);
        }
        det.finish(&mut out);
        let frames: Vec<u64> = out.cuts.iter().map(|c| c.frame).collect();
        assert_eq!(frames, vec![30, 60], "{:?}", out.cuts);
    }

    #[test]
    fn a_grade_jump_inside_a_shot_is_not_a_cut() {
        let mut det = CutDetector::new();
        let mut out = CutOutput::default();
        for i in 0..60u64 {
            let mut f = frame(i, 0.3, i as f32 * 0.01);
            if i >= 30 {
                // Same picture, darker and re-tinted from frame 30 on.
                f.thumb = f
                    .thumb
                    .iter()
                    .enumerate()
                    .map(|(k, v)| {
                        if k < THUMB_CELLS {
                            v * 0.7 + 0.02
                        } else {
                            (v + 0.15).min(1.0)
                        }
                    })
                    .collect();
                f.luma_mean = f.luma_mean * 0.7 + 0.02;
            }
            det.push(&f, &mut out);
        }
        det.finish(&mut out);
        assert!(out.cuts.is_empty(), "{:?}", out.cuts);
        assert_eq!(
            out.visual.len(),
            1,
            "still an abrupt visual change for the sync head"
        );
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
        assert_eq!(
            f.film_norm_distance, None,
            "fewer than 5 shots: no distribution"
        );

        // Film-like cutting (lognormal around 3.5 s) is near the norm; a steady 0.4 s strobe of
        // cuts is far from it.
        let mut film = Pacing::default();
        film.start(0.0);
        let mut t = 0.0;
        for l in [1.6, 3.5, 7.2, 2.4, 5.1, 3.0, 11.0, 1.9, 4.4, 2.8] {
            t += l;
            film.on_cut(t);
        }
        let f = film.figures(t - 4.0, t + 0.1);
        let d = f.film_norm_distance.unwrap();
        assert!(d < 1.0, "{f:?}");
        assert!((f.shot_length_median_s.unwrap() - 3.5).abs() < 0.8, "{f:?}");
        let mut strobe = Pacing::default();
        strobe.start(0.0);
        for k in 1..30 {
            strobe.on_cut(k as f64 * 0.4);
        }
        let g = strobe.figures(8.0, 12.0);
        assert!(g.film_norm_distance.unwrap() > 3.0, "{g:?}");
    }
}
