//! Per-stage benchmarks on pre-decoded frames (no GStreamer in the timed loops), plus one
//! end-to-end file-mode bench.
//!
//! `cargo bench --bench features` — set EVALVERSE_BENCH_WGPU=1 to include the wgpu backend
//! (on a software Vulkan adapter its first call compiles kernels for ~20 s).
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use evalverse::config::{BackendChoice, Settings};
use evalverse::model::continuity::VideoContinuity;
use evalverse::model::rhythm::{CutDetector, CutOutput};
use evalverse::model::sync::Onset;
use evalverse::model::{HEAD_COLUMNS, Model};
use evalverse::sender::synth::SceneSpec;
use evalverse::types::VideoFrame;
use std::hint::black_box;
use std::time::Instant;

fn frames(n: u64, w: usize, h: usize) -> Vec<VideoFrame> {
    let spec = SceneSpec {
        width: w,
        height: h,
        fps: 25,
        duration_s: n as f64 / 25.0 + 1.0,
        cuts: vec![0.5, 1.3],
        ..Default::default()
    };
    let scene = spec.scene().expect("a scene without sound files");
    let mut buf = vec![];
    (0..n)
        .map(|i| {
            scene.render(i, &mut buf);
            let (y, c) = buf.split_at(w * h);
            let (cb, cr) = c.split_at(w.div_ceil(2) * h.div_ceil(2));
            VideoFrame {
                index: i,
                pts: i as f64 / 25.0,
                duration: Some(0.04),
                width: w,
                height: h,
                luma: y.to_vec(),
                cb: cb.to_vec(),
                cr: cr.to_vec(),
                arrival: Instant::now(),
                damaged: false,
                face: None,
                face_demand: None,
            }
        })
        .collect()
}

fn models() -> Vec<(&'static str, Model)> {
    let mut v = vec![("cpu", Model::new(BackendChoice::Cpu).expect("cpu backend"))];
    if std::env::var("EVALVERSE_BENCH_WGPU").as_deref() == Ok("1") {
        match Model::new(BackendChoice::Wgpu) {
            Ok(m) => v.push(("wgpu", m)),
            Err(e) => eprintln!("no wgpu: {e}"),
        }
    }
    v
}

fn bench_features(c: &mut Criterion) {
    let mut g = c.benchmark_group("features");
    let f = frames(33, 160, 90);
    for (name, model) in models() {
        // Warm up (wgpu compiles kernels on first use).
        black_box(model.video_features(Some(&f[0]), &f[1..9], 0.125, 0.04));
        for batch in [1usize, 8, 32] {
            g.throughput(Throughput::Elements(batch as u64));
            g.bench_with_input(
                BenchmarkId::new(format!("{name}/160x90"), batch),
                &batch,
                |b, &n| {
                    b.iter(|| black_box(model.video_features(Some(&f[0]), &f[1..=n], 0.125, 0.04)))
                },
            );
        }
    }
    g.finish();
}

/// Cross-stream batching (what `Evaluator` does on wgpu): S streams × 8 frames as one
/// `video_features_batched` call vs S calls of 8 frames.
fn bench_batched(c: &mut Criterion) {
    use evalverse::model::features::{Segment, video_features, video_features_batched};
    let mut g = c.benchmark_group("features_batched");
    let f = frames(9, 160, 90);
    for (name, model) in models() {
        let d = model.device().clone();
        for streams in [1usize, 16, 64] {
            let segs: Vec<Segment<'_>> = (0..streams)
                .map(|_| Segment {
                    prev: Some(&f[0]),
                    frames: &f[1..9],
                    default_duration: 0.04,
                })
                .collect();
            g.throughput(Throughput::Elements(8 * streams as u64));
            g.bench_with_input(
                BenchmarkId::new(format!("{name}/one_call"), streams),
                &streams,
                |b, _| b.iter(|| black_box(video_features_batched(&d, &segs, 0.125))),
            );
            g.bench_with_input(
                BenchmarkId::new(format!("{name}/call_per_stream"), streams),
                &streams,
                |b, _| {
                    b.iter(|| {
                        black_box(
                            segs.iter()
                                .map(|s| video_features(&d, s.prev, s.frames, 0.125, 0.04).len())
                                .sum::<usize>(),
                        )
                    })
                },
            );
        }
    }
    g.finish();
}

fn bench_detectors(c: &mut Criterion) {
    let model = Model::new(BackendChoice::Cpu).unwrap();
    let f = frames(65, 160, 90);
    let feats = model.video_features(None, &f, 0.125, 0.04);
    let a = Settings::default().analysis;
    c.bench_function("detectors/cut+fade+dissolve+continuity, 64 frames", |b| {
        b.iter(|| {
            let mut cut = CutDetector::new();
            let mut fade = evalverse::model::rhythm::FadeDetector::default();
            let mut dissolve = evalverse::model::rhythm::DissolveDetector::default();
            let mut cont = VideoContinuity::new(&a);
            let (mut co, mut dets) = (CutOutput::default(), vec![]);
            for x in &feats {
                cut.push(x, &mut co);
                co.cuts.extend(fade.push(x));
                co.cuts.extend(dissolve.push(x));
                cont.push(x, &mut dets);
            }
            black_box((co, dets))
        })
    });
}

