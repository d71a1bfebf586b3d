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
pub fn free_ports(n: u16) -> u16 {
    for _ in 0..200 {
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        let base = probe.local_addr().unwrap().port() & !1;
        drop(probe);
        if base < 1024 || base > 65_000 - n {
            continue;
        }
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
    let path = dir.join(format!("{name}.mp4"));
    evalverse::sender::write_synthetic(spec, &path).expect("writing the test clip");
    assert!(std::fs::metadata(&path).unwrap().len() > 10_000);
    path
}

/// Evaluate a file and return its records as JSON values (through the JSON contract).
pub fn eval_json(path: &Path, a: &Settings) -> (Vec<Value>, Result<(), String>) {
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
