//! Helpers shared by the integration tests: free UDP ports, generated clips, record parsing.
#![allow(dead_code)]
use evalverse::Record;
use evalverse::config::Settings;
use evalverse::model::Model;
use evalverse::sender::synth::SceneSpec;
use serde_json::Value;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};

/// `n` consecutive even-aligned UDP ports that are free right now (RTP, RTCP pairs).
pub fn free_ports(n: u16) -> u16 {
    for _ in 0..200 {
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        let base = probe.local_addr().unwrap().port() & !1;
        drop(probe);
        if base < 1024 || base > 65_000 - n {
            continue;
        }
        if (0..n).all(|i| UdpSocket::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
    panic!("no free UDP ports");
}

pub fn cpu_model() -> Model {
    Model::new(evalverse::config::BackendChoice::Cpu).unwrap()
}

/// Write `spec` to `dir/name.mp4` (once per test run) and return the path.
pub fn clip(dir: &Path, name: &str, spec: &SceneSpec) -> PathBuf {
    let path = dir.join(format!("{name}.mp4"));
    evalverse::sender::write_synthetic(spec, &path).expect("writing the test clip");
    assert!(std::fs::metadata(&path).unwrap().len() > 10_000);
    path
}

/// Evaluate a file and return its records as JSON values (through the JSON contract).
pub fn eval_json(path: &Path, a: &Settings) -> (Vec<Value>, Result<(), String>) {
    let model = cpu_model();
    let mut lines = vec![];
    let r = evalverse::evaluate_file(
        path.to_str().unwrap(),
        a,
        &model,
        |r: &Record| lines.push(r.to_json()),
        |_, _| {},
    );
    let values = lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).expect("each line is JSON"))
        .collect();
    (values, r.map_err(|e| e.to_string()))
}

pub fn of_type<'a>(records: &'a [Value], t: &str) -> Vec<&'a Value> {
    records.iter().filter(|r| r["type"] == t).collect()
}

pub fn events<'a>(records: &'a [Value], kind: &str) -> Vec<&'a Value> {
    records
        .iter()
        .filter(|r| r["type"] == "event" && r["kind"] == kind && r["ongoing"] == false)
        .collect()
}
