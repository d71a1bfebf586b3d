//! Time that lies (issue 9 §2): timestamp jumps forward and backward are discontinuities —
//! reported, folded out of the timeline, and never paid for in memory or windows — and a file
//! whose resolution and audio rate change mid-way is followed, with the change reported.
mod common;
use common::*;
use evalverse::config::Settings;
use evalverse::sender::synth::{SceneSpec, irregular_cuts};
use evalverse::{AudioChunk, Media, StreamEvaluator, VideoFrame};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

/// Run `evalverse eval FILE --json` as a child; its JSON records and its peak RSS in MiB.
fn eval_child(path: &Path) -> (Vec<Value>, f64) {
    let child = Command::new(env!("CARGO_BIN_EXE_evalverse"))
        .args(["eval", path.to_str().unwrap(), "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("evalverse runs");
    let pid = child.id() as libc::pid_t;
    // Read stdout on a thread while we wait for the child with wait4 (its own rusage).
    let mut stdout = child.stdout.expect("piped");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).unwrap();
        s
    });
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "exit {status}"
    );
    let text = reader.join().unwrap();
    let records = text
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (records, usage.ru_maxrss as f64 / 1024.0)
}

fn discontinuities(records: &[Value]) -> Vec<&Value> {
    events(records, "discontinuity")
}

#[test]
fn a_three_hour_jump_is_one_discontinuity_and_costs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.mkv");
    let jump = dir.path().join("jump3h.mkv");
    test_pattern(&base, (640, 360), 10, Some((440, 48_000)), 50, 0);
    // The second half of both media stamped 3 hours later.
    let shift = "setts=ts=if(gte(TS\\,5/TB)\\,TS+10800/TB\\,TS)";
    ffmpeg(&[
        "-i",
        base.to_str().unwrap(),
        "-c",
        "copy",
        "-bsf:v",
        shift,
        "-bsf:a",
        shift,
        jump.to_str().unwrap(),
    ]);
    let (records, rss) = eval_child(&jump);
    let d = discontinuities(&records);
    eprintln!(
        "measured: 3 h jump: peak RSS {rss:.0} MiB, {} windows, discontinuities {:?}",
        of_type(&records, "window").len(),
        d.iter().map(|e| e["jump_s"].clone()).collect::<Vec<_>>()
    );
    assert_eq!(
        d.len(),
        1,
        "one jump seen by both media is one discontinuity: {d:?}"
    );
    assert!((d[0]["jump_s"].as_f64().unwrap() - 10_800.0).abs() < 1.0);
    assert!(
        (d[0]["start"].as_f64().unwrap() - 5.0).abs() < 0.2,
        "{}",
        d[0]
    );
    assert_eq!(d[0]["cause"], "transport");
    assert_eq!(d[0]["fault"], false);
    // The timeline stays 10 s long: about 7 windows (4 s long, 1 s hop), not 10 800.
    let windows = of_type(&records, "window");
    assert!(
        (6..=9).contains(&windows.len()),
        "{} windows",
        windows.len()
    );
    let summary = of_type(&records, "summary")[0];
    assert!(
        (summary["duration_s"].as_f64().unwrap() - 10.0).abs() < 0.5,
        "{summary}"
    );
    assert!(summary["frames"].as_u64().unwrap() >= 245, "{summary}");
    assert!(rss < 300.0, "peak RSS {rss:.0} MiB");
}

