//! The model gives the same features on the CPU backend and on burn-wgpu (Debian's software
//! Vulkan in CI). Without an adapter the wgpu half fails, unless EVALVERSE_SKIP_WGPU=1.
use evalverse::config::BackendChoice;
use evalverse::model::Model;
use evalverse::sender::synth::SceneSpec;
use evalverse::types::VideoFrame;

fn frames() -> Vec<VideoFrame> {
    let spec = SceneSpec {
        width: 160,
        height: 90,
        fps: 25,
        duration_s: 1.0,
        cuts: vec![0.2],
        ..Default::default()
    };
    let scene = spec.scene().unwrap();
    let mut buf = vec![];
    (0..10u64)
        .map(|n| {
            scene.render(n, &mut buf);
            VideoFrame::from_i420(n, n as f64 * 0.04, 0.04, (160, 90), &buf)
        })
        .collect()
}

#[test]
fn cpu_and_wgpu_features_agree() {
    let wgpu = match Model::new(BackendChoice::Wgpu) {
        Ok(m) => m,
        Err(e) if std::env::var("EVALVERSE_SKIP_WGPU").as_deref() == Ok("1") => {
            eprintln!("skipping: {e}");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let cpu = Model::new(BackendChoice::Cpu).unwrap();
    let f = frames();
    let a = cpu.video_features(Some(&f[0]), &f[1..], 32.0 / 255.0, 0.04);
    let b = wgpu.video_features(Some(&f[0]), &f[1..], 32.0 / 255.0, 0.04);
    assert_eq!(a.len(), 9);
    assert_eq!(b.len(), 9);
    for (x, y) in a.iter().zip(&b) {
        assert!((x.mad - y.mad).abs() < 1e-4, "mad {} vs {}", x.mad, y.mad);
        assert!((x.luma_mean - y.luma_mean).abs() < 1e-4);
        assert!((x.luma_std - y.luma_std).abs() < 1e-3);
        assert!((x.black_ratio - y.black_ratio).abs() < 1e-4);
        for (h1, h2) in x.hist.iter().zip(&y.hist) {
            assert!((h1 - h2).abs() < 1e-3);
        }
        let max = x
            .thumb
            .iter()
            .zip(y.thumb.iter())
            .map(|(p, q)| (p - q).abs())
            .fold(0.0, f32::max);
        assert!(max < 1e-3, "thumbnail differs by {max}");
    }
    // Cross-stream batching on wgpu (two streams in one call, as `Evaluator` does on a GPU)
    // gives each stream what its own call gives.
    let wgpu = wgpu.batched_across_streams(256);
    assert!(wgpu.is_batched());
    let (w2, f2) = (wgpu.clone(), f.clone());
    let other = std::thread::spawn(move || {
        w2.video_features_owned(None, f2[3..].to_vec(), 32.0 / 255.0, 0.04)
    });
    let mine = wgpu.video_features_owned(Some(f[0].clone()), f[1..].to_vec(), 32.0 / 255.0, 0.04);
    let other = other.join().unwrap();
    assert_eq!(mine.len(), 9);
    assert_eq!(other.len(), 7);
    for (x, y) in mine.iter().zip(&a) {
        assert!((x.mad - y.mad).abs() < 1e-4 && (x.luma_mean - y.luma_mean).abs() < 1e-4);
    }
    for (x, y) in other[1..].iter().zip(&a[3..]) {
        assert!(
            (x.mad - y.mad).abs() < 1e-4,
            "batched stream: mad {} vs {}",
            x.mad,
            y.mad
        );
    }
    assert!(!other[0].has_prev);
    // The cut at 0.2 s (frame 5) shows as a large frame difference on both.
    assert!(a[4].mad > 5.0 * a[2].mad, "{} vs {}", a[4].mad, a[2].mad);
    // And the sync head's correlation agrees.
    let cpu = cpu.batched_across_streams(256);
    assert!(
        !cpu.is_batched(),
        "the CPU backend runs streams in parallel, unbatched"
    );
    let visual: Vec<(f64, f32)> = [0.3, 1.1, 2.6, 3.0, 4.4]
        .iter()
        .map(|t| (*t, 1.0))
        .collect();
    let onsets: Vec<_> = visual
        .iter()
        .map(|(t, _)| evalverse::model::sync::Onset {
            t: t + 0.08,
            strength: 20.0,
        })
        .collect();
    let s1 = cpu.sync(&visual, &onsets, 0.0, 5.0, 1000.0);
    let s2 = wgpu.sync(&visual, &onsets, 0.0, 5.0, 1000.0);
    assert_eq!(s1.audio_delay_ms.map(|d| d.round()), Some(80.0));
    assert_eq!(
        s1.audio_delay_ms.map(|d| d.round()),
        s2.audio_delay_ms.map(|d| d.round())
    );
}
