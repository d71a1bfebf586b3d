//! Expert calibration proved on a simulated rating study whose truth is known.
//!
//! 120 generated clips in 24 groups (a group: one scene seed and cut pattern, made by four
//! "systems" with different fault propensities) carry faults of random kinds and severities —
//! freeze, black, flicker, silence, audio delay. A hidden monotone function of those severities
//! (weighing them unlike our shipped formula) is the true quality; five raters score it on the 1–5 ACR scale with their own bias and
//! noise, rounded to whole points; a sixth rater answers at random. Pairwise A/B votes follow
//! the true quality through a Bradley–Terry law. `evalverse calibrate` sees only the clips and
//! the CSVs; the test holds the truth and checks what the tool claims.
mod common;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde_json::Value;
use std::path::{Path, PathBuf};

const GROUPS: usize = 24;
const PER_GROUP: usize = 5;
const DURATION: f64 = 10.0;
const BIASES: [f64; 5] = [-0.3, -0.1, 0.0, 0.2, 0.3];
const NOISE: f64 = 0.45;

/// The faults of one clip, seconds (delay in ms).
#[derive(Clone, Debug, Default)]
struct Faults {
    freeze: f64,
    black: f64,
    flicker: f64,
    silence: f64,
    delay_ms: f64,
}

/// The hidden truth: quality on 1–5, monotone (decreasing) in every severity. These raters
/// weigh faults unlike our hand-set formula — severe on black frames and lip-sync, lenient on
/// flicker (which the shipped continuity score punishes hardest) — the situation calibration
/// exists for.
fn true_quality(f: &Faults) -> f64 {
    let harm = 0.5 * f.freeze
        + 1.5 * f.black
        + 0.15 * f.flicker
        + 0.4 * f.silence
        + 3.0 * (f.delay_ms.abs() - 80.0).max(0.0) / 300.0;
    1.0 + 4.0 * (-harm).exp()
}

fn rate(q: f64, bias: f64, rng: &mut ChaCha8Rng) -> f64 {
    let n = Normal::new(0.0, NOISE).unwrap();
    (q + bias + n.sample(rng)).round().clamp(1.0, 5.0)
}

/// Cuts every 1.6–2.4 s (a beep on each: sync evidence); each fault inside one shot.
fn scene(
    group: usize,
    faults: &Faults,
    rng: &mut ChaCha8Rng,
) -> evalverse::sender::synth::SceneSpec {
    let mut g = ChaCha8Rng::seed_from_u64(1000 + group as u64);
    let mut cuts = vec![];
    let mut t = 1.0 + g.random::<f64>();
    while t < DURATION - 0.8 {
        cuts.push((t * 25.0).round() / 25.0);
        t += 1.6 + 0.8 * g.random::<f64>();
    }
    let mut bounds = vec![0.0];
    bounds.extend(&cuts);
    bounds.push(DURATION);
    let mut shots: Vec<(f64, f64)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
    let mut place = |len: f64| -> Vec<(f64, f64)> {
        if len <= 0.0 || shots.is_empty() {
            return vec![];
        }
        let i = rng.random_range(0..shots.len());
        let (a, b) = shots.remove(i);
        let len = len.min(b - a - 0.45);
        if len < 0.3 {
            return vec![];
        }
        let start = a + 0.3 + rng.random::<f64>() * (b - a - 0.35 - len);
        let s = (start * 25.0).round() / 25.0;
        vec![(s, s + len)]
    };
    evalverse::sender::synth::SceneSpec {
        width: 320,
        height: 180,
        fps: 25,
        duration_s: DURATION,
        freeze: place(faults.freeze),
        black: place(faults.black),
        flicker: place(faults.flicker),
        silence: place(faults.silence),
        audio_delay_ms: faults.delay_ms,
        cuts,
        seed: 7 + group as u64,
        ..Default::default()
    }
}

/// Severities actually placed (a fault that did not fit in a shot is shorter or absent).
fn placed(spec: &evalverse::sender::synth::SceneSpec) -> Faults {
    let len = |v: &[(f64, f64)]| v.iter().map(|(a, b)| b - a).sum::<f64>();
    Faults {
        freeze: len(&spec.freeze),
        black: len(&spec.black),
        flicker: len(&spec.flicker),
        silence: len(&spec.silence),
        delay_ms: spec.audio_delay_ms,
    }
}

