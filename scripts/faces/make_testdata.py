#!/usr/bin/env python3
"""Make the face-model reference data in tests/data/faces/ with MediaPipe's own TFLite runtime
(ai-edge-litert). Run once; the outputs are committed.

    python scripts/faces/make_testdata.py --media ../shared/media \
        --tflite-dir .../mediapipe/modules --out tests/data/faces

For each clip below: frame FRAME (0-based) is decoded with ffmpeg to RGB24 PNG (full size), then

Detector input (<name>_det128.png, 128x128 RGB):
  letterbox to a square of side S = max(W, H): the frame is pasted at
  (left, top) = ((S - W) // 2, (S - H) // 2) onto a black (0,0,0) S x S canvas, then resized to
  128x128 with PIL `Image.resize((128, 128), Image.BILINEAR)` (PIL's bilinear is antialiased on
  downscaling: its support grows with the scale factor). Network input = png / 127.5 - 1 (RGB,
  [-1, 1]); the black bars become -1.0, as MediaPipe's BORDER_ZERO letterbox does.
  Detections are decoded with the 896 SSD anchors, score = sigmoid(clip(logit, -100, 100)),
  kept if score >= 0.5, sorted by score (no NMS); box and keypoints are in 128x128 input pixels.
  To map to frame pixels: x_frame = x128 * S / 128 - left, y_frame = y128 * S / 128 - top.

Landmark input (<name>_lm192.png, 192x192 RGB):
  from the top detection (in frame pixels): centre (cx, cy) of the box, side = 1.5 * max(w, h);
  crop box x0 = round(cx - side/2), y0 = round(cy - side/2), side_px = round(side), taken from the
  full frame with PIL `Image.crop((x0, y0, x0 + side_px, y0 + side_px))` (outside the frame is
  black), resized to 192x192 with `Image.BILINEAR`; no rotation. Network input = png / 255
  (RGB, [0, 1]). Landmarks are the model's raw output reshaped to 468 x (x, y, z), in 192x192
  input pixels (z: same scale as x, relative depth); rounded to 3 decimals.
  To map to frame pixels: x_frame = x0 + x192 * side_px / 192 (same for y).
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_numpy import decode_detections, ssd_anchors  # noqa: E402  (anchors + decoding only)

CLIPS = [  # (name, clip path under media/, 0-based frame)
    ("man_reading", "talking/1p_closeup_facingcamera/4_man_reading.mp4", 60),
    ("girl_drawing", "talking/1p_closeup_facingcamera/2_girl_drawing.mp4", 60),
    ("woman_table", "talking/1p_protrait/12_woman_sits_sleek_table.mp4", 60),
]
LIPS_INNER = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95]
LIPS_OUTER = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146]


def decode_frame(path, frame):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "f.png")
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", path, "-vf", f"select=eq(n\\,{frame})",
                        "-frames:v", "1", "-pix_fmt", "rgb24", out], check=True)
        return Image.open(out).convert("RGB").copy()


def run(it, x):
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return {o["name"]: it.get_tensor(o["index"]).copy() for o in it.get_output_details()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--media", required=True, help="the shared media folder (with talking/)")
    ap.add_argument("--tflite-dir", required=True, help="mediapipe/modules folder of the mediapipe 0.10.21 wheel")
    ap.add_argument("--out", default="tests/data/faces")
    a = ap.parse_args()
    from ai_edge_litert.interpreter import Interpreter
    det = Interpreter(model_path=os.path.join(a.tflite_dir, "face_detection/face_detection_short_range.tflite"))
    lm = Interpreter(model_path=os.path.join(a.tflite_dir, "face_landmark/face_landmark.tflite"))
    det.allocate_tensors()
    lm.allocate_tensors()
    anchors = ssd_anchors()
    os.makedirs(a.out, exist_ok=True)
    for name, rel, frame in CLIPS:
        img = decode_frame(os.path.join(a.media, rel), frame)
        W, H = img.size
        S = max(W, H)
        left, top = (S - W) // 2, (S - H) // 2
        canvas = Image.new("RGB", (S, S), (0, 0, 0))
        canvas.paste(img, (left, top))
        d128 = canvas.resize((128, 128), Image.BILINEAR)
        det_png = f"{name}_det128.png"
        d128.save(os.path.join(a.out, det_png), optimize=True)
        x = (np.asarray(Image.open(os.path.join(a.out, det_png)), np.float32) / 127.5 - 1.0)[None]
        o = run(det, x)
        boxes, kp, scores, keep = decode_detections(o["regressors"], o["classificators"], anchors)
        dets = []
        for i in keep[:3]:
            dets.append({
                "anchor": int(i), "score": round(float(scores[i]), 6),
                "logit": round(float(o["classificators"][0, i, 0]), 5),
                "ymin": round(float(boxes[i, 0] * 128), 4), "xmin": round(float(boxes[i, 1] * 128), 4),
                "ymax": round(float(boxes[i, 2] * 128), 4), "xmax": round(float(boxes[i, 3] * 128), 4),
                "keypoints": np.round(kp[i] * 128, 4).tolist(),
                "raw_regressors": np.round(o["regressors"][0, i], 5).tolist(),
            })
        # landmark crop from the top detection, in frame pixels
        t = dets[0]
        sc = S / 128.0
        bx0, by0 = t["xmin"] * sc - left, t["ymin"] * sc - top
        bx1, by1 = t["xmax"] * sc - left, t["ymax"] * sc - top
        cx, cy = (bx0 + bx1) / 2, (by0 + by1) / 2
        side = 1.5 * max(bx1 - bx0, by1 - by0)
        x0, y0, sp = int(round(cx - side / 2)), int(round(cy - side / 2)), int(round(side))
        crop = img.crop((x0, y0, x0 + sp, y0 + sp)).resize((192, 192), Image.BILINEAR)
        lm_png = f"{name}_lm192.png"
        crop.save(os.path.join(a.out, lm_png), optimize=True)
        xl = (np.asarray(Image.open(os.path.join(a.out, lm_png)), np.float32) / 255.0)[None]
        ol = run(lm, xl)
        pts = ol["conv2d_21"].reshape(468, 3)
        flag = float(ol["conv2d_31"].reshape(-1)[0])
        src = os.path.join(a.media, rel)
        rec = {
            "source": {"clip": rel, "frame": frame, "width": W, "height": H,
                       "clip_sha256": hashlib.sha256(open(src, "rb").read()).hexdigest(),
                       "licence": "MoChaBench (Apache-2.0), see media/talking/LICENSE.MoChaBench"},
            "runtime": "ai-edge-litert (TFLite, default CPU kernels/XNNPACK), mediapipe 0.10.21 .tflite files",
            "detector": {
                "input_png": det_png, "input_norm": "png/127.5 - 1",
                "letterbox": {"square_side": S, "left": left, "top": top, "resize": "PIL BILINEAR to 128x128"},
                "raw_max_logit": round(float(o["classificators"].max()), 5),
                "raw_argmax_anchor": int(o["classificators"].reshape(-1).argmax()),
                "num_above_threshold": int(len(keep)),
                "detections": dets,
                "note": "box/keypoints in 128x128 input px; keypoints: right eye, left eye, nose tip, mouth "
                        "centre, right ear tragion, left ear tragion (subject's right/left); top 3 by score, no NMS",
            },
            "landmarks": {
                "input_png": lm_png, "input_norm": "png/255",
                "crop_in_frame_px": {"x0": x0, "y0": y0, "side": sp, "rotation": 0},
                "face_flag_logit": round(flag, 5),
                "face_flag_score": round(float(1 / (1 + np.exp(-flag))), 6),
                "points_units": "192x192 input px, 468 x (x, y, z)",
                "points": np.round(pts, 3).tolist(),
                "lips_inner_ring": LIPS_INNER,
                "lips_outer_ring": LIPS_OUTER,
                "mouth_opening_px": round(float(np.linalg.norm(pts[13, :2] - pts[14, :2])), 3),
                "mouth_width_px": round(float(np.linalg.norm(pts[78, :2] - pts[308, :2])), 3),
            },
        }
        with open(os.path.join(a.out, f"{name}.json"), "w") as f:
            json.dump(rec, f, separators=(",", ":"))
            f.write("\n")
        print(f"{name}: {W}x{H} frame {frame}; {len(keep)} anchors >= 0.5, top score {t['score']:.4f} "
              f"box(128px) x {t['xmin']:.1f}-{t['xmax']:.1f} y {t['ymin']:.1f}-{t['ymax']:.1f}; "
              f"crop {x0},{y0} side {sp}; face flag {flag:.3f}; mouth open {rec['landmarks']['mouth_opening_px']} px")


if __name__ == "__main__":
    sys.exit(main())
