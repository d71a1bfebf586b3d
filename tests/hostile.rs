//! Hostile datagrams on live ports (issue 9 §3): 100 000 random and mutated datagrams sprayed
//! at one stream's RTP and RTCP ports — valid headers with garbage payloads, truncated
//! headers, lying CSRC counts and padding, random SSRCs, fake sender reports — while a second
//! stream runs: no panic, bounded memory, and the second stream loses nothing. Junk on an RTCP
//! port never puts a stream on the sender's clock.
mod common;
use common::*;
use evalverse::config::{Settings, StreamSettings};
use evalverse::ingest::{Ingest, Source};
use evalverse::sender::send_synthetic;
use evalverse::sender::synth::{SceneSpec, irregular_cuts};
use evalverse::{Record, StreamState};
use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A small seeded generator (xorshift64*): the same spray every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// One hostile RTP datagram of kind `k`.
fn rtp_junk(r: &mut Rng, k: u64, pt: u8) -> Vec<u8> {
    let header = |r: &mut Rng, first: u8, pt: u8| {
        let mut h = vec![first, pt];
        h.extend((r.next() as u16).to_be_bytes());
        h.extend((r.next() as u32).to_be_bytes());
        h.extend((r.next() as u32).to_be_bytes()); // a random SSRC
        h
    };
    match k % 5 {
        // A valid header of the stream's payload type, garbage payload.
        0 => {
            let mut d = header(r, 0x80, pt);
            let n = r.below(1400) as usize;
            d.extend(r.bytes(n));
            d
        }
        // Truncated header.
        1 => {
            let mut d = header(r, 0x80, pt);
            d.truncate(r.below(12) as usize);
            d
        }
        // A CSRC count beyond the datagram.
        2 => {
            let mut d = header(r, 0x80 | 15, pt);
            let n = r.below(40) as usize;
            d.extend(r.bytes(n));
            d
        }
        // Padding whose count exceeds the payload, and an extension flag with no extension.
        3 => {
            let mut d = header(r, 0x80 | 0x20 | 0x10, pt);
            let n = r.below(8) as usize;
            d.extend(r.bytes(n));
            d.push(255);
            d
        }
        // Anything.
        _ => {
            let n = r.below(1500) as usize;
            r.bytes(n)
        }
    }
}

/// One hostile RTCP datagram: random bytes, or a well-formed sender report from a random SSRC,
/// or one that lies about its length.
fn rtcp_junk(r: &mut Rng, k: u64) -> Vec<u8> {
    match k % 3 {
        0 => {
            let n = r.below(200) as usize;
            r.bytes(n)
        }
        1 => {
            let mut d = vec![0x80, 200, 0, 6];
            d.extend((r.next() as u32).to_be_bytes());
            d.extend(r.bytes(20));
            d
        }
        _ => {
            let mut d = vec![0x80, 200, 0xff, 0xff];
            d.extend(r.bytes(24));
            d
        }
    }
}

fn vm_rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: f64 = s
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

