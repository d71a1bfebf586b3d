//! CubeCL kernels (compiled to WGSL/SPIR-V/CUDA by the runtime). Kept apart from the Burn
//! tensor API: CubeCL's prelude shadows `Tensor`.
use burn::backend::cubecl::dtype_to_storage_type;
use burn::cubecl;
use burn_cubecl::{kernel::into_contiguous, ops::numeric::empty_device_dtype, tensor::CubeTensor};
use cubecl::{cube, prelude::*};

/// Units per cube.
const BLOCK: u32 = 64;

/// One unit per (frame, block): loops over the block's pixels and writes its `STATS` sums.
#[cube(launch)]
fn frame_stats_kernel<F: Float>(
    frames: &Tensor<F>,
    out: &mut Tensor<F>,
    black_level: u32,
    #[comptime] rows: u32,
    #[comptime] cols: u32,
    #[comptime] stats: u32,
    #[define(F)] _dtype: ElemType,
) {
    let pos = ABSOLUTE_POS;
    let blocks = (rows * cols) as usize;
    let n = frames.shape(0) - 1;
    let h = frames.shape(1);
    let w = frames.shape(2);
    if pos >= n * blocks {
        terminate!();
    }
    let frame = pos / blocks;
    let b = pos % blocks;
    let by = b / (cols as usize);
    let bx = b % (cols as usize);
    let r = rows as usize;
    let c = cols as usize;
    let y0 = (by * h + r - 1) / r;
    let y1 = ((by + 1) * h + r - 1) / r;
    let x0 = (bx * w + c - 1) / c;
    let x1 = ((bx + 1) * w + c - 1) / c;
    let base = pos * (stats as usize);
    for k in 0..stats as usize {
        out[base + k] = F::new(0.0);
    }
    let black = F::cast_from(black_level) / F::new(255.0);
    let mut sad = F::new(0.0);
    let mut sum = F::new(0.0);
    let mut sq = F::new(0.0);
    let mut dark = F::new(0.0);
    let mut count = F::new(0.0);
    for y in y0..y1 {
        for x in x0..x1 {
            let p = (frame * h + y) * w + x;
            let v = frames[p + h * w];
            sad += F::abs(v - frames[p]);
            sum += v;
            sq += v * v;
            if v <= black {
                dark += F::new(1.0);
            }
            let scaled = F::min(F::max(v * F::new(16.0), F::new(0.0)), F::new(15.0));
            let bin = u32::cast_from(scaled) as usize;
            let at = base + 4 + bin;
            out[at] = out[at] + F::new(1.0);
            count += F::new(1.0);
        }
    }
    out[base] = sad;
    out[base + 1] = sum;
    out[base + 2] = sq;
    out[base + 3] = dark;
    out[base + (stats as usize) - 1] = count;
}

pub(crate) fn frame_stats(frames: CubeTensor, black_level: u32) -> CubeTensor {
    let frames = into_contiguous(frames);
    let n = frames.meta.shape()[0].saturating_sub(1);
    let dtype = frames.dtype;
    let out = empty_device_dtype(
        frames.client.clone(),
        frames.device.clone(),
        burn::tensor::Shape::from(vec![n, crate::BLOCKS, crate::STATS]),
        dtype,
    );
    let units = (n * crate::BLOCKS) as u32;
    frame_stats_kernel::launch(
        &frames.client.clone(),
        CubeCount::Static(units.div_ceil(BLOCK).max(1), 1, 1),
        CubeDim::new_1d(BLOCK),
        frames.into_tensor_arg(),
        out.clone().into_tensor_arg(),
        black_level,
        crate::BLOCK_ROWS as u32,
        crate::BLOCK_COLS as u32,
        crate::STATS as u32,
        dtype_to_storage_type(dtype),
    );
    out
}

