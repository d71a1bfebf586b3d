//! Beat: how the cutting relates to the sound (post-production / editing rhythm).
//!
//! - **tempo**: autocorrelation `ac(L)` of the audio-onset impulse train (10 ms grid, each
//!   onset weighted by its strength in dB) over lags 0.3–1.5 s (200–40 BPM); the best lag `P`
//!   gives `tempo_bpm = 60 / P` and `periodicity = ac(P) / ac(0)` (0–1). A tempo is reported
//!   when periodicity ≥ 0.3 with at least 6 onsets; otherwise the sound has no steady beat.
//! - **cut–beat alignment**: the share of the cuts in the same horizon that fall within ±50 ms
//!   of an audio onset (the beats and hits a cut can be laid on); `None` without cuts.
//!
//! Both look at the sync horizon (`analysis.sync_horizon_s`) ending at the window's end.
use super::sync::Onset;
use serde::Serialize;

const GRID: f64 = 0.010;
const ALIGN: f64 = 0.050;

#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct BeatFigures {
    pub tempo_bpm: Option<f64>,
    pub periodicity: f64,
    pub onsets: usize,
    pub cut_beat_alignment: Option<f64>,
    pub cuts_on_beat: usize,
}

pub fn figures(onsets: &[Onset], cuts: &[f64], from: f64, to: f64) -> BeatFigures {
    let inside: Vec<&Onset> = onsets.iter().filter(|o| o.t >= from && o.t < to).collect();
    let len = ((to - from) / GRID).ceil().max(1.0) as usize;
    let mut train = vec![0f32; len];
    for o in &inside {
        let i = (((o.t - from) / GRID) as usize).min(len - 1);
        train[i] += o.strength.max(0.0);
    }
    let ac = |lag: usize| -> f32 {
        train
            .iter()
            .zip(train.iter().skip(lag))
            .map(|(a, b)| a * b)
            .sum()
    };
    let zero = ac(0);
    let (lo, hi) = ((0.3 / GRID) as usize, (1.5 / GRID) as usize);
    let mut best = (0usize, 0f32);
    for lag in lo..=hi.min(len.saturating_sub(1)) {
        // Tolerate ±1 bin of timing jitter.
        let v = ac(lag) + 0.5 * (ac(lag - 1) + ac(lag + 1));
        if v > best.1 {
            best = (lag, v);
        }
    }
    let periodicity = if zero > 0.0 {
        (best.1 / zero).min(1.0) as f64
    } else {
        0.0
    };
    let tempo_bpm = (periodicity >= 0.3 && inside.len() >= 6 && best.0 > 0)
        .then(|| (60.0 / (best.0 as f64 * GRID) * 10.0).round() / 10.0);
    let window_cuts: Vec<f64> = cuts
        .iter()
        .copied()
        .filter(|c| *c >= from && *c < to)
        .collect();
    let on_beat = window_cuts
        .iter()
        .filter(|c| onsets.iter().any(|o| (o.t - **c).abs() <= ALIGN))
        .count();
    BeatFigures {
        tempo_bpm,
        periodicity: (periodicity * 1000.0).round() / 1000.0,
        onsets: inside.len(),
        cut_beat_alignment: (!window_cuts.is_empty())
            .then(|| on_beat as f64 / window_cuts.len() as f64),
        cuts_on_beat: on_beat,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_steady_tempo_and_counts_cuts_on_beats() {
        // 120 BPM: an onset every 0.5 s; cuts on two beats and one off-beat.
        let onsets: Vec<Onset> = (0..24)
            .map(|k| Onset {
                t: k as f64 * 0.5,
                strength: 20.0,
            })
            .collect();
        let f = figures(&onsets, &[2.0, 4.51, 7.25], 0.0, 12.0);
        assert_eq!(f.tempo_bpm, Some(120.0));
        assert!(f.periodicity > 0.8);
        assert_eq!(f.cuts_on_beat, 2);
        assert!((f.cut_beat_alignment.unwrap() - 2.0 / 3.0).abs() < 1e-9);
        // Irregular onsets: no tempo.
        let irregular: Vec<Onset> = [0.3, 1.1, 1.35, 2.9, 4.4, 4.6, 7.0, 9.1]
            .iter()
            .map(|t| Onset {
                t: *t,
                strength: 20.0,
            })
            .collect();
        assert_eq!(figures(&irregular, &[], 0.0, 12.0).tempo_bpm, None);
    }
}
