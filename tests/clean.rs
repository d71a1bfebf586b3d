//! No false alarms on clean content (issue 18): generated sequences with what film-makers do on
//! purpose — shots that open on a still picture, holds with an ease-out, slow creeping camera
//! moves with camera grain, fades to black, quiet passages — give no fault events and a
//! `continue` verdict; the same sequences with real faults injected still get them found, on
//! their frames, and the stop verdict names its evidence.
mod common;
use common::*;
use evalverse::config::Settings;
use evalverse::sender::inject::{Faults, inject};
use evalverse::sender::synth::{SceneSpec, irregular_cuts};
use serde_json::Value;

const FPS: f64 = 25.0;
const FRAME: f64 = 1.0 / FPS + 1e-6;
const FAULTS: [&str; 7] = [
    "freeze",
    "black",
    "silence",
    "flicker",
    "flash",
    "glitch",
    "grade_jump",
];

/// 24 s, 25 fps: shots 2 and 5 open still (a title card, a photograph), a hold with an
/// ease-out at 9.5–11.5 s, a quiet passage at 15–16.5 s, a fade to black from 22 s.
fn clean_spec() -> SceneSpec {
    SceneSpec {
        width: 480,
        height: 270,
        fps: 25,
        duration_s: 24.0,
        cuts: irregular_cuts(1.5, 21.0),
        still_shots: vec![2, 5],
        holds: vec![(9.5, 11.5)],
        quiet: vec![(15.0, 16.5)],
        fade_out_at: Some(22.0),
        seed: 23,
        ..Default::default()
    }
}

fn verdict(records: &[Value]) -> String {
    of_type(records, "summary")
        .last()
        .map(|s| s["verdict"]["verdict"].as_str().unwrap_or("?").to_string())
        .unwrap_or_default()
}

fn faults_of(records: &[Value]) -> Vec<String> {
    of_type(records, "event")
        .iter()
        .filter(|e| e["ongoing"] == false && e["fault"] == true)
        .map(|e| format!("{}@{:.2}-{:.2}", e["kind"], e["start"], e["end"]))
        .collect()
}

#[test]
fn stills_holds_fades_and_quiet_passages_are_not_faults() {
    let dir = tempfile::tempdir().unwrap();
    let spec = clean_spec();
    let src = clip(dir.path(), "clean", &spec);
    let (records, r) = eval_json(&src, &Settings::default());
    r.unwrap();
    let faults = faults_of(&records);
    eprintln!("measured: clean sequence faults {faults:?}");
    // Flashes and glitches are the cut detector's business (tested elsewhere); here nothing a
    // film-maker does on purpose may be a fault.
    assert!(faults.is_empty(), "faults on clean content: {faults:?}");
    assert_eq!(verdict(&records), "continue");
    // ... and what it is, is said: the still shots and the hold, the quiet passage, the fade.
    let statics = events(&records, "static_shot");
    eprintln!(
        "measured: static shots {:?}",
        statics
            .iter()
            .map(|e| (e["start"].as_f64().unwrap(), e["end"].as_f64().unwrap()))
            .collect::<Vec<_>>()
    );
    assert_eq!(statics.len(), 3, "two still shots and a hold: {statics:?}");
    let hold = statics
        .iter()
        .find(|e| (e["start"].as_f64().unwrap() - 9.5).abs() < 0.3)
        .expect("the hold is reported as a static shot");
    assert!((hold["end"].as_f64().unwrap() - 11.5).abs() < 0.1, "{hold}");
    assert_eq!(hold["fault"], false);
    let quiet = events(&records, "quiet");
    assert!(
        quiet
            .iter()
            .any(|e| (e["start"].as_f64().unwrap() - 15.0).abs() < 0.5),
        "{quiet:?}"
    );
    assert!(!events(&records, "fade_black").is_empty(), "the fade out");
}

#[test]
fn a_slow_creeping_camera_with_grain_is_not_a_freeze() {
    let dir = tempfile::tempdir().unwrap();
    for (name, scale, grain) in [("creep", 0.03, 0.0), ("creep-grain", 0.05, 3.0)] {
        let spec = SceneSpec {
            motion_scale: scale,
            grain,
            cuts: vec![8.0],
            duration_s: 16.0,
            holds: vec![],
            still_shots: vec![],
            quiet: vec![],
            fade_out_at: None,
            ..clean_spec()
        };
        let src = clip(dir.path(), name, &spec);
        let (records, r) = eval_json(&src, &Settings::default());
        r.unwrap();
        let faults = faults_of(&records);
        eprintln!("measured: {name} faults {faults:?}");
        assert!(faults.is_empty(), "{name}: {faults:?}");
        assert_eq!(verdict(&records), "continue", "{name}");
    }
}

#[test]
fn faults_injected_into_the_clean_sequence_are_still_found_and_stop_with_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let spec = clean_spec();
    let src = clip(dir.path(), "clean", &spec);
    // Inside moving shots: a freeze mid-motion (shot 6.5–8.8 s), black cutting in and a
    // dropout (shot 17.1–20.2 s), flicker over the still shot at 12.5–15.2 s.
    let faults = Faults {
        freeze: vec![(7.0, 8.6)],
        black: vec![(17.4, 18.2)],
        silence: vec![(18.55, 19.5)],
        flicker: vec![(13.0, 14.2)],
        ..Default::default()
    };
    let out = dir.path().join("faults.mp4");
    let _stage = stage("injecting the faults", stage_s());
    let truth = inject(src.to_str().unwrap(), &out, &faults).unwrap();
    let (records, r) = eval_json(&out, &Settings::default());
    r.unwrap();
    for f in &truth.faults {
        let found: Vec<f64> = events(&records, &f.kind)
            .iter()
            .map(|e| (e["start"].as_f64().unwrap() - f.start).abs())
            .collect();
        let err = found.iter().copied().fold(f64::INFINITY, f64::min);
        let tolerance = if f.kind == "silence" { 0.020 } else { FRAME };
        eprintln!("measured: {} onset error {:.1} ms", f.kind, err * 1000.0);
        assert!(err <= tolerance, "{}: {found:?} ({f:?})", f.kind);
        assert!(
            FAULTS.contains(&f.kind.as_str()),
            "{} is a fault kind",
            f.kind
        );
    }
    // A freeze that lasts: 6.5 s mid-motion stops the render, and the reason names it.
    let moving = SceneSpec {
        cuts: vec![1.5, 12.0],
        duration_s: 14.0,
        still_shots: vec![],
        holds: vec![],
        quiet: vec![],
        fade_out_at: None,
        ..clean_spec()
    };
    let src = clip(dir.path(), "moving", &moving);
    let long = Faults {
        freeze: vec![(4.0, 10.5)],
        ..Default::default()
    };
    let out = dir.path().join("long-freeze.mp4");
    let _stage = stage("injecting a long freeze", stage_s());
    inject(src.to_str().unwrap(), &out, &long).unwrap();
    let (records, r) = eval_json(&out, &Settings::default());
    r.unwrap();
    let summary = of_type(&records, "summary")
        .last()
        .cloned()
        .cloned()
        .unwrap();
    assert_eq!(
        summary["verdict"]["verdict"], "stop",
        "{}",
        summary["verdict"]
    );
    let reason = &summary["verdict"]["reasons"][0];
    assert_eq!(reason["rule"], "frozen");
    let evidence = reason["evidence"].as_array().unwrap();
    assert!(
        evidence
            .iter()
            .any(|e| e.as_str().unwrap().contains("picture frozen")),
        "{reason}"
    );
}
