//! Per-frame and per-chunk features, computed once when media arrive and cached.
//!
//! One Burn call per batch of frames computes, for every frame, with the custom kernel
//! [`evalverse_kernels::frame_stats`] (one pass over the pixels per plane):
//! - `mad`: mean absolute luma difference to the previous frame (0–1);
//! - `luma_mean`, `luma_std` (0–1) and `black_ratio` (share of pixels at or below the black
//!   level);
//! - a 16-bin luma histogram;
//! - a Y/Cb/Cr thumbnail of [`THUMB_H`]×[`THUMB_W`] block means, which the detectors compare
//!   between any two frames without touching pixels again.
//!
//! Everything is read back in one transfer per batch: a single `[N, 3·597]` tensor (per plane,
//! [`evalverse_kernels::frame_summary`]: 21 per-frame totals and the 576 block means).
use crate::types::VideoFrame;
use burn::tensor::{Device, Tensor, TensorData};
use evalverse_kernels::{
    BINS, BLOCK_COLS, BLOCK_ROWS, BLOCKS, S_ABSDIFF, S_BLACK, S_COUNT, S_HIST, S_SUM, S_SUMSQ,
    STATS, SUMMARY, frame_summary,
};
use std::time::Instant;

pub const THUMB_H: usize = BLOCK_ROWS;
pub const THUMB_W: usize = BLOCK_COLS;
pub const THUMB_CELLS: usize = BLOCKS;
pub const HIST_BINS: usize = BINS;

/// What the model keeps of one frame.
#[derive(Clone, Debug)]
pub struct FrameFeatures {
    pub index: u64,
    pub pts: f64,
    /// Frame duration (from the buffer, or the stream's frame interval).
    pub duration: f64,
    /// Whether `mad` compares with a real previous frame (false for the first one).
    pub has_prev: bool,
    pub mad: f32,
    pub luma_mean: f32,
    pub luma_std: f32,
    pub black_ratio: f32,
    pub hist: [f32; HIST_BINS],
    /// Y, Cb, Cr thumbnails, each `THUMB_H * THUMB_W`, 0–1. Shared: the detectors that keep
    /// a ring of frames (cuts, dissolves) clone the features, not the 6.9 KB of thumbnails.
    pub thumb: std::sync::Arc<[f32]>,
    pub arrival: Instant,
}

impl FrameFeatures {
    pub fn luma_thumb(&self) -> &[f32] {
        &self.thumb[..THUMB_CELLS]
    }
    pub fn chroma_means(&self) -> (f32, f32) {
        let m = |s: &[f32]| s.iter().sum::<f32>() / s.len() as f32;
        (
            m(&self.thumb[THUMB_CELLS..2 * THUMB_CELLS]),
            m(&self.thumb[2 * THUMB_CELLS..]),
        )
    }
}

#[cfg(test)]
impl FrameFeatures {
    /// A frame for the detectors' tests: frame `index` of a 25 fps stream, after a real
    /// previous frame (but the first), a little motion, a flat black thumbnail. Tests set the
    /// fields they exercise (`FrameFeatures { mad, ..FrameFeatures::for_test(i) }`).
    pub fn for_test(index: u64) -> Self {
        FrameFeatures {
            index,
            pts: index as f64 * 0.04,
            duration: 0.04,
            has_prev: index > 0,
            mad: 0.01,
            luma_mean: 0.5,
            luma_std: 0.1,
            black_ratio: 0.0,
            hist: [0.0; HIST_BINS],
            thumb: vec![0.0; 3 * THUMB_CELLS].into(),
            arrival: Instant::now(),
        }
    }
}

fn plane_tensor<'a>(
    planes: impl Iterator<Item = &'a [u8]>,
    n: usize,
    h: usize,
    w: usize,
    device: &Device,
) -> Tensor<3> {
    let mut data = Vec::with_capacity(n * h * w);
    for p in planes {
        data.extend(p.iter().map(|&v| v as f32 * (1.0 / 255.0)));
    }
    Tensor::from_data(TensorData::new(data, [n, h, w]), device)
}

/// One stream's share of a batched call: its frames (all of one size) and the frame before
/// them, when there is one.
#[derive(Clone, Copy)]
pub struct Segment<'a> {
    pub prev: Option<&'a VideoFrame>,
    pub frames: &'a [VideoFrame],
    /// Frame duration to assume where a buffer has none.
    pub default_duration: f64,
}

/// Compute features for `frames`, all of one size; `prev` (same size) is the frame before the
/// first, when there is one. One segment of [`video_features_batched`].
pub fn video_features(
    device: &Device,
    prev: Option<&VideoFrame>,
    frames: &[VideoFrame],
    black_luma: f32,
    default_duration: f64,
) -> Vec<FrameFeatures> {
    video_features_batched(
        device,
        &[Segment {
            prev,
            frames,
            default_duration,
        }],
        black_luma,
    )
    .pop()
    .unwrap_or_default()
}

