"""Seeded subset selection for calibration and verification samples.

Calibration wants every class represented (a min/max range estimated on 300
"happy" faces clips the other expressions), so the default is a class-balanced
subset: classes take turns, each in its own seeded shuffle, and a class that
runs out leaves its turns to the others.  Torch-free.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np

from edgeaffect.errors import DataError

# Splits calibration must never read: tuning ranges on test data leaks it into the reported numbers.
FORBIDDEN_CALIBRATION_SPLITS = ("test",)


def check_calibration_split(split: str) -> None:
    if any(word in split.lower() for word in FORBIDDEN_CALIBRATION_SPLITS):
        raise DataError(f"calibration refuses the '{split}' split: calibration must never see test data",
                        "calibrate on --split train (default) or valid")


def random_subset(count: int, n: int | None, seed: int) -> list[int]:
    """``n`` indices out of ``count`` in a seeded random order (all when n is None or too large)."""
    order = np.random.default_rng(seed).permutation(count)
    return [int(i) for i in (order if n is None else order[:n])]


def balanced_subset(labels: Sequence[int | None], n: int | None, seed: int) -> list[int]:
    """Indices of a class-balanced subset of size ``n`` (round-robin over seeded per-class shuffles).

    Samples without a label are used only when the labelled ones run out.
    """
    if not labels:
        raise DataError("no samples to choose calibration data from", "point at a dataset with images in the split")
    rng = np.random.default_rng(seed)
    by_class: dict[int | None, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        by_class[label].append(i)
    queues = {c: [idx[j] for j in rng.permutation(len(idx))] for c, idx in by_class.items() if c is not None}
    unlabelled = [by_class[None][j] for j in rng.permutation(len(by_class[None]))] if None in by_class else []
    want = len(labels) if n is None else min(n, len(labels))
    chosen: list[int] = []
    classes = sorted(queues)
    while len(chosen) < want and any(queues.values()):
        for c in classes:
            if queues[c] and len(chosen) < want:
                chosen.append(queues[c].pop())
    chosen.extend(unlabelled[: want - len(chosen)])
    return chosen
