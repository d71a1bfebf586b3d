//! The branches that follow another: the sound at its own rate and layout (placed on the
//! analysis audio's timeline) and the detail plane (on the picture's).
use super::stream::StreamEvaluator;
use crate::score::record::Record;
use crate::types::{DetailFrame, SoundChunk};
use crate::vocab::{Detection, EventKind};

/// Jumps held at most before the oldest is placed without waiting.
const MAX_PENDING_JUMPS: usize = 64;
/// Sound this far ahead of the pictures releases its loudness jumps unplaced, s.
const VIDEO_BEHIND_S: f64 = 5.0;

impl StreamEvaluator {
    /// The sound at its own rate and layout: loudness, true peak, clipping, dropouts.
    pub fn push_sound(&mut self, mut c: SoundChunk, out: &mut Vec<Record>) {
        if !c.pts.is_finite() {
            return;
        }
        let Some(offset) = self.clock.audio_offset else {
            // Before the first analysis chunk: wait for it (at most ~2 s of 20 ms chunks).
            if self.sound_waiting.len() >= 128 {
                self.sound_waiting.pop_front();
            }
            self.sound_waiting.push_back(c);
            return;
        };
        c.pts += offset;
        let mut dets = vec![];
        for h in &mut self.heads {
            h.on_sound(&c, &mut dets);
        }
        for d in dets {
            // A level step is told at a cut or inside a shot once the cut detector has seen
            // past it (without pictures there are no shots: it goes out now).
            if d.kind == EventKind::LoudnessJump && !self.clock.media.is_some_and(|m| !m.video) {
                self.hold_loudness_jump(d, c.pts, out);
            } else {
                self.book.emit(d, self.clock.frame_s(), out);
            }
        }
        let frames = c.samples.len() / c.channels.max(1) as usize;
        self.clock.sound_to = Some(c.pts + frames as f64 / c.rate.max(1) as f64);
        self.schedule(out);
    }

    /// A loudness jump waits for the cut detector, unless the pictures stopped.
    fn hold_loudness_jump(&mut self, d: Detection, sound_at: f64, out: &mut Vec<Record>) {
        self.book.hold(d);
        // Live, pictures 5 s behind the sound have stopped: nothing to place the jumps
        // against. A file's pictures only lag (both branches decode as fast as they can): they
        // wait for the pictures, or for the end of the stream.
        let video_behind =
            self.live && sound_at > self.clock.video_to.unwrap_or(0.0) + VIDEO_BEHIND_S;
        if video_behind {
            self.release_jumps(f64::INFINITY, out);
        } else if self.book.held() > MAX_PENDING_JUMPS {
            // The picture stopped moving forward: place the oldest without waiting.
            if let Some(oldest) = self.book.oldest_held() {
                self.release_jumps(oldest + 1e-9, out);
            }
        }
    }

    /// A detail frame (the larger luma plane): its figures now, its events once the cut
    /// detector has seen past it.
    pub fn push_detail(&mut self, d: DetailFrame, out: &mut Vec<Record>) {
        // Detail frames share the video's clock; before the first video frame there is no
        // mapping yet (at most the first frame or two are skipped).
        let Some(offset) = self.clock.video_offset.filter(|_| d.pts.is_finite()) else {
            return;
        };
        // Across a timestamp jump the branches can be on either side of it: a detail frame
        // far from the latest video frame has no mapping it can trust, and is skipped.
        if self
            .clock
            .last_pts
            .is_some_and(|v| (d.pts + offset - v).abs() > 1.0)
        {
            return;
        }
        let figures = self.model.detail_figures(&d);
        let t = d.pts + offset;
        self.feed(|h, dets| h.on_detail(t, figures, dets), out);
    }
}