#[test]
fn junk_on_the_rtcp_ports_does_not_put_a_stream_on_the_sender_clock() {
    let base = free_ports(4);
    let s = StreamSettings::rtp("rtcp", Some(base), Some(base + 2));
    let ingest = Ingest::start(
        Arc::from("rtcp"),
        &Source::Live(s),
        &Settings::default().analysis,
        64,
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut r = Rng(0x5eed_1234);
    for k in 0..3000 {
        let port = if k % 2 == 0 { base + 1 } else { base + 3 };
        sock.send_to(&rtcp_junk(&mut r, k), ("127.0.0.1", port))
            .unwrap();
        if k % 10 == 0 {
            // Paced: an RTCP socket's receive buffer is small.
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !ingest.rtcp_seen(),
        "junk put the stream on the sender clock"
    );
    let junk = ingest
        .stats
        .rtcp_junk
        .load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("measured: {junk} of 3000 junk RTCP datagrams dropped before rtpbin");
    // A third of the spray is random bytes (the rest: RTCP-shaped lies, passed on to rtpbin,
    // which cannot make them count either).
    assert!(junk >= 750, "{junk}");

    // The positive control: a real sender's reports do.
    let spec = SceneSpec {
        width: 160,
        height: 90,
        duration_s: 7.0,
        ..Default::default()
    };
    let target = common::loopback(base, 300);
    let _stage = stage("sending the synthetic sequence", stage_s());
    send_synthetic(&spec, &target, Arc::new(AtomicBool::new(false))).unwrap();
    assert!(ingest.rtcp_seen(), "a real sender's reports are accepted");
}

#[test]
fn a_spray_of_hostile_datagrams_hurts_no_other_stream() {
    let base = free_ports(8);
    let mut settings = Settings::default();
    settings.analysis.batch_frames = 4;
    let ev = evalverse::output::sinks::evaluator(settings, cpu_model());
    let mut rx = ev.subscribe();
    let mut good = StreamSettings::rtp("good", Some(base), Some(base + 2));
    good.latency_ms = 150;
    ev.add_stream(good).unwrap();
    let mut target = StreamSettings::rtp("target", Some(base + 4), Some(base + 6));
    target.stall_timeout_s = 1.0;
    ev.add_stream(target).unwrap();
    let t0 = Instant::now();
    while ["good", "target"]
        .iter()
        .any(|n| ev.stream(n).unwrap().state == StreamState::Starting)
    {
        assert!(t0.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(20));
    }
    let rss0 = vm_rss_mib();
    let sending = Arc::new(AtomicBool::new(true));
    let sender = {
        let sending = sending.clone();
        std::thread::spawn(move || {
            let spec = SceneSpec {
                width: 320,
                height: 180,
                fps: 25,
                duration_s: 14.0,
                cuts: irregular_cuts(1.5, 14.0),
                ..Default::default()
            };
            let target = common::loopback(base, 600);
            let r = send_synthetic(&spec, &target, Arc::new(AtomicBool::new(false)));
            sending.store(false, Ordering::Relaxed);
            r
        })
    };
    // 100 000 datagrams over about 8 s: RTP ports 70 %, RTCP ports 30 %.
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut r = Rng(0xbad_5eed);
    let started = Instant::now();
    let mut rss_max: f64 = rss0;
    let mut rss_half = 0.0;
    for k in 0..100_000u64 {
        if k == 50_000 {
            rss_half = vm_rss_mib();
        }
        let (port, d) = match k % 10 {
            0..=3 => (base + 4, rtp_junk(&mut r, k / 10, 96)),
            4..=6 => (base + 6, rtp_junk(&mut r, k / 10, 97)),
            7 | 8 => (base + 5, rtcp_junk(&mut r, k / 10)),
            _ => (base + 7, rtcp_junk(&mut r, k / 10)),
        };
        let _ = sock.send_to(&d, ("127.0.0.1", port));
        if k % 2500 == 0 {
            // Pace to ~12 500 datagrams a second; watch memory as we go.
            let due = Duration::from_micros(80 * k);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
            rss_max = rss_max.max(vm_rss_mib());
        }
    }
    let spray_s = started.elapsed().as_secs_f64();
    let rss_end = vm_rss_mib();
    let mut records: Vec<Arc<Record>> = vec![];
    while sending.load(Ordering::Relaxed) {
        while let Ok(rec) = rx.try_recv() {
            records.push(rec);
        }
        rss_max = rss_max.max(vm_rss_mib());
        std::thread::sleep(Duration::from_millis(50));
    }
    sender.join().unwrap().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    while let Ok(rec) = rx.try_recv() {
        records.push(rec);
    }
    let good = ev.stream("good").unwrap();
    let target = ev.stream("target").unwrap();
    let good_windows = records
        .iter()
        .filter(|r| matches!(r.as_ref(), Record::Window(w) if w.stream == "good"))
        .count();
    eprintln!(
        "measured: 100 000 datagrams in {spray_s:.1} s; good: {} frames, {} dropped, {good_windows} windows; target: {:?} ({}); RSS {rss0:.0} MiB before, {rss_half:.0} after 50 000, {rss_end:.0} after 100 000, max {rss_max:.0}",
        good.frames, good.dropped_frames, target.state, target.message
    );
    assert_eq!(good.dropped_frames, 0, "the healthy stream dropped frames");
    assert!(good.frames >= 300, "good stream got {} frames", good.frames);
    assert!(good_windows >= 8, "{good_windows} windows");
    // Bounded: the second 50 000 datagrams cost no more memory than noise (a stream's own
    // decoding and buffers come with the first seconds, whatever arrives).
    assert!(
        rss_end - rss_half < 25.0,
        "memory grew with the spray: {rss_half:.0} → {rss_end:.0} MiB"
    );
    assert!(rss_max - rss0 < 200.0, "{rss0:.0} → {rss_max:.0} MiB");
    // The evaluator is still there to answer, and the target is reported, not gone.
    assert!(ev.stream("target").is_some());
}
