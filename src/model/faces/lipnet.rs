//! The learned alternative to the canonical pairs of [`super::lips`]: two small temporal
//! networks, one over the mouth features and one over the speech bands (both at
//! [`super::lips::STEP_S`], detrended), each giving `components` lines whose correlation at a lag
//! scores sync there, as the pairs' projections do. A 1-D convolution over `kernel` steps with
//! `tanh`, then a 1×1 convolution to the lines. Trained self-supervised by `evalverse
//! train-lips` (the true lag against every other lag of the same clip and against other
//! recordings' speech); `scripts/faces/fit_lips.py --learned` sets it against the pairs on the
//! same grouped folds.
use burn::module::{Module, Param};
use burn::nn::PaddingConfig1d;
use burn::nn::conv::Conv1d;
use burn::tensor::{Device, Tensor, TensorData, activation};
use serde::{Deserialize, Serialize};

/// One branch's parameters, row-major as Burn's `Conv1d` stores them: `w1` `[hidden, inputs,
/// kernel]`, `w2` `[components, hidden, 1]`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct BranchWeights {
    pub inputs: usize,
    pub w1: Vec<f32>,
    pub b1: Vec<f32>,
    pub w2: Vec<f32>,
    pub b2: Vec<f32>,
}

/// Both branches and their sizes (the file `train-lips` writes).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct LipNetWeights {
    pub hidden: usize,
    pub kernel: usize,
    pub components: usize,
    pub mouth: BranchWeights,
    pub speech: BranchWeights,
}

/// One branch: features `[1, inputs, T]` → lines `[1, components, T]`.
#[derive(Module, Debug)]
pub struct Branch {
    pub c1: Conv1d,
    pub c2: Conv1d,
}

fn conv(w: &[f32], b: &[f32], shape: [usize; 3], pad: usize, device: &Device) -> Conv1d {
    Conv1d {
        weight: Param::from_data(TensorData::new(w.to_vec(), shape), device),
        bias: Some(Param::from_data(
            TensorData::new(b.to_vec(), [shape[0]]),
            device,
        )),
        stride: 1,
        kernel_size: shape[2],
        dilation: 1,
        groups: 1,
        padding: PaddingConfig1d::Explicit(pad, shape[2] - 1 - pad),
    }
}

impl Branch {
    fn from_weights(
        b: &BranchWeights,
        hidden: usize,
        kernel: usize,
        k: usize,
        device: &Device,
    ) -> Self {
        Self {
            c1: conv(&b.w1, &b.b1, [hidden, b.inputs, kernel], kernel / 2, device),
            c2: conv(&b.w2, &b.b2, [k, hidden, 1], 0, device),
        }
    }

    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.c2.forward(activation::tanh(self.c1.forward(x)))
    }

    fn weights(&self) -> BranchWeights {
        let v = |t: Tensor<3>| t.into_data().try_into_vec::<f32>().unwrap_or_default();
        let b = |c: &Conv1d| {
            c.bias
                .as_ref()
                .map(|p| {
                    p.val()
                        .into_data()
                        .try_into_vec::<f32>()
                        .unwrap_or_default()
                })
                .unwrap_or_default()
        };
        BranchWeights {
            inputs: self.c1.weight.dims()[1],
            w1: v(self.c1.weight.val()),
            b1: b(&self.c1),
            w2: v(self.c2.weight.val()),
            b2: b(&self.c2),
        }
    }
}

/// The two branches.
#[derive(Module, Debug)]
pub struct LipNet {
    pub mouth: Branch,
    pub speech: Branch,
}

impl LipNet {
    /// The net of `w`, checked for consistent sizes.
    pub fn new(w: &LipNetWeights, device: &Device) -> Result<Self, String> {
        for (name, b) in [("mouth", &w.mouth), ("speech", &w.speech)] {
            let ok = w.hidden > 0
                && w.kernel > 0
                && w.components > 0
                && b.w1.len() == w.hidden * b.inputs * w.kernel
                && b.b1.len() == w.hidden
                && b.w2.len() == w.components * w.hidden
                && b.b2.len() == w.components;
            if !ok {
                return Err(format!("{name} branch: parameter sizes do not match"));
            }
        }
        Ok(Self {
            mouth: Branch::from_weights(&w.mouth, w.hidden, w.kernel, w.components, device),
            speech: Branch::from_weights(&w.speech, w.hidden, w.kernel, w.components, device),
        })
    }

    pub fn weights(&self) -> LipNetWeights {
        let [hidden, _, kernel] = self.mouth.c1.weight.dims();
        LipNetWeights {
            hidden,
            kernel,
            components: self.mouth.c2.weight.dims()[0],
            mouth: self.mouth.weights(),
            speech: self.speech.weights(),
        }
    }
}

/// Lines of a branch for one sequence `rows` (`T` rows of its features): `components` vectors.
pub fn lines(branch: &Branch, rows: &[Vec<f64>], device: &Device) -> Vec<Vec<f64>> {
    let t = rows.len();
    let f = rows.first().map_or(0, Vec::len);
    if t == 0 || f == 0 {
        return vec![];
    }
    let mut v = vec![0f32; f * t];
    for (i, r) in rows.iter().enumerate() {
        for (k, x) in r.iter().enumerate().take(f) {
            v[k * t + i] = *x as f32;
        }
    }
    let x = Tensor::<3>::from_data(TensorData::new(v, [1, f, t]), device);
    let y = branch.forward(x);
    let k = y.dims()[1];
    let out = y.into_data().try_into_vec::<f32>().unwrap_or_default();
    (0..k)
        .map(|c| out[c * t..(c + 1) * t].iter().map(|x| *x as f64).collect())
        .collect()
}
