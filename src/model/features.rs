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
//! Everything is read back in one transfer per batch (a single `[N, 3·576, 21]` tensor).
use crate::types::VideoFrame;
use burn::tensor::{Device, Tensor, TensorData};
use evalverse_kernels::{BINS, BLOCK_COLS, BLOCK_ROWS, BLOCKS, S_ABSDIFF, S_BLACK, S_COUNT, S_HIST, S_SUM, S_SUMSQ, STATS, frame_stats};
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
    /// Y, Cb, Cr thumbnails, each `THUMB_H * THUMB_W`, 0–1.
    pub thumb: Box<[f32]>,
    pub arrival: Instant,
}

impl FrameFeatures {
    pub fn luma_thumb(&self) -> &[f32] {
        &self.thumb[..THUMB_CELLS]
    }
    pub fn chroma_means(&self) -> (f32, f32) {
        let m = |s: &[f32]| s.iter().sum::<f32>() / s.len() as f32;
        (m(&self.thumb[THUMB_CELLS..2 * THUMB_CELLS]), m(&self.thumb[2 * THUMB_CELLS..]))
    }
}

fn plane_tensor<'a>(planes: impl Iterator<Item = &'a [u8]>, n: usize, h: usize, w: usize, device: &Device) -> Tensor<3> {
    let mut data = Vec::with_capacity(n * h * w);
    for p in planes {
        data.extend(p.iter().map(|&v| v as f32 * (1.0 / 255.0)));
    }
    Tensor::from_data(TensorData::new(data, [n, h, w]), device)
}

/// Compute features for `frames`, all of one size; `prev` (same size) is the frame before the
/// first, when there is one.
///
/// # Shapes
/// - luma in: `[N+1, H, W]`, chroma in: `[N+1, ⌈H/2⌉, ⌈W/2⌉]` ×2
/// - `frame_stats` (custom kernel) per plane: `[N, 576, 21]`
/// - read back: `[N, 3·576, 21]` (the block statistics of Y, Cb, Cr)
pub fn video_features(device: &Device, prev: Option<&VideoFrame>, frames: &[VideoFrame], black_luma: f32, default_duration: f64) -> Vec<FrameFeatures> {
    let n = frames.len();
    if n == 0 {
        return vec![];
    }
    let (h, w) = (frames[0].height, frames[0].width);
    let (ch, cw) = (frames[0].chroma_height(), frames[0].chroma_width());
    // Each plane goes in as [N+1, ...]: the frame before the batch first (or the first frame
    // again), so the kernel compares every frame with its predecessor in place.
    let first = prev.unwrap_or(&frames[0]);
    let seq = || std::iter::once(first).chain(frames);
    let black_level = (black_luma * 255.0).round().clamp(0.0, 255.0) as u32;
    let ys = frame_stats(plane_tensor(seq().map(|f| f.luma.as_slice()), n + 1, h, w, device), black_level);
    let cbs = frame_stats(plane_tensor(seq().map(|f| f.cb.as_slice()), n + 1, ch, cw, device), 0);
    let crs = frame_stats(plane_tensor(seq().map(|f| f.cr.as_slice()), n + 1, ch, cw, device), 0);
    // One readback of the per-block statistics of the three planes; totals and thumbnails are
    // a few thousand additions per frame, cheaper here than as sliced tensor ops.
    let all = Tensor::cat(vec![ys, cbs, crs], 1);
    let data: Vec<f32> = all.into_data().try_into_vec().unwrap_or_default();
    let per_frame = 3 * BLOCKS * STATS;
    if data.len() != n * per_frame {
        return vec![];
    }
    frames
        .iter()
        .zip(data.chunks_exact(per_frame))
        .enumerate()
        .map(|(i, (f, stats))| {
            let mut row = [0f32; STATS];
            for block in stats[..BLOCKS * STATS].chunks_exact(STATS) {
                for (acc, v) in row.iter_mut().zip(block) {
                    *acc += v;
                }
            }
            let thumb: Box<[f32]> = stats
                .chunks_exact(STATS)
                .map(|b| if b[S_COUNT] > 0.0 { b[S_SUM] / b[S_COUNT] } else { 0.0 })
                .collect();
            let count = row[S_COUNT].max(1.0);
            let mean = row[S_SUM] / count;
            let mut hist = [0f32; HIST_BINS];
            for (k, h) in hist.iter_mut().enumerate() {
                *h = row[S_HIST + k] / count;
            }
            FrameFeatures {
                index: f.index,
                pts: f.pts,
                duration: f.duration.filter(|d| *d > 0.0).unwrap_or(default_duration),
                has_prev: i > 0 || prev.is_some(),
                mad: row[S_ABSDIFF] / count,
                luma_mean: mean,
                luma_std: (row[S_SUMSQ] / count - mean * mean).max(0.0).sqrt(),
                black_ratio: row[S_BLACK] / count,
                hist,
                thumb,
                arrival: f.arrival,
            }
        })
        .collect()
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
    let x = Tensor::<2>::from_data(TensorData::new(samples[..b * block].to_vec(), [b, block]), device);
    x.powi_scalar(2).mean_dim(1).reshape([b]).into_data().try_into_vec().unwrap_or_default()
}

/// Distance between the thumbnails of two frames: mean absolute difference over Y (weight 2)
/// and Cb, Cr (weight 1 each), 0–1.
pub fn thumb_distance(a: &FrameFeatures, b: &FrameFeatures) -> f32 {
    let mut acc = [0f32; 3];
    for (c, acc) in acc.iter_mut().enumerate() {
        let r = c * THUMB_CELLS..(c + 1) * THUMB_CELLS;
        *acc = a.thumb[r.clone()].iter().zip(&b.thumb[r]).map(|(x, y)| (x - y).abs()).sum::<f32>() / THUMB_CELLS as f32;
    }
    (2.0 * acc[0] + acc[1] + acc[2]) / 4.0
}

/// Histogram distance (half the L1 distance, 0–1).
pub fn hist_distance(a: &FrameFeatures, b: &FrameFeatures) -> f32 {
    0.5 * a.hist.iter().zip(&b.hist).map(|(x, y)| (x - y).abs()).sum::<f32>()
}
