//! The monitoring stack, for real: `evalverse serve` (the binary) fed by an RTP sender, scraped
//! by a real Prometheus server on loopback; the test queries Prometheus's HTTP API for a score
//! series, checks the exposition with `promtool`, and drives the stream API (bearer token on
//! every /v1 call, /metrics open; add, verdict, delete → the stream's series leave /metrics).
//!
//! Needs `prometheus` and `promtool` (Debian package `prometheus`); fails without them unless
//! EVALVERSE_SKIP_PROMETHEUS=1.
mod common;
use common::{Killed, free_ports, free_tcp, wait_for};
use evalverse::sender::send_synthetic;
use evalverse::sender::synth::{SceneSpec, irregular_cuts};
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

fn http(method: &str, url: &str, body: Option<&str>, token: Option<&str>) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-o", "-", "-w", "\n%{http_code}", "-X", method, url]);
    if let Some(b) = body {
        cmd.args(["-H", "Content-Type: application/json", "--data-binary", b]);
    }
    if let Some(t) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    let out = cmd.output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

#[test]
fn prometheus_scrapes_serve_and_the_api_manages_streams() {
    if Command::new("prometheus")
        .arg("--version")
        .output()
        .is_err()
    {
        if std::env::var("EVALVERSE_SKIP_PROMETHEUS").as_deref() == Ok("1") {
            return;
        }
        panic!("prometheus is not installed (Debian package `prometheus`)");
    }
    let dir = tempfile::tempdir().unwrap();
    let udp = free_ports(8);
    let api = free_tcp();
    let prom = free_tcp();
    // A webhook receiver that records every POST body.
    let hook = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hook_port = hook.local_addr().unwrap().port();
    let posts = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    {
        let posts = posts.clone();
        std::thread::spawn(move || {
            for conn in hook.incoming().flatten() {
                let mut conn = conn;
                let mut buf = vec![0u8; 65536];
                let mut got = 0;
                conn.set_read_timeout(Some(Duration::from_secs(2))).ok();
                while let Ok(n) = std::io::Read::read(&mut conn, &mut buf[got..]) {
                    if n == 0 {
                        break;
                    }
                    got += n;
                    let text = String::from_utf8_lossy(&buf[..got]).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let len = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if body.len() >= len {
                            posts.lock().unwrap().push(body.to_string());
                            let _ = conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
                            break;
                        }
                    }
                }
            }
        });
    }
    // A calibration that answers 3.0: windows gain `calibrated`, Prometheus the gauge, and a
    // rule may name it.
    let cal = dir.path().join("calibration.json");
    common::constant_calibration(&cal, &["overall"], 3.0);
    let cfg = dir.path().join("evalverse.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:{api}\"\n[analysis]\ncalibration = {cal:?}\n\
             [alerting]\nwebhook = \"http://127.0.0.1:{hook_port}/alert\"\nstop_webhook = \"http://127.0.0.1:{hook_port}/stop\"\n\
             [[alerts]]\nname = \"calibrated_low\"\nmeasurement = \"calibrated.overall\"\nop = \"<\"\nthreshold = 3.5\nfor_s = 1.0\nseverity = \"warning\"\naction = \"webhook\"\n\
             [[alerts]]\nname = \"always\"\nmeasurement = \"latency_s\"\nop = \">=\"\nthreshold = 0.0\nfor_s = 2.0\nseverity = \"critical\"\naction = \"stop\"\n\
             [[streams]]\nname = \"cam1\"\nvideo = {{ port = {udp} }}\naudio = {{ port = {} }}\n",
            udp + 2
        ),
    )
    .unwrap();
    let _serve = Killed(
        Command::new(env!("CARGO_BIN_EXE_evalverse"))
            .args(["serve", "--backend", "cpu", "--json", "--config"])
            .arg(&cfg)
            .env("EVALVERSE_TOKEN", "s3cret")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{api}");
    wait_for("evalverse serve", 30.0, || {
        http("GET", &format!("{base}/healthz"), None, None).0 == 200
    });
    // Before any packet, the stream's counters are there at 0.
    let mut early = String::new();
    wait_for("the stream's counters at 0", 30.0, || {
        early = http("GET", &format!("{base}/metrics"), None, None).1;
        early.contains("evalverse_frames_total{stream=\"cam1\"} 0")
    });
    for series in [
        "evalverse_windows_total{stream=\"cam1\"} 0",
        "evalverse_dropped_frames_total{stream=\"cam1\"} 0",
        "evalverse_dropped_audio_chunks_total{stream=\"cam1\"} 0",
        "evalverse_alerts_total{stream=\"cam1\",rule=\"always\",severity=\"critical\"} 0",
        "evalverse_rtp_packets_lost_total{stream=\"cam1\",medium=\"video\"} 0",
        "evalverse_rtp_packets_malformed_total{stream=\"cam1\",medium=\"audio\"} 0",
        "evalverse_rtp_packets_reordered_total{stream=\"cam1\",medium=\"audio\"} 0",
    ] {
        assert!(
            early.contains(series),
            "{series} missing before any packet:\n{early}"
        );
    }

    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: evalverse\n    static_configs:\n      - targets: [\"127.0.0.1:{api}\"]\n"),
    )
    .unwrap();
    let _prom = Killed(
        Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    let sender = std::thread::spawn(move || {
        let spec = SceneSpec {
            width: 320,
            height: 180,
            duration_s: 14.0,
            cuts: irregular_cuts(1.5, 14.0),
            audio_delay_ms: 200.0,
            ..Default::default()
        };
        let target = common::loopback(udp, 600);
        send_synthetic(&spec, &target, Arc::new(AtomicBool::new(false)))
    });

    // Prometheus has scraped a score series of the stream.
    let query = format!(
        "http://127.0.0.1:{prom}/api/v1/query?query=evalverse_score%7Bstream%3D%22cam1%22%2Cdimension%3D%22overall%22%7D"
    );
    let mut answer = String::new();
    wait_for("a score series in Prometheus", 60.0, || {
        answer = http("GET", &query, None, None).1;
        answer.contains("\"result\":[{")
    });
    let v: serde_json::Value = serde_json::from_str(&answer).unwrap();
    let value: f64 = v["data"]["result"][0]["value"][1]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((0.0..=100.0).contains(&value), "{answer}");
    eprintln!("Prometheus query result: {answer}");

    // The exposition passes promtool, with every metric described.
    let (_, metrics) = http("GET", &format!("{base}/metrics"), None, None);
    let mut check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for name in [
        "evalverse_calibrated_score{stream=\"cam1\",dimension=\"overall\"} 3",
        "evalverse_frames_total",
        "evalverse_rtp_packets_total",
        "evalverse_stream_state",
        "evalverse_evaluation_latency_seconds_bucket",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }

    // The API: adding needs the token; a malformed definition is refused clearly.
    let def = format!("{{\"name\":\"cam2\",\"video\":{{\"port\":{}}}}}", udp + 4);
    assert_eq!(
        http("POST", &format!("{base}/v1/streams"), Some(&def), None).0,
        401
    );
    let (code, body) = http(
        "POST",
        &format!("{base}/v1/streams"),
        Some("{\"name\":\"x\",\"video\":{\"port\":\"many\"}}"),
        Some("s3cret"),
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("malformed"), "{body}");
    assert_eq!(
        http(
            "POST",
            &format!("{base}/v1/streams"),
            Some(&def),
            Some("s3cret")
        )
        .0,
        201
    );
    assert_eq!(
        http(
            "POST",
            &format!("{base}/v1/streams"),
            Some(&def),
            Some("s3cret")
        )
        .0,
        409,
        "duplicate name"
    );
    assert_eq!(
        http("GET", &format!("{base}/v1/streams"), None, None).0,
        401,
        "reading the streams needs the token too"
    );
    let (code, list) = http("GET", &format!("{base}/v1/streams"), None, Some("s3cret"));
    assert!(
        code == 200 && list.contains("cam1") && list.contains("cam2"),
        "{list}"
    );

    // The always-firing stop rule turned the verdict to stop, with its reason, and both
    // webhooks were called.
    let mut verdict = String::new();
    wait_for("a stop verdict", 20.0, || {
        verdict = http(
            "GET",
            &format!("{base}/v1/streams/cam1/verdict"),
            None,
            Some("s3cret"),
        )
        .1;
        verdict.contains("\"verdict\":\"stop\"")
    });
    let v: serde_json::Value = serde_json::from_str(&verdict).unwrap();
    assert_eq!(v["reasons"][0]["rule"], "always", "{verdict}");
    wait_for("webhook POSTs", 20.0, || {
        let p = posts.lock().unwrap();
        p.iter()
            .any(|b| b.contains("\"rule\":\"always\"") && b.contains("\"state\":\"firing\""))
            && p.iter().any(|b| b.contains("\"verdict\":\"stop\""))
            && p.iter().any(|b| b.contains("\"rule\":\"calibrated_low\""))
    });
    // Live records over server-sent events.
    let sse = Command::new("curl")
        .args([
            "-s",
            "-N",
            "--max-time",
            "3",
            "-H",
            "Authorization: Bearer s3cret",
            &format!("{base}/v1/events?stream=cam1"),
        ])
        .output()
        .unwrap();
    let sse = String::from_utf8_lossy(&sse.stdout);
    assert!(sse.contains("data: {\"type\":\""), "no SSE records: {sse}");
    assert_eq!(
        http(
            "GET",
            &format!("{base}/v1/streams/nope/verdict"),
            None,
            Some("s3cret")
        )
        .0,
        404
    );

    // Removing a stream removes its series.
    wait_for("cam2 state series", 20.0, || {
        http("GET", &format!("{base}/metrics"), None, None)
            .1
            .contains("stream=\"cam2\"")
    });
    assert_eq!(
        http(
            "DELETE",
            &format!("{base}/v1/streams/cam2"),
            None,
            Some("s3cret")
        )
        .0,
        204
    );
    let (_, after) = http("GET", &format!("{base}/metrics"), None, None);
    assert!(
        !after.contains("stream=\"cam2\""),
        "cam2 series still exported"
    );
    assert!(after.contains("stream=\"cam1\""));
    sender.join().unwrap().unwrap();
}

