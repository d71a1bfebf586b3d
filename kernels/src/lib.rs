//! Custom GPU kernels for evalverse's per-frame hot spot: the statistics of each frame
//! against the one before it, in one pass over the pixels.
//!
//! Every kernel here has a *reference twin* built from plain Burn tensor ops, and a test
//! (`kernels/tests/agree.rs`) that checks the two agree on random input within a stated
//! tolerance.
//!
//! Kernels are written in CubeCL and reach Burn through `#[backend_extension]`, so callers
//! stay on `burn::Tensor` and the runtime device decides which implementation runs.
//!
//! | kernel | what | shapes |
//! |---|---|---|
//! | [`frame_stats`] | one pass over each frame: per-block sums for differences to the previous frame, moments, black pixels, a 16-bin histogram and the thumbnail (the first pass of `frame_summary`; public so its block statistics are tested against the references) | `[N+1, H, W] -> [N, 576, 21]` |
//! | [`frame_summary`] | what the model reads back: `frame_stats` summed over blocks (per-frame totals) and the block means (thumbnail) | `[N+1, H, W] -> [N, 21 + 576]` |
//! | [`frame_detail`] | fine detail of a larger luma plane: sums of the 3×3 Laplacian and its square (focus), of Immerkær's noise mask (noise), of the pixels and their squares (contrast), over the interior pixels | `[N, H, W] -> [N, 6]` |
//!
//! On the CPU backend (NdArray) both are a single native loop over the pixels, not the
//! tensor-op references: those need ~15 passes and a `[N, P, 16]` comparison tensor for the
//! histogram, 10–20× slower. On a GPU they are CubeCL kernels with one unit per (frame,
//! block).

#![allow(deprecated)] // NdArray is Burn 0.22's CPU backend as measured here; see README "Backends".

use burn::backend::{
    Backend, Dispatch, NdArray, TensorMetadata, backend_extension, tensor::FloatTensor,
};
use burn::tensor::{Shape, Tensor};

mod gpu;

/// Backend extension carrying evalverse's custom kernels.
#[backend_extension(Cube, Fusion, NdArray)]
pub trait FrameKernels: Backend {
    /// Per-block statistics of `frames[1..]`, each against its predecessor; see [`frame_stats`].
    #[fusion(dtype = frames, shape = Shape::from(vec![frames[0] - 1, BLOCKS, STATS]))]
    fn frame_stats(frames: FloatTensor<Self>, black_level: u32) -> FloatTensor<Self>;

    /// Per-frame totals and block means of `frames[1..]`; see [`frame_summary`].
    #[fusion(dtype = frames, shape = Shape::from(vec![frames[0] - 1, SUMMARY]))]
    fn frame_summary(frames: FloatTensor<Self>, black_level: u32) -> FloatTensor<Self>;

