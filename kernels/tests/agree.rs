//! Each custom kernel against its tensor-op reference, on random input.
//!
//! The CPU backend always runs. The wgpu backend runs the CubeCL kernel itself; it needs a
//! Vulkan/GL adapter (CI installs Debian's mesa-vulkan-drivers). Without one the test fails,
//! unless EVALVERSE_SKIP_WGPU=1 says the machine has none on purpose.
use burn::tensor::{Device, Distribution, Tensor};
use evalverse_kernels::{row_mean_absdiff, row_mean_absdiff_reference};

/// Tolerance: f32 sums of ~14 400 terms of magnitude ≤ 1, reduced in a different order.
const TOL: f32 = 1e-5;

fn check(device: &Device, rows: usize, cols: usize) -> f32 {
    let a = Tensor::<2>::random([rows, cols], Distribution::Uniform(0.0, 1.0), device);
    let b = Tensor::<2>::random([rows, cols], Distribution::Uniform(0.0, 1.0), device);
    let k: Vec<f32> = row_mean_absdiff(a.clone(), b.clone()).into_data().try_into_vec().unwrap();
    let r: Vec<f32> = row_mean_absdiff_reference(a, b).into_data().try_into_vec().unwrap();
    assert_eq!(k.len(), rows);
    // Mean |U − U'| for independent uniforms is 1/3: the values are meaningful, not zeros.
    if cols >= 1000 {
        assert!(k.iter().all(|v| (v - 1.0 / 3.0).abs() < 0.02), "{k:?}");
    }
    k.iter().zip(&r).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
#[allow(deprecated)]
fn row_mean_absdiff_matches_reference_on_cpu() {
    let d = Device::ndarray();
    for (rows, cols) in [(1, 7), (9, 14_400), (33, 257)] {
        let err = check(&d, rows, cols);
        assert!(err <= TOL, "{rows}x{cols}: max |kernel − reference| = {err}");
    }
}

#[test]
fn row_mean_absdiff_kernel_matches_reference_on_wgpu() {
    let device = match Device::wgpu_options().init() {
        Ok(d) => d,
        Err(e) if std::env::var("EVALVERSE_SKIP_WGPU").as_deref() == Ok("1") => {
            eprintln!("skipping the wgpu check: {e}");
            return;
        }
        Err(e) => panic!("no wgpu adapter ({e}); install mesa-vulkan-drivers or set EVALVERSE_SKIP_WGPU=1"),
    };
    // Sizes that exercise partial cubes (cols not a multiple of 256) and a real frame (160x90).
    for (rows, cols) in [(1, 7), (9, 14_400), (33, 257)] {
        let err = check(&device, rows, cols);
        assert!(err <= TOL, "{rows}x{cols}: max |kernel − reference| = {err}");
    }
}
