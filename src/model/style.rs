//! Style: a colour/grade signature per shot, and how far the current shot drifts from the
//! previous one and from the sequence so far (post-production / colour).
//!
//! **Signature** of a shot (means over its frames): luma mean, luma contrast (per-frame std),
//! Cb and Cr means, and chroma strength `|Cb − ½| + |Cr − ½|` (a saturation proxy), all 0–1.
//!
//! **Drift** between two signatures: `sqrt(Σ ((a_i − b_i) / s_i)²)` with scales
//! `s = [0.08, 0.04, 0.025, 0.025, 0.04]` — roughly one "just noticeable" grade difference per
//! unit. `drift_prev`: current shot vs the previous shot; `drift_sequence`: current shot vs the
//! mean signature of all earlier shots. Cuts between scenes legitimately change the look, so
//! the sequence drift is the figure to watch for a generator losing its grade.
//!
//! **Style score** (0–100, higher is better): `100 · exp(−drift_sequence / 4)`; none before
//! the second shot.
use super::features::FrameFeatures;
use serde::Serialize;
use std::collections::VecDeque;

pub const SIGNATURE: usize = 5;
const SCALES: [f32; SIGNATURE] = [0.08, 0.04, 0.025, 0.025, 0.04];

/// Signature of one frame.
fn frame_signature(f: &FrameFeatures) -> [f32; SIGNATURE] {
    let (cb, cr) = f.chroma_means();
    [
        f.luma_mean,
        f.luma_std,
        cb,
        cr,
        (cb - 0.5).abs() + (cr - 0.5).abs(),
    ]
}

pub fn drift(a: &[f32; SIGNATURE], b: &[f32; SIGNATURE]) -> f32 {
    a.iter()
        .zip(b)
        .zip(SCALES)
        .map(|((x, y), s)| ((x - y) / s).powi(2))
        .sum::<f32>()
        .sqrt()
}

/// Frames kept apart before they count for their shot: cuts are decided a few frames late
/// (and per batch), so a frame's shot is only known once no cut can land before it.
const PENDING: usize = 64;

#[derive(Default)]
pub struct StyleTracker {
    sum: [f32; SIGNATURE],
    n: u32,
    pending: VecDeque<(u64, [f32; SIGNATURE])>,
    shots: VecDeque<[f32; SIGNATURE]>,
    seq_sum: [f64; SIGNATURE],
    seq_n: u64,
}

/// Style figures of a window.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StyleFigures {
    /// Signature of the current shot so far.
    pub signature: Option<[f32; SIGNATURE]>,
    pub drift_prev: Option<f32>,
    pub drift_sequence: Option<f32>,
    pub score: Option<f64>,
    pub shots: u64,
}

impl StyleTracker {
    fn commit(&mut self, sig: [f32; SIGNATURE]) {
        for (acc, v) in self.sum.iter_mut().zip(sig) {
            *acc += v;
        }
        self.n += 1;
    }

    /// Feed a frame. Frames of a black or flat picture carry no grade.
    pub fn push(&mut self, f: &FrameFeatures) {
        if f.luma_std < 0.02 {
            return;
        }
        self.pending.push_back((f.index, frame_signature(f)));
        while self.pending.len() > PENDING {
            if let Some((_, sig)) = self.pending.pop_front() {
                self.commit(sig);
            }
        }
    }

    fn current(&self) -> Option<[f32; SIGNATURE]> {
        let n = self.n as usize + self.pending.len();
        (n >= 3).then(|| {
            let mut s = self.sum;
            for (_, p) in &self.pending {
                for (acc, v) in s.iter_mut().zip(p) {
                    *acc += v;
                }
            }
            s.map(|v| v / n as f32)
        })
    }

