"""What the shrink from a camera face to the model input costs: sampled, averaged, or through the source size.

A face in a photo or a webcam frame is usually larger than the model input (64 px for the default), and
its training faces (FER+, 48 px) were enlarged to it.  Three ways to bring a live face down, side by side
on the same frames and detections:

- ``linear``: a bilinear shrink (how edgeaffect cut faces before ``preprocess.resize_to`` averaged);
- ``area``:   an averaging shrink straight to the input size;
- ``source``: averaged down to the training faces' own side first (``--source-side``, FER+ 48), then
  enlarged with the model's interpolation as they were: no finer detail than the model ever saw.

``run`` uses ``area`` (``preprocess.resize_to``), chosen with this script on 2026-12-04: ``source`` did not
beat it (UAR 0.1-2.3 pt lower, intervals across zero).

FER+ **valid** faces (choose nothing on test) are pasted into 640x480 frames at 96-400 px, and camera
noise (Gaussian, sigma grey levels) and JPEG compression are applied to the whole frame, as a webcam
or a web photo has them; YuNet finds each face once; every mode cuts the same box with the model's
framing.  Top-1 and UAR over all faces (misses count as wrong), with paired bootstrap 95 % intervals of
each mode against ``linear``.  A proxy, stated as such: a pasted face is an enlarged 48 px face, so it
lacks the real fine texture (hair, pores) a photo has; the noise stands in for part of it.

    python benchmarks/bench_shrink.py RUN --data $EDGEAFFECT_DATA/ferplus --n 3191

RUN is a run folder of a classifier trained without FER+ valid (the default's v4 was refit on it).
"""
from __future__ import annotations

import argparse

import cv2
import numpy as np
import torch

from edgeaffect.data import open_dataset
from edgeaffect.detectors import create_detector, largest
from edgeaffect.facecrop import cut, square
from edgeaffect.metrics import uar
from edgeaffect.preprocess import interpolation, prepare_batch
from edgeaffect.train.checkpoint import load_model
from edgeaffect.train.framing_search import paste_faces

CONDITIONS = ((0.0, 100), (4.0, 85), (8.0, 70))  # (noise sigma, JPEG quality): clean, webcam, poor webcam


def camera(frames: list[np.ndarray], sigma: float, quality: int, seed: int) -> list[np.ndarray]:
    rng, out = np.random.default_rng(seed), []
    for f in frames:
        if sigma:
            f = np.clip(f.astype(np.float32) + rng.normal(0.0, sigma, f.shape), 0, 255).astype(np.uint8)
        if quality < 100:
            f = cv2.imdecode(cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_COLOR)
        out.append(f)
    return out


def crops(frame: np.ndarray, face, meta, mode: str, source_side: int) -> np.ndarray | None:
    if mode == "linear":  # the square at its own size, then one bilinear resize
        side = square(face.box, meta.framing)[2]
        pixels = cut(frame, face, meta.framing, side)
        return None if pixels is None else cv2.resize(pixels, tuple(meta.input_size[::-1]), interpolation=cv2.INTER_LINEAR)
    pixels = cut(frame, face, meta.framing, (source_side, source_side) if mode == "source" else meta.input_size,
                 interpolation_name=meta.interpolation)
    if mode == "source" and pixels is not None:
        pixels = cv2.resize(pixels, tuple(meta.input_size[::-1]), interpolation=interpolation(meta.interpolation))
    return pixels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="run folder of an expression classifier")
    ap.add_argument("--data", required=True)
    ap.add_argument("--n", type=int, default=1500)
    ap.add_argument("--sizes", default="96,400", help="pasted face side range in px")
    ap.add_argument("--source-side", type=int, default=48, help="side of the training faces (FER+: 48)")
    args = ap.parse_args()
    model, meta = load_model(args.run)
    source_side = args.source_side
    model.eval().float()
    records = [r for r in open_dataset(args.data).split("valid") if r.label is not None]
    pick = np.random.default_rng(0).permutation(len(records))[:args.n]
    lo, hi = (int(v) for v in args.sizes.split(","))
    pasted = paste_faces([records[i] for i in sorted(pick)], sizes=(lo, hi), seed=0)
    y, det, boot = pasted.labels, create_detector("yunet"), np.random.default_rng(5)
    draws = [boot.integers(0, len(y), len(y)) for _ in range(1000)]
    print(f"{len(y)} FER+ valid faces at {lo}-{hi} px; {args.run}; source side {source_side}")
    for sigma, quality in CONDITIONS:
        frames = camera(pasted.frames, sigma, quality, seed=1)
        faces = [largest(det.detect(f)) for f in frames]
        preds = {}
        for mode in ("linear", "area", "source"):
            pred, batch, where = np.full(len(y), -1), [], []
            for i, (frame, face) in enumerate(zip(frames, faces)):
                pixels = crops(frame, face, meta, mode, source_side) if face is not None else None
                if pixels is not None:
                    batch.append(pixels)
                    where.append(i)
            with torch.no_grad():
                x = torch.from_numpy(prepare_batch(batch, meta))
                out = [model(x[j:j + 256]) for j in range(0, len(x), 256)]
                pred[where] = torch.cat([o[0] if isinstance(o, (tuple, list)) else o for o in out]).argmax(1).numpy()
            preds[mode] = pred
        print(f"noise sigma {sigma:g}, JPEG {quality}: faces found {len(where)}/{len(y)}")
        for mode, pred in preds.items():
            line = f"  {mode:<7} top-1 {np.mean(pred == y):.4f}  UAR {uar(y, pred):.4f}"
            if mode != "linear":
                base = preds["linear"]
                d1 = [np.mean(pred[i] == y[i]) - np.mean(base[i] == y[i]) for i in draws]
                d2 = [uar(y[i], pred[i]) - uar(y[i], base[i]) for i in draws]
                line += (f"   vs linear: top-1 {np.mean(pred == y) - np.mean(base == y):+.4f} "
                         f"[{np.percentile(d1, 2.5):+.4f}, {np.percentile(d1, 97.5):+.4f}], "
                         f"UAR {uar(y, pred) - uar(y, base):+.4f} [{np.percentile(d2, 2.5):+.4f}, {np.percentile(d2, 97.5):+.4f}]")
            print(line, flush=True)


if __name__ == "__main__":
    main()
