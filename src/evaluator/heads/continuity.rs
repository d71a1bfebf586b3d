//! Continuity: freezes, black, flicker and flashes in the picture, silence in the sound, and the
//! continuity head's flicker figures over the window's frames.
use super::{PruneCx, WindowCx, WindowHead};
use crate::config::AnalysisSettings;
use crate::model::HEAD_COLUMNS;
use crate::model::continuity::{EventKind, Silence, VideoContinuity};
use crate::model::features::FrameFeatures;
use crate::score::record::{ContinuityWindow, WindowRecord, rounded};
use crate::score::{self, ContinuityInputs};
use crate::vocab::Detection;
use std::collections::VecDeque;

pub struct Continuity {
    video: VideoContinuity,
    silence: Silence,
    /// Per-frame columns of the continuity head `[mad, frozen, black, flicker, oscillation]`.
    rows: VecDeque<(f64, [f32; HEAD_COLUMNS])>,
    /// Rows older than this behind the newest picture are read by no window still to come, s.
    keep_s: f64,
}

impl Continuity {
    pub fn new(a: &AnalysisSettings) -> Self {
        Self {
            video: VideoContinuity::new(a),
            silence: Silence::new(a),
            rows: VecDeque::new(),
            keep_s: super::keep_s(a),
        }
    }

    /// The continuity head over the window's rows, and the event coverage of the window
    /// (faults only; transport damage is not the generator's).
    fn figures(&self, cx: &WindowCx) -> (ContinuityInputs, ContinuityWindow) {
        let (s, e, book) = (cx.s, cx.e, cx.book);
        let rows: Vec<[f32; HEAD_COLUMNS]> = self
            .rows
            .iter()
            .filter(|r| r.0 >= s && r.0 < e)
            .map(|r| r.1)
            .collect();
        let head = cx.model.continuity_head(&rows);
        let silence_ratio = cx
            .media
            .audio
            .then(|| book.coverage(EventKind::Silence, s, e));
        let flashes = book.count(EventKind::Flash, s, e);
        let glitches = book.count(EventKind::Glitch, s, e) + book.count(EventKind::GradeJump, s, e);
        let static_ratio = book.coverage(EventKind::StaticShot, s, e);
        let quiet_ratio = cx
            .media
            .audio
            .then(|| book.coverage(EventKind::Quiet, s, e));
        let inputs = ContinuityInputs {
            freeze: book.coverage(EventKind::Freeze, s, e),
            black: book.coverage(EventKind::Black, s, e),
            silence: silence_ratio,
            flicker: book.coverage(EventKind::Flicker, s, e),
            flashes: flashes + glitches,
        };
        let continuity = ContinuityWindow {
            freeze_ratio: rounded(inputs.freeze),
            black_ratio: rounded(inputs.black),
            silence_ratio: silence_ratio.map(rounded),
            flicker_ratio: rounded(inputs.flicker),
            flicker_index: rounded(head.flicker_index),
            flicker_vbench: rounded(head.flicker_vbench()),
            flashes,
            glitches,
            static_ratio: rounded(static_ratio),
            quiet_ratio: quiet_ratio.map(rounded),
        };
        (inputs, continuity)
    }
}

impl WindowHead for Continuity {
    fn on_frame(&mut self, f: &FrameFeatures, dets: &mut Vec<Detection>) {
        let flags = self.video.push(f, dets);
        self.rows.push_back((
            f.pts,
            [
                if f.has_prev { f.mad } else { 0.0 },
                flags.frozen as u8 as f32,
                flags.black as u8 as f32,
                flags.flicker as u8 as f32,
                flags.oscillation,
            ],
        ));
    }

    fn on_shot_start(&mut self, start: f64, hard: bool, _cut_pts: f64, _dets: &mut Vec<Detection>) {
        // A freeze is only a freeze inside a shot that was moving.
        self.video.on_shot_start(start, hard);
    }

    fn on_energies(&mut self, origin: f64, first_ms: i64, e: &[f32], dets: &mut Vec<Detection>) {
        self.silence.push(origin, first_ms, e, dets);
    }

    fn on_video_jump(&mut self, _at: f64, dets: &mut Vec<Detection>) {
        self.video.reset(dets);
    }

    fn prune(&mut self, cx: &PruneCx) {
        if let Some(newest) = cx.video_to {
            while self
                .rows
                .front()
                .is_some_and(|r| r.0 < newest - self.keep_s)
            {
                self.rows.pop_front();
            }
        }
    }

    fn finish(&mut self, dets: &mut Vec<Detection>) {
        self.video.finish(dets);
        self.silence.finish(dets);
    }

    fn window(&mut self, cx: &WindowCx, w: &mut WindowRecord) {
        let (inputs, continuity) = self.figures(cx);
        w.continuity = continuity;
        w.scores.continuity =
            (cx.media.video || cx.media.audio).then(|| score::continuity_score(&inputs));
    }

    fn sizes(&self, v: &mut Vec<(&'static str, usize)>) {
        v.push(("rows", self.rows.len()));
        v.extend(self.video.sizes());
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}