/// One unit per (frame, output column): a per-frame total (sum of one statistic over the
/// blocks) for the first `stats` columns, a block mean (`Σ cur / pixels`) for the rest.
#[cube(launch)]
fn frame_summary_kernel<F: Float>(
    stats_in: &Tensor<F>,
    out: &mut Tensor<F>,
    #[comptime] blocks: u32,
    #[comptime] stats: u32,
    #[define(F)] _dtype: ElemType,
) {
    let pos = ABSOLUTE_POS;
    let blocks = blocks as usize;
    let stats = stats as usize;
    let width = stats + blocks;
    let n = stats_in.shape(0);
    if pos >= n * width {
        terminate!();
    }
    let frame = pos / width;
    let col = pos % width;
    let base = frame * blocks * stats;
    if col < stats {
        let mut acc = F::new(0.0);
        for b in 0..blocks {
            acc += stats_in[base + b * stats + col];
        }
        out[pos] = acc;
    } else {
        let b = col - stats;
        let count = stats_in[base + b * stats + stats - 1];
        let mut mean = F::new(0.0);
        if count > F::new(0.0) {
            mean = stats_in[base + b * stats + 1] / count;
        }
        out[pos] = mean;
    }
}

/// `[N, BLOCKS, STATS]` block statistics → `[N, SUMMARY]` totals and block means.
pub(crate) fn frame_summary(stats: CubeTensor) -> CubeTensor {
    let stats = into_contiguous(stats);
    let n = stats.meta.shape()[0];
    let dtype = stats.dtype;
    let out = empty_device_dtype(
        stats.client.clone(),
        stats.device.clone(),
        burn::tensor::Shape::from(vec![n, crate::SUMMARY]),
        dtype,
    );
    let units = (n * crate::SUMMARY) as u32;
    frame_summary_kernel::launch(
        &stats.client.clone(),
        CubeCount::Static(units.div_ceil(BLOCK).max(1), 1, 1),
        CubeDim::new_1d(BLOCK),
        stats.into_tensor_arg(),
        out.clone().into_tensor_arg(),
        crate::BLOCKS as u32,
        crate::STATS as u32,
        dtype_to_storage_type(dtype),
    );
    out
}

/// One unit per (frame, interior row): the row's [`crate::DETAIL`] sums.
#[cube(launch)]
fn frame_detail_kernel<F: Float>(
    frames: &Tensor<F>,
    out: &mut Tensor<F>,
    #[comptime] detail: u32,
    #[define(F)] _dtype: ElemType,
) {
    let pos = ABSOLUTE_POS;
    let n = frames.shape(0);
    let h = frames.shape(1);
    let w = frames.shape(2);
    let rows = h - 2;
    if pos >= n * rows {
        terminate!();
    }
    let frame = pos / rows;
    let y = pos % rows + 1;
    let base = frame * h * w;
    let mut lap = F::new(0.0);
    let mut lap2 = F::new(0.0);
    let mut noise = F::new(0.0);
    let mut sum = F::new(0.0);
    let mut sq = F::new(0.0);
    for x in 1..w - 1 {
        let up = base + (y - 1) * w + x;
        let mid = base + y * w + x;
        let down = base + (y + 1) * w + x;
        let c = frames[mid];
        let edges = frames[up] + frames[down] + frames[mid - 1] + frames[mid + 1];
        let l = edges - F::new(4.0) * c;
        let corners = frames[up - 1] + frames[up + 1] + frames[down - 1] + frames[down + 1];
        let k = corners - F::new(2.0) * edges + F::new(4.0) * c;
        lap += l;
        lap2 += l * l;
        noise += F::abs(k);
        sum += c;
        sq += c * c;
    }
    let o = pos * (detail as usize);
    out[o] = lap;
    out[o + 1] = lap2;
    out[o + 2] = noise;
    out[o + 3] = sum;
    out[o + 4] = sq;
    out[o + 5] = F::cast_from(w - 2);
}

/// `[N, H, W]` frames → `[N, H − 2, DETAIL]` row sums.
pub(crate) fn frame_detail_rows(frames: CubeTensor) -> CubeTensor {
    let frames = into_contiguous(frames);
    let shape = frames.meta.shape();
    let (n, rows) = (shape[0], shape[1].saturating_sub(2));
    let dtype = frames.dtype;
    let out = empty_device_dtype(
        frames.client.clone(),
        frames.device.clone(),
        burn::tensor::Shape::from(vec![n, rows, crate::DETAIL]),
        dtype,
    );
    let units = (n * rows) as u32;
    frame_detail_kernel::launch(
        &frames.client.clone(),
        CubeCount::Static(units.div_ceil(BLOCK).max(1), 1, 1),
        CubeDim::new_1d(BLOCK),
        frames.into_tensor_arg(),
        out.clone().into_tensor_arg(),
        crate::DETAIL as u32,
        dtype_to_storage_type(dtype),
    );
    out
}