#[test]
fn deploy_files_are_valid_and_name_real_metrics() {
    let root = env!("CARGO_MANIFEST_DIR");
    match Command::new("promtool")
        .args([
            "check",
            "rules",
            &format!("{root}/deploy/prometheus/rules.yml"),
        ])
        .output()
    {
        Ok(out) => assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(_) if std::env::var("EVALVERSE_SKIP_PROMETHEUS").as_deref() == Ok("1") => {}
        Err(e) => panic!("promtool: {e}"),
    }
    // The rules' unit tests: sync alerts never fire on NaN (sync declined), drift fires either
    // way, a running stream without committed sync is reported.
    match Command::new("promtool")
        .args(["test", "rules", "rules.test.yml"])
        .current_dir(format!("{root}/deploy/prometheus"))
        .output()
    {
        Ok(out) => assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(_) if std::env::var("EVALVERSE_SKIP_PROMETHEUS").as_deref() == Ok("1") => {}
        Err(e) => panic!("promtool: {e}"),
    }
    let names: Vec<&str> = evalverse_metric_names();
    let dash: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{root}/deploy/grafana/evalverse-dashboard.json"))
            .unwrap(),
    )
    .unwrap();
    let rules = std::fs::read_to_string(format!("{root}/deploy/prometheus/rules.yml")).unwrap();
    let mut exprs: Vec<String> = dash["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| {
            p["targets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["expr"].as_str().unwrap().to_string())
        })
        .collect();
    exprs.extend(
        rules
            .lines()
            .filter_map(|l| l.trim().strip_prefix("expr:").map(|e| e.to_string())),
    );
    assert!(exprs.len() > 15);
    for e in exprs {
        let used: Vec<&str> = e
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("evalverse_"))
            .collect();
        assert!(!used.is_empty(), "{e}");
        for u in used {
            let base = u.trim_end_matches("_bucket");
            assert!(
                names.contains(&base),
                "{u} in {e:?} is not a metric evalverse exports"
            );
        }
    }
}

fn evalverse_metric_names() -> Vec<&'static str> {
    evalverse::metric_names::ALL.to_vec()
}