/// Features of the frames of many streams in **one model call** (one upload per plane, one
/// kernel launch per plane, one readback): on a GPU the cost of a call is mostly fixed, so
/// frames of every stream go through together. All frames must have the size of the first;
/// a segment of another size gets no features (callers group by size).
///
/// The segments are laid end to end, each led by its own previous frame (or its first frame
/// again), so the kernel's "each frame against the one before it" holds inside every segment;
/// the rows comparing one segment's lead with the previous segment's last frame are dropped.
///
/// # Shapes
/// - luma in: `[M, H, W]`, chroma in: `[M, ⌈H/2⌉, ⌈W/2⌉]` ×2, `M = Σ (Nᵢ + 1)`
/// - `frame_summary` (custom kernel) per plane: `[M − 1, 21 + 576]`
/// - read back: `[M − 1, 3·597]` (totals and block means of Y, Cb, Cr)
pub fn video_features_batched(
    device: &Device,
    segments: &[Segment<'_>],
    black_luma: f32,
) -> Vec<Vec<FrameFeatures>> {
    let mut out: Vec<Vec<FrameFeatures>> = segments.iter().map(|_| Vec::new()).collect();
    let Some(first) = segments.iter().find_map(|s| s.frames.first()) else {
        return out;
    };
    let (h, w) = (first.height, first.width);
    let (ch, cw) = (first.chroma_height(), first.chroma_width());
    let fits = |f: &VideoFrame| f.width == w && f.height == h;
    let used: Vec<usize> = (0..segments.len())
        .filter(|&i| {
            let s = &segments[i];
            !s.frames.is_empty() && s.frames.iter().all(fits) && s.prev.map(fits).unwrap_or(true)
        })
        .collect();
    if used.is_empty() {
        return out;
    }
    let seq = || {
        used.iter().flat_map(|&i| {
            std::iter::once(segments[i].prev.unwrap_or(&segments[i].frames[0]))
                .chain(segments[i].frames)
        })
    };
    let m: usize = used.iter().map(|&i| segments[i].frames.len() + 1).sum();
    let black_level = (black_luma * 255.0).round().clamp(0.0, 255.0) as u32;
    let ys = frame_summary(
        plane_tensor(seq().map(|f| f.luma.as_slice()), m, h, w, device),
        black_level,
    );
    let cbs = frame_summary(
        plane_tensor(seq().map(|f| f.cb.as_slice()), m, ch, cw, device),
        0,
    );
    let crs = frame_summary(
        plane_tensor(seq().map(|f| f.cr.as_slice()), m, ch, cw, device),
        0,
    );
    let all = Tensor::cat(vec![ys, cbs, crs], 1);
    let data: Vec<f32> = all.into_data().try_into_vec().unwrap_or_default();
    let per_frame = 3 * SUMMARY;
    if data.len() != (m - 1) * per_frame {
        return out;
    }
    let mut lead = 0;
    for &i in &used {
        let s = &segments[i];
        let rows = &data[lead * per_frame..(lead + s.frames.len()) * per_frame];
        out[i] = s
            .frames
            .iter()
            .zip(rows.chunks_exact(per_frame))
            .enumerate()
            .map(|(k, (f, row))| features_of(f, row, k > 0 || s.prev.is_some(), s.default_duration))
            .collect();
        lead += s.frames.len() + 1;
    }
    out
}

/// One frame's features from its summary row (`3·597`: Y, Cb, Cr).
fn features_of(
    f: &VideoFrame,
    row: &[f32],
    has_prev: bool,
    default_duration: f64,
) -> FrameFeatures {
    let totals = &row[..STATS];
    let thumb: std::sync::Arc<[f32]> = (0..3)
        .flat_map(|p| row[p * SUMMARY + STATS..(p + 1) * SUMMARY].iter().copied())
        .collect();
    let count = totals[S_COUNT].max(1.0);
    let mean = totals[S_SUM] / count;
    let mut hist = [0f32; HIST_BINS];
    for (k, h) in hist.iter_mut().enumerate() {
        *h = totals[S_HIST + k] / count;
    }
    FrameFeatures {
        index: f.index,
        pts: f.pts,
        duration: f.duration.filter(|d| *d > 0.0).unwrap_or(default_duration),
        has_prev,
        mad: totals[S_ABSDIFF] / count,
        luma_mean: mean,
        luma_std: (totals[S_SUMSQ] / count - mean * mean).max(0.0).sqrt(),
        black_ratio: totals[S_BLACK] / count,
        hist,
        thumb,
        arrival: f.arrival,
    }
}

/// Mean energy (mean square) of consecutive blocks of `block` samples.
///
/// # Shapes
/// - in: `[B, block]` (the samples, `B = len / block`), out: `[B]`
pub fn audio_block_energy(device: &Device, samples: &[f32], block: usize) -> Vec<f32> {
    let b = samples.len() / block;
    if b == 0 {
        return vec![];
    }
    let x = Tensor::<2>::from_data(
        TensorData::new(samples[..b * block].to_vec(), [b, block]),
        device,
    );
    x.powi_scalar(2)
        .mean_dim(1)
        .reshape([b])
        .into_data()
        .try_into_vec()
        .unwrap_or_default()
}

/// Distance between the thumbnails of two frames: mean absolute difference over Y (weight 2)
/// and Cb, Cr (weight 1 each), 0–1.
pub fn thumb_distance(a: &FrameFeatures, b: &FrameFeatures) -> f32 {
    let mut acc = [0f32; 3];
    for (c, acc) in acc.iter_mut().enumerate() {
        let r = c * THUMB_CELLS..(c + 1) * THUMB_CELLS;
        *acc = a.thumb[r.clone()]
            .iter()
            .zip(&b.thumb[r])
            .map(|(x, y)| (x - y).abs())
            .sum::<f32>()
            / THUMB_CELLS as f32;
    }
    (2.0 * acc[0] + acc[1] + acc[2]) / 4.0
}

/// Histogram distance (half the L1 distance, 0–1).
pub fn hist_distance(a: &FrameFeatures, b: &FrameFeatures) -> f32 {
    0.5 * a
        .hist
        .iter()
        .zip(&b.hist)
        .map(|(x, y)| (x - y).abs())
        .sum::<f32>()
}
