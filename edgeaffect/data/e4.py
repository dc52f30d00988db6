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
from edgeaffect.errors import DataError, check_range


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


def _sessions(root: Path) -> list[Path]:
    """The session folders under ``root`` (``root`` itself when it is one), or a DataError saying what is missing."""
    if not root.is_dir():
        raise DataError(f"{root} is a file, not an E4 session folder",
                        "point at the folder holding EDA.csv and BVP.csv (or a folder of such session folders)")
    if _is_session(root):
        return [root]
    found = sorted(p for p in root.iterdir() if p.is_dir() and _is_session(p))
    if found:
        return found
    has = [name for name in ("EDA.csv", "BVP.csv") if (root / name).is_file()]
    if has:  # half a session: say which file is missing rather than "no session"
        missing = "BVP.csv" if has == ["EDA.csv"] else "EDA.csv"
        raise DataError(f"{root} holds {has[0]} but no {missing}; an E4 session needs both",
                        f"copy {missing} from the same E4 export into {root}")
    raise DataError(f"{root} holds no E4 session (no EDA.csv + BVP.csv in it or in its sub-folders)",
                    "point at a session folder from an E4 export, or at a folder of session folders")


def _aligned(folder: Path, eda: Signal, bvp: Signal) -> tuple[float, np.ndarray, np.ndarray, float]:
    """Common start (unix), both traces trimmed to the span both cover, and that span in seconds."""
    start = max(eda.start_unix, bvp.start_unix)
    e = eda.values[int(round((start - eda.start_unix) * eda.rate_hz)):]
    b = bvp.values[int(round((start - bvp.start_unix) * bvp.rate_hz)):]
    seconds = min(len(e) / eda.rate_hz, len(b) / bvp.rate_hz)
    if seconds <= 0:
        fix = "use EDA.csv and BVP.csv of the same session (row 1 of each holds its unix start time in seconds)"
        # a start in milliseconds is 1000x the others: the commonest cause of two files that never overlap
        late = [name for name, sig in (("EDA.csv", eda), ("BVP.csv", bvp)) if sig.start_unix > 1e11]
        if late:
            fix += f"; row 1 of {late[0]} looks like milliseconds: divide it by 1000"
        raise DataError(f"{folder}: EDA.csv ({eda.start_unix:.0f} + {eda.seconds:.0f} s) and BVP.csv "
                        f"({bvp.start_unix:.0f} + {bvp.seconds:.0f} s) do not overlap in time", fix)
    return start, e[: int(seconds * eda.rate_hz)], b[: int(seconds * bvp.rate_hz)], seconds


def _check_options(opts: E4Options) -> None:
    # a zero or NaN window or stride would make np.arange divide by zero or loop forever
    check_range("window", opts.window, 0.1, 86_400)
    if opts.stride is not None:
        check_range("stride", opts.stride, 0.1, 86_400)
    check_range("skip", opts.skip, 0, 86_400)


def _too_sparse(opts: E4Options, eda: Signal, bvp: Signal) -> str | None:
    """Why a window of this session would hold no sample of a trace (a low rate and a short window), or None."""
    for name, sig in (("EDA", eda), ("BVP", bvp)):
        if int(round(opts.window * sig.rate_hz)) < 1:
            return f"a {opts.window:g} s window holds no {name} sample at {sig.rate_hz:g} Hz"
    return None


@register_reader("e4", detect=detect, description="Empatica E4 export: EDA.csv + BVP.csv (one or more sessions)")
def read(root: Path, **options) -> DatasetIndex:
    opts = parse_options(E4Options, options)
    _check_options(opts)
    loaded, skipped, failed = {}, [], []
    sessions = _sessions(root)
    for folder in sessions:
        try:
            eda, bvp = read_e4_csv(folder / "EDA.csv"), read_e4_csv(folder / "BVP.csv")
            loaded[folder.name] = (eda, bvp, *_aligned(folder, eda, bvp), folder)
        except DataError as exc:
            skipped.append(Skipped(str(folder), exc.what))
            failed.append(exc)
    if not loaded:
        if sessions == [root]:  # one session: its error already names the file and says what to do
            raise failed[0]
        # the causes are the user's lead: the first one's own fix, not a list of causes in the fix slot
        more = f" (and {len(failed) - 1} more session(s))" if len(failed) > 1 else ""
        raise DataError(f"no readable E4 session under {root}: {failed[0].what}{more}", failed[0].fix)
    by_subject = len(loaded) >= 3 or opts.splits is not None
    owner = assign_subjects(loaded, seed=opts.seed, valid=opts.valid, test=opts.test,
                            splits=opts.splits) if by_subject else {}
    splits: dict[str, list[SignalWindow]] = {"train": [], "valid": [], "test": []}
    step = opts.stride or opts.window
    for name, (eda, bvp, start, e, b, seconds, folder) in loaded.items():
        if by_subject and name not in owner:
            continue
        sparse = _too_sparse(opts, eda, bvp)
        starts = np.arange(opts.skip, seconds - opts.window + 1e-9, step) if sparse is None else np.zeros(0)
        if sparse is not None:
            skipped.append(Skipped(str(folder), sparse))
        elif len(starts) == 0:
            skipped.append(Skipped(str(folder), f"{seconds:.1f} s is shorter than one {opts.window} s window"))
        edges = np.cumsum(opts.time_split)[:2] / sum(opts.time_split) * len(starts)
        for i, t0 in enumerate(starts):
            split = owner[name] if by_subject else ("train", "valid", "test")[int(np.searchsorted(edges, i, "right"))]
            ei, bi = int(round(t0 * eda.rate_hz)), int(round(t0 * bvp.rate_hz))
            # the readers bounded every value (signals.VALUE_LIMITS, float32 range): this cast cannot overflow
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
