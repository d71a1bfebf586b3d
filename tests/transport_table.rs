//! The transport table of the README (issue 10): one live stream (H.264 + Opus through rtpbin
//! with RTCP) sent through a seeded UDP relay that loses, bursts, reorders, duplicates, delays
//! or cuts packets; per scenario what evalverse reported against what was injected.
//!
//! Not in CI (about 3 minutes): `cargo test --release --test transport_table -- --ignored
//! --nocapture` prints the markdown table.
mod common;
use common::*;
use evalverse::config::{Settings, StreamSettings};
use evalverse::sender::synth::{SceneSpec, irregular_cuts};
use evalverse::sender::{RtpTarget, send_synthetic};
use evalverse::vocab::Cause;
use evalverse::{Record, StreamState};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const FPS: f64 = 25.0;

struct Rng(u64);
impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

type Scenario = (
    &'static str,
    Box<dyn Fn(u64) -> Box<dyn FnMut(u64, Duration) -> Fate + Send>>,
);

/// A metric of one stream and medium from a snapshot's entries (a snapshot takes what was
/// touched since the previous one: take one per scenario).
fn metric(
    snap: &[(metrics_util::CompositeKey, DebugValue)],
    name: &str,
    stream: &str,
    medium: &str,
) -> f64 {
    snap.iter()
        .filter(|(k, _)| {
            let key = k.key();
            key.name() == name
                && key
                    .labels()
                    .any(|l| l.key() == "stream" && l.value() == stream)
                && key
                    .labels()
                    .any(|l| l.key() == "medium" && l.value() == medium)
        })
        .map(|(_, v)| match v {
            DebugValue::Counter(c) => *c as f64,
            DebugValue::Gauge(g) => g.into_inner(),
            DebugValue::Histogram(_) => 0.0,
        })
        .sum()
}

