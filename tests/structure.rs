//! The house rules, checked on the source text (`cargo test --release --test structure`):
//!
//! - no import cycle among our modules (a parent module and its own children excepted),
//!   counting `use crate::…`, `crate::a::b` paths (re-exports included: a path through a
//!   re-export names the module that re-exports) and `super::…`; test modules and comments do
//!   not count;
//! - `vocab` imports nothing of ours;
//! - imports go down the layers of the data flow ([`LAYERS`]): the evaluator emits records and
//!   knows no output (the application installs the sinks), nothing below the command line
//!   imports it, and a new top-level module must be given its layer;
//! - no source file longer than [`MAX_FILE_LINES`] (tests excepted);
//! - no function longer than [`MAX_FN_LINES`] on the hot path (ingest, window, model,
//!   evaluator) or in the command line (`main.rs`, `cli/`).
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_FN_LINES: usize = 80;

/// Longest source file, its test module excepted (a ceiling, so none grows past it).
const MAX_FILE_LINES: usize = 1600;

/// Top-level modules by layer, lowest first: a module may import from its own layer or any
/// below. The records name the model's figures (`score` above `model`); the calibration is
/// handed to each stream by the evaluator, not held by the model.
const LAYERS: &[&[&str]] = &[
    &["vocab", "types", "metric_names"],
    &["files"],
    &["config"],
    &["window", "ingest", "sender"],
    &["model"],
    &["score"],
    &["alert"],
    &["evaluator"],
    &["output", "batch", "calibration", "train", "train_lips"],
    &["cli", "main", ""],
];

type Module = Vec<String>;

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn module_of(src: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut m: Module = rel
        .iter()
        .map(|c| c.to_string_lossy().to_string())
        .collect();
    if matches!(m.last().map(String::as_str), Some("mod" | "lib")) {
        m.pop();
    }
    m
}

/// The code of a file without its test module and without comments.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Module paths a file names: `crate::a::b…`, `super::a…`, and the items of
/// `use crate::{a::b, c}`.
fn named_paths(m: &Module, code: &str) -> Vec<Module> {
    let mut out = vec![];
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut rest = code;
    while let Some(i) = rest.find(|c: char| c == 'c' || c == 's') {
        let tail = &rest[i..];
        let before_ok = i == 0 || !rest[..i].ends_with(ident);
        let (head, base): (&str, Module) = if tail.starts_with("crate::") && before_ok {
            ("crate::", vec![])
        } else if tail.starts_with("super::") && before_ok {
            // `super` is the parent module, for a file module and a `mod.rs` alike.
            let mut b = m.clone();
            b.pop();
            ("super::", b)
        } else {
            rest = &rest[i + 1..];
            continue;
        };
        let after = &tail[head.len()..];
        if let Some(group) = after.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let mut p = base.clone();
                p.extend(
                    item.trim()
                        .split("::")
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty() && s != "self"),
                );
                out.push(p);
            }
        } else {
            let end = after
                .find(|c: char| !(ident(c) || c == ':'))
                .unwrap_or(after.len());
            let mut p = base.clone();
            p.extend(
                after[..end]
                    .split("::")
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
            );
            out.push(p);
        }
        rest = &rest[i + head.len()..];
    }
    out
}

fn related(a: &Module, b: &Module) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

fn graph() -> BTreeMap<Module, BTreeSet<Module>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut fs = vec![];
    files(&src, &mut fs);
    let modules: BTreeMap<Module, PathBuf> =
        fs.iter().map(|f| (module_of(&src, f), f.clone())).collect();
    let mut edges = BTreeMap::new();
    for (m, f) in &modules {
        let text = code(&std::fs::read_to_string(f).unwrap());
        let mut to = BTreeSet::new();
        for p in named_paths(m, &text) {
            // The longest prefix that is one of our modules.
            let target = (1..=p.len())
                .rev()
                .map(|k| p[..k].to_vec())
                .find(|k| modules.contains_key(k));
            if let Some(t) = target.filter(|t| t != m && !related(t, m)) {
                to.insert(t);
            }
        }
        edges.insert(m.clone(), to);
    }
    edges
}

/// A cycle through `start`, if there is one.
fn cycle_from(g: &BTreeMap<Module, BTreeSet<Module>>, start: &Module) -> Option<Vec<Module>> {
    let mut stack = vec![(start.clone(), vec![start.clone()])];
    let mut seen = BTreeSet::new();
    while let Some((m, path)) = stack.pop() {
        for n in g.get(&m).into_iter().flatten() {
            if n == start {
                return Some(path.clone());
            }
            if seen.insert(n.clone()) {
                let mut p = path.clone();
                p.push(n.clone());
                stack.push((n.clone(), p));
            }
        }
    }
    None
}

