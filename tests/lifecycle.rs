//! Stream lifecycle in library use: an ended stream is reaped after `server.retention_s` (its
//! final record kept, its slot, ports and metric series freed), dropping an `Evaluator` stops
//! every thread it started, and a stop verdict is POSTed at once even while the alert webhook
//! hangs. Real components: GStreamer pipelines, the Prometheus recorder, webhook receivers on
//! loopback sockets.
//!
//! The tests count this process's threads, so they run one at a time (`SERIAL`).
mod common;
use common::*;
use evalverse::alert::{Action, AlertRule, Op, Severity};
use evalverse::config::{Settings, StreamSettings};
use evalverse::sender::synth::{SceneSpec, irregular_cuts};
use evalverse::{Record, StreamState};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn clip(name: &str, seconds: f64) -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lifecycle");
    std::fs::create_dir_all(&dir).unwrap();
    let spec = SceneSpec {
        width: 160,
        height: 90,
        duration_s: seconds,
        cuts: irregular_cuts(1.0, seconds),
        ..Default::default()
    };
    common::clip(&dir, name, &spec)
}

fn file_stream(name: &str, path: &std::path::Path) -> StreamSettings {
    let mut s = StreamSettings::rtp(name, None, None);
    s.uri = Some(path.to_string_lossy().to_string());
    s
}

fn always(name: &str, for_s: f64, action: Action) -> AlertRule {
    AlertRule {
        name: name.into(),
        measurement: "latency_s".into(),
        op: Op::Ge,
        threshold: 0.0,
        clear: None,
        for_s,
        severity: Severity::Critical,
        action,
    }
}

#[test]
fn ended_streams_are_reaped_after_the_retention_and_keep_their_final_record() {
    let _one = serial();
    let metrics = evalverse::output::telemetry::install().expect("recorder");
    let mut settings = Settings::default();
    settings.server.retention_s = 1.5;
    settings.server.max_streams = 2;
    let ev = evalverse::output::sinks::evaluator(settings, cpu_model());
    let path = clip("short", 3.0);
    ev.add_stream(file_stream("short", &path)).unwrap();
    wait_for("the stream to end", 60.0, || {
        ev.stream("short").unwrap().state == StreamState::Ended
    });
    let ended = Instant::now();
    // Ended, not yet reaped: record, series and slot are still there.
    let info = ev.stream("short").unwrap();
    assert!(
        info.summary.is_some(),
        "the final summary is kept: {info:?}"
    );
    assert!(metrics.render().contains("stream=\"short\""));
    assert_eq!(ev.running(), 0);
    assert_eq!(ev.streams().len(), 1);
    // A full server makes room by reaping ended streams first.
    let base = free_ports(8);
    ev.add_stream(StreamSettings::rtp("a", Some(base), None))
        .unwrap();
    ev.add_stream(StreamSettings::rtp("b", Some(base + 2), None))
        .unwrap();
    assert!(
        ended.elapsed() < Duration::from_secs_f64(1.5),
        "reaped to make room, not by the retention"
    );
    assert!(
        !metrics.render().contains("stream=\"short\""),
        "a reaped stream's series are gone from the recorder"
    );
    assert!(!metrics.streams().contains(&"short".to_string()));
    let kept = ev.stream("short").expect("the final record stays readable");
    assert_eq!(kept.state, StreamState::Ended);
    assert!(kept.summary.is_some());
    assert!(
        ev.add_stream(StreamSettings::rtp("c", Some(base + 4), None))
            .is_err()
    );

    // Retention: a stream that fails is reaped after it, by itself.
    assert!(ev.remove_stream("b"));
    ev.add_stream(file_stream(
        "missing",
        std::path::Path::new("/nonexistent/clip.mp4"),
    ))
    .unwrap();
    wait_for("the stream to fail", 20.0, || {
        ev.stream("missing").unwrap().state == StreamState::Failed
    });
    let failed = Instant::now();
    wait_for("the failed stream's series", 5.0, || {
        metrics.streams().contains(&"missing".to_string())
    });
    wait_for("the failed stream to be reaped", 10.0, || {
        !metrics.streams().contains(&"missing".to_string())
    });
    let after = failed.elapsed().as_secs_f64();
    eprintln!("reaped {after:.2} s after it failed (retention 1.5 s)");
    assert!((1.4..4.0).contains(&after), "{after}");
    assert_eq!(
        ev.stream("missing").unwrap().state,
        StreamState::Failed,
        "its final record stays"
    );
    // The name and ports of an ended stream are free again.
    ev.add_stream(StreamSettings::rtp("missing", Some(base + 2), None))
        .unwrap();
    assert_eq!(ev.stream("missing").unwrap().state, StreamState::Starting);
    // DELETE of a reaped record forgets it.
    assert!(ev.remove_stream("short"));
    assert!(ev.stream("short").is_none());
}