#[test]
#[ignore]
fn transport_scenarios_table() {
    let recorder = DebuggingRecorder::new();
    let snap = recorder.snapshotter();
    metrics::set_global_recorder(recorder).unwrap();
    let scenarios: Vec<Scenario> = vec![
        ("clean", Box::new(|_| Box::new(|_, _| Fate::Pass))),
        (
            "1 % random loss",
            Box::new(|seed| {
                let mut r = Rng(seed);
                Box::new(move |_, _| {
                    if r.unit() < 0.01 {
                        Fate::Drop
                    } else {
                        Fate::Pass
                    }
                })
            }),
        ),
        (
            "5 % random loss",
            Box::new(|seed| {
                let mut r = Rng(seed);
                Box::new(move |_, _| {
                    if r.unit() < 0.05 {
                        Fate::Drop
                    } else {
                        Fate::Pass
                    }
                })
            }),
        ),
        // Video only (the relay below drops 50 consecutive packets every 4 s); audio passes.
        (
            "bursts of 50 lost packets (every 4 s)",
            Box::new(|_| Box::new(|_, _| Fate::Pass)),
        ),
        (
            "reordering (10 % held 5–30 ms)",
            Box::new(|seed| {
                let mut r = Rng(seed);
                Box::new(move |_, _| {
                    if r.unit() < 0.1 {
                        Fate::Delay(Duration::from_micros(5_000 + (r.unit() * 25_000.0) as u64))
                    } else {
                        Fate::Pass
                    }
                })
            }),
        ),
        (
            "duplication (5 %)",
            Box::new(|seed| {
                let mut r = Rng(seed);
                Box::new(move |_, _| {
                    if r.unit() < 0.05 {
                        Fate::Duplicate
                    } else {
                        Fate::Pass
                    }
                })
            }),
        ),
        (
            "jitter 0–100 ms",
            Box::new(|seed| {
                let mut r = Rng(seed);
                Box::new(move |_, _| {
                    Fate::Delay(Duration::from_micros((r.unit() * 100_000.0) as u64))
                })
            }),
        ),
        (
            "10 s outage, then resume",
            Box::new(|_| {
                Box::new(|_, t: Duration| {
                    if (6.0..16.0).contains(&t.as_secs_f64()) {
                        Fate::Drop
                    } else {
                        Fate::Pass
                    }
                })
            }),
        ),
    ];
    let mut rows = vec![];
    let only: usize = std::env::var("SCENARIOS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(usize::MAX);
    for (i, (name, make)) in scenarios.iter().enumerate().take(only) {
        let base = free_ports(8);
        let stream = format!("s{i}");
        let mut settings = Settings::default();
        settings.analysis.batch_frames = 4;
        let ev = evalverse::output::sinks::evaluator(settings, cpu_model());
        let mut rx = ev.subscribe();
        let mut st = StreamSettings::rtp(&stream, Some(base), Some(base + 2));
        st.latency_ms = 200;
        ev.add_stream(st).unwrap();
        while ev.stream(&stream).unwrap().state == StreamState::Starting {
            std::thread::sleep(Duration::from_millis(20));
        }
        let stop = Arc::new(AtomicBool::new(false));
        // Bursts: the relay drops 50 consecutive video packets every 4 s (from 3 s).
        let burst = *name == "bursts of 50 lost packets (every 4 s)";
        let mut video_fate = make(0x1234 + i as u64);
        let mut next_burst = 3.0;
        let mut burst_left = 0u32;
        let video = faulty_relay(base + 4, base, stop.clone(), move |k, t| {
            if burst {
                if t.as_secs_f64() >= next_burst {
                    next_burst += 4.0;
                    burst_left = 50;
                }
                if burst_left > 0 {
                    burst_left -= 1;
                    return Fate::Drop;
                }
                return Fate::Pass;
            }
            video_fate(k, t)
        });
        let audio = faulty_relay(base + 6, base + 2, stop.clone(), make(0x5678 + i as u64));
        let rtcp_v = faulty_relay(base + 5, base + 1, stop.clone(), |_, _| Fate::Pass);
        let rtcp_a = faulty_relay(base + 7, base + 3, stop.clone(), |_, _| Fate::Pass);
        let outage = name.contains("outage");
        let spec = SceneSpec {
            width: 320,
            height: 180,
            fps: FPS as u32,
            duration_s: if outage { 26.0 } else { 20.0 },
            cuts: irregular_cuts(1.5, if outage { 26.0 } else { 20.0 }),
            seed: 31,
            ..Default::default()
        };
        let t = RtpTarget {
            host: "127.0.0.1".into(),
            video_port: base + 4,
            audio_port: base + 6,
            bitrate_kbps: 600,
        };
        let started = Instant::now();
        let mut records: Vec<Arc<Record>> = vec![];
        let sender = {
            let spec = spec.clone();
            std::thread::spawn(move || send_synthetic(&spec, &t, Arc::new(AtomicBool::new(false))))
        };
        let mut resumed_at = None;
        while !sender.is_finished() {
            while let Ok(r) = rx.try_recv() {
                if outage && resumed_at.is_none() {
                    if let Record::State(s) = &*r {
                        if s.state == StreamState::Running && started.elapsed().as_secs_f64() > 16.0
                        {
                            resumed_at = Some(started.elapsed().as_secs_f64() - 16.0);
                        }
                    }
                }
                records.push(r);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        sender.join().unwrap().unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        while let Ok(r) = rx.try_recv() {
            records.push(r);
        }
        stop.store(true, Ordering::Relaxed);
        let (vsent, vdropped, _, _) = video.join().unwrap();
        audio.join().unwrap();
        rtcp_v.join().unwrap();
        rtcp_a.join().unwrap();
        let entries: Vec<(metrics_util::CompositeKey, DebugValue)> = snap
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(k, _, _, v)| (k, v))
            .collect();
        let lost = metric(
            &entries,
            "evalverse_rtp_packets_lost_total",
            &stream,
            "video",
        );
        let recv = metric(&entries, "evalverse_rtp_packets_total", &stream, "video");
        let jitter = metric(&entries, "evalverse_rtp_jitter_seconds", &stream, "video");
        let states: Vec<String> = records
            .iter()
            .filter_map(|r| match &**r {
                Record::State(s) => Some(format!("{:?}", s.state).to_lowercase()),
                _ => None,
            })
            .collect::<Vec<_>>();
        let mut compact: Vec<String> = vec![];
        for s in states {
            if compact.last() != Some(&s) {
                compact.push(s);
            }
        }
        let detected: Vec<f64> = records
            .iter()
            .filter_map(|r| match &**r {
                Record::Cut(c) if c.cause == Cause::Content => Some(c.pts),
                _ => None,
            })
            .collect();
        // Cuts sent during the outage cannot be seen: recall is over the cuts that arrived.
        let truth: Vec<f64> = spec
            .cut_frames()
            .iter()
            .map(|f| *f as f64 / FPS)
            .filter(|t| !outage || !(5.5..16.5).contains(t))
            .collect();
        let (matched, _, _) = match_cuts(&detected, &truth, 1.0 / FPS + 2e-3);
        let content: Vec<String> = records
            .iter()
            .filter_map(|r| match &**r {
                Record::Event(e) if e.fault && !e.ongoing => Some(e.kind.as_str().to_string()),
                _ => None,
            })
            .collect();
        let transport = records
            .iter()
            .filter(
                |r| matches!(&***r, Record::Event(e) if e.cause == Cause::Transport && !e.ongoing),
            )
            .count()
            + records
                .iter()
                .filter(|r| matches!(&***r, Record::Cut(c) if c.cause == Cause::Transport))
                .count();
        let verdict = ev.stream(&stream).unwrap().verdict.verdict;
        rows.push(format!(
            "| {name} | {:.1} % | {:.1} % | {:.1} ms | {} | {} | {:.0} % / {:.0} % | {} | {transport} | {verdict} |",
            100.0 * vdropped as f64 / vsent.max(1) as f64,
            (100.0 * lost / (recv + lost).max(1.0)).max(0.0) + 0.0,
            jitter * 1000.0,
            compact.join(" → "),
            resumed_at.map(|r| format!("{r:.1} s")).unwrap_or_else(|| "–".into()),
            100.0 * matched as f64 / detected.len().max(1) as f64,
            100.0 * matched as f64 / truth.len() as f64,
            if content.is_empty() { "none".to_string() } else { content.join(", ") },
        ));
        eprintln!("{}", rows.last().unwrap());
        ev.shutdown();
    }
    println!(
        "| scenario (video and audio RTP) | video loss injected | reported | jitter reported | states | recovery after the outage | cuts precision / recall (±1 frame) | content faults | transport events and cuts | verdict |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
}
