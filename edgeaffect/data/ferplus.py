"""FER+ reader: the original FERPlus layout with 10 crowd votes per image.

``root/FER2013Train|FER2013Valid|FER2013Test/`` hold ``fer*.png`` (48x48 gray)
and a ``label.csv`` whose rows are ``image name, "(x, y, w, h)", 10 votes`` in
the order neutral, happiness, surprise, sadness, anger, disgust, fear,
contempt, unknown, NF (not a face).  The votes become labels by one of the four
modes of the FER+ paper (Barsoum et al., ICMI 2016), following the rules of the
reference release:

* every mode first zeroes votes of 1 (a single annotator is an outlier);
* ``majority``: the class holding more than half of the remaining votes;
* ``probability`` / ``crossentropy``: the vote distribution over the top
  classes, taken peak by peak until 75 % of the votes (at most 3 classes) are
  covered; kept when they hold more than half of the votes.  Both give the same
  soft ``target``; ``probability`` means the trainer samples a one-hot label
  from it each time, ``crossentropy`` trains on it directly;
* ``multitarget``: every class with at least 30 % of the votes counts as
  correct (a multi-hot ``target``), kept when those classes hold more than half.

``votes=True`` (majority mode only) keeps the majority rule's images and labels
but gives each record the crowd's vote distribution over the 8 expressions
(single votes zeroed) as its ``target``: training on the soft votes while
scoring on the majority labels the FER+ benchmark reports.

Images whose result is unknown / NF, or that no rule can label, are dropped by
the rule (counted in ``info["dropped"]``, not in ``skipped``, which is kept for
broken rows, and for a row repeating an earlier row's image name: the first row
is kept).  ``Record.label`` is the top class (first of equal peaks).

``ambiguous=True`` (with ``votes=True``) keeps the majority rule's "unknown"
faces whose expression votes still outnumber the unknown / not-a-face votes, in
splits of their own (``train_ambiguous``, ``valid_ambiguous``, ...) with the
vote distribution as target: the crowd split between two expressions, which is
where FER+'s rare classes get a good part of their votes (train: 3,366 faces
adding 69 % to contempt's, 78 % to disgust's and 35 % to fear's vote mass).  They train
(``data.train_split=train+train_ambiguous``); the scored splits are unchanged.  Measured (model card): in a
self-distilled balanced fine-tune on train only they moved tuned FER+ valid UAR by +0.1 pt, so the default
does not use them.
"""
from __future__ import annotations

import enum
import logging
import re
from pathlib import Path

import numpy as np

from edgeaffect.data.base import EXPRESSIONS_8, DatasetIndex, Record, Skipped, csv_rows, register_reader
from edgeaffect.errors import ConfigError, DataError

log = logging.getLogger(__name__)

SPLIT_FOLDERS = {"FER2013Train": "train", "FER2013Valid": "valid", "FER2013Test": "test"}
LABEL_FILE = "label.csv"
N_VOTES = 10  # 8 expressions + unknown + not-a-face
UNKNOWN, NOT_FACE = 8, 9
# How FER+ faces are framed relative to a YuNet box, measured with benchmarks/measure_framing.py
# on 600 training images (592 detected): the image frame is the box itself (scale median 1.000,
# quartiles 0.90-1.09; centre offset x -0.005, y -0.011 box sides) - brows to chin.  Models
# trained here carry it in ModelMeta, so the runtime crops live faces the same way.
FRAMING = {"scale": 1.0, "shift_x": 0.0, "shift_y": -0.01, "aligned": False, "detector": "yunet"}
_BOX = re.compile(r"^\s*\(\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\)\s*$")


class LabelMode(str, enum.Enum):
    MAJORITY = "majority"
    PROBABILITY = "probability"
    CROSSENTROPY = "crossentropy"
    MULTITARGET = "multitarget"


# What the ``target`` of each mode holds (consumers pick their loss from it).
TARGET_KIND = {LabelMode.MAJORITY: "none", LabelMode.PROBABILITY: "distribution",
               LabelMode.CROSSENTROPY: "distribution", LabelMode.MULTITARGET: "multi-hot"}


def parse_mode(mode: LabelMode | str) -> LabelMode:
    try:
        return LabelMode(str(getattr(mode, "value", mode)).replace("-", "").replace("_", "").lower())
    except ValueError:
        raise ConfigError(f"unknown FER+ label mode '{mode}'",
                          f"choose one of: {', '.join(m.value for m in LabelMode)}") from None


