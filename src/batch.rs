//! Evaluate many finished files in one process: one model shared by worker threads, clips in
//! parallel, and each clip's result cached under the SHA-256 of its bytes, the feature-vector
//! version and the analysis settings, so that re-running with new labels does not re-decode.
//! Sits above the evaluator (it drives it), like [`crate::train`].
use crate::config::Settings;
use crate::evaluator::evaluate_file;
use crate::model::Model;
use crate::score::calibrated::{self, EXTRACTOR_VERSION};
use crate::score::record::Record;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What a clip's evaluation leaves behind for the batch tools.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Evaluated {
    pub sha256: String,
    pub extractor_version: String,
    /// The feature vector of [`calibrated::FEATURES`] over all the clip's windows. Stored as
    /// decimal strings: serde_json (without its `float_roundtrip` feature, which would rebuild
    /// the Burn stack) may parse a float one ulp off, and a cached clip must give exactly the
    /// features a fresh evaluation gives, or the same labels and seed would fit another file.
    #[serde(with = "exact_f64")]
    pub features: Vec<f64>,
    pub duration_s: f64,
    /// The clip's `summary` record.
    pub summary: serde_json::Value,
}

/// SHA-256 of a file's bytes, hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("{:x}", h.finalize()))
}

/// A short fingerprint of the analysis settings (results depend on them).
pub fn settings_fingerprint(s: &Settings) -> String {
    let text = serde_json::to_string(&s.analysis).unwrap_or_default();
    let d = Sha256::digest(text.as_bytes());
    format!("{:x}", d)[..12].to_string()
}

/// The result cache: one JSON file per (content, extractor version, settings).
pub struct Cache {
    dir: Option<PathBuf>,
    fingerprint: String,
}

impl Cache {
    /// `dir` None: no caching.
    pub fn new(dir: Option<PathBuf>, settings: &Settings) -> Self {
        Self {
            dir,
            fingerprint: settings_fingerprint(settings),
        }
    }
    fn path(&self, sha: &str) -> Option<PathBuf> {
        let v = EXTRACTOR_VERSION.replace(['/', '.'], "-");
        self.dir
            .as_ref()
            .map(|d| d.join(format!("{sha}-{v}-{}.json", self.fingerprint)))
    }
    pub fn get(&self, sha: &str) -> Option<Evaluated> {
        let text = std::fs::read_to_string(self.path(sha)?).ok()?;
        serde_json::from_str::<Evaluated>(&text).ok().filter(|e| {
            e.extractor_version == EXTRACTOR_VERSION
                && e.features.len() == calibrated::FEATURES.len()
        })
    }
    pub fn put(&self, e: &Evaluated) {
        let Some(p) = self.path(&e.sha256) else {
            return;
        };
        if let Some(d) = p.parent() {
            let _ = std::fs::create_dir_all(d);
        }
        // Write then rename: a reader never sees half a file.
        let tmp = p.with_extension("tmp");
        if let Ok(text) = serde_json::to_string(e)
            && std::fs::write(&tmp, text).is_ok()
        {
            let _ = std::fs::rename(&tmp, &p);
        }
    }
}

/// Evaluate one file into its batch result (not cached).
pub fn evaluate(
    path: &Path,
    sha256: String,
    settings: &Settings,
    model: &Model,
) -> anyhow::Result<Evaluated> {
    let mut windows = vec![];
    let mut summary = None;
    let input = path.to_string_lossy();
    evaluate_file(
        &input,
        settings,
        model,
        |r| match r {
            Record::Window(w) => windows.push((**w).clone()),
            Record::Summary(s) => summary = Some(serde_json::to_value(s).unwrap_or_default()),
            _ => {}
        },
        |_, _| {},
    )
    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let summary = summary.ok_or_else(|| anyhow::anyhow!("{}: no summary", path.display()))?;
    if windows.is_empty() {
        anyhow::bail!("{}: too short for one window", path.display());
    }
    Ok(Evaluated {
        sha256,
        extractor_version: EXTRACTOR_VERSION.into(),
        features: calibrated::extract(&windows),
        duration_s: summary["duration_s"].as_f64().unwrap_or(0.0),
        summary,
    })
}

/// How a batch went.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tally {
    pub evaluated: usize,
    pub cached: usize,
    pub failed: usize,
}

/// Evaluate `paths` on `jobs` worker threads sharing `model`; `done(i, result)` is called once
/// per path (from the worker that finished it, serialised). A failed clip is reported, never
/// stops the batch.
pub fn run(
    paths: &[PathBuf],
    settings: &Settings,
    model: &Model,
    cache: &Cache,
    jobs: usize,
    done: impl FnMut(usize, &anyhow::Result<Evaluated>) + Send,
) -> Tally {
    let next = AtomicUsize::new(0);
    let done = Mutex::new((done, Tally::default()));
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, 64) {
            s.spawn(|| {
                let model = model.clone();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(p) = paths.get(i) else { break };
                    let (result, cached) = match sha256_file(p) {
                        Err(e) => (Err(anyhow::anyhow!("{}: {e}", p.display())), false),
                        Ok(sha) => match cache.get(&sha) {
                            Some(hit) => (Ok(hit), true),
                            None => (evaluate(p, sha, settings, &model), false),
                        },
                    };
                    if let Ok(e) = &result
                        && !cached
                    {
                        cache.put(e);
                    }
                    let mut g = done.lock().unwrap_or_else(|e| e.into_inner());
                    match (&result, cached) {
                        (Err(_), _) => g.1.failed += 1,
                        (Ok(_), true) => g.1.cached += 1,
                        (Ok(_), false) => g.1.evaluated += 1,
                    }
                    (g.0)(i, &result);
                }
            });
        }
    });
    done.into_inner().unwrap_or_else(|e| e.into_inner()).1
}

/// `Vec<f64>` as strings in Rust's shortest round-trip form (`str::parse` is exact).
mod exact_f64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|x| format!("{x:?}")))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|s| s.parse::<f64>().map_err(serde::de::Error::custom))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cached_features_are_bit_exact() {
        let v = vec![0.1 + 0.2, 1.0 / 3.0, 97.123456789012345, 1e-300, -0.0];
        let e = super::Evaluated {
            sha256: "x".into(),
            extractor_version: "v".into(),
            features: v.clone(),
            duration_s: 1.0,
            summary: serde_json::Value::Null,
        };
        let back: super::Evaluated =
            serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back.features), bits(&v));
    }
}