fn random_faults(system: usize, rng: &mut ChaCha8Rng) -> Faults {
    // Systems differ in how often they fail: 0 best, 3 worst.
    let p = 0.15 + 0.12 * system as f64;
    let mut dur = |lo: f64, hi: f64| {
        if rng.random::<f64>() < p {
            lo + (hi - lo) * rng.random::<f64>()
        } else {
            0.0
        }
    };
    let (freeze, black, flicker, silence) =
        (dur(0.6, 1.4), dur(0.6, 1.2), dur(0.6, 1.4), dur(0.7, 1.4));
    let delay_ms = if rng.random::<f64>() < p {
        let m = 120.0 + 280.0 * rng.random::<f64>();
        if rng.random::<bool>() { m } else { -m }
    } else {
        0.0
    };
    Faults {
        freeze,
        black,
        flicker,
        silence,
        delay_ms,
    }
}

struct Clip {
    name: String,
    group: usize,
    system: usize,
    quality: f64,
}

fn make_clips(dir: &Path) -> Vec<Clip> {
    let mut rng = ChaCha8Rng::seed_from_u64(2026);
    let mut jobs = vec![];
    for g in 0..GROUPS {
        for k in 0..PER_GROUP {
            let system = (g + k) % 4;
            let f = random_faults(system, &mut rng);
            let spec = scene(g, &f, &mut rng);
            let name = format!("g{g:02}_c{k}.mp4");
            jobs.push((name, g, system, spec));
        }
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..common::threads() {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some((name, _, _, spec)) = jobs.get(i) else {
                        break;
                    };
                    let _stage = common::stage(&format!("writing {name}"), common::stage_s());
                    evalverse::sender::write_synthetic(spec, &dir.join(name)).unwrap();
                }
            });
        }
    });
    jobs.into_iter()
        .map(|(name, group, system, spec)| Clip {
            name,
            group,
            system,
            quality: true_quality(&placed(&spec)),
        })
        .collect()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn spearman(a: &[f64], b: &[f64]) -> f64 {
    evalverse::calibration::stats::spearman(a, b)
}

/// Ratings CSV (6 raters, the last one random) and the MOS of the good five.
fn write_ratings(clips: &[Clip], path: &Path, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let mut csv = String::from("clip,score,rater,group,system\n");
    let mut mos = vec![];
    for c in clips {
        let mut good = vec![];
        for (r, bias) in BIASES.iter().enumerate() {
            let s = rate(c.quality, *bias, rng);
            good.push(s);
            csv += &format!("{},{s},r{r},g{},sys{}\n", c.name, c.group, c.system);
        }
        let junk = rng.random_range(1..=5);
        csv += &format!("{},{junk},careless,g{},sys{}\n", c.name, c.group, c.system);
        mos.push(mean(&good));
    }
    std::fs::write(path, csv).unwrap();
    mos
}

/// A/B votes: 700 pairs, P(a preferred) = σ((q_a − q_b) / 0.4).
fn write_pairs(clips: &[Clip], path: &Path, rng: &mut ChaCha8Rng) {
    let mut csv = String::from("clip_a,clip_b,winner\n");
    for _ in 0..700 {
        let (a, b) = (
            rng.random_range(0..clips.len()),
            rng.random_range(0..clips.len()),
        );
        if a == b {
            continue;
        }
        let p = 1.0 / (1.0 + (-(clips[a].quality - clips[b].quality) / 0.4).exp());
        let w = if rng.random::<f64>() < p { "a" } else { "b" };
        csv += &format!("{},{},{w}\n", clips[a].name, clips[b].name);
    }
    std::fs::write(path, csv).unwrap();
}

fn run(args: &[&str]) -> (bool, String) {
    let out = common::evalverse_cli(args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout),
    )
}

fn calibrate(dir: &Path, labels: &[&Path], cache: &Path) -> (Value, PathBuf, String) {
    let out = dir.join("calibration.json");
    let report = dir.join("report.md");
    let mut args: Vec<String> = labels.iter().map(|p| p.display().to_string()).collect();
    for a in [
        "--media",
        dir.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
        "--cache",
        cache.to_str().unwrap(),
        "--backend",
        "cpu",
    ] {
        args.push(a.into());
    }
    let mut full = vec!["calibrate".to_string()];
    full.extend(args);
    let refs: Vec<&str> = full.iter().map(String::as_str).collect();
    let (ok, log) = run(&refs);
    assert!(ok, "calibrate failed:\n{log}");
    let rep: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    (rep, out, log)
}

