//! The `sound` dimension through the real ingest (`evalverse eval`, GStreamer decoding the
//! file, the `sound` branch at the file's own rate and layout): EBU Tech 3341-style signals read
//! back within ±0.1 LU and true peak within ±0.2 dB, cross-checked against ffmpeg's `ebur128`
//! filter on a stereo, a mono and a 5.1 file; and clipping and dropouts injected at known
//! samples found within 20 ms, after an AAC round trip too, with clean versions silent and the
//! clipped time growing with the overdrive.
mod common;
use serde_json::Value;
use std::f64::consts::PI;
use std::path::{Path, PathBuf};

const RATE: u32 = 48000;

/// A 32-bit float WAV file of interleaved `samples`.
fn wav(path: &Path, rate: u32, channels: u16, samples: &[f32]) {
    let data = (samples.len() * 4) as u32;
    let mut b = Vec::with_capacity(44 + data as usize);
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&3u16.to_le_bytes()); // IEEE float
    b.extend_from_slice(&channels.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * 4 * channels as u32).to_le_bytes());
    b.extend_from_slice(&(4 * channels).to_le_bytes());
    b.extend_from_slice(&32u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data.to_le_bytes());
    for s in samples {
        b.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(path, b).unwrap();
}

/// `f(t)` on every one of `channels`, `secs` long.
fn signal(secs: f64, channels: usize, f: impl Fn(f64) -> f64) -> Vec<f32> {
    (0..(secs * RATE as f64) as usize)
        .flat_map(|i| std::iter::repeat_n(f(i as f64 / RATE as f64) as f32, channels))
        .collect()
}

