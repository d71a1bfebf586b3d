//! Face tracks: one per person, carried from frame to frame the way MediaPipe's face mesh
//! carries them — the detector finds a face, the mesh runs on a square crop 1.5× the face, and
//! the next frame's crop comes from this frame's points — with the detector run again now and
//! then for faces that come into view. A track ends when the mesh no longer sees a face in its
//! crop, or at a cut. Each frame of a track gives the mouth's opening.
use super::detect::{Detection, INPUT as DETECT_INPUT, NMS_IOU};
use super::mesh::{self, INPUT as MESH_INPUT, Landmarks};
use super::{FaceModels, NetError, Rgb};
use crate::types::Picture;

/// Crop side over the face's size (MediaPipe's `scale_x = scale_y = 1.5`).
const CROP_SCALE: f32 = 1.5;
/// The mesh's face score under which a track is lost.
const MIN_FACE_SCORE: f32 = 0.5;
/// Frames between detector runs while no face is tracked (two a second at 24 fps), and while
/// some are (for faces coming into view).
pub const DETECT_EVERY_IDLE: u64 = 12;
pub const DETECT_EVERY_TRACKING: u64 = 24;
/// At most this many faces are followed at once.
pub const MAX_TRACKS: usize = 4;

/// One frame of one track, in the face picture's pixels.
#[derive(Clone, Debug, PartialEq)]
pub struct FaceSample {
    pub track: u64,
    pub pts: f64,
    /// Inner-lip gap over the eye span.
    pub mouth_opening: f32,
    /// The mouth's shape, [`super::lips::mouth_features`].
    pub mouth: [f32; super::lips::MOUTH_FEATURES],
    pub face_score: f32,
    /// The points' box: `[xmin, ymin, xmax, ymax]`.
    pub rect: [f32; 4],
}

#[derive(Clone, Debug)]
struct Track {
    id: u64,
    /// The crop for the next frame: centre and side, picture pixels.
    centre: [f32; 2],
    side: f32,
    rect: [f32; 4],
    /// When it was found (the frame's time, seconds).
    since: f64,
}

/// The tracks of one stream.
#[derive(Debug, Default)]
pub struct FaceTracker {
    tracks: Vec<Track>,
    next_id: u64,
    frames: u64,
    last_detect: Option<u64>,
    /// Detector and mesh runs, for the cost figures.
    pub detector_runs: u64,
    /// Frames pushed with a picture.
    pub pictures: u64,
    pub mesh_runs: u64,
}

/// BT.601 limited range (as decoders give it) to RGB, in 1/1024 steps.
fn yuv_to_rgb(y: i32, u: i32, v: i32) -> [u8; 3] {
    let c = 1192 * (y - 16);
    let (u, v) = (u - 128, v - 128);
    let px = |x: i32| ((x + 512) >> 10).clamp(0, 255) as u8;
    [
        px(c + 1634 * v),
        px(c - 401 * u - 832 * v),
        px(c + 2066 * u),
    ]
}

/// The rectangle `[x0, x0 + w) × [y0, y0 + h)` of an I420 picture as packed RGB (outside the
/// picture: black).
pub fn to_rgb(p: &Picture, x0: i64, y0: i64, w: usize, h: usize) -> Vec<u8> {
    let cw = p.width.div_ceil(2);
    let mut out = vec![0u8; w * h * 3];
    for row in 0..h {
        let y = y0 + row as i64;
        if y < 0 || y >= p.height as i64 {
            continue;
        }
        let y = y as usize;
        for col in 0..w {
            let x = x0 + col as i64;
            if x < 0 || x >= p.width as i64 {
                continue;
            }
            let x = x as usize;
            let ci = (y / 2) * cw + x / 2;
            let luma = p.luma.get(y * p.width + x).copied().unwrap_or(16) as i32;
            let u = p.cb.get(ci).copied().unwrap_or(128) as i32;
            let v = p.cr.get(ci).copied().unwrap_or(128) as i32;
            let o = (row * w + col) * 3;
            out[o..o + 3].copy_from_slice(&yuv_to_rgb(luma, u, v));
        }
    }
    out
}

/// The whole picture as RGB reduced `k` times each way (luma and chroma averaged over the
/// block): what the detector looks at, at a fraction of the conversion.
pub fn to_rgb_reduced(p: &Picture, k: usize) -> (Vec<u8>, usize, usize) {
    let k = k.max(1);
    let (w, h) = (p.width / k, p.height / k);
    let cw = p.width.div_ceil(2);
    let mut out = vec![0u8; w * h * 3];
    for by in 0..h {
        for bx in 0..w {
            let (mut ys, mut us, mut vs, mut n) = (0i32, 0i32, 0i32, 0i32);
            for y in by * k..(by + 1) * k {
                for x in bx * k..(bx + 1) * k {
                    let ci = (y / 2) * cw + x / 2;
                    ys += p.luma.get(y * p.width + x).copied().unwrap_or(16) as i32;
                    us += p.cb.get(ci).copied().unwrap_or(128) as i32;
                    vs += p.cr.get(ci).copied().unwrap_or(128) as i32;
                    n += 1;
                }
            }
            let o = (by * w + bx) * 3;
            out[o..o + 3].copy_from_slice(&yuv_to_rgb(ys / n, us / n, vs / n));
        }
    }
    (out, w, h)
}

fn iou(a: [f32; 4], b: [f32; 4]) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

impl FaceTracker {
    /// How many faces are followed now.
    pub fn tracking(&self) -> usize {
        self.tracks.len()
    }

    /// A frame without a picture: counted for the detector's cadence; followed faces stay
    /// where they were.
    pub fn tick(&mut self) {
        self.frames += 1;
    }

