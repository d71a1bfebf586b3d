//! Flashes wait for the sound around them: a flash with a transient sound on its first frame
//! (a slate's clap, a camera flash's click, a muzzle flash's shot: the sound leaps out of what
//! came before and falls back within a few hundred ms) is a deliberate effect, reported as the
//! informative `flash_with_sound`; any other flash is a fault. A flash is held until the sound
//! has reached past it (or the pictures are [`GIVE_UP_S`] ahead of the sound: it goes out a
//! fault), so live its event comes up to ~0.5 s later than the picture's.
use super::stream::StreamEvaluator;
use crate::score::record::Record;
use crate::vocab::{Detection, EventKind};

/// Sound needed past a flash's start before it is placed, s.
pub const SOUND_AFTER_S: f64 = 0.45;
/// Pictures this far past a waiting flash without the sound: it goes out as a fault, s.
pub const GIVE_UP_S: f64 = 2.0;

impl StreamEvaluator {
    /// A flash from the cut detector: held for the sound, or out now where there is none.
    pub(super) fn hold_flash(&mut self, d: Detection, out: &mut Vec<Record>) {
        if d.kind != EventKind::Flash || self.clock.media.is_some_and(|m| !m.audio) {
            self.book.emit(d, self.clock.frame_s(), out);
            return;
        }
        self.flashes_waiting.push(d);
        self.release_flashes(false, out);
    }

    /// Place the flashes the sound has reached past (all of them with `all`).
    pub(super) fn release_flashes(&mut self, all: bool, out: &mut Vec<Record>) {
        if self.flashes_waiting.is_empty() {
            return;
        }
        let (audio_to, video_to) = (self.clock.audio_to, self.clock.video_to);
        let frame_s = self.clock.frame_s();
        let waiting = std::mem::take(&mut self.flashes_waiting);
        for mut d in waiting {
            let heard = audio_to.is_some_and(|a| a >= d.start + SOUND_AFTER_S);
            let gave_up = video_to.is_some_and(|v| v >= d.start + GIVE_UP_S);
            if !(all || heard || gave_up) {
                self.flashes_waiting.push(d);
                continue;
            }
            if let Some((onset, rise, fall)) = self.levels.transient_at(d.start, frame_s) {
                d.kind = EventKind::FlashWithSound;
                d.values
                    .extend([("onset_db", onset), ("rise_db", rise), ("fall_db", fall)]);
            }
            self.book.emit(d, frame_s, out);
        }
    }
}
