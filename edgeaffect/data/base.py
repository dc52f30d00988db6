"""The records every dataset reader yields, and the reader registry.

A reader turns a folder in its published layout into a :class:`DatasetIndex`:
splits of records plus the list of what was skipped and why.  Records are
cheap descriptions; pixels are read on demand (``read_image`` / ``read_clip``),
so the index of 30,000 images builds in a second and a corrupt file is found,
named and counted when it is read.  Torch-free.

Adding a dataset format = one file that defines ``detect(root) -> bool`` and
``read(root, **options) -> DatasetIndex`` and registers them with
:func:`register_reader`, plus one import line in ``edgeaffect/data/__init__.py``.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from edgeaffect.data.classes import EXPRESSIONS_8  # noqa: F401  (re-exported: the readers' class names)
from edgeaffect.errors import DataError, unknown_name


@dataclass(frozen=True)
class Skipped:
    """A sample (or file) left out, with the reason a user can act on."""

    source: str  # file path, optionally "path:line"
    reason: str


def csv_rows(path: Path) -> Iterator[tuple[int, list[str] | str]]:
    """``(line number, cells)`` for each line of a label CSV, or ``(line number, why it is malformed)``.

    Label files hold one row per line, so each line is parsed on its own:
    ``csv.reader`` over the whole file lets a stray quote swallow the rows after
    it (a quoted cell may span lines) and numbers a row by its last line.  A byte-order mark (Excel's
    "CSV UTF-8" writes one) is dropped: left in, it glues itself to the first cell, which then names no file.
    """
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
        for number, line in enumerate(fh, 1):
            try:
                yield number, next(csv.reader([line], strict=True), [])
            except csv.Error as exc:
                yield number, f"malformed row: {exc}"


@dataclass(frozen=True)
class Record:
    """One labelled image.

    ``label`` indexes ``DatasetIndex.classes`` (None when the format gives only
    soft targets or only valence/arousal).  ``target`` is a soft label over the
    classes (FER+ probability / cross-entropy / multi-target modes).
    ``pixels`` holds the image when the format stores pixels inline (FER2013
    CSV, synthetic data); otherwise ``path`` is decoded on demand.
    """

    key: str
    split: str
    path: Path | None = None
    label: int | None = None
    target: np.ndarray | None = None
    valence: float | None = None
    arousal: float | None = None
    landmarks: np.ndarray | None = None
    subject: str | None = None
    box: tuple[int, int, int, int] | None = None  # face box in the image, when the format gives one
    pixels: np.ndarray | None = field(default=None, repr=False, compare=False)

    def read_image(self) -> np.ndarray:
        """uint8 gray (HxW) or BGR (HxWx3); raises DataError naming the file."""
        if self.pixels is not None:
            return self.pixels
        import cv2

        from edgeaffect.io import read_image_file

        img = read_image_file(self.path, cv2.IMREAD_UNCHANGED) if self.path is not None else None
        if img is None or img.size == 0:
            raise DataError(f"cannot decode image {self.path}", "remove or replace the file; it is skipped and counted")
        if img.ndim == 3 and img.shape[2] == 4:
            img = img[:, :, :3]
        if img.dtype != np.uint8:
            img = cv2.convertScaleAbs(img, alpha=255.0 / max(float(img.max()), 1.0))
        return img


@dataclass(frozen=True)
class ClipRecord:
    """One window of a face video with its physiological targets.

    ``frames`` are indices into the (resampled) frame sequence of ``video``;
    ``eda`` (and ``bvp`` when present) hold one value per frame of the window,
    resampled to the clip frame rate ``fps``.  ``read_clip`` returns face crops,
    computed once per video and cached.
    """

    key: str
    split: str
    video: Path
    start: int
    length: int
    fps: float
    eda: np.ndarray
    bvp: np.ndarray | None = None
    subject: str | None = None
    task: str | None = None
    reader: Callable[["ClipRecord"], list[np.ndarray]] | None = field(default=None, repr=False, compare=False)

    def read_clip(self) -> list[np.ndarray]:
        if self.reader is None:
            raise DataError(f"clip {self.key} has no frame reader", "open the dataset through edgeaffect.data.open_dataset")
        return self.reader(self)


@dataclass(frozen=True)
class TabularRecord:
    """One aligned multimodal window (EEG band powers + facial features) with its trial label."""

    key: str
    split: str
    features: np.ndarray  # (steps, n_features), time-ordered
    label: int
    subject: str
    feature_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class DatasetIndex:
    """A dataset as read: splits of records, class names, and what was skipped."""

    format: str
    root: Path
    task: str  # "classification" | "multitask" | "signal" | "tabular"
    classes: tuple[str, ...]
    splits: Mapping[str, tuple[Any, ...]]
    skipped: tuple[Skipped, ...] = ()
    info: Mapping[str, Any] = field(default_factory=dict)  # format-specific facts (label mode, fps, ...)

    def split(self, name: str) -> tuple[Any, ...]:
        """The records of split ``name``; ``valid+test`` joins splits (per-class figures of rare classes)."""
        if "+" in name and name not in self.splits:
            return tuple(r for part in name.split("+") for r in self.split(part))
        if name not in self.splits:
            # a reader may make further splits on request (FER+: ambiguous=true); say which option makes this one
            option = dict(self.info.get("splits_on_request", {})).get(name)
            raise DataError(f"{self.root} has no '{name}' split (it has: {', '.join(self.splits) or 'none'})",
                            f"add {option} to make it" if option else
                            "name an existing split, or run 'edgeaffect data split' to make one")
        return self.splits[name]

    def subjects(self, split: str | None = None) -> set[str]:
        names = [split] if split else list(self.splits)
        return {r.subject for n in names for r in self.splits[n] if getattr(r, "subject", None) is not None}

    def class_counts(self, split: str) -> dict[str, int]:
        counts = dict.fromkeys(self.classes, 0)
        for r in self.split(split):
            label = getattr(r, "label", None)
            if label is not None:
                counts[self.classes[label]] += 1
        return counts


def index_from_splits(*, format: str, root: Path, task: str, classes: tuple[str, ...],
                      per_split: Mapping[str, list], order: tuple[str, ...] | list[str], skipped: list[Skipped],
                      empty: DataError, info: Mapping[str, Any] | None = None) -> DatasetIndex:
    """Close a reader: splits in ``order`` (only those that got records), or raise ``empty`` when none did."""
    if not per_split:
        raise empty
    names = [s for s in order if s in per_split]
    return DatasetIndex(format=format, root=root, task=task, classes=classes,
                        splits={s: tuple(per_split[s]) for s in names}, skipped=tuple(skipped), info=dict(info or {}))


@dataclass(frozen=True)
class Reader:
    name: str
    detect: Callable[[Path], bool]
    read: Callable[..., DatasetIndex]
    description: str = ""

    def open(self, root: Path, options: Mapping[str, Any]) -> DatasetIndex:
        """Read ``root`` with ``options`` typed by the reader's declared parameters (``votes=false`` is False)."""
        from edgeaffect.keyvalue import typed

        return self.read(Path(root), **typed(self.read, options, kind=f"{self.name} reader option"))


