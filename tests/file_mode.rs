//! File mode on a clip the test generates with known cuts, a freeze, a black segment and an
//! audio delay; and the JSON-lines contract on the same output.
mod common;
use common::*;
use evalverse::config::Settings;
use evalverse::sender::synth::SceneSpec;
use serde_json::Value;

const FPS: f64 = 25.0;

#[test]
fn finds_freeze_black_cuts_and_delay_in_a_generated_clip() {
    let dir = tempfile::tempdir().unwrap();
    let spec = SceneSpec {
        width: 640,
        height: 360,
        fps: 25,
        duration_s: 14.0,
        cuts: vec![1.6, 3.0, 6.9, 8.2, 11.5],
        freeze: vec![(4.0, 5.6)],
        black: vec![(9.2, 10.4)],
        audio_delay_ms: 120.0,
        ..Default::default()
    };
    let path = clip(dir.path(), "faults", &spec);
    let (records, result) = eval_json(&path, &Settings::default());
    result.unwrap();

    // Picture figures in every window; the darkest window is the one over the black span.
    let ws = of_type(&records, "window");
    let crushed = |w: &&Value| w["picture"]["shadows_crushed"].as_f64().unwrap();
    for w in &ws {
        let p = &w["picture"];
        for k in [
            "mean_luma",
            "highlights_clipped",
            "shadows_crushed",
            "contrast_rms",
        ] {
            let v = p[k].as_f64().unwrap_or(-1.0);
            assert!((0.0..=1.0).contains(&v), "{k} = {v} in {w}");
        }
        assert!(
            p["colourfulness"].as_f64().unwrap() > 5.0,
            "the pattern is colourful: {p}"
        );
    }
    let darkest = ws
        .iter()
        .max_by(|a, b| crushed(a).total_cmp(&crushed(b)))
        .unwrap();
    assert!(
        darkest["start"].as_f64().unwrap() < 10.4 && darkest["end"].as_f64().unwrap() > 9.2,
        "{darkest}"
    );
    assert!(crushed(darkest) > 0.2, "{darkest}");

    // Freeze: held frame 100 (4.0 s) … first moving frame 140 (5.6 s), within one frame.
    let f = events(&records, "freeze");
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        (f[0]["start"].as_f64().unwrap() - 4.0).abs() <= 1.0 / FPS + 1e-6,
        "{}",
        f[0]
    );
    assert!(
        (f[0]["end"].as_f64().unwrap() - 5.6).abs() <= 1.0 / FPS + 1e-6,
        "{}",
        f[0]
    );
    assert_eq!(f[0]["diagnosis"]["dimension"], "continuity");
    assert_eq!(f[0]["diagnosis"]["stage"], "production");

    let b = events(&records, "black");
    assert_eq!(b.len(), 1, "{b:?}");
    assert!(
        (b[0]["start"].as_f64().unwrap() - 9.2).abs() <= 1.0 / FPS + 1e-6,
        "{}",
        b[0]
    );
    assert!(
        (b[0]["end"].as_f64().unwrap() - 10.4).abs() <= 1.0 / FPS + 1e-6,
        "{}",
        b[0]
    );

    // Every true cut found within one frame; a cut into and out of black is a cut too.
    let cuts: Vec<i64> = of_type(&records, "cut")
        .iter()
        .map(|c| c["frame"].as_i64().unwrap())
        .collect();
    let truth: Vec<i64> = spec.cut_frames().iter().map(|f| *f as i64).collect();
    for t in &truth {
        assert!(
            cuts.iter().any(|c| (c - t).abs() <= 1),
            "cut at frame {t} missed: {cuts:?}"
        );
    }
    let black_edges = [(9.2 * FPS) as i64, (10.4 * FPS) as i64];
    for c in &cuts {
        assert!(
            truth
                .iter()
                .chain(black_edges.iter())
                .any(|t| (c - t).abs() <= 1),
            "false cut at frame {c}: truth {truth:?}"
        );
    }
    assert!(
        events(&records, "flicker").is_empty(),
        "no flicker in this clip"
    );

    // Audio delay: beeps on the cuts, 120 ms late.
    let summary = of_type(&records, "summary");
    assert_eq!(summary.len(), 1);
    let s = summary[0];
    let d = s["sync"]["audio_delay_ms"]
        .as_f64()
        .unwrap_or_else(|| panic!("sync declined: {}", s["sync"]));
    assert!(
        (d - 120.0).abs() <= 1000.0 / FPS,
        "estimated {d} ms, truth 120 ms"
    );
    assert_eq!(
        records.last().unwrap()["type"],
        "summary",
        "summary is the last line"
    );
}

#[test]
fn json_lines_follow_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let spec = SceneSpec {
        width: 320,
        height: 180,
        fps: 25,
        duration_s: 7.0,
        cuts: vec![2.0, 4.4],
        flashes: vec![5.5],
        ..Default::default()
    };
    let path = clip(dir.path(), "contract", &spec);
    let model = cpu_model();
    let mut lines = vec![];
    let _stage = stage("evaluating the contract clip", stage_s());
    evalverse::evaluate_file(
        path.to_str().unwrap(),
        &Settings::default(),
        &model,
        |r| lines.push(r.to_json()),
        |_, _| {},
    )
    .unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for l in &lines {
        assert!(l.starts_with("{\"type\":\""), "type comes first: {l}");
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let t = v["type"].as_str().unwrap().to_string();
        let num = |k: &str| {
            v[k].as_f64()
                .unwrap_or_else(|| panic!("{t}.{k} is a number: {l}"))
        };
        match t.as_str() {
            "cut" => {
                assert!(v["frame"].is_u64() && num("pts") >= 0.0);
                assert!(v["kind"] == "hard" || v["kind"] == "gradual");
                assert!(v["stream"].is_string());
            }
            "event" => {
                assert!(num("end") >= num("start"));
                assert!(
                    [
                        "freeze",
                        "black",
                        "silence",
                        "flicker",
                        "flash",
                        "flash_with_sound",
                        "glitch",
                        "grade_jump"
                    ]
                    .contains(&v["kind"].as_str().unwrap())
                );
                for k in ["stage", "aspect", "dimension", "observed", "problem", "fix"] {
                    assert!(v["diagnosis"][k].is_string(), "diagnosis.{k}: {l}");
                }
            }
            "window" => {
                assert!(num("end") > num("start"));
                for k in ["sync", "continuity", "rhythm", "overall"] {
                    let s = &v["scores"][k];
                    assert!(
                        s.is_null() || (0.0..=100.0).contains(&s.as_f64().unwrap()),
                        "scores.{k}: {l}"
                    );
                }
                assert!(
                    v["sync"].get("audio_delay_ms").is_some()
                        && v["sync"]["confidence"].is_number()
                );
            }
            "summary" => {
                assert!(
                    v["sync"].get("audio_delay_ms").is_some()
                        && v["sync"]["confidence"].is_number()
                );
            }
            "state" => {}
            other => panic!("unknown record type {other}"),
        }
        seen.insert(t);
    }
    for t in ["cut", "event", "window", "summary"] {
        assert!(seen.contains(t), "no {t} record in {lines:?}");
    }
    // The 2-frame flash is an event, never a cut.
    let flash_frame = (5.5 * 25.0) as i64;
    let cuts: Vec<i64> = lines
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "cut")
        .map(|v| v["frame"].as_i64().unwrap())
        .collect();
    assert!(
        cuts.iter().all(|c| (c - flash_frame).abs() > 3),
        "flash reported as a cut: {cuts:?}"
    );
}
