//! `evalverse score`: one line per clip, broken clips as records, resumable, shardable, systems
//! from folder names.
mod common;

use evalverse::sender::synth::SceneSpec;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

fn score(args: &[&str]) -> (i32, String) {
    let out = common::evalverse_cli(&[&["score"], args, &["--backend", "cpu"]].concat());
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// The tests of this file one at a time: the batch-timing test compares runs with each other,
/// and a neighbour's work on the same two cores would be what it measures.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE.lock().unwrap_or_else(|e| e.into_inner())
}

fn lines(p: &Path) -> Vec<Value> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

#[test]
fn scores_a_folder_resumes_and_shards() {
    let _one = serial();
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("set");
    for (sys, freeze) in [("good", vec![]), ("frozen", vec![(2.4, 3.6)])] {
        let d = set.join(sys);
        std::fs::create_dir_all(&d).unwrap();
        for k in 0..3 {
            let spec = SceneSpec {
                duration_s: 5.0,
                cuts: vec![1.6, 3.9],
                freeze: freeze.clone(),
                seed: k,
                ..Default::default()
            };
            common::clip(&d, &format!("c{k}"), &spec);
        }
    }
    std::fs::write(set.join("good").join("broken.mp4"), b"not a video at all").unwrap();
    let out = dir.path().join("results.jsonl");
    let o = out.to_str().unwrap();
    let (code, log) = score(&[set.to_str().unwrap(), "--out", o, "--jobs", "2"]);
    assert_eq!(code, 1, "a failed clip makes the exit status 1: {log}");
    let first = lines(&out);
    let clips: Vec<&Value> = first.iter().filter(|l| l["type"] == "clip").collect();
    let errors: Vec<&Value> = first.iter().filter(|l| l["type"] == "error").collect();
    assert_eq!((clips.len(), errors.len()), (6, 1), "{first:?}");
    assert_eq!(errors[0]["clip"], "good/broken.mp4");
    for c in &clips {
        assert!(
            c["scores"]["overall"].is_number() && c["sha256"].is_string(),
            "{c}"
        );
        let sys = c["system"].as_str().unwrap();
        assert!(c["clip"].as_str().unwrap().starts_with(sys), "{c}");
        let frozen = c["events"]["freeze"].as_u64().unwrap();
        assert_eq!(frozen > 0, sys == "frozen", "{c}");
    }
    assert!(
        log.contains("system") && log.contains("frozen") && log.contains("worst clips"),
        "{log}"
    );

    // Resumed: the six scored clips are skipped; only the broken one is tried again.
    let (_, log) = score(&[set.to_str().unwrap(), "--out", o]);
    assert!(
        log.contains("scored 0 clips") && log.contains("6 already in the results"),
        "{log}"
    );
    assert_eq!(lines(&out).len(), first.len() + 1);

    // Shards: disjoint, and together every clip.
    let mut seen = vec![];
    for i in 0..3 {
        let p = dir.path().join(format!("shard{i}.jsonl"));
        let shard = format!("{i}/3");
        score(&[
            set.to_str().unwrap(),
            "--out",
            p.to_str().unwrap(),
            "--shard",
            &shard,
        ]);
        seen.extend(
            lines(&p)
                .iter()
                .map(|l| l["clip"].as_str().unwrap().to_string()),
        );
    }
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!((seen.len(), unique.len()), (7, 7), "{seen:?}");
    let (code, log) = score(&[set.to_str().unwrap(), "--shard", "3/3"]);
    assert_eq!(code, 2, "{log}");

    // With a calibration every clip line carries the calibrated scores.
    let cal = dir.path().join("cal.json");
    common::constant_calibration(&cal, &["overall"], 3.0);
    let p = dir.path().join("calibrated.jsonl");
    let frozen = set.join("frozen");
    score(&[
        frozen.to_str().unwrap(),
        "--out",
        p.to_str().unwrap(),
        "--calibration",
        cal.to_str().unwrap(),
    ]);
    let cal_lines = lines(&p);
    assert_eq!(cal_lines.len(), 3);
    assert!(
        cal_lines.iter().all(|l| l["calibrated"]["overall"] == 3.0),
        "{cal_lines:?}"
    );
}