READERS: dict[str, Reader] = {}


def register_reader(name: str, *, detect: Callable[[Path], bool], description: str = "") -> Callable:
    """Decorator for a ``read(root: Path, **options) -> DatasetIndex`` function (``Reader.open`` gives it a Path)."""

    def wrap(read: Callable[..., DatasetIndex]) -> Callable[..., DatasetIndex]:
        READERS[name] = Reader(name, detect, read, description)
        return read

    return wrap


# Written by edgeaffect's generators into every synthetic data set they make, so whatever reads it
# (bench, report, the model card) can say the data is synthetic, whatever layout it imitates.
SYNTHETIC_MARKER = "SYNTHETIC.json"


def mark_synthetic(root: Path, kind: str, **facts: Any) -> Path:
    """Label a generated data set as synthetic (``kind``: faces, videos, tabular)."""
    import json

    from edgeaffect.io import atomic_write_text

    note = "procedurally drawn by edgeaffect; no real people; accuracy here says nothing about real faces"
    return atomic_write_text(Path(root) / SYNTHETIC_MARKER, json.dumps({"kind": kind, "note": note, **facts}, indent=2))


def describe(index: DatasetIndex) -> str:
    """What the data is, for reports: ``synthetic-faces`` for generated data, else the layout name."""
    synthetic = index.info.get("synthetic")
    return f"synthetic-{synthetic.get('kind', 'data')}" if synthetic else index.format


def open_dataset(path: str | Path, *, format: str | None = None, **options: Any) -> DatasetIndex:
    """Read the dataset at ``path``, detecting its layout unless ``format`` names one.

    The option ``class_map`` ({class name as the data spells it: class}, see ``data.classes``) goes to
    the readers whose ``read`` takes it (those that name classes from folder names); the others' classes
    are fixed names, which evaluation maps through the same class map.
    """
    index = _read_dataset(path, format=format, **options)
    marker = index.root / SYNTHETIC_MARKER if index.root.is_dir() else None
    if marker is not None and marker.is_file():
        import json
        from dataclasses import replace

        try:
            facts = json.loads(marker.read_text(encoding="utf-8"))
        except ValueError:
            facts = {}
        index = replace(index, info={**dict(index.info), "synthetic": facts if isinstance(facts, dict) else {}})
    return index


def _read(reader: Reader, root: Path, options: dict[str, Any]) -> DatasetIndex:
    import inspect

    if "class_map" in options and "class_map" not in inspect.signature(reader.read).parameters:
        options = {k: v for k, v in options.items() if k != "class_map"}
    return reader.open(root, options)


def _read_dataset(path: str | Path, *, format: str | None = None, **options: Any) -> DatasetIndex:
    import edgeaffect.data  # noqa: F401  (registers the built-in readers)

    root = Path(path).expanduser()
    if not root.exists():
        raise DataError(f"{root} does not exist", "check the path (EDGEAFFECT_DATA points at the data folder)")
    if format is not None:
        if format not in READERS:
            raise unknown_name("dataset format", format, READERS, error=DataError)
        return _read(READERS[format], root, options)
    for reader in READERS.values():
        if reader.detect(root):
            return _read(reader, root, options)
    raise DataError(f"cannot tell which dataset layout {root} is in",
                    f"pass --format with one of: {', '.join(sorted(READERS))} (see 'edgeaffect data inspect --help')")
