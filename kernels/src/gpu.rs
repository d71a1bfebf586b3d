//! CubeCL kernels (compiled to WGSL/SPIR-V/CUDA by the runtime). Kept apart from the Burn
//! tensor API: CubeCL's prelude shadows `Tensor`.
use burn::cubecl;
use burn::backend::cubecl::dtype_to_storage_type;
use burn_cubecl::{ops::numeric::empty_device_dtype, kernel::into_contiguous, tensor::CubeTensor};
use cubecl::{cube, prelude::*};

/// Threads per cube; one cube reduces one row.
const BLOCK: u32 = 256;

/// One cube per row: each unit strides over the columns, then a shared-memory tree reduction.
#[cube(launch)]
fn row_mean_absdiff_kernel<F: Float>(
    a: &Tensor<F>,
    b: &Tensor<F>,
    out: &mut Tensor<F>,
    #[comptime] block: u32,
    #[define(F)] _dtype: ElemType,
) {
    let row = CUBE_POS_X as usize;
    let cols = a.shape(1);
    let unit = UNIT_POS_X as usize;
    let step = CUBE_DIM_X as usize;

    let mut acc = F::new(0.0);
    let mut c = unit;
    while c < cols {
        let i = row * cols + c;
        acc += F::abs(a[i] - b[i]);
        c += step;
    }

    let mut partial = Shared::new_slice(block as usize);
    partial[unit] = acc;
    sync_cube();

    let mut half = (block / 2) as usize;
    while half > 0 {
        if unit < half {
            let other = partial[unit + half];
            partial[unit] += other;
        }
        sync_cube();
        half /= 2;
    }

    if unit == 0 {
        out[row] = partial[0] / F::cast_from(cols as u32);
    }
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
        CubeCount::Static(rows as u32, 1, 1),
        CubeDim::new_1d(BLOCK),
        a.into_tensor_arg(),
        b.into_tensor_arg(),
        out.clone().into_tensor_arg(),
        BLOCK,
        dtype_to_storage_type(dtype),
    );
    out
}