fn bench_heads(c: &mut Criterion) {
    let mut g = c.benchmark_group("heads");
    for (name, model) in models() {
        let rows: Vec<[f32; HEAD_COLUMNS]> = (0..100)
            .map(|i| [0.01 * (i % 7) as f32, 0.0, 0.0, 0.0, 0.001])
            .collect();
        g.bench_function(format!("{name}/continuity (4 s window)"), |b| {
            b.iter(|| black_box(model.continuity_head(&rows)))
        });
        let visual: Vec<(f64, f32)> = (0..12)
            .map(|k| (k as f64 * 0.97 + 0.13 * (k % 3) as f64, 1.0))
            .collect();
        let onsets: Vec<Onset> = visual
            .iter()
            .map(|(t, _)| Onset {
                t: t + 0.1,
                strength: 20.0,
            })
            .collect();
        g.bench_function(format!("{name}/sync (12 s horizon, ±2 s)"), |b| {
            b.iter(|| black_box(model.sync(&visual, &onsets, 0.0, 12.0, 2000.0)))
        });
    }
    g.finish();
}

fn bench_end_to_end(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.mp4");
    let spec = SceneSpec {
        width: 640,
        height: 360,
        fps: 25,
        duration_s: 10.0,
        cuts: vec![2.0, 4.4, 7.7],
        ..Default::default()
    };
    evalverse::sender::write_synthetic(&spec, &path).unwrap();
    let model = Model::new(BackendChoice::Cpu).unwrap();
    let a = Settings::default();
    let mut g = c.benchmark_group("end_to_end");
    g.sample_size(10);
    g.throughput(Throughput::Elements(spec.frames()));
    g.bench_function("file 10 s 640x360 h264+aac", |b| {
        b.iter(|| {
            evalverse::evaluate_file(
                path.to_str().unwrap(),
                &a,
                &model,
                |r| {
                    black_box(r);
                },
                |_, _| {},
            )
            .unwrap()
        })
    });
    g.finish();
}

/// The analysis downscale of a decoded 720p I420 frame to 160x90 (`ingest::scale`), once on a
/// frame in cache and once walking 24 frames (33 MB, past the last-level cache) as fresh decoder
/// output is.
fn bench_scale(c: &mut Criterion) {
    use evalverse::ingest::scale::PlaneScaler;
    let (w, h) = (1280, 720);
    let fs = frames(24, w, h);
    let c2 = |(a, b): (usize, usize)| (a.div_ceil(2), b.div_ceil(2));
    let scalers = [
        PlaneScaler::new((w, h), (160, 90)),
        PlaneScaler::new(c2((w, h)), c2((160, 90))),
        PlaneScaler::new(c2((w, h)), c2((160, 90))),
    ];
    let scale = |f: &VideoFrame| {
        let planes = [(&f.luma, w), (&f.cb, w / 2), (&f.cr, w / 2)];
        planes
            .iter()
            .zip(&scalers)
            .map(|((p, stride), s)| s.scale(p, *stride).map(|v| v.len()).unwrap_or(0))
            .sum::<usize>()
    };
    let mut g = c.benchmark_group("scale 1280x720 I420 to 160x90");
    g.throughput(Throughput::Elements(1));
    g.bench_function("one frame in cache", |b| {
        b.iter(|| black_box(scale(&fs[0])))
    });
    let mut i = 0;
    g.bench_function("24 frames in turn", |b| {
        b.iter(|| {
            i = (i + 1) % fs.len();
            black_box(scale(&fs[i]))
        })
    });
    g.finish();
}

/// The picture figures of one 160x90 analysis frame: the look (exposure, contrast,
/// colourfulness, cast) and the camera motion (phase correlation against the previous frame).
fn bench_picture(c: &mut Criterion) {
    use evalverse::model::picture::{look::look, motion::PhaseCorrelator};
    let fs = frames(24, 160, 90);
    let mut g = c.benchmark_group("picture 160x90");
    g.throughput(Throughput::Elements(1));
    let mut i = 0;
    g.bench_function("look", |b| {
        b.iter(|| {
            i = (i + 1) % fs.len();
            black_box(look(&fs[i]))
        })
    });
    let mut corr = PhaseCorrelator::default();
    g.bench_function("camera motion", |b| {
        b.iter(|| {
            i = (i + 1) % fs.len();
            black_box(corr.push(&fs[i].luma, 160, 90))
        })
    });
    g.finish();
}

/// The face networks on one picture each: the detector (128×128) and the mesh (a 192×192
/// face crop), on the CPU device they run on (burn-flex) and on burn-ndarray.
fn bench_faces(c: &mut Criterion) {
    use evalverse::model::faces::{FaceModels, Rgb};
    #[allow(deprecated)]
    let devices = [
        ("burn-flex", evalverse::model::backend::cpu_nets_device()),
        ("burn-ndarray", burn::tensor::Device::ndarray()),
    ];
    let pic = |side: usize| -> Vec<u8> {
        (0..side * side * 3)
            .map(|k| ((k * 2_654_435_761usize) >> 7) as u8)
            .collect()
    };
    let (det, mesh) = (pic(128), pic(192));
    let mut g = c.benchmark_group("faces");
    g.throughput(Throughput::Elements(1));
    for (name, device) in devices {
        let models = FaceModels::load(&device).expect("the face weights load");
        let d = Rgb {
            width: 128,
            height: 128,
            data: &det,
        };
        let m = Rgb {
            width: 192,
            height: 192,
            data: &mesh,
        };
        g.bench_function(format!("{name}/detector 128x128"), |b| {
            b.iter(|| black_box(models.detect(&[d]).unwrap()))
        });
        g.bench_function(format!("{name}/mesh 192x192"), |b| {
            b.iter(|| black_box(models.landmarks(&[m]).unwrap()))
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    bench_faces,
    bench_scale,
    bench_picture,
    bench_features,
    bench_batched,
    bench_detectors,
    bench_heads,
    bench_end_to_end
);
criterion_main!(benches);
