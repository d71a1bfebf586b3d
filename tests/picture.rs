//! The picture dimension end to end: faults of known amount injected by `evalverse inject`
//! into a generated multi-shot sequence, found on their frames, none on the clean sequence,
//! and severity that grows with the amount.
mod common;
use common::*;
use evalverse::config::Settings;
use evalverse::sender::inject::{Faults, inject};
use evalverse::sender::picture_faults::PictureFaults;
use evalverse::sender::synth::SceneSpec;
use serde_json::Value;
use std::path::Path;

const FPS: f64 = 25.0;

/// The defaults with the detail plane on (off by default: it is what `blur` and `noise` read).
fn settings() -> Settings {
    let mut s = Settings::default();
    s.analysis.detail_width = 480;
    s
}

fn spec() -> SceneSpec {
    SceneSpec {
        width: 640,
        height: 360,
        fps: 25,
        duration_s: 18.0,
        cuts: vec![5.0, 12.0],
        seed: 5,
        ..Default::default()
    }
}

const PICTURE_KINDS: [&str; 6] = [
    "overexposed",
    "underexposed",
    "blur",
    "noise",
    "shake",
    "camera_jump",
];

fn picture_events(records: &[Value]) -> Vec<(String, f64, f64, &Value)> {
    of_type(records, "event")
        .into_iter()
        .filter(|e| !e["ongoing"].as_bool().unwrap_or(false))
        .filter_map(|e| {
            let k = e["kind"].as_str()?;
            PICTURE_KINDS.contains(&k).then(|| {
                (
                    k.to_string(),
                    e["start"].as_f64().unwrap_or(f64::NAN),
                    e["end"].as_f64().unwrap_or(f64::NAN),
                    e,
                )
            })
        })
        .collect()
}

/// Every ended event: (kind, start, end).
fn ended_events(records: &[Value]) -> Vec<(&str, f64, f64)> {
    of_type(records, "event")
        .into_iter()
        .filter(|e| !e["ongoing"].as_bool().unwrap_or(false))
        .filter_map(|e| {
            Some((
                e["kind"].as_str()?,
                e["start"].as_f64()?,
                e["end"].as_f64()?,
            ))
        })
        .collect()
}

fn injected(dir: &Path, src: &Path, name: &str, picture: PictureFaults) -> Vec<Value> {
    let out = dir.join(format!("{name}.mp4"));
    let _stage = stage(&format!("injecting {name}"), stage_s());
    inject(
        src.to_str().unwrap(),
        &out,
        &Faults {
            picture,
            ..Default::default()
        },
    )
    .unwrap();
    let (records, r) = eval_json(&out, &settings());
    r.unwrap();
    records
}

#[test]
fn injected_picture_faults_are_found_on_their_frames_and_none_on_the_clean_clip() {
    let dir = tempfile::tempdir().unwrap();
    let src = clip(dir.path(), "clean", &spec());
    let (clean, r) = eval_json(&src, &settings());
    r.unwrap();
    let found = picture_events(&clean);
    assert!(found.is_empty(), "clean sequence: {found:?}");
    let records = injected(
        dir.path(),
        &src,
        "faults",
        PictureFaults {
            shake: vec![(1.5, 3.5, 1.0)],
            exposure: vec![(6.0, 8.0, 3.0), (13.0, 15.5, -3.0)],
            blur: vec![(9.0, 10.6, 3.0)],
            noise: vec![(15.8, 17.5, 8.0)],
        },
    );
    let found = picture_events(&records);
    eprintln!(
        "measured: {:?}",
        found.iter().map(|f| (&f.0, f.1, f.2)).collect::<Vec<_>>()
    );
    let one = |kind: &str, start: f64, end: f64, tol_end: f64| {
        let hits: Vec<_> = found.iter().filter(|f| f.0 == kind).collect();
        assert_eq!(hits.len(), 1, "{kind}: {found:?}");
        let (_, s, e, _) = hits[0];
        assert!(
            (s - start).abs() <= 1.0 / FPS + 1e-6,
            "{kind} onset {s} (truth {start})"
        );
        assert!((e - end).abs() <= tol_end, "{kind} end {e} (truth {end})");
    };
    one("shake", 1.52, 3.52, 2.0 / FPS + 1e-6);
    one("overexposed", 6.0, 8.0, 1.0 / FPS + 1e-6);
    one("underexposed", 13.0, 15.52, 1.0 / FPS + 1e-6);
    // Blur and noise are measured on the detail plane, 10 frames a second by default: their
    // onsets are within one detail frame.
    let detail = 0.1 + 1e-6;
    let near = |kind: &str, start: f64, end: f64| {
        let hits: Vec<_> = found.iter().filter(|f| f.0 == kind).collect();
        assert_eq!(hits.len(), 1, "{kind}: {found:?}");
        let (_, s, e, _) = hits[0];
        assert!(
            (s - start).abs() <= detail,
            "{kind} onset {s} (truth {start})"
        );
        assert!((e - end).abs() <= detail, "{kind} end {e} (truth {end})");
    };
    near("blur", 9.0, 10.6);
    near("noise", 15.8, 17.52);
    assert_eq!(found.len(), 5, "{found:?}");
    // Windows over the faults score the picture down.
    let windows = of_type(&records, "window");
    let picture = |s: f64| {
        windows
            .iter()
            .find(|w| w["start"].as_f64() == Some(s))
            .and_then(|w| w["scores"]["picture"].as_f64())
            .unwrap()
    };
    assert!(picture(0.0) < 60.0, "window 0–4 s: {}", picture(0.0));
    assert!(
        picture(8.0) < 70.0,
        "window 8–12 s (blur): {}",
        picture(8.0)
    );
    // The clean sequence's windows are all 100.
    for w in of_type(&clean, "window") {
        assert_eq!(
            w["scores"]["picture"].as_f64(),
            Some(100.0),
            "{}",
            w["start"]
        );
    }
}

