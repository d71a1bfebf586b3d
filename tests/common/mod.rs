//! Helpers shared by the integration tests: free UDP ports, generated clips, record parsing.
#![allow(dead_code)]
use evalverse::Record;
use evalverse::config::Settings;
use evalverse::model::Model;
use evalverse::sender::synth::SceneSpec;
use serde_json::Value;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};

/// `n` consecutive even-aligned UDP ports that are free right now (RTP, RTCP pairs).
/// `n` consecutive free UDP ports on the loopback, the first even, below the kernel's
/// ephemeral range (32768–60999): a port taken from that range can be handed to any socket that
/// binds port 0 (a sender's, another test's) between a stream's removal and the next one's
/// start on the same port.
pub fn free_ports(n: u16) -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    let seed = std::process::id().wrapping_mul(2_654_435_761);
    for _ in 0..400 {
        let k = NEXT.fetch_add(1, Ordering::Relaxed);
        let base = (LOW + (seed.wrapping_add(k.wrapping_mul(8 * 97)) % SPAN)) as u16 & !1;
        if (0..n).all(|i| UdpSocket::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
    panic!("no free UDP ports");
}

pub fn cpu_model() -> Model {
    Model::new(evalverse::config::BackendChoice::Cpu).unwrap()
}

/// Write `spec` to `dir/name.mp4` (once per test run) and return the path.
pub fn clip(dir: &Path, name: &str, spec: &SceneSpec) -> PathBuf {
    let _stage = stage(&format!("writing the clip {name}"), stage_s());
    let path = dir.join(format!("{name}.mp4"));
    evalverse::sender::write_synthetic(spec, &path).expect("writing the test clip");
    assert!(std::fs::metadata(&path).unwrap().len() > 10_000);
    path
}

/// Evaluate a file and return its records as JSON values (through the JSON contract).
pub fn eval_json(path: &Path, a: &Settings) -> (Vec<Value>, Result<(), String>) {
    let _stage = stage(&format!("evaluating {}", path.display()), stage_s());
    let model = cpu_model();
    let mut lines = vec![];
    let r = evalverse::evaluate_file(
        path.to_str().unwrap(),
        a,
        &model,
        |r: &Record| lines.push(r.to_json()),
        |_, _| {},
    );
    let values = lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).expect("each line is JSON"))
        .collect();
    (values, r.map_err(|e| e.to_string()))
}

pub fn of_type<'a>(records: &'a [Value], t: &str) -> Vec<&'a Value> {
    records.iter().filter(|r| r["type"] == t).collect()
}

pub fn events<'a>(records: &'a [Value], kind: &str) -> Vec<&'a Value> {
    records
        .iter()
        .filter(|r| r["type"] == "event" && r["kind"] == kind && r["ongoing"] == false)
        .collect()
}

/// Match detected cut times against the truth up to one constant offset (receiver time is the
/// sender's plus a constant): (cuts matched within `tol`, the offset, the worst error).
pub fn match_cuts(detected: &[f64], truth: &[f64], tol: f64) -> (usize, f64, f64) {
    let count = |off: f64| {
        truth
            .iter()
            .filter(|t| detected.iter().any(|d| (d - *t - off).abs() <= tol))
            .count()
    };
    let Some((off, n)) = detected
        .iter()
        .flat_map(|d| truth.iter().map(move |t| d - t))
        .map(|off| (off, count(off)))
        .max_by_key(|x| x.1)
    else {
        return (0, 0.0, f64::INFINITY);
    };
    let worst = truth
        .iter()
        .map(|t| {
            detected
                .iter()
                .map(|d| (d - t - off).abs())
                .fold(f64::MAX, f64::min)
        })
        .filter(|e| *e <= tol)
        .fold(0.0, f64::max);
    (n, off, worst)
}

