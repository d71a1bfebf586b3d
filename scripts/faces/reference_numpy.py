#!/usr/bin/env python3
"""Plain-numpy reference of MediaPipe's BlazeFace short-range detector and the FaceMesh
(face_landmark, 468 points) network, loading ONLY the converted .safetensors files
(weights/face_detection_short_range.safetensors, weights/face_landmark.safetensors).

This file is the spec the Rust/Burn port follows:
  * tensors are NCHW, weights in Burn layout ([out, in, kh, kw]; depthwise [C, 1, kh, kw]);
  * every layer is one entry of the `graph` list stored in the file's __metadata__
    (written by convert.py from the .tflite, one entry per TFLite op, DEQUANTIZE dropped);
  * padding is explicit and may be asymmetric (TensorFlow SAME: for stride 2 on an even size the
    extra row/column goes at the bottom/right, e.g. pads t,l,b,r = 0,0,1,1);
  * computation is in float32, like the port.

Usage
  python scripts/faces/reference_numpy.py --weights weights --testdata tests/data/faces
      runs both networks on the PNGs in tests/data/faces and compares with the JSON made from the
      TFLite runtime (make_testdata.py); no TFLite needed.
  python scripts/faces/reference_numpy.py --weights weights --testdata tests/data/faces \
      --tflite-dir .../mediapipe/modules
      also runs ai-edge-litert on the same inputs plus random inputs and prints max |diff| of the
      raw outputs.
"""
import argparse
import glob
import json
import os
import struct
import sys

import numpy as np


# ----------------------------------------------------------------------------- safetensors

def load_safetensors(path):
    """Returns ({name: np.ndarray float32}, metadata dict). F32 only."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, h in header.items():
        assert h["dtype"] == "F32"
        a, b = h["data_offsets"]
        tensors[name] = np.frombuffer(data[a:b], dtype="<f4").reshape(h["shape"])
    return tensors, meta


# ----------------------------------------------------------------------------- layers (NCHW)

def pad_hw(x, pads_tlbr, value=0.0):
    t, l, b, r = pads_tlbr
    if t == l == b == r == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)), constant_values=value)


def conv2d(x, w, bias, stride, pads_tlbr):
    """x [N,C,H,W], w [O,C,kh,kw]; explicit padding, no dilation."""
    x = pad_hw(x, pads_tlbr)
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    sh, sw = stride
    oh, ow = (h - kh) // sh + 1, (wd - kw) // sw + 1
    out = np.zeros((n, o, oh, ow), np.float32)
    for i in range(kh):          # sum over kernel taps: out += W[:,:,i,j] @ x_shifted
        for j in range(kw):
            patch = x[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]  # [N,C,oh,ow]
            out += np.einsum("oc,nchw->nohw", w[:, :, i, j], patch, optimize=True)
    return out + bias[None, :, None, None]


def depthwise_conv2d(x, w, bias, stride, pads_tlbr):
    """x [N,C,H,W], w [C,1,kh,kw] (Conv2d with groups=C)."""
    x = pad_hw(x, pads_tlbr)
    n, c, h, wd = x.shape
    _, _, kh, kw = w.shape
    sh, sw = stride
    oh, ow = (h - kh) // sh + 1, (wd - kw) // sw + 1
    out = np.zeros((n, c, oh, ow), np.float32)
    for i in range(kh):
        for j in range(kw):
            patch = x[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
            out += patch * w[None, :, 0, i, j, None, None]
    return out + bias[None, :, None, None]


def max_pool2d(x, kernel, stride, pads_tlbr):
    x = pad_hw(x, pads_tlbr, value=-np.inf)
    n, c, h, wd = x.shape
    kh, kw = kernel
    sh, sw = stride
    oh, ow = (h - kh) // sh + 1, (wd - kw) // sw + 1
    out = np.full((n, c, oh, ow), -np.inf, np.float32)
    for i in range(kh):
        for j in range(kw):
            out = np.maximum(out, x[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw])
    return out


def activation(x, name):
    if name == "NONE":
        return x
    if name == "RELU":
        return np.maximum(x, 0)
    raise ValueError(name)


def run_graph(weights, graph, input_name, x_nchw):
    """Executes the layer list. Returns {tensor name: array}; 4-D tensors are NCHW, the outputs of
    reshape/concat are in TFLite's own layout (e.g. [1, 896, 16])."""
    t = {input_name: x_nchw.astype(np.float32)}
    for e in graph:
        op = e["op"]
        x = t[e["in"][0]]
        if op == "conv2d":
            y = conv2d(x, weights[e["name"] + ".weight"], weights[e["name"] + ".bias"], e["stride"], e["pads_tlbr"])
            y = activation(y, e["fused_activation"])
        elif op == "depthwise_conv2d":
            y = depthwise_conv2d(x, weights[e["name"] + ".weight"], weights[e["name"] + ".bias"], e["stride"],
                                 e["pads_tlbr"])
            y = activation(y, e["fused_activation"])
        elif op == "relu":
            y = np.maximum(x, 0)
        elif op == "prelu":
            a = weights[e["name"] + ".alpha"][None, :, None, None]
            y = np.where(x >= 0, x, x * a)
        elif op == "add":
            y = activation(x + t[e["in"][1]], e["fused_activation"])
        elif op == "channel_pad":  # zero channels appended after the existing ones
            y = np.pad(x, ((0, 0), (0, e["pad_channels_after"]), (0, 0), (0, 0)))
        elif op == "max_pool2d":
            y = max_pool2d(x, e["kernel"], e["stride"], e["pads_tlbr"])
        elif op == "reshape_nhwc":  # TFLite reshapes NHWC memory: go back to NHWC first
            y = x.transpose(0, 2, 3, 1).reshape(e["shape"])
        elif op == "concat":
            y = np.concatenate([t[n] for n in e["in"]], axis=e["axis"])
        else:
            raise ValueError(op)
        t[e["out"]] = y.astype(np.float32)
    return t