#[test]
fn shake_severity_grows_with_its_amplitude() {
    let dir = tempfile::tempdir().unwrap();
    let src = clip(dir.path(), "clean", &spec());
    let mut last = 0.0;
    for pct in [0.5, 1.0, 2.0] {
        let records = injected(
            dir.path(),
            &src,
            &format!("shake{pct}"),
            PictureFaults {
                shake: vec![(6.0, 10.0, pct)],
                ..Default::default()
            },
        );
        let found = picture_events(&records);
        let shakes: Vec<_> = found.iter().filter(|f| f.0 == "shake").collect();
        assert_eq!(shakes.len(), 1, "{pct} %: {found:?}");
        let jitter = shakes[0].3["jitter_pct"].as_f64().unwrap();
        eprintln!("measured: shake {pct} % → jitter {jitter:.3} % of the width");
        assert!(jitter > last * 1.5, "{pct} %: jitter {jitter} after {last}");
        last = jitter;
    }
}

#[test]
fn blur_severity_grows_with_its_radius() {
    let dir = tempfile::tempdir().unwrap();
    let src = clip(dir.path(), "clean", &spec());
    let mut ratios = vec![];
    for px in [1.0, 2.0, 4.0] {
        let records = injected(
            dir.path(),
            &src,
            &format!("blur{px}"),
            PictureFaults {
                blur: vec![(7.0, 10.0, px)],
                ..Default::default()
            },
        );
        let found = picture_events(&records);
        let blurs: Vec<_> = found.iter().filter(|f| f.0 == "blur").collect();
        assert_eq!(blurs.len(), 1, "radius {px}: {found:?}");
        let ratio = blurs[0].3["ratio"].as_f64().unwrap();
        eprintln!("measured: blur radius {px} px → sharpness {ratio:.3} of the shot's");
        ratios.push(ratio);
    }
    // Monotone; the generated pictures are smooth, so the loss saturates past 2 px (the
    // coding noise is all the detail left): strictly down from 1 to 2 px, not up after.
    assert!(ratios[1] < ratios[0] - 0.01, "{ratios:?}");
    assert!(ratios[2] <= ratios[1] + 0.005, "{ratios:?}");
}

