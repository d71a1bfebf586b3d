//! Long runs: an accelerated soak of one stream through the in-process feed (the trainer's path:
//! no encoding, no decoding), so hours of stream time run in minutes.
//!
//! The stream is a calm 60 s sequence (cuts with beeps every 2–4 s, audio in sync) repeated,
//! with the same event-rich 30 s segment near the start and near the end (cuts with beeps,
//! audio 120 ms late, a freeze, black, a flash, a silence, flicker). Frames are 64x36 and are
//! rendered once and reused, so the run costs what the evaluator costs.
//!
//! Checked: the cost per window (CPU time of the evaluating thread) of the last part is within
//! 20 % of the first part's (50 % for CI's short parts); every per-stream structure
//! ([`StreamEvaluator::state_sizes`]) holds no more entries at the end than it did after the
//! first part; the late segment's cuts, events and sync delay are exactly the early one's;
//! and the summary's counts add up.
//!
//! - CI: `soak_2_hours_of_stream_time` (2 h of stream time, 180 000 frames, ~10 s).
//! - Long: `EVALVERSE_SOAK_S=86400 cargo test --release --test soak -- --ignored --nocapture`
//!   (24 h of stream time; the figures are in README, "Long runs").
use evalverse::config::AnalysisSettings;
use evalverse::evaluator::{StreamEvaluator, Timing};
use evalverse::model::Model;
use evalverse::score::record::Record;
use evalverse::sender::synth::SceneSpec;
use evalverse::types::{AudioChunk, Media, VideoFrame};
use std::collections::BTreeMap;
use std::time::Instant;

const W: usize = 64;
const H: usize = 36;
const FPS: u32 = 25;
const FILLER_S: f64 = 60.0;
const RICH_S: f64 = 30.0;
/// Audio delay of the event-rich segment, ms.
const RICH_DELAY_MS: f64 = 120.0;
/// Cost and memory are compared over parts of this length at the start and at the end: an
/// hour in runs of 4 h or more, else 5 minutes.
fn part_s(total_s: f64) -> f64 {
    if total_s >= 4.0 * 3600.0 {
        3600.0
    } else {
        300.0
    }
}

/// A rendered segment: I420 planes and 16 kHz audio, one chunk per frame.
struct Segment {
    frames: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)>,
    audio: Vec<Vec<f32>>,
}

fn render(spec: &SceneSpec, rate: u32) -> Segment {
    let luma = W * H;
    let chroma = W.div_ceil(2) * H.div_ceil(2);
    let factor = (48_000 / rate) as usize;
    let per_frame = rate as usize / FPS as usize;
    let mut buf = vec![];
    let mut hi = vec![];
    let mut seg = Segment {
        frames: vec![],
        audio: vec![],
    };
    let scene = spec.scene().unwrap();
    for n in 0..spec.frames() {
        scene.render(n, &mut buf);
        seg.frames.push((
            buf[..luma].to_vec(),
            buf[luma..luma + chroma].to_vec(),
            buf[luma + chroma..].to_vec(),
        ));
        scene.audio(n * (per_frame * factor) as u64, per_frame * factor, &mut hi);
        seg.audio.push(
            hi.chunks_exact(factor)
                .map(|c| c.iter().sum::<f32>() / factor as f32)
                .collect(),
        );
    }
    seg
}

fn filler() -> SceneSpec {
    SceneSpec {
        width: W,
        height: H,
        fps: FPS,
        duration_s: FILLER_S,
        cuts: evalverse::sender::synth::irregular_cuts(1.5, FILLER_S - 1.0),
        seed: 11,
        ..Default::default()
    }
}

fn rich() -> SceneSpec {
    SceneSpec {
        width: W,
        height: H,
        fps: FPS,
        duration_s: RICH_S,
        cuts: vec![
            1.0, 2.2, 3.1, 4.7, 5.4, 7.0, 8.3, 9.1, 14.6, 16.0, 17.3, 21.0, 22.6, 26.1,
        ],
        flashes: vec![19.2],
        audio_delay_ms: RICH_DELAY_MS,
        freeze: vec![(10.2, 12.4)],
        black: vec![(23.4, 24.6)],
        silence: vec![(27.0, 28.2)],
        flicker: vec![(12.9, 14.0)],
        seed: 5,
        ..Default::default()
    }
}

