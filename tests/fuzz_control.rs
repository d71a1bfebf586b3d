//! Property tests (fuzzing on stable Rust, with proptest) of the control plane's parsers of
//! untrusted text: the config file (TOML → `Settings` → `validate`) and the stream definitions
//! sent to the HTTP API (JSON → `http::parse_definition`). For arbitrary, structured and
//! mutated input: never a panic; whatever is accepted is in range and can be used as the server
//! uses it; a definition never names a file outside the allowed directories.
//!
//! 10 000 cases per property by default (seconds); the long run is
//! `PROPTEST_CASES=1000000 cargo test --release --test fuzz_control`.
use evalverse::config::{ApiSources, MAX_RAW_SIDE, Settings, StreamSettings};
use evalverse::output::http::parse_definition;
use proptest::prelude::*;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000),
        // A failing case is kept in tests/fuzz_control.proptest-regressions and replayed first.
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    }
}

/// Values that break parsers and range checks: limits of every integer type, non-numbers,
/// wrong types, paths and URIs that try to escape.
const VALUES: &[&str] = &[
    "0",
    "-1",
    "1",
    "2",
    "7",
    "16",
    "127",
    "128",
    "255",
    "256",
    "5004",
    "65534",
    "65535",
    "65536",
    "8192",
    "8193",
    "100000",
    "2147483647",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551616",
    "0.0",
    "-0.0",
    "0.05",
    "0.5",
    "1.5",
    "3.0",
    "1e-300",
    "1e300",
    "-1e300",
    "1.7976931348623157e308",
    "nan",
    "inf",
    "-inf",
    "true",
    "false",
    "\"\"",
    "\"x\"",
    "\"cam1\"",
    "\"raw\"",
    "\"h264\"",
    "\"l16\"",
    "\"opus\"",
    "\"cpu\"",
    "\"127.0.0.1\"",
    "\"0.0.0.0\"",
    "\"::1\"",
    "\"127.0.0.1:0\"",
    "\"0.0.0.0:9800\"",
    "\"/\"",
    "\"/etc/passwd\"",
    "\"../../etc/passwd\"",
    "\"file:///etc/passwd\"",
    "\"file://host/etc/passwd\"",
    "\"http://127.0.0.1:9/x\"",
    "\"rtsp://cam/1\"",
    "\"a\\\" ! filesrc location=/etc/shadow\"",
    "\"\\u0000\"",
    "\"é\"",
    "[]",
    "[\"/tmp\"]",
    "[\"rtsp\"]",
    "[\"file\"]",
    "{}",
];

/// (table, key) pairs of the config file.
const KEYS: &[(&str, &str)] = &[
    ("server", "listen"),
    ("server", "max_streams"),
    ("server", "queue_frames"),
    ("server", "open_metrics"),
    ("server", "allowed_hosts"),
    ("server", "allowed_origins"),
    ("server", "header_timeout_s"),
    ("server", "request_timeout_s"),
    ("server", "max_connections"),
    ("server", "max_event_clients"),
    ("server", "retention_s"),
    ("server.api_sources", "dirs"),
    ("server.api_sources", "schemes"),
    ("analysis", "width"),
    ("analysis", "audio_rate"),
    ("analysis", "window_s"),
    ("analysis", "hop_s"),
    ("analysis", "sync_horizon_s"),
    ("analysis", "sync_search_ms"),
    ("analysis", "min_event_s"),
    ("analysis", "batch_frames"),
    ("analysis", "backend"),
    ("analysis.detectors", "freeze_mad"),
    ("analysis.detectors", "black_luma"),
    ("analysis.detectors", "silence_db"),
    ("alerting", "webhook"),
    ("alerting", "retries"),
    ("alerting", "timeout_s"),
    ("alerting", "shutdown_grace_s"),
    ("streams", "name"),
    ("streams", "address"),
    ("streams", "uri"),
    ("streams", "pipeline"),
    ("streams", "latency_ms"),
    ("streams", "stall_timeout_s"),
    ("streams.video", "port"),
    ("streams.video", "codec"),
    ("streams.video", "payload"),
    ("streams.video", "width"),
    ("streams.video", "height"),
    ("streams.audio", "port"),
    ("streams.audio", "codec"),
    ("streams.audio", "payload"),
    ("streams.audio", "clock_rate"),
    ("streams.audio", "channels"),
    ("alerts", "name"),
    ("alerts", "measurement"),
    ("alerts", "threshold"),
    ("alerts", "clear"),
    ("alerts", "for_s"),
];