#[test]
fn dropping_an_evaluator_stops_every_thread_it_started() {
    let _one = serial();
    let hook = Hook::answering(Duration::ZERO);
    // Warm up GStreamer (its registry and first-use threads stay for the process).
    {
        let ev = evalverse::output::sinks::evaluator(Settings::default(), cpu_model());
        let base = free_ports(4);
        ev.add_stream(StreamSettings::rtp("warm", Some(base), Some(base + 2)))
            .unwrap();
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_millis(300));
    let before = threads();
    let mut settings = Settings::default();
    settings.alerting.webhook = Some(hook.url("/alert"));
    settings.alerting.stop_webhook = Some(hook.url("/stop"));
    let ev = evalverse::output::sinks::evaluator(settings, cpu_model());
    let base = free_ports(8);
    for (i, name) in ["one", "two"].iter().enumerate() {
        let p = base + 4 * i as u16;
        ev.add_stream(StreamSettings::rtp(name, Some(p), Some(p + 2)))
            .unwrap();
    }
    wait_for("streams to start", 10.0, || ev.running() == 2);
    std::thread::sleep(Duration::from_millis(300));
    let during = threads();
    let weak = Arc::downgrade(&ev);
    let t0 = Instant::now();
    drop(ev);
    assert!(
        weak.upgrade().is_none(),
        "no stream thread holds the evaluator"
    );
    wait_for("threads back to the baseline", 5.0, || threads() <= before);
    eprintln!(
        "threads: {before} before, {during} with 2 streams and 2 webhook queues, {} {:.2} s after the drop",
        threads(),
        t0.elapsed().as_secs_f64()
    );
    assert!(during >= before + 6, "{before} → {during}");
}

