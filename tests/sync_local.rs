//! Sync from local motion that makes sound, end to end: generated clips with things dropped at
//! random places that land with a thud, a face in close-up whose mouth opens with each syllable
//! it speaks, someone walking with footsteps (no cuts, no flashes: the event evidence has
//! nothing), through encoding, decoding and the evaluator. The whole-file estimate, and the
//! windows' once enough of the clip is in, must come from the local motion and be within one
//! frame at every delay; pictures whose sounds are unrelated to their motion (other sounds, or
//! another take's syllables and footsteps) must not commit, whole or in any window. A talker
//! speaking English (espeak-ng) with its mouth opening with the speech's loudness must give
//! the delay too, and other sentences dubbed over its mouth must not commit.
mod common;
use common::*;
use evalverse::config::Settings;
use evalverse::sender::synth::SceneSpec;
use serde_json::Value;

const FPS: f64 = 25.0;

/// Drop times: gaps of 0.9–2.5 s from a seeded draw.
fn drop_times(seed: u64, until: f64) -> Vec<f64> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut t = 1.6;
    let mut v = vec![];
    while t < until {
        v.push(t);
        t += 0.9 + 1.6 * next();
    }
    v
}

fn spec(seed: u64, delay_ms: f64) -> SceneSpec {
    SceneSpec {
        width: 320,
        height: 180,
        fps: FPS as u32,
        duration_s: 40.0,
        cuts: vec![],
        drops: drop_times(seed, 38.5),
        audio_delay_ms: delay_ms,
        seed,
        ..Default::default()
    }
}

fn summary_sync(records: &[Value]) -> Value {
    of_type(records, "summary")
        .last()
        .map(|s| s["sync"].clone())
        .expect("a summary")
}

/// Coverage ≥ 80 % (the target) and every committed delay within one frame.
#[test]
fn sounds_of_local_motion_give_the_delay_within_a_frame() {
    let dir = tempfile::tempdir().unwrap();
    let delays = [-350.0, -120.0, 0.0, 80.0, 260.0];
    let (mut committed, mut window_commits) = (0, 0);
    for (k, delay) in delays.into_iter().enumerate() {
        let seed = 11 + k as u64;
        let path = clip(dir.path(), &format!("drops{k}"), &spec(seed, delay));
        let (records, r) = eval_json(&path, &Settings::default());
        r.unwrap();
        let sync = summary_sync(&records);
        eprintln!(
            "measured: drops, delay {delay:+} ms → {} (best lag {} ms, z {})",
            sync["audio_delay_ms"], sync["local"]["best_lag_ms"], sync["local"]["z"]
        );
        // Windows (live and file alike) read the 40 s before their end: once ~33 s of the
        // clip are in, they answer from local motion too, and never wrongly.
        let windows: Vec<f64> = of_type(&records, "window")
            .iter()
            .filter(|w| w["sync"]["source"] == "local_motion")
            .filter_map(|w| w["sync"]["audio_delay_ms"].as_f64())
            .collect();
        eprintln!(
            "measured: drops, delay {delay:+} ms → {} windows from local motion: {windows:?}",
            windows.len()
        );
        for w in &windows {
            assert!(
                (w - delay).abs() <= 1000.0 / FPS,
                "window at delay {delay}: {w}"
            );
        }
        window_commits += windows.len();
        // An offset viewers notice is diagnosed, and the diagnosis says what it rests on.
        if delay.abs() >= 200.0 && !windows.is_empty() {
            let says_local = of_type(&records, "window").iter().any(|w| {
                w["diagnosis"].as_array().is_some_and(|ds| {
                    ds.iter().any(|d| {
                        d["dimension"] == "sync"
                            && d["observed"]
                                .as_str()
                                .is_some_and(|o| o.contains("local motion"))
                    })
                })
            });
            assert!(
                says_local,
                "delay {delay}: no sync diagnosis naming local motion"
            );
        }
        let Some(got) = sync["audio_delay_ms"].as_f64() else {
            continue;
        };
        committed += 1;
        assert_eq!(sync["source"], "local_motion", "{sync}");
        assert!((got - delay).abs() <= 1000.0 / FPS, "delay {delay}: {sync}");
    }
    assert!(committed >= 4, "{committed} of {} committed", delays.len());
    assert!(
        window_commits >= 8,
        "{window_commits} windows committed from local motion"
    );
}

