//! The picture as a cinematographer judges it (production / cinematography; post-production /
//! colour): per frame, per window and as events.
//!
//! ```text
//!  analysis frame (160 px) ─┬─▶ look: exposure, contrast, colourfulness, cast ─▶ exposure events
//!                           └─▶ motion: phase correlation ─▶ camera path ─▶ shake, camera jumps
//!  detail plane (480 px, 10 fps) ─▶ detail: sharpness, noise (kernel) ─▶ blur, noise events
//! ```
//!
//! **picture score** (0–100, higher is better; not part of `overall`, which keeps its
//! calibrated meaning):
//! `100 · (1 − exposure) · (1 − blur) · (1 − 0.5·noise) · (1 − shake) − 10 · camera jumps`,
//! clamped to 0–100, where exposure, blur, noise and shake are the shares of the window inside
//! such events (over- and underexposed together) and camera jumps are counted in the window.
pub mod detail;
pub mod exposure;
pub mod look;
pub mod motion;

use crate::types::VideoFrame;
use crate::vocab::Detection;
use look::FrameLook;
use serde::Serialize;
use std::collections::VecDeque;

/// Frames kept for window figures, s.
const KEEP_S: f64 = 120.0;

/// Window figures of the picture.
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct PictureWindow {
    pub mean_luma: f64,
    /// Share of the picture at video-range white (clipped highlights), 0–1.
    pub highlights_clipped: f64,
    /// Share of the picture at video-range black (crushed shadows), 0–1.
    pub shadows_crushed: f64,
    pub contrast_rms: f64,
    pub colourfulness: f64,
    pub colour_cast: f64,
    /// Mean camera speed, picture widths per second (the camera's dynamic degree).
    pub camera_speed: f64,
    /// Highest trailing-second jitter of the camera path, % of the picture width.
    pub shake_pct: f64,
    /// Share of frames whose global motion one translation explains.
    pub motion_tracked: f64,
    /// Mean sharpness of the detail frames (Laplacian over picture standard deviation); `None`
    /// without a detail plane.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sharpness: Option<f64>,
    /// Mean noise σ of the detail frames, code values (Immerkær).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub noise: Option<f64>,
}

/// Inputs of the picture score: shares of the window inside events, and jumps counted.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PictureInputs {
    pub exposure: f64,
    pub blur: f64,
    pub noise: f64,
    pub shake: f64,
    pub camera_jumps: usize,
}

/// The picture score (see the module docs).
pub fn score(i: &PictureInputs) -> f64 {
    let s = 100.0
        * (1.0 - i.exposure.clamp(0.0, 1.0))
        * (1.0 - i.blur.clamp(0.0, 1.0))
        * (1.0 - 0.5 * i.noise.clamp(0.0, 1.0))
        * (1.0 - i.shake.clamp(0.0, 1.0))
        - 10.0 * i.camera_jumps as f64;
    s.clamp(0.0, 100.0)
}

/// The picture measurements of one stream.
pub struct PictureTracker {
    /// Per analysis frame: (pts, look, camera speed in widths/s where known).
    frames: VecDeque<(f64, FrameLook, Option<f64>)>,
    exposure: exposure::ExposureDetector,
    camera: motion::CameraTracker,
    detail: detail::DetailTracker,
}

impl PictureTracker {
    pub fn new(min_event_s: f64) -> Self {
        Self {
            frames: VecDeque::new(),
            exposure: exposure::ExposureDetector::new(min_event_s),
            camera: motion::CameraTracker::new(min_event_s),
            detail: detail::DetailTracker::new(min_event_s),
        }
    }