    /// A cut at `frame` closes the shot before it; frames from `frame` on start the next one.
    pub fn on_cut(&mut self, frame: u64) {
        while self
            .pending
            .front()
            .map(|(i, _)| *i < frame)
            .unwrap_or(false)
        {
            if let Some((_, sig)) = self.pending.pop_front() {
                self.commit(sig);
            }
        }
        if self.n >= 3 {
            let sig = self.sum.map(|v| v / self.n as f32);
            self.shots.push_back(sig);
            // The figures compare with the last shot and the one before it only.
            if self.shots.len() > 2 {
                self.shots.pop_front();
            }
            for (acc, v) in self.seq_sum.iter_mut().zip(sig) {
                *acc += v as f64;
            }
            self.seq_n += 1;
        }
        self.sum = [0.0; SIGNATURE];
        self.n = 0;
    }

    /// Entries held.
    pub fn sizes(&self) -> [(&'static str, usize); 2] {
        [
            ("style.pending", self.pending.len()),
            ("style.shots", self.shots.len()),
        ]
    }

    /// Figures for the current shot; while it is too young (< 3 frames), for the last shot.
    pub fn figures(&self) -> StyleFigures {
        let (cur, prev_idx) = match self.current() {
            Some(c) => (Some(c), self.shots.len().checked_sub(1)),
            None => (self.shots.back().copied(), self.shots.len().checked_sub(2)),
        };
        let prev = prev_idx.and_then(|i| self.shots.get(i)).copied();
        let earlier = match self.current() {
            Some(_) => self.seq_n,
            None => self.seq_n.saturating_sub(1),
        };
        let seq = (earlier > 0).then(|| {
            // Mean of the shots before the one described (all completed ones, or all but the last).
            let mut s = self.seq_sum;
            if self.current().is_none() {
                if let Some(last) = self.shots.back() {
                    for (acc, v) in s.iter_mut().zip(last) {
                        *acc -= *v as f64;
                    }
                }
            }
            s.map(|v| (v / earlier as f64) as f32)
        });
        let drift_prev = cur.zip(prev).map(|(a, b)| drift(&a, &b));
        let drift_sequence = cur.zip(seq).map(|(a, b)| drift(&a, &b));
        StyleFigures {
            signature: cur.map(|s| s.map(|v| (v * 1000.0).round() / 1000.0)),
            drift_prev: drift_prev.map(|d| (d * 100.0).round() / 100.0),
            drift_sequence: drift_sequence.map(|d| (d * 100.0).round() / 100.0),
            score: drift_sequence
                .map(|d| (100.0 * (-(d as f64) / 4.0).exp() * 100.0).round() / 100.0),
            shots: self.seq_n + self.current().is_some() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(i: u64, luma: f32, cb: f32) -> FrameFeatures {
        let cells = super::super::features::THUMB_CELLS;
        let mut thumb = vec![luma; 3 * cells];
        thumb[cells..2 * cells].fill(cb);
        thumb[2 * cells..].fill(0.5);
        FrameFeatures {
            luma_mean: luma,
            thumb: thumb.into(),
            ..FrameFeatures::for_test(i)
        }
    }

    #[test]
    fn shots_are_split_at_the_cut_frame_even_when_the_cut_comes_late() {
        let mut t = StyleTracker::default();
        for i in 0..50 {
            t.push(&frame(i, 0.7, 0.5));
        }
        for i in 50..90 {
            t.push(&frame(i, 0.3, 0.4));
        }
        // The cut at frame 50 is only known now.
        t.on_cut(50);
        let f = t.figures();
        assert_eq!(f.signature.unwrap()[0], 0.3);
        assert!(f.drift_prev.unwrap() > 4.0, "{f:?}");
        assert_eq!(f.shots, 2);
    }

    #[test]
    fn drift_is_zero_for_the_same_look_and_grows_with_a_grade_change() {
        let a = [0.5, 0.2, 0.5, 0.5, 0.0];
        assert_eq!(drift(&a, &a), 0.0);
        let warmer = [0.5, 0.2, 0.45, 0.56, 0.11];
        assert!(drift(&a, &warmer) > 3.0);
        let slightly = [0.51, 0.2, 0.5, 0.5, 0.0];
        assert!(drift(&a, &slightly) < 0.2);
    }
}