#[test]
fn a_stop_verdict_is_posted_at_once_while_the_alert_webhook_hangs() {
    let _one = serial();
    let dead = Hook::dead();
    let farm = Hook::answering(Duration::ZERO);
    let mut settings = Settings::default();
    settings.alerting.webhook = Some(dead.url("/alert"));
    settings.alerting.stop_webhook = Some(farm.url("/stop"));
    settings.alerting.timeout_s = 2.0;
    settings.alerting.retries = 3;
    settings.alerting.shutdown_grace_s = 1.0;
    // Five alerts to the hung endpoint at the first window (3 attempts × 2 s each, plus
    // backoff: ~37 s of queue), then the stop verdict 2 s of stream time later.
    settings.alerts = (0..5)
        .map(|i| always(&format!("noisy{i}"), 0.0, Action::Webhook))
        .chain([always("halt", 2.0, Action::Stop)])
        .collect();
    let ev = evalverse::output::sinks::evaluator(settings, cpu_model());
    let mut rx = ev.subscribe();
    let path = clip("stop", 8.0);
    ev.add_stream(file_stream("render", &path)).unwrap();
    let mut stop_seen = None;
    let t0 = Instant::now();
    use tokio::sync::broadcast::error::TryRecvError;
    let mut lagged = false;
    while stop_seen.is_none() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no stop alert within 60 s; {:?}",
            {
                ev.stream("render")
                    .map(|i| (i.state, i.message, i.frames, i.verdict.verdict))
            }
        );
        match rx.try_recv() {
            Ok(r) => {
                if let Record::Alert(a) = &*r {
                    if a.rule == "halt" && a.state == evalverse::score::record::AlertState::Firing {
                        stop_seen = Some(Instant::now());
                    }
                }
            }
            // A receiver that fell behind lost records, the alert perhaps among them: the
            // stream's latched verdict says whether it fired.
            Err(TryRecvError::Lagged(n)) => {
                eprintln!("the record receiver lagged by {n} records; reading the verdict too");
                lagged = true;
            }
            Err(TryRecvError::Closed) => panic!("the evaluator closed its records"),
            Err(TryRecvError::Empty) => std::thread::sleep(Duration::from_millis(2)),
        }
        let stopped = || {
            ev.stream("render")
                .is_some_and(|i| i.verdict.verdict == evalverse::vocab::Decision::Stop)
        };
        if stop_seen.is_none() && lagged && stopped() {
            stop_seen = Some(Instant::now());
        }
    }
    let stop_seen = stop_seen.unwrap();
    // The turn to stop is a record of its own on the event stream (after the alert that
    // caused it), once.
    if !lagged {
        let mut verdicts = 0;
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(3) {
            match rx.try_recv() {
                Ok(r) => {
                    if let Record::Verdict(v) = &*r {
                        assert_eq!(v.stream, "render");
                        assert_eq!(v.verdict.verdict, evalverse::vocab::Decision::Stop);
                        assert!(v.verdict.reasons.iter().any(|x| x.rule == "halt"), "{v:?}");
                        verdicts += 1;
                    }
                }
                Err(TryRecvError::Empty) => std::thread::sleep(Duration::from_millis(2)),
                Err(_) => break,
            }
        }
        assert_eq!(
            verdicts, 1,
            "one verdict record when the verdict turns to stop"
        );
    }
    wait_for("the stop POST", 10.0, || !farm.on("/stop").is_empty());
    let (body, at) = farm.on("/stop")[0].clone();
    let after = at.saturating_duration_since(stop_seen).as_secs_f64();
    eprintln!(
        "stop verdict POSTed {:.1} ms after the stop alert; the alert endpoint has {} connection(s) hanging",
        after * 1000.0,
        dead.accepted.load(std::sync::atomic::Ordering::Relaxed)
    );
    assert!(body.contains("\"verdict\":\"stop\""), "{body}");
    assert!(body.contains("halt"), "{body}");
    assert!(after < 1.0, "stop POST {after:.3} s after the verdict");
    assert!(
        dead.accepted.load(std::sync::atomic::Ordering::Relaxed) >= 1,
        "the alert queue was busy with the hung endpoint"
    );
    // Shutdown flushes within alerting.shutdown_grace_s, even with alerts still queued for the
    // hung endpoint.
    let t1 = Instant::now();
    drop(ev);
    let took = t1.elapsed().as_secs_f64();
    eprintln!("dropped the evaluator in {took:.2} s (grace 1 s, alerts still queued)");
    assert!(took < 3.0, "{took}");
}

#[test]
fn a_file_served_as_a_stream_is_read_whole_not_dropped() {
    // A file decodes far faster than it is evaluated: read with the dropping sinks of a live
    // stream it lost frames (and with them the windows an alert rule needed). Every frame of
    // the file reaches the evaluator, and the summary covers the whole clip.
    let _one = serial();
    let ev = evalverse::output::sinks::evaluator(Settings::default(), cpu_model());
    let path = clip("whole", 6.0);
    ev.add_stream(file_stream("whole", &path)).unwrap();
    wait_for("the stream to end", 60.0, || {
        ev.stream("whole").unwrap().state == StreamState::Ended
    });
    let info = ev.stream("whole").unwrap();
    let summary = info.summary.expect("a summary");
    assert_eq!(
        (info.dropped_frames, summary.dropped_frames),
        (0, 0),
        "frames lost"
    );
    assert_eq!((info.frames, summary.frames), (180, 180), "6 s at 30 fps");
    assert!(
        (summary.duration_s - 6.0).abs() < 0.1,
        "the summary covers the clip: {} s",
        summary.duration_s
    );
}
