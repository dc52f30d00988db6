"""How tightly a dataset's faces are framed, as seen by a face detector: the crop a model trained on them expects.

Each image is upscaled (the detector does not find 48 px faces), padded so a face cut by the
image border can still be boxed, and run through the detector; the image frame is then expressed
relative to the detector's box: ``scale`` = frame side / box side (max of width and height), and
``shift_x``/``shift_y`` = frame centre minus box centre, in box sides (positive = right / down).
The medians are the framing recorded in ModelMeta (``edgeaffect.meta.Framing``); the runtime cuts
``scale x box`` squares at ``box centre + shift``.  Prints the medians and quartiles.

    python benchmarks/measure_framing.py $EDGEAFFECT_DATA/ferplus --n 600
"""
from __future__ import annotations

import argparse
import os

import cv2
import numpy as np

from edgeaffect.data import open_dataset
from edgeaffect.detectors import create_detector


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data")
    ap.add_argument("--split", default="train")
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--upscale", type=int, default=4)
    ap.add_argument("--detector", default="yunet")
    ap.add_argument("--model", default=os.environ.get("EDGEAFFECT_YUNET"), help="YuNet ONNX file (default: the packaged one)")
    args = ap.parse_args()
    index = open_dataset(args.data)
    records = index.split(args.split)
    pick = np.random.default_rng(0).choice(len(records), size=min(args.n, len(records)), replace=False)
    det = create_detector(args.detector, **({"model": args.model} if args.model else {}))
    rows = []
    for i in pick:
        img = records[int(i)].read_image()
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR) if img.ndim == 2 else img
        side = img.shape[0] * args.upscale
        big = cv2.resize(img, (side, side), interpolation=cv2.INTER_CUBIC)
        pad = side // 2
        big = cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        faces = det.detect(big)
        if not faces:
            continue
        f = max(faces, key=lambda face: face.score)
        box = max(f.w, f.h)
        frame_c = pad + side / 2
        rows.append((side / box, (frame_c - (f.x + f.w / 2)) / box, (frame_c - (f.y + f.h / 2)) / box))
    a = np.array(rows)
    print(f"{len(rows)}/{len(pick)} faces found by {args.detector}")
    for k, name in enumerate(("scale", "shift_x", "shift_y")):
        q1, med, q3 = np.percentile(a[:, k], [25, 50, 75])
        print(f"{name:8s} median {med:+.3f}  (quartiles {q1:+.3f} .. {q3:+.3f})")


if __name__ == "__main__":
    main()