#[test]
fn calibrate_recovers_a_simulated_panel() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let clips = make_clips(dir.path());
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let ratings = dir.path().join("ratings.csv");
    let mos = write_ratings(&clips, &ratings, &mut rng);
    let pairs = dir.path().join("pairs.csv");
    write_pairs(&clips, &pairs, &mut rng);
    let (rep, cal_path, log) = calibrate(dir.path(), &[&ratings, &pairs], &cache);
    eprintln!("{log}");
    // `EVALVERSE_KEEP_REPORT=DIR` keeps the study's report (README's example comes from it).
    if let Some(keep) = std::env::var_os("EVALVERSE_KEEP_REPORT") {
        let keep = PathBuf::from(keep);
        std::fs::create_dir_all(&keep).unwrap();
        for f in [
            "report.md",
            "report.json",
            "calibration.json",
            "ratings.csv",
            "pairs.csv",
        ] {
            std::fs::copy(dir.path().join(f), keep.join(f)).unwrap();
        }
    }
    let q: Vec<f64> = clips.iter().map(|c| c.quality).collect();
    let d = &rep["dimensions"][0];
    assert_eq!(d["dimension"], "overall");

    // 1. The careless rater is flagged and excluded; the five good ones are kept.
    for r in d["panel"]["raters"].as_array().unwrap() {
        let careless = r["rater"] == "careless";
        assert_eq!(r["excluded"].as_bool().unwrap(), careless, "{r}");
    }

    // 2. The ceiling is close to the panel's true reliability: SROCC of this panel's MOS with
    //    that of independent panels of the same raters (the test can draw them; the tool cannot).
    let mut twin = vec![];
    for _ in 0..20 {
        let other: Vec<f64> = clips
            .iter()
            .map(|c| {
                mean(
                    &BIASES
                        .iter()
                        .map(|b| rate(c.quality, *b, &mut rng))
                        .collect::<Vec<_>>(),
                )
            })
            .collect();
        twin.push(spearman(&mos, &other));
    }
    let simulated = mean(&twin);
    let reported = d["panel"]["ceiling"]["spearman_brown"].as_f64().unwrap();
    eprintln!("ceiling: reported {reported:.3}, simulated {simulated:.3}");
    assert!(
        (reported - simulated).abs() < 0.06,
        "ceiling {reported} vs {simulated}"
    );

    // 3. Held-out SROCC within 0.12 of the best achievable: the oracle that knows the hidden
    //    function, scored against the same noisy MOS.
    let oracle = spearman(&q, &mos);
    let held_out = d["splits"]["srocc"]["value"].as_f64().unwrap();
    eprintln!("held-out SROCC {held_out:.3}, oracle {oracle:.3}");
    assert!(
        held_out >= oracle - 0.12,
        "held-out {held_out} vs oracle {oracle}"
    );

    // 4. Significantly better than our uncalibrated score (paired cluster bootstrap).
    let unc = d["baselines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"].as_str().unwrap().starts_with("uncalibrated"))
        .unwrap();
    eprintln!("uncalibrated: {unc}");
    assert!(unc["p_value"].as_f64().unwrap() < 0.05, "{unc}");
    assert!(unc["delta_srocc"]["lo"].as_f64().unwrap() > 0.0, "{unc}");
    let pooled = &d["pooled"]["srocc"];
    assert!(pooled["lo"].as_f64().unwrap() <= pooled["value"].as_f64().unwrap());

    // 5. The MOS intervals cover each clip's expected rating (the good raters' mean of
    //    E[round(q + bias + noise)], by Monte Carlo) for ≥ 90 % of clips.
    let mut covered = 0;
    let mos_rows = d["panel"]["mos"].as_array().unwrap();
    for m in mos_rows {
        let c = clips.iter().find(|c| c.name == m["clip"]).unwrap();
        let expected = mean(
            &(0..2000)
                .map(|_| {
                    mean(
                        &BIASES
                            .iter()
                            .map(|b| rate(c.quality, *b, &mut rng))
                            .collect::<Vec<_>>(),
                    )
                })
                .collect::<Vec<_>>(),
        );
        let (v, ci) = (m["mos"].as_f64().unwrap(), m["ci95"].as_f64().unwrap());
        covered += ((v - expected).abs() <= ci) as usize;
    }
    eprintln!("MOS CI coverage {covered}/{}", mos_rows.len());
    assert!(covered * 10 >= mos_rows.len() * 9);

    // 6. System level: the four systems in their true order.
    let sys = &d["system_level"];
    assert!(sys["srocc"].as_f64().unwrap() > 0.75, "{sys}");

    // 7. Pairwise preferences: utilities rank the clips like the hidden quality.
    let p = &rep["preference"];
    let u: Vec<f64> = clips
        .iter()
        .map(|c| p["utilities"][&c.name].as_f64().unwrap())
        .collect();
    let r = spearman(&u, &q);
    eprintln!(
        "preference: utilities vs truth SROCC {r:.3}, held-out accuracy {}",
        p["heldout_accuracy"]
    );
    assert!(r > 0.75, "utility SROCC {r}");
    assert!(p["heldout_accuracy"].as_f64().unwrap() > 0.7);

    // 8. The calibration is used: eval gains calibrated scores, worse clips score lower.
    let cal = cal_path.to_str().unwrap();
    let summary = |clip: &str| -> Value {
        let (ok, out) = run(&[
            "eval",
            dir.path().join(clip).to_str().unwrap(),
            "--json",
            "--calibration",
            cal,
        ]);
        assert!(ok, "{out}");
        let lines: Vec<Value> = out
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        assert!(
            lines
                .iter()
                .filter(|l| l["type"] == "window")
                .all(|w| w["calibrated"]["overall"].is_number())
        );
        lines.into_iter().find(|l| l["type"] == "summary").unwrap()
    };
    let best = clips
        .iter()
        .max_by(|a, b| a.quality.total_cmp(&b.quality))
        .unwrap();
    let worst = clips
        .iter()
        .min_by(|a, b| a.quality.total_cmp(&b.quality))
        .unwrap();
    let (sb, sw) = (summary(&best.name), summary(&worst.name));
    let (cb, cw) = (
        sb["calibrated"]["overall"].as_f64().unwrap(),
        sw["calibrated"]["overall"].as_f64().unwrap(),
    );
    eprintln!(
        "calibrated overall: best clip {cb:.2} (truth {:.2}), worst {cw:.2} (truth {:.2})",
        best.quality, worst.quality
    );
    assert!(cb > cw + 1.0);

    // 9. Re-running with the cache does not re-decode, and gives the same file (same seed).
    let before = std::fs::read_to_string(&cal_path).unwrap();
    let (_, _, log2) = calibrate(dir.path(), &[&ratings, &pairs], &cache);
    assert!(log2.contains("0 evaluated, 120 from the cache"), "{log2}");
    assert_eq!(std::fs::read_to_string(&cal_path).unwrap(), before);
}

