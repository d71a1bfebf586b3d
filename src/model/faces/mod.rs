//! Faces: MediaPipe's BlazeFace short-range detector (128×128 input, 896 anchors) and its
//! 468-point FaceMesh (192×192 face crop, lips included), run with Burn on the device the model
//! runs on. The networks and their weights come from the `mediapipe` 0.10.21 wheel on PyPI
//! (Apache-2.0), converted once by `scripts/faces/convert.py` into `weights/*.safetensors` (see
//! `weights/FACES.md` for provenance) and built into the binary: nothing is downloaded.
//! `tests/faces.rs` holds the port to the package's own TFLite runtime on committed frames.
pub mod activity;
pub mod detect;
pub mod lipnet;
pub mod lips;
pub mod mesh;
mod net;
pub mod track;

pub use detect::Detection;
pub use mesh::Landmarks;
pub use net::{Net, NetError};

use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// How much of the mouths and the speech a stream keeps for lip sync, seconds.
pub const HORIZON_S: f64 = 30.0;

/// The faces of a window (or of the whole input, in the summary).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FacesFigures {
    /// Share of the frames looked at that held a face.
    pub face_share: f64,
    /// Faces followed at the end (summary: the most at once).
    pub count: usize,
    /// Tracks seen (one per face, a new one after a cut).
    pub tracks: usize,
    /// The track whose mouth goes with the speech (committed or not), when there is speech.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speaking_track: Option<u64>,
    /// The lip offset over the speech so far (committed), ms; positive: audio late.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset_ms: Option<f64>,
    /// Median lip movement (inner-lip gap standard deviation over the eye span, 1-s spans) of
    /// the most moving visible face while there is speech, and while there is no sound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mouth_in_speech: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mouth_in_silence: Option<f64>,
    /// Detector and mesh runs (the cost).
    pub detector_runs: u64,
    pub mesh_runs: u64,
    /// Face pictures scaled for them (live, with no face followed: one frame in twelve).
    #[serde(default)]
    pub pictures: u64,
}

/// The converted detector and mesh (`weights/`).
pub const DETECTOR_WEIGHTS: &[u8] =
    include_bytes!("../../../weights/face_detection_short_range.safetensors");
pub const MESH_WEIGHTS: &[u8] = include_bytes!("../../../weights/face_landmark.safetensors");

/// An RGB picture, 8 bits per channel, rows top to bottom, no padding.
#[derive(Clone, Copy, Debug)]
pub struct Rgb<'a> {
    pub width: usize,
    pub height: usize,
    pub data: &'a [u8],
}

impl Rgb<'_> {
    fn check(&self, side: usize) -> Result<(), NetError> {
        if self.width != side || self.height != side || self.data.len() != side * side * 3 {
            return Err(NetError::Format(format!(
                "the input must be {side}×{side} RGB, not {}×{} with {} bytes",
                self.width,
                self.height,
                self.data.len()
            )));
        }
        Ok(())
    }
}

/// Pictures as one `[N, 3, side, side]` tensor, each value `v * scale + offset`.
fn batch(pics: &[Rgb], side: usize, scale: f32, offset: f32, device: &Device) -> Tensor<4> {
    let plane = side * side;
    let mut v = vec![0.0f32; pics.len() * 3 * plane];
    for (n, p) in pics.iter().enumerate() {
        let base = n * 3 * plane;
        for (i, px) in p.data.chunks_exact(3).enumerate() {
            for c in 0..3 {
                v[base + c * plane + i] = px[c] as f32 * scale + offset;
            }
        }
    }
    Tensor::from_data(TensorData::new(v, [pics.len(), 3, side, side]), device)
}

fn values(t: Tensor<2>) -> Result<Vec<f32>, NetError> {
    t.into_data()
        .try_into_vec::<f32>()
        .map_err(|e| NetError::Format(format!("reading an output: {e:?}")))
}

/// Both networks, on one device.
pub struct FaceModels {
    detector: Net,
    mesh: Net,
    device: Device,
}

/// The detector's raw outputs for one picture: [`detect::ANCHORS`] × [`detect::COORDS`]
/// regressors and one logit per anchor.
pub struct RawDetections {
    pub regressors: Vec<f32>,
    pub logits: Vec<f32>,
}

impl FaceModels {
    pub fn load(device: &Device) -> Result<Self, NetError> {
        Ok(Self {
            detector: Net::load(DETECTOR_WEIGHTS, device)?,
            mesh: Net::load(MESH_WEIGHTS, device)?,
            device: device.clone(),
        })
    }

    /// The detector's raw outputs for 128×128 pictures (already letterboxed to a square).
    pub fn detect_raw(&self, pics: &[Rgb]) -> Result<Vec<RawDetections>, NetError> {
        for p in pics {
            p.check(detect::INPUT)?;
        }
        if pics.is_empty() {
            return Ok(vec![]);
        }
        let x = batch(pics, detect::INPUT, 1.0 / 127.5, -1.0, &self.device);
        let mut out = self.detector.forward(x)?.into_iter();
        let (Some(reg), Some(cls)) = (out.next(), out.next()) else {
            return Err(NetError::Format("the detector has two outputs".into()));
        };
        let (reg, cls) = (values(reg)?, values(cls)?);
        let per = detect::ANCHORS * detect::COORDS;
        Ok((0..pics.len())
            .map(|n| RawDetections {
                regressors: reg[n * per..(n + 1) * per].to_vec(),
                logits: cls[n * detect::ANCHORS..(n + 1) * detect::ANCHORS].to_vec(),
            })
            .collect())
    }

    /// Faces in 128×128 pictures, merged as MediaPipe does, best first.
    pub fn detect(&self, pics: &[Rgb]) -> Result<Vec<Vec<Detection>>, NetError> {
        Ok(self
            .detect_raw(pics)?
            .into_iter()
            .map(|r| {
                let all = detect::decode(&r.regressors, &r.logits, detect::MIN_SCORE);
                detect::weighted_nms(all, detect::NMS_IOU)
            })
            .collect())
    }

    /// The landmarks of 192×192 face crops.
    pub fn landmarks(&self, crops: &[Rgb]) -> Result<Vec<Landmarks>, NetError> {
        for p in crops {
            p.check(mesh::INPUT)?;
        }
        if crops.is_empty() {
            return Ok(vec![]);
        }
        let x = batch(crops, mesh::INPUT, 1.0 / 255.0, 0.0, &self.device);
        let mut out = self.mesh.forward(x)?.into_iter();
        let (Some(points), Some(flag)) = (out.next(), out.next()) else {
            return Err(NetError::Format("the mesh has two outputs".into()));
        };
        let (points, flag) = (values(points)?, values(flag)?);
        let per = mesh::POINTS * 3;
        Ok((0..crops.len())
            .map(|n| Landmarks::new(&points[n * per..(n + 1) * per], flag[n]))
            .collect())
    }
}
