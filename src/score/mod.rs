//! Score: turn the model's measurements into 0–100 dimension scores (higher is better), each
//! with a diagnosis a user can act on, and into the records of the JSON-lines contract.
//!
//! | dimension | stage / aspect (EvalVerse taxonomy) | from |
//! |---|---|---|
//! | `sync` | post-production / sound design (audio-visual fusion) | audio delay vs ITU-R BT.1359 |
//! | `continuity` | production / cinematography; post / editing, sound | freeze, black, silence, flicker, flashes |
//! | `rhythm` | post-production / editing rhythm; pre-production / scene planning | shot lengths, cut rate |
//!
//! **sync** (`None` when the head declined): 100 inside the detectability window of
//! ITU-R BT.1359 (audio up to 45 ms early, 125 ms late); falling linearly to 60 at the
//! acceptability limits (90 ms early, 185 ms late); to 0 at twice those; 0 beyond.
//!
//! **continuity** = `100 · (1 − freeze) · (1 − black) · (1 − 0.8·silence) · (1 − min(1, 2·flicker))
//! − 5·(flashes + glitches + grade jumps)`, clamped to 0–100, where freeze/black/silence/flicker are the shares of the
//! window inside such events (silence only when the stream has audio).
//!
//! **rhythm**: 100 while the average shot length (last 20 shots) is within 2–8 s, falling
//! linearly to 40 at 0.5 s and to 70 at 30 s; minus 15 per completed shot shorter than 0.5 s in
//! the window; clamped to 0–100. No cuts yet is 100: a long take is a style, not a fault.
//!
//! **overall**: the weighted mean of the scores present (sync 0.3, continuity 0.45, rhythm 0.25).
pub mod calibrated;
pub mod record;
pub mod taxonomy;

use serde::Serialize;

/// The four rolling scores (0–100, higher is better). `None`: not measurable in this window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Scores {
    pub sync: Option<f64>,
    pub continuity: Option<f64>,
    pub rhythm: Option<f64>,
    /// Post-production sound (clipping, dropouts; `model::sound`). Not part of `overall`
    /// (which keeps its calibrated meaning): rules and dashboards read it on its own.
    pub sound: Option<f64>,
    /// Production picture (exposure, focus, noise, camera steadiness; `model::picture`). Not
    /// part of `overall` either.
    pub picture: Option<f64>,
    pub overall: Option<f64>,
}

impl Scores {
    /// The dimensions by name, in the contract's order.
    pub const NAMES: [&'static str; 6] = [
        "sync",
        "continuity",
        "rhythm",
        "sound",
        "picture",
        "overall",
    ];