/// A seeded UDP relay from `listen` to `to` on loopback that drops datagrams for which
/// `drop(k)` is true (k: the datagram's index). Runs until `stop`.
pub fn relay(
    listen: u16,
    to: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    mut drop: impl FnMut(u64) -> bool + Send + 'static,
) -> std::thread::JoinHandle<(u64, u64)> {
    let sock = UdpSocket::bind(("127.0.0.1", listen)).expect("relay port");
    sock.set_read_timeout(Some(std::time::Duration::from_millis(50)))
        .unwrap();
    std::thread::spawn(move || {
        let out = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut buf = vec![0u8; 65536];
        let (mut k, mut dropped) = (0u64, 0u64);
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let Ok(n) = sock.recv(&mut buf) else { continue };
            if drop(k) {
                dropped += 1;
            } else {
                let _ = out.send_to(&buf[..n], ("127.0.0.1", to));
            }
            k += 1;
        }
        (k, dropped)
    })
}

/// What a [`faulty_relay`] does with one datagram.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fate {
    Pass,
    Drop,
    /// Sent twice.
    Duplicate,
    /// Held back this long (later datagrams may overtake it).
    Delay(std::time::Duration),
}

/// A UDP relay from `listen` to `to` on loopback that decides each datagram's fate with
/// `fate(k, since_start)`; runs until `stop`. Returns (received, dropped, duplicated, delayed).
pub fn faulty_relay(
    listen: u16,
    to: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    mut fate: impl FnMut(u64, std::time::Duration) -> Fate + Send + 'static,
) -> std::thread::JoinHandle<(u64, u64, u64, u64)> {
    use std::time::{Duration, Instant};
    let sock = UdpSocket::bind(("127.0.0.1", listen)).expect("relay port");
    sock.set_read_timeout(Some(Duration::from_millis(1)))
        .unwrap();
    std::thread::spawn(move || {
        let out = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut buf = vec![0u8; 65536];
        let t0 = Instant::now();
        let mut held: Vec<(Instant, Vec<u8>)> = vec![];
        let (mut k, mut dropped, mut dup, mut delayed) = (0u64, 0u64, 0u64, 0u64);
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            if let Ok(n) = sock.recv(&mut buf) {
                match fate(k, t0.elapsed()) {
                    Fate::Pass => {
                        let _ = out.send_to(&buf[..n], ("127.0.0.1", to));
                    }
                    Fate::Drop => dropped += 1,
                    Fate::Duplicate => {
                        dup += 1;
                        let _ = out.send_to(&buf[..n], ("127.0.0.1", to));
                        let _ = out.send_to(&buf[..n], ("127.0.0.1", to));
                    }
                    Fate::Delay(d) => {
                        delayed += 1;
                        held.push((Instant::now() + d, buf[..n].to_vec()));
                    }
                }
                k += 1;
            }
            let now = Instant::now();
            held.retain(|(due, d)| {
                if *due <= now {
                    let _ = out.send_to(d, ("127.0.0.1", to));
                    false
                } else {
                    true
                }
            });
        }
        (k, dropped, dup, delayed)
    })
}