def _majority(votes: np.ndarray) -> np.ndarray | int:
    total = votes.sum()
    peak = int(np.argmax(votes))
    if total > 0 and votes[peak] > 0.5 * total:
        return peak if peak >= UNKNOWN else np.eye(N_VOTES)[peak]
    return UNKNOWN


def _top_share(votes: np.ndarray) -> np.ndarray | int:
    """Distribution over the peak classes (probability / cross-entropy modes)."""
    total = votes.sum()
    rest = votes.astype(np.float64).copy()
    kept = np.zeros(N_VOTES)
    count = 0
    while kept.sum() < 0.75 * total and count < 3:
        peak = rest.max()
        hit_unknown = False
        for i in np.flatnonzero(rest == peak):
            kept[i], rest[i] = peak, 0.0
            count += 1
            if i >= UNKNOWN:
                # unknown / NF reached: stop; it only counts when it is the sole peak so far
                hit_unknown = True
                if kept.sum() > peak:
                    kept[i] = 0.0
                    count -= 1
                break
        if hit_unknown:
            break
    if total == 0 or kept.sum() <= 0.5 * total or count > 3:
        return UNKNOWN
    return kept


def _multi_target(votes: np.ndarray) -> np.ndarray | int:
    total = votes.sum()
    kept = np.where(votes >= 0.3 * total, votes, 0.0)
    if total == 0 or kept.sum() <= 0.5 * total:
        return UNKNOWN
    return kept


_RULES = {LabelMode.MAJORITY: _majority, LabelMode.PROBABILITY: _top_share,
          LabelMode.CROSSENTROPY: _top_share, LabelMode.MULTITARGET: _multi_target}


def counted(votes: np.ndarray) -> np.ndarray:
    """The raw votes with single votes zeroed (one annotator is an outlier), as every rule counts them."""
    return np.where(np.asarray(votes, dtype=np.float64) <= 1.0, 0.0, votes)


def label_votes(votes: np.ndarray, mode: LabelMode) -> tuple[int, np.ndarray | None] | str:
    """Apply ``mode`` to the 10 raw votes: ``(label, target)`` or the reason it is dropped."""
    votes = counted(votes)
    result = _RULES[mode](votes)
    if isinstance(result, (int, np.integer)):
        return "not a face" if result == NOT_FACE else "unknown"
    top = int(np.argmax(result))
    if top >= UNKNOWN:
        return "not a face" if top == NOT_FACE else "unknown"
    share = result[:UNKNOWN]
    if mode is LabelMode.MAJORITY:
        return top, None
    if mode is LabelMode.MULTITARGET:
        return top, (share > 0).astype(np.float32)
    return top, (share / share.sum()).astype(np.float32)


def _parse_row(row: list[str]) -> tuple[str, tuple[int, int, int, int], np.ndarray] | str:
    """(name, box, votes) or the reason the row is broken."""
    if len(row) != 2 + N_VOTES:
        return f"malformed row: {len(row)} columns, need image name, box and {N_VOTES} votes"
    name = row[0].strip()
    if not name:
        return "empty image name"
    box = _BOX.match(row[1])
    if box is None:
        return "malformed face box (need \"(x, y, w, h)\")"
    try:
        votes = np.array([int(v) for v in row[2:]], dtype=np.float64)
    except ValueError:
        return f"malformed vote counts (need {N_VOTES} non-negative integers)"
    if (votes < 0).any():
        return f"malformed vote counts (need {N_VOTES} non-negative integers)"
    return name, tuple(int(g) for g in box.groups()), votes


def vote_share(votes: np.ndarray) -> np.ndarray:
    """The 8 expressions' share of the votes, single votes zeroed (sums to 1)."""
    share = counted(votes)[:UNKNOWN]
    return (share / max(share.sum(), 1.0)).astype(np.float32)


def expression_majority(votes: np.ndarray) -> bool:
    """True when the 8 expressions hold more than half of the votes (single votes zeroed)."""
    kept = counted(votes)
    return bool(kept[:UNKNOWN].sum() > 0.5 * kept.sum())


