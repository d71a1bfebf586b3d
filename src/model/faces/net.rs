//! A converted face network, run with Burn: its weights and its op list come from one
//! `.safetensors` file written by `scripts/faces/convert.py` from MediaPipe's `.tflite` (see
//! `weights/FACES.md`). Each op is Burn's own — `conv2d` (depthwise as `groups = C`) with
//! TensorFlow's SAME padding made explicit (asymmetric for stride 2), `max_pool2d`, ReLU,
//! per-channel PReLU, residual adds, zero channels appended on a skip path, and the heads'
//! NHWC reshapes — in the order the file lists them, on NCHW tensors, in f32.
use burn::tensor::module::{conv2d, max_pool2d};
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};
use burn::tensor::{Device, Tensor, TensorData};
use serde::Deserialize;
use std::collections::HashMap;

/// Why a weights file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("weights file: {0}")]
    Format(String),
    #[error("weights file: layer {layer}: {why}")]
    Layer { layer: usize, why: String },
}

/// One op of the list, as `convert.py` writes it.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Op {
    Conv2d(ConvDef),
    DepthwiseConv2d(ConvDef),
    Relu(Io),
    Prelu(Named),
    Add(Io),
    ChannelPad(ChannelPadDef),
    MaxPool2d(PoolDef),
    ReshapeNhwc(ReshapeDef),
    Concat(ConcatDef),
}

#[derive(Clone, Debug, Deserialize)]
struct Io {
    #[serde(rename = "in")]
    inputs: Vec<String>,
    out: String,
}

#[derive(Clone, Debug, Deserialize)]
struct ConvDef {
    #[serde(flatten)]
    io: Io,
    name: String,
    stride: [usize; 2],
    pads_tlbr: [usize; 4],
    fused_activation: String,
}

#[derive(Clone, Debug, Deserialize)]
struct Named {
    #[serde(flatten)]
    io: Io,
    name: String,
}

#[derive(Clone, Debug, Deserialize)]
struct ChannelPadDef {
    #[serde(flatten)]
    io: Io,
    pad_channels_after: usize,
}

#[derive(Clone, Debug, Deserialize)]
struct PoolDef {
    #[serde(flatten)]
    io: Io,
    kernel: [usize; 2],
    stride: [usize; 2],
    pads_tlbr: [usize; 4],
}

#[derive(Clone, Debug, Deserialize)]
struct ReshapeDef {
    #[serde(flatten)]
    io: Io,
    shape: [usize; 3],
}

#[derive(Clone, Debug, Deserialize)]
struct ConcatDef {
    #[serde(flatten)]
    io: Io,
    axis: usize,
}

impl Op {
    fn io(&self) -> &Io {
        match self {
            Op::Conv2d(c) | Op::DepthwiseConv2d(c) => &c.io,
            Op::Relu(io) | Op::Add(io) => io,
            Op::Prelu(n) => &n.io,
            Op::ChannelPad(p) => &p.io,
            Op::MaxPool2d(p) => &p.io,
            Op::ReshapeNhwc(r) => &r.io,
            Op::Concat(c) => &c.io,
        }
    }
}

#[derive(Deserialize)]
struct Port {
    name: String,
}

/// A tensor between ops: feature maps (NCHW) or the heads' reshaped outputs.
#[derive(Clone)]
enum Value {
    Map(Tensor<4>),
    Rows(Tensor<3>),
}

/// A converted network on one device.
pub struct Net {
    ops: Vec<Op>,
    input: String,
    outputs: Vec<String>,
    /// Conv weights `[out, in/groups, kh, kw]` with their biases and groups; PReLU alphas as
    /// `[C]`.
    convs: HashMap<String, (Tensor<4>, Tensor<1>, usize)>,
    alphas: HashMap<String, Tensor<1>>,
    /// Where each intermediate is last read (index of the op), to free it after.
    last_use: HashMap<String, usize>,
}

/// The tensors of a safetensors file (F32 only) and its metadata.
type Tensors = HashMap<String, (Vec<usize>, Vec<f32>)>;

