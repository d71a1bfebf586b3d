//! The sliding-window model, in Burn.
//!
//! ```text
//!  frames ──▶ features (per frame, once; custom kernel) ──▶ cache ─┬─▶ continuity detectors ─▶ events
//!                                                                  ├─▶ cut detector ─▶ cuts, flashes, visual events
//!  audio ───▶ 1 ms energies (per chunk, once) ──────────▶ cache ──┼─▶ silence, onsets
//!                                                                  └─▶ window heads: continuity ratios, sync (onset matching + the commitment MLP)
//! ```
//!
//! One [`Model`] (a Burn device) serves every stream of a process. Per-frame work happens once
//! when frames arrive, in batches; the window heads read only the cache.
pub mod backend;
pub mod batch;
pub mod beat;
pub mod commit;
pub mod continuity;
pub mod faces;
pub mod features;
pub mod local_sync;
pub mod picture;
pub mod rhythm;
pub mod run;
pub mod sound;
pub mod style;
pub mod sync;
pub mod transient;

use crate::config::BackendChoice;
use crate::types::VideoFrame;
use backend::BackendKind;
use burn::tensor::{Device, Tensor, TensorData};
pub use features::FrameFeatures;

/// The model: a Burn device and the functions that run on it.
#[derive(Clone)]
pub struct Model {
    device: Device,
    kind: BackendKind,
    /// Cross-stream batching of per-frame features (wgpu only; see [`batch`]).
    batcher: Option<std::sync::Arc<batch::FeatureBatcher>>,
    /// The learned sync commitment head; `None`: the hand-set rules decide.
    commit: Option<std::sync::Arc<commit::CommitHead>>,
    /// The face detector and mesh (built in); `None` when they could not be loaded.
    faces: Option<std::sync::Arc<faces::FaceModels>>,
}

/// Per-frame series the continuity window head reduces (one row per frame).
pub const HEAD_COLUMNS: usize = 5;

/// Window continuity figures from the head.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ContinuityFigures {
    pub mean_mad: f64,
    pub freeze_ratio: f64,
    pub black_ratio: f64,
    pub flicker_ratio: f64,
    pub flicker_index: f64,
}

impl ContinuityFigures {
    /// VBench temporal flicker score: `1 − mean |x_t − x_{t−1}|` (0–1, 1 = steady).
    pub fn flicker_vbench(&self) -> f64 {
        1.0 - self.mean_mad
    }
}

impl Model {
    pub fn new(choice: BackendChoice) -> Result<Self, backend::NoAdapter> {
        let (device, kind) = backend::select(choice)?;
        let nets = match kind {
            backend::BackendKind::Cpu => backend::cpu_nets_device(),
            backend::BackendKind::Wgpu { .. } => device.clone(),
        };
        let faces = match faces::FaceModels::load(&nets) {
            Ok(f) => Some(std::sync::Arc::new(f)),
            Err(e) => {
                tracing::warn!("{e}; faces and lip sync are off");
                None
            }
        };
        let m = Self {
            device,
            kind,
            batcher: None,
            commit: None,
            faces,
        };
        Ok(m.with_sync_head(crate::config::SyncHead::Learned))
    }

    /// Who decides sync commitment: the learned head (the shipped weights) or the rules.
    pub fn with_sync_head(mut self, head: crate::config::SyncHead) -> Self {
        self.commit = match head {
            crate::config::SyncHead::Rules => None,
            crate::config::SyncHead::Learned => match commit::CommitHead::shipped(&self.device) {
                Ok(h) => Some(std::sync::Arc::new(h)),
                Err(e) => {
                    tracing::warn!("{e}; sync commitment falls back to the hand-set rules");
                    None
                }
            },
        };
        self
    }

    /// Use this commitment head (e.g. freshly trained weights); `None`: the rules decide.
    pub fn with_commit_head(mut self, head: Option<commit::CommitHead>) -> Self {
        self.commit = head.map(std::sync::Arc::new);
        self
    }

    /// Whether the learned head decides sync commitment.
    pub fn learned_sync_head(&self) -> bool {
        self.commit.is_some()
    }

    /// Batch the frames of every stream sharing this model (and its clones) into one call per
    /// frame size, when the model runs on wgpu; a no-op on the CPU backend, where per-stream
    /// threads use the cores in parallel instead. `max_frames` caps one call.
    pub fn batched_across_streams(mut self, max_frames: usize) -> Self {
        if matches!(self.kind, BackendKind::Wgpu { .. }) && self.batcher.is_none() {
            match batch::FeatureBatcher::spawn(self.device.clone(), max_frames) {
                Ok(b) => self.batcher = Some(std::sync::Arc::new(b)),
                Err(e) => tracing::warn!(
                    "cannot start the feature batcher thread ({e}); streams call the model one by one"
                ),
            }
        }
        self
    }