def _read_folder(folder: Path, split: str, mode: LabelMode, votes_as_target: bool,
                 records: list[Record], skipped: list[Skipped], dropped: dict[str, int],
                 ambiguous: list[Record] | None = None) -> None:
    label_file = folder / LABEL_FILE
    present = {p.name for p in folder.iterdir()}
    seen: set[str] = set()  # image names listed so far
    for line_no, row in csv_rows(label_file):
        where = f"{label_file}:{line_no}"
        if isinstance(row, str):
            skipped.append(Skipped(where, row))
            continue
        if not row or not any(cell.strip() for cell in row):
            continue
        parsed = _parse_row(row)
        if isinstance(parsed, str):
            if line_no == 1 and _is_header(row):
                continue
            skipped.append(Skipped(where, parsed))
            continue
        name, box, votes = parsed
        if name in seen:
            # a repeated row would count the face twice in every score and give two records one key; the reason
            # names no line, so that data inspect counts all repeats as one group
            skipped.append(Skipped(where, "duplicate row: the image is listed on an earlier line (that row is kept)"))
            continue
        seen.add(name)
        if name not in present:
            skipped.append(Skipped(where, "image file missing"))
            continue
        labelled = label_votes(votes, mode)
        if isinstance(labelled, str):
            if ambiguous is not None and labelled == "unknown" and expression_majority(votes):
                share = vote_share(votes)
                ambiguous.append(Record(key=f"{folder.name}/{name}", split=f"{split}_ambiguous",
                                        path=folder / name, label=int(np.argmax(share)), target=share, box=box))
                labelled = "unknown (kept as ambiguous)"
            dropped[labelled] = dropped.get(labelled, 0) + 1
            continue
        label, target = labelled
        if votes_as_target:
            target = vote_share(votes)
        path = folder / name
        records.append(Record(key=f"{folder.name}/{name}", split=split, path=path, label=label,
                              target=target, box=box))


def _is_header(row: list[str]) -> bool:
    # Some re-distributions add a header line; a first row naming no image file is one.
    name = row[0].strip().lower()
    return bool(name) and not name.endswith((".png", ".jpg", ".jpeg"))


def detect(root: Path) -> bool:
    return root.is_dir() and any((root / name / LABEL_FILE).is_file() for name in SPLIT_FOLDERS)


@register_reader("ferplus", detect=detect,
                 description="FER+ original layout: FER2013Train|Valid|Test/ with fer*.png + label.csv (10 votes)")
def read(root: Path, *, mode: LabelMode | str = LabelMode.MAJORITY, votes: bool = False,
         ambiguous: bool = False) -> DatasetIndex:
    mode = parse_mode(mode)
    if votes and mode is not LabelMode.MAJORITY:
        raise ConfigError(f"FER+ votes=true goes with the majority mode, not '{mode.value}'",
                          "drop votes=true, or use mode=majority")
    if ambiguous and not votes:
        # An ambiguous face has no majority label to train on: only its vote distribution says what it shows.
        raise ConfigError("FER+ ambiguous=true needs votes=true (its faces train on their vote distribution)",
                          "add votes=true (data.options.votes=true), or drop ambiguous")
    folders = [(root / name, split) for name, split in SPLIT_FOLDERS.items() if (root / name / LABEL_FILE).is_file()]
    if not folders:
        raise DataError(f"{root} holds no FER2013Train/FER2013Valid/FER2013Test folder with a {LABEL_FILE}",
                        "point at the FER+ data folder (the one holding FER2013Train/)")
    splits, skipped, dropped = {}, [], {}
    for folder, split in folders:
        records: list[Record] = []
        kept: list[Record] | None = [] if ambiguous else None
        dropped[split] = {}
        _read_folder(folder, split, mode, bool(votes), records, skipped, dropped[split], kept)
        splits[split] = tuple(records)
        if kept is not None:
            splits[f"{split}_ambiguous"] = tuple(kept)
        log.debug("FER+ %s: %d images (%s mode), dropped %s", split, len(records), mode.value, dropped[split])
    info = {"framing": dict(FRAMING), "detector": FRAMING["detector"], "mode": mode.value,
            "target": "distribution" if votes else TARGET_KIND[mode], "dropped": dropped,
            "votes": list(EXPRESSIONS_8) + ["unknown", "not a face"],
            "splits_on_request": {f"{split}_ambiguous": "data.options.ambiguous=true (with votes=true)"
                                  for _, split in folders}}
    return DatasetIndex(format="ferplus", root=root, task="classification", classes=EXPRESSIONS_8,
                        splits=splits, skipped=tuple(skipped), info=info)
