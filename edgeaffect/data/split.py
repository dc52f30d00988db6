"""Subject-disjoint train / valid / test splits, saved to a JSON file so a run can be repeated.

``make_splits`` pools every record of a :class:`DatasetIndex` and deals whole
subjects to the splits, so no person's face is both learned and tested (the
leak that inflates per-subject physiological and expression results).  A
dataset without subjects is split by sample, and says so.  ``check_no_leak``
fails loudly, naming the subjects, when a split shares people.
``write_split_file`` / ``apply_split_file`` store and re-apply the ``key ->
split`` assignment.

The grouping is hand-written (a seeded greedy deal of shuffled groups) rather
than scikit-learn's GroupShuffleSplit, because that one sizes splits by the
number of groups, not of samples, and needs two passes for three splits;
subjects with very different sample counts would skew the ratios.
"""
from __future__ import annotations

import dataclasses
import enum
import json
import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgeaffect.data.base import DatasetIndex, Skipped
from edgeaffect.errors import ConfigError, DataError
from edgeaffect.io import atomic_write_json

log = logging.getLogger(__name__)

SPLIT_NAMES = ("train", "valid", "test")
SPLIT_FILE_VERSION = 1


class SplitBy(str, enum.Enum):
    SUBJECT = "subject"
    SAMPLE = "sample"


def parse_ratios(ratios: Sequence[float] | str) -> tuple[float, ...]:
    """``(0.7, 0.15, 0.15)`` or ``"0.7,0.15,0.15"`` -> train/valid[/test] fractions summing to 1."""
    try:
        values = tuple(float(r) for r in (ratios.split(",") if isinstance(ratios, str) else ratios))
    except ValueError:
        raise ConfigError(f"ratios '{ratios}' are not numbers", "give e.g. --ratios 0.7,0.15,0.15") from None
    if not 2 <= len(values) <= 3 or any(v <= 0 for v in values) or abs(sum(values) - 1.0) > 0.01:
        raise ConfigError(f"ratios {values} must be 2 or 3 positive fractions summing to 1",
                          "give e.g. --ratios 0.7,0.15,0.15 (train, valid, test) or 0.8,0.2")
    return tuple(v / sum(values) for v in values)


def _groups(records: Sequence[Any], by: SplitBy) -> tuple[dict[str, list[int]], str | None]:
    """Group record positions by subject (or per sample); plus a warning when subjects are missing."""
    groups: dict[str, list[int]] = {}
    subjects = [getattr(r, "subject", None) for r in records]
    known = sum(s is not None for s in subjects)
    warning = None
    if by is SplitBy.SUBJECT and known == 0:
        warning = "the dataset names no subjects: split by sample, so the same person may appear in several splits"
    elif by is SplitBy.SUBJECT and known < len(records):
        warning = f"{len(records) - known:,} samples name no subject: each is split on its own"
    for i, subject in enumerate(subjects):
        key = f"subject:{subject}" if by is SplitBy.SUBJECT and subject is not None else f"sample:{i}"
        groups.setdefault(key, []).append(i)
    return groups, warning


def _deal(sizes: list[int], ratios: tuple[float, ...], seed: int) -> list[int]:
    """Split index per group: shuffled groups, each to the split furthest below its target size."""
    order = np.random.default_rng(seed).permutation(len(sizes))
    targets = np.array(ratios) * sum(sizes)
    filled = np.zeros(len(ratios))
    where = [0] * len(sizes)
    for rank, g in enumerate(order):
        # the first groups seed every split, so none stays empty when there are enough groups
        s = rank if rank < len(ratios) else int(np.argmax(targets - filled))
        where[g] = s
        filled[s] += sizes[g]
    return where


