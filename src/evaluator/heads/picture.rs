//! Picture craft: exposure, contrast and colour of the frames, focus and noise on the detail
//! plane, camera steadiness and jumps, and the look (grade) of each shot against the sequence.
use super::{WindowCx, WindowHead};
use crate::config::AnalysisSettings;
use crate::model::features::FrameFeatures;
use crate::model::picture::detail::{DetailFigures, FLAT};
use crate::model::picture::{PictureInputs, PictureTracker};
use crate::model::style::StyleTracker;
use crate::score::record::WindowRecord;
use crate::score::taxonomy;
use crate::types::VideoFrame;
use crate::vocab::{Cut, Detection, EventKind};
use std::collections::VecDeque;

/// Detail frames held at least this many for the cut detector (then placed without waiting;
/// 4 s worth at their rate when that is more).
const MAX_PENDING_DETAIL: usize = 64;

pub struct Picture {
    picture: PictureTracker,
    style: StyleTracker,
    /// Detail frames' figures (stream time), waiting to be placed in their shot.
    pending: VecDeque<(f64, DetailFigures)>,
    detail_fps: u32,
}

impl Picture {
    pub fn new(a: &AnalysisSettings) -> Self {
        Self {
            picture: PictureTracker::new(a.min_event_s),
            style: StyleTracker::default(),
            pending: VecDeque::new(),
            detail_fps: a.detail_fps,
        }
    }

    fn detail_s(&self) -> f64 {
        1.0 / self.detail_fps.max(1) as f64
    }

    /// Detail frames before `upto`, into the picture tracker in time order.
    fn release(&mut self, upto: f64, dets: &mut Vec<Detection>) {
        while let Some(&(t, f)) = self.pending.front() {
            if t >= upto {
                break;
            }
            self.pending.pop_front();
            self.place(t, f, dets);
        }
    }

    /// A detail frame whose shot is known: into focus/noise tracking and the shot's signature.
    fn place(&mut self, t: f64, f: DetailFigures, dets: &mut Vec<Detection>) {
        if f.contrast >= FLAT {
            self.style.push_detail(t, f.sharpness, f.noise);
        }
        let dur = self.detail_s();
        self.picture.push_detail(t, dur, f, dets);
    }

    /// The picture score of `[s, e)` from the picture events in it.
    fn score(cx: &WindowCx) -> f64 {
        let (s, e, book) = (cx.s, cx.e, cx.book);
        let camera_jumps = book.count(EventKind::CameraJump, s, e);
        crate::model::picture::score(&PictureInputs {
            exposure: book.coverage(EventKind::Overexposed, s, e)
                + book.coverage(EventKind::Underexposed, s, e),
            blur: book.coverage(EventKind::Blur, s, e),
            noise: book.coverage(EventKind::Noise, s, e),
            shake: book.coverage(EventKind::Shake, s, e),
            camera_jumps,
        })
    }
}

impl WindowHead for Picture {
    fn on_picture(&mut self, f: &VideoFrame, dur: f64, dets: &mut Vec<Detection>) {
        self.picture.push(f.pts, dur, f, dets);
    }

    fn on_shot_start(&mut self, start: f64, _hard: bool, cut_pts: f64, dets: &mut Vec<Detection>) {
        // Focus and noise levels are per shot: frames before the cut go first.
        self.release(cut_pts, dets);
        self.picture.on_shot_start(start, dets);
    }

    fn after_frame(&mut self, f: &FrameFeatures) {
        self.style
            .push(f, self.picture.style_figures(f.pts).as_ref());
    }

    fn on_cut(&mut self, c: &Cut, dets: &mut Vec<Detection>) {
        // Detail frames before the cut belong to the shot it closes (on every path that decides
        // cuts: batches, resets at jumps and size changes, the end of input).
        self.release(c.pts, dets);
        self.style.on_cut(c.frame, c.pts);
    }

    fn on_detail(&mut self, t: f64, f: DetailFigures, dets: &mut Vec<Detection>) {
        // Enough for the cut detector's wait plus a batch at any configured rate (1–120 a s).
        let limit = (4 * self.detail_fps as usize).max(MAX_PENDING_DETAIL);
        if self.pending.len() >= limit {
            // The video stopped moving forward: place the oldest without waiting.
            if let Some((t, f)) = self.pending.pop_front() {
                self.place(t, f, dets);
            }
        }
        self.pending.push_back((t, f));
    }

    fn on_video_progress(&mut self, upto: f64, dets: &mut Vec<Detection>) {
        self.release(upto, dets);
    }

    fn on_video_jump(&mut self, at: f64, dets: &mut Vec<Detection>) {
        self.release(f64::INFINITY, dets);
        self.picture.reset(at, dets);
    }

    fn finish(&mut self, dets: &mut Vec<Detection>) {
        self.release(f64::INFINITY, dets);
        self.picture.finish(dets);
    }

    fn window(&mut self, cx: &WindowCx, w: &mut WindowRecord) {
        if !cx.media.video {
            return;
        }
        let style = self.style.figures();
        if let Some(d) = style.drift_sequence {
            // Scenes differ in look on purpose; only a shot far off the sequence is worth a note.
            if d > 8.0 {
                let parts = style.parts.unwrap_or_default();
                w.diagnosis.push(taxonomy::style_drift(d, &parts));
            }
        }
        w.style = Some(style);
        w.picture = self.picture.window(cx.s, cx.e);
        w.scores.picture = w.picture.as_ref().map(|_| Self::score(cx));
    }

    fn sizes(&self, v: &mut Vec<(&'static str, usize)>) {
        v.extend(self.style.sizes());
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}
