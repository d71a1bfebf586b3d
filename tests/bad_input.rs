//! Bad input gives a clear error, never a panic.
mod common;
use common::*;
use evalverse::config::Settings;
use evalverse::sender::synth::SceneSpec;
use std::io::Write;

fn eval_err(input: &str) -> String {
    let model = cpu_model();
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
