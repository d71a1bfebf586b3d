//! BlazeFace short-range's outputs made into faces: its 896 SSD anchors (16×16 cells × 2 at
//! stride 8, then 8×8 × 6 at stride 16, every anchor 1×1), box and keypoint decoding as
//! MediaPipe's `TensorsToDetectionsCalculator` does it (scale 128, logits clipped to ±100, then
//! a sigmoid) and its weighted non-maximum suppression (overlap 0.3).

/// The detector's input side, pixels.
pub const INPUT: usize = 128;
/// Anchors of the short-range model.
pub const ANCHORS: usize = 896;
/// Values per anchor: box centre and size, then six keypoints.
pub const COORDS: usize = 16;
/// MediaPipe's score threshold.
pub const MIN_SCORE: f32 = 0.5;
/// Detections that overlap the best one by more than this are merged into it.
pub const NMS_IOU: f32 = 0.3;

/// One face, in the detector input's normalised coordinates (0–1 of the 128×128 square).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Detection {
    pub score: f32,
    /// `[xmin, ymin, xmax, ymax]`.
    pub rect: [f32; 4],
    /// The subject's right eye, left eye, nose tip, mouth centre, right and left ear tragion.
    pub keypoints: [[f32; 2]; 6],
    /// Which anchor it came from (the best one, after merging).
    pub anchor: usize,
}

impl Detection {
    pub fn width(&self) -> f32 {
        self.rect[2] - self.rect[0]
    }
    pub fn height(&self) -> f32 {
        self.rect[3] - self.rect[1]
    }
    pub fn centre(&self) -> [f32; 2] {
        [
            (self.rect[0] + self.rect[2]) / 2.0,
            (self.rect[1] + self.rect[3]) / 2.0,
        ]
    }

    /// Intersection over union with `o`.
    pub fn iou(&self, o: &Detection) -> f32 {
        let w = (self.rect[2].min(o.rect[2]) - self.rect[0].max(o.rect[0])).max(0.0);
        let h = (self.rect[3].min(o.rect[3]) - self.rect[1].max(o.rect[1])).max(0.0);
        let inter = w * h;
        let union = self.width() * self.height() + o.width() * o.height() - inter;
        if union > 0.0 { inter / union } else { 0.0 }
    }
}

/// The anchor centres, in the model's output order.
pub fn anchors() -> Vec<[f32; 2]> {
    let mut a = Vec::with_capacity(ANCHORS);
    for (cells, per_cell) in [(16usize, 2usize), (8, 6)] {
        for y in 0..cells {
            for x in 0..cells {
                let c = [
                    (x as f32 + 0.5) / cells as f32,
                    (y as f32 + 0.5) / cells as f32,
                ];
                a.extend(std::iter::repeat_n(c, per_cell));
            }
        }
    }
    a
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x.clamp(-100.0, 100.0)).exp())
}

/// Every anchor's detection scoring at least `min_score`, best first. `regressors` holds
/// [`ANCHORS`] × [`COORDS`] values, `logits` one per anchor.
pub fn decode(regressors: &[f32], logits: &[f32], min_score: f32) -> Vec<Detection> {
    let anchors = anchors();
    let scale = INPUT as f32;
    let mut out: Vec<Detection> = logits
        .iter()
        .zip(regressors.chunks_exact(COORDS))
        .zip(&anchors)
        .enumerate()
        .filter_map(|(i, ((l, r), a))| {
            let score = sigmoid(*l);
            if score < min_score || !score.is_finite() {
                return None;
            }
            let (cx, cy) = (r[0] / scale + a[0], r[1] / scale + a[1]);
            let (w, h) = (r[2] / scale, r[3] / scale);
            let mut keypoints = [[0.0; 2]; 6];
            for (k, p) in keypoints.iter_mut().enumerate() {
                *p = [r[4 + 2 * k] / scale + a[0], r[5 + 2 * k] / scale + a[1]];
            }
            Some(Detection {
                score,
                rect: [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0],
                keypoints,
                anchor: i,
            })
        })
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
    out
}

/// MediaPipe's weighted suppression: the best remaining detection and those overlapping it by
/// more than `iou` become one, their boxes and keypoints averaged by score; it keeps the best
/// one's score.
pub fn weighted_nms(mut sorted: Vec<Detection>, iou: f32) -> Vec<Detection> {
    let mut out = vec![];
    while let Some(best) = sorted.first().copied() {
        let (group, rest): (Vec<Detection>, Vec<Detection>) =
            sorted.into_iter().partition(|d| best.iou(d) > iou);
        sorted = rest;
        let total: f32 = group.iter().map(|d| d.score).sum();
        let mut merged = best;
        if group.len() > 1 && total > 0.0 {
            merged.rect = [0.0; 4];
            merged.keypoints = [[0.0; 2]; 6];
            for d in &group {
                let w = d.score / total;
                for (m, v) in merged.rect.iter_mut().zip(d.rect) {
                    *m += v * w;
                }
                for (m, v) in merged.keypoints.iter_mut().zip(d.keypoints) {
                    m[0] += v[0] * w;
                    m[1] += v[1] * w;
                }
            }
        }
        if group.is_empty() {
            // The best one overlaps itself unless its box is empty: keep it, and go on.
            sorted.retain(|d| d.anchor != best.anchor);
        }
        out.push(merged);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_follow_the_models_order() {
        let a = anchors();
        assert_eq!(a.len(), ANCHORS);
        assert_eq!(a[0], [0.03125, 0.03125]);
        assert_eq!(a[1], a[0]);
        assert_eq!(a[2], [0.09375, 0.03125]);
        assert_eq!(a[512], [0.0625, 0.0625]);
        assert_eq!(a[895], [0.9375, 0.9375]);
    }

    #[test]
    fn overlapping_detections_merge_weighted_by_score() {
        let d = |x: f32, s: f32, i: usize| Detection {
            score: s,
            rect: [x, 0.2, x + 0.2, 0.4],
            keypoints: [[x, 0.3]; 6],
            anchor: i,
        };
        let faces = weighted_nms(vec![d(0.10, 0.9, 0), d(0.12, 0.6, 1), d(0.7, 0.8, 2)], 0.3);
        assert_eq!(faces.len(), 2);
        assert!((faces[0].rect[0] - (0.10 * 0.6 + 0.12 * 0.4)).abs() < 1e-6);
        assert_eq!(faces[0].score, 0.9);
        assert_eq!(faces[1].anchor, 2);
    }
}
