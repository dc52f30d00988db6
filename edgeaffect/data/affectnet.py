"""AffectNet-style reader: ``images/{id}.jpg`` + ``annotations/{id}_{exp,val,aro,lnd}.npy``.

Expression (0 neutral, 1 happy, 2 sad, 3 surprise, 4 fear, 5 disgust, 6 anger,
7 contempt: AffectNet's own code order, which differs from FER+'s), valence and
arousal in [-1, 1], and 68 landmarks (136 floats) per image: a multitask
dataset.  Two layouts: one such folder (split ``train``) or
the distribution's ``train_set/`` + ``val_set/`` (splits train / valid).  The
release stores the numbers as strings inside the .npy files, the synthetic
generator as numbers; both read.  AffectNet's codes 8-10 (none, uncertain, no
face) and a valence/arousal of -2 (not given) are skipped with the reason.
An optional ``subjects.csv`` (``id,subject``) in a set folder or in the root
gives each image its subject, so subject-disjoint splits can be made.  Writers
of this layout map class names to codes with :data:`CLASSES`.
"""
from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np
from tqdm import tqdm

from edgeaffect.data.base import DatasetIndex, Record, Skipped, register_reader
from edgeaffect.errors import DataError
from edgeaffect.io import IMAGE_SUFFIXES

log = logging.getLogger(__name__)

# The expression code order of AffectNet annotations (index = code in *_exp.npy).
CLASSES = ("neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger", "contempt")
SPLIT_FOLDERS = {"train_set": "train", "val_set": "valid", "test_set": "test"}
SUBJECTS_FILE = "subjects.csv"
N_LANDMARKS = 68


def _is_set(folder: Path) -> bool:
    return (folder / "images").is_dir() and (folder / "annotations").is_dir()


def _sets(root: Path) -> list[tuple[Path, str]]:
    if _is_set(root):
        return [(root, "train")]
    return [(root / name, split) for name, split in SPLIT_FOLDERS.items() if _is_set(root / name)]


def detect(root: Path) -> bool:
    return root.is_dir() and bool(_sets(root)) and any(
        p.name.endswith("_exp.npy") for folder, _ in _sets(root)[:1] for p in (folder / "annotations").iterdir())


def _scalar(path: Path) -> float:
    """The one number an annotation file holds (stored as a string by the release)."""
    value = np.load(path, allow_pickle=False)
    if value.size != 1:
        raise ValueError(f"{value.size} values")
    return float(value.reshape(()).item())


def _subjects(folder: Path) -> dict[str, str]:
    """id -> subject from ``folder/subjects.csv`` (empty when there is none)."""
    path = folder / SUBJECTS_FILE
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = [r for r in csv.reader(fh) if len(r) >= 2]
    if rows and rows[0][0].strip().lower() == "id":
        rows = rows[1:]
    return {r[0].strip(): r[1].strip() for r in rows}


def _read_one(ann: Path, image_id: str) -> tuple[int, float, float, np.ndarray | None] | str:
    """(expression, valence, arousal, landmarks) of one image or why it is skipped."""
    try:
        expression = _scalar(ann / f"{image_id}_exp.npy")
    except (OSError, ValueError, TypeError) as exc:
        return f"unreadable expression file ({type(exc).__name__})"
    if not expression.is_integer() or not 0 <= expression < len(CLASSES):
        return "expression outside 0-7 (8-10 = none / uncertain / no face)"
    values = []
    for kind in ("val", "aro"):
        path = ann / f"{image_id}_{kind}.npy"
        if not path.is_file():
            return "valence/arousal file missing"
        try:
            values.append(_scalar(path))
        except (OSError, ValueError, TypeError) as exc:
            return f"unreadable valence/arousal file ({type(exc).__name__})"
    if not all(-1.0 <= v <= 1.0 for v in values):
        return "valence/arousal outside [-1, 1] (-2 = not given)"
    landmarks = None
    lnd = ann / f"{image_id}_lnd.npy"
    if lnd.is_file():
        try:
            points = np.asarray(np.load(lnd, allow_pickle=False), dtype=np.float32).ravel()
        except (OSError, ValueError, TypeError):
            return "unreadable landmark file"
        if points.size != 2 * N_LANDMARKS:
            return f"landmarks are not {N_LANDMARKS} (x, y) points"
        landmarks = points.reshape(N_LANDMARKS, 2)
    return int(expression), values[0], values[1], landmarks


def _read_set(folder: Path, split: str, prefix: str, subjects: dict[str, str],
              skipped: list[Skipped]) -> list[Record]:
    ann, images = folder / "annotations", folder / "images"
    by_stem = {p.stem: p for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    ids = sorted((p.name[: -len("_exp.npy")] for p in ann.iterdir() if p.name.endswith("_exp.npy")),
                 key=lambda s: (len(s), s))
    subjects = _subjects(folder) or subjects
    records = []
    for image_id in tqdm(ids, desc=f"AffectNet {split}", unit="img", disable=len(ids) < 5000, leave=False):
        where = str(ann / f"{image_id}_exp.npy")
        if image_id not in by_stem:
            skipped.append(Skipped(where, "image file missing"))
            continue
        parsed = _read_one(ann, image_id)
        if isinstance(parsed, str):
            skipped.append(Skipped(where, parsed))
            continue
        expression, valence, arousal, landmarks = parsed
        records.append(Record(key=f"{prefix}{image_id}", split=split, path=by_stem[image_id], label=expression,
                              valence=valence, arousal=arousal, landmarks=landmarks,
                              subject=subjects.get(image_id)))
    return records


@register_reader("affectnet", detect=detect,
                 description="AffectNet style: images/{id}.jpg + annotations/{id}_exp|val|aro|lnd.npy "
                             "(one folder, or train_set/ + val_set/)")
def read(root: Path) -> DatasetIndex:
    sets = _sets(root)
    if not sets:
        raise DataError(f"{root} has neither images/ + annotations/ nor train_set/ / val_set/ holding them",
                        "point at an AffectNet-style folder")
    skipped: list[Skipped] = []
    splits = {}
    root_subjects = _subjects(root)
    for folder, split in sets:
        prefix = "" if folder == root else f"{folder.name}/"
        splits[split] = tuple(_read_set(folder, split, prefix, root_subjects, skipped))
    if not any(splits.values()):
        raise DataError(f"{root} holds no usable annotated image ({len(skipped)} skipped)",
                        "check annotations/ (run 'edgeaffect data inspect' for reasons)")
    log.debug("AffectNet %s: %s, %d skipped", root, {s: len(r) for s, r in splits.items()}, len(skipped))
    return DatasetIndex(format="affectnet", root=root, task="multitask", classes=CLASSES, splits=splits,
                        skipped=tuple(skipped), info={"valence_range": (-1.0, 1.0), "arousal_range": (-1.0, 1.0),
                                                      "landmarks": N_LANDMARKS,
                                                      # the dataset's own crops, framing not measured yet:
                                                      # models get the runtime default, recorded explicitly
                                                      "framing": None, "detector": None})
