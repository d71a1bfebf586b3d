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
    [f.luma_mean, f.luma_std, cb, cr, (cb - 0.5).abs() + (cr - 0.5).abs()]
}

pub fn drift(a: &[f32; SIGNATURE], b: &[f32; SIGNATURE]) -> f32 {
    a.iter().zip(b).zip(SCALES).map(|((x, y), s)| ((x - y) / s).powi(2)).sum::<f32>().sqrt()
}

#[derive(Default)]
pub struct StyleTracker {
    sum: [f32; SIGNATURE],
    n: u32,
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
    /// Frames of a black or flat picture carry no grade.
    pub fn push(&mut self, f: &FrameFeatures) {
        if f.luma_std < 0.02 {
            return;
        }
        let s = frame_signature(f);
        for (acc, v) in self.sum.iter_mut().zip(s) {
            *acc += v;
        }
        self.n += 1;
    }

    fn current(&self) -> Option<[f32; SIGNATURE]> {
        (self.n >= 3).then(|| self.sum.map(|v| v / self.n as f32))
    }

    /// A cut closes the current shot.
    pub fn on_cut(&mut self) {
        if let Some(sig) = self.current() {
            self.shots.push_back(sig);
            if self.shots.len() > 100 {
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

    pub fn figures(&self) -> StyleFigures {
        let cur = self.current();
        let seq = (self.seq_n > 0).then(|| self.seq_sum.map(|v| (v / self.seq_n as f64) as f32));
        let drift_prev = cur.zip(self.shots.back().copied()).map(|(a, b)| drift(&a, &b));
        let drift_sequence = cur.zip(seq).map(|(a, b)| drift(&a, &b));
        StyleFigures {
            signature: cur.map(|s| s.map(|v| (v * 1000.0).round() / 1000.0)),
            drift_prev: drift_prev.map(|d| (d * 100.0).round() / 100.0),
            drift_sequence: drift_sequence.map(|d| (d * 100.0).round() / 100.0),
            score: drift_sequence.map(|d| (100.0 * (-(d as f64) / 4.0).exp() * 100.0).round() / 100.0),
            shots: self.seq_n + cur.is_some() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
