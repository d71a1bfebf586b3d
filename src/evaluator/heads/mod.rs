//! Window heads: each is fed as the media arrive and fills its part of every window record and
//! of the summary (its figures, its diagnosis, its score). The stream is their conductor: it
//! keeps the clock, decides the shots, places the events, and applies the scores, the
//! calibration and the alert rules to each finished window in one place
//! ([`super::judge::Judge`]).
//!
//! Adding a head is a file here and its line in [`standard`]. Every hook has a default that
//! ignores it: a head implements the ones it reads.
//!
//! | head | reads | fills |
//! |---|---|---|
//! | [`continuity::Continuity`] | frame features, shot starts, 1 ms energies | `continuity`, `frames`, score `continuity` |
//! | [`sync::SyncHead`] | frame features, visual events, 1 ms energies | `sync`, `beat`, score `sync`; summary `sync` |
//! | [`rhythm::Rhythm`] | the shots | `rhythm`, score `rhythm`; summary `rhythm` |
//! | [`picture::Picture`] | pictures, detail frames, shots | `picture`, `style`, score `picture` |
//! | [`sound::Sound`] | the sound at its own rate | `sound`, score `sound`; summary `sound` |
pub mod continuity;
pub mod faces;
pub mod picture;
pub mod rhythm;
pub mod sound;
pub mod sync;

use super::clock::Timing;
use super::events::EventBook;
use crate::config::AnalysisSettings;
use crate::model::Model;
use crate::model::features::FrameFeatures;
use crate::model::picture::detail::DetailFigures;
use crate::model::rhythm::{Pacing, VisualEvent};
use crate::score::record::{SummaryRecord, WindowRecord};
use crate::types::{Media, SoundChunk, VideoFrame};
use crate::vocab::{Cut, Detection};

/// Seconds a window may lag the newest media before the evidence it would read is forgotten
/// (a medium far behind the other).
pub const MAX_WINDOW_LAG_S: f64 = 30.0;

/// How far behind the newest picture per-frame state is kept: the window or the sync horizon,
/// two hops, and the sync search range a file's window waits for past its end, s.
pub fn keep_s(a: &AnalysisSettings) -> f64 {
    a.window_s.max(a.sync_horizon_s) + 2.0 * a.hop_s + a.sync_search_ms / 1000.0
}

/// What a window head sees of the stream when a window `[s, e)` is scored.
pub struct WindowCx<'a> {
    pub s: f64,
    pub e: f64,
    /// Start of the stream's timeline.
    pub origin: f64,
    pub media: Media,
    pub frame_s: f64,
    pub timing: Timing,
    pub model: &'a Model,
    /// The events placed so far (closed ones the window may overlap, and open ones).
    pub book: &'a EventBook,
    /// The shots: cuts of the last minute or more, shot lengths.
    pub pacing: &'a Pacing,
}

/// What a window head sees of the stream at its end.
pub struct SummaryCx<'a> {
    pub origin: f64,
    /// Where the media ended (stream time).
    pub end: f64,
    pub media: Media,
    pub frame_s: f64,
    pub timing: Timing,
    pub model: &'a Model,
    pub pacing: &'a Pacing,
}

/// How far each medium has been measured, and the first window still to be scored: what a head
/// keeps past that is for nobody.
pub struct PruneCx {
    pub video_to: Option<f64>,
    pub audio_to: Option<f64>,
    /// Earliest start of a window (or of its sync horizon) still to be scored, once known.
    pub first: Option<f64>,
}

/// One measure of a stream, fed as the media arrive, read once per window.
pub trait WindowHead: Send {
    /// A picture as decoded (stream time), lasting `dur` s.
    fn on_picture(&mut self, _f: &VideoFrame, _dur: f64, _dets: &mut Vec<Detection>) {}

    /// A frame's features, before the cut detector sees the frame.
    fn on_frame(&mut self, _f: &FrameFeatures, _dets: &mut Vec<Detection>) {}

    /// A shot boundary the cut detector decided: the new shot starts at `start` (after a
    /// gradual transition's span), `hard` when it has none; `cut_pts` is the cut's own time.
    fn on_shot_start(
        &mut self,
        _start: f64,
        _hard: bool,
        _cut_pts: f64,
        _dets: &mut Vec<Detection>,
    ) {
    }

    /// The frame's features once the shot boundaries decided on it were told.
    fn after_frame(&mut self, _f: &FrameFeatures) {}

    /// A cut counted as editing (not the transport's).
    fn on_cut(&mut self, _c: &Cut, _dets: &mut Vec<Detection>) {}

    /// An abrupt visual change (cut, flash) for the sync evidence; `damaged` when it is near
    /// transport damage.
    fn on_visual(&mut self, _v: &VisualEvent, _damaged: bool) {}

    /// 1 ms energies of the analysis audio from absolute ms `first_ms` of a timeline starting at
    /// `origin`.
    fn on_energies(
        &mut self,
        _origin: f64,
        _first_ms: i64,
        _e: &[f32],
        _dets: &mut Vec<Detection>,
    ) {
    }

    /// Samples of the analysis audio from absolute sample `first` of a timeline starting at
    /// `origin`.
    fn on_samples(&mut self, _origin: f64, _first: i64, _samples: &[f32]) {}

    /// The sound at its own rate and layout (stream time).
    fn on_sound(&mut self, _c: &SoundChunk, _dets: &mut Vec<Detection>) {}

    /// A detail frame's figures at stream time `t`.
    fn on_detail(&mut self, _t: f64, _f: DetailFigures, _dets: &mut Vec<Detection>) {}

    /// The cut detector has seen the pictures up to `upto`: what waited for it can go.
    fn on_video_progress(&mut self, _upto: f64, _dets: &mut Vec<Detection>) {}

    /// The picture's timestamps jumped at `at`: frames on either side are not compared.
    fn on_video_jump(&mut self, _at: f64, _dets: &mut Vec<Detection>) {}

    /// The stream's timeline starts at `origin`.
    fn on_origin(&mut self, _origin: f64) {}

    /// Forget what no window still to be scored reads.
    fn prune(&mut self, _cx: &PruneCx) {}

    /// End of input: close what is open.
    fn finish(&mut self, _dets: &mut Vec<Detection>) {}

    /// Fill its part of the window record (figures, diagnosis, its score in `w.scores`,
    /// unrounded: the judge rounds).
    fn window(&mut self, _cx: &WindowCx, _w: &mut WindowRecord) {}

    /// Fill its part of the summary (called once, after the last window).
    fn summary(&mut self, _cx: &SummaryCx, _s: &mut SummaryRecord) {}

    /// Lengths of what it holds, by name (none may grow with the stream's age).
    fn sizes(&self, _v: &mut Vec<(&'static str, usize)>) {}

    fn as_any(&self) -> &dyn std::any::Any;
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any;
}

/// The heads every stream runs, in the order they fill a window (their diagnoses come in that
/// order, before the events').
pub fn standard(a: &AnalysisSettings, model: &Model) -> Vec<Box<dyn WindowHead>> {
    vec![
        Box::new(continuity::Continuity::new(a)),
        Box::new(sync::SyncHead::new(a)),
        Box::new(rhythm::Rhythm),
        Box::new(picture::Picture::new(a)),
        Box::new(sound::Sound::new(a)),
        Box::new(faces::Faces::new(
            model,
            a.audio_rate,
            a.sync_search_ms.min(crate::model::faces::lips::SEARCH_MS),
        )),
    ]
}
