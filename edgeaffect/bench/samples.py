"""Labelled bench samples: faces (or clips) read once, at the model's input size, with their targets.

Reading and decoding is the slow, model-independent part, so a bench run reads
each face once per input size and colour space and then runs every resolution
x interpolation cell through the model from these pixels.  Faces stay in the
colour space they were decoded in (gray or BGR); ``prepare_image`` converts
them for the model exactly as the runtime does.  Torch-free.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from edgeaffect.data.base import ClipRecord, DatasetIndex, Record
from edgeaffect.data.classes import match_classes
from edgeaffect.errors import DataError
from edgeaffect.meta import ModelMeta
from edgeaffect.preprocess import resize_to

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Samples:
    """Aligned arrays over the kept samples; a target a dataset lacks is None."""

    faces: tuple  # image: uint8 HxW[x3] at input size; clip: tuple of such frames
    labels: np.ndarray | None  # int indices into the MODEL's labels
    valence: np.ndarray | None
    arousal: np.ndarray | None
    signal: np.ndarray | None  # (N, T) per-frame target trace for signal models
    groups: tuple[str, ...] | None  # subgroup of each sample (``group_by`` attribute)
    skipped: int  # unreadable files (and classes a class map left out)
    classes: tuple[int, ...] | None = None  # model-label indices of a set with fewer classes (two scorings)

    def __len__(self) -> int:
        return len(self.faces)


def load_samples(index: DatasetIndex, split: str, meta: ModelMeta, *, limit: int | None = None,
                 group_by: str | None = None, classes: tuple[int, ...] | None = None) -> Samples:
    """Read up to ``limit`` records of ``split`` for a model described by ``meta``.

    Classes are matched to the model's labels by name (``edgeaffect.data.classes``); a class the model
    lacks is an error naming it (``data.classes.model_view`` with a class map says what it is).
    """
    records: Sequence = index.split(split)
    if limit:
        records = _spread(records, limit)
    to_model = _label_map(index.classes, meta)
    faces, labels, val, aro, sig, groups, skipped = [], [], [], [], [], [], 0
    for rec in records:
        if not isinstance(rec, (Record, ClipRecord)):
            raise DataError(f"{index.root} holds {type(rec).__name__} records, which bench cannot score",
                            "bench an image or face-video dataset")
        try:
            if isinstance(rec, ClipRecord):
                faces.append(tuple(resize_to(f, meta.input_size, meta.interpolation) for f in rec.read_clip()))
                sig.append(np.asarray(rec.eda, dtype=np.float32))
            else:
                label = None if rec.label is None else to_model.get(rec.label)
                if rec.label is not None and label is None:
                    skipped += 1  # a class this model was not trained on
                    continue
                faces.append(resize_to(rec.read_image(), meta.input_size, meta.interpolation))
                labels.append(-1 if label is None else label)
                val.append(np.nan if rec.valence is None else rec.valence)
                aro.append(np.nan if rec.arousal is None else rec.arousal)
        except DataError as exc:  # an unreadable file: counted, the bench goes on
            log.warning("skipped %s: %s", rec.key, exc.what)
            skipped += 1
            continue
        groups.append(str(getattr(rec, group_by, None)) if group_by else "")
    if not faces:
        raise DataError(f"no usable samples in split '{split}' of {index.root} ({skipped} skipped)",
                        "check that the dataset's classes match the model's labels: " + ", ".join(meta.labels))
    lab = np.asarray(labels, dtype=np.int64) if labels and min(labels) >= 0 else None
    return Samples(
        faces=tuple(faces), labels=lab,
        valence=_finite(val), arousal=_finite(aro),
        signal=np.stack(sig) if sig else None,
        groups=tuple(groups) if group_by else None, skipped=skipped, classes=classes)


def _spread(records: Sequence, limit: int) -> Sequence:
    """``limit`` records spread evenly over the split: datasets are often stored sorted by class."""
    if limit >= len(records):
        return records
    idx = np.linspace(0, len(records) - 1, limit).round().astype(int)
    return [records[i] for i in idx]


def _label_map(classes: Sequence[str], meta: ModelMeta) -> dict[int, int]:
    """Dataset class index -> model label index, by name through the one alias table."""
    if not meta.labels or not classes:
        return {}
    match = match_classes(classes, meta.labels, model=f"model '{meta.model}'")
    return {i: m for i, m in enumerate(match.to_model) if m is not None}


def _finite(values: list) -> np.ndarray | None:
    arr = np.asarray(values, dtype=np.float32)
    return arr if arr.size and np.isfinite(arr).all() else None