#[test]
fn motion_with_unrelated_sounds_does_not_commit() {
    let dir = tempfile::tempdir().unwrap();
    for k in 0..3u64 {
        // The drops land in silence; beeps sound at the times of another clip's drops.
        let s = SceneSpec {
            silent_drops: true,
            extra_beeps: drop_times(100 + k, 38.5),
            ..spec(21 + k, 0.0)
        };
        let path = clip(dir.path(), &format!("control{k}"), &s);
        let (records, r) = eval_json(&path, &Settings::default());
        r.unwrap();
        let sync = summary_sync(&records);
        eprintln!("measured: control {k}: local {}", sync["local"]);
        assert!(sync["audio_delay_ms"].is_null(), "control {k}: {sync}");
        assert!(
            sync["local"]["audio_delay_ms"].is_null(),
            "control {k}: {sync}"
        );
        for w in of_type(&records, "window") {
            assert!(
                w["sync"]["audio_delay_ms"].is_null(),
                "control {k}: {}",
                w["sync"]
            );
        }
    }
}

/// A 40 s shot of a talker (`talk`) or a walker (`walk`), the sound `delay_ms` late.
fn source_spec(family: &str, seed: u64, delay_ms: f64) -> SceneSpec {
    let all = vec![(0.0, 40.0)];
    let (talk, walk) = match family {
        "talk" => (all, vec![]),
        _ => (vec![], all),
    };
    SceneSpec {
        drops: vec![],
        talk,
        walk,
        ..spec(seed, delay_ms)
    }
}

/// Committed whole-file delays and window delays from local motion.
fn local_answers(records: &[Value]) -> (Option<f64>, Vec<f64>) {
    let sync = summary_sync(records);
    let windows = of_type(records, "window")
        .iter()
        .filter(|w| w["sync"]["source"] == "local_motion")
        .filter_map(|w| w["sync"]["audio_delay_ms"].as_f64())
        .collect();
    if sync["audio_delay_ms"].is_number() {
        assert_eq!(sync["source"], "local_motion", "{sync}");
    }
    (sync["audio_delay_ms"].as_f64(), windows)
}

/// Speech (a mouth opening with each syllable) and footsteps: every committed delay, whole or
/// windowed, within one frame; most clips commit.
#[test]
fn talkers_and_walkers_give_the_delay_within_a_frame() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("talk", 41, -300.0),
        ("talk", 42, 150.0),
        ("walk", 43, -200.0),
        ("walk", 44, 90.0),
        ("walk", 45, 380.0),
    ];
    let mut committed = 0;
    for (family, seed, delay) in cases {
        let path = clip(
            dir.path(),
            &format!("{family}{seed}"),
            &source_spec(family, seed, delay),
        );
        let (records, r) = eval_json(&path, &Settings::default());
        r.unwrap();
        let (whole, windows) = local_answers(&records);
        eprintln!(
            "measured: {family}, delay {delay:+} ms → {whole:?}, {} windows from local motion \
             (local: {})",
            windows.len(),
            summary_sync(&records)["local"]
        );
        for got in whole.iter().chain(&windows) {
            assert!(
                (got - delay).abs() <= 1000.0 / FPS,
                "{family} at delay {delay}: {got}"
            );
        }
        committed += whole.is_some() as usize;
    }
    assert!(committed >= 4, "{committed} of {} committed", cases.len());
}

