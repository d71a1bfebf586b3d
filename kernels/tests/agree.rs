//! Each custom kernel against its tensor-op reference, on random input.
//!
//! The CPU backend always runs. The wgpu backend runs the CubeCL kernel itself; it needs a
//! Vulkan/GL adapter (CI installs Debian's mesa-vulkan-drivers). Without one the test fails,
//! unless EVALVERSE_SKIP_WGPU=1 says the machine has none on purpose.
use burn::tensor::{Device, Distribution, Tensor};
use evalverse_kernels::{
    BLOCKS, D_COUNT, DETAIL, S_COUNT, S_SUM, STATS, SUMMARY, frame_detail, frame_detail_reference,
    frame_stats, frame_summary, frame_totals_reference, thumbnail_reference,
};

/// `frame_stats` summed over blocks against whole-frame tensor reductions, and its block means
/// against average pooling (on a frame the grid divides). Returns the worst relative error.
fn check_stats(device: &Device, n: usize, h: usize, w: usize) -> f32 {
    let frames = Tensor::<3>::random([n + 1, h, w], Distribution::Uniform(0.0, 1.0), device);
    let cur = frames.clone().slice([1..n + 1]);
    let prev = frames.clone().slice([0..n]);
    let stats = frame_stats(frames, 32);
    assert_eq!(stats.dims(), [n, BLOCKS, STATS]);
    let totals: Vec<f32> = stats.clone().sum_dim(1).into_data().try_into_vec().unwrap();
    let reference: Vec<f32> = frame_totals_reference(cur.clone(), prev, 32)
        .into_data()
        .try_into_vec()
        .unwrap();
    assert_eq!(totals.len(), reference.len());
    let mut worst = 0f32;
    for (k, (a, b)) in totals.iter().zip(&reference).enumerate() {
        let rel = (a - b).abs() / b.abs().max(1.0);
        assert!(
            rel < 1e-4,
            "stat {} of frame {}: kernel {a} vs reference {b}",
            k % STATS,
            k / STATS
        );
        worst = worst.max(rel);
    }
    // Every pixel is counted once, and the histogram holds them all.
    for f in 0..n {
        let row = &totals[f * STATS..(f + 1) * STATS];
        assert_eq!(row[S_COUNT], (h * w) as f32);
        assert_eq!(row[4..S_COUNT].iter().sum::<f32>(), (h * w) as f32);
    }
    if h % 18 == 0 && w % 32 == 0 {
        let sum = stats.clone().slice([0..n, 0..BLOCKS, S_SUM..S_SUM + 1]);
        let count = stats.slice([0..n, 0..BLOCKS, S_COUNT..S_COUNT + 1]);
        let thumb: Vec<f32> = (sum / count)
            .reshape([n, BLOCKS])
            .into_data()
            .try_into_vec()
            .unwrap();
        let pooled: Vec<f32> = thumbnail_reference(cur).into_data().try_into_vec().unwrap();
        let max = thumb
            .iter()
            .zip(&pooled)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(
            max < 1e-5,
            "thumbnail differs from average pooling by {max}"
        );
    }
    worst
}

/// `frame_summary` (totals, then block means) against the same references, and its block
/// means against `frame_stats`' block sums on any frame size.
fn check_summary(device: &Device, n: usize, h: usize, w: usize) {
    let frames = Tensor::<3>::random([n + 1, h, w], Distribution::Uniform(0.0, 1.0), device);
    let cur = frames.clone().slice([1..n + 1]);
    let prev = frames.clone().slice([0..n]);
    let summary = frame_summary(frames.clone(), 32);
    assert_eq!(summary.dims(), [n, SUMMARY]);
    let s: Vec<f32> = summary.into_data().try_into_vec().unwrap();
    let reference: Vec<f32> = frame_totals_reference(cur.clone(), prev, 32)
        .into_data()
        .try_into_vec()
        .unwrap();
    let stats: Vec<f32> = frame_stats(frames, 32).into_data().try_into_vec().unwrap();
    for f in 0..n {
        let row = &s[f * SUMMARY..(f + 1) * SUMMARY];
        for k in 0..STATS {
            let (a, b) = (row[k], reference[f * STATS + k]);
            assert!(
                (a - b).abs() / b.abs().max(1.0) < 1e-4,
                "total {k} of frame {f}: {a} vs reference {b}"
            );
        }
        assert_eq!(row[S_COUNT], (h * w) as f32);
        for b in 0..BLOCKS {
            let block = &stats[(f * BLOCKS + b) * STATS..][..STATS];
            let mean = if block[S_COUNT] > 0.0 {
                block[S_SUM] / block[S_COUNT]
            } else {
                0.0
            };
            assert!(
                (row[STATS + b] - mean).abs() < 1e-5,
                "block {b} of frame {f}: {} vs {mean}",
                row[STATS + b]
            );
        }
    }
    if h % 18 == 0 && w % 32 == 0 {
        let pooled: Vec<f32> = thumbnail_reference(cur).into_data().try_into_vec().unwrap();
        for f in 0..n {
            for b in 0..BLOCKS {
                let (a, p) = (s[f * SUMMARY + STATS + b], pooled[f * BLOCKS + b]);
                assert!(
                    (a - p).abs() < 1e-5,
                    "thumbnail of frame {f}, block {b}: {a} vs pooled {p}"
                );
            }
        }
    }
}