/// A webhook receiver on loopback: a real socket that records every POST (path, body, arrival).
pub struct Hook {
    pub port: u16,
    pub posts: std::sync::Arc<std::sync::Mutex<Vec<(String, String, std::time::Instant)>>>,
    /// Connections accepted (a dead endpoint accepts and never answers).
    pub accepted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Hook {
    /// Answers every request `200` after `delay`.
    pub fn answering(delay: std::time::Duration) -> Self {
        Self::start(Some(delay))
    }

    /// Accepts connections and never answers (a hung endpoint: every attempt times out).
    pub fn dead() -> Self {
        Self::start(None)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// POSTs received on `path` so far: (body, arrival).
    pub fn on(&self, path: &str) -> Vec<(String, std::time::Instant)> {
        self.posts
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.0 == path)
            .map(|p| (p.1.clone(), p.2))
            .collect()
    }

    fn start(delay: Option<std::time::Duration>) -> Self {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let posts = std::sync::Arc::new(std::sync::Mutex::new(vec![]));
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (p, a) = (posts.clone(), accepted.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                a.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let p = p.clone();
                std::thread::spawn(move || {
                    let mut conn = conn;
                    let Some(delay) = delay else {
                        // Hold the connection, read nothing, answer nothing.
                        std::thread::sleep(std::time::Duration::from_secs(120));
                        return;
                    };
                    let mut buf: Vec<u8> = vec![];
                    let mut chunk = [0u8; 16384];
                    loop {
                        // One request: head, then content-length bytes of body.
                        let (head_end, len) = loop {
                            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                                let head = String::from_utf8_lossy(&buf[..i]).to_string();
                                let len = head
                                    .lines()
                                    .find_map(|l| {
                                        l.to_ascii_lowercase()
                                            .strip_prefix("content-length:")
                                            .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                                    })
                                    .unwrap_or(0);
                                break (i + 4, len);
                            }
                            match conn.read(&mut chunk) {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        };
                        while buf.len() < head_end + len {
                            match conn.read(&mut chunk) {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                        let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                        let body =
                            String::from_utf8_lossy(&buf[head_end..head_end + len]).to_string();
                        p.lock()
                            .unwrap()
                            .push((path, body, std::time::Instant::now()));
                        buf.drain(..head_end + len);
                        std::thread::sleep(delay);
                        if conn
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                            .is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        Self {
            port,
            posts,
            accepted,
        }
    }
}

/// Threads of this process.
pub fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// A child process killed (and reaped) when the test lets go of it, pass or panic.
pub struct Killed(pub std::process::Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A TCP port free on loopback right now.
/// A free TCP port on the loopback, below the ephemeral range (see [`free_ports`]: an outgoing
/// connection could otherwise take it before the server binds it).
pub fn free_tcp() -> u16 {
    loop {
        let base = free_ports(2);
        if std::net::TcpListener::bind(("127.0.0.1", base)).is_ok() {
            return base;
        }
    }
}

/// Poll `f` every 20 ms until it holds; fail naming `what` after `secs` seconds.
pub fn wait_for(what: &str, secs: f64, mut f: impl FnMut() -> bool) {
    let t0 = std::time::Instant::now();
    while !f() {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs_f64(secs),
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Run ffmpeg quietly (overwriting); the test fails with its arguments when ffmpeg does.
pub fn ffmpeg(args: &[&str]) {
    let ok = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-y"])
        .args(args)
        .status()
        .expect("ffmpeg runs")
        .success();
    assert!(ok, "ffmpeg {args:?}");
}

/// A test-pattern clip made by ffmpeg: H.264 (no B-frames, keyframe every `gop` frames) at
/// `size` and 25 fps for `secs` seconds, with an AAC sine of (frequency, sample rate) when
/// `audio` says so, its timestamps starting at `offset_s`. The container follows `out`'s
/// extension (`.ts`: MPEG-TS, whose segments concatenate byte for byte: [`concat`]).
pub fn test_pattern(
    out: &Path,
    (w, h): (u32, u32),
    secs: u32,
    audio: Option<(u32, u32)>,
    gop: u32,
    offset_s: u32,
) {
    let video = format!("testsrc2=size={w}x{h}:rate=25:duration={secs}");
    let mut args: Vec<String> = ["-f", "lavfi", "-i", &video]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if let Some((freq, rate)) = audio {
        let sine = format!("sine=frequency={freq}:duration={secs}:sample_rate={rate}");
        args.extend(["-f", "lavfi", "-i", &sine].map(String::from));
    }
    let gop = gop.to_string();
    args.extend(
        [
            "-c:v", "libx264", "-preset", "veryfast", "-g", &gop, "-bf", "0",
        ]
        .map(String::from),
    );
    if audio.is_some() {
        args.extend(["-c:a", "aac"].map(String::from));
    }
    if offset_s > 0 {
        args.extend(["-output_ts_offset".to_string(), offset_s.to_string()]);
    }
    args.push(out.to_str().unwrap().to_string());
    ffmpeg(&args.iter().map(String::as_str).collect::<Vec<_>>());
}

/// `a` then `b`, byte for byte, into `out` (MPEG-TS segments play as one stream).
pub fn concat(a: &Path, b: &Path, out: &Path) {
    let mut bytes = std::fs::read(a).unwrap();
    bytes.extend(std::fs::read(b).unwrap());
    std::fs::write(out, bytes).unwrap();
}

/// A calibration file of this extractor whose mapping ignores the features and answers
/// `value` on every dimension in `dims` (for checks of where calibrated scores go).
pub fn constant_calibration(path: &Path, dims: &[&str], value: f64) {
    use evalverse::score::calibrated::{EXTRACTOR_VERSION, FORMAT, feature_names};
    let names = feature_names();
    let d = names.len();
    let mapping = serde_json::json!({"weights": vec![0.0; d], "intercept": 3.0, "lambda": 1.0,
        "logistic": {"b1": 2.0 * value - 1.0, "b2": 1.0, "b3": 3.0, "b4": 1.0},
        "n_clips": 10, "n_groups": 10});
    let dims: serde_json::Map<String, Value> = dims
        .iter()
        .map(|k| (k.to_string(), mapping.clone()))
        .collect();
    let cal = serde_json::json!({
        "format": FORMAT,
        "extractor_version": EXTRACTOR_VERSION,
        "features": names,
        "normalisation": {"mean": vec![0.0; d], "sd": vec![1.0; d]},
        "scale": [1.0, 5.0],
        "dimensions": dims,
        "span_s": 5.0, "seed": 1, "labels_sha256": [], "created_by": "test"
    });
    std::fs::write(path, cal.to_string()).unwrap();
}

/// Run the evalverse binary with `args` (quiet logs) and return its output.
pub fn evalverse_cli(args: &[&str]) -> std::process::Output {
    let _stage = stage(&format!("evalverse {}", args.join(" ")), stage_s());
    std::process::Command::new(env!("CARGO_BIN_EXE_evalverse"))
        .args(args)
        .env("EVALVERSE_LOG", "error")
        .output()
        .expect("running the evalverse binary")
}

/// `http::serve` (as `evalverse serve` runs it) in-process on 127.0.0.1 with `settings` and
/// `token`, until dropped.
pub struct Server {
    pub addr: std::net::SocketAddr,
    pub rt: Option<tokio::runtime::Runtime>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub evaluator: std::sync::Arc<evalverse::evaluator::Evaluator>,
}

impl Server {
    pub fn start(settings: Settings, token: Option<&str>) -> Self {
        settings.validate().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let (evaluator, pages) = evalverse::output::sinks::served(settings, cpu_model());
        let state = evalverse::output::http::AppState::new(
            evaluator.clone(),
            evalverse::output::telemetry::install(),
            token.map(String::from),
        )
        .with_pages(pages);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        rt.spawn(evalverse::output::http::serve(
            listener,
            state,
            async move {
                let _ = rx.await;
            },
        ));
        Self {
            addr,
            rt: Some(rt),
            stop: Some(tx),
            evaluator,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.evaluator.shutdown();
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(std::time::Duration::from_secs(2));
        }
    }
}

/// An RTP target on loopback: video on `video_port`, audio two ports up (RTCP on each +1).
pub fn loopback(video_port: u16, bitrate_kbps: u32) -> evalverse::sender::RtpTarget {
    evalverse::sender::RtpTarget {
        host: "127.0.0.1".into(),
        video_port,
        audio_port: video_port + 2,
        bitrate_kbps,
    }
}

/// A stage of a test that must finish within a deadline. If it has not when the deadline
/// passes, the test binary prints which test and stage hung and exits (status 101), instead of
/// hanging until CI's limit: a GStreamer state change that never returns cannot be unwound by
/// a panic on another thread, and the rest of the binary would wait on it.
pub struct Stage {
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// Start a [`Stage`] named `what` with a deadline of `secs` seconds; it ends when dropped.
pub fn stage(what: &str, secs: u64) -> Stage {
    use std::sync::atomic::{AtomicBool, Ordering};
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    let what = what.to_string();
    std::thread::spawn(move || {
        let t0 = std::time::Instant::now();
        while !flag.load(Ordering::Relaxed) {
            if t0.elapsed() > std::time::Duration::from_secs(secs) {
                eprintln!(
                    "TIMEOUT: {test}: the stage \"{what}\" did not finish within {secs} s; \
                     stopping the test binary (a GStreamer call that never returns cannot be \
                     unwound)"
                );
                std::process::exit(101);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    });
    Stage { done }
}

impl Drop for Stage {
    fn drop(&mut self) {
        self.done.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Seconds a GStreamer stage of a test gets (generous: the suite runs tests side by side on
/// two cores): `EVALVERSE_STAGE_S`, else 300.
pub fn stage_s() -> u64 {
    std::env::var("EVALVERSE_STAGE_S")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}