fn read_safetensors(bytes: &[u8]) -> Result<(Tensors, HashMap<String, String>), NetError> {
    let bad = |why: &str| NetError::Format(why.to_string());
    let n = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()) as usize)
        .ok_or_else(|| bad("shorter than its header length"))?;
    let header = bytes
        .get(8..8usize.saturating_add(n))
        .ok_or_else(|| bad("header runs past the end"))?;
    let data = &bytes[8 + n..];
    let mut header: HashMap<String, serde_json::Value> =
        serde_json::from_slice(header).map_err(|e| bad(&format!("header: {e}")))?;
    let meta: HashMap<String, String> = header
        .remove("__metadata__")
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| bad(&format!("metadata: {e}")))?
        .unwrap_or_default();
    let mut out = HashMap::new();
    for (name, h) in header {
        if h["dtype"] != "F32" {
            return Err(bad(&format!("{name}: only F32 tensors are read")));
        }
        let shape: Vec<usize> =
            serde_json::from_value(h["shape"].clone()).map_err(|e| bad(&format!("{name}: {e}")))?;
        let [a, b]: [usize; 2] = serde_json::from_value(h["data_offsets"].clone())
            .map_err(|e| bad(&format!("{name}: {e}")))?;
        let raw = data
            .get(a..b)
            .filter(|r| r.len() == shape.iter().product::<usize>() * 4)
            .ok_or_else(|| bad(&format!("{name}: data out of range")))?;
        let v = raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        out.insert(name, (shape, v));
    }
    Ok((out, meta))
}

/// Max pooling as the file says; a 2×2 pool of stride 2 on even sizes as two axes of their own
/// and the largest of each: the same values, 2.5× faster on burn-flex than its general pooling.
fn pool(x: Tensor<4>, p: &PoolDef) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    if p.kernel == [2, 2] && p.stride == [2, 2] && p.pads_tlbr == [0; 4] && h % 2 == 0 && w % 2 == 0
    {
        let y: Tensor<6> = x.reshape([n, c, h / 2, 2, w / 2, 2]);
        return y.max_dim(5).max_dim(3).reshape([n, c, h / 2, w / 2]);
    }
    let [t0, l, b0, r] = p.pads_tlbr;
    let opts = MaxPoolOptions::new(p.kernel)
        .with_stride(p.stride)
        .with_padding_pairs([(t0, b0), (l, r)]);
    max_pool2d(x, opts)
}

impl Net {
    /// The network in `bytes` (a converted `.safetensors` file), on `device`.
    pub fn load(bytes: &[u8], device: &Device) -> Result<Self, NetError> {
        let (mut tensors, meta) = read_safetensors(bytes)?;
        let json = |k: &str| {
            meta.get(k)
                .ok_or_else(|| NetError::Format(format!("no {k} in the metadata")))
        };
        let ops: Vec<Op> = serde_json::from_str(json("graph")?)
            .map_err(|e| NetError::Format(format!("graph: {e}")))?;
        let ports = |k: &str| -> Result<Vec<String>, NetError> {
            let p: Vec<Port> = serde_json::from_str(json(k)?)
                .map_err(|e| NetError::Format(format!("{k}: {e}")))?;
            Ok(p.into_iter().map(|p| p.name).collect())
        };
        let input = ports("inputs")?
            .into_iter()
            .next()
            .ok_or_else(|| NetError::Format("no input".into()))?;
        let outputs = ports("outputs")?;
        let mut take = |layer: usize, name: String| {
            tensors.remove(&name).ok_or(NetError::Layer {
                layer,
                why: format!("no tensor {name}"),
            })
        };
        let mut convs = HashMap::new();
        let mut alphas = HashMap::new();
        for (i, op) in ops.iter().enumerate() {
            match op {
                Op::Conv2d(c) | Op::DepthwiseConv2d(c) => {
                    let (ws, w) = take(i, format!("{}.weight", c.name))?;
                    let (_, b) = take(i, format!("{}.bias", c.name))?;
                    let [o, ci, kh, kw]: [usize; 4] =
                        ws.try_into().map_err(|_| NetError::Layer {
                            layer: i,
                            why: "weight is not 4-D".into(),
                        })?;
                    let groups = if matches!(op, Op::DepthwiseConv2d(_)) {
                        o
                    } else {
                        1
                    };
                    if c.fused_activation != "NONE" {
                        return Err(NetError::Layer {
                            layer: i,
                            why: format!("fused activation {}", c.fused_activation),
                        });
                    }
                    let w = Tensor::from_data(TensorData::new(w, [o, ci, kh, kw]), device);
                    let b = Tensor::from_data(TensorData::new(b, [o]), device);
                    convs.insert(c.name.clone(), (w, b, groups));
                }
                Op::Prelu(p) => {
                    let (_, a) = take(i, format!("{}.alpha", p.name))?;
                    let c = a.len();
                    alphas.insert(
                        p.name.clone(),
                        Tensor::from_data(TensorData::new(a, [c]), device),
                    );
                }
                _ => {}
            }
        }
        let mut last_use = HashMap::new();
        for (i, op) in ops.iter().enumerate() {
            for name in &op.io().inputs {
                last_use.insert(name.clone(), i);
            }
        }
        Ok(Self {
            ops,
            input,
            outputs,
            convs,
            alphas,
            last_use,
        })
    }

