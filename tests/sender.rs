//! `evalverse send FILE`: a file with only one medium streams and ends (the missing branch and
//! its RTCP session are ended, without blocking GStreamer's streaming thread).
mod common;
use common::*;
use evalverse::sender::{RtpTarget, send_file};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

#[test]
fn a_video_only_file_is_sent_to_the_end() {
    evalverse::ingest::init().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("video-only.mp4");
    let desc = format!(
        "videotestsrc num-buffers=40 ! video/x-raw,width=160,height=90,framerate=20/1 ! x264enc ! mp4mux ! filesink location={}",
        path.display()
    );
    let p = gstreamer::parse::launch(&desc).unwrap();
    use gstreamer::prelude::*;
    p.set_state(gstreamer::State::Playing).unwrap();
    let bus = p.bus().unwrap();
    bus.timed_pop_filtered(
        gstreamer::ClockTime::from_seconds(20),
        &[gstreamer::MessageType::Eos, gstreamer::MessageType::Error],
    );
    p.set_state(gstreamer::State::Null).unwrap();
    let port = free_ports(4);
    let target = RtpTarget {
        host: "127.0.0.1".into(),
        video_port: port,
        audio_port: port + 2,
        bitrate_kbps: 500,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    let t0 = Instant::now();
    let file = path.to_str().unwrap().to_string();
    let s = stop.clone();
    std::thread::spawn(move || {
        let _ = tx.send(send_file(&file, &target, s).map_err(|e| e.to_string()));
    });
    // 2 s of video in real time; before the fix the sender never ended.
    let r = rx.recv_timeout(Duration::from_secs(15));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let r = r.expect("the sender ended");
    r.unwrap();
    let took = t0.elapsed().as_secs_f64();
    assert!(
        (1.5..10.0).contains(&took),
        "sent 2 s of video in {took:.1} s"
    );
}
