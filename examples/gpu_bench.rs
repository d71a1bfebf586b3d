//! Batched per-frame features on every backend: frames of many streams in one model call.
//!
//! `cargo run --release --example gpu_bench` — prints two markdown tables:
//! 1. per-frame cost of the `frame_summary` kernel (block statistics, per-frame totals and
//!    block means, one readback) for batches of 8 to 4096 analysis frames (160x90 luma);
//! 2. the model's per-frame features for S streams × 8 frames: one cross-stream batched call
//!    (`video_features_batched`, what `Evaluator` does on wgpu) vs one call per stream.
//!
//! Fresh uploads each iteration. Needs no GStreamer at run time.
use burn::tensor::{Device, Tensor, TensorData};
use evalverse::model::features::{Segment, video_features, video_features_batched};
use evalverse::types::VideoFrame;
use evalverse_kernels::frame_summary;
use std::time::Instant;

fn run(device: &Device, frames: usize, iters: usize) -> f64 {
    let (h, w) = (90usize, 160usize);
    let mut seed = 0x9e3779b97f4a7c15u64;
    let host: Vec<f32> = (0..(frames + 1) * h * w)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect();
    let once = || {
        let y = Tensor::<3>::from_data(TensorData::new(host.clone(), [frames + 1, h, w]), device);
        let out: Vec<f32> = frame_summary(y, 32).into_data().try_into_vec().unwrap();
        out.len()
    };
    once();
    once();
    let mut times: Vec<f64> = (0..iters)
        .map(|_| {
            let t0 = Instant::now();
            std::hint::black_box(once());
            t0.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2] / frames as f64 * 1e6
}

fn frame(i: u64, seed: u64) -> VideoFrame {
    let (w, h) = (160usize, 90usize);
    let px = |k: usize| {
        ((k as u64)
            .wrapping_mul(2654435761)
            .wrapping_add(seed * 97 + i * 13)
            >> 5) as u8
    };
    VideoFrame {
        index: i,
        pts: i as f64 / 25.0,
        duration: Some(0.04),
        width: w,
        height: h,
        luma: (0..w * h).map(px).collect(),
        cb: (0..80 * 45).map(|k| px(k + 7)).collect(),
        cr: (0..80 * 45).map(|k| px(k + 11)).collect(),
        arrival: Instant::now(),
        damaged: false,
        face: None,
        face_demand: None,
    }
}

/// µs per frame for `streams` × 8 frames: (one batched call, one call per stream).
fn streams(device: &Device, streams: usize, iters: usize) -> (f64, f64) {
    let data: Vec<Vec<VideoFrame>> = (0..streams)
        .map(|s| (0..9).map(|i| frame(i, s as u64)).collect())
        .collect();
    let segs: Vec<Segment<'_>> = data
        .iter()
        .map(|f| Segment {
            prev: Some(&f[0]),
            frames: &f[1..],
            default_duration: 0.04,
        })
        .collect();
    let time = |f: &dyn Fn() -> usize| {
        f();
        let mut t: Vec<f64> = (0..iters)
            .map(|_| {
                let t0 = Instant::now();
                std::hint::black_box(f());
                t0.elapsed().as_secs_f64()
            })
            .collect();
        t.sort_by(f64::total_cmp);
        t[t.len() / 2] / (8 * streams) as f64 * 1e6
    };
    let one = time(&|| {
        video_features_batched(device, &segs, 0.125)
            .iter()
            .map(Vec::len)
            .sum()
    });
    let each = time(&|| {
        segs.iter()
            .map(|s| video_features(device, s.prev, s.frames, 0.125, 0.04).len())
            .sum()
    });
    (one, each)
}

#[allow(deprecated)]
fn main() {
    let mut devices = vec![("cpu (ndarray)", Device::ndarray())];
    let t0 = Instant::now();
    let wanted = std::env::var("EVALVERSE_BENCH_WGPU").as_deref() != Ok("0");
    match Device::wgpu_options()
        .init()
        .map_err(|e| e.to_string())
        .and_then(|d| {
            if wanted {
                Ok(d)
            } else {
                Err("skipped (EVALVERSE_BENCH_WGPU=0)".into())
            }
        }) {
        Ok(d) => {
            devices.push(("wgpu", d));
            eprintln!("wgpu initialised in {:.2} s", t0.elapsed().as_secs_f64());
        }
        Err(e) => eprintln!("no wgpu adapter: {e}"),
    }
    let sizes: Vec<usize> = std::env::args()
        .nth(1)
        .map(|s| s.split(',').filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_else(|| vec![8, 64, 256, 1024, 4096]);
    println!(
        "| backend | frames per call (streams × 8) | µs per frame (median), frame_summary + readback |"
    );
    println!("|---|---|---|");
    for (name, d) in &devices {
        for &n in &sizes {
            let iters = if n >= 1024 { 5 } else { 15 };
            let us = run(d, n, iters);
            println!("| {name} | {n} ({}) | {us:.1} |", n / 8);
        }
    }
    println!();
    println!(
        "| backend | streams × 8 frames | µs per frame, one batched call | µs per frame, a call per stream |"
    );
    println!("|---|---|---|---|");
    for (name, d) in &devices {
        for s in [1usize, 8, 32, 128] {
            let (one, each) = streams(d, s, if s >= 32 { 5 } else { 11 });
            println!("| {name} | {s} | {one:.1} | {each:.1} |");
        }
    }
}