fn eval(path: &Path) -> Vec<Value> {
    let out =
        common::evalverse_cli(&["eval", path.to_str().unwrap(), "--json", "--backend", "cpu"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn summary(records: &[Value]) -> &Value {
    records
        .iter()
        .find(|r| r["type"] == "summary")
        .expect("summary")
}

fn events<'a>(records: &'a [Value], kind: &str) -> Vec<&'a Value> {
    records
        .iter()
        .filter(|r| r["type"] == "event" && r["kind"] == kind)
        .collect()
}

/// ffmpeg's EBU R 128 reading of a file: (integrated LUFS, true peak dBTP).
fn ffmpeg_r128(path: &Path) -> (f64, f64) {
    let out = std::process::Command::new("ffmpeg")
        .args(["-nostats", "-hide_banner", "-i"])
        .arg(path)
        .args(["-af", "ebur128=peak=true", "-f", "null", "-"])
        .output()
        .expect("ffmpeg");
    let text = String::from_utf8_lossy(&out.stderr);
    let summary = text.rsplit("Summary:").next().unwrap();
    let after = |key: &str| -> f64 {
        let rest = summary
            .split(key)
            .nth(1)
            .unwrap_or_else(|| panic!("{key} in {summary}"));
        rest.split_whitespace().next().unwrap().parse().unwrap()
    };
    (after("I:"), after("Peak:"))
}

fn aac(wav: &Path, out: &Path) -> PathBuf {
    common::ffmpeg(&[
        "-y",
        "-loglevel",
        "error",
        "-i",
        wav.to_str().unwrap(),
        "-c:a",
        "aac",
        "-b:a",
        "192k",
        out.to_str().unwrap(),
    ]);
    out.to_path_buf()
}

#[test]
fn tech_3341_signals_read_back_within_a_tenth_of_a_lu_and_agree_with_ffmpeg() {
    let dir = tempfile::tempdir().unwrap();
    let amp = 10f64.powf(-23.0 / 20.0);
    // Case 1: stereo 1 kHz at −23 dBFS per channel → −23.0 LUFS, true peak −23.0 dBTP.
    let stereo = dir.path().join("case1.wav");
    wav(
        &stereo,
        RATE,
        2,
        &signal(20.0, 2, |t| amp * (2.0 * PI * 1000.0 * t).sin()),
    );
    let r = eval(&stereo);
    let s = &summary(&r)["sound"];
    eprintln!("stereo: {s}");
    assert_eq!(s["channels"], 2);
    assert_eq!(s["rate"], RATE);
    let i = s["integrated_lufs"].as_f64().unwrap();
    assert!((i + 23.0).abs() <= 0.1, "integrated {i}");
    assert!(
        (s["true_peak_dbtp"].as_f64().unwrap() + 23.0).abs() <= 0.2,
        "{s}"
    );
    let windows: Vec<&Value> = r.iter().filter(|w| w["type"] == "window").collect();
    let late = windows.iter().filter(|w| w["end"].as_f64().unwrap() > 5.0);
    for w in late {
        let st = w["sound"]["short_term_lufs"].as_f64().unwrap();
        assert!((st + 23.0).abs() <= 0.1, "short-term {st} in {w}");
        assert_eq!(w["scores"]["sound"], 100.0);
    }
    let (ff_i, _) = ffmpeg_r128(&stereo);
    assert!((i - ff_i).abs() <= 0.1, "ours {i}, ffmpeg {ff_i}");

    // True peak between samples: 12 kHz at 48 kHz with a 45° phase has sample peaks of
    // a·0.707 but a true peak of a (here −6.02 dBTP, samples at −9.03 dBFS).
    let inter = dir.path().join("intersample.wav");
    wav(
        &inter,
        RATE,
        2,
        &signal(10.0, 2, |t| 0.5 * (2.0 * PI * 12000.0 * t + PI / 4.0).sin()),
    );
    let tp = summary(&eval(&inter))["sound"]["true_peak_dbtp"]
        .as_f64()
        .unwrap();
    assert!((tp + 6.02).abs() <= 0.2, "true peak {tp}");

    // Mono (counted once, as BS.1770 weights a single front channel) and 5.1 (the LFE
    // excluded), each against ffmpeg's reading of the same file.
    for (name, channels) in [("mono", 1usize), ("surround", 6)] {
        let p = dir.path().join(format!("{name}.wav"));
        let mut x = signal(12.0, channels, |t| {
            0.1 * (2.0 * PI * 440.0 * t).sin() * (1.0 + 0.5 * (2.0 * PI * 0.3 * t).sin())
        });
        if channels == 6 {
            // Different levels per channel, so a wrong channel map would show.
            for (k, v) in x.iter_mut().enumerate() {
                *v *= [1.0, 0.5, 0.8, 1.0, 0.3, 0.6][k % 6];
            }
        }
        wav(&p, RATE, channels as u16, &x);
        let ours = summary(&eval(&p))["sound"].clone();
        let (ff_i, ff_tp) = ffmpeg_r128(&p);
        eprintln!("{name}: ours {ours}, ffmpeg I {ff_i} TP {ff_tp}");
        let i = ours["integrated_lufs"].as_f64().unwrap();
        assert!((i - ff_i).abs() <= 0.1, "{name}: ours {i}, ffmpeg {ff_i}");
        let tp = ours["true_peak_dbtp"].as_f64().unwrap();
        assert!(
            (tp - ff_tp).abs() <= 0.2,
            "{name}: ours {tp}, ffmpeg {ff_tp}"
        );
    }
}

/// A speech-like programme: a 220 Hz tone with syllable-rate amplitude at −18 dBFS peaks.
fn programme(t: f64) -> f64 {
    0.125 * (2.0 * PI * 220.0 * t).sin() * (0.6 + 0.4 * (2.0 * PI * 3.0 * t).sin())
}

#[test]
fn clipping_and_dropouts_are_found_where_they_were_made() {
    let dir = tempfile::tempdir().unwrap();
    // Clean: no sound events, score 100 everywhere.
    let clean = dir.path().join("clean.wav");
    wav(&clean, RATE, 2, &signal(8.0, 2, programme));
    let r = eval(&clean);
    for k in ["clipping", "dropout", "loudness_jump"] {
        assert!(events(&r, k).is_empty(), "clean: {k}: {:?}", events(&r, k));
    }
    // Overdrive by `gain` between 3.000 and 5.000 s (hard clip at full scale), and a 40 ms hole
    // at 6.250 s.
    let faulty = |gain: f64| {
        move |t: f64| {
            if (6.25..6.29).contains(&t) {
                return 0.0;
            }
            let g = if (3.0..5.0).contains(&t) { gain } else { 1.0 };
            (g * programme(t)).clamp(-1.0, 1.0)
        }
    };
    let mut clipped_ms = vec![];
    for gain in [12.0, 20.0, 40.0] {
        let p = dir.path().join(format!("clip{gain}.wav"));
        wav(&p, RATE, 2, &signal(8.0, 2, faulty(gain)));
        let r = eval(&p);
        let clips = events(&r, "clipping");
        assert_eq!(clips.len(), 1, "gain {gain}: {clips:?}");
        let start = clips[0]["start"].as_f64().unwrap();
        // The first sample over full scale: where |gain · programme| first reaches 1.
        let first = (0..(2.0 * RATE as f64) as usize)
            .map(|i| 3.0 + i as f64 / RATE as f64)
            .find(|t| (gain * programme(*t)).abs() >= 0.94)
            .unwrap();
        assert!(
            (start - first).abs() <= 0.020,
            "gain {gain}: clipping at {start}, first clipped sample {first}"
        );
        assert!(clips[0]["end"].as_f64().unwrap() <= 5.02);
        let drops = events(&r, "dropout");
        assert_eq!(drops.len(), 1, "gain {gain}: {drops:?}");
        assert!(
            (drops[0]["start"].as_f64().unwrap() - 6.25).abs() <= 0.020,
            "{:?}",
            drops[0]
        );
        assert!(drops[0]["diagnosis"]["dimension"] == "sound");
        clipped_ms.push(summary(&r)["sound"]["clipped_ms"].as_f64().unwrap());
        let worst = r
            .iter()
            .filter(|w| w["type"] == "window")
            .filter_map(|w| w["scores"]["sound"].as_f64())
            .fold(100.0, f64::min);
        assert!(
            worst < 60.0,
            "gain {gain}: the sound score stayed at {worst}"
        );
        if gain == 20.0 {
            // The same through AAC (a lossy decoder's ripple on the flat tops).
            let m = aac(&p, &dir.path().join("clip.m4a"));
            let r = eval(&m);
            let clips = events(&r, "clipping");
            assert_eq!(clips.len(), 1, "AAC: {clips:?}");
            assert!(
                (clips[0]["start"].as_f64().unwrap() - first).abs() <= 0.025,
                "AAC: {clips:?}"
            );
            let drops = events(&r, "dropout");
            assert_eq!(drops.len(), 1, "AAC: {drops:?}");
            assert!(
                (drops[0]["start"].as_f64().unwrap() - 6.25).abs() <= 0.025,
                "AAC: {drops:?}"
            );
        }
    }
    eprintln!("clipped ms by overdrive ×12, ×20, ×40: {clipped_ms:?}");
    assert!(
        clipped_ms.windows(2).all(|w| w[1] > w[0]),
        "severity grows with the overdrive: {clipped_ms:?}"
    );
}

/// A 12 s clip with a hard cut at 6.0 s (test pattern → fractal) under one continuous 440 Hz
/// tone at −6 dBFS peak (−9 dBFS RMS: 15 dB down stays above the jump detector's floor).
fn cut_under_a_tone(out: &Path) {
    common::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=320x180:r=25:d=6",
        "-f",
        "lavfi",
        "-i",
        "mandelbrot=s=320x180:r=25",
        "-f",
        "lavfi",
        "-i",
        "sine=f=440:sample_rate=48000:d=12",
        "-filter_complex",
        "[1:v]trim=duration=6,setpts=PTS-STARTPTS[m];[0:v][m]concat=n=2:v=1:a=0[v];[2:a]volume=4[a]",
        "-map",
        "[v]",
        "-map",
        "[a]",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-bf",
        "0",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        out.to_str().unwrap(),
    ]);
}

