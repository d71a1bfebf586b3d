//! Timestamps that lie: a jump of a medium's timestamps (a muxer or generator restarting its
//! clock, a 3-hour stamp in the middle of a file, an RTP clock re-anchored) is a
//! **discontinuity**. It is reported once and folded away: each medium's times are shifted so
//! the stream's timeline stays continuous, and nothing downstream allocates or loops in
//! proportion to the jump.
//!
//! Both media usually jump together. The first to jump sets the shift; the other, when it jumps
//! by about as much (within [`SAME_JUMP_S`]), takes the same shift, so the audio–video relation
//! is kept exactly. A medium that jumps alone gets its own shift.

/// Two jumps within this of each other are one discontinuity seen by both media.
pub const SAME_JUMP_S: f64 = 1.0;
/// A backward step larger than this is a discontinuity (a forward one: the configured
/// `analysis.discontinuity_s`).
pub const BACKWARD_S: f64 = 1.0;

pub use crate::types::Medium;

/// A discontinuity: where the timeline was (stream time, continuous) and the raw timestamps
/// on either side of the jump.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Jump {
    pub medium: Medium,
    /// Stream time of the jump (where the medium continues).
    pub at: f64,
    /// Raw timestamp expected next, and the one that came.
    pub expected_raw: f64,
    pub raw: f64,
}

impl Jump {
    /// Size of the jump, seconds (negative: backward).
    pub fn size(&self) -> f64 {
        self.raw - self.expected_raw
    }
}

#[derive(Clone, Debug)]
pub struct Timeline {
    forward_s: f64,
    /// Shift subtracted from each medium's raw times.
    shift: [f64; 2],
    /// Stream time each medium is expected to continue at.
    expected: [Option<f64>; 2],
    /// The latest discontinuity's shift step and which media have taken it.
    recent: Option<(f64, [bool; 2])>,
    pub jumps: u64,
}

impl Timeline {
    pub fn new(forward_s: f64) -> Self {
        Self {
            forward_s,
            shift: [0.0; 2],
            expected: [None; 2],
            recent: None,
            jumps: 0,
        }
    }

    /// Map a unit (frame or chunk) of `m` at raw time `raw` lasting `duration` onto the stream
    /// timeline; returns its stream time and the discontinuity it reveals, if any.
    pub fn map(&mut self, m: Medium, raw: f64, duration: f64) -> (f64, Option<Jump>) {
        let i = m.index();
        let mut jump = None;
        if let Some(expected) = self.expected[i] {
            let delta = raw - self.shift[i] - expected;
            if delta > self.forward_s || delta < -BACKWARD_S {
                let shared = self
                    .recent
                    .filter(|(step, taken)| !taken[i] && (delta - step).abs() < SAME_JUMP_S);
                if let Some((step, _)) = shared {
                    // The other medium's jump, seen here too: same shift, A/V kept.
                    self.shift[i] += step;
                    if let Some(r) = self.recent.as_mut() {
                        r.1[i] = true;
                    }
                } else {
                    self.shift[i] += delta;
                    let mut taken = [false; 2];
                    taken[i] = true;
                    self.recent = Some((delta, taken));
                    self.jumps += 1;
                    jump = Some(Jump {
                        medium: m,
                        at: expected,
                        expected_raw: expected + self.shift[i] - delta,
                        raw,
                    });
                }
            }
        }
        let t = raw - self.shift[i];
        let end = t + duration.max(0.0);
        self.expected[i] = Some(match self.expected[i] {
            // Small backward steps (reordered or overlapping units) do not move it back.
            Some(e) if e > end && e - end <= BACKWARD_S => e,
            _ => end,
        });
        (t, jump)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jump_of_both_media_is_one_discontinuity_and_keeps_av_alignment() {
        let mut tl = Timeline::new(5.0);
        let mut jumps = vec![];
        // 25 fps video and 20 ms audio with audio 40 ms late; both jump 3 h at 5 s.
        let mut v = vec![];
        let mut a = vec![];
        for k in 0..250 {
            let raw = k as f64 * 0.04 + if k >= 125 { 10_800.0 } else { 0.0 };
            let (t, j) = tl.map(Medium::Video, raw, 0.04);
            v.push(t);
            jumps.extend(j);
            for n in 0..2 {
                let araw = 0.04
                    + k as f64 * 0.04
                    + n as f64 * 0.02
                    + if k >= 124 { 10_800.0 } else { 0.0 };
                let (t, j) = tl.map(Medium::Audio, araw, 0.02);
                a.push(t);
                jumps.extend(j);
            }
        }
        assert_eq!(jumps.len(), 1, "{jumps:?}");
        assert!((jumps[0].size() - 10_800.0).abs() < 0.1, "{jumps:?}");
        assert!((jumps[0].at - 4.96).abs() < 0.05, "{jumps:?}");
        // The timeline is continuous and audio stays 40 ms after video.
        assert!((v[249] - 9.96).abs() < 0.05, "{}", v[249]);
        assert!((a[2 * 249] - v[249] - 0.04).abs() < 1e-9);
        assert!(v.windows(2).all(|w| w[1] - w[0] < 0.1));
    }

    #[test]
    fn backward_jumps_and_lone_jumps_are_folded_and_small_wobbles_are_not() {
        let mut tl = Timeline::new(5.0);
        let (_, j) = tl.map(Medium::Video, 100.0, 0.04);
        assert!(j.is_none());
        let (t, j) = tl.map(Medium::Video, 100.03, 0.04);
        assert!(j.is_none() && (t - 100.03).abs() < 1e-9, "wobble");
        let (t, j) = tl.map(Medium::Video, 3.0, 0.04);
        let j = j.expect("backward jump");
        assert!((j.size() + 97.07).abs() < 1e-6, "{j:?}");
        assert!((t - 100.07).abs() < 1e-6, "continues where it was: {t}");
        // A forward gap under the threshold is kept as a gap.
        let (t, j) = tl.map(Medium::Video, 6.0, 0.04);
        assert!(j.is_none() && (t - 103.07).abs() < 1e-6, "{t}");
        // Audio alone jumps by a different amount: its own discontinuity.
        tl.map(Medium::Audio, 50.0, 0.02);
        let (_, j) = tl.map(Medium::Audio, 5000.0, 0.02);
        assert!(j.is_some());
        assert_eq!(tl.jumps, 2);
    }
}