    /// Run the network on `x` (`[N, 3, H, W]`, normalised as the model wants). Returns its
    /// outputs in the file's order, each flattened per item: `[N, len]`.
    pub fn forward(&self, x: Tensor<4>) -> Result<Vec<Tensor<2>>, NetError> {
        let mut t: HashMap<&str, Value> = HashMap::new();
        t.insert(self.input.as_str(), Value::Map(x));
        for (i, op) in self.ops.iter().enumerate() {
            let y = self.apply(i, op, &t)?;
            let io = op.io();
            for name in &io.inputs {
                if self.last_use.get(name) == Some(&i) && !self.outputs.contains(name) {
                    t.remove(name.as_str());
                }
            }
            t.insert(io.out.as_str(), y);
        }
        self.outputs
            .iter()
            .map(|name| match t.remove(name.as_str()) {
                Some(Value::Map(m)) => {
                    let n = m.dims()[0];
                    // NHWC order, as the file's runtime lays its outputs out.
                    Ok(m.permute([0, 2, 3, 1]).reshape([n as i32, -1]))
                }
                Some(Value::Rows(r)) => {
                    let n = r.dims()[0];
                    Ok(r.reshape([n as i32, -1]))
                }
                None => Err(NetError::Format(format!("output {name} never computed"))),
            })
            .collect()
    }

    /// Op `i` on the tensors computed so far.
    fn apply(&self, i: usize, op: &Op, t: &HashMap<&str, Value>) -> Result<Value, NetError> {
        let err = |why: &str| NetError::Layer {
            layer: i,
            why: why.to_string(),
        };
        let io = op.io();
        let get = |k: usize| -> Result<Value, NetError> {
            io.inputs
                .get(k)
                .and_then(|n| t.get(n.as_str()))
                .cloned()
                .ok_or_else(|| err("an input is not computed yet"))
        };
        let map = |k: usize| match get(k)? {
            Value::Map(m) => Ok(m),
            Value::Rows(_) => Err(err("expected a feature map")),
        };
        let y = match op {
            Op::Conv2d(c) | Op::DepthwiseConv2d(c) => {
                let (w, b, groups) = &self.convs[&c.name];
                let [t0, l, b0, r] = c.pads_tlbr;
                let opts =
                    ConvOptions::new_with_padding(c.stride, [(t0, b0), (l, r)], [1, 1], *groups);
                Value::Map(conv2d(map(0)?, w.clone(), Some(b.clone()), opts))
            }
            Op::Relu(_) => Value::Map(burn::tensor::activation::relu(map(0)?)),
            // Burn's own PReLU: one pass on burn-flex, where clamp, multiply and add took four.
            Op::Prelu(p) => Value::Map(burn::tensor::activation::prelu(
                map(0)?,
                self.alphas[&p.name].clone(),
            )),
            Op::Add(_) => Value::Map(map(0)? + map(1)?),
            Op::ChannelPad(p) => {
                let x = map(0)?;
                let [n, _, h, w] = x.dims();
                let zeros = Tensor::zeros([n, p.pad_channels_after, h, w], &x.device());
                Value::Map(Tensor::cat(vec![x, zeros], 1))
            }
            Op::MaxPool2d(p) => Value::Map(pool(map(0)?, p)),
            Op::ReshapeNhwc(r) => {
                let x = map(0)?;
                let n = x.dims()[0];
                Value::Rows(x.permute([0, 2, 3, 1]).reshape([n, r.shape[1], r.shape[2]]))
            }
            Op::Concat(c) => {
                let rows = io
                    .inputs
                    .iter()
                    .map(|n| match t.get(n.as_str()) {
                        Some(Value::Rows(r)) => Ok(r.clone()),
                        _ => Err(err("concatenates rows only")),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Value::Rows(Tensor::cat(rows, c.axis))
            }
        };
        Ok(y)
    }
}
