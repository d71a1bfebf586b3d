//! `evalverse demo`: a generated sequence with cuts, beeps, a known audio delay and a freeze,
//! streamed as RTP over loopback and evaluated live.
use super::live::{Live, finish_live, parse_listen, print_records, start_live};
use super::{CalibrationArg, ModelArgs};
use anyhow::{Result, bail};
use clap::Args;
use evalverse::config::StreamSettings;
use evalverse::output::http;
use evalverse::sender::{self, RtpTarget, synth::SceneSpec};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct DemoArgs {
    /// How long the generated sequence runs, seconds.
    #[arg(long, default_value_t = 30.0)]
    duration: f64,
    /// Audio delay injected by the sender, ms (positive = audio late).
    #[arg(long, default_value_t = 200.0)]
    audio_delay_ms: f64,
    /// First of four UDP ports used (video RTP, RTCP, audio RTP, RTCP).
    #[arg(long, default_value_t = 5004)]
    port: u16,
    /// Address of the HTTP server (/metrics, /v1/...); loopback only (the demo has no token).
    #[arg(long, default_value = evalverse::config::DEFAULT_LISTEN)]
    listen: String,
    /// Print JSON lines instead of readable lines.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    calibration: CalibrationArg,
}

pub fn run(a: DemoArgs) -> Result<i32> {
    let (duration, delay, port, json) = (a.duration, a.audio_delay_ms, a.port, a.json);
    if !(3.0..=3600.0).contains(&duration) {
        bail!("--duration must be 3–3600 seconds");
    }
    let settings = a.model.settings_with(&a.calibration)?;
    let addr = parse_listen(&a.listen)?;
    if http::needs_token(&addr) {
        bail!("the demo has no token: give --listen a loopback address (e.g. 127.0.0.1:9800)");
    }
    let live = start_live(settings, addr, None)?;
    let stream = StreamSettings::rtp("demo", Some(port), Some(port + 2));
    live.evaluator.add_stream(stream)?;
    let freeze = (duration * 0.45, duration * 0.45 + 1.5);
    let spec = SceneSpec {
        width: 640,
        height: 360,
        fps: 30,
        duration_s: duration,
        cuts: sender::synth::irregular_cuts(1.5, duration),
        audio_delay_ms: delay,
        freeze: vec![freeze],
        ..Default::default()
    };
    if !json {
        println!(
            "demo: streaming {duration:.0} s of generated video (640x360@30, H.264 + Opus over RTP/RTCP on 127.0.0.1:{port}-{}) with {} cuts, audio {delay:+.0} ms late, a freeze at {:.1}–{:.1} s",
            port + 3,
            spec.cut_frames().len(),
            freeze.0,
            freeze.1
        );
    }
    wait_until_listening(&live);
    let done = Arc::new(AtomicBool::new(false));
    let sender_thread = spawn_sender(&spec, port, done.clone(), live.stop.clone());
    let finished_at = std::sync::Mutex::new(None::<Instant>);
    let mut rx = live.evaluator.subscribe();
    print_records(&live, &mut rx, json, || {
        if done.load(Ordering::Relaxed) {
            let mut f = finished_at.lock().unwrap_or_else(|e| e.into_inner());
            // Let the jitter buffer and the last window drain.
            f.get_or_insert_with(Instant::now).elapsed() > Duration::from_secs(2)
        } else {
            false
        }
    });
    // Removing the stream ends it: its last window and summary follow.
    live.evaluator.remove_stream("demo");
    print_records(&live, &mut rx, json, || true);
    let sender_result = sender_thread.join();
    live.stop.store(true, Ordering::Relaxed);
    if let Ok(Err(e)) = sender_result {
        bail!("the demo sender failed: {e}");
    }
    if !json {
        println!(
            "demo: ground truth was audio {delay:+.0} ms, cuts at frames {:?}, freeze {:.1}–{:.1} s",
            spec.cut_frames(),
            freeze.0,
            freeze.1
        );
    }
    finish_live(live);
    Ok(0)
}

/// Start sending once the receiver is listening, so the first keyframe is not lost.
fn wait_until_listening(live: &Live) {
    let ready = Instant::now();
    while live
        .evaluator
        .stream("demo")
        .map(|i| i.state == evalverse::StreamState::Starting)
        .unwrap_or(false)
        && ready.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The sender, in a thread of its own; `done` is set when it has sent everything.
fn spawn_sender(
    spec: &SceneSpec,
    port: u16,
    done: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Result<(), sender::SendError>> {
    let spec = spec.clone();
    std::thread::spawn(move || {
        let target = RtpTarget {
            host: "127.0.0.1".into(),
            video_port: port,
            audio_port: port + 2,
            bitrate_kbps: 1500,
        };
        let r = sender::send_synthetic(&spec, &target, stop);
        done.store(true, Ordering::Relaxed);
        r
    })
}
