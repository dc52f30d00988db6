"""CalibrationSource: a re-iterable of raw samples plus the model's own preprocessing.

Raw samples are uint8 face crops (or clips of them for video models) with their
labels; iterating a source yields float32 model inputs made by
:mod:`edgeaffect.preprocess` from the ModelMeta the source is bound to, so
calibration, verification and the runtime feed the model identically.  The
same class serves verification data (``for_verification``), which - unlike
calibration - may read the test split.  Toolkit adapters live in adapters.py.
Torch-free.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from edgeaffect.calibration.sampling import balanced_subset, check_calibration_split, random_subset
from edgeaffect.errors import DataError
from edgeaffect.io import IMAGE_SUFFIXES, read_image_file
from edgeaffect.meta import ModelMeta, Task
from edgeaffect.portable import portable
from edgeaffect.preprocess import prepare_clip, prepare_image

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RawSample:
    """One sample read on demand: ``load()`` gives a uint8 image or a list of frames."""

    key: str
    load: Callable[[], Any] = field(repr=False)
    label: int | None = None
    values: tuple[float, ...] | None = None  # (valence, arousal) when the data has them
    extras: Callable[[], tuple[np.ndarray, ...]] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class CalibrationSource:
    """Raw samples + ModelMeta preprocessing; iterating yields float32 inputs without a batch axis."""

    samples: tuple[RawSample, ...]
    meta: ModelMeta | None = None
    classes: tuple[str, ...] = ()
    source: str = ""
    split: str | None = None
    seed: int = 0
    skipped: list = field(default_factory=list, compare=False, repr=False)  # keys that failed to decode

    # -- binding and preprocessing -------------------------------------------------------
    def with_meta(self, meta: ModelMeta) -> "CalibrationSource":
        return replace(self, meta=meta, skipped=[])

    def bound(self, meta: ModelMeta) -> "CalibrationSource":
        """This source when it is already bound to a model (its skip count kept), else bound to ``meta``."""
        return self if self.meta is not None else self.with_meta(meta)

    def _require_meta(self) -> ModelMeta:
        if self.meta is None:
            raise DataError("calibration source is not bound to a model", "call source.with_meta(meta) first")
        return self.meta

    def transform(self, raw: Any) -> np.ndarray:
        self._require_meta()
        if self.meta.task is Task.TABULAR:  # fusion windows are features already, flattened as the model was fit
            return np.asarray(raw, dtype=np.float32).reshape(-1)
        if self.meta.is_temporal:
            return prepare_clip(list(raw)[: self.meta.temporal.frames], self.meta)
        return prepare_image(raw, self.meta)

    def load(self, sample: RawSample) -> tuple[np.ndarray, ...] | None:
        """(input, *extra inputs) for one sample, or None (counted) when its file cannot be read."""
        self._require_meta()  # a programming error, not a bad sample: never skipped
        try:
            x = self.transform(sample.load())
            extras = tuple(np.asarray(e, dtype=np.float32) for e in sample.extras()) if sample.extras else ()
        except DataError as exc:
            if sample.key not in self.skipped:
                self.skipped.append(sample.key)
                log.warning("skipping %s: %s", sample.key, exc.what)
            return None
        return (x, *extras)

    # -- iteration ------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[np.ndarray]:
        for sample in self.samples:
            item = self.load(sample)
            if item is not None:
                yield item[0]

    def items(self) -> Iterator[tuple[tuple[np.ndarray, ...], RawSample]]:
        """(inputs, sample) pairs: the inputs tuple holds the main input and any extra inputs."""
        for sample in self.samples:
            item = self.load(sample)
            if item is not None:
                yield item, sample

    def batches(self, batch_size: int) -> Iterator[tuple[tuple[np.ndarray, ...], list[RawSample]]]:
        """Stacked inputs (N, ...) for each input tensor, with the samples they came from."""
        buf: list[tuple[np.ndarray, ...]] = []
        owners: list[RawSample] = []
        for item, sample in self.items():
            buf.append(item)
            owners.append(sample)
            if len(buf) == batch_size:
                yield tuple(np.stack(parts).astype(np.float32, copy=False) for parts in zip(*buf)), owners
                buf, owners = [], []
        if buf:
            yield tuple(np.stack(parts).astype(np.float32, copy=False) for parts in zip(*buf)), owners

    @property
    def labels(self) -> list[int | None]:
        return [s.label for s in self.samples]

    def summary(self) -> dict[str, Any]:
        """What calibration saw (saved as calibration.json next to the model)."""
        counts = Counter(s.label for s in self.samples)
        per_class = {(self.classes[c] if c is not None and c < len(self.classes) else str(c)): n
                     for c, n in sorted(counts.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))}
        return {"count": len(self.samples), "per_class": per_class, "source": self.source, "split": self.split,
                "seed": self.seed, "skipped": list(self.skipped),
                "preprocessing": None if self.meta is None else {
                    "input_size": list(self.meta.input_size), "color": self.meta.color.value,
                    "mean": list(self.meta.mean), "std": list(self.meta.std)}}


# -- constructors ---------------------------------------------------------------------------
def _record_sample(record: Any, extra_names: Sequence[str]) -> RawSample:
    values = None
    if getattr(record, "valence", None) is not None and getattr(record, "arousal", None) is not None:
        values = (float(record.valence), float(record.arousal))
    if hasattr(record, "read_clip"):  # ClipRecord: a window of face crops
        load = record.read_clip
    elif hasattr(record, "features"):  # TabularRecord: fused feature window
        load = lambda r=record: r.features  # noqa: E731
    else:
        # the image as training reads it: calibration must see the pixels the model learned from
        load = record.read_image
    extras = (lambda r=record: tuple(getattr(r, n) for n in extra_names)) if extra_names else None
    return RawSample(key=str(record.key), load=load, label=getattr(record, "label", None), values=values, extras=extras)


def _from_records(index: Any, meta: ModelMeta | None, *, split: str, n: int | None, seed: int, balanced: bool,
                  purpose: str) -> CalibrationSource:
    records = index.split(split)
    if not records:
        raise DataError(f"the '{split}' split of {index.root} is empty", "choose a split that holds samples")
    labels = [getattr(r, "label", None) for r in records]
    if balanced and any(lb is not None for lb in labels):
        pick = balanced_subset(labels, n, seed)
    else:
        pick = random_subset(len(records), n, seed)
    extra_names = meta.extra_inputs if meta is not None else ()
    samples = tuple(_record_sample(records[i], extra_names) for i in pick)
    return CalibrationSource(samples, meta, tuple(index.classes), f"{purpose}:{index.format}:{portable(index.root)}", split, seed)


def from_dataset(index: Any, meta: ModelMeta | None = None, *, split: str = "train", n: int | None = 300, seed: int = 0,
                 balanced: bool = True) -> CalibrationSource:
    """A seeded, class-balanced calibration subset of a DatasetIndex split; refuses test splits."""
    check_calibration_split(split)
    return _from_records(index, meta, split=split, n=n, seed=seed, balanced=balanced, purpose="dataset")


def from_clips(index: Any, meta: ModelMeta | None = None, *, split: str = "train", n: int | None = 64,
               seed: int = 0) -> CalibrationSource:
    """Calibration clips for video models (a random seeded subset: clips carry signals, not classes)."""
    check_calibration_split(split)
    return _from_records(index, meta, split=split, n=n, seed=seed, balanced=False, purpose="clips")


def for_verification(index: Any, meta: ModelMeta | None = None, *, split: str = "valid", n: int | None = 500,
                     seed: int = 0) -> CalibrationSource:
    """Held-out samples to verify an export against the float model (any split, test included).

    Class-balanced like calibration: the export gate compares UAR too, and a random 500 of FER+ hold
    three contempt faces, too few to see a quantised model stop predicting a rare class.
    """
    return _from_records(index, meta, split=split, n=n, seed=seed, balanced=True, purpose="verify")


def from_image_folder(path: str | Path, meta: ModelMeta | None = None, *, n: int | None = 300,
                      seed: int = 0) -> CalibrationSource:
    """Images under ``path`` (recursively); sub-folder names act as classes for balancing."""
    import cv2

    root = Path(path)
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise DataError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {root}", "point at a folder of face crops")
    classes = tuple(sorted({p.parent.relative_to(root).as_posix() for p in files if p.parent != root}))
    labels = [classes.index(p.parent.relative_to(root).as_posix()) if p.parent != root else None for p in files]

    def reader(p: Path) -> Callable[[], np.ndarray]:
        def load() -> np.ndarray:
            img = read_image_file(p, cv2.IMREAD_UNCHANGED)
            if img is None or img.size == 0:
                raise DataError(f"cannot decode image {p}", "remove or replace the file; it is skipped and counted")
            return img[:, :, :3] if img.ndim == 3 and img.shape[2] == 4 else img
        return load

    pick = balanced_subset(labels, n, seed)
    samples = tuple(RawSample(str(files[i]), reader(files[i]), labels[i]) for i in pick)
    return CalibrationSource(samples, meta, classes, f"folder:{portable(root)}", None, seed)


def from_arrays(arrays: Sequence[Any], meta: ModelMeta | None = None, *, labels: Sequence[int] | None = None,
                values: Sequence[Sequence[float]] | None = None, classes: Sequence[str] = (),
                source: str = "arrays") -> CalibrationSource:
    """In-memory uint8 images (or clips) - for tests and for callers that already hold crops."""
    samples = tuple(
        RawSample(f"{source}[{i}]", (lambda a=a: a), None if labels is None else int(labels[i]),
                  None if values is None else tuple(float(v) for v in values[i]))
        for i, a in enumerate(arrays))
    return CalibrationSource(samples, meta, tuple(classes), source, None, 0)


def from_path(path: str | Path, meta: ModelMeta | None = None, *, purpose: str = "calibration",
                split: str | None = None, n: int | None = 300, seed: int = 0) -> CalibrationSource:
    """A dataset folder (any registered layout) or a plain image folder, for the CLI flags."""
    from edgeaffect.data import open_dataset

    path = Path(path)
    try:
        index = open_dataset(path)
    except DataError:
        if path.is_dir():
            return from_image_folder(path, meta, n=n, seed=seed)
        raise
    if purpose == "calibration":
        if index.task == "signal":
            return from_clips(index, meta, split=split or "train", n=n, seed=seed)
        return from_dataset(index, meta, split=split or "train", n=n, seed=seed)
    default = "valid" if "valid" in index.splits else next(iter(index.splits))
    return for_verification(index, meta, split=split or default, n=n, seed=seed)
