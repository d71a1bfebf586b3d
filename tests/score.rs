//! `evalverse score`: one line per clip, broken clips as records, resumable, shardable, systems
//! from folder names.
mod common;

use evalverse::sender::synth::SceneSpec;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

fn score(args: &[&str]) -> (i32, String) {
    let out = common::evalverse_cli(&[&["score"], args, &["--backend", "cpu"]].concat());
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn lines(p: &Path) -> Vec<Value> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

#[test]
fn scores_a_folder_resumes_and_shards() {
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("set");
    for (sys, freeze) in [("good", vec![]), ("frozen", vec![(2.4, 3.6)])] {
        let d = set.join(sys);
        std::fs::create_dir_all(&d).unwrap();
        for k in 0..3 {
            let spec = SceneSpec {
                duration_s: 5.0,
                cuts: vec![1.6, 3.9],
                freeze: freeze.clone(),
                seed: k,
                ..Default::default()
            };
            common::clip(&d, &format!("c{k}"), &spec);
        }
    }
    std::fs::write(set.join("good").join("broken.mp4"), b"not a video at all").unwrap();
    let out = dir.path().join("results.jsonl");
    let o = out.to_str().unwrap();
    let (code, log) = score(&[set.to_str().unwrap(), "--out", o, "--jobs", "2"]);
    assert_eq!(code, 1, "a failed clip makes the exit status 1: {log}");
    let first = lines(&out);
    let clips: Vec<&Value> = first.iter().filter(|l| l["type"] == "clip").collect();
    let errors: Vec<&Value> = first.iter().filter(|l| l["type"] == "error").collect();
    assert_eq!((clips.len(), errors.len()), (6, 1), "{first:?}");
    assert_eq!(errors[0]["clip"], "good/broken.mp4");
    for c in &clips {
        assert!(
            c["scores"]["overall"].is_number() && c["sha256"].is_string(),
            "{c}"
        );
        let sys = c["system"].as_str().unwrap();
        assert!(c["clip"].as_str().unwrap().starts_with(sys), "{c}");
        let frozen = c["events"]["freeze"].as_u64().unwrap();
        assert_eq!(frozen > 0, sys == "frozen", "{c}");
    }
    assert!(
        log.contains("system") && log.contains("frozen") && log.contains("worst clips"),
        "{log}"
    );

    // Resumed: the six scored clips are skipped; only the broken one is tried again.
    let (_, log) = score(&[set.to_str().unwrap(), "--out", o]);
    assert!(
        log.contains("scored 0 clips") && log.contains("6 already in the results"),
        "{log}"
    );
    assert_eq!(lines(&out).len(), first.len() + 1);

    // Shards: disjoint, and together every clip.
    let mut seen = vec![];
    for i in 0..3 {
        let p = dir.path().join(format!("shard{i}.jsonl"));
        let shard = format!("{i}/3");
        score(&[
            set.to_str().unwrap(),
            "--out",
            p.to_str().unwrap(),
            "--shard",
            &shard,
        ]);
        seen.extend(
            lines(&p)
                .iter()
                .map(|l| l["clip"].as_str().unwrap().to_string()),
        );
    }
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!((seen.len(), unique.len()), (7, 7), "{seen:?}");
    let (code, log) = score(&[set.to_str().unwrap(), "--shard", "3/3"]);
    assert_eq!(code, 2, "{log}");

    // With a calibration every clip line carries the calibrated scores.
    let cal = dir.path().join("cal.json");
    common::constant_calibration(&cal, &["overall"], 3.0);
    let p = dir.path().join("calibrated.jsonl");
    let frozen = set.join("frozen");
    score(&[
        frozen.to_str().unwrap(),
        "--out",
        p.to_str().unwrap(),
        "--calibration",
        cal.to_str().unwrap(),
    ]);
    let cal_lines = lines(&p);
    assert_eq!(cal_lines.len(), 3);
    assert!(
        cal_lines.iter().all(|l| l["calibrated"]["overall"] == 3.0),
        "{cal_lines:?}"
    );
}
