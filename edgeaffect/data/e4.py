"""Reader for Empatica E4 exports: EDA + BVP windows for signal-only models.

A session folder holds the E4 CSVs (``EDA.csv`` 4 Hz, ``BVP.csv`` 64 Hz, and
others, see ``signals.read_e4_csv``).  The root is either one session or a
folder of session folders (one per subject).  Streams are aligned on their
unix start times, trimmed to the span both cover, and cut into fixed windows
of ``window`` seconds.  With three or more sessions the splits are
subject-disjoint; a single session is split in time (contiguous blocks, so
neighbouring, correlated windows rarely straddle two splits).  Torch-free.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from edgeaffect.data.base import DatasetIndex, Skipped, register_reader
from edgeaffect.data.signals import Signal, read_e4_csv
from edgeaffect.data.subjects import assign_subjects, parse_options
from edgeaffect.errors import DataError


@dataclass(frozen=True)
class SignalWindow:
    """One window of a wristband session: EDA and BVP samples over [start, start + seconds)."""

    key: str
    split: str
    subject: str
    start: float  # seconds after the session's common start
    seconds: float
    eda: np.ndarray
    bvp: np.ndarray


@dataclass(frozen=True)
class E4Options:
    window: float = 10.0  # seconds per window
    stride: float | None = None  # seconds between window starts; None = window
    skip: float = 0.0  # seconds dropped at the start (electrode settling)
    time_split: tuple[float, float, float] = (0.6, 0.2, 0.2)  # train/valid/test share of one session
    seed: int = 0
    valid: float = 0.2
    test: float = 0.2
    splits: Mapping[str, Sequence[str]] | None = None


def _is_session(path: Path) -> bool:
    return (path / "EDA.csv").is_file() and (path / "BVP.csv").is_file()


def detect(root: Path) -> bool:
    return root.is_dir() and (_is_session(root) or any(_is_session(p) for p in root.iterdir() if p.is_dir()))


def _aligned(eda: Signal, bvp: Signal) -> tuple[float, np.ndarray, np.ndarray, float]:
    """Common start (unix), both traces trimmed to the span both cover, and that span in seconds."""
    start = max(eda.start_unix, bvp.start_unix)
    e = eda.values[int(round((start - eda.start_unix) * eda.rate_hz)):]
    b = bvp.values[int(round((start - bvp.start_unix) * bvp.rate_hz)):]
    seconds = min(len(e) / eda.rate_hz, len(b) / bvp.rate_hz)
    if seconds <= 0:
        raise DataError(f"EDA and BVP of {start} do not overlap in time", "use files from the same session")
    return start, e[: int(seconds * eda.rate_hz)], b[: int(seconds * bvp.rate_hz)], seconds


@register_reader("e4", detect=detect, description="Empatica E4 export: EDA.csv + BVP.csv (one or more sessions)")
def read(root: Path, **options) -> DatasetIndex:
    opts = parse_options(E4Options, options)
    sessions = [root] if _is_session(root) else sorted(p for p in root.iterdir() if p.is_dir() and _is_session(p))
    loaded, skipped = {}, []
    for folder in sessions:
        try:
            eda, bvp = read_e4_csv(folder / "EDA.csv"), read_e4_csv(folder / "BVP.csv")
            loaded[folder.name] = (eda, bvp, *_aligned(eda, bvp))
        except DataError as exc:
            skipped.append(Skipped(str(folder), exc.what))
    if not loaded:
        raise DataError(f"no readable E4 session under {root}", "; ".join(s.reason for s in skipped[:3]))
    by_subject = len(loaded) >= 3 or opts.splits is not None
    owner = assign_subjects(loaded, seed=opts.seed, valid=opts.valid, test=opts.test,
                            splits=opts.splits) if by_subject else {}
    splits: dict[str, list[SignalWindow]] = {"train": [], "valid": [], "test": []}
    step = opts.stride or opts.window
    for name, (eda, bvp, start, e, b, seconds) in loaded.items():
        if by_subject and name not in owner:
            continue
        starts = np.arange(opts.skip, seconds - opts.window + 1e-9, step)
        if len(starts) == 0:
            skipped.append(Skipped(str(root / name), f"{seconds:.1f} s is shorter than one {opts.window} s window"))
        edges = np.cumsum(opts.time_split)[:2] / sum(opts.time_split) * len(starts)
        for i, t0 in enumerate(starts):
            split = owner[name] if by_subject else ("train", "valid", "test")[int(np.searchsorted(edges, i, "right"))]
            ei, bi = int(round(t0 * eda.rate_hz)), int(round(t0 * bvp.rate_hz))
            splits.setdefault(split, []).append(SignalWindow(
                f"{name}_{t0:08.2f}", split, name, float(t0), opts.window,
                np.asarray(e[ei:ei + int(round(opts.window * eda.rate_hz))], np.float32),
                np.asarray(b[bi:bi + int(round(opts.window * bvp.rate_hz))], np.float32)))
    first = next(iter(loaded.values()))
    return DatasetIndex(
        format="e4", root=root, task="signal", classes=(), splits={k: tuple(v) for k, v in splits.items()},
        skipped=tuple(skipped),
        info={"eda_hz": first[0].rate_hz, "bvp_hz": first[1].rate_hz, "seconds": {k: v[5] for k, v in loaded.items()},
              "start": {k: v[2] for k, v in loaded.items()}, "window": opts.window, "stride": step,
              "split_by": "subject" if by_subject else "time"})