#[test]
fn a_shot_that_loses_the_sequences_texture_is_named_in_the_style_note() {
    let dir = tempfile::tempdir().unwrap();
    let src = clip(dir.path(), "clean", &spec());
    let style_notes = |records: &[Value]| -> Vec<String> {
        of_type(records, "window")
            .iter()
            .flat_map(|w| w["diagnosis"].as_array().cloned().unwrap_or_default())
            .filter(|d| {
                d["observed"]
                    .as_str()
                    .unwrap_or("")
                    .contains("look signature")
            })
            .map(|d| d["aspect"].as_str().unwrap_or("").to_string())
            .collect()
    };
    let (clean, r) = eval_json(&src, &settings());
    r.unwrap();
    assert!(
        style_notes(&clean).is_empty(),
        "clean: {:?}",
        style_notes(&clean)
    );
    let last_parts = |records: &[Value]| {
        of_type(records, "window")
            .iter()
            .filter_map(|w| w["style"]["parts"].as_object().cloned())
            .last()
            .unwrap()
    };
    let p = last_parts(&clean);
    eprintln!("measured: clean sequence, last shot's drift parts {p:?}");
    assert!(p["texture"].as_f64().unwrap() < 3.0, "{p:?}");
    // The whole last shot (12–18 s) grainy: inside the shot nothing changes (no `noise` event,
    // which is relative to the shot's own level), but its texture is not the sequence's.
    let records = injected(
        dir.path(),
        &src,
        "grainy",
        PictureFaults {
            noise: vec![(12.0, 18.0, 12.0)],
            ..Default::default()
        },
    );
    let p = last_parts(&records);
    eprintln!("measured: grainy last shot, drift parts {p:?}");
    let texture = p["texture"].as_f64().unwrap();
    for g in ["grade", "exposure", "camera"] {
        assert!(p[g].as_f64().unwrap() < texture, "{g}: {p:?}");
    }
    let notes = style_notes(&records);
    assert!(!notes.is_empty(), "no style note: {p:?}");
    assert!(
        notes.iter().all(|a| a == "cinematography (focus, grain)"),
        "{notes:?}"
    );
}

/// A picture that moves on after a freeze leaps to where the scene got meanwhile: one fault,
/// the freeze, not a freeze and a camera jump (the 30 s demo reported both).
#[test]
fn the_leap_out_of_a_freeze_is_not_a_camera_jump() {
    let dir = tempfile::tempdir().unwrap();
    let spec = SceneSpec {
        duration_s: 10.0,
        cuts: vec![2.0, 8.5],
        freeze: vec![(5.0, 6.5)],
        ..spec()
    };
    let src = clip(dir.path(), "frozen", &spec);
    let (records, r) = eval_json(&src, &settings());
    r.unwrap();
    let events = ended_events(&records);
    assert!(events.iter().any(|e| e.0 == "freeze"), "{events:?}");
    assert!(events.iter().all(|e| e.0 != "camera_jump"), "{events:?}");
}

/// A freeze two frames into a shot (the README's first example: a cut at 3.92 s, the picture
/// held 4–5.5 s) has almost no motion before it to tell it from a shot that opens still; the
/// leap of the same picture when it moves on says it was held while the scene went on: a
/// freeze, not an informative `static_shot` and a camera jump.
#[test]
fn a_freeze_just_after_a_cut_is_a_freeze() {
    let dir = tempfile::tempdir().unwrap();
    let spec = SceneSpec {
        width: 640,
        height: 360,
        fps: 25,
        duration_s: 10.0,
        cuts: vec![2.0, 3.92, 7.0],
        freeze: vec![(4.0, 5.5)],
        ..Default::default()
    };
    let src = clip(dir.path(), "held", &spec);
    let (records, r) = eval_json(&src, &Settings::default());
    r.unwrap();
    let events = ended_events(&records);
    assert!(
        events
            .iter()
            .any(|e| e.0 == "freeze" && (e.1 - 4.0).abs() < 0.1 && (e.2 - 5.5).abs() < 0.1),
        "{events:?}"
    );
    assert!(
        !events
            .iter()
            .any(|e| e.0 == "static_shot" || (e.0 == "camera_jump" && (e.1 - 5.5).abs() < 0.2)),
        "{events:?}"
    );
}

/// The generator's own clean sequence (`evalverse generate --duration 10 --cuts 2,3.92,7`):
/// its ball leaves the frame on the right and comes back on the left over a smooth, still
/// background; that leap dominated the correlation and was reported as the camera jumping 70 %
/// of the picture's width at 9.28 s. Moving the whole picture by it explains nothing.
#[test]
fn an_object_wrapping_round_the_frame_is_not_a_camera_jump() {
    let dir = tempfile::tempdir().unwrap();
    let spec = SceneSpec {
        duration_s: 10.0,
        cuts: vec![2.0, 3.92, 7.0],
        seed: 7,
        ..spec()
    };
    let src = clip(dir.path(), "wrap", &spec);
    let (records, r) = eval_json(&src, &Settings::default());
    r.unwrap();
    let events = ended_events(&records);
    assert!(events.iter().all(|e| e.0 != "camera_jump"), "{events:?}");
}