fn inject(src: &Path, out: &Path, faults: &[&str]) -> Value {
    let mut args = vec!["inject", src.to_str().unwrap(), out.to_str().unwrap()];
    args.extend_from_slice(faults);
    let o = common::evalverse_cli(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn injected_gain_steps_are_placed_at_a_cut_or_inside_a_shot_and_clips_and_dropouts_land_on_time() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.mp4");
    cut_under_a_tone(&src);
    let clean = eval(&src);
    let cuts: Vec<f64> = clean
        .iter()
        .filter(|r| r["type"] == "cut")
        .filter_map(|r| r["pts"].as_f64())
        .collect();
    assert!(cuts.iter().any(|c| (c - 6.0).abs() < 0.05), "cuts {cuts:?}");
    for k in ["clipping", "dropout", "loudness_jump"] {
        assert!(
            events(&clean, k).is_empty(),
            "clean: {k}: {:?}",
            events(&clean, k)
        );
    }
    // Down 15 dB at 2 s and back at 4 s inside the first shot; down 13 dB at the cut.
    let gains = dir.path().join("gains.mp4");
    let truth = inject(&src, &gains, &["--gain", "2:4:-15", "--gain", "6:12:-13"]);
    assert_eq!(truth["faults"][0]["kind"], "gain_step");
    let r = eval(&gains);
    let jumps: Vec<(f64, f64, f64)> = events(&r, "loudness_jump")
        .iter()
        .map(|e| {
            (
                e["start"].as_f64().unwrap(),
                e["step_db"].as_f64().unwrap(),
                e["at_cut"].as_f64().unwrap(),
            )
        })
        .collect();
    eprintln!("measured: loudness jumps (time, step dB, at cut) {jumps:?}");
    assert_eq!(jumps.len(), 3, "{jumps:?}");
    for ((t, step, at_cut), (tt, ts, tc)) in
        jumps
            .iter()
            .zip([(2.0, -15.0, 0.0), (4.0, 15.0, 0.0), (6.0, -13.0, 1.0)])
    {
        assert!((t - tt).abs() <= 0.020, "jump at {t}, truth {tt}");
        assert!((step - ts).abs() <= 1.5, "step {step} dB, truth {ts}");
        assert_eq!(*at_cut, tc, "jump at {t}");
    }
    let inside = events(&r, "loudness_jump")[0]["diagnosis"]["observed"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(inside.contains("inside a shot"), "{inside}");
    // Hard clipping over 1–2 s and a 40 ms dropout at 9.5 s.
    let hurt = dir.path().join("hurt.mp4");
    inject(&src, &hurt, &["--clip", "1:2:24", "--dropout", "9.5:40"]);
    let r = eval(&hurt);
    let clips = events(&r, "clipping");
    assert_eq!(clips.len(), 1, "{clips:?}");
    let (s, e) = (
        clips[0]["start"].as_f64().unwrap(),
        clips[0]["end"].as_f64().unwrap(),
    );
    eprintln!("measured: clipping {s:.3}–{e:.3} (truth 1.000–2.000)");
    assert!(
        (s - 1.0).abs() <= 0.020 && (e - 2.0).abs() <= 0.050,
        "{s}–{e}"
    );
    let drops = events(&r, "dropout");
    assert_eq!(drops.len(), 1, "{drops:?}");
    let d = drops[0]["start"].as_f64().unwrap();
    eprintln!("measured: dropout at {d:.4} (truth 9.5)");
    assert!((d - 9.5).abs() <= 0.020, "{d}");
}
