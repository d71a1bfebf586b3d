#!/usr/bin/env python3
"""Convert MediaPipe's BlazeFace short-range detector and FaceMesh landmark model
(.tflite, fp16 weights behind DEQUANTIZE ops) to f32 .safetensors for the Burn port.

Usage:
    python scripts/faces/convert.py \
        --detector  .../mediapipe/modules/face_detection/face_detection_short_range.tflite \
        --landmarks .../mediapipe/modules/face_landmark/face_landmark.tflite \
        --out-dir   weights
        [--markdown /tmp/layers.md]   # optional: the per-op tables of ARCHITECTURE.md (appendix)

Needs only `numpy` and the flatbuffer parser `tflite` (PyPI). The safetensors files are written
by hand (8-byte little-endian header length, JSON header, raw little-endian f32 data).

What goes into each .safetensors file
-------------------------------------
* Tensors, named by layer in execution order (one counter over the layers that own weights):
    convNN.weight  [out, in, kh, kw]   (TFLite CONV_2D kernel is OHWI -> transposed to OIHW)
    convNN.bias    [out]
    dwNN.weight    [channels, 1, kh, kw] (TFLite DEPTHWISE_CONV_2D kernel is 1HWC -> C1HW)
    dwNN.bias      [channels]
    preluNN.alpha  [channels]          (TFLite PRELU alpha is [1, 1, C] -> [C])
  i.e. PyTorch / Burn `Conv2d` layout; a depthwise conv is a Burn Conv2d with groups = channels.
  The fp16 constants are widened to f32 exactly (every fp16 value is representable in f32).
* `__metadata__` (all values are strings, as the format requires):
    source_file, source_sha256, source_package, layout, converter,
    inputs / outputs (JSON: name, NHWC shape),
    graph (JSON list: one entry per TFLite op except DEQUANTIZE, in execution order, with the
           activation tensor names it reads/writes and every parameter needed to run it --
           this is what scripts/faces/reference_numpy.py executes).
"""
import argparse
import hashlib
import json
import os
import struct
import sys

import numpy as np
import tflite