/// The picture of one take with the syllables or footsteps of another (a mismatched dub):
/// motion that makes sound, but not this sound. No commitment, whole or in any window.
#[test]
fn another_takes_syllables_and_footsteps_do_not_commit() {
    let dir = tempfile::tempdir().unwrap();
    for (family, seed) in [("talk", 51), ("talk", 52), ("walk", 53), ("walk", 54)] {
        let s = SceneSpec {
            sound_seed: Some(seed + 1000),
            ..source_spec(family, seed, 0.0)
        };
        let path = clip(dir.path(), &format!("dub-{family}{seed}"), &s);
        let (records, r) = eval_json(&path, &Settings::default());
        r.unwrap();
        let (whole, windows) = local_answers(&records);
        eprintln!(
            "measured: dubbed {family}: local {}",
            summary_sync(&records)["local"]
        );
        assert!(
            whole.is_none() && windows.is_empty(),
            "dubbed {family} {seed}: {whole:?} {windows:?}"
        );
    }
}

/// About 45 s of English sentences from espeak-ng into `dir/name.wav`.
fn speak(dir: &std::path::Path, name: &str, voice: &str, seed: usize) -> std::path::PathBuf {
    const WORDS: [&str; 16] = [
        "glass", "table", "window", "morning", "garden", "letter", "station", "coffee", "market",
        "pocket", "basket", "bottle", "kitchen", "ladder", "mirror", "lantern",
    ];
    const VERBS: [&str; 8] = [
        "placed", "found", "carried", "opened", "dropped", "painted", "folded", "mended",
    ];
    let w = |k: usize| WORDS[(k * 7 + seed * 3) % WORDS.len()];
    let text: String = (0..30)
        .map(|k| {
            let tail = if (k + seed) % 2 == 0 {
                ", and then rested"
            } else {
                "."
            };
            format!(
                "the {} {} a {}{tail} ",
                w(k),
                VERBS[(k + seed) % 8],
                w(k + 5)
            )
        })
        .collect();
    let out = dir.join(format!("{name}.wav"));
    let st = std::process::Command::new("espeak-ng")
        .args(["-v", voice, "-s", "160", "-w"])
        .arg(&out)
        .arg(&text)
        .status()
        .expect("espeak-ng runs (scripts/install-deps.sh installs it)");
    assert!(st.success(), "espeak-ng: {st}");
    out
}

/// A talker speaking English, its mouth opening with the speech's loudness: both clips commit,
/// by the level changes, and every delay, whole or windowed, is within one frame. The same
/// mouths with the other clip's sentences dubbed over them: no commitment.
#[test]
fn speech_gives_the_delay_within_a_frame_and_a_dub_does_not_commit() {
    let dir = tempfile::tempdir().unwrap();
    let a = speak(dir.path(), "a", "en-us", 1);
    let b = speak(dir.path(), "b", "en-gb+f2", 2);
    let mut committed = 0;
    for (seed, delay, speech, dub) in [
        (61, -220.0, &a, None),
        (62, 140.0, &b, None),
        (63, 0.0, &a, Some(&b)),
        (64, 0.0, &b, Some(&a)),
    ] {
        let s = SceneSpec {
            speech: Some(speech.clone()),
            dub: dub.cloned(),
            ..source_spec("talk", seed, delay)
        };
        let path = clip(dir.path(), &format!("speech{seed}"), &s);
        let (records, r) = eval_json(&path, &Settings::default());
        r.unwrap();
        let (whole, windows) = local_answers(&records);
        let local = &summary_sync(&records)["local"];
        eprintln!(
            "measured: speech{} at {delay:+} ms → {whole:?}, {} windows from local motion \
             (local: {local})",
            if dub.is_some() { " (dubbed)" } else { "" },
            windows.len(),
        );
        if dub.is_some() {
            assert!(
                whole.is_none() && windows.is_empty(),
                "dubbed speech {seed}: {whole:?} {windows:?}"
            );
            continue;
        }
        for got in whole.iter().chain(&windows) {
            assert!(
                (got - delay).abs() <= 1000.0 / FPS,
                "speech at delay {delay}: {got}"
            );
        }
        assert_eq!(local["evidence"], "level_changes", "{local}");
        committed += whole.is_some() as usize;
    }
    assert_eq!(committed, 2, "a speech clip did not commit");
}