#[test]
fn no_import_cycles_and_the_vocabulary_is_a_leaf() {
    let g = graph();
    assert!(g.len() > 30, "modules found: {}", g.len());
    let vocab = g.get(&vec!["vocab".to_string()]).expect("src/vocab.rs");
    assert!(vocab.is_empty(), "vocab imports {vocab:?}");
    // The reading finds real edges (a check that finds nothing proves nothing).
    let record = vec!["score".to_string(), "record".to_string()];
    assert!(g[&record].contains(&vec!["vocab".to_string()]));
    for m in g.keys() {
        if let Some(c) = cycle_from(&g, m) {
            let names: Vec<String> = c.iter().map(|m| m.join("/")).collect();
            panic!("import cycle: {} → back", names.join(" → "));
        }
    }
}

#[test]
fn no_long_functions_on_the_hot_path_or_in_the_command_line() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut fs = vec![];
    for d in ["ingest", "window", "model", "evaluator", "cli"] {
        files(&src.join(d), &mut fs);
    }
    fs.push(src.join("main.rs"));
    let mut long = vec![];
    for f in &fs {
        let text = std::fs::read_to_string(f).unwrap();
        let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let t = l.trim_start();
            let indent = l.len() - t.len();
            let is_fn = [
                "fn ",
                "pub fn ",
                "pub(crate) fn ",
                "async fn ",
                "pub async fn ",
            ]
            .iter()
            .any(|p| t.starts_with(p));
            if !is_fn || t.ends_with(';') {
                continue;
            }
            let close = format!("{}}}", " ".repeat(indent));
            let Some(len) = lines[i + 1..].iter().position(|x| x.trim_end() == close) else {
                continue;
            };
            if len + 1 > MAX_FN_LINES {
                long.push(format!("{}:{} {} lines", f.display(), i + 1, len + 2));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over {MAX_FN_LINES} lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn imports_go_down_the_layers_and_files_stay_short() {
    let g = graph();
    let layer = |m: &Module| -> Option<usize> {
        let top = m.first().map(String::as_str).unwrap_or("");
        LAYERS.iter().position(|l| l.contains(&top))
    };
    let mut climbs = vec![];
    let mut unplaced = BTreeSet::new();
    for (m, to) in &g {
        let Some(lm) = layer(m) else {
            unplaced.insert(m[0].clone());
            continue;
        };
        for t in to {
            match layer(t) {
                Some(lt) if lt > lm => climbs.push(format!("{} → {}", m.join("/"), t.join("/"))),
                Some(_) => {}
                None => {
                    unplaced.insert(t[0].clone());
                }
            }
        }
    }
    assert!(
        unplaced.is_empty(),
        "give these modules a layer in LAYERS: {unplaced:?}"
    );
    assert!(
        climbs.is_empty(),
        "imports that climb a layer:\n{}",
        climbs.join("\n")
    );
    // The reading sees the layers' real edges (a check that finds nothing proves nothing).
    let evaluator = vec!["evaluator".to_string()];
    assert!(g[&evaluator].contains(&vec!["ingest".to_string()]));

    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut fs = vec![];
    files(&src, &mut fs);
    let long: Vec<String> = fs
        .iter()
        .filter_map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            let n = text
                .split("#[cfg(test)]\nmod tests")
                .next()
                .unwrap_or("")
                .lines()
                .count();
            (n > MAX_FILE_LINES).then(|| format!("{} {n} lines", f.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "files over {MAX_FILE_LINES} lines:\n{}",
        long.join("\n")
    );
}

/// The golden run: `tests/data/golden.mp4` (made as `tests/data/README.md` says) evaluated by
/// the binary, compared with `tests/data/golden.jsonl` record by record. Records are matched by
/// what they are (type, kind, time), not by line order (the sound and picture branches
/// interleave); numbers agree within [`GOLDEN_ABS`] + [`GOLDEN_REL`] × |value|; wall-clock
/// figures are not compared. A change in any figure fails here and shows in review as a change
/// of the golden file: `EVALVERSE_BLESS=1 cargo test --release --test structure golden` writes
/// the new one.
const GOLDEN_ABS: f64 = 2e-3;
const GOLDEN_REL: f64 = 1e-3;
const WALL_CLOCK: &[&str] = &["latency_s", "elapsed_s", "speed_x"];

fn golden_key(r: &serde_json::Value) -> String {
    let f = |k: &str| r.get(k).map(|v| v.to_string()).unwrap_or_default();
    match r["type"].as_str().unwrap_or("") {
        "cut" => format!("cut {}", f("pts")),
        "event" => format!("event {} {} {}", f("kind"), f("start"), f("ongoing")),
        "window" => format!("window {}", f("end")),
        "alert" => format!("alert {} {} {}", f("rule"), f("state"), f("at")),
        "state" => format!("state {} {}", f("state"), f("message")),
        t => t.to_string(),
    }
}

fn golden_diff(
    path: &str,
    want: &serde_json::Value,
    got: &serde_json::Value,
    out: &mut Vec<String>,
) {
    use serde_json::Value;
    match (want, got) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            if (a - b).abs() > GOLDEN_ABS + GOLDEN_REL * a.abs() {
                out.push(format!("{path}: {a} → {b}"));
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            for k in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
                if WALL_CLOCK.contains(&k.as_str()) {
                    continue;
                }
                let (x, y) = (a.get(k), b.get(k));
                match (x, y) {
                    (Some(x), Some(y)) => golden_diff(&format!("{path}.{k}"), x, y, out),
                    _ => out.push(format!("{path}.{k}: {x:?} → {y:?}")),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                golden_diff(&format!("{path}[{i}]"), x, y, out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(format!("{path}: {a} → {b}")),
    }
}

#[test]
fn the_golden_run_is_unchanged() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let clip = root.join("golden.mp4");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_evalverse"))
        .args(["eval", clip.to_str().unwrap(), "--json", "--backend", "cpu"])
        .env("EVALVERSE_LOG", "error")
        .output()
        .expect("running the evalverse binary");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let golden = root.join("golden.jsonl");
    if std::env::var_os("EVALVERSE_BLESS").is_some() {
        std::fs::write(&golden, &text).unwrap();
        return;
    }
    let parse = |t: &str| -> BTreeMap<String, Vec<serde_json::Value>> {
        let mut m: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
        for l in t.lines() {
            let v: serde_json::Value = serde_json::from_str(l).expect("each line is JSON");
            m.entry(golden_key(&v)).or_default().push(v);
        }
        m
    };
    let want = parse(&std::fs::read_to_string(&golden).unwrap());
    let got = parse(&text);
    // Every hop has its window, to the end (one lost at the end of a file once, when the
    // sound branch trailed).
    let mut ends: Vec<f64> = got
        .values()
        .flatten()
        .filter(|r| r["type"] == "window")
        .filter_map(|r| r["end"].as_f64())
        .collect();
    ends.sort_by(f64::total_cmp);
    assert!(ends.len() >= 8, "windows end at {ends:?}");
    assert!(
        ends.windows(2).all(|w| w[1] - w[0] <= 1.0 + 1e-6),
        "a hop without its window: {ends:?}"
    );
    // A committed delay says what it rests on (the metric evalverse_sync_evidence reads it).
    for r in got.values().flatten().filter(|r| r["type"] == "window") {
        let sync = &r["sync"];
        if !sync["audio_delay_ms"].is_null() {
            assert!(
                sync["source"].is_string(),
                "committed without a source: {r}"
            );
        }
    }
    let mut diffs = vec![];
    for k in want
        .keys()
        .chain(got.keys().filter(|k| !want.contains_key(*k)))
    {
        match (want.get(k), got.get(k)) {
            (Some(a), Some(b)) if a.len() == b.len() => {
                for (x, y) in a.iter().zip(b) {
                    golden_diff(k, x, y, &mut diffs);
                }
            }
            (a, b) => diffs.push(format!(
                "{k}: {} record(s) → {}",
                a.map_or(0, Vec::len),
                b.map_or(0, Vec::len)
            )),
        }
    }
    assert!(
        diffs.is_empty(),
        "the golden run changed ({} differences; if meant, bless it: EVALVERSE_BLESS=1 cargo \
         test --release --test structure golden):\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

/// One schema: every record the golden run wrote reads back into the record types and writes
/// out again as it was (`Record` derives `Deserialize` as well as `Serialize`; causes, statuses,
/// states and timings are enums).
#[test]
fn records_read_back_as_written() {
    use evalverse::score::record::Record;
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden.jsonl");
    let text = std::fs::read_to_string(golden).unwrap();
    let mut kinds = BTreeSet::new();
    for line in text.lines() {
        let written: serde_json::Value = serde_json::from_str(line).unwrap();
        let r: Record = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{e}: a record that does not read back: {line}"));
        let again: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(again, written, "read back and written again, it differs");
        kinds.insert(written["type"].as_str().unwrap().to_string());
    }
    for k in ["cut", "event", "window", "summary"] {
        assert!(
            kinds.contains(k),
            "the golden run has no {k} record: {kinds:?}"
        );
    }
    // A live stream's records the golden file run does not have.
    for line in [
        r#"{"type":"state","stream":"cam","state":"stalled","message":"no video packets for 2.0 s"}"#,
        r#"{"type":"alert","stream":"cam","rule":"frozen","state":"firing","severity":"critical","action":"stop","measurement":"continuity.freeze_ratio","value":0.9,"threshold":0.5,"since":8.0,"at":10.0,"message":"frozen"}"#,
        r#"{"type":"verdict","stream":"cam","verdict":"stop","reasons":[{"rule":"frozen","severity":"critical","measurement":"continuity.freeze_ratio","value":0.9,"since":8.0,"message":"frozen","evidence":["picture frozen 8.000–10.000 s"]}],"firing":[]}"#,
    ] {
        let r: Record = serde_json::from_str(line).expect(line);
        let again: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(
            again,
            serde_json::from_str::<serde_json::Value>(line).unwrap()
        );
    }
    // A cause or status outside the schema is refused, not carried as a string.
    let bad = text
        .lines()
        .find(|l| l.contains(r#""type":"cut""#))
        .unwrap()
        .replace(r#""cause":"content""#, r#""cause":"weather""#);
    assert!(serde_json::from_str::<Record>(&bad).is_err(), "{bad}");
}