/// A valid config touching every table, with `overrides` (index into KEYS, value) applied.
fn config_text(overrides: &[(usize, &str)]) -> String {
    let base: Vec<(&str, &str, String)> = vec![
        ("server", "listen", "\"127.0.0.1:9800\"".into()),
        ("server", "max_streams", "8".into()),
        ("server", "header_timeout_s", "5.0".into()),
        ("server.api_sources", "dirs", "[]".into()),
        ("analysis", "window_s", "4.0".into()),
        ("analysis", "hop_s", "1.0".into()),
        ("analysis.detectors", "freeze_mad", "0.0015".into()),
        ("alerting", "retries", "3".into()),
        ("streams", "name", "\"cam1\"".into()),
        ("streams", "latency_ms", "200".into()),
        ("streams.video", "port", "5004".into()),
        ("streams.video", "codec", "\"raw\"".into()),
        ("streams.video", "width", "1280".into()),
        ("streams.video", "height", "720".into()),
        ("streams.audio", "port", "5006".into()),
        ("streams.audio", "codec", "\"l16\"".into()),
        ("alerts", "name", "\"late\"".into()),
        ("alerts", "measurement", "\"sync.audio_delay_ms\"".into()),
        ("alerts", "op", "\">\"".into()),
        ("alerts", "threshold", "125".into()),
        ("alerts", "for_s", "3".into()),
        ("alerts", "severity", "\"warning\"".into()),
        ("alerts", "action", "\"log\"".into()),
    ];
    let mut entries = base;
    for (i, v) in overrides {
        let (table, key) = KEYS[*i % KEYS.len()];
        entries.retain(|(t, k, _)| !(*t == table && *k == key));
        entries.push((table, key, v.to_string()));
    }
    let mut out = String::new();
    for table in [
        "server",
        "server.api_sources",
        "analysis",
        "analysis.detectors",
        "alerting",
        "streams",
        "streams.video",
        "streams.audio",
        "alerts",
    ] {
        out += &match table {
            "streams" | "alerts" => format!("[[{table}]]\n"),
            _ => format!("[{table}]\n"),
        };
        for (_, k, v) in entries.iter().filter(|(t, _, _)| *t == table) {
            out += &format!("{k} = {v}\n");
        }
    }
    out
}

/// Up to 3 keys of the config set to hostile values.
fn config_overrides() -> impl Strategy<Value = Vec<(usize, &'static str)>> {
    prop::collection::vec((0..KEYS.len(), prop::sample::select(VALUES)), 1..4)
}

/// What the server does with accepted settings must not panic either.
fn use_settings(s: &Settings) {
    let srv = &s.server;
    assert!(srv.listen.parse::<std::net::SocketAddr>().is_ok());
    let _ = Duration::from_secs_f64(srv.header_timeout_s);
    let _ = Duration::from_secs_f64(srv.request_timeout_s);
    let _ = Duration::from_secs_f64(s.alerting.timeout_s);
    assert!(srv.max_event_clients >= 1 && srv.max_event_clients < srv.max_connections);
    for st in &s.streams {
        check_stream(st);
    }
}

fn check_stream(st: &StreamSettings) {
    st.validate().unwrap();
    assert!(!st.name.is_empty() && st.name.len() <= 64);
    if let Some(v) = &st.video {
        assert!(v.port > 0 && v.port < u16::MAX);
        for side in [v.width, v.height].into_iter().flatten() {
            assert!((16..=MAX_RAW_SIDE).contains(&side));
        }
    }
    if let Some(a) = &st.audio {
        assert!(a.port > 0 && a.port < u16::MAX && (1..=8).contains(&a.channels));
    }
    assert!(st.stall_timeout_s.is_finite() && (10..=10_000).contains(&st.latency_ms));
    let _ = Duration::from_secs_f64(st.stall_timeout_s);
}