    /// Whether per-frame features of all streams go through one batched call.
    pub fn is_batched(&self) -> bool {
        self.batcher.is_some()
    }

    pub fn kind(&self) -> &BackendKind {
        &self.kind
    }

    /// The face models, when they loaded.
    pub fn faces(&self) -> Option<std::sync::Arc<faces::FaceModels>> {
        self.faces.clone()
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Features of a batch of same-size frames (see [`features::video_features`]).
    pub fn video_features(
        &self,
        prev: Option<&VideoFrame>,
        frames: &[VideoFrame],
        black_luma: f32,
        frame_s: f64,
    ) -> Vec<FrameFeatures> {
        features::video_features(&self.device, prev, frames, black_luma, frame_s)
    }

    /// The same for frames the caller gives away: through the cross-stream batcher when there
    /// is one.
    pub fn video_features_owned(
        &self,
        prev: Option<VideoFrame>,
        frames: Vec<VideoFrame>,
        black_luma: f32,
        frame_s: f64,
    ) -> Vec<FrameFeatures> {
        match &self.batcher {
            Some(b) => b.features(prev, frames, black_luma, frame_s),
            None => self.video_features(prev.as_ref(), &frames, black_luma, frame_s),
        }
    }

    /// Sharpness and noise of one detail frame (the [`evalverse_kernels::frame_detail`]
    /// kernel on this model's device).
    pub fn detail_figures(&self, f: &crate::types::DetailFrame) -> picture::detail::DetailFigures {
        if f.width < 3 || f.height < 3 || f.luma.len() < f.width * f.height {
            return Default::default();
        }
        let data: Vec<f32> = f.luma[..f.width * f.height]
            .iter()
            .map(|&v| v as f32 * (1.0 / 255.0))
            .collect();
        let x = Tensor::<3>::from_data(TensorData::new(data, [1, f.height, f.width]), &self.device);
        let sums: Vec<f32> = evalverse_kernels::frame_detail(x)
            .into_data()
            .try_into_vec()
            .unwrap_or_default();
        picture::detail::figures(&sums)
    }

    /// Mean-square energy of consecutive `block`-sample blocks.
    pub fn audio_energy(&self, samples: &[f32], block: usize) -> Vec<f32> {
        features::audio_block_energy(&self.device, samples, block)
    }

    /// The sync head over `[from, to)`.
    pub fn sync(
        &self,
        visual: &[(f64, f32)],
        onsets: &[sync::Onset],
        from: f64,
        to: f64,
        search_ms: f64,
    ) -> sync::SyncEstimate {
        self.commit_sync(sync::estimate(
            &self.device,
            visual,
            onsets,
            from,
            to,
            search_ms,
        ))
    }

    /// The commitment decision on an estimate the rules made (e.g. a [`sync::SyncTally`]'s):
    /// the learned head decides where it may, as in [`Model::sync`].
    pub fn commit_sync(&self, mut est: sync::SyncEstimate) -> sync::SyncEstimate {
        if let Some(head) = &self.commit {
            head.decide(&mut est);
        }
        est
    }

    /// Continuity head: column means of the window's per-frame series
    /// `[mad, frozen, black, flicker, oscillation]`.
    ///
    /// # Shapes
    /// - in: `[T, 5]`, out: `[5]`
    pub fn continuity_head(&self, rows: &[[f32; HEAD_COLUMNS]]) -> ContinuityFigures {
        if rows.is_empty() {
            return ContinuityFigures::default();
        }
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        let x = Tensor::<2>::from_data(
            TensorData::new(flat, [rows.len(), HEAD_COLUMNS]),
            &self.device,
        );
        let m: Vec<f32> = x
            .mean_dim(0)
            .reshape([HEAD_COLUMNS])
            .into_data()
            .try_into_vec()
            .unwrap_or_default();
        if m.len() != HEAD_COLUMNS {
            return ContinuityFigures::default();
        }
        ContinuityFigures {
            mean_mad: m[0] as f64,
            freeze_ratio: m[1] as f64,
            black_ratio: m[2] as f64,
            flicker_ratio: m[3] as f64,
            flicker_index: m[4] as f64,
        }
    }
}