#[test]
fn resolution_and_audio_rate_changes_mid_file_are_followed_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.ts");
    let b = dir.path().join("b.ts");
    test_pattern(&a, (640, 360), 5, Some((440, 48_000)), 50, 0);
    test_pattern(&b, (320, 240), 5, Some((660, 22_050)), 50, 5);
    let both = dir.path().join("change.ts");
    concat(&a, &b, &both);
    let (records, rss) = eval_child(&both);
    let states: Vec<String> = of_type(&records, "state")
        .iter()
        .map(|s| s["message"].as_str().unwrap_or("").to_string())
        .collect();
    eprintln!("measured: caps change: states {states:?}, peak RSS {rss:.0} MiB");
    assert!(
        states
            .iter()
            .any(|m| m.contains("640x360") && m.contains("320x240")),
        "{states:?}"
    );
    assert!(
        states
            .iter()
            .any(|m| m.contains("48000 Hz") && m.contains("22050 Hz")),
        "{states:?}"
    );
    // Analysis went on at the new size: frames and windows to the end.
    let summary = of_type(&records, "summary")[0];
    assert!(summary["frames"].as_u64().unwrap() >= 245, "{summary}");
    let last = of_type(&records, "window").last().cloned().unwrap();
    assert!(last["end"].as_f64().unwrap() > 9.0, "{last}");
    assert!(last["frames"].as_u64().unwrap() > 50, "{last}");
}

/// Feed `spec` in-process with raw timestamps `pts(t)` (containers refuse to store backward
/// timestamps, so a backward jump is fed straight into the evaluator, as a restarted live
/// source would deliver it).
fn feed_with_clock(spec: &SceneSpec, pts: impl Fn(f64) -> f64) -> Vec<Value> {
    let a = Settings::default().analysis;
    let mut ev = StreamEvaluator::new(
        Arc::from("clock"),
        &a,
        &[],
        cpu_model(),
        false,
        evalverse::evaluator::Timing::File,
    );
    ev.set_media(Media {
        video: true,
        audio: true,
    });
    let mut out = vec![];
    let (w, h) = (spec.width, spec.height);
    let frame_s = 1.0 / spec.fps as f64;
    let mut buf = vec![];
    let mut hi = vec![];
    let scene = spec.scene().unwrap();
    for n in 0..spec.frames() {
        scene.render(n, &mut buf);
        let t = n as f64 * frame_s;
        ev.push_video(
            VideoFrame::from_i420(n, pts(t), frame_s, (w, h), &buf),
            &mut out,
        );
        // 40 ms of audio at 48 kHz, averaged down to 16 kHz.
        scene.audio(n * 1920, 1920, &mut hi);
        let samples = hi
            .chunks_exact(3)
            .map(|c| c.iter().sum::<f32>() / 3.0)
            .collect();
        ev.push_audio(
            AudioChunk {
                pts: pts(t),
                rate: a.audio_rate,
                samples,
                arrival: Instant::now(),
                damaged: false,
            },
            &mut out,
        );
    }
    ev.finish(&mut out);
    out.iter()
        .map(|r| serde_json::from_str(&r.to_json()).unwrap())
        .collect()
}

#[test]
fn a_backward_jump_is_a_discontinuity_and_cuts_after_it_are_still_found() {
    let spec = SceneSpec {
        width: 320,
        height: 180,
        fps: 25,
        duration_s: 16.0,
        cuts: irregular_cuts(1.5, 16.0),
        seed: 5,
        ..Default::default()
    };
    // The clock restarts 97 s back at 8 s (raw 108 s → 3 s).
    let records = feed_with_clock(&spec, |t| if t < 8.0 { 100.0 + t } else { t - 5.0 });
    let d = discontinuities(&records);
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(
        (d[0]["jump_s"].as_f64().unwrap() + 105.0).abs() < 0.1,
        "{}",
        d[0]
    );
    // Stream time stays continuous: cuts after the jump land on their frames (100 + frame
    // time before, frame time + 100 after the fold).
    let cuts: Vec<f64> = of_type(&records, "cut")
        .iter()
        .map(|c| c["pts"].as_f64().unwrap() - 100.0)
        .collect();
    for truth in spec.cut_frames() {
        let t = truth as f64 / 25.0;
        assert!(
            cuts.iter().any(|c| (c - t).abs() < 0.041),
            "cut at {t:.2} s not found in {cuts:?}"
        );
    }
    let windows = of_type(&records, "window");
    assert!(
        (11..=14).contains(&windows.len()),
        "{} windows",
        windows.len()
    );
}