    /// Each dimension's score by name.
    pub fn named(&self) -> [(&'static str, Option<f64>); 6] {
        let v = [
            self.sync,
            self.continuity,
            self.rhythm,
            self.sound,
            self.picture,
            self.overall,
        ];
        let mut out = [("", None); 6];
        for (i, (n, v)) in Self::NAMES.iter().zip(v).enumerate() {
            out[i] = (*n, v);
        }
        out
    }

    /// Scores from a score per dimension name.
    pub fn from_named(f: impl Fn(&str) -> Option<f64>) -> Self {
        Scores {
            sync: f("sync"),
            continuity: f("continuity"),
            rhythm: f("rhythm"),
            sound: f("sound"),
            picture: f("picture"),
            overall: f("overall"),
        }
    }

    /// Every score rounded to the contract's 4 decimals.
    pub fn rounded(self) -> Self {
        let r = |v: Option<f64>| v.map(|x| (x * 1e4).round() / 1e4);
        Scores {
            sync: r(self.sync),
            continuity: r(self.continuity),
            rhythm: r(self.rhythm),
            sound: r(self.sound),
            picture: r(self.picture),
            overall: r(self.overall),
        }
    }
}

fn lerp(x: f64, x0: f64, x1: f64, y0: f64, y1: f64) -> f64 {
    y0 + (y1 - y0) * ((x - x0) / (x1 - x0)).clamp(0.0, 1.0)
}

/// ITU-R BT.1359 thresholds, ms (audio early / audio late).
pub const DETECT_EARLY_MS: f64 = 45.0;
pub const DETECT_LATE_MS: f64 = 125.0;
pub const ACCEPT_EARLY_MS: f64 = 90.0;
pub const ACCEPT_LATE_MS: f64 = 185.0;

pub fn sync_score(audio_delay_ms: Option<f64>) -> Option<f64> {
    let d = audio_delay_ms?;
    let (detect, accept) = if d >= 0.0 {
        (DETECT_LATE_MS, ACCEPT_LATE_MS)
    } else {
        (DETECT_EARLY_MS, ACCEPT_EARLY_MS)
    };
    let a = d.abs();
    Some(if a <= detect {
        100.0
    } else if a <= accept {
        lerp(a, detect, accept, 100.0, 60.0)
    } else {
        lerp(a, accept, 2.0 * accept, 60.0, 0.0)
    })
}

/// Inputs of the continuity score, all shares of the window (0–1).
#[derive(Clone, Copy, Debug, Default)]
pub struct ContinuityInputs {
    pub freeze: f64,
    pub black: f64,
    pub silence: Option<f64>,
    pub flicker: f64,
    pub flashes: usize,
}

pub fn continuity_score(c: &ContinuityInputs) -> f64 {
    let s = 100.0
        * (1.0 - c.freeze.clamp(0.0, 1.0))
        * (1.0 - c.black.clamp(0.0, 1.0))
        * (1.0 - 0.8 * c.silence.unwrap_or(0.0).clamp(0.0, 1.0))
        * (1.0 - (2.0 * c.flicker).clamp(0.0, 1.0))
        - 5.0 * c.flashes as f64;
    s.clamp(0.0, 100.0)
}

pub fn rhythm_score(average_shot_length_s: Option<f64>, short_shots: usize) -> f64 {
    let base = match average_shot_length_s {
        None => 100.0,
        Some(a) if a < 2.0 => lerp(a, 0.5, 2.0, 40.0, 100.0),
        Some(a) if a > 8.0 => lerp(a, 8.0, 30.0, 100.0, 70.0),
        Some(_) => 100.0,
    };
    (base - 15.0 * short_shots as f64).clamp(0.0, 100.0)
}

pub fn overall(sync: Option<f64>, continuity: Option<f64>, rhythm: Option<f64>) -> Option<f64> {
    let parts = [(sync, 0.3), (continuity, 0.45), (rhythm, 0.25)];
    let (sum, w) = parts
        .iter()
        .filter_map(|(s, w)| s.map(|s| (s * w, *w)))
        .fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
    (w > 0.0).then(|| sum / w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_score_follows_bt1359() {
        assert_eq!(sync_score(Some(0.0)), Some(100.0));
        assert_eq!(sync_score(Some(120.0)), Some(100.0));
        assert_eq!(sync_score(Some(-45.0)), Some(100.0));
        assert!(
            sync_score(Some(-60.0)).unwrap() < 100.0,
            "audio early is noticed sooner"
        );
        assert!((sync_score(Some(185.0)).unwrap() - 60.0).abs() < 1e-9);
        assert_eq!(sync_score(Some(1000.0)), Some(0.0));
        assert_eq!(sync_score(None), None);
    }

    #[test]
    fn continuity_and_rhythm_penalise_what_they_say() {
        let clean = ContinuityInputs::default();
        assert_eq!(continuity_score(&clean), 100.0);
        let frozen = ContinuityInputs {
            freeze: 0.5,
            ..clean
        };
        assert!((continuity_score(&frozen) - 50.0).abs() < 1e-9);
        assert_eq!(rhythm_score(Some(4.0), 0), 100.0);
        assert!(rhythm_score(Some(1.0), 0) < 100.0);
        assert_eq!(rhythm_score(Some(4.0), 2), 70.0);
        assert_eq!(
            overall(None, Some(100.0), Some(50.0)),
            Some((45.0 + 12.5) / 0.7)
        );
    }
}
