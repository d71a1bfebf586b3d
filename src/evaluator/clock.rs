//! A stream's clock: its timeline (timestamp jumps folded away), how far each medium has been
//! measured, where media ended, and the watermark below which windows are complete.
use crate::config::AnalysisSettings;
use crate::types::Media;
pub use crate::types::Timing;
use crate::window::HopScheduler;
use crate::window::timeline::{Jump, Medium, Timeline};

/// How far the sound branch may fall behind the analysis audio before windows stop waiting
/// for it, s.
const SOUND_WAIT_S: f64 = 5.0;

/// A medium that ended is reported once the other has gone on this long past it, s (a file's
/// sound and picture often end a frame or two apart).
pub const ENDED_NOTE_S: f64 = 1.0;

/// Where a stream's media ended, and where its container said they would.
#[derive(Default)]
pub struct Ends {
    /// Media whose branch reached its end while the other goes on (windows follow the other).
    pub media: Media,
    /// Said once the other medium has gone on for [`ENDED_NOTE_S`] past the end: (end, words).
    pub note: Option<(f64, String)>,
    /// The duration a file's container declares (stream time), when known.
    pub declared_s: Option<f64>,
}

pub struct Clock {
    timeline: Timeline,
    /// Stream time minus raw time of the latest video frame (detail frames share the clock).
    pub video_offset: Option<f64>,
    /// Stream time minus raw time of the latest audio chunk: the sound branch carries the same
    /// timestamps as the audio and is placed on the audio's timeline.
    pub audio_offset: Option<f64>,
    frame_interval: Option<f64>,
    pub last_pts: Option<f64>,
    pub first_video: Option<f64>,
    /// End of the pictures, the analysis audio and the sound measured so far (stream time).
    pub video_to: Option<f64>,
    pub audio_to: Option<f64>,
    pub sound_to: Option<f64>,
    /// The media the stream carries, once known.
    pub media: Option<Media>,
    /// Media whose packets stopped (live).
    pub stalled: Media,
    pub ends: Ends,
    pub sched: HopScheduler,
    /// A file's window waits for the audio this far past its end (the sync search range), s.
    lookahead_s: f64,
}

impl Clock {
    pub fn new(a: &AnalysisSettings) -> Self {
        Self {
            timeline: Timeline::new(a.discontinuity_s),
            video_offset: None,
            audio_offset: None,
            frame_interval: None,
            last_pts: None,
            first_video: None,
            video_to: None,
            audio_to: None,
            sound_to: None,
            media: None,
            stalled: Media::default(),
            ends: Ends::default(),
            sched: HopScheduler::new(a.window_s, a.hop_s),
            lookahead_s: a.sync_search_ms / 1000.0,
        }
    }

    /// Raw timestamps of `medium` onto the stream's timeline; the jump, when there was one.
    pub fn map(&mut self, medium: Medium, pts: f64, dur: f64) -> (f64, Option<Jump>) {
        self.timeline.map(medium, pts, dur)
    }

    /// A picture at stream time `t`: the smoothed frame interval, the first and last picture.
    pub fn on_picture(&mut self, t: f64) {
        if let Some(last) = self.last_pts {
            let d = t - last;
            if d > 1e-4 && d < 1.0 {
                // Smoothed frame interval (robust to the odd jittery timestamp).
                self.frame_interval = Some(match self.frame_interval {
                    None => d,
                    Some(fi) => 0.9 * fi + 0.1 * d,
                });
            }
        }
        self.last_pts = Some(t);
        self.first_video.get_or_insert(t);
    }

    pub fn frame_s(&self) -> f64 {
        self.frame_interval.unwrap_or(1.0 / 25.0)
    }

    /// The end of the media measured so far.
    pub fn newest(&self) -> Option<f64> {
        [self.video_to, self.audio_to]
            .into_iter()
            .flatten()
            .reduce(f64::max)
    }

    /// Media seconds evaluated so far.
    pub fn progress_s(&self) -> f64 {
        match (self.newest(), self.sched.origin()) {
            (Some(e), Some(o)) => (e - o).max(0.0),
            (Some(e), None) => e.max(0.0),
            _ => 0.0,
        }
    }

    /// Whether media ending at `end` reach the end of the next window to score.
    pub fn crosses_window_end(&self, end: f64) -> bool {
        self.sched.next_end().is_some_and(|e| end + 1e-6 >= e)
    }

    /// The stream's timeline starts at the first medium's first time (once the media are
    /// known and have begun): `Some(origin)` the first time it is set.
    pub fn start(&mut self, audio_origin: Option<f64>) -> Option<f64> {
        let media = self.media?;
        if self.sched.origin().is_some() {
            return None;
        }
        let firsts = [
            media.video.then_some(self.first_video).flatten(),
            media.audio.then_some(audio_origin).flatten(),
        ];
        let o = firsts.iter().flatten().copied().reduce(f64::min)?;
        self.sched.set_origin(o);
        Some(o)
    }

    /// Watermark of stream time every medium has delivered up to: windows ending before it
    /// are complete.
    ///
    /// A file's window also waits for the onsets its sync search reads past its end (the
    /// sound may trail the picture by up to the search range), so its figures do not depend
    /// on which branch the decoder happened to run ahead; live, a window reads the sound that
    /// has arrived. Once every medium has ended, the watermark is where they ended.
    pub fn watermark(&self, live: bool, finished: bool) -> Option<f64> {
        let media = self.media?;
        let mut wm = f64::INFINITY;
        let mut any = false;
        if media.video && !(live && self.stalled.video) && !self.ends.media.video {
            wm = wm.min(self.video_to?);
            any = true;
        }
        let sound_lag = |audio_to: f64| {
            // The sound branch (loudness) runs beside the analysis audio: a window waits for
            // it too, unless it has fallen behind by more than SOUND_WAIT_S (a branch that
            // stalled or failed must not hold the other dimensions back) or the stream is
            // finished (everything that will come has come).
            self.sound_to
                .filter(|st| audio_to - st < SOUND_WAIT_S && !finished)
                .unwrap_or(f64::INFINITY)
        };
        if media.audio && !(live && self.stalled.audio) && !self.ends.media.audio {
            let audio_to = self.audio_to?;
            let lookahead = if live || finished || !media.video {
                0.0
            } else {
                self.lookahead_s
            };
            wm = wm.min(audio_to - lookahead).min(sound_lag(audio_to));
            any = true;
        }
        if any {
            return Some(wm);
        }
        // Nothing going: every medium ended (or, live, stalled). Ended media hold back no
        // window up to where they ended; stalled ones hold back every window.
        let ended_all = (!media.video || self.ends.media.video || finished)
            && (!media.audio || self.ends.media.audio || finished);
        let end = self.newest()?;
        let sound = self.audio_to.map_or(f64::INFINITY, sound_lag);
        ended_all.then_some(end.min(sound))
    }
}