class Net:
    def __init__(self, path):
        self.w, self.meta = load_safetensors(path)
        self.graph = json.loads(self.meta["graph"])
        self.inputs = json.loads(self.meta["inputs"])
        self.outputs = json.loads(self.meta["outputs"])

    def __call__(self, x_nhwc):
        """x_nhwc: [1,H,W,3] float32, already normalised. Returns {output name: array} with
        4-D outputs converted back to NHWC so they compare 1:1 with TFLite."""
        t = run_graph(self.w, self.graph, self.inputs[0]["name"], x_nhwc.transpose(0, 3, 1, 2))
        res = {}
        for o in self.outputs:
            y = t[o["name"]]
            res[o["name"]] = y.transpose(0, 2, 3, 1) if y.ndim == 4 else y
        return res


# ----------------------------------------------------------------------------- BlazeFace post-processing

def ssd_anchors(input_size=128, strides=(8, 16, 16, 16), offset=0.5, interpolated_scale_aspect_ratio=1.0):
    """MediaPipe SsdAnchorsCalculator with the face_detection_short_range options:
    num_layers 4, min_scale 0.1484375, max_scale 0.75, aspect_ratios [1.0],
    interpolated_scale_aspect_ratio 1.0, fixed_anchor_size true, anchor_offset 0.5.
    Consecutive layers with the same stride share one feature map; each layer contributes
    2 anchors per cell (aspect 1.0 + the interpolated one). With fixed_anchor_size every anchor
    has w = h = 1, so scales do not matter. Result: 16x16x2 (stride 8) then 8x8x6 (stride 16)
    = 512 + 384 = 896 anchors, each (x_center, y_center, w, h) normalised to [0,1]; order is
    row-major over cells (y, then x), anchors of a cell consecutive."""
    anchors = []
    layer = 0
    while layer < len(strides):
        last = layer
        per_cell = 0
        while last < len(strides) and strides[last] == strides[layer]:
            per_cell += 1 + (1 if interpolated_scale_aspect_ratio > 0 else 0)
            last += 1
        fm = int(np.ceil(input_size / strides[layer]))
        for y in range(fm):
            for x in range(fm):
                for _ in range(per_cell):
                    anchors.append(((x + offset) / fm, (y + offset) / fm, 1.0, 1.0))
        layer = last
    return np.array(anchors, np.float32)


def decode_detections(regressors, classificators, anchors, scale=128.0, clip=100.0, min_score=0.5):
    """TensorsToDetectionsCalculator (reverse_output_order: box is x,y,w,h; 6 keypoints x,y).
    Returns (all decoded boxes [896,4] ymin,xmin,ymax,xmax normalised, keypoints [896,6,2],
    scores [896]) and the indices with score >= min_score sorted by score, descending."""
    r = regressors.reshape(-1, 16).astype(np.float64)
    a = anchors.astype(np.float64)
    xc = r[:, 0] / scale * a[:, 2] + a[:, 0]
    yc = r[:, 1] / scale * a[:, 3] + a[:, 1]
    w = r[:, 2] / scale * a[:, 2]
    h = r[:, 3] / scale * a[:, 3]
    boxes = np.stack([yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2], 1)
    kp = r[:, 4:16].reshape(-1, 6, 2) / scale
    kp = kp * a[:, None, 2:4] + a[:, None, 0:2]
    s = np.clip(classificators.reshape(-1).astype(np.float64), -clip, clip)
    scores = 1.0 / (1.0 + np.exp(-s))
    keep = np.where(scores >= min_score)[0]
    keep = keep[np.argsort(-scores[keep], kind="stable")]
    return boxes, kp, scores, keep


# ----------------------------------------------------------------------------- checks

def load_png(path):
    from PIL import Image  # only for reading the test PNGs
    return np.asarray(Image.open(path).convert("RGB"), np.float32)


def detector_input(rgb):   # [H,W,3] 0..255 -> [1,128,128,3] in [-1,1]
    return (rgb / 127.5 - 1.0)[None].astype(np.float32)