    /// End the tracks found before a cut at `at` (seconds): the next shot's faces are other
    /// tracks. A face found on the cut's frame or after (the cut is told a few frames late) is
    /// already the new shot's, and stays.
    pub fn cut(&mut self, at: f64) {
        self.tracks.retain(|t| t.since >= at - 1e-6);
        if self.tracks.is_empty() {
            self.last_detect = None;
        }
    }

    /// One frame: the samples of the faces followed in it.
    pub fn push(
        &mut self,
        models: &FaceModels,
        pts: f64,
        pic: &Picture,
    ) -> Result<Vec<FaceSample>, NetError> {
        self.pictures += 1;
        let every = if self.tracks.is_empty() {
            DETECT_EVERY_IDLE
        } else {
            DETECT_EVERY_TRACKING
        };
        if self
            .last_detect
            .is_none_or(|l| self.frames.saturating_sub(l) >= every)
        {
            self.last_detect = Some(self.frames);
            self.detect(models, pts, pic)?;
        }
        self.frames += 1;
        if self.tracks.is_empty() {
            return Ok(vec![]);
        }
        // Each crop converted from its own rectangle of the picture only.
        let crops: Vec<Vec<u8>> = self
            .tracks
            .iter()
            .map(|t| {
                let (x0, y0) = (t.centre[0] - t.side / 2.0, t.centre[1] - t.side / 2.0);
                let (rx, ry) = (x0.floor() as i64 - 1, y0.floor() as i64 - 1);
                let n =
                    (t.side.ceil() as usize + 3).min(4 * MESH_INPUT.max(pic.width.max(pic.height)));
                let rgb = to_rgb(pic, rx, ry, n, n);
                let region = Rgb {
                    width: n,
                    height: n,
                    data: &rgb,
                };
                mesh::square(&region, x0 - rx as f32, y0 - ry as f32, t.side, MESH_INPUT)
            })
            .collect();
        let pics: Vec<Rgb> = crops
            .iter()
            .map(|c| Rgb {
                width: MESH_INPUT,
                height: MESH_INPUT,
                data: c,
            })
            .collect();
        let meshes = models.landmarks(&pics)?;
        self.mesh_runs += meshes.len() as u64;
        let mut out = vec![];
        let mut kept = vec![];
        for (t, m) in self.tracks.drain(..).zip(meshes) {
            let score = m.face_score();
            if score < MIN_FACE_SCORE {
                continue;
            }
            let t = follow(t, &m);
            out.push(FaceSample {
                track: t.id,
                pts,
                mouth_opening: m.mouth_opening(),
                mouth: super::lips::mouth_features(&m),
                face_score: score,
                rect: t.rect,
            });
            kept.push(t);
        }
        // Two tracks that converged on one face are one.
        kept.dedup_by(|b, a| iou(a.rect, b.rect) > 0.5);
        self.tracks = kept;
        Ok(out)
    }

    /// Run the detector on the whole picture; faces not followed yet start tracks.
    fn detect(&mut self, models: &FaceModels, pts: f64, pic: &Picture) -> Result<(), NetError> {
        // About twice the detector's input each way is plenty to resample from.
        let k = (pic.width.max(pic.height) / (2 * DETECT_INPUT)).max(1);
        let (small, w, h) = to_rgb_reduced(pic, k);
        let frame = Rgb {
            width: w,
            height: h,
            data: &small,
        };
        let (square, origin, side) = mesh::letterbox(&frame, DETECT_INPUT);
        let (origin, side) = (
            [origin[0] * k as f32, origin[1] * k as f32],
            side * k as f32,
        );
        let input = Rgb {
            width: DETECT_INPUT,
            height: DETECT_INPUT,
            data: &square,
        };
        self.detector_runs += 1;
        let faces = models.detect(&[input])?.remove(0);
        for d in faces {
            if self.tracks.len() >= MAX_TRACKS {
                break;
            }
            let rect = to_picture(&d, origin, side);
            if self.tracks.iter().any(|t| iou(t.rect, rect) > NMS_IOU) {
                continue;
            }
            let (w, h) = (rect[2] - rect[0], rect[3] - rect[1]);
            self.next_id += 1;
            self.tracks.push(Track {
                id: self.next_id,
                centre: [(rect[0] + rect[2]) / 2.0, (rect[1] + rect[3]) / 2.0],
                side: w.max(h) * CROP_SCALE,
                rect,
                since: pts,
            });
        }
        Ok(())
    }
}

/// A detection's box in the picture's pixels.
fn to_picture(d: &Detection, origin: [f32; 2], side: f32) -> [f32; 4] {
    [
        origin[0] + d.rect[0] * side,
        origin[1] + d.rect[1] * side,
        origin[0] + d.rect[2] * side,
        origin[1] + d.rect[3] * side,
    ]
}

/// The track moved to where its mesh found the face: the points' box, in picture pixels, and
/// the next crop around it.
fn follow(mut t: Track, m: &Landmarks) -> Track {
    let scale = t.side / MESH_INPUT as f32;
    let x0 = t.centre[0] - t.side / 2.0;
    let y0 = t.centre[1] - t.side / 2.0;
    let mut r = [f32::MAX, f32::MAX, f32::MIN, f32::MIN];
    for p in &m.points {
        let (x, y) = (x0 + p[0] * scale, y0 + p[1] * scale);
        r = [r[0].min(x), r[1].min(y), r[2].max(x), r[3].max(y)];
    }
    if r[0] < r[2] && r[1] < r[3] {
        t.rect = r;
        t.centre = [(r[0] + r[2]) / 2.0, (r[1] + r[3]) / 2.0];
        t.side = (r[2] - r[0]).max(r[3] - r[1]) * CROP_SCALE;
    }
    t
}
