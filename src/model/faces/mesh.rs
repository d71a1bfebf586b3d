//! FaceMesh's 468 points and what we read from them: the mouth (inner lips) against the size of
//! the face. Also the two resamplings the networks need: a frame letterboxed onto the detector's
//! square, and a square face crop for the mesh (a triangle filter as wide as the scale, like
//! PIL's bilinear resize, black outside the frame).
use super::Rgb;

/// The mesh's input side, pixels.
pub const INPUT: usize = 192;
/// Points of the mesh.
pub const POINTS: usize = 468;
/// Inner lip centres (upper, lower) and inner mouth corners (subject's right, left).
pub const UPPER_LIP: usize = 13;
pub const LOWER_LIP: usize = 14;
pub const MOUTH_RIGHT: usize = 78;
pub const MOUTH_LEFT: usize = 308;
/// Outer eye corners (subject's right, left): the face's scale.
pub const EYE_RIGHT: usize = 33;
pub const EYE_LEFT: usize = 263;
/// The inner lip ring, upper lip then lower lip back (MediaPipe's `FACEMESH_LIPS`).
pub const INNER_LIPS: [usize; 20] = [
    78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95,
];

/// One face's mesh, in the crop's pixels (192×192).
#[derive(Clone, Debug, PartialEq)]
pub struct Landmarks {
    pub points: Vec<[f32; 3]>,
    /// Face-presence logit (> 0: a face).
    pub face_logit: f32,
}

fn dist(a: [f32; 3], b: [f32; 3]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

impl Landmarks {
    pub fn new(values: &[f32], face_logit: f32) -> Self {
        Self {
            points: values.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect(),
            face_logit,
        }
    }

    pub fn face_score(&self) -> f32 {
        1.0 / (1.0 + (-self.face_logit.clamp(-100.0, 100.0)).exp())
    }

    fn at(&self, i: usize) -> [f32; 3] {
        self.points.get(i).copied().unwrap_or_default()
    }

    /// The distance between the outer eye corners, crop pixels.
    pub fn eye_span(&self) -> f32 {
        dist(self.at(EYE_RIGHT), self.at(EYE_LEFT))
    }

    /// How far the inner lips are apart, as a share of the eye span (0 closed, ~0.3–0.5 wide
    /// open on a face that looks at the camera).
    pub fn mouth_opening(&self) -> f32 {
        let span = self.eye_span();
        if span > 0.0 {
            dist(self.at(UPPER_LIP), self.at(LOWER_LIP)) / span
        } else {
            0.0
        }
    }

    /// The width of the mouth (inner corners) as a share of the eye span.
    pub fn mouth_width(&self) -> f32 {
        let span = self.eye_span();
        if span > 0.0 {
            dist(self.at(MOUTH_RIGHT), self.at(MOUTH_LEFT)) / span
        } else {
            0.0
        }
    }
}

/// Filter taps for one output coordinate: the first source index and the weights from there.
fn taps(out_len: usize, from: f32, span: f32) -> Vec<(i64, Vec<f32>)> {
    let scale = span / out_len as f32;
    let support = scale.max(1.0);
    (0..out_len)
        .map(|i| {
            let centre = from + (i as f32 + 0.5) * scale;
            let lo = (centre - support).floor() as i64;
            let hi = (centre + support).ceil() as i64;
            let mut w: Vec<f32> = (lo..hi)
                .map(|s| (1.0 - ((s as f32 + 0.5 - centre) / support).abs()).max(0.0))
                .collect();
            let total: f32 = w.iter().sum();
            if total > 0.0 {
                w.iter_mut().for_each(|x| *x /= total);
            }
            (lo, w)
        })
        .collect()
}

/// The square `[x0, x0 + side) × [y0, y0 + side)` of `src` (source pixels; it may run off the
/// frame, which reads as black) resampled to `out × out` RGB.
pub fn square(src: &Rgb, x0: f32, y0: f32, side: f32, out: usize) -> Vec<u8> {
    let (w, h) = (src.width as i64, src.height as i64);
    let cols = taps(out, x0, side);
    let rows = taps(out, y0, side);
    // Horizontal pass over every source row the vertical taps need.
    let row_lo = rows.first().map_or(0, |r| r.0);
    let row_hi = rows.last().map_or(0, |r| r.0 + r.1.len() as i64);
    let mut mid = vec![[0.0f32; 3]; ((row_hi - row_lo).max(0) as usize) * out];
    for (ri, y) in (row_lo..row_hi).enumerate() {
        if y < 0 || y >= h {
            continue;
        }
        let line = &src.data[(y * w * 3) as usize..((y + 1) * w * 3) as usize];
        for (ci, (lo, wts)) in cols.iter().enumerate() {
            let mut acc = [0.0f32; 3];
            for (k, wt) in wts.iter().enumerate() {
                let x = lo + k as i64;
                if x < 0 || x >= w || *wt == 0.0 {
                    continue;
                }
                let p = &line[(x * 3) as usize..(x * 3 + 3) as usize];
                for c in 0..3 {
                    acc[c] += p[c] as f32 * wt;
                }
            }
            mid[ri * out + ci] = acc;
        }
    }
    let mut dst = vec![0u8; out * out * 3];
    for (oy, (lo, wts)) in rows.iter().enumerate() {
        for ox in 0..out {
            let mut acc = [0.0f32; 3];
            for (k, wt) in wts.iter().enumerate() {
                let ri = (lo + k as i64 - row_lo) as usize;
                let m = mid[ri * out + ox];
                for c in 0..3 {
                    acc[c] += m[c] * wt;
                }
            }
            for c in 0..3 {
                dst[(oy * out + ox) * 3 + c] = acc[c].round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    dst
}

/// `src` letterboxed onto a black square of its longer side, resampled to `out × out`; with the
/// square's origin and side in source pixels (to map detections back).
pub fn letterbox(src: &Rgb, out: usize) -> (Vec<u8>, [f32; 2], f32) {
    let side = src.width.max(src.height) as f32;
    let x0 = -(((src.width.max(src.height) - src.width) / 2) as f32);
    let y0 = -(((src.width.max(src.height) - src.height) / 2) as f32);
    (square(src, x0, y0, side, out), [x0, y0], side)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flat_picture_stays_flat_and_the_outside_is_black() {
        let data = vec![200u8; 40 * 20 * 3];
        let src = Rgb {
            width: 40,
            height: 20,
            data: &data,
        };
        let (sq, origin, side) = letterbox(&src, 16);
        assert_eq!((origin, side), ([0.0, -10.0], 40.0));
        // Rows 4..12 of 16 hold the picture; the bars above and below are black.
        assert_eq!(sq[(8 * 16 + 8) * 3], 200);
        assert_eq!(sq[(1 * 16 + 8) * 3], 0);
        assert_eq!(sq[(14 * 16 + 8) * 3], 0);
    }
}