/// A folder with broken clips of several kinds (truncated before its index, zero bytes, not
/// media) besides good ones and an audio-only one, scored 20 times in a row: every run takes
/// about as long as the others (none more than twice the median). A clip that fails must not
/// leave a worker waiting for a timeout (decodebin can swallow the demuxer's error on a
/// truncated MP4; the evaluator sees the demuxer give up instead).
#[test]
fn broken_clips_never_stall_a_batch() {
    let _one = serial();
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("set");
    std::fs::create_dir_all(&set).unwrap();
    for k in 0..3 {
        common::test_pattern(
            &set.join(format!("good{k}.mp4")),
            (640, 360),
            5,
            Some((440 + 100 * k, 48000)),
            25,
            0,
        );
    }
    let audio = set.join("audio_only.mp4");
    common::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=300:duration=2",
        "-c:a",
        "aac",
        audio.to_str().unwrap(),
    ]);
    // The index of an MP4 written by ffmpeg comes last: the first 60 % has none.
    let good = std::fs::read(set.join("good0.mp4")).unwrap();
    std::fs::write(set.join("truncated.mp4"), &good[..good.len() * 3 / 5]).unwrap();
    std::fs::write(set.join("empty.mp4"), b"").unwrap();
    std::fs::write(set.join("text.mp4"), b"not a video at all\n".repeat(100)).unwrap();
    let mut walls = vec![];
    for run in 0..20 {
        let t0 = std::time::Instant::now();
        let (code, log) = score(&[set.to_str().unwrap(), "--jobs", "2"]);
        let wall = t0.elapsed().as_secs_f64();
        assert_eq!(
            code, 1,
            "run {run}: the broken clips make the exit status 1: {log}"
        );
        walls.push(wall);
    }
    let mut sorted = walls.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    eprintln!("measured: 20 runs of the folder, wall {walls:.2?} s (median {median:.2} s)");
    assert!(
        sorted[sorted.len() - 1] <= 2.0 * median,
        "a run took {:.1} s, the median {median:.1} s: {walls:?}",
        sorted[sorted.len() - 1]
    );
}

/// The same truncated clip evaluated in process (as the batch and a Python caller do), from two
/// threads at once, 10 times each: every evaluation fails at once with a message that says the
/// file is truncated or unplayable.
#[test]
fn a_truncated_clip_fails_at_once_in_process() {
    let _one = serial();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.mp4");
    common::test_pattern(&good, (640, 360), 2, Some((440, 48000)), 25, 0);
    let bytes = std::fs::read(&good).unwrap();
    let cut = dir.path().join("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() * 3 / 5]).unwrap();
    let cut = std::sync::Arc::new(cut);
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let cut = cut.clone();
            std::thread::spawn(move || {
                let model = common::cpu_model();
                let mut worst = 0.0f64;
                for _ in 0..10 {
                    let t0 = std::time::Instant::now();
                    let r = evalverse::evaluate_file(
                        cut.to_str().unwrap(),
                        &evalverse::Settings::default(),
                        &model,
                        |_| {},
                        |_, _| {},
                    );
                    let e = r.expect_err("a truncated clip is an error").to_string();
                    assert!(
                        e.contains("truncated") || e.contains("playable") || e.contains("stream"),
                        "{e}"
                    );
                    worst = worst.max(t0.elapsed().as_secs_f64());
                }
                worst
            })
        })
        .collect();
    let _stage = common::stage("evaluating a truncated clip 20 times", common::stage_s());
    for w in workers {
        let worst = w.join().unwrap();
        eprintln!("measured: slowest failure {worst:.2} s");
        assert!(worst < 5.0, "a truncated clip took {worst:.1} s to fail");
    }
}

/// A file given alone is named as a folder's clips are, relative to where it lies (its file
/// name, whether the path given was relative or absolute); two clips that would share a name
/// are refused before anything is scored.
#[test]
fn a_single_file_is_named_by_its_file_name() {
    let _one = serial();
    let dir = tempfile::tempdir().unwrap();
    let spec = SceneSpec {
        duration_s: 3.0,
        cuts: vec![1.5],
        ..Default::default()
    };
    for d in ["a", "b"] {
        std::fs::create_dir_all(dir.path().join(d)).unwrap();
        common::clip(&dir.path().join(d), "take", &spec);
    }
    let a = dir.path().join("a").join("take.mp4");
    assert!(a.is_absolute() && a.exists());
    let out = dir.path().join("results.jsonl");
    let (code, log) = score(&[a.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{log}");
    let got = lines(&out);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["clip"], "take.mp4", "{}", got[0]);
    let b = dir.path().join("b").join("take.mp4");
    let (code, log) = score(&[a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(log.contains("both be reported as \"take.mp4\""), "{log}");
}