    /// Per interior row of every frame, the [`DETAIL`] sums of [`frame_detail`].
    #[fusion(dtype = frames, shape = Shape::from(vec![frames[0], frames[1] - 2, DETAIL]))]
    fn frame_detail_rows(frames: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// Thumbnail grid of [`frame_stats`]: `BLOCK_ROWS × BLOCK_COLS` blocks.
pub const BLOCK_ROWS: usize = 18;
pub const BLOCK_COLS: usize = 32;
pub const BLOCKS: usize = BLOCK_ROWS * BLOCK_COLS;
/// Histogram bins of [`frame_stats`].
pub const BINS: usize = 16;
/// Statistics per block: `Σ|cur−prev|, Σcur, Σcur², #black, hist[16], #pixels`.
pub const STATS: usize = 5 + BINS;
pub const S_ABSDIFF: usize = 0;
pub const S_SUM: usize = 1;
pub const S_SUMSQ: usize = 2;
pub const S_BLACK: usize = 3;
pub const S_HIST: usize = 4;
pub const S_COUNT: usize = 4 + BINS;
/// Columns of [`frame_summary`]: `STATS` per-frame totals, then `BLOCKS` block means.
pub const SUMMARY: usize = STATS + BLOCKS;

/// Columns of [`frame_detail`]: `Σ lap, Σ lap², Σ |noise mask|, Σ v, Σ v², pixels` over the
/// interior pixels (1 … H−2, 1 … W−2), where `lap` is the 4-neighbour Laplacian
/// `[[0,1,0],[1,−4,1],[0,1,0]]` and the noise mask is Immerkær's (1996)
/// `[[1,−2,1],[−2,4,−2],[1,−2,1]]`.
pub const DETAIL: usize = 6;
pub const D_LAP: usize = 0;
pub const D_LAP2: usize = 1;
pub const D_NOISE: usize = 2;
pub const D_SUM: usize = 3;
pub const D_SUMSQ: usize = 4;
pub const D_COUNT: usize = 5;

/// Which block a pixel belongs to along one axis: `floor(i · blocks / len)`. Block `b` covers
/// `[ceil(b·len/blocks), ceil((b+1)·len/blocks))`.
pub fn block_range(b: usize, blocks: usize, len: usize) -> std::ops::Range<usize> {
    (b * len).div_ceil(blocks)..((b + 1) * len).div_ceil(blocks)
}

impl FrameKernels for burn_cubecl::CubeBackend {
    fn frame_stats(frames: FloatTensor<Self>, black_level: u32) -> FloatTensor<Self> {
        gpu::frame_stats(frames, black_level)
    }
    fn frame_summary(frames: FloatTensor<Self>, black_level: u32) -> FloatTensor<Self> {
        gpu::frame_summary(gpu::frame_stats(frames, black_level))
    }
    fn frame_detail_rows(frames: FloatTensor<Self>) -> FloatTensor<Self> {
        gpu::frame_detail_rows(frames)
    }
}

impl FrameKernels for NdArray {
    fn frame_stats(frames: FloatTensor<Self>, black_level: u32) -> FloatTensor<Self> {
        cpu::frame_stats(frames, black_level)
    }
    fn frame_summary(frames: FloatTensor<Self>, black_level: u32) -> FloatTensor<Self> {
        cpu::frame_summary(frames, black_level)
    }
    fn frame_detail_rows(frames: FloatTensor<Self>) -> FloatTensor<Self> {
        cpu::frame_detail_rows(frames)
    }
}

mod cpu {
    use super::*;
    use burn::backend::ndarray::NdArrayTensor;
    use burn::tensor::TensorData;

    fn values(t: &NdArrayTensor) -> std::borrow::Cow<'_, [f32]> {
        match t {
            NdArrayTensor::F32(s) => {
                let v = s.view();
                match v.to_slice() {
                    // Contiguous (the usual case): read in place.
                    Some(slice) => std::borrow::Cow::Borrowed(slice),
                    None => std::borrow::Cow::Owned(v.iter().copied().collect()),
                }
            }
            other => {
                let data: Vec<f32> = other.clone().into_data_f32();
                std::borrow::Cow::Owned(data)
            }
        }
    }

    trait IntoF32 {
        fn into_data_f32(self) -> Vec<f32>;
    }
    impl IntoF32 for NdArrayTensor {
        fn into_data_f32(self) -> Vec<f32> {
            let f = <NdArray as burn::backend::ops::FloatTensorOps<NdArray>>::float_cast(
                self,
                burn::tensor::FloatDType::F32,
            );
            match f {
                NdArrayTensor::F32(s) => s.view().iter().copied().collect(),
                _ => vec![],
            }
        }
    }

    /// The native CPU implementation: one pass over the pixels, reading the frames in place.
    pub(super) fn frame_stats(frames: NdArrayTensor, black_level: u32) -> NdArrayTensor {
        let shape = frames.shape();
        let (m, h, w) = (shape[0], shape[1], shape[2]);
        let n = m.saturating_sub(1);
        let all = values(&frames);
        let mut out = vec![0f32; n * BLOCKS * STATS];
        let black = black_level as f32 / 255.0;
        let col_block: Vec<usize> = (0..w).map(|x| x * BLOCK_COLS / w.max(1)).collect();
        for f in 0..n {
            let frame = &mut out[f * BLOCKS * STATS..(f + 1) * BLOCKS * STATS];
            for y in 0..h {
                let by = y * BLOCK_ROWS / h;
                let cur = ((f + 1) * h + y) * w;
                let prev = (f * h + y) * w;
                let (cr, pr) = (&all[cur..cur + w], &all[prev..prev + w]);
                for x in 0..w {
                    let v = cr[x];
                    let s = &mut frame[(by * BLOCK_COLS + col_block[x]) * STATS..][..STATS];
                    s[S_ABSDIFF] += (v - pr[x]).abs();
                    s[S_SUM] += v;
                    s[S_SUMSQ] += v * v;
                    s[S_BLACK] += (v <= black) as u8 as f32;
                    s[S_HIST + ((v * BINS as f32).clamp(0.0, (BINS - 1) as f32)) as usize] += 1.0;
                    s[S_COUNT] += 1.0;
                }
            }
        }
        NdArrayTensor::from_data(TensorData::new(out, [n, BLOCKS, STATS]))
    }

    /// The native CPU implementation of the summary: totals kept per row in f64 (the order of
    /// the sums differs from the block-wise GPU path; f64 keeps the two within f32 rounding),
    /// only the block sums of `cur` kept per block.
    pub(super) fn frame_summary(frames: NdArrayTensor, black_level: u32) -> NdArrayTensor {
        let shape = frames.shape();
        let (m, h, w) = (shape[0], shape[1], shape[2]);
        let n = m.saturating_sub(1);
        let all = values(&frames);
        let mut out = vec![0f32; n * SUMMARY];
        let black = black_level as f32 / 255.0;
        let col_block: Vec<usize> = (0..w).map(|x| x * BLOCK_COLS / w.max(1)).collect();
        let mut block_count = vec![0f32; BLOCKS];
        for y in 0..h {
            for &bx in &col_block {
                block_count[(y * BLOCK_ROWS / h) * BLOCK_COLS + bx] += 1.0;
            }
        }
        // Column ranges of the block columns (the same split as `frame_stats`).
        let ranges: Vec<(usize, usize)> = (0..BLOCK_COLS)
            .map(|b| {
                let r = col_block.iter().position(|&c| c == b).unwrap_or(w);
                let e = col_block
                    .iter()
                    .rposition(|&c| c == b)
                    .map(|i| i + 1)
                    .unwrap_or(r);
                (r, e.max(r))
            })
            .collect();
        let mut block_sum = vec![0f32; BLOCKS];
        for f in 0..n {
            let (mut sad, mut sum, mut sumsq, mut dark) = (0f64, 0f64, 0f64, 0u32);
            let mut hist = [0u32; BINS];
            block_sum.iter_mut().for_each(|v| *v = 0.0);
            for y in 0..h {
                let row_blocks = &mut block_sum[(y * BLOCK_ROWS / h) * BLOCK_COLS..][..BLOCK_COLS];
                let cur = ((f + 1) * h + y) * w;
                let prev = (f * h + y) * w;
                let (cr, pr) = (&all[cur..cur + w], &all[prev..prev + w]);
                let (mut r_sad, mut r_sum, mut r_sq) = (0f32, 0f32, 0f32);
                for (acc, &(x0, x1)) in row_blocks.iter_mut().zip(&ranges) {
                    let mut b_sum = 0f32;
                    for (&v, &p) in cr[x0..x1].iter().zip(&pr[x0..x1]) {
                        r_sad += (v - p).abs();
                        b_sum += v;
                        r_sq += v * v;
                        dark += (v <= black) as u32;
                        // `as` saturates: negatives land in bin 0.
                        hist[((v * BINS as f32) as usize).min(BINS - 1)] += 1;
                    }
                    *acc += b_sum;
                    r_sum += b_sum;
                }
                sad += r_sad as f64;
                sum += r_sum as f64;
                sumsq += r_sq as f64;
            }
            let o = &mut out[f * SUMMARY..(f + 1) * SUMMARY];
            o[S_ABSDIFF] = sad as f32;
            o[S_SUM] = sum as f32;
            o[S_SUMSQ] = sumsq as f32;
            o[S_BLACK] = dark as f32;
            for (k, c) in hist.iter().enumerate() {
                o[S_HIST + k] = *c as f32;
            }
            o[S_COUNT] = (h * w) as f32;
            for (b, (s, c)) in block_sum.iter().zip(&block_count).enumerate() {
                o[STATS + b] = if *c > 0.0 { s / c } else { 0.0 };
            }
        }
        NdArrayTensor::from_data(TensorData::new(out, [n, SUMMARY]))
    }

    /// The sums of one interior row (`mid`, between `up` and `down`): f32 in 8 independent
    /// lanes, so that the loop vectorises (a row is at most a few thousand terms).
    fn detail_row(up: &[f32], mid: &[f32], down: &[f32]) -> [f32; 5] {
        const L: usize = 8;
        let n = mid.len().saturating_sub(2);
        let full = n / L * L;
        let (mut a0, mut a1, mut a2, mut a3, mut a4) =
            ([0f32; L], [0f32; L], [0f32; L], [0f32; L], [0f32; L]);
        for i in (0..full).step_by(L) {
            let u: &[f32; L + 2] = up[i..i + L + 2].try_into().unwrap_or(&[0.0; L + 2]);
            let m: &[f32; L + 2] = mid[i..i + L + 2].try_into().unwrap_or(&[0.0; L + 2]);
            let d: &[f32; L + 2] = down[i..i + L + 2].try_into().unwrap_or(&[0.0; L + 2]);
            for j in 0..L {
                let c = m[j + 1];
                let edges = u[j + 1] + d[j + 1] + m[j] + m[j + 2];
                let l = edges - 4.0 * c;
                let k = (u[j] + u[j + 2] + d[j] + d[j + 2]) - 2.0 * edges + 4.0 * c;
                a0[j] += l;
                a1[j] += l * l;
                a2[j] += k.abs();
                a3[j] += c;
                a4[j] += c * c;
            }
        }
        let mut r = [a0, a1, a2, a3, a4].map(|lanes| lanes.iter().sum::<f32>());
        for x in full..n {
            let c = mid[x + 1];
            let edges = up[x + 1] + down[x + 1] + mid[x] + mid[x + 2];
            let l = edges - 4.0 * c;
            let k = (up[x] + up[x + 2] + down[x] + down[x + 2]) - 2.0 * edges + 4.0 * c;
            r[0] += l;
            r[1] += l * l;
            r[2] += k.abs();
            r[3] += c;
            r[4] += c * c;
        }
        r
    }

    /// One native pass per frame: the [`DETAIL`] sums of each interior row.
    pub(super) fn frame_detail_rows(frames: NdArrayTensor) -> NdArrayTensor {
        let shape = frames.shape();
        let (n, h, w) = (shape[0], shape[1], shape[2]);
        let rows = h.saturating_sub(2);
        let v = values(&frames);
        let mut out = vec![0f32; n * rows * DETAIL];
        for f in 0..n {
            let p = &v[f * h * w..(f + 1) * h * w];
            for y in 1..h.saturating_sub(1) {
                let (up, mid, down) = (
                    &p[(y - 1) * w..y * w],
                    &p[y * w..(y + 1) * w],
                    &p[(y + 1) * w..(y + 2) * w],
                );
                let [lap, lap2, noise, sum, sq] = detail_row(up, mid, down);
                let o = &mut out[(f * rows + y - 1) * DETAIL..(f * rows + y) * DETAIL];
                o[D_LAP] = lap;
                o[D_LAP2] = lap2;
                o[D_NOISE] = noise;
                o[D_SUM] = sum;
                o[D_SUMSQ] = sq;
                o[D_COUNT] = w.saturating_sub(2) as f32;
            }
        }
        NdArrayTensor::from_data(TensorData::new(out, [n, rows, DETAIL]))
    }
}

/// One pass per frame: statistics of each block of an `BLOCK_ROWS × BLOCK_COLS` grid, for
/// `frames[1..]`, each against the frame before it (`cur = frames[n + 1]`, `prev = frames[n]`:
/// the caller puts the previous batch's last frame first, so no frame is compared twice and
/// nothing is sliced or copied).
///
/// For every frame `n` and block `b`, `out[n, b]` holds `Σ|cur − prev|`, `Σ cur`, `Σ cur²`, the
/// number of pixels `≤ black_level / 255`, a 16-bin histogram of `cur` (bin `⌊16·v⌋`, clamped),
/// and the block's pixel count. Sum over blocks for per-frame figures; divide `Σ cur` by the
/// count for the thumbnail.
///
/// # Shapes
/// - `frames`: `[N + 1, H, W]`, values in 0–1
/// - output: `[N, BLOCKS, STATS]`
pub fn frame_stats(frames: Tensor<3>, black_level: u32) -> Tensor<3> {
    Tensor::from_dispatch(<Dispatch as FrameKernels>::frame_stats(
        frames.into_dispatch(),
        black_level,
    ))
}

/// What the model reads back per frame: [`frame_stats`] summed over the blocks (`STATS`
/// per-frame totals: `Σ|cur − prev|`, `Σ cur`, `Σ cur²`, black pixels, histogram, pixels),
/// then the `BLOCKS` block means of `cur` (the thumbnail, row-major). 597 values a frame
/// instead of the 12 096 of the block statistics.
///
/// # Shapes
/// - `frames`: `[N + 1, H, W]`, values in 0–1
/// - output: `[N, SUMMARY]` (`SUMMARY = STATS + BLOCKS`)
pub fn frame_summary(frames: Tensor<3>, black_level: u32) -> Tensor<2> {
    Tensor::from_dispatch(<Dispatch as FrameKernels>::frame_summary(
        frames.into_dispatch(),
        black_level,
    ))
}

/// Reference twin of [`frame_stats`] for what plain tensor ops express directly: per-frame
/// totals `[N, STATS]` (the kernel's output summed over blocks), from whole-frame reductions
/// and a broadcast comparison for the histogram.
///
/// # Shapes
/// - `cur`, `prev`: `[N, H, W]` → `[N, STATS]`
pub fn frame_totals_reference(cur: Tensor<3>, prev: Tensor<3>, black_level: u32) -> Tensor<2> {
    let [n, h, w] = cur.dims();
    let device = cur.device();
    let flat = cur.reshape([n, h * w]);
    let absdiff = (flat.clone() - prev.reshape([n, h * w])).abs().sum_dim(1);
    let sum = flat.clone().sum_dim(1);
    let sumsq = (flat.clone() * flat.clone()).sum_dim(1);
    let black = flat
        .clone()
        .lower_equal_elem(black_level as f32 / 255.0)
        .float()
        .sum_dim(1);
    let bins = (flat.clone() * BINS as f32)
        .clamp(0.0, (BINS - 1) as f32)
        .floor();
    let ids: Vec<f32> = (0..BINS).map(|b| b as f32).collect();
    let ids = Tensor::<1>::from_floats(ids.as_slice(), &device).reshape([1, 1, BINS]);
    let hist = bins
        .reshape([n, h * w, 1])
        .equal(ids)
        .float()
        .sum_dim(1)
        .reshape([n, BINS]);
    let count = Tensor::<2>::full([n, 1], (h * w) as f32, &device);
    Tensor::cat(vec![absdiff, sum, sumsq, black, hist, count], 1)
}

/// Reference twin for the thumbnail when the grid divides the frame: average pooling.
///
/// # Shapes
/// - `cur`: `[N, H, W]` → `[N, BLOCKS]`
pub fn thumbnail_reference(cur: Tensor<3>) -> Tensor<2> {
    let n = cur.dims()[0];
    burn::tensor::module::adaptive_avg_pool2d(cur.unsqueeze_dim::<4>(1), [BLOCK_ROWS, BLOCK_COLS])
        .reshape([n, BLOCKS])
}

/// Fine detail of each frame of a larger luma plane, for focus and noise: the [`DETAIL`] sums
/// (`Σ lap, Σ lap², Σ |noise mask|, Σ v, Σ v², pixels`) over the interior pixels. From them:
/// focus as the Laplacian's standard deviation, noise σ by Immerkær's estimator
/// `√(π/2) · Σ|mask| / (6 · pixels)`.
///
/// # Shapes
/// - `frames`: `[N, H, W]`, values in 0–1 (frames smaller than 3×3 give zeros)
/// - output: `[N, DETAIL]`
pub fn frame_detail(frames: Tensor<3>) -> Tensor<2> {
    let [n, h, w] = frames.dims();
    if h < 3 || w < 3 {
        return Tensor::zeros([n, DETAIL], &frames.device());
    }
    let rows: Tensor<3> = Tensor::from_dispatch(<Dispatch as FrameKernels>::frame_detail_rows(
        frames.into_dispatch(),
    ));
    rows.sum_dim(1).reshape([n, DETAIL])
}

/// Reference twin of [`frame_detail`] from plain tensor ops: the two masks as `conv2d`
/// weights, then whole-frame reductions.
///
/// # Shapes
/// - `frames`: `[N, H, W]` (H, W ≥ 3) → `[N, DETAIL]`
pub fn frame_detail_reference(frames: Tensor<3>) -> Tensor<2> {
    use burn::tensor::module::conv2d;
    use burn::tensor::ops::ConvOptions;
    let [n, h, w] = frames.dims();
    let device = frames.device();
    let x = frames.clone().unsqueeze_dim::<4>(1);
    let mask = |k: [f32; 9]| Tensor::<1>::from_floats(k.as_slice(), &device).reshape([1, 1, 3, 3]);
    let opts = || ConvOptions::new([1, 1], [0, 0], [1, 1], 1);
    let lap = conv2d(
        x.clone(),
        mask([0., 1., 0., 1., -4., 1., 0., 1., 0.]),
        None,
        opts(),
    )
    .reshape([n, (h - 2) * (w - 2)]);
    let noise = conv2d(
        x,
        mask([1., -2., 1., -2., 4., -2., 1., -2., 1.]),
        None,
        opts(),
    )
    .reshape([n, (h - 2) * (w - 2)]);
    let inner = frames
        .slice([0..n, 1..h - 1, 1..w - 1])
        .reshape([n, (h - 2) * (w - 2)]);
    let count = Tensor::<2>::full([n, 1], ((h - 2) * (w - 2)) as f32, &device);
    Tensor::cat(
        vec![
            lap.clone().sum_dim(1),
            (lap.clone() * lap).sum_dim(1),
            noise.abs().sum_dim(1),
            inner.clone().sum_dim(1),
            (inner.clone() * inner).sum_dim(1),
            count,
        ],
        1,
    )
}
