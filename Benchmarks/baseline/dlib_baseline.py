#!/usr/bin/env python3
"""Times the real dlib (PyPI dlib-bin, CPU) on the same work as Benchmarks/ModelBenchmarks, as the baseline for
facejnd's native models. A benchmark aid only: never a run-time or test dependency.

Usage: pip install dlib-bin pillow numpy; Benchmarks/baseline/dlib_baseline.py [models dir]"""
import os, sys, time
import dlib, numpy as np
from PIL import Image

models = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("FACEJND_MODELS", os.path.expanduser("~/.cache/facejnd/models"))
here = os.path.dirname(os.path.abspath(__file__))
frame = os.path.join(here, "../../Tests/FaceAnalysisTests/Fixtures/openmpf_group_video_01_01.png")
det = dlib.cnn_face_detection_model_v1(os.path.join(models, "mmod_human_face_detector.dat"))
sp = dlib.shape_predictor(os.path.join(models, "shape_predictor_5_face_landmarks.dat"))
rec = dlib.face_recognition_model_v1(os.path.join(models, "dlib_face_recognition_resnet_model_v1.dat"))
vga = np.asarray(Image.open(frame).convert("RGB"))
hd = np.asarray(Image.fromarray(vga).resize((1280, 720), Image.NEAREST))

def median_ms(f, n):
    f()
    t = []
    for _ in range(n):
        s = time.perf_counter(); f(); t.append((time.perf_counter() - s) * 1000)
    return sorted(t)[len(t) // 2]

print(f"dlib {dlib.__version__}, CUDA {dlib.DLIB_USE_CUDA}")
for name, img in (("640x480", vga), ("1280x720", hd)):
    for up in (0, 1):
        print(f"dlib detect {name} upsample {up}: {median_ms(lambda: det(img, up), 5 if up else 10):.0f} ms")
box = det(vga, 0)[0].rect
shape = sp(vga, box)
chip = dlib.get_face_chip(vga, shape)
print(f"dlib landmarks: {median_ms(lambda: sp(vga, box), 50) * 1000:.0f} us")
print(f"dlib embed 150x150 chip: {median_ms(lambda: rec.compute_face_descriptor(chip), 30):.1f} ms")
