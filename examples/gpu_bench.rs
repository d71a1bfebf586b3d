//! Batched per-frame features on every backend: frames of many streams in one model call.
//!
//! `cargo run --release --example gpu_bench` — prints a markdown table of per-frame cost of the
//! `frame_stats` kernel (plus the per-frame reductions and one readback) for batches of 8 to
//! 4096 analysis frames (160x90), i.e. 1 to 512 streams of 8-frame batches. Fresh uploads each
//! iteration. Uses only Burn and the kernels crate, so it runs on a GPU box without GStreamer.
use burn::tensor::{Device, Tensor, TensorData};
use evalverse_kernels::{BLOCKS, S_COUNT, S_SUM, STATS, frame_stats};
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
        let stats = frame_stats(y, 32);
        let totals = stats.clone().sum_dim(1).reshape([frames, STATS]);
        let sum = stats
            .clone()
            .slice([0..frames, 0..BLOCKS, S_SUM..S_SUM + 1]);
        let count = stats.slice([0..frames, 0..BLOCKS, S_COUNT..S_COUNT + 1]);
        let thumb = (sum / count).reshape([frames, BLOCKS]);
        let out: Vec<f32> = Tensor::cat(vec![totals, thumb], 1)
            .into_data()
            .try_into_vec()
            .unwrap();
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
    println!("| backend | frames per call (streams × 8) | µs per frame (median) |");
    println!("|---|---|---|");
    for (name, d) in &devices {
        for &n in &sizes {
            let iters = if n >= 1024 { 5 } else { 15 };
            let us = run(d, n, iters);
            println!("| {name} | {n} ({}) | {us:.1} |", n / 8);
        }
    }
}