def landmark_input(rgb):   # [H,W,3] 0..255 -> [1,192,192,3] in [0,1]
    return (rgb / 255.0)[None].astype(np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default="weights")
    ap.add_argument("--testdata", default="tests/data/faces")
    ap.add_argument("--tflite-dir", help="mediapipe/modules dir of the wheel: also compare with ai-edge-litert")
    ap.add_argument("--random", type=int, default=3, help="random inputs per model for the litert comparison")
    a = ap.parse_args()

    det = Net(os.path.join(a.weights, "face_detection_short_range.safetensors"))
    lm = Net(os.path.join(a.weights, "face_landmark.safetensors"))
    anchors = ssd_anchors()
    assert anchors.shape == (896, 4)
    ok = True

    # 1) against the stored litert results (no TFLite needed)
    for jf in sorted(glob.glob(os.path.join(a.testdata, "*.json"))):
        ref = json.load(open(jf))
        d_in = detector_input(load_png(os.path.join(a.testdata, ref["detector"]["input_png"])))
        o = det(d_in)
        boxes, kp, scores, keep = decode_detections(o["regressors"], o["classificators"], anchors)
        raw_max = float(o["classificators"].max())
        top = ref["detector"]["detections"][0]
        i = keep[0]
        box_px = (boxes[i] * 128).tolist()
        dbox = max(abs(p - q) for p, q in zip(box_px, [top["ymin"], top["xmin"], top["ymax"], top["xmax"]]))
        dkp = float(np.abs(kp[i] * 128 - np.array(top["keypoints"])).max())
        draw = float(np.abs(o["regressors"][0, top["anchor"]] - np.array(top["raw_regressors"])).max())
        print(f"{os.path.basename(jf)} detector: top anchor {i} (litert {top['anchor']}), score {scores[i]:.6f} "
              f"(litert {top['score']:.6f}), raw max logit {raw_max:.5f} (litert {ref['detector']['raw_max_logit']:.5f}), "
              f"max|d box px| {dbox:.2e}, max|d kp px| {dkp:.2e}, max|d raw regressors| {draw:.2e}, "
              f"#>=0.5 {len(keep)} (litert {ref['detector']['num_above_threshold']})")
        ok &= i == top["anchor"] and dbox < 0.05 and dkp < 0.05

        l_in = landmark_input(load_png(os.path.join(a.testdata, ref["landmarks"]["input_png"])))
        o = lm(l_in)
        pts = o["conv2d_21"].reshape(468, 3)
        flag = float(o["conv2d_31"].reshape(-1)[0])
        dl = float(np.abs(pts - np.array(ref["landmarks"]["points"])).max())
        print(f"{os.path.basename(jf)} landmarks: max|d xyz| {dl:.4f} px (litert stored rounded to 1e-3), "
              f"face flag logit {flag:.4f} (litert {ref['landmarks']['face_flag_logit']:.4f})")
        ok &= dl < 0.01 and abs(flag - ref["landmarks"]["face_flag_logit"]) < 1e-2

    # 2) optional: raw outputs against ai-edge-litert
    if a.tflite_dir:
        from ai_edge_litert.interpreter import Interpreter
        rng = np.random.default_rng(0)
        for net, rel, kind in ((det, "face_detection/face_detection_short_range.tflite", "det"),
                               (lm, "face_landmark/face_landmark.tflite", "lm")):
            it = Interpreter(model_path=os.path.join(a.tflite_dir, rel))
            it.allocate_tensors()
            inp = it.get_input_details()[0]
            xs = [("random%d" % k, (rng.uniform(-1, 1, inp["shape"]) if kind == "det"
                                   else rng.uniform(0, 1, inp["shape"])).astype(np.float32)) for k in range(a.random)]
            for jf in sorted(glob.glob(os.path.join(a.testdata, "*.json"))):
                ref = json.load(open(jf))
                if kind == "det":
                    xs.append((ref["detector"]["input_png"], detector_input(
                        load_png(os.path.join(a.testdata, ref["detector"]["input_png"])))))
                else:
                    xs.append((ref["landmarks"]["input_png"], landmark_input(
                        load_png(os.path.join(a.testdata, ref["landmarks"]["input_png"])))))
            worst = {}
            for label, x in xs:
                it.set_tensor(inp["index"], x)
                it.invoke()
                mine = net(x)
                parts = []
                for od in it.get_output_details():
                    r = it.get_tensor(od["index"])
                    d = float(np.abs(r - mine[od["name"]]).max())
                    worst[od["name"]] = max(worst.get(od["name"], 0.0), d)
                    parts.append(f"{od['name']} {list(r.shape)} max|d| {d:.3e} (|ref| max {float(np.abs(r).max()):.3g})")
                print(f"litert vs numpy [{os.path.basename(rel)}] {label}: " + "; ".join(parts))
            print(f"WORST [{os.path.basename(rel)}]: " + ", ".join(f"{k} {v:.3e}" for k, v in worst.items()))
    print("OK" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
