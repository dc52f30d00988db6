"""Helpers shared by the per-subject readers: participant-independent splits, typed options.

Physiological and fusion datasets are evaluated across people: a subject's
windows are strongly correlated, so every subject lands in exactly one split.
``assign_subjects`` gives either a seeded train/valid/test partition or one
fold of a seeded k-fold partition, or checks a user-given assignment.
Torch-free.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from edgeaffect.errors import ConfigError


def assign_subjects(subjects: Iterable[str], *, seed: int = 0, valid: float = 0.2, test: float = 0.2,
                    folds: int | None = None, fold: int = 0,
                    splits: Mapping[str, Sequence[str]] | None = None) -> dict[str, str]:
    """Map each subject to a split name.

    ``splits`` (split -> subjects) wins when given; subjects it does not name are
    left out.  With ``folds=k`` the seeded shuffle is cut into k groups: group
    ``fold`` is "test", the next group "valid" (when k >= 3) and the rest "train".
    Otherwise ``valid``/``test`` fractions of the subjects (at least one each
    when there are three or more subjects) are held out.
    """
    names = sorted(set(subjects), key=_natural)
    if splits is not None:
        out: dict[str, str] = {}
        for split, members in splits.items():
            for s in members:
                if s in out:
                    raise ConfigError(f"subject '{s}' is listed in both '{out[s]}' and '{split}'",
                                      "give every subject one split: splits must be subject-disjoint")
                out[s] = split
        return {s: out[s] for s in names if s in out}
    order = [names[i] for i in np.random.default_rng(seed).permutation(len(names))]
    if folds is not None:
        if not 2 <= folds <= len(names) or not 0 <= fold < folds:
            raise ConfigError(f"folds={folds}, fold={fold} does not fit {len(names)} subjects",
                              "use 2 <= folds <= number of subjects and 0 <= fold < folds")
        groups = [order[i::folds] for i in range(folds)]
        out = {s: "train" for s in order}
        out.update({s: "test" for s in groups[fold]})
        if folds >= 3:
            out.update({s: "valid" for s in groups[(fold + 1) % folds]})
        return out
    n = len(order)
    n_test = max(int(round(n * test)), 1 if n >= 3 and test > 0 else 0)
    n_valid = max(int(round(n * valid)), 1 if n >= 3 and valid > 0 else 0)
    out = {s: "test" for s in order[:n_test]}
    out.update({s: "valid" for s in order[n_test:n_test + n_valid]})
    out.update({s: "train" for s in order[n_test + n_valid:]})
    return out


def _natural(name: str) -> tuple:
    """Sort s2 before s10."""
    digits = "".join(c for c in name if c.isdigit())
    return (name.rstrip("0123456789"), int(digits) if digits else -1, name)


def parse_options(cls: type, options: Mapping[str, Any]) -> Any:
    """Build the reader's options dataclass, values typed by its fields; an unknown key is a ConfigError
    naming the nearest valid one."""
    from edgeaffect.keyvalue import typed

    return cls(**typed(cls, options, kind="dataset option"))
