"""The face framing an expression model sees best, measured through the real detector.

Dataset faces (FER+ ships 48x48 crops cut brow to chin) are pasted, feathered, into camera-like
640x480 frames at random places, sizes (48-240 px by default), backgrounds and brightness; the
runtime's face detector (YuNet, on the same downscaled copy ``run`` uses) finds each face once,
and every candidate framing (``scale`` of the box, centre ``shift``) is cut from the same frame by
the one cut (``facecrop.cut``, what ``run`` uses) and classified by the model.  The framing with
the highest UAR (ties: top-1) is what ``edgeaffect tune`` writes into ModelMeta, so ``run`` cuts
live faces that way.

A proxy for real photos, stated as such: a pasted face has a synthetic background where a real
one has hair, ears and a neck, so a loose framing is penalised somewhat more here than on a photo.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import cv2
import numpy as np

from edgeaffect.meta import Framing, ModelMeta

log = logging.getLogger(__name__)

FRAME_H, FRAME_W = 480, 640


@dataclass(frozen=True)
class FramingRow:
    """One candidate framing's scores on the pasted faces (misses count as wrong)."""

    scale: float
    shift_y: float
    accuracy: float
    uar: float
    found: int
    total: int


@dataclass(frozen=True)
class PastedFaces:
    frames: list[np.ndarray]
    labels: np.ndarray
    sizes: np.ndarray  # pasted face side in px


def paste_faces(records: Sequence[Any], *, sizes: tuple[int, int] = (48, 240), seed: int = 0) -> PastedFaces:
    """Each record's face upscaled to a random side in ``sizes`` and pasted into its own frame."""
    from edgeaffect.data.synthetic import background, paste_face

    rng = np.random.default_rng(seed)
    frames, labels, px = [], [], []
    for rec in records:
        side = int(rng.integers(sizes[0], sizes[1] + 1))
        face = rec.read_image()
        face = cv2.cvtColor(face, cv2.COLOR_GRAY2BGR) if face.ndim == 2 else face
        face = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC if side > face.shape[0] else cv2.INTER_AREA)
        frame = background(FRAME_H, FRAME_W, rng)
        x = int(rng.integers(10, FRAME_W - side - 10))
        y = int(rng.integers(10, FRAME_H - side - 10))
        paste_face(frame, face, x, y, feather=0.05)
        gain = float(rng.uniform(0.7, 1.2))  # room light, not studio light
        frames.append(np.clip(frame.astype(np.float32) * gain, 0, 255).astype(np.uint8))
        labels.append(int(rec.label))
        px.append(side)
    return PastedFaces(frames, np.asarray(labels), np.asarray(px))


def framing_for(scale: float, shift_y: float, base: Framing | None) -> Framing:
    detector = base.detector if base is not None else "yunet"
    return Framing(scale=round(float(scale), 4), shift_x=0.0, shift_y=round(float(shift_y), 4), aligned=False,
                   detector=detector)


def search_framing(pasted: PastedFaces, meta: ModelMeta, classify: Callable[[np.ndarray], np.ndarray], *,
                   scales: Sequence[float], shifts_y: Sequence[float] = (0.0,),
                   detector: str = "yunet") -> list[FramingRow]:
    """Score every (scale, shift_y) on the pasted faces; ``classify`` maps an NCHW batch to logits."""
    from edgeaffect.detectors import create_detector, largest
    from edgeaffect.facecrop import cut
    from edgeaffect.metrics import uar as balanced
    from edgeaffect.preprocess import prepare_batch

    det = create_detector(detector)
    faces = [largest(det.detect(f)) for f in pasted.frames]
    n = len(pasted.frames)
    log.info("framing search: the detector found %d of %d pasted faces", sum(f is not None for f in faces), n)
    rows = []
    for scale in scales:
        for shift in shifts_y:
            framing = framing_for(scale, shift, meta.framing)
            pred = np.full(n, -1)
            batch, where = [], []
            for i, (frame, face) in enumerate(zip(pasted.frames, faces)):
                pixels = (cut(frame, face, framing, meta.input_size, interpolation_name=meta.interpolation)
                          if face is not None else None)  # the one cut training caches and the runtime use
                if pixels is not None and pixels.size:
                    batch.append(pixels)
                    where.append(i)
            if batch:
                pred[where] = classify(prepare_batch(batch, meta)).argmax(1)
            hits = pred == pasted.labels
            rows.append(FramingRow(scale=float(scale), shift_y=float(shift), accuracy=float(hits.mean()),
                                   uar=float(balanced(pasted.labels, pred)), found=len(where), total=n))
    return rows


def best_framing(rows: Sequence[FramingRow]) -> FramingRow:
    """Highest UAR; ties (within 0.002) go to higher top-1, then to the scale nearest 1 (the box itself)."""
    top = max(r.uar for r in rows)
    near = [r for r in rows if r.uar >= top - 0.002]
    return max(near, key=lambda r: (round(r.accuracy, 3), -abs(r.scale - 1.0), -abs(r.shift_y)))
