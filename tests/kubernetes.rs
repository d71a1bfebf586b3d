//! The Kubernetes manifests in deploy/kubernetes/, validated offline: the `kubernetes-validate`
//! schemas (PyPI; scripts/test.sh installs it in ~/.cache/evalverse-venv), and the links
//! between them checked here (the PodMonitor finds the sidecar's port, the Job's shard count
//! matches its completions, the sidecar's config is one evalverse accepts). No cluster is run.
use std::path::{Path, PathBuf};
use std::process::Command;

fn venv_bin(name: &str) -> PathBuf {
    let home = std::env::var("HOME").unwrap_or_default();
    let p = Path::new(&home)
        .join(".cache/evalverse-venv/bin")
        .join(name);
    assert!(
        p.exists(),
        "{} missing: run scripts/test.sh (it installs kubernetes-validate from PyPI)",
        p.display()
    );
    p
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes")
}

fn validate(files: &[PathBuf]) -> (bool, String) {
    let out = Command::new(venv_bin("kubernetes-validate"))
        .arg("--strict")
        .args(files)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn manifests_pass_the_kubernetes_schemas() {
    let files = ["score-job.yaml", "render-sidecar.yaml"].map(|f| dir().join(f));
    let (ok, text) = validate(&files);
    assert!(ok, "{text}");
    for r in [
        "job/evalverse-score",
        "configmap/evalverse-sidecar",
        "deployment/render",
    ] {
        assert!(
            text.contains(&format!("passed for resource {r}")),
            "{r}: {text}"
        );
    }
    // The validator does fail: a misspelt field in a copy of the Job.
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.yaml");
    let job = std::fs::read_to_string(&files[0]).unwrap();
    std::fs::write(&bad, job.replace("parallelism:", "paralelism:")).unwrap();
    let (ok, text) = validate(&[bad]);
    assert!(!ok, "a misspelt field passed: {text}");
}

/// The links between the manifests, read with PyYAML (kubernetes-validate's dependency).
#[test]
fn manifests_fit_together() {
    let script = r#"
import sys, yaml, json, re
d = sys.argv[1]
job = yaml.safe_load(open(d + '/score-job.yaml'))
docs = list(yaml.safe_load_all(open(d + '/render-sidecar.yaml')))
pm = yaml.safe_load(open(d + '/podmonitor.yaml'))
cm = [x for x in docs if x['kind'] == 'ConfigMap'][0]
dep = [x for x in docs if x['kind'] == 'Deployment'][0]
pod = dep['spec']['template']
args = job['spec']['template']['spec']['containers'][0]['args']
shard = args[args.index('--shard') + 1]
n = int(shard.split('/')[1])
labels = pod['metadata']['labels']
sel = pm['spec']['selector']['matchLabels']
ports = [p['name'] for c in pod['spec']['containers'] for p in c.get('ports', [])]
print(json.dumps({
  'completions': job['spec']['completions'], 'shards': n, 'indexed': job['spec']['completionMode'],
  'selected': all(labels.get(k) == v for k, v in sel.items()),
  'port_found': all(e['port'] in ports for e in pm['spec']['podMetricsEndpoints']),
  'config': cm['data']['evalverse.toml'],
}))
"#;
    let out = Command::new(venv_bin("python"))
        .args(["-c", script])
        .arg(dir())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["indexed"], "Indexed");
    assert_eq!(
        v["completions"], v["shards"],
        "completions must equal N of --shard I/N"
    );
    assert_eq!(
        v["selected"], true,
        "the PodMonitor does not select the render pods"
    );
    assert_eq!(
        v["port_found"], true,
        "the PodMonitor names a port the pod lacks"
    );
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("evalverse.toml");
    std::fs::write(&cfg, v["config"].as_str().unwrap()).unwrap();
    evalverse::config::Settings::load(&cfg).expect("the sidecar's config is valid");
}
