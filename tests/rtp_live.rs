//! Live RTP over loopback UDP, end to end: a GStreamer sender (H.264 + Opus through rtpbin with
//! RTCP) with a known audio delay and cuts at known times; the evaluator must find the delay
//! and the cuts within one frame. And bad input: garbage datagrams on the RTP ports give a
//! stalled state, not a panic, and do not disturb a healthy stream next to it.
mod common;
use common::*;
use evalverse::config::{Settings, StreamSettings};
use evalverse::sender::send_synthetic;
use evalverse::sender::synth::{SceneSpec, irregular_cuts};
use evalverse::{Record, StreamState};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

const FPS: f64 = 30.0;

fn collect(
    rx: &mut tokio::sync::broadcast::Receiver<Arc<Record>>,
    into: &mut Vec<Arc<Record>>,
    for_s: f64,
) {
    let until = Instant::now() + Duration::from_secs_f64(for_s);
    while Instant::now() < until {
        match rx.try_recv() {
            Ok(r) => into.push(r),
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

fn assert_delay_within_a_frame(summary: &evalverse::score::record::SummaryRecord, truth_ms: f64) {
    let d = summary
        .sync
        .audio_delay_ms
        .unwrap_or_else(|| panic!("sync declined: {:?}", summary.sync));
    assert!(
        (d - truth_ms).abs() <= 1000.0 / FPS,
        "delay {d} ms, truth {truth_ms} ms"
    );
}

fn settings() -> Settings {
    let mut s = Settings::default();
    s.analysis.batch_frames = 4;
    s
}

#[test]
fn rtp_stream_delay_and_cuts_within_one_frame_and_garbage_is_a_stall() {
    let base = free_ports(8);
    let ev = evalverse::output::sinks::evaluator(settings(), cpu_model());
    let mut rx = ev.subscribe();
    let mut good = StreamSettings::rtp("good", Some(base), Some(base + 2));
    good.latency_ms = 150;
    ev.add_stream(good).unwrap();
    let mut bad = StreamSettings::rtp("garbage", Some(base + 4), Some(base + 6));
    bad.stall_timeout_s = 1.0;
    ev.add_stream(bad).unwrap();

    // Send once both receivers listen (the first keyframe must not be lost).
    let t0 = Instant::now();
    while ["good", "garbage"]
        .iter()
        .any(|n| ev.stream(n).unwrap().state == StreamState::Starting)
    {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "receivers did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The sender starts well after the receivers: the stream's times still start at its
    // first packet, not at the pipeline's start (checked with the cuts' offset below).
    std::thread::sleep(Duration::from_secs(2));
    let spec = SceneSpec {
        width: 320,
        height: 180,
        fps: FPS as u32,
        duration_s: 15.0,
        cuts: irregular_cuts(1.5, 15.0),
        audio_delay_ms: 200.0,
        ..Default::default()
    };
    let sender = {
        let spec = spec.clone();
        std::thread::spawn(move || {
            let target = common::loopback(base, 800);
            send_synthetic(&spec, &target, Arc::new(AtomicBool::new(false)))
        })
    };
    // Garbage on the second stream's RTP ports while the good one streams.
    let garbage = std::thread::spawn(move || {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for i in 0..300u32 {
            let junk: Vec<u8> = (0..(i % 1400 + 1)).map(|k| (k * 31 + i) as u8).collect();
            let _ = sock.send_to(&junk, ("127.0.0.1", base + 4));
            let _ = sock.send_to(&junk[..junk.len().min(11)], ("127.0.0.1", base + 6));
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    let mut records = vec![];
    while !sender.is_finished() {
        collect(&mut rx, &mut records, 0.2);
    }
    sender.join().unwrap().expect("sender ran");
    garbage.join().unwrap();
    collect(&mut rx, &mut records, 1.5);
    assert!(ev.remove_stream("good"));
    collect(&mut rx, &mut records, 0.5);

    // The garbage stream is stalled (never failed, never panicked) and still listed.
    let info = ev.stream("garbage").expect("still there");
    assert_eq!(info.state, StreamState::Stalled, "{info:?}");
    assert!(records.iter().any(|r| matches!(&**r, Record::State(s) if s.stream == "garbage" && s.state == StreamState::Stalled)));

    let good: Vec<&Record> = records
        .iter()
        .map(|r| &**r)
        .filter(|r| r.stream() == "good")
        .collect();
    let summary = good
        .iter()
        .find_map(|r| {
            if let Record::Summary(s) = r {
                Some(s)
            } else {
                None
            }
        })
        .expect("summary after removal");
    assert!(
        summary.frames as f64 > 0.9 * spec.frames() as f64,
        "frames {} of {}",
        summary.frames,
        spec.frames()
    );
    assert_delay_within_a_frame(summary, 200.0);
    // The sound branch runs live too (Opus decoded at 48 kHz), and the clean tone stays clean.
    let sound = summary
        .sound
        .as_ref()
        .expect("sound figures from the live Opus branch");
    assert_eq!(sound.rate, 48000, "{sound:?}");
    assert!(
        sound.integrated_lufs.is_some_and(|l| l > -40.0),
        "{sound:?}"
    );
    assert_eq!(sound.clipped_ms, 0.0, "{sound:?}");
    assert_eq!(
        summary.events.get("dropout"),
        Some(&0),
        "{:?}",
        summary.events
    );
    assert_eq!(
        summary.sync.timing,
        evalverse::evaluator::Timing::SenderClock,
        "RTCP sender reports were used"
    );
    eprintln!(
        "measured: audio delay {:?} ms (truth 200), {} frames of {}",
        summary.sync.audio_delay_ms,
        summary.frames,
        spec.frames()
    );

    // Cuts: receiver times are the sender's plus a constant offset; find it, then every cut
    // must match within one frame and none may be extra.
    let detected: Vec<f64> = good
        .iter()
        .filter_map(|r| {
            if let Record::Cut(c) = r {
                Some(c.pts)
            } else {
                None
            }
        })
        .collect();
    let truth: Vec<f64> = spec.cut_frames().iter().map(|f| *f as f64 / FPS).collect();
    let frame = 1.0 / FPS + 1e-3;
    let best = detected
        .iter()
        .flat_map(|d| truth.iter().map(move |t| d - t))
        .map(|off| {
            (
                off,
                truth
                    .iter()
                    .filter(|t| detected.iter().any(|d| (d - *t - off).abs() <= frame))
                    .count(),
            )
        })
        .max_by_key(|x| x.1)
        .expect("some cut detected");
    assert_eq!(
        best.1,
        truth.len(),
        "matched {} of {} cuts (offset {:.3}): detected {detected:?} truth {truth:?}",
        best.1,
        truth.len(),
        best.0
    );
    assert_eq!(
        detected.len(),
        truth.len(),
        "extra cuts: detected {detected:?} truth {truth:?}"
    );
    let worst = truth
        .iter()
        .map(|t| {
            detected
                .iter()
                .map(|d| (d - t - best.0).abs())
                .fold(f64::MAX, f64::min)
        })
        .fold(0.0, f64::max);
    eprintln!(
        "measured: {} cuts matched, worst error {:.1} ms after the constant offset {:.3} s",
        truth.len(),
        worst * 1000.0,
        best.0
    );
    // Running before any packet says so; the first media say they are here.
    let running: Vec<&str> = good
        .iter()
        .filter_map(|r| match r {
            Record::State(s) if s.state == StreamState::Running => Some(s.message.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        running.first().copied(),
        Some("waiting for video and audio: no packet yet"),
        "{running:?}"
    );
    assert!(
        running.contains(&"receiving video and audio"),
        "{running:?}"
    );
    assert!(
        (-0.25..0.75).contains(&best.0),
        "the stream's times start at its first packet, not 2 s before: offset {:.3} s",
        best.0
    );
    ev.shutdown();
}

/// A user's own pipeline file, made the way pipelines/README.md says: our rtpbin, H.264 and
/// Opus templates concatenated, their placeholders prefixed with the medium. It runs like the
/// built-in description: every placeholder is filled, frames arrive, the cuts are found within
/// one frame and the delay within one frame.
#[test]
fn a_user_pipeline_copied_from_ours_runs_like_ours() {
    let root = env!("CARGO_MANIFEST_DIR");
    let read = |f: &str| std::fs::read_to_string(format!("{root}/pipelines/{f}")).unwrap();
    let prefix = |text: String, medium: &str| {
        ["port", "rtcp_port", "payload", "session"]
            .iter()
            .fold(text, |t, p| {
                t.replace(&format!("{{{p}}}"), &format!("{{{medium}_{p}}}"))
            })
    };
    let text = [
        read("rtpbin.pipeline"),
        prefix(read("rtp-h264.pipeline"), "video"),
        prefix(read("rtp-opus.pipeline"), "audio"),
    ]
    .join("\n");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mine.pipeline");
    std::fs::write(&path, text).unwrap();

    let base = free_ports(4);
    let ev = evalverse::output::sinks::evaluator(settings(), cpu_model());
    let mut rx = ev.subscribe();
    let mut mine = StreamSettings::rtp("mine", Some(base), Some(base + 2));
    mine.pipeline = Some(path);
    ev.add_stream(mine).unwrap();
    wait_for("the receiver to start", 10.0, || {
        ev.stream("mine").unwrap().state != StreamState::Starting
    });
    let spec = SceneSpec {
        width: 320,
        height: 180,
        fps: FPS as u32,
        duration_s: 10.0,
        cuts: irregular_cuts(1.5, 10.0),
        audio_delay_ms: 120.0,
        ..Default::default()
    };
    let target = common::loopback(base, 800);
    let mut records = vec![];
    let sender = {
        let spec = spec.clone();
        std::thread::spawn(move || send_synthetic(&spec, &target, Arc::new(AtomicBool::new(false))))
    };
    while !sender.is_finished() {
        collect(&mut rx, &mut records, 0.2);
    }
    sender.join().unwrap().expect("sender ran");
    collect(&mut rx, &mut records, 1.5);
    assert!(ev.remove_stream("mine"));
    collect(&mut rx, &mut records, 0.5);

    let summary = records
        .iter()
        .find_map(|r| match &**r {
            Record::Summary(s) => Some(s.clone()),
            _ => None,
        })
        .expect("summary after removal");
    assert!(
        summary.frames as f64 > 0.9 * spec.frames() as f64,
        "frames {} of {}",
        summary.frames,
        spec.frames()
    );
    let cuts: Vec<f64> = records
        .iter()
        .filter_map(|r| match &**r {
            Record::Cut(c) if c.cause == evalverse::vocab::Cause::Content => Some(c.pts),
            _ => None,
        })
        .collect();
    let truth: Vec<f64> = spec.cut_frames().iter().map(|f| *f as f64 / FPS).collect();
    let (matched, _, worst) = match_cuts(&cuts, &truth, 1.0 / FPS + 1e-3);
    assert_eq!(
        matched,
        truth.len(),
        "cuts {cuts:?} truth {truth:?} worst {worst}"
    );
    assert_delay_within_a_frame(&summary, 120.0);
}

/// The demo's own sequence (640x360 at 30 fps, 1.5 Mb/s H.264 over RTP, cuts, a 1.5 s freeze at
/// 45 % of it): over RTP the encoder keeps correcting the held picture for half a second, which
/// must neither hide the freeze nor turn it into a static shot. The freeze is found, as a
/// freeze, its onset within 2 frames of the held frame (after the receiver's constant offset,
/// read off the cuts).
#[test]
fn the_demos_freeze_is_found_live_within_two_frames() {
    let base = free_ports(4);
    let ev = evalverse::output::sinks::evaluator(settings(), cpu_model());
    let mut rx = ev.subscribe();
    ev.add_stream(StreamSettings::rtp("demo", Some(base), Some(base + 2)))
        .unwrap();
    wait_for("the receiver to start", 10.0, || {
        ev.stream("demo").unwrap().state != StreamState::Starting
    });
    let duration = 10.0;
    let freeze = (duration * 0.45, duration * 0.45 + 1.5);
    let spec = SceneSpec {
        width: 640,
        height: 360,
        fps: FPS as u32,
        duration_s: duration,
        cuts: irregular_cuts(1.5, duration),
        audio_delay_ms: 200.0,
        freeze: vec![freeze],
        ..Default::default()
    };
    let sender = {
        let spec = spec.clone();
        std::thread::spawn(move || {
            send_synthetic(
                &spec,
                &common::loopback(base, 1500),
                Arc::new(AtomicBool::new(false)),
            )
        })
    };
    let mut records = vec![];
    {
        let _stage = stage("streaming the demo sequence", stage_s());
        while !sender.is_finished() {
            collect(&mut rx, &mut records, 0.2);
        }
    }
    sender.join().unwrap().expect("sender ran");
    collect(&mut rx, &mut records, 1.5);
    assert!(ev.remove_stream("demo"));
    collect(&mut rx, &mut records, 0.5);
    let cuts: Vec<f64> = records
        .iter()
        .filter_map(|r| match &**r {
            Record::Cut(c) => Some(c.pts),
            _ => None,
        })
        .collect();
    let truth: Vec<f64> = spec.cut_frames().iter().map(|f| *f as f64 / FPS).collect();
    // The receiver's clock is the sender's plus a constant: the offset most cuts agree on.
    let offset = cuts
        .iter()
        .flat_map(|d| truth.iter().map(move |t| d - t))
        .max_by_key(|off| {
            truth
                .iter()
                .filter(|t| cuts.iter().any(|d| (d - *t - off).abs() <= 1.0 / FPS))
                .count()
        })
        .expect("cuts found");
    let stills: Vec<(String, f64, f64)> = records
        .iter()
        .filter_map(|r| match &**r {
            Record::Event(e)
                if !e.ongoing && matches!(e.kind.as_str(), "freeze" | "static_shot") =>
            {
                Some((
                    e.kind.as_str().to_string(),
                    e.start - offset,
                    e.end - offset,
                ))
            }
            _ => None,
        })
        .collect();
    eprintln!("measured: {stills:?} (truth freeze {freeze:?}, receiver offset {offset:.3} s)");
    let found = stills
        .iter()
        .find(|(k, s, e)| k == "freeze" && *s < freeze.1 && *e > freeze.0)
        .unwrap_or_else(|| panic!("no freeze over {freeze:?}: {stills:?}"));
    assert!(
        (found.1 - freeze.0).abs() <= 2.0 / FPS + 1e-3,
        "freeze onset {:.3} s, truth {:.3} s",
        found.1,
        freeze.0
    );
    assert!(
        !stills
            .iter()
            .any(|(k, s, e)| k == "static_shot" && *s < freeze.1 && *e > freeze.0),
        "the freeze was also called a static shot: {stills:?}"
    );
    ev.shutdown();
}