fn check_config(text: &str) {
    if let Ok(s) = toml::from_str::<Settings>(text)
        && s.validate().is_ok()
    {
        use_settings(&s);
    }
}

fn base_json() -> &'static str {
    r#"{"name":"cam1","address":"127.0.0.1","video":{"port":5004,"codec":"raw","width":1280,"height":720,"payload":96},"audio":{"port":5006,"codec":"l16","clock_rate":48000,"channels":2},"latency_ms":200,"stall_timeout_s":3.0}"#
}

/// An allowed directory with one pipeline file and a symlink out of it, and the sources that
/// allow that directory.
fn allowed() -> &'static (ApiSources, PathBuf) {
    static A: OnceLock<(ApiSources, PathBuf)> = OnceLock::new();
    A.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz_control");
        let _ = std::fs::remove_dir_all(&root);
        let dir = root.join("allowed");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ok.pipeline"), "videotestsrc ! fakesink").unwrap();
        std::fs::write(root.join("secret"), "secret").unwrap();
        std::os::unix::fs::symlink(root.join("secret"), dir.join("link")).unwrap();
        let sources = ApiSources {
            dirs: vec![dir.clone()],
            schemes: vec!["rtsp".into()],
        };
        let real = std::fs::canonicalize(&dir).unwrap();
        (sources, real)
    })
}

/// A definition from the API: never a panic; accepted ones are valid and name nothing outside
/// the allowed directory.
fn check_definition(body: &[u8]) {
    let none = ApiSources::default();
    if let Ok(def) = parse_definition(body, &none) {
        check_stream(&def);
        // By default the API names no file and no URI at all.
        assert!(def.pipeline.is_none() && def.uri.is_none(), "{def:?}");
    }
    let (some, real) = allowed();
    if let Ok(def) = parse_definition(body, some) {
        check_stream(&def);
        if let Some(p) = &def.pipeline {
            assert!(p.starts_with(real), "{p:?} admitted");
        }
        if let Some(u) = &def.uri {
            if u.to_ascii_lowercase().starts_with("file:") {
                assert!(
                    u.contains(real.to_str().unwrap()) && !u.contains("/link"),
                    "{u} admitted"
                );
            } else {
                assert!(
                    u.to_ascii_lowercase().starts_with("rtsp://"),
                    "{u} admitted"
                );
            }
        }
    }
}

fn json_value() -> impl Strategy<Value = String> {
    let (_, real) = allowed();
    let dir = real.display().to_string();
    let mut values: Vec<String> = VALUES.iter().map(|v| v.to_string()).collect();
    values.extend([
        format!("\"{dir}/ok.pipeline\""),
        format!("\"{dir}/link\""),
        format!("\"{dir}/../secret\""),
        format!("\"{dir}\""),
        format!("\"file://{dir}/ok.pipeline\""),
        format!("\"file://{dir}/%2e%2e/secret\""),
        format!("\"file://{dir}/link\""),
    ]);
    prop::sample::select(values)
}

