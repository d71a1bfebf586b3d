//! Bad input gives a clear error, never a panic.
mod common;
use common::*;
use evalverse::config::Settings;
use evalverse::sender::synth::SceneSpec;
use std::io::Write;

fn eval_err(input: &str) -> String {
    let model = cpu_model();
    let _stage = stage(&format!("evaluating {input}"), stage_s());
    match evalverse::evaluate_file(input, &Settings::default(), &model, |_| {}, |_, _| {}) {
        Ok(()) => panic!("{input}: expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn non_media_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("notes.mp4");
    std::fs::File::create(&p)
        .unwrap()
        .write_all(&b"this is not a video, just text\n".repeat(200))
        .unwrap();
    let e = eval_err(p.to_str().unwrap());
    assert!(e.contains("notes.mp4"), "{e}");
    assert!(
        e.to_lowercase().contains("type")
            || e.to_lowercase().contains("decod")
            || e.contains("stream"),
        "{e}"
    );
}

#[test]
fn missing_file_and_unreachable_uri_are_clear_errors() {
    let e = eval_err("/nonexistent/clip.mp4");
    assert!(
        e.contains("no such file") && e.contains("/nonexistent/clip.mp4"),
        "{e}"
    );
    let e = eval_err("http://127.0.0.1:9/clip.mp4");
    assert!(e.contains("127.0.0.1:9"), "{e}");
}

#[test]
fn truncated_file_is_an_error_or_a_partial_result_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let spec = SceneSpec {
        width: 320,
        height: 180,
        duration_s: 4.0,
        cuts: vec![1.0, 2.5],
        ..Default::default()
    };
    let full = clip(dir.path(), "full", &spec);
    let bytes = std::fs::read(&full).unwrap();
    for (name, part) in [
        ("head", &bytes[..bytes.len() / 2]),
        ("tail", &bytes[bytes.len() / 3..]),
    ] {
        let p = dir.path().join(format!("truncated-{name}.mp4"));
        std::fs::write(&p, part).unwrap();
        let model = cpu_model();
        let mut last = None;
        let _stage = stage(&format!("evaluating {}", p.display()), stage_s());
        let r = evalverse::evaluate_file(
            p.to_str().unwrap(),
            &Settings::default(),
            &model,
            |r| last = Some(r.to_json()),
            |_, _| {},
        );
        match r {
            Err(e) => assert!(
                e.to_string().contains(&format!("truncated-{name}.mp4")),
                "{e}"
            ),
            Ok(()) => assert!(last.unwrap().contains("\"summary\"")),
        }
    }
}

/// A source that stops sending mid-file (here a pipe whose writer goes quiet) ends `inject`
/// with an error that says it stalled and after how many frames, within the stall limit:
/// before the limit existed, a stalled copy blocked for good (a CI run once sat 50 minutes
/// in `inject`).
#[test]
fn inject_from_a_source_that_goes_quiet_is_a_stall_error_not_a_hang() {
    use evalverse::sender::inject::{Faults, inject_within};
    use std::os::fd::AsRawFd;
    let dir = tempfile::tempdir().unwrap();
    let src = clip(
        dir.path(),
        "clean",
        &SceneSpec {
            duration_s: 8.0,
            ..Default::default()
        },
    );
    // The first 150 kB (the index and a few frames: the file is written index-first), then
    // nothing while the pipe stays open.
    let mut quiet = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("head -c 150000 '{}'; exec sleep 60", src.display()))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let fd = quiet.stdout.as_ref().unwrap().as_raw_fd();
    let started = std::time::Instant::now();
    let _stage = stage("injecting into a pipe", stage_s());
    let r = inject_within(
        &format!("fd://{fd}"),
        &dir.path().join("out.mp4"),
        &Faults::default(),
        std::time::Duration::from_secs(3),
    );
    let took = started.elapsed();
    let _ = quiet.kill();
    let _ = quiet.wait();
    let e = r.expect_err("a stalled source is an error").to_string();
    assert!(e.contains("stalled"), "{e}");
    assert!(took.as_secs_f64() < 20.0, "gave up after {took:?}: {e}");
}

/// One frame of picture and two minutes of sound: the windows go on over the sound (scored as
/// such), a state record says the picture ended, and nothing waits for pictures that never
/// come. (Matroska: GStreamer's MP4 demuxer skips a video track under a fifth of the file as a
/// preview image.)
#[test]
fn video_that_ends_before_the_audio_goes_on_over_the_sound() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("one_frame.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=gray:s=160x90:r=25:d=0.04",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=300:sample_rate=48000:duration=120",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        p.to_str().unwrap(),
    ]);
    let (records, r) = eval_json(&p, &Settings::default());
    r.unwrap();
    let summary = of_type(&records, "summary")[0];
    assert_eq!(summary["frames"], 1, "{summary}");
    let windows = of_type(&records, "window").len();
    let states: Vec<&str> = of_type(&records, "state")
        .iter()
        .filter_map(|s| s["message"].as_str())
        .collect();
    eprintln!("measured: {windows} windows over 120 s of sound after one frame; states {states:?}");
    assert!(windows >= 110, "{windows} windows");
    assert!(
        states
            .iter()
            .any(|m| m.contains("picture ended") && m.contains("sound alone")),
        "{states:?}"
    );
}

