"""FER2013 CSV reader: the ICML 2013 challenge file ``emotion,pixels,Usage``.

Each row holds a label (0 Angry, 1 Disgust, 2 Fear, 3 Happy, 4 Sad, 5 Surprise,
6 Neutral), 2304 space-separated gray values (a 48x48 face) and its usage
(Training / PublicTest / PrivateTest -> train / valid / test).  Pixels live in
the file, so records carry them inline in ``Record.pixels``.  The root is the
CSV itself or a folder holding ``fer2013.csv``.  Columns are found by header
name, so re-ordered variants (``emotion, Usage, pixels``) read too.
"""
from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np

from edgeaffect.data.base import DatasetIndex, Record, Skipped, csv_rows, index_from_splits, register_reader
from edgeaffect.data.ferplus import FRAMING  # FER+ relabels these very images: same crops, same framing
from edgeaffect.errors import DataError

log = logging.getLogger(__name__)

CLASSES = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")
USAGE = {"training": "train", "publictest": "valid", "privatetest": "test"}
SIDE = 48
FILE_NAME = "fer2013.csv"
REQUIRED = ("emotion", "pixels", "usage")


def _csv_file(root: Path) -> Path | None:
    if root.is_file() and root.suffix.lower() == ".csv":
        return root
    candidate = root / FILE_NAME
    return candidate if candidate.is_file() else None


def _header(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
        first = fh.readline()
    return [c.strip().lower() for c in first.split(",")]


def detect(root: Path) -> bool:
    path = _csv_file(root)
    return path is not None and all(col in _header(path) for col in REQUIRED)


def _parse(row: list[str], col: dict[str, int]) -> tuple[int, str, np.ndarray] | str:
    """(label, split, 48x48 pixels) or why the row is unusable."""
    if len(row) < len(col):
        return f"malformed row: {len(row)} columns, need {', '.join(REQUIRED)}"
    try:
        label = int(row[col["emotion"]])
    except ValueError:
        return "label is not an integer 0-6"
    if not 0 <= label < len(CLASSES):
        return "label outside 0-6"
    split = USAGE.get(row[col["usage"]].strip().lower())
    if split is None:
        return "usage is not Training, PublicTest or PrivateTest"
    try:
        values = np.array(row[col["pixels"]].split(), dtype=np.int32)
    except ValueError:
        return "pixels are not integers"
    if values.size != SIDE * SIDE:
        return f"wrong pixel count (need {SIDE * SIDE} values)"
    if values.min() < 0 or values.max() > 255:
        return "pixel values outside 0-255"
    return label, split, values.astype(np.uint8).reshape(SIDE, SIDE)


@register_reader("fer2013csv", detect=detect,
                 description="FER2013 challenge CSV: emotion,pixels,Usage (48x48 gray pixels inline)")
def read(root: Path) -> DatasetIndex:
    path = _csv_file(root)
    if path is None:
        raise DataError(f"{root} is not a CSV file and holds no {FILE_NAME}", f"point at {FILE_NAME} itself")
    header = _header(path)
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise DataError(f"{path}:1 header lacks column(s) {', '.join(missing)}",
                        "the FER2013 CSV header is 'emotion,pixels,Usage'")
    col = {name: header.index(name) for name in REQUIRED}
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 20))  # a pixels cell is ~8 kB, allow odd files
    per_split: dict[str, list[Record]] = {}
    skipped: list[Skipped] = []
    for line_no, row in csv_rows(path):
        if line_no == 1 or not row:  # the header
            continue
        parsed = row if isinstance(row, str) else _parse(row, col)
        if isinstance(parsed, str):
            skipped.append(Skipped(f"{path}:{line_no}", parsed))
            continue
        label, split, pixels = parsed
        per_split.setdefault(split, []).append(
            Record(key=f"{path.name}:{line_no}", split=split, label=label, pixels=pixels))
    index = index_from_splits(
        format="fer2013csv", root=path, task="classification", classes=CLASSES, per_split=per_split,
        order=list(USAGE.values()), skipped=skipped, info={"file": path.name, "framing": dict(FRAMING), "detector": FRAMING["detector"]},
        empty=DataError(f"{path} holds no usable row ({len(skipped)} skipped)",
                        "check the file is the FER2013 challenge CSV (run 'edgeaffect data inspect' for reasons)"))
    log.debug("FER2013 CSV %s: %s, %d skipped", path, {s: len(r) for s, r in index.splits.items()}, len(skipped))
    return index