/// A definition that starts valid (`cam1`, video on 5004, audio on 5006 when present) with
/// hostile values set on up to 3 keys of each object.
fn json_object() -> impl Strategy<Value = String> {
    const TOP: &[&str] = &[
        "name",
        "address",
        "uri",
        "pipeline",
        "latency_ms",
        "stall_timeout_s",
        "extra",
    ];
    const MEDIUM: &[&str] = &[
        "port",
        "codec",
        "payload",
        "width",
        "height",
        "clock_rate",
        "channels",
    ];
    let edits = |keys: &'static [&'static str]| {
        prop::collection::vec((prop::sample::select(keys), json_value()), 0..4)
    };
    (
        edits(TOP),
        prop::option::of(edits(MEDIUM)),
        prop::option::of(edits(MEDIUM)),
    )
        .prop_map(|(top, video, audio)| {
            fn set(kv: &mut Vec<(String, String)>, edits: Vec<(&str, String)>) {
                for (k, v) in edits {
                    kv.retain(|(key, _)| key != k);
                    kv.push((k.to_string(), v));
                }
            }
            let render = |kv: &[(String, String)]| {
                let fields: Vec<String> = kv.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                format!("{{{}}}", fields.join(","))
            };
            let mut t = vec![("name".to_string(), "\"cam1\"".to_string())];
            set(&mut t, top);
            for (medium, port, edits) in [("video", "5004", video), ("audio", "5006", audio)] {
                if let Some(e) = edits {
                    let mut m = vec![("port".to_string(), port.to_string())];
                    set(&mut m, e);
                    t.push((medium.to_string(), render(&m)));
                }
            }
            render(&t)
        })
}

/// Byte edits: (position, replacement byte, kind) — replace, insert or delete.
fn mutate(base: &[u8], edits: &[(usize, u8, u8)]) -> Vec<u8> {
    let mut b = base.to_vec();
    for &(pos, byte, kind) in edits {
        let i = pos % (b.len() + 1);
        match kind % 3 {
            0 if i < b.len() => b[i] = byte,
            1 => b.insert(i, byte),
            _ if i < b.len() => {
                b.remove(i);
            }
            _ => {}
        }
    }
    b
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn config_from_arbitrary_text(text in "\\PC{0,400}") {
        check_config(&text);
    }

    #[test]
    fn config_with_hostile_values(overrides in config_overrides()) {
        let text = config_text(&overrides);
        check_config(&text);
    }

    #[test]
    fn config_mutated_bytes(edits in prop::collection::vec(any::<(usize, u8, u8)>(), 1..12)) {
        let base = config_text(&[]);
        let text = mutate(base.as_bytes(), &edits);
        check_config(&String::from_utf8_lossy(&text));
    }

    #[test]
    fn definition_from_arbitrary_bytes(body in prop::collection::vec(any::<u8>(), 0..300)) {
        check_definition(&body);
    }

    #[test]
    fn definition_with_hostile_values(body in json_object()) {
        check_definition(body.as_bytes());
    }

    #[test]
    fn definition_mutated_bytes(edits in prop::collection::vec(any::<(usize, u8, u8)>(), 1..12)) {
        check_definition(&mutate(base_json().as_bytes(), &edits));
    }
}

#[test]
fn the_generators_reach_acceptance() {
    // A fuzzer that only ever produces rejected input tests nothing past the first check.
    let s: Settings = toml::from_str(&config_text(&[])).unwrap();
    s.validate().unwrap();
    use_settings(&s);
    let def = parse_definition(base_json().as_bytes(), &ApiSources::default()).unwrap();
    check_stream(&def);
    let (some, real) = allowed();
    let body = format!(
        r#"{{"name":"x","pipeline":"{}/ok.pipeline"}}"#,
        real.display()
    );
    assert!(parse_definition(body.as_bytes(), some).is_ok());

    // The hostile generators produce accepted input often enough to exercise what follows.
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let configs = config_overrides();
    let definitions = json_object();
    let (mut configs_ok, mut definitions_ok) = (0, 0);
    for _ in 0..1000 {
        let o = configs.new_tree(&mut runner).unwrap().current();
        if toml::from_str::<Settings>(&config_text(&o)).is_ok_and(|s| s.validate().is_ok()) {
            configs_ok += 1;
        }
        let d = definitions.new_tree(&mut runner).unwrap().current();
        if parse_definition(d.as_bytes(), some).is_ok() {
            definitions_ok += 1;
        }
    }
    eprintln!("accepted: {configs_ok}/1000 configs, {definitions_ok}/1000 definitions");
    assert!(
        configs_ok >= 15 && definitions_ok >= 15,
        "{configs_ok} {definitions_ok}"
    );
}