/// The peak resident memory of `evalverse ARGS` (VmHWM, read until the process exits), KiB.
fn peak_rss_kib(args: &[&str]) -> u64 {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_evalverse"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Some(kib) = std::fs::read_to_string(&status).ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        }) {
            peak = peak.max(kib);
        }
        if child.try_wait().unwrap().is_some() {
            return peak;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// One frame of picture over 40 minutes of silence: the evaluation's peak memory is about that
/// of 5 minutes (the decoder does not read the sound ahead into memory once the picture ended;
/// before that bound, 40 minutes took ~80 MB more).
#[test]
fn memory_stays_flat_when_the_picture_ends_long_before_the_sound() {
    let dir = tempfile::tempdir().unwrap();
    let mut peaks = vec![];
    for secs in ["300", "2400"] {
        let p = dir.path().join(format!("one_frame_{secs}.mkv"));
        let p = p.to_str().unwrap();
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "color=c=gray:s=160x90:r=25:d=0.04",
            "-f",
            "lavfi",
            "-i",
            "anullsrc=r=48000:cl=mono",
            "-t",
            secs,
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "32k",
            p,
        ]);
        let _stage = stage(&format!("eval {secs} s of sound"), stage_s());
        peaks.push(peak_rss_kib(&["eval", p, "--backend", "cpu", "--json"]));
    }
    eprintln!(
        "measured: peak RSS {} KiB over 5 min of sound, {} KiB over 40 min",
        peaks[0], peaks[1]
    );
    assert!(
        peaks[1] <= peaks[0] + 30 * 1024,
        "peak RSS grew from {} to {} KiB",
        peaks[0],
        peaks[1]
    );
}

/// A picture wider than evalverse reads (8192 pixels a side) is refused, by name and size,
/// before a decoder allocates it.
#[test]
fn a_picture_larger_than_the_cap_is_refused_with_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("wide.png");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=red:s=8200x64",
        "-frames:v",
        "1",
        p.to_str().unwrap(),
    ]);
    let e = eval_err(p.to_str().unwrap());
    assert!(e.contains("8200") && e.contains("8192"), "{e}");
}

/// A still image is refused as one, not scored 100 as a video of one frame.
#[test]
fn a_still_image_is_refused_as_one() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("still.png");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x180",
        "-frames:v",
        "1",
        p.to_str().unwrap(),
    ]);
    let e = eval_err(p.to_str().unwrap());
    assert!(e.contains("still image, not a video"), "{e}");
}

/// A clip without sound ends when its picture does: the bus of a pipeline with an unlinked
/// sound branch never ends, and the wait for it is short. Measured against the same picture
/// with sound (whose bus ends at once), in the same test: the wait was 2 s (2.17 s against
/// 0.47 s for the whole 2-s clip).
#[test]
fn a_clip_without_sound_is_not_kept_waiting_at_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let picture = [
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x180:rate=25:duration=2",
    ];
    let encode = ["-c:v", "libx264", "-pix_fmt", "yuv420p"];
    let mute = dir.path().join("mute.mp4");
    ffmpeg(&[&picture[..], &encode[..], &[mute.to_str().unwrap()]].concat());
    let voiced = dir.path().join("voiced.mp4");
    let sound = [
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=300:duration=2",
        "-c:a",
        "aac",
    ];
    ffmpeg(
        &[
            &picture[..],
            &sound[..],
            &encode[..],
            &[voiced.to_str().unwrap()],
        ]
        .concat(),
    );
    let model = cpu_model();
    let took = |p: &std::path::Path| {
        let t = std::time::Instant::now();
        evalverse::evaluate_file(
            p.to_str().unwrap(),
            &Settings::default(),
            &model,
            |_| {},
            |_, _| {},
        )
        .expect("evaluated");
        t.elapsed()
    };
    let (with_sound, without) = (took(&voiced), took(&mute));
    assert!(
        without < with_sound + std::time::Duration::from_millis(1000),
        "without sound {without:?}, with sound {with_sound:?}"
    );
}

/// An MP4 cut in the middle (its index in front, the media half there) is evaluated as far as
/// it goes, and the summary and stderr say it ended early.
#[test]
fn a_file_that_ends_before_its_index_says_is_told() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x180:rate=25:duration=10",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=300:duration=10",
        "-c:v",
        "libx264",
        "-g",
        "25",
        "-c:a",
        "aac",
        "-movflags",
        "+faststart",
        full.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&full).unwrap();
    let cut = dir.path().join("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let out = evalverse_cli(&["eval", cut.to_str().unwrap(), "--json", "--backend", "cpu"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["type"] == "summary")
        .unwrap_or_else(|| panic!("no summary; stderr: {stderr}"));
    eprintln!(
        "measured: ended_early {} ; stderr {}",
        summary["ended_early"],
        stderr.trim()
    );
    let at = summary["ended_early"]["at_s"]
        .as_f64()
        .expect("ended_early in the summary");
    let declared = summary["ended_early"]["declared_s"].as_f64().unwrap();
    assert!(
        (3.0..8.0).contains(&at) && (declared - 10.0).abs() < 0.5,
        "{summary}"
    );
    assert!(
        stderr.contains("ended at") && stderr.contains("declares"),
        "{stderr}"
    );
}