/// `frame_detail` against its `conv2d` reference on random frames, and the noise estimator
/// against a known σ: Immerkær's estimate of pure Gaussian noise of σ 0.02 on a flat frame.
fn check_detail(device: &Device, n: usize, h: usize, w: usize) {
    let frames = Tensor::<3>::random([n, h, w], Distribution::Uniform(0.0, 1.0), device);
    let d = frame_detail(frames.clone());
    assert_eq!(d.dims(), [n, DETAIL]);
    let got: Vec<f32> = d.into_data().try_into_vec().unwrap();
    let reference: Vec<f32> = frame_detail_reference(frames)
        .into_data()
        .try_into_vec()
        .unwrap();
    // Sums of ~10⁵ f32 terms, some cancelling (Σ lap telescopes to the border): relative
    // 1e-4 plus 2e-6 per pixel of absolute slack.
    let slack = 2e-6 * ((h - 2) * (w - 2)) as f32;
    for (k, (a, b)) in got.iter().zip(&reference).enumerate() {
        assert!(
            (a - b).abs() <= 1e-4 * b.abs().max(1.0) + slack,
            "detail {} of frame {}: kernel {a} vs reference {b}",
            k % DETAIL,
            k / DETAIL
        );
    }
    assert_eq!(got[D_COUNT], ((h - 2) * (w - 2)) as f32);
    if h * w < 10_000 {
        return;
    }
    let flat = Tensor::<3>::random([1, h, w], Distribution::Normal(0.5, 0.02), device);
    let v: Vec<f32> = frame_detail(flat).into_data().try_into_vec().unwrap();
    let sigma = (std::f32::consts::PI / 2.0).sqrt() * v[2] / (6.0 * v[D_COUNT]);
    assert!((sigma - 0.02).abs() < 0.002, "Immerkær σ {sigma} for 0.02");
}

#[test]
#[allow(deprecated)]
fn frame_detail_matches_reference_on_cpu() {
    let d = Device::ndarray();
    for (n, h, w) in [(2, 270, 480), (1, 37, 61), (1, 3, 3)] {
        check_detail(&d, n, h, w);
    }
}

#[test]
fn frame_detail_kernel_matches_reference_on_wgpu() {
    let device = match wgpu() {
        Some(d) => d,
        None => return,
    };
    for (n, h, w) in [(2, 270, 480), (1, 37, 61), (1, 3, 3)] {
        check_detail(&device, n, h, w);
    }
}

#[test]
#[allow(deprecated)]
fn frame_stats_matches_reference_on_cpu() {
    let d = Device::ndarray();
    for (n, h, w) in [(3, 90, 160), (2, 37, 61), (1, 8, 8)] {
        check_stats(&d, n, h, w);
        check_summary(&d, n, h, w);
    }
}

#[test]
fn frame_stats_kernel_matches_reference_on_wgpu() {
    let device = match wgpu() {
        Some(d) => d,
        None => return,
    };
    for (n, h, w) in [(3, 90, 160), (2, 37, 61), (1, 8, 8)] {
        check_stats(&device, n, h, w);
        check_summary(&device, n, h, w);
    }
}

fn wgpu() -> Option<Device> {
    static DEVICE: std::sync::OnceLock<Result<Device, String>> = std::sync::OnceLock::new();
    match DEVICE.get_or_init(|| Device::wgpu_options().init().map_err(|e| e.to_string())) {
        Ok(d) => Some(d.clone()),
        Err(e) if std::env::var("EVALVERSE_SKIP_WGPU").as_deref() == Ok("1") => {
            eprintln!("skipping the wgpu check: {e}");
            None
        }
        Err(e) => panic!(
            "no wgpu adapter ({e}); install mesa-vulkan-drivers or set EVALVERSE_SKIP_WGPU=1"
        ),
    }
}
