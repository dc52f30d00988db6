"""Verify PhysNet exports (ONNX fp32/fp16/int8, TensorRT-route ONNX) against the float model on face clips.

No face-video dataset ships with the project's test data, so the clips are
built from real FER+ faces (train faces calibrate, test faces verify): each
128-frame clip is one face whose brightness follows a real Empatica E4 BVP
segment (as skin colour follows the pulse), with small frame-to-frame shifts.
Prints the Pearson correlation of each export's EDA trace with the float one.

    EDGEAFFECT_DATA=/path/to/data python benchmarks/export_physnet_verify.py RUN_OR_CHECKPOINT [--clips 24]
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

from edgeaffect.calibration.sources import from_arrays
from edgeaffect.compress.export import export_model
from edgeaffect.data import open_dataset
from edgeaffect.train.checkpoint import load_model


def e4_bvp(root: Path) -> np.ndarray:
    rows = (root / "empatica_e4_sample" / "BVP.csv").read_text().split()
    values = np.array([float(v) for v in rows[2:]], dtype=np.float32)
    return (values - values.mean()) / (values.std() + 1e-6)


def clips(records, bvp: np.ndarray, frames: int, n: int, seed: int) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in rng.choice(len(records), n, replace=False):
        face = cv2.cvtColor(cv2.resize(records[i].read_image(), (80, 80)), cv2.COLOR_GRAY2BGR).astype(np.float32)
        start = int(rng.integers(0, len(bvp) - frames * 2))
        pulse = bvp[start:start + frames * 2:2]  # 64 Hz BVP -> 32 Hz, close to the 30 fps clip rate
        clip = []
        for t in range(frames):
            dx, dy = rng.integers(0, 8, 2)
            frame = face[dy:dy + 72, dx:dx + 72] * (1.0 + 0.03 * pulse[t])
            clip.append(np.clip(frame, 0, 255).astype(np.uint8))
        out.append(clip)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--clips", type=int, default=24)
    ap.add_argument("--targets", default="laptop-x86:onnx:auto,jetson-orin-nano:tensorrt:int8,jetson-orin-nano:tensorrt:fp16")
    args = ap.parse_args()
    root = Path(os.environ["EDGEAFFECT_DATA"])
    model, meta = load_model(args.run)
    frames = meta.temporal.frames
    index = open_dataset(root / "ferplus")
    bvp = e4_bvp(root)
    calib = from_arrays(clips(index.split("train"), bvp, frames, 16, seed=0), meta, source="ferplus-train+e4-bvp clips")
    verify = from_arrays(clips(index.split("test"), bvp, frames, args.clips, seed=1), meta, source="ferplus-test+e4-bvp clips")
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.targets.split(","):
            target, fmt, precision = spec.split(":")
            out = export_model(model, meta, target=target, out=Path(tmp) / spec.replace(":", "-"), format=fmt,
                               precision=precision, calibration=calib, verify_data=verify, accept_drop=True)
            for cand in json.loads((out / "verification.json").read_text())["candidates"]:
                head = cand["heads"][0]
                print(f"{target:18} {fmt:9} {cand['precision']:5} clips={cand['samples']:3} "
                      f"pearson={head['pearson']:.4f} max|d|={head['max_abs_diff']:.4g} "
                      f"latency_ms={cand['latency_ms']} passed={cand['passed']}")


if __name__ == "__main__":
    main()
