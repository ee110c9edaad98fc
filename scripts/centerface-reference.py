#!/usr/bin/env python3
"""Writes the CenterFace parity oracle: onnxruntime's outputs on a committed frame.

Development tool only (facejnd never runs Python or onnxruntime): it needs `onnxruntime`, `onnx`, `numpy` and
`pillow`, e.g. `pip install --target /tmp/py onnx onnxruntime numpy pillow` then `PYTHONPATH=/tmp/py`.

Usage: scripts/centerface-reference.py MODEL.onnx IMAGE.png OUT.json

The image is fed at its own size (both sides must be multiples of 32), RGB, values 0-255, no normalisation,
as CenterFace was trained. The JSON holds every output channel at each heatmap cell above 0.02 and on a sparse
grid, and the boxes decoded with threshold 0.5 and non-maximum suppression at IoU 0.3.
"""
import json
import sys

import numpy as np
import onnx
import onnxruntime
from PIL import Image

model_path, image_path, out_path = sys.argv[1:4]
image = np.asarray(Image.open(image_path).convert("RGB"), dtype=np.float32)
h, w = image.shape[:2]
assert h % 32 == 0 and w % 32 == 0, "feed a frame whose sides are multiples of 32"

model = onnx.load(model_path)
names = ["537", "538", "539", "540"]
# The file fixes a 10x3x32x32 input; restate the graph's input and output shapes for this frame.
shapes = {"input.1": [1, 3, h, w]} | {n: [1, c, h // 4, w // 4] for n, c in zip(names, [1, 2, 2, 10])}
for value in list(model.graph.input) + list(model.graph.output):
    if value.name in shapes:
        for dim, size in zip(value.type.tensor_type.shape.dim, shapes[value.name]):
            dim.dim_value = size
onnxruntime.set_default_logger_severity(3)
session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
heat, scale, offset, marks = session.run(names, {"input.1": image.transpose(2, 0, 1)[None]})
maps = np.concatenate([heat[0], scale[0], offset[0], marks[0]], axis=0)  # 15 x h/4 x w/4

cells = {(int(y), int(x)) for y, x in zip(*np.where(heat[0, 0] > 0.02))}
cells |= {(y, x) for y in range(0, h // 4, 9) for x in range(0, w // 4, 11)}
samples = [[y, x] + [float(v) for v in maps[:, y, x]] for y, x in sorted(cells)]

boxes = []
for y, x in zip(*np.where(heat[0, 0] > 0.5)):
    sh, sw = np.exp(scale[0, 0, y, x]) * 4, np.exp(scale[0, 1, y, x]) * 4
    cy, cx = (y + offset[0, 0, y, x] + 0.5) * 4, (x + offset[0, 1, y, x] + 0.5) * 4
    x1, y1 = max(0.0, cx - sw / 2), max(0.0, cy - sh / 2)
    x2, y2 = min(x1 + sw, w), min(y1 + sh, h)
    lms = [[float(marks[0, 2 * j + 1, y, x] * sw + x1), float(marks[0, 2 * j, y, x] * sh + y1)] for j in range(5)]
    boxes.append((float(heat[0, 0, y, x]), [float(x1), float(y1), float(x2), float(y2)], lms))
boxes.sort(key=lambda b: -b[0])
kept = []
for b in boxes:
    def iou(a, c):
        ix = max(0.0, min(a[2], c[2]) - max(a[0], c[0]))
        iy = max(0.0, min(a[3], c[3]) - max(a[1], c[1]))
        inter = ix * iy
        return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (c[2] - c[0]) * (c[3] - c[1]) - inter)
    if all(iou(b[1], k[1]) <= 0.3 for k in kept):
        kept.append(b)

json.dump({
    "image": image_path.split("/")[-1], "width": w, "height": h, "producer": "onnxruntime " + onnxruntime.__version__,
    "channels": ["heatmap", "scale_h", "scale_w", "offset_y", "offset_x"] + [f"landmark{j}_{a}" for j in range(5) for a in "yx"],
    "samples": samples,
    "faces": [{"score": s, "box": b, "landmarks": l} for s, b, l in kept],
}, open(out_path, "w"), separators=(",", ":"))
print(f"{len(samples)} cells, {len(kept)} faces", file=sys.stderr)
