"""RAF-DB (basic) reader: ``EmoLabel/list_patition_label.txt`` + ``Image/aligned/``.

The list file (its spelling is the release's) holds lines ``train_00001.jpg 5``
with labels 1-7 = surprise, fear, disgust, happiness, sadness, anger, neutral;
the image is ``Image/aligned/train_00001_aligned.jpg`` (100x100 RGB faces).
The split comes from the name prefix (``train_`` / ``test_``).  ``root`` is the
``basic/`` folder of the release (or its parent).
"""
from __future__ import annotations

import logging
from pathlib import Path

from edgeaffect.data.base import DatasetIndex, Record, Skipped, index_from_splits, register_reader
from edgeaffect.errors import DataError

log = logging.getLogger(__name__)

CLASSES = ("surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral")
LIST_FILE = Path("EmoLabel") / "list_patition_label.txt"
ALIGNED = Path("Image") / "aligned"
SPLIT_PREFIX = {"train": "train", "test": "test"}


def _base(root: Path) -> Path | None:
    for base in (root, root / "basic"):
        if (base / LIST_FILE).is_file():
            return base
    return None


def detect(root: Path) -> bool:
    return root.is_dir() and _base(root) is not None


def _parse(line: str) -> tuple[str, str, int] | str:
    """(image name, split, label index) or why the line is unusable."""
    parts = line.split()
    if len(parts) != 2:
        return "malformed line (need '<image name> <label 1-7>')"
    name, label = parts
    split = SPLIT_PREFIX.get(name.split("_", 1)[0].lower())
    if split is None:
        return "image name does not start with train_ or test_"
    if not label.isdigit() or not 1 <= int(label) <= len(CLASSES):
        return "label outside 1-7"
    return name, split, int(label) - 1


@register_reader("rafdb", detect=detect,
                 description="RAF-DB basic: EmoLabel/list_patition_label.txt + Image/aligned/*_aligned.jpg")
def read(root: Path) -> DatasetIndex:
    base = _base(root)
    if base is None:
        raise DataError(f"{root} has no {LIST_FILE}", "point at the RAF-DB 'basic' folder")
    aligned = base / ALIGNED
    if not aligned.is_dir():
        raise DataError(f"{aligned} does not exist", "unpack Image/aligned.zip from the RAF-DB release there")
    present = {p.name for p in aligned.iterdir()}
    list_file = base / LIST_FILE
    per_split: dict[str, list[Record]] = {}
    skipped: list[Skipped] = []
    with open(list_file, encoding="utf-8-sig", errors="replace") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{list_file}:{number}"
            parsed = _parse(line)
            if isinstance(parsed, str):
                skipped.append(Skipped(where, parsed))
                continue
            name, split, label = parsed
            stem = name.rsplit(".", 1)[0]
            image = f"{stem}_aligned.jpg"
            if image not in present:
                skipped.append(Skipped(where, "image file missing"))
                continue
            per_split.setdefault(split, []).append(
                Record(key=stem, split=split, path=aligned / image, label=label))
    index = index_from_splits(
        format="rafdb", root=base, task="classification", classes=CLASSES, per_split=per_split,
        order=list(SPLIT_PREFIX.values()), skipped=skipped, info={"images": "aligned", "framing": None, "detector": None},  # not measured
        empty=DataError(f"{list_file} lists no usable image ({len(skipped)} skipped)",
                        "check the list file and Image/aligned/ (run 'edgeaffect data inspect' for reasons)"))
    log.debug("RAF-DB %s: %s, %d skipped", base, {s: len(r) for s, r in index.splits.items()}, len(skipped))
    return index