def make_splits(index: DatasetIndex, *, ratios: Sequence[float] | str = (0.7, 0.15, 0.15), seed: int = 0,
                by: SplitBy | str = SplitBy.SUBJECT) -> DatasetIndex:
    """Re-split every record of ``index`` into subject-disjoint train / valid[/ test] splits."""
    ratios = parse_ratios(ratios)
    by = SplitBy(getattr(by, "value", by))
    records = [r for split in index.splits.values() for r in split]
    keys = [r.key for r in records]
    if len(set(keys)) != len(keys):
        raise DataError(f"{index.root}: record keys repeat across splits", "report this: the reader must name "
                        "every sample uniquely")
    groups, warning = _groups(records, by)
    if len(groups) < len(ratios):
        raise DataError(f"{index.root} has {len(groups)} {by.value}(s), too few for {len(ratios)} splits",
                        "use fewer splits (--ratios 0.8,0.2) or more data")
    if warning:
        log.warning(warning)
    names = SPLIT_NAMES[: len(ratios)]
    members = list(groups.values())
    where = _deal([len(m) for m in members], ratios, seed)
    split_of = {i: names[s] for m, s in zip(members, where) for i in m}
    splits = {n: tuple(dataclasses.replace(r, split=n) for i, r in enumerate(records) if split_of[i] == n)
              for n in names}
    has_subjects = any(getattr(r, "subject", None) is not None for r in records)
    info = {**index.info, "split": {"by": by.value if has_subjects else SplitBy.SAMPLE.value,
                                    "seed": seed, "ratios": list(ratios), "warning": warning}}
    return dataclasses.replace(index, splits=splits, info=info)


def check_no_leak(index: DatasetIndex) -> None:
    """Raise DataError naming the subjects that appear in more than one split."""
    seen: dict[str, set[str]] = {}
    for name, records in index.splits.items():
        for r in records:
            subject = getattr(r, "subject", None)
            if subject is not None:
                seen.setdefault(subject, set()).add(name)
    leaks = {s: sorted(n) for s, n in seen.items() if len(n) > 1}
    if leaks:
        shown = ", ".join(f"{s} ({'+'.join(n)})" for s, n in sorted(leaks.items())[:5])
        more = f" and {len(leaks) - 5} more" if len(leaks) > 5 else ""
        raise DataError(f"{len(leaks)} subject(s) appear in more than one split: {shown}{more}",
                        "make subject-disjoint splits: edgeaffect data split PATH --by subject --out split.json")


def write_split_file(index: DatasetIndex, path: str | Path) -> Path:
    """Store ``key -> split`` (plus how it was made) as JSON, atomically."""
    payload = {"version": SPLIT_FILE_VERSION, "format": index.format, "root": str(index.root),
               "split": index.info.get("split", {}),
               "counts": {n: len(r) for n, r in index.splits.items()},
               "subjects": {n: sorted(index.subjects(n)) for n in index.splits},
               "assignments": {r.key: n for n, records in index.splits.items() for r in records}}
    return atomic_write_json(Path(path), payload)


def read_split_file(path: str | Path) -> dict[str, str]:
    path = Path(path)
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        assignments = payload["assignments"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"cannot read split file {path} ({type(exc).__name__}: {exc})",
                        "write one with: edgeaffect data split PATH --out FILE") from None
    if not isinstance(assignments, dict):
        raise DataError(f"split file {path} has no key -> split mapping", "write it again with 'edgeaffect data split'")
    return {str(k): str(v) for k, v in assignments.items()}


def apply_split_file(index: DatasetIndex, path: str | Path) -> DatasetIndex:
    """Re-split ``index`` as the split file says; records it does not list are skipped and counted."""
    assignments = read_split_file(path)
    splits: dict[str, list[Any]] = {}
    skipped = list(index.skipped)
    seen = 0
    for records in index.splits.values():
        for r in records:
            name = assignments.get(r.key)
            if name is None:
                skipped.append(Skipped(r.key, f"not listed in split file {Path(path).name}"))
                continue
            seen += 1
            splits.setdefault(name, []).append(dataclasses.replace(r, split=name))
    if not splits:
        raise DataError(f"split file {path} lists none of the samples of {index.root}",
                        "it was made for another dataset; make a new one with 'edgeaffect data split'")
    if seen < len(assignments):
        log.warning("%s lists %d sample(s) the dataset no longer has", path, len(assignments) - seen)
    ordered = {n: tuple(splits[n]) for n in sorted(splits, key=lambda n: (SPLIT_NAMES + (n,)).index(n))}
    return dataclasses.replace(index, splits=ordered, skipped=tuple(skipped),
                               info={**index.info, "split_file": str(path)})