/// What a segment of the stream gave, with times relative to the segment's start (ms).
#[derive(Debug, Default, PartialEq)]
struct Found {
    cuts: Vec<(String, i64)>,
    events: Vec<(String, i64, i64)>,
    /// Committed delays of the windows inside the segment (window end, delay ms).
    sync: Vec<(i64, i64)>,
}

#[derive(Debug)]
struct Report {
    /// CPU seconds of the evaluating thread per window, per minute of stream time.
    cost_per_window: Vec<f64>,
    /// State sizes after the first part, at their largest, and at the end.
    sizes_first: BTreeMap<&'static str, usize>,
    sizes_max: BTreeMap<&'static str, usize>,
    sizes_end: BTreeMap<&'static str, usize>,
    rss_first_kib: u64,
    rss_end_kib: u64,
    early: Found,
    late: Found,
    windows: usize,
    frames: u64,
    wall_s: f64,
    summary: serde_json::Value,
}

fn thread_cpu_s() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn ms(t: f64) -> i64 {
    (t * 1000.0).round() as i64
}

/// Collect what the records say about `[from, from + RICH_S)`.
fn found_in(records: &[Record], from: f64, horizon: f64) -> Found {
    let to = from + RICH_S;
    let mut f = Found::default();
    for r in records {
        match r {
            Record::Cut(c) if c.pts >= from && c.pts < to => {
                f.cuts.push((format!("{:?}", c.kind), ms(c.pts - from)));
            }
            Record::Event(e) if !e.ongoing && e.start >= from && e.start < to => {
                f.events.push((
                    e.kind.as_str().to_string(),
                    ms(e.start - from),
                    ms(e.end - from),
                ));
            }
            Record::Window(w) if w.end - horizon >= from - 1e-6 && w.end <= to + 1e-6 => {
                if let Some(d) = w.sync.as_ref().and_then(|s| s.audio_delay_ms) {
                    f.sync.push((ms(w.end - from), d.round() as i64));
                }
            }
            _ => {}
        }
    }
    f
}

