"""CPU cost of each stage of the run loop, each stage alone, on the frames of one video.

``bench_runtime.py --modes`` times the stages inside the loop with the wall clock, which on a
core shared with other work counts the other work too.  This script runs each stage by itself
over the first ``--frames`` frames and reads the thread's CPU clock, so the table adds up to
what one frame costs one core: decode, YuNet on the whole frame and on the region tiles of the
frame's faces (both engines: ``cv2.FaceDetectorYN`` and ONNX Runtime), the face cut, the
preprocessing, the backend call with all faces in one batch, and the result's JSONL line.

Usage:  taskset -c 1 python benchmarks/bench_stages.py VIDEO [--bundle B] [--frames 100]
(one thread everywhere, as ``bench_runtime.py --cores 1``).
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from edgeaffect.assets import resolve  # noqa: E402
from edgeaffect.bundle import load_bundle  # noqa: E402
from edgeaffect.detectors import create_detector  # noqa: E402
from edgeaffect.preprocess import prepare_batch  # noqa: E402
from edgeaffect.runtime.crop import CropOptions  # noqa: E402
from edgeaffect.runtime.loader import open_model  # noqa: E402
from edgeaffect.runtime.predictor import cut_faces  # noqa: E402
from edgeaffect.runtime.region import RegionOptions, cut_region, region_of  # noqa: E402
from edgeaffect.runtime.results import FaceResult, FrameResult  # noqa: E402


def cpu_ms(fn, items, repeat: int = 3) -> float:
    """Mean thread-CPU milliseconds of ``fn(item)`` over the items (best of ``repeat`` passes)."""
    for item in items[:3]:
        fn(item)
    best = float("inf")
    for _ in range(repeat):
        t = time.thread_time()
        for item in items:
            fn(item)
        best = min(best, (time.thread_time() - t) * 1e3 / len(items))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("video", type=Path)
    ap.add_argument("--bundle", type=Path, default=None, help="default: the shipped model")
    ap.add_argument("--frames", type=int, default=100)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    bundle = load_bundle(args.bundle or resolve("default", "bundle"))
    backend = open_model(bundle, threads=1).backend
    meta, crop, side = bundle.meta, CropOptions().for_model(bundle.meta), RegionOptions().side

    cap = cv2.VideoCapture(str(args.video))
    t, frames = time.thread_time(), []
    while len(frames) < args.frames and (got := cap.read())[0]:
        frames.append(got[1])
    decode = (time.thread_time() - t) * 1e3 / len(frames)
    reference = create_detector("yunet", engine="opencv")
    faces = [reference.detect(f) for f in frames]
    n_faces = sum(map(len, faces)) / len(frames)
    tiles = [np.hstack([cut_region(f, *region_of(b, RegionOptions().margin), side) for b in fs])
             for f, fs in zip(frames, faces) if fs]
    crops = [cut_faces(f, fs, crop)[1] for f, fs in zip(frames, faces) if fs]
    batches = [prepare_batch(c, meta) for c in crops]
    result = FrameResult(0, 0.0, tuple(FaceResult(track_id=i, box=b.box, detected=True, detector_score=b.score,
                                                  label=meta.labels[0], raw_label=meta.labels[0],
                                                  scores=tuple(np.full(len(meta.labels), 0.125).tolist()))
                                       for i, b in enumerate(faces[0])), {"detect": 1.0, "infer": 1.0})
    rows = [("decode (first frames, file opening included)", decode)]
    for engine in ("opencv", "onnxruntime"):
        full, region = create_detector("yunet", engine=engine), create_detector("yunet", engine=engine)
        rows.append((f"YuNet {engine}: whole frame (320 px side)", cpu_ms(full.detect, frames)))
        rows.append((f"YuNet {engine}: region tiles ({side} px per face)", cpu_ms(region.detect, tiles)))
    rows += [("region tiles cut", cpu_ms(lambda f: [cut_region(f[0], *region_of(b, 0.5), side) for b in f[1]],
                                          list(zip(frames, faces)))),
             ("face cut", cpu_ms(lambda f: cut_faces(f[0], f[1], crop), list(zip(frames, faces)))),
             ("preprocess", cpu_ms(lambda c: prepare_batch(c, meta), crops)),
             (f"backend, one batched call ({meta.input_size[0]} px input)", cpu_ms(backend.infer, batches)),
             ("JSONL line of the frame's result", cpu_ms(lambda r: r.to_json(), [result] * 200))]
    print(f"{args.video.name}: {len(frames)} frames, {n_faces:.2f} faces per frame, model {meta.model} "
          f"{meta.input_size[0]}x{meta.input_size[1]} on {type(backend).__name__}; ms of one core's CPU per frame")
    for name, ms in rows:
        print(f"  {name:<52}{ms:8.3f}")


if __name__ == "__main__":
    main()
