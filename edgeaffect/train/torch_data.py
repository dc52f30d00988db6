"""Torch datasets over edgeaffect records, built on THE shared preprocessing.

Images go through ``edgeaffect.preprocess`` exactly as at run time (colour,
resize per ModelMeta, normalise with its mean/std); augmentation, when on,
acts on the uint8 pixels between resize and normalisation, so with it off an
item equals ``prepare_image``.  Clips become CxTxHxW with per-frame EDA (and
BVP) targets; tabular windows become (steps, F).  A record that fails to
decode yields ``None``; :func:`collate` drops it and counts it, so a corrupt
file never ends an epoch.
"""
from __future__ import annotations

import logging
import math
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from edgeaffect.errors import DataError
from edgeaffect.meta import ModelMeta
from edgeaffect.preprocess import _normalise as normalise  # the one normalisation, shared with prepare_image
from edgeaffect.preprocess import prepare_clip, prepare_image, resize_to, to_color

log = logging.getLogger(__name__)
NAN = float("nan")


def _value(v: Any) -> float:
    return NAN if v is None else float(v)


class ImageDataset(Dataset):
    """Face images -> {"x": CxHxW float32, "label", "target", "valence", "arousal"}."""

    def __init__(self, records: Sequence[Any], meta: ModelMeta, *, num_classes: int,
                 augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 degrade: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        self.records, self.meta, self.num_classes, self.augment = records, meta, num_classes, augment
        self.degrade = degrade  # applied to the decoded crop first (the resize study)

    def __len__(self) -> int:
        return len(self.records)

    def pixels(self, image: np.ndarray) -> np.ndarray:
        if self.augment is None:
            return prepare_image(image, self.meta)
        pixels = resize_to(to_color(image, self.meta.color), self.meta.input_size, self.meta.interpolation)
        chw = torch.from_numpy(np.ascontiguousarray(pixels if pixels.ndim == 3 else pixels[:, :, None])).permute(2, 0, 1)
        out = self.augment(chw.contiguous())
        return normalise(out.permute(1, 2, 0).numpy(), self.meta)

    def __getitem__(self, i: int) -> dict[str, Any] | None:
        rec = self.records[i]
        try:
            image = rec.read_image()
            x = self.pixels(self.degrade(image) if self.degrade is not None else image)
        except (DataError, ValueError) as exc:
            log.debug("skipping %s: %s", rec.key, exc)
            return None
        target = rec.target if rec.target is not None else _one_hot(rec.label, self.num_classes)
        return {
            "x": torch.from_numpy(x),
            "label": torch.tensor(-100 if rec.label is None else int(rec.label)),  # -100 = ignored by CE
            "target": torch.as_tensor(np.asarray(target, dtype=np.float32)),
            "valence": torch.tensor(_value(rec.valence), dtype=torch.float32),
            "arousal": torch.tensor(_value(rec.arousal), dtype=torch.float32),
        }


def _one_hot(label: int | None, n: int) -> np.ndarray:
    out = np.zeros(max(n, 1), dtype=np.float32)
    if label is not None and 0 <= label < n:
        out[label] = 1.0
    return out


def _norm_signal(values: np.ndarray, zscore: bool) -> np.ndarray:
    v = np.asarray(values, dtype=np.float32)
    if not zscore:
        return v
    return (v - v.mean()) / max(float(v.std()), 1e-6)


class ClipDataset(Dataset):
    """Face clips -> {"x": CxTxHxW, "signal": (T,) EDA, "bvp": (T,) when the model takes it}.

    ``norm`` is "zscore" (per window), "subject" (each subject's mean/std over its
    windows) or "none".  ``video`` / ``start`` / ``subject`` let the scorer stitch
    windows back into whole-video traces and whole sessions (all of a subject's videos).
    """

    def __init__(self, records: Sequence[Any], meta: ModelMeta, *, norm: str = "zscore") -> None:
        self.records, self.meta, self.norm = records, meta, norm
        videos = sorted({str(r.video) for r in records})
        self.video_id = {v: i for i, v in enumerate(videos)}
        self.subject_id = {v: i for i, v in enumerate(sorted({str(r.subject) for r in records}))}
        self.subject_stats: dict[Any, tuple[float, float]] = {}
        if norm == "subject":
            by_subject: dict[Any, list[np.ndarray]] = {}
            for r in records:
                by_subject.setdefault(r.subject, []).append(np.asarray(r.eda, np.float64))
            self.subject_stats = {k: (float(np.concatenate(v).mean()), max(float(np.concatenate(v).std()), 1e-6))
                                  for k, v in by_subject.items()}

    def target(self, rec: Any) -> np.ndarray:
        if self.norm == "subject":
            mean, std = self.subject_stats[rec.subject]
            return ((np.asarray(rec.eda, np.float64) - mean) / std).astype(np.float32)
        return _norm_signal(rec.eda, self.norm == "zscore")

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict[str, Any] | None:
        rec = self.records[i]
        try:
            x = prepare_clip(rec.read_clip(), self.meta)
        except (DataError, ValueError) as exc:
            log.debug("skipping %s: %s", rec.key, exc)
            return None
        item = {"x": torch.from_numpy(x), "signal": torch.from_numpy(self.target(rec)),
                "video": torch.tensor(self.video_id[str(rec.video)]), "start": torch.tensor(int(rec.start)),
                "subject": torch.tensor(self.subject_id[str(rec.subject)])}
        for name in self.meta.extra_inputs:
            series = getattr(rec, name, None)
            if series is None:
                log.debug("skipping %s: no %s signal", rec.key, name)
                return None
            item[name] = torch.from_numpy(_norm_signal(series, True))
        return item


class TabularDataset(Dataset):
    """Aligned multimodal windows -> {"x": (steps, F), "label"}."""

    def __init__(self, records: Sequence[Any], meta: ModelMeta, **_: Any) -> None:
        self.records = records

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict[str, Any] | None:
        rec = self.records[i]
        x = np.asarray(rec.features, dtype=np.float32)
        if not np.isfinite(x).all():
            return None
        return {"x": torch.from_numpy(x), "label": torch.tensor(int(rec.label))}


def collate(items: list[dict[str, Any] | None]) -> dict[str, Any]:
    """Stack the decodable items; ``dropped`` counts the rest (summed per epoch)."""
    good = [it for it in items if it is not None]
    batch: dict[str, Any] = {k: torch.stack([it[k] for it in good]) for k in (good[0] if good else {})}
    batch["dropped"] = len(items) - len(good)
    return batch


class EpochSampler(torch.utils.data.Sampler):
    """Indices for one epoch, drawn from ``seed + epoch``, sharded over ``world`` processes.

    The order depends only on (seed, epoch), so a resumed run sees the batches an
    uninterrupted run would.  With ``weights`` it samples with replacement
    (class-balanced sampling); otherwise it is a permutation (or identity for eval).
    """

    def __init__(self, n: int, *, seed: int, shuffle: bool = True, weights: np.ndarray | None = None,
                 rank: int = 0, world: int = 1, pad: bool = True) -> None:
        self.n, self.seed, self.shuffle, self.rank, self.world, self.pad = n, seed, shuffle, rank, world, pad
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.double)
        self.epoch = 0
        # Training pads so every rank runs the same number of (synchronised) steps; evaluation
        # does not, so no sample is counted twice.
        self.per_rank = (math.ceil(n / world) if pad else len(range(rank, n, world))) if n else 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.per_rank

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 1000 + self.epoch)
        if self.weights is not None:
            order = torch.multinomial(self.weights, self.per_rank * self.world, replacement=True, generator=g)
        elif self.shuffle:
            order = torch.randperm(self.n, generator=g)
        else:
            order = torch.arange(self.n)
        if not self.pad:
            return iter(order[self.rank::self.world].tolist())
        total = self.per_rank * self.world
        if len(order) < total:  # pad by wrapping so every rank runs the same number of steps
            order = torch.cat([order, order[: total - len(order)]])
        return iter(order[self.rank:total:self.world].tolist())


def class_counts(records: Sequence[Any], num_classes: int) -> np.ndarray:
    counts = np.zeros(num_classes, dtype=np.float64)
    for r in records:
        label = getattr(r, "label", None)
        if label is not None and 0 <= label < num_classes:
            counts[label] += 1
    return counts


def balanced_sample_weights(records: Sequence[Any], num_classes: int) -> np.ndarray:
    counts = class_counts(records, num_classes)
    per_class = np.where(counts > 0, 1.0 / np.maximum(counts, 1), 0.0)
    return np.array([per_class[r.label] if getattr(r, "label", None) is not None else 0.0 for r in records])


def class_weights(records: Sequence[Any], num_classes: int) -> np.ndarray:
    """Inverse-frequency weights normalised to mean 1 over the present classes."""
    counts = class_counts(records, num_classes)
    w = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / max((counts > 0).sum(), 1), 0.0)
    return w.astype(np.float32)
