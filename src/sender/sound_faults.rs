//! Sound faults for `inject` and `generate` (post-production / sound design), each over a span of
//! the output, applied sample by sample at 48 kHz:
//!
//! - `gain A:B:DB`: the level changed by DB decibels over the span (a gain step at A and back at
//!   B; + louder, − quieter);
//! - `clip A:B:DB`: the sound driven DB decibels hotter and hard-clipped at full scale over the
//!   span (a flat top: the mix into the rails);
//! - `dropout T:MS`: MS milliseconds of digital silence from T (a hole cut into the sound).
//!
//! Times are seconds of the output's decoded audio, the same clock as the picture.
use super::picture_faults::Amount;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SoundFaults {
    #[serde(default)]
    pub gain: Vec<Amount>,
    #[serde(default)]
    pub clip: Vec<Amount>,
    /// (start s, length ms).
    #[serde(default)]
    pub dropout: Vec<(f64, f64)>,
}

impl SoundFaults {
    pub fn is_empty(&self) -> bool {
        self.gain.is_empty() && self.clip.is_empty() && self.dropout.is_empty()
    }

    pub fn validate(&self) -> Result<(), String> {
        for (kind, (a, b, x)) in self
            .gain
            .iter()
            .map(|g| ("gain", *g))
            .chain(self.clip.iter().map(|c| ("clip", *c)))
        {
            if !(a.is_finite() && b.is_finite() && a >= 0.0 && b > a && x.is_finite()) {
                return Err(format!(
                    "{kind} span {a}:{b} needs 0 <= A < B and a finite amount"
                ));
            }
            if x.abs() > 60.0 {
                return Err(format!("{kind} must be within ±60 dB"));
            }
        }
        if self.clip.iter().any(|c| c.2 <= 0.0) {
            return Err("clip drive must be above 0 dB".into());
        }
        for (t, ms) in &self.dropout {
            if !(t.is_finite() && *t >= 0.0 && ms.is_finite() && *ms > 0.0 && *ms <= 10_000.0) {
                return Err(format!("dropout {t}:{ms} needs T >= 0 and 0 < MS <= 10000"));
            }
        }
        Ok(())
    }

    /// The sample `x` at output time `t`, with the faults whose span holds `t`.
    pub fn apply(&self, t: f64, x: f32) -> f32 {
        let within = |a: f64, b: f64| t >= a && t < b;
        if self
            .dropout
            .iter()
            .any(|(s, ms)| within(*s, s + ms / 1000.0))
        {
            return 0.0;
        }
        let mut v = x as f64;
        for (a, b, db) in &self.gain {
            if within(*a, *b) {
                v *= 10f64.powf(db / 20.0);
            }
        }
        for (a, b, db) in &self.clip {
            if within(*a, *b) {
                v = (v * 10f64.powf(db / 20.0)).clamp(-1.0, 1.0);
            }
        }
        // Overlapping gains stack; keep the sample finite (±60 dB over full scale at most).
        v.clamp(-1000.0, 1000.0) as f32
    }

    /// Every fault as (truth kind, start s, end s, amount).
    pub fn all(&self) -> impl Iterator<Item = (&'static str, f64, f64, f64)> + '_ {
        self.gain
            .iter()
            .map(|(a, b, x)| ("gain_step", *a, *b, *x))
            .chain(self.clip.iter().map(|(a, b, x)| ("clipping", *a, *b, *x)))
            .chain(
                self.dropout
                    .iter()
                    .map(|(t, ms)| ("dropout", *t, t + ms / 1000.0, *ms)),
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gain_clip_and_dropout_act_only_inside_their_spans() {
        let f = SoundFaults {
            gain: vec![(1.0, 2.0, -6.0)],
            clip: vec![(3.0, 4.0, 20.0)],
            dropout: vec![(5.0, 20.0)],
        };
        assert_eq!(f.apply(0.5, 0.4), 0.4);
        assert!((f.apply(1.5, 0.4) - 0.4 * 0.501).abs() < 1e-3);
        assert_eq!(f.apply(2.0, 0.4), 0.4, "the span is half-open");
        assert_eq!(f.apply(3.5, 0.4), 1.0);
        assert_eq!(f.apply(3.5, -0.05), -0.5);
        assert_eq!(f.apply(5.019, 0.4), 0.0);
        assert_eq!(f.apply(5.021, 0.4), 0.4);
        assert!(f.validate().is_ok());
        let bad = SoundFaults {
            clip: vec![(0.0, 1.0, -3.0)],
            ..Default::default()
        };
        assert!(bad.validate().is_err());
    }
}
