//! Which stretches of a stream's timeline were decoded from damaged input (the frames and
//! chunks the ingest marked: lost packets, a sender change, the frames before the first
//! keyframe), so that events and cuts on them are put down to the transport, not the content.
use crate::model::features::{FrameFeatures, thumb_distance};
use std::collections::VecDeque;

/// Damaged spans of one medium, merged, on the stream's timeline (seconds).
#[derive(Debug, Default)]
pub struct DamageLog {
    spans: VecDeque<(f64, f64)>,
    /// Seconds of the timeline kept (older spans are behind every open event).
    keep_s: f64,
    /// Units (frames or chunks) seen, and damaged, since the last [`DamageLog::take_counts`].
    seen: u64,
    damaged: u64,
}

impl DamageLog {
    pub fn new(keep_s: f64) -> Self {
        Self {
            keep_s,
            ..Default::default()
        }
    }

    /// A unit `[start, end)` arrived, damaged or not.
    pub fn push(&mut self, start: f64, end: f64, damaged: bool) {
        self.seen += 1;
        if damaged {
            self.damaged += 1;
            match self.spans.back_mut() {
                Some(last) if start <= last.1 + 1e-3 => last.1 = last.1.max(end),
                _ => self.spans.push_back((start, end)),
            }
        }
        while self
            .spans
            .front()
            .map(|s| s.1 < end - self.keep_s)
            .unwrap_or(false)
        {
            self.spans.pop_front();
        }
    }

    /// Whether `[start, end]` comes within `margin` seconds of damage.
    pub fn near(&self, start: f64, end: f64, margin: f64) -> bool {
        self.spans
            .iter()
            .any(|(a, b)| *a <= end + margin && *b >= start - margin)
    }

    /// Share of damaged time in `[start, end)`.
    pub fn share(&self, start: f64, end: f64) -> f64 {
        let len = (end - start).max(1e-9);
        let covered: f64 = self
            .spans
            .iter()
            .map(|(a, b)| (b.min(end) - a.max(start)).max(0.0))
            .sum();
        (covered / len).min(1.0)
    }

    /// (units seen, units damaged) since the last call.
    pub fn take_counts(&mut self) -> (u64, u64) {
        let c = (self.seen, self.damaged);
        self.seen = 0;
        self.damaged = 0;
        c
    }
}

/// Tells a cut that is a damaged picture healing at a keyframe (the same scene as before the
/// damage: transport) from a cut in the content that landed inside damage (an encoder puts a
/// keyframe on a scene change, so a real cut often *is* where the damage heals).
#[derive(Default)]
pub struct HealCheck {
    /// The last frame decoded from clean input (a cheap clone: the thumbnails are shared);
    /// put behind an `Arc` only when damage starts.
    last_clean: Option<FrameFeatures>,
    /// Frames in and just after damage: (index, damaged, features, the last clean frame before
    /// their damage run).
    recent: VecDeque<(
        u64,
        bool,
        FrameFeatures,
        Option<std::sync::Arc<FrameFeatures>>,
    )>,
    pre_damage: Option<std::sync::Arc<FrameFeatures>>,
    after_damage: u32,
}

/// Frames after a damage run that are kept for the cut decision (the cut detector's look-ahead
/// and a batch).
const AFTER_DAMAGE: u32 = 12;
const RECENT: usize = 64;

impl HealCheck {
    pub fn push(&mut self, f: &FrameFeatures, damaged: bool) {
        if damaged {
            if self.after_damage == 0 && self.recent.back().map(|r| !r.1).unwrap_or(true) {
                self.pre_damage = self.last_clean.clone().map(std::sync::Arc::new);
            }
            self.after_damage = AFTER_DAMAGE;
        }
        if damaged || self.after_damage > 0 {
            self.recent
                .push_back((f.index, damaged, f.clone(), self.pre_damage.clone()));
            while self.recent.len() > RECENT {
                self.recent.pop_front();
            }
            if !damaged {
                self.after_damage -= 1;
            }
        }
        if !damaged {
            match &mut self.last_clean {
                Some(last) => last.clone_from(f),
                None => self.last_clean = Some(f.clone()),
            }
        }
    }

    /// Whether the hard cut whose first frame is `frame` is the transport's doing: that frame or
    /// the one before it is damaged (or follows frames the decoder hid), and the picture is
    /// still the scene it showed before the damage. A new scene after the damage is a cut in
    /// the content (encoders put a keyframe on a scene change, so a real cut is often exactly
    /// where damage heals).
    pub fn transport_cut(&self, frame: u64) -> bool {
        let at = |i: u64| self.recent.iter().find(|r| r.0 == i);
        let Some(cur) = at(frame) else {
            return false;
        };
        let prev_damaged = frame > 0 && at(frame - 1).map(|p| p.1).unwrap_or(false);
        if !cur.1 && !prev_damaged {
            return false;
        }
        match &cur.3 {
            Some(before) => thumb_distance(before, &cur.2) < NEW_SCENE,
            None => true,
        }
    }
}

/// Thumbnail distance from the last clean picture beyond which the picture after damage is
/// another scene (2.5× the cut detector's least cut distance: up to a GOP of camera motion
/// stays below it).
const NEW_SCENE: f32 = 0.15;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_merge_answer_near_and_share_and_forget_the_old() {
        let mut d = DamageLog::new(10.0);
        for k in 0..100 {
            let t = k as f64 * 0.04;
            d.push(t, t + 0.04, (25..50).contains(&k));
        }
        assert_eq!(d.spans.len(), 1);
        assert!(d.near(1.5, 1.5, 0.0) && !d.near(2.2, 2.3, 0.05) && d.near(2.05, 2.1, 0.06));
        assert!((d.share(0.0, 4.0) - 0.25).abs() < 1e-9);
        assert_eq!(d.take_counts(), (100, 25));
        d.push(30.0, 30.04, false);
        assert!(d.spans.is_empty(), "forgotten after keep_s");
    }
}
