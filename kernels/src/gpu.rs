//! CubeCL kernels (compiled to WGSL/SPIR-V/CUDA by the runtime). Kept apart from the Burn
//! tensor API: CubeCL's prelude shadows `Tensor`.
use burn::cubecl;
use burn::backend::cubecl::dtype_to_storage_type;
use burn_cubecl::{ops::numeric::empty_device_dtype, kernel::into_contiguous, tensor::CubeTensor};
use cubecl::{cube, prelude::*};

/// Rows per cube; one unit reduces one row.
const BLOCK: u32 = 64;

/// One unit per row: a straight loop over the row's columns. Frames are short rows
/// (~14 400 pixels at the analysis size) and a batch holds many of them (frames of every
/// stream), so row-level parallelism keeps a GPU busy without a cross-unit reduction.
#[cube(launch)]
fn row_mean_absdiff_kernel<F: Float>(a: &Tensor<F>, b: &Tensor<F>, out: &mut Tensor<F>, #[define(F)] _dtype: ElemType) {
    let row = ABSOLUTE_POS;
    if row >= a.shape(0) {
        terminate!();
    }
    let cols = a.shape(1);
    let mut acc = F::new(0.0);
    for c in 0..cols {
        let i = row * cols + c;
        acc += F::abs(a[i] - b[i]);
    }
    out[row] = acc / F::cast_from(cols as u32);
}

pub(crate) fn row_mean_absdiff(a: CubeTensor, b: CubeTensor) -> CubeTensor {
    let a = into_contiguous(a);
    let b = into_contiguous(b);
    let rows = a.meta.shape()[0];
    let dtype = a.dtype;
    let out = empty_device_dtype(
        a.client.clone(),
        a.device.clone(),
        burn::tensor::Shape::from(vec![rows]),
        dtype,
    );
    row_mean_absdiff_kernel::launch(
        &a.client.clone(),
        CubeCount::Static((rows as u32).div_ceil(BLOCK), 1, 1),
        CubeDim::new_1d(BLOCK),
        a.into_tensor_arg(),
        b.into_tensor_arg(),
        out.clone().into_tensor_arg(),
        dtype_to_storage_type(dtype),
    );
    out
}
