//! Custom GPU kernels for evalverse's per-frame hot spots.
//!
//! Every kernel here has a *reference twin* built from plain Burn tensor ops, and a test
//! (`kernels/tests/agree.rs`) that checks the two agree on random input within a stated
//! tolerance. The reference is also what runs on the CPU backend (NdArray): there a fused loop
//! buys nothing over the tensor ops, while on a GPU the kernel saves the intermediate
//! `|a - b|` buffer and one launch per op.
//!
//! Kernels are written in CubeCL and reach Burn through `#[backend_extension]`, so callers
//! stay on `burn::Tensor` and the runtime device decides which implementation runs.
//!
//! | kernel | what | shapes |
//! |---|---|---|
//! | [`row_mean_absdiff`] | mean absolute difference of two frames, one row per frame | `[R, C] x [R, C] -> [R]` |

#![allow(deprecated)] // NdArray is Burn 0.22's CPU backend as measured here; see README "Backends".

use burn::backend::{Backend, Dispatch, NdArray, TensorMetadata, backend_extension, tensor::FloatTensor};
use burn::tensor::{Shape, Tensor};

mod gpu;

/// Backend extension carrying evalverse's custom kernels.
#[backend_extension(Cube, Fusion, NdArray)]
pub trait FrameKernels: Backend {
    /// Mean of `|a - b|` along dimension 1 of two `[R, C]` tensors.
    #[fusion(dtype = a, shape = Shape::from(vec![a[0]]))]
    fn row_mean_absdiff(a: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self>;
}

impl FrameKernels for burn_cubecl::CubeBackend {
    fn row_mean_absdiff(a: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
        gpu::row_mean_absdiff(a, b)
    }
}

impl FrameKernels for NdArray {
    fn row_mean_absdiff(a: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
        use burn::backend::ops::FloatTensorOps;
        let rows = a.shape()[0];
        let diff = <NdArray as FloatTensorOps<NdArray>>::float_abs(
            <NdArray as FloatTensorOps<NdArray>>::float_sub(a, b),
        );
        let mean = <NdArray as FloatTensorOps<NdArray>>::float_mean_dim(diff, 1);
        <NdArray as FloatTensorOps<NdArray>>::float_reshape(mean, Shape::from(vec![rows]))
    }
}

/// Mean absolute difference per row, through the custom kernel where the device has one.
///
/// # Shapes
/// - `a`, `b`: `[R, C]`
/// - output: `[R]`
pub fn row_mean_absdiff(a: Tensor<2>, b: Tensor<2>) -> Tensor<1> {
    Tensor::from_dispatch(<Dispatch as FrameKernels>::row_mean_absdiff(
        a.into_dispatch(),
        b.into_dispatch(),
    ))
}

/// Reference twin of [`row_mean_absdiff`], in plain tensor ops.
///
/// # Shapes
/// - `a`, `b`: `[R, C]`
/// - output: `[R]`
pub fn row_mean_absdiff_reference(a: Tensor<2>, b: Tensor<2>) -> Tensor<1> {
    let rows = a.dims()[0];
    (a - b).abs().mean_dim(1).reshape([rows])
}
