//! Per-frame and per-chunk features, computed once when media arrive and cached.
//!
//! One Burn call per batch of frames computes, for every frame:
//! - `mad`: mean absolute luma difference to the previous frame (custom kernel
//!   [`evalverse_kernels::row_mean_absdiff`], 0–1);
//! - `luma_mean`, `luma_std` (0–1) and `black_ratio` (share of pixels at or below the black
//!   level);
//! - a 16-bin luma histogram (of the 2×2-pooled frame);
//! - a Y/Cb/Cr thumbnail of [`THUMB_H`]×[`THUMB_W`] cells (adaptive average pooling), which the
//!   detectors compare between any two frames without touching pixels again.
//!
//! Everything is read back in one transfer per batch (a single `[N, K]` tensor).
use crate::types::VideoFrame;
use burn::tensor::module::{adaptive_avg_pool2d, avg_pool2d};
use burn::tensor::ops::AvgPoolOptions;
use burn::tensor::{Device, Tensor, TensorData};
use std::time::Instant;

pub const THUMB_H: usize = 18;
pub const THUMB_W: usize = 32;
pub const THUMB_CELLS: usize = THUMB_H * THUMB_W;
pub const HIST_BINS: usize = 16;

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

/// Features per frame: mad, mean, var, black, 15 cumulative histogram edges, thumbnails.
const SCALARS: usize = 4 + (HIST_BINS - 1);
const ROW: usize = SCALARS + 3 * THUMB_CELLS;

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
/// - luma in: `[N+1, H, W]`, chroma in: `[N, ⌈H/2⌉, ⌈W/2⌉]` ×2
/// - read back: `[N, 19 + 3·THUMB_H·THUMB_W]`
pub fn video_features(device: &Device, prev: Option<&VideoFrame>, frames: &[VideoFrame], black_luma: f32, default_duration: f64) -> Vec<FrameFeatures> {
    let n = frames.len();
    if n == 0 {
        return vec![];
    }
    let (h, w) = (frames[0].height, frames[0].width);
    let (ch, cw) = (frames[0].chroma_height(), frames[0].chroma_width());
    let first = prev.unwrap_or(&frames[0]);
    let y = plane_tensor(std::iter::once(first).chain(frames).map(|f| f.luma.as_slice()), n + 1, h, w, device);
    let cur = y.clone().slice([1..n + 1]);
    let prv = y.slice([0..n]);

    let mad = evalverse_kernels::row_mean_absdiff(cur.clone().reshape([n, h * w]), prv.reshape([n, h * w])).reshape([n, 1]);
    let flat = cur.clone().reshape([n, h * w]);
    let mean = flat.clone().mean_dim(1);
    let var = (flat.clone() - mean.clone()).powi_scalar(2).mean_dim(1);
    let black = flat.lower_equal_elem(black_luma).float().mean_dim(1);

    // Cumulative histogram: share of (2×2-pooled) pixels at or above each inner bin edge.
    let pooled = if h >= 2 && w >= 2 {
        avg_pool2d(cur.clone().unsqueeze_dim::<4>(1), AvgPoolOptions::new([2, 2]).with_stride([2, 2]))
    } else {
        cur.clone().unsqueeze_dim::<4>(1)
    };
    let [_, _, ph, pw] = pooled.dims();
    let edges: Vec<f32> = (1..HIST_BINS).map(|k| k as f32 / HIST_BINS as f32).collect();
    let edges = Tensor::<1>::from_floats(edges.as_slice(), device).reshape([1, 1, HIST_BINS - 1]);
    let above = pooled
        .reshape([n, ph * pw, 1])
        .greater_equal(edges)
        .float()
        .mean_dim(1)
        .reshape([n, HIST_BINS - 1]);

    let thumb_y = adaptive_avg_pool2d(cur.unsqueeze_dim::<4>(1), [THUMB_H, THUMB_W]).reshape([n, THUMB_CELLS]);
    let cb = plane_tensor(frames.iter().map(|f| f.cb.as_slice()), n, ch, cw, device);
    let cr = plane_tensor(frames.iter().map(|f| f.cr.as_slice()), n, ch, cw, device);
    let thumb_cb = adaptive_avg_pool2d(cb.unsqueeze_dim::<4>(1), [THUMB_H, THUMB_W]).reshape([n, THUMB_CELLS]);
    let thumb_cr = adaptive_avg_pool2d(cr.unsqueeze_dim::<4>(1), [THUMB_H, THUMB_W]).reshape([n, THUMB_CELLS]);

    let all = Tensor::cat(vec![mad, mean, var, black, above, thumb_y, thumb_cb, thumb_cr], 1);
    let data: Vec<f32> = all.into_data().try_into_vec().unwrap_or_default();
    if data.len() != n * ROW {
        return vec![];
    }
    frames
        .iter()
        .zip(data.chunks_exact(ROW))
        .enumerate()
        .map(|(i, (f, row))| {
            let mut hist = [0f32; HIST_BINS];
            let above = &row[4..SCALARS];
            hist[0] = 1.0 - above[0];
            for k in 1..HIST_BINS - 1 {
                hist[k] = (above[k - 1] - above[k]).max(0.0);
            }
            hist[HIST_BINS - 1] = above[HIST_BINS - 2];
            FrameFeatures {
                index: f.index,
                pts: f.pts,
                duration: f.duration.filter(|d| *d > 0.0).unwrap_or(default_duration),
                has_prev: i > 0 || prev.is_some(),
                mad: row[0],
                luma_mean: row[1],
                luma_std: row[2].max(0.0).sqrt(),
                black_ratio: row[3],
                hist,
                thumb: row[SCALARS..].to_vec().into_boxed_slice(),
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