    /// Feed an analysis frame (stream time `pts`, duration `dur`).
    pub fn push(&mut self, pts: f64, dur: f64, f: &VideoFrame, out: &mut Vec<Detection>) {
        let l = look::look(f);
        self.exposure.push(pts, dur, &l, out);
        self.camera
            .push(pts, dur, &f.luma, (f.width, f.height), out);
        let speed = self
            .camera
            .last_displacement()
            // A frame shorter than 1 ms is a broken timestamp, not 1000 fps motion.
            .filter(|_| dur >= 1e-3)
            .map(|d| d / dur);
        self.frames.push_back((pts, l, speed));
        while self.frames.front().is_some_and(|x| x.0 < pts - KEEP_S) {
            self.frames.pop_front();
        }
    }

    /// The figures of the frame at `pts` a shot's style signature takes.
    pub fn style_figures(&self, pts: f64) -> Option<crate::model::style::FrameLookFigures> {
        let i = self.frames.partition_point(|x| x.0 < pts - 1e-6);
        let (t, l, speed) = self.frames.get(i)?;
        ((t - pts).abs() <= 1e-6).then_some(crate::model::style::FrameLookFigures {
            colourfulness: l.colourfulness,
            highlights: l.highlights,
            shadows: l.shadows,
            camera_speed: *speed,
        })
    }

    /// A detail frame's figures (stream time `t`, lasting `dur`), fed in time order once the
    /// cut detector has seen past it.
    pub fn push_detail(
        &mut self,
        t: f64,
        dur: f64,
        f: detail::DetailFigures,
        out: &mut Vec<Detection>,
    ) {
        self.detail.push(t, dur, f, out);
    }

    /// A shot starts at `t`: focus and noise get the new shot's own level.
    pub fn on_shot_start(&mut self, t: f64, out: &mut Vec<Detection>) {
        self.detail.on_shot_start(t, out);
    }

    /// The timeline jumped at `at`: frames on either side are not compared, and focus and
    /// noise levels start afresh (new content may follow).
    pub fn reset(&mut self, at: f64, out: &mut Vec<Detection>) {
        self.camera.reset(out);
        self.detail.on_shot_start(at, out);
    }

    /// End of input: close open events.
    pub fn finish(&mut self, out: &mut Vec<Detection>) {
        self.exposure.finish(out);
        self.camera.finish(out);
        self.detail.finish(out);
    }

    /// The figures of the frames in `[s, e)`; `None` without frames there.
    pub fn window(&self, s: f64, e: f64) -> Option<PictureWindow> {
        let inside: Vec<&FrameLook> = self
            .frames
            .iter()
            .filter(|x| x.0 >= s && x.0 < e)
            .map(|x| &x.1)
            .collect();
        if inside.is_empty() {
            return None;
        }
        let n = inside.len() as f64;
        let r = |v: f64| (v * 1e4).round() / 1e4;
        let mean = |g: fn(&FrameLook) -> f64| r(inside.iter().map(|l| g(l)).sum::<f64>() / n);
        let m = self.camera.window(s, e);
        let d = self.detail.window(s, e);
        Some(PictureWindow {
            mean_luma: mean(|l| l.mean_luma),
            highlights_clipped: mean(|l| l.highlights),
            shadows_crushed: mean(|l| l.shadows),
            contrast_rms: mean(|l| l.contrast),
            colourfulness: mean(|l| l.colourfulness),
            colour_cast: mean(|l| l.cast),
            camera_speed: r(m.camera_speed),
            shake_pct: r(m.shake_pct),
            motion_tracked: r(m.tracked),
            sharpness: d.map(|d| r(d.sharpness)),
            noise: d.map(|d| r(d.noise)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_falls_with_each_fault_and_stays_in_range() {
        let clean = score(&PictureInputs::default());
        assert_eq!(clean, 100.0);
        let half_blur = score(&PictureInputs {
            blur: 0.5,
            ..Default::default()
        });
        let half_noise = score(&PictureInputs {
            noise: 0.5,
            ..Default::default()
        });
        assert!(half_blur < half_noise && half_noise < clean);
        let worst = score(&PictureInputs {
            exposure: 1.0,
            camera_jumps: 20,
            ..Default::default()
        });
        assert_eq!(worst, 0.0);
    }
}