OPNAMES = {v: k for k, v in tflite.BuiltinOperator.__dict__.items() if not k.startswith("_")}
TFL_DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 9: np.int8}
ACT = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6"}
PADDING = {0: "SAME", 1: "VALID"}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def same_pads(in_size, k, s, d=1):
    """TensorFlow SAME padding along one axis -> (before, after). The extra pixel of an odd total
    goes AFTER (bottom / right)."""
    eff_k = (k - 1) * d + 1
    out = -(-in_size // s)  # ceil
    total = max((out - 1) * s + eff_k - in_size, 0)
    return total // 2, total - total // 2, out


def pads_for(padding, in_h, in_w, kh, kw, sh, sw, dh=1, dw=1):
    """Returns [top, left, bottom, right], out_h, out_w."""
    if padding == "SAME":
        t, b, oh = same_pads(in_h, kh, sh, dh)
        l, r, ow = same_pads(in_w, kw, sw, dw)
        return [t, l, b, r], oh, ow
    oh = (in_h - ((kh - 1) * dh + 1)) // sh + 1
    ow = (in_w - ((kw - 1) * dw + 1)) // sw + 1
    return [0, 0, 0, 0], oh, ow


class Model:
    def __init__(self, path):
        self.path = path
        self.buf = open(path, "rb").read()
        self.m = tflite.Model.GetRootAsModel(self.buf, 0)
        assert self.m.SubgraphsLength() == 1, "expected a single subgraph"
        self.g = self.m.Subgraphs(0)

    def tname(self, i):
        return self.g.Tensors(i).Name().decode()

    def tshape(self, i):
        t = self.g.Tensors(i)
        return [int(x) for x in t.ShapeAsNumpy()] if t.ShapeLength() else []

    def const(self, i):
        """Constant data of tensor i, or None if it has no buffer."""
        t = self.g.Tensors(i)
        b = self.m.Buffers(t.Buffer())
        if b is None or b.DataLength() == 0:
            return None
        dt = TFL_DTYPES[t.Type()]
        return np.frombuffer(b.DataAsNumpy().tobytes(), dtype=np.dtype(dt).newbyteorder("<")).reshape(self.tshape(i))

    def opname(self, op):
        oc = self.m.OperatorCodes(op.OpcodeIndex())
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        if code == tflite.BuiltinOperator.CUSTOM:
            return "CUSTOM:" + oc.CustomCode().decode()
        return OPNAMES[code]


def options(op, cls):
    o = cls()
    bo = op.BuiltinOptions()
    o.Init(bo.Bytes, bo.Pos)
    return o


def convert(path):
    M = Model(path)
    g = M.g
    fname = os.path.basename(path)
    # 1) constants: outputs of DEQUANTIZE ops (fp16 -> f32) and plain f32/int32 constants.
    consts = {}
    ops = [g.Operators(k) for k in range(g.OperatorsLength())]
    for op in ops:
        if M.opname(op) == "DEQUANTIZE":
            src = op.Inputs(0)
            data = M.const(src)
            assert data is not None and data.dtype == np.float16, "DEQUANTIZE of non-fp16 constant"
            t = M.g.Tensors(src)
            assert t.Quantization() is None or t.Quantization().ScaleLength() == 0, "real quantisation"
            consts[op.Outputs(0)] = data.astype(np.float32)

    def const_of(i):
        if i in consts:
            return consts[i]
        return M.const(i)

    tensors = {}  # name -> np.float32 array (Burn layout)
    order = []
    graph = []
    seen = set()
    layer_no = 0

    def act_name(i):
        return M.tname(i)

    for idx, op in enumerate(ops):
        name = M.opname(op)
        if name == "DEQUANTIZE":
            continue
        ins = [int(x) for x in op.InputsAsNumpy()]
        outs = [int(x) for x in op.OutputsAsNumpy()]
        assert len(outs) == 1
        x = ins[0]
        in_shape = M.tshape(x)
        out_shape = M.tshape(outs[0])
        entry = {"op": None, "in": [act_name(x)], "out": act_name(outs[0]),
                 "in_shape_nhwc": in_shape, "out_shape_nhwc": out_shape, "tflite_op_index": idx}
        if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            is_dw = name == "DEPTHWISE_CONV_2D"
            o = options(op, tflite.DepthwiseConv2DOptions if is_dw else tflite.Conv2DOptions)
            w = const_of(ins[1])
            b = const_of(ins[2]) if len(ins) > 2 and ins[2] >= 0 else None
            assert w is not None
            if is_dw:
                assert o.DepthMultiplier() == 1 and w.shape[0] == 1
                w_b = np.ascontiguousarray(w.transpose(3, 0, 1, 2))  # 1HWC -> C,1,H,W
            else:
                w_b = np.ascontiguousarray(w.transpose(0, 3, 1, 2))  # OHWI -> OIHW
            kh, kw = int(w_b.shape[2]), int(w_b.shape[3])
            pad_mode = PADDING[o.Padding()]
            pads, oh, ow = pads_for(pad_mode, in_shape[1], in_shape[2], kh, kw, o.StrideH(), o.StrideW(),
                                    o.DilationHFactor(), o.DilationWFactor())
            assert [oh, ow] == out_shape[1:3], (name, idx, oh, ow, out_shape)
            assert o.DilationHFactor() == 1 and o.DilationWFactor() == 1
            lname = f"{'dw' if is_dw else 'conv'}{layer_no:02d}"
            layer_no += 1
            tensors[lname + ".weight"] = w_b
            order.append(lname + ".weight")
            if b is None:
                b = np.zeros(w_b.shape[0], np.float32)
            tensors[lname + ".bias"] = np.ascontiguousarray(b.astype(np.float32))
            order.append(lname + ".bias")
            entry.update({
                "op": "depthwise_conv2d" if is_dw else "conv2d", "name": lname,
                "tflite_weight": M.tname(ins[1]).replace("_dequantize", ""),
                "kernel": [kh, kw], "stride": [o.StrideH(), o.StrideW()],
                "padding": pad_mode, "pads_tlbr": pads,
                "in_channels": in_shape[3], "out_channels": out_shape[3],
                "fused_activation": ACT[o.FusedActivationFunction()],
            })
        elif name == "PRELU":
            a = const_of(ins[1])
            assert a is not None and list(a.shape) == [1, 1, in_shape[3]], a.shape
            lname = f"prelu{layer_no:02d}"
            layer_no += 1
            tensors[lname + ".alpha"] = np.ascontiguousarray(a.reshape(-1).astype(np.float32))
            order.append(lname + ".alpha")
            entry.update({"op": "prelu", "name": lname, "tflite_alpha": M.tname(ins[1]).replace("_dequantize", ""),
                          "tflite_alpha_shape": [1, 1, in_shape[3]]})
        elif name == "RELU":
            entry["op"] = "relu"
        elif name == "ADD":
            o = options(op, tflite.AddOptions)
            entry.update({"op": "add", "in": [act_name(ins[0]), act_name(ins[1])],
                          "fused_activation": ACT[o.FusedActivationFunction()]})
            assert M.tshape(ins[0]) == M.tshape(ins[1]), "ADD with broadcasting"
        elif name == "PAD":
            p = const_of(ins[1])
            p = [[int(a), int(b)] for a, b in p.reshape(-1, 2)]
            assert p[0] == [0, 0] and p[1] == [0, 0] and p[2] == [0, 0] and p[3][0] == 0, p
            entry.update({"op": "channel_pad", "paddings_nhwc": p, "pad_channels_after": p[3][1]})
        elif name == "MAX_POOL_2D":
            o = options(op, tflite.Pool2DOptions)
            pad_mode = PADDING[o.Padding()]
            pads, oh, ow = pads_for(pad_mode, in_shape[1], in_shape[2], o.FilterHeight(), o.FilterWidth(),
                                    o.StrideH(), o.StrideW())
            assert [oh, ow] == out_shape[1:3]
            assert ACT[o.FusedActivationFunction()] == "NONE"
            entry.update({"op": "max_pool2d", "kernel": [o.FilterHeight(), o.FilterWidth()],
                          "stride": [o.StrideH(), o.StrideW()], "padding": pad_mode, "pads_tlbr": pads})
        elif name == "RESHAPE":
            entry.update({"op": "reshape_nhwc", "shape": out_shape,
                          "note": "row-major reshape of the NHWC tensor (channels fastest)"})
        elif name == "CONCATENATION":
            o = options(op, tflite.ConcatenationOptions)
            entry.update({"op": "concat", "in": [act_name(i) for i in ins], "axis": o.Axis()})
        else:
            raise SystemExit(f"{fname}: unsupported op {name} at index {idx}")
        graph.append(entry)

    inputs = [{"name": M.tname(i), "shape_nhwc": M.tshape(i)} for i in g.InputsAsNumpy()]
    outputs = [{"name": M.tname(i), "shape": M.tshape(i)} for i in g.OutputsAsNumpy()]
    meta = {
        "source_file": fname,
        "source_sha256": sha256(path),
        "source_package": "mediapipe==0.10.21 (PyPI wheel, Apache-2.0)",
        "converter": "scripts/faces/convert.py",
        "dtype_note": "fp16 constants from the .tflite widened to f32 (exact)",
        "layout": ("conv*.weight [out,in,kh,kw] (from TFLite OHWI); dw*.weight [channels,1,kh,kw] "
                   "(from TFLite 1HWC; depthwise = Conv2d with groups=channels); *.bias [out]; "
                   "prelu*.alpha [channels] (from TFLite [1,1,C]). Activations in the graph are "
                   "named by their TFLite tensor names; graph shapes are NHWC as in TFLite."),
        "inputs": json.dumps(inputs),
        "outputs": json.dumps(outputs),
        "graph": json.dumps(graph),
    }
    return tensors, order, meta, graph


def write_safetensors(path, tensors, order, meta):
    header = {"__metadata__": meta}
    off = 0
    blobs = []
    for name in order:
        a = np.ascontiguousarray(tensors[name], dtype="<f4")
        raw = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        blobs.append(raw)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((8 - len(hjson) % 8) % 8)  # pad to 8-byte alignment, as the reference writer does
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for raw in blobs:
            f.write(raw)


def macs_of(e):
    if e["op"] == "conv2d":
        n, oh, ow, oc = e["out_shape_nhwc"]
        return oh * ow * oc * e["kernel"][0] * e["kernel"][1] * e["in_channels"]
    if e["op"] == "depthwise_conv2d":
        n, oh, ow, oc = e["out_shape_nhwc"]
        return oh * ow * oc * e["kernel"][0] * e["kernel"][1]
    return 0


def markdown(title, graph, tensors):
    lines = [f"### {title}: every op in execution order (DEQUANTIZE ops omitted)", "",
             "| # | op | layer | in (HxWxC) | out (HxWxC) | k | s | padding | pads t,l,b,r | reads -> writes | notes | MACs |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    total = 0
    for k, e in enumerate(graph):
        m = macs_of(e)
        total += m
        note = ""
        if e["op"] == "channel_pad":
            note = f"zero channels +{e['pad_channels_after']} after; TFLite paddings {e['paddings_nhwc']}"
        elif e["op"] == "prelu":
            note = f"alpha [{e['tflite_alpha_shape'][2]}] (TFLite shape {e['tflite_alpha_shape']})"
        elif e["op"] in ("conv2d", "depthwise_conv2d"):
            note = f"{e['tflite_weight']}" + ("" if e["fused_activation"] == "NONE" else f", fused {e['fused_activation']}")
        elif e["op"] == "concat":
            note = f"axis {e['axis']}"
        elif e["op"] == "reshape_nhwc":
            note = "NHWC row-major"
        shp = lambda s: "x".join(map(str, s[1:]))
        lines.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
            k, e["op"], e.get("name", ""), shp(e["in_shape_nhwc"]), shp(e["out_shape_nhwc"]),
            "x".join(map(str, e["kernel"])) if "kernel" in e else "",
            e["stride"][0] if "stride" in e else "", e.get("padding", ""),
            ",".join(map(str, e["pads_tlbr"])) if "pads_tlbr" in e else "",
            " + ".join(e["in"]) + " -> " + e["out"], note, f"{m:,}" if m else ""))
    params = sum(int(v.size) for v in tensors.values())
    lines += ["", f"Total: {total:,} MACs ({2 * total / 1e6:.1f} MFLOP, counting a multiply-add as 2; "
              f"bias, activations, adds, pooling ignored); {params:,} parameters.", ""]
    return "\n".join(lines), total, params


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--detector", required=True, help="face_detection_short_range.tflite")
    ap.add_argument("--landmarks", required=True, help="face_landmark.tflite")
    ap.add_argument("--out-dir", default="weights")
    ap.add_argument("--markdown", help="also write per-layer tables to this file")
    a = ap.parse_args()
    os.makedirs(a.out_dir, exist_ok=True)
    md = []
    for src, title in ((a.detector, "BlazeFace short range"), (a.landmarks, "FaceMesh (face_landmark)")):
        tensors, order, meta, graph = convert(src)
        out = os.path.join(a.out_dir, os.path.splitext(os.path.basename(src))[0] + ".safetensors")
        write_safetensors(out, tensors, order, meta)
        text, macs, params = markdown(title, graph, tensors)
        md.append(text)
        print(f"{out}: {len(order)} tensors, {params:,} params, {macs:,} MACs, "
              f"source sha256 {meta['source_sha256']}")
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write("<!-- generated by scripts/faces/convert.py --markdown; do not edit -->\n\n")
            f.write("\n".join(md))


if __name__ == "__main__":
    sys.exit(main())