#[test]
fn a_calibration_from_another_extractor_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let spec = evalverse::sender::synth::SceneSpec {
        duration_s: 5.0,
        cuts: vec![2.0],
        ..Default::default()
    };
    let clip = common::clip(dir.path(), "c", &spec);
    let p = dir.path().join("cal.json");
    common::constant_calibration(&p, &["overall"], 3.0);
    let mut cal: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    let good = cal.clone();
    cal["extractor_version"] = "evalverse-features/0".into();
    std::fs::write(&p, cal.to_string()).unwrap();
    let eval = || {
        run(&[
            "eval",
            clip.to_str().unwrap(),
            "--json",
            "--calibration",
            p.to_str().unwrap(),
        ])
    };
    let (ok, out) = eval();
    assert!(!ok);
    assert!(
        out.contains("evalverse-features/0") && out.contains("refit"),
        "{out}"
    );
    // The same file with this extractor's version is accepted and applied.
    std::fs::write(&p, good.to_string()).unwrap();
    let (ok, out) = eval();
    assert!(ok, "{out}");
    assert!(out.contains("\"calibrated\":{\"overall\":3.0}"), "{out}");
}

/// `--out vq.json --report vq.md` would write the report's figures (vq.json) over the
/// calibration: refused before any work, naming both, and nothing written. The same for an
/// output that names a label file.
#[test]
fn outputs_that_would_overwrite_each_other_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let labels = dir.path().join("labels.csv");
    std::fs::write(&labels, "clip,score\na.mp4,3\nb.mp4,4\n").unwrap();
    let (vq, md) = (dir.path().join("vq.json"), dir.path().join("vq.md"));
    let media = dir.path().to_str().unwrap();
    let (ok, log) = run(&[
        "calibrate",
        labels.to_str().unwrap(),
        "--media",
        media,
        "--out",
        vq.to_str().unwrap(),
        "--report",
        md.to_str().unwrap(),
        "--backend",
        "cpu",
    ]);
    assert!(
        !ok && log.contains("name the same file") && log.contains("--out"),
        "{log}"
    );
    assert!(!vq.exists() && !md.exists(), "nothing is written");
    let (ok, log) = run(&[
        "calibrate",
        labels.to_str().unwrap(),
        "--media",
        media,
        "--out",
        labels.to_str().unwrap(),
        "--backend",
        "cpu",
    ]);
    assert!(!ok && log.contains("a label file"), "{log}");
    assert_eq!(
        std::fs::read_to_string(&labels).unwrap(),
        "clip,score\na.mp4,3\nb.mp4,4\n"
    );
}
