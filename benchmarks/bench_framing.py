"""What face framing costs an expression model at run time: FER+ test faces played through ``edgeaffect run``.

Each of N FER+ test faces (48x48, labelled by the crowd's majority) is upscaled to ``--face`` px and
pasted, feathered, into a 640x480 camera-like frame at a random place; the frames go through the
real runtime loop (YuNet, crop, the bundle's backend) once per crop setting, and top-1 against the
label is printed per setting: the framing the model records in ModelMeta (the default) and fixed
``--margin`` values.  FER+ faces are cropped brows to chin, so a loose crop shows the model context
it never saw in training; this measures how much that costs.  A proxy for real photos: the pasted
face has no real surroundings, so the loose crops see the synthetic background instead.

    python benchmarks/bench_framing.py default --data $EDGEAFFECT_DATA/ferplus --n 400
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

from edgeaffect.data import open_dataset
from edgeaffect.data.synthetic import background, paste_face
from edgeaffect.runtime.crop import CropOptions
from edgeaffect.runtime.pipeline import RunConfig, run


def write_frames(records, folder: Path, face_px: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    labels = []
    for i, rec in enumerate(records):
        face = cv2.resize(rec.read_image(), (face_px, face_px), interpolation=cv2.INTER_CUBIC)
        frame = background(480, 640, rng)
        x, y = int(rng.integers(20, 640 - face_px - 20)), int(rng.integers(20, 480 - face_px - 20))
        paste_face(frame, face, x, y, feather=0.05)
        cv2.imwrite(str(folder / f"{i:05d}.png"), frame)
        labels.append(int(rec.label))
    return labels


def top1(bundle: str, folder: Path, labels: list[int], crop: CropOptions, out: Path, yunet: str | None) -> tuple[float, int]:
    run(RunConfig(bundle=Path(bundle), source=f"folder:{folder}", out=out, headless=True, detector="yunet",
                  detector_options={"model": yunet} if yunet else {}, crop=crop, max_faces=1))
    names, hits, found = None, 0, 0
    for line in out.read_text().splitlines():
        r = json.loads(line)
        if not r["faces"]:
            continue
        if names is None:
            from edgeaffect.bundle import load_bundle

            names = list(load_bundle(bundle).meta.labels)
        found += 1
        hits += names.index(r["faces"][0]["raw_label"]) == labels[r["index"]]
    return hits / max(len(labels), 1), found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle", help="bundle folder, or 'default'")
    ap.add_argument("--data", required=True)
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--face", type=int, default=160, help="pasted face side in px")
    ap.add_argument("--margins", default="0.15,0.25", help="fixed margins to compare with the model's framing")
    ap.add_argument("--yunet", default=os.environ.get("EDGEAFFECT_YUNET"))
    args = ap.parse_args()
    test = open_dataset(args.data).split("test")
    pick = np.random.default_rng(0).choice(len(test), size=min(args.n, len(test)), replace=False)
    work = Path(tempfile.mkdtemp(prefix="bench-framing-"))
    labels = write_frames([test[int(i)] for i in sorted(pick)], work / "frames", args.face, seed=1)
    settings = [("model framing (ModelMeta)", CropOptions())]
    settings += [(f"margin {m}", CropOptions(margin=float(m))) for m in args.margins.split(",") if m]
    print(f"{len(labels)} FER+ test faces at {args.face}px in 640x480 frames; bundle {args.bundle}")
    for name, crop in settings:
        acc, found = top1(args.bundle, work / "frames", labels, crop, work / "out.jsonl", args.yunet)
        print(f"{name:<28} top-1 {acc:.3f}  (faces found in {found}/{len(labels)} frames; misses count as wrong)")


if __name__ == "__main__":
    main()
