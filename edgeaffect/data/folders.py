"""Class-folder reader: the Kaggle-style ``train|validation|test/<class>/*.png|jpg`` layout.

The generic fallback, tried last by ``open_dataset``.  Class folder names are
mapped to the project's canonical expression names through the one alias table
(:mod:`edgeaffect.data.classes`: ``angry`` -> ``anger``, ``happy`` -> ``happiness``, ...);
a folder no alias covers is skipped with a reason instead of becoming a new class by
accident, and listed per split in ``info["unknown_classes"]`` so an evaluation can refuse
to drop it silently.  The reader option ``class_map`` ({folder name: class, or ``skip``})
names such folders (``eval --class-map bored=neutral``).
The class order is the sorted order of the folder names (the ImageFolder
convention the published class-folder releases rely on).
"""
from __future__ import annotations

import logging
from pathlib import Path

from edgeaffect.data.base import EXPRESSIONS_8, DatasetIndex, Record, Skipped, register_reader
from edgeaffect.data.classes import SKIP, canonical_class
from edgeaffect.errors import DataError
from edgeaffect.io import IMAGE_SUFFIXES

log = logging.getLogger(__name__)

SPLIT_NAMES = {"train": "train", "training": "train", "validation": "valid", "valid": "valid", "val": "valid",
               "test": "test", "testing": "test"}

def _split_dirs(root: Path) -> list[tuple[Path, str]]:
    if not root.is_dir():
        return []
    return sorted((d, SPLIT_NAMES[d.name.lower()]) for d in root.iterdir()
                  if d.is_dir() and d.name.lower() in SPLIT_NAMES)


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def detect(root: Path) -> bool:
    for split_dir, _ in _split_dirs(root):
        for class_dir in split_dir.iterdir():
            if class_dir.is_dir() and canonical_class(class_dir.name) is not None:
                return True
    return False


@register_reader("folders", detect=detect,
                 description="class folders: train|validation|test/<class>/*.png|jpg (Kaggle FER2013 style)")
def read(root: Path, class_map: dict[str, str] | None = None) -> DatasetIndex:
    root = Path(root)
    unknown: dict[str, list[str]] = {}  # split -> class folders nothing names
    split_dirs = _split_dirs(root)
    if not split_dirs:
        raise DataError(f"{root} has no train/validation/test folder",
                        "arrange images as <root>/train/<class>/*.png (and validation/, test/)")
    seen_splits: dict[str, Path] = {}
    folder_names: dict[str, str] = {}  # folder name -> canonical class
    skipped: list[Skipped] = []
    per_split: dict[str, list[tuple[Path, str]]] = {}
    for split_dir, split in split_dirs:
        if split in seen_splits:  # e.g. both val/ and validation/
            raise DataError(f"{root} has two folders for the '{split}' split: {seen_splits[split].name}/ and "
                            f"{split_dir.name}/", "keep one of them")
        seen_splits[split] = split_dir
        items = per_split.setdefault(split, [])
        in_split: dict[str, str] = {}
        for class_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
            name = canonical_class(class_dir.name, class_map)
            if name == SKIP:
                skipped.append(Skipped(str(class_dir), "left out by the class map"))
                continue
            if name is None:
                skipped.append(Skipped(str(class_dir), f"unknown class folder (not one of {', '.join(EXPRESSIONS_8)}"
                                                       " or a known alias; name it with --class-map NAME=CLASS)"))
                unknown.setdefault(split, []).append(class_dir.name)
                continue
            if name in in_split:  # e.g. angry/ and anger/ side by side
                raise DataError(f"{split_dir} holds two folders for class '{name}': {in_split[name]}/ and "
                                f"{class_dir.name}/", "merge them into one folder per class")
            in_split[name] = class_dir.name
            folder_names[class_dir.name] = name
            for path in sorted(class_dir.iterdir()):
                if path.name.startswith("."):
                    continue
                if _is_image(path):
                    items.append((path, name))
                else:
                    skipped.append(Skipped(str(path), "not an image file"))
    classes = tuple(dict.fromkeys(folder_names[n] for n in sorted(folder_names)))
    if not classes:
        raise DataError(f"{root} has split folders but no known class folder inside",
                        f"name class folders after the expressions: {', '.join(EXPRESSIONS_8)} (or, to "
                        "evaluate, say what they are with --class-map NAME=CLASS)")
    index_of = {c: i for i, c in enumerate(classes)}
    splits = {split: tuple(Record(key=str(path.relative_to(root)), split=split, path=path, label=index_of[name])
                           for path, name in items)
              for split, items in per_split.items()}
    log.debug("class folders %s: %s", root, {s: len(r) for s, r in splits.items()})
    return DatasetIndex(format="folders", root=root, task="classification", classes=classes, splits=splits,
                        skipped=tuple(skipped), info={"folder_names": dict(sorted(folder_names.items())),
                                                  **({"unknown_classes": unknown} if unknown else {})})