fn soak(total_s: f64) -> Report {
    let a = AnalysisSettings::default();
    let model = Model::new(evalverse::config::BackendChoice::Cpu).unwrap();
    let mut ev = StreamEvaluator::new("soak".into(), &a, &[], model, true, Timing::File);
    ev.set_media(Media {
        video: true,
        audio: true,
    });
    let (fill, rich_spec) = (
        render(&filler(), a.audio_rate),
        render(&rich(), a.audio_rate),
    );
    let early_at = FILLER_S;
    // The late segment starts on the filler's loop boundary, as the early one does.
    let late_at = ((total_s - RICH_S - FILLER_S) / FILLER_S).floor() * FILLER_S + RICH_S;
    assert!(late_at > early_at + part_s(total_s), "too short a soak");
    let frame_s = 1.0 / FPS as f64;
    let n_frames = (total_s * FPS as f64).round() as u64;
    let chunk = rich_spec.audio[0].len();

    let mut out = vec![];
    let mut kept = vec![];
    let mut report = Report {
        cost_per_window: vec![],
        sizes_first: BTreeMap::new(),
        sizes_max: BTreeMap::new(),
        sizes_end: BTreeMap::new(),
        rss_first_kib: 0,
        rss_end_kib: 0,
        early: Found::default(),
        late: Found::default(),
        windows: 0,
        frames: 0,
        wall_s: 0.0,
        summary: serde_json::Value::Null,
    };
    let keep_from = |t: f64, at: f64| t >= at - 20.0 && t < at + RICH_S + 20.0;
    let started = Instant::now();
    let (mut block_cpu, mut block_windows) = (0.0, 0usize);
    for n in 0..n_frames {
        let pts = n as f64 * frame_s;
        let (seg, k) = if pts >= early_at && pts < early_at + RICH_S {
            (&rich_spec, n - (early_at * FPS as f64) as u64)
        } else if pts >= late_at && pts < late_at + RICH_S {
            (&rich_spec, n - (late_at * FPS as f64) as u64)
        } else {
            // Filler, looping; it resumes after a rich segment where it left off.
            let rich_before = if pts >= late_at + RICH_S {
                2
            } else if pts >= early_at + RICH_S {
                1
            } else {
                0
            };
            let m = n - rich_before * (RICH_S * FPS as f64) as u64;
            (&fill, m % fill.frames.len() as u64)
        };
        let (y, cb, cr) = &seg.frames[k as usize];
        let t0 = thread_cpu_s();
        ev.push_video(
            VideoFrame {
                index: n,
                pts,
                duration: Some(frame_s),
                width: W,
                height: H,
                luma: y.clone(),
                cb: cb.clone(),
                cr: cr.clone(),
                arrival: Instant::now(),
                damaged: false,
                face: None,
                face_demand: None,
            },
            &mut out,
        );
        ev.push_audio(
            AudioChunk {
                pts,
                rate: a.audio_rate,
                samples: seg.audio[k as usize].clone(),
                arrival: Instant::now(),
                damaged: false,
            },
            &mut out,
        );
        block_cpu += thread_cpu_s() - t0;
        debug_assert_eq!(chunk, seg.audio[k as usize].len());
        for r in out.drain(..) {
            if let Record::Window(_) = &r {
                block_windows += 1;
                report.windows += 1;
            }
            let t = match &r {
                Record::Cut(c) => c.pts,
                Record::Event(e) => e.start,
                Record::Window(w) => w.end,
                _ => -1.0,
            };
            if keep_from(t, early_at) || keep_from(t, late_at) {
                kept.push(r);
            }
        }
        // Per minute of stream time: cost per window, state sizes, memory.
        if (n + 1) % (60 * FPS as u64) == 0 {
            if block_windows > 0 {
                report
                    .cost_per_window
                    .push(block_cpu / block_windows as f64);
            }
            (block_cpu, block_windows) = (0.0, 0);
            let sizes: BTreeMap<_, _> = ev.state_sizes().into_iter().collect();
            for (k, v) in &sizes {
                let m = report.sizes_max.entry(k).or_insert(0);
                *m = (*m).max(*v);
            }
            let minute = (n + 1) / (60 * FPS as u64);
            if minute as f64 * 60.0 == part_s(total_s) {
                report.sizes_first = sizes.clone();
                report.rss_first_kib = rss_kib();
            }
            if minute % 60 == 0 {
                eprintln!(
                    "soak: {minute} min of stream time in {:.0} s, cost/window {:.3} ms, rss {} MiB, sizes {sizes:?}",
                    started.elapsed().as_secs_f64(),
                    report.cost_per_window.last().copied().unwrap_or(0.0) * 1000.0,
                    rss_kib() / 1024
                );
            }
        }
    }
    ev.finish(&mut out);
    report.frames = ev.frames;
    report.sizes_end = ev.state_sizes().into_iter().collect();
    report.rss_end_kib = rss_kib();
    report.wall_s = started.elapsed().as_secs_f64();
    for r in out.drain(..) {
        if let Record::Summary(s) = &r {
            report.summary = serde_json::to_value(s).unwrap();
        }
        kept.push(r);
    }
    report.early = found_in(&kept, early_at, a.sync_horizon_s);
    report.late = found_in(&kept, late_at, a.sync_horizon_s);
    report
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn check(r: &Report, total_s: f64) {
    let part = (part_s(total_s) / 60.0) as usize;
    // The first minute warms caches and allocators up: it is left out of the first part. The
    // median of the per-minute costs is compared (a busy neighbour on the machine can spoil a
    // minute); the means are reported beside it.
    let (first_part, last_part) = (
        &r.cost_per_window[1..part],
        &r.cost_per_window[r.cost_per_window.len() - part..],
    );
    let first = median(first_part);
    let last = median(last_part);
    let ratio = last / first;
    eprintln!(
        "SOAK means: first part {:.3} ms, last part {:.3} ms per window",
        mean(first_part) * 1000.0,
        mean(last_part) * 1000.0
    );
    eprintln!("SOAK summary: {}", r.summary);
    eprintln!(
        "SOAK stream={:.0}s frames={} windows={} wall={:.1}s ({:.0}x real time) cost/window first={:.3}ms last={:.3}ms ratio={ratio:.3} rss first={}KiB end={}KiB",
        total_s,
        r.frames,
        r.windows,
        r.wall_s,
        total_s / r.wall_s,
        first * 1000.0,
        last * 1000.0,
        r.rss_first_kib,
        r.rss_end_kib
    );
    eprintln!(
        "SOAK sizes after {:.0} s: {:?}\nSOAK sizes max: {:?}\nSOAK sizes end: {:?}",
        part_s(total_s),
        r.sizes_first,
        r.sizes_max,
        r.sizes_end
    );
    eprintln!("SOAK early {:?}\nSOAK late  {:?}", r.early, r.late);
    // Cost must not grow with the stream's age. The two-sided bound holds for the hour-long
    // parts of the long run; CI's 5-minute parts last half a second of wall time each on a
    // shared machine, where a faster end (caches warm, a quieter neighbour) says nothing about
    // growth.
    // Likewise the upper bound: CI's parts measured 1.38 once on a busy shared host (flat state
    // sizes; 0.91 on a rerun), so they get 1.5 — growth with age over 2 h of stream time
    // still shows as a multiple, and the hour-long parts keep 1.2.
    let (lower, upper) = if part_s(total_s) >= 3600.0 {
        (0.8, 1.2)
    } else {
        (0.0, 1.5)
    };
    assert!(
        (lower..=upper).contains(&ratio),
        "cost per window: last part {last:.6} s vs first {first:.6} s"
    );
    // Flat state: nothing holds more entries than it did early on (plus the rich segment's
    // share, which the first part also had).
    for (k, end) in &r.sizes_end {
        let max = r.sizes_max[k];
        let first = r.sizes_first.get(k).copied().unwrap_or(0);
        assert!(
            max <= first.max(1) * 2 + 64,
            "{k}: {max} entries at most vs {first} after the first part"
        );
        assert!(
            *end <= first.max(1) * 2 + 64,
            "{k}: {end} entries at the end vs {first}"
        );
    }
    // The late event-rich segment is found exactly as the early one.
    assert!(r.early.cuts.len() >= 12, "{:?}", r.early);
    for kind in ["freeze", "black", "silence", "flash", "flicker"] {
        assert!(
            r.early.events.iter().any(|e| e.0 == kind),
            "no {kind} in the early segment: {:?}",
            r.early.events
        );
    }
    assert!(
        r.early
            .sync
            .iter()
            .any(|(_, d)| (d - RICH_DELAY_MS as i64).abs() <= 2),
        "the early segment's windows commit to its delay: {:?}",
        r.early.sync
    );
    assert_eq!(r.early, r.late, "early and late segments differ");
    // The summary's running counts cover the whole stream.
    let s = &r.summary;
    assert_eq!(s["windows"].as_u64().unwrap() as usize, r.windows);
    assert_eq!(s["frames"].as_u64().unwrap(), r.frames);
    let fillers = (total_s - 2.0 * RICH_S) / FILLER_S;
    let cuts =
        s["cuts"]["hard"].as_u64().unwrap() as f64 + s["cuts"]["gradual"].as_u64().unwrap() as f64;
    assert!(
        cuts >= fillers * filler().cuts.len() as f64,
        "{cuts} cuts for {fillers} fillers: {s}"
    );
    assert!(s["events"]["freeze"].as_u64().unwrap() >= 2, "{s}");
    // RSS: the evaluator's state is flat; allow the allocator some slack.
    assert!(
        r.rss_end_kib <= r.rss_first_kib + 32 * 1024,
        "RSS grew from {} to {} KiB",
        r.rss_first_kib,
        r.rss_end_kib
    );
}

#[test]
fn soak_2_hours_of_stream_time() {
    let total = 2.0 * 3600.0;
    let r = soak(total);
    check(&r, total);
}

/// `EVALVERSE_SOAK_S=86400 cargo test --release --test soak -- --ignored --nocapture`
#[test]
#[ignore = "long: 24 h of stream time by default (EVALVERSE_SOAK_S)"]
fn soak_long() {
    let total: f64 = std::env::var("EVALVERSE_SOAK_S")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(86_400.0);
    let r = soak(total);
    check(&r, total);
}

/// One frame of picture, then an hour of sound alone (a quiet tone, 20 ms chunks at the
/// analysis rate and at 48 kHz stereo, as the file pipeline delivers them): windows go on over
/// the sound, and no per-stream structure holds more at the end than after the first 5 minutes.
#[test]
fn sound_alone_after_the_picture_holds_nothing_back() {
    use evalverse::types::SoundChunk;
    use evalverse::window::timeline::Medium;
    let a = AnalysisSettings::default();
    let model = Model::new(evalverse::config::BackendChoice::Cpu).unwrap();
    let mut ev = StreamEvaluator::new("sound".into(), &a, &[], model, false, Timing::File);
    ev.set_media(Media {
        video: true,
        audio: true,
    });
    let mut out = vec![];
    let (w, h) = (64usize, 36usize);
    ev.push_video(
        VideoFrame {
            index: 0,
            pts: 0.0,
            duration: Some(0.04),
            width: w,
            height: h,
            luma: vec![128; w * h],
            cb: vec![128; w * h / 4],
            cr: vec![128; w * h / 4],
            arrival: Instant::now(),
            damaged: false,
            face: None,
            face_demand: None,
        },
        &mut out,
    );
    ev.end_medium(Medium::Video, &mut out);
    let total_s = 3600.0;
    let chunk_s = 0.02;
    let tone = |rate: u32, n: usize, t0: f64, ch: usize| -> Vec<f32> {
        (0..n * ch)
            .map(|i| {
                let t = t0 + (i / ch) as f64 / rate as f64;
                (0.05 * (2.0 * std::f64::consts::PI * 300.0 * t).sin()) as f32
            })
            .collect()
    };
    let (mut windows, mut first, mut rss_first) = (0usize, BTreeMap::new(), 0u64);
    let n_chunks = (total_s / chunk_s) as u64;
    for k in 0..n_chunks {
        let pts = k as f64 * chunk_s;
        let n = (a.audio_rate as f64 * chunk_s).round() as usize;
        ev.push_audio(
            AudioChunk {
                pts,
                rate: a.audio_rate,
                samples: tone(a.audio_rate, n, pts, 1),
                arrival: Instant::now(),
                damaged: false,
            },
            &mut out,
        );
        ev.push_sound(
            SoundChunk {
                pts,
                rate: 48_000,
                channels: 2,
                samples: tone(48_000, 960, pts, 2),
            },
            &mut out,
        );
        windows += out
            .drain(..)
            .filter(|r| matches!(r, Record::Window(_)))
            .count();
        if (k + 1) as f64 * chunk_s == 300.0 {
            first = ev.state_sizes().into_iter().collect::<BTreeMap<_, _>>();
            rss_first = rss_kib();
        }
    }
    let end: BTreeMap<_, _> = ev.state_sizes().into_iter().collect();
    let rss_end = rss_kib();
    eprintln!(
        "measured: {windows} windows over {total_s} s of sound after one frame; RSS {rss_first} → {rss_end} KiB; sizes at 5 min {first:?}, at the end {end:?}"
    );
    assert!(windows as f64 >= total_s - 10.0, "{windows} windows");
    for (k, v) in &end {
        assert!(*v <= first[k] + 16, "{k} grew from {} to {v}", first[k]);
    }
    assert!(
        rss_end <= rss_first + 32 * 1024,
        "RSS grew from {rss_first} to {rss_end} KiB"
    );
}
