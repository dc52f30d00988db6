"""The pulse-estimator registry and the steps every estimator shares.

An estimator turns a trace of skin colour — one mean (R, G, B) per frame,
sampled at ``fs`` Hz — into a pulse wave, one value per frame.  Estimators
register by name (``green``, ``chrom``, ``pos``); :func:`pulse_wave` fills
short gaps where the face was lost, runs the estimator and band-passes the
result (0.7-3.5 Hz, see ``spectrum.py``).  Adding one = one file + one line in
``__init__``.  Torch-free.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from edgeaffect.errors import unknown_name
from edgeaffect.pulse.spectrum import bandpass

MAX_GAP_FRACTION = 0.2  # a window missing more of its frames than this gets no estimate


@dataclass(frozen=True)
class Estimator:
    name: str
    wave: Callable[[np.ndarray, float], np.ndarray]  # (n, 3) RGB means, fs -> (n,) pulse wave
    reference: str  # the paper it follows


ESTIMATORS: dict[str, Estimator] = {}


def register_estimator(name: str, *, reference: str) -> Callable:
    def wrap(fn: Callable[[np.ndarray, float], np.ndarray]) -> Callable[[np.ndarray, float], np.ndarray]:
        ESTIMATORS[name] = Estimator(name, fn, reference)
        return fn

    return wrap


def get_estimator(name: str) -> Estimator:
    import edgeaffect.pulse  # noqa: F401  (registers the built-in estimators)

    if name not in ESTIMATORS:
        raise unknown_name("pulse estimator", name, ESTIMATORS)
    return ESTIMATORS[name]


def fill_gaps(rgb: np.ndarray, *, max_fraction: float = MAX_GAP_FRACTION) -> np.ndarray | None:
    """Rows of NaN (no face) linearly interpolated; None when too many are missing to trust the window."""
    rgb = np.asarray(rgb, dtype=np.float64)
    ok = np.all(np.isfinite(rgb), axis=1) & np.all(rgb > 0, axis=1)
    if ok.sum() < 2 or 1.0 - ok.mean() > max_fraction:
        return None
    if ok.all():
        return rgb
    idx = np.arange(len(rgb))
    return np.stack([np.interp(idx, idx[ok], rgb[ok, c]) for c in range(rgb.shape[1])], axis=1)


def overlap_add(rgb: np.ndarray, fs: float, seconds: float,
                project: Callable[[np.ndarray], np.ndarray], *, hop: int | None = None,
                hann: bool = False) -> np.ndarray:
    """Run ``project`` on sliding windows of ``seconds`` (``hop`` frames apart, default half a window), summed.

    The windowed-projection-plus-overlap-add scheme of CHROM and POS: each short
    window is normalised by its own mean colour, so slow changes of light and
    skin tone drop out.
    """
    n = len(rgb)
    size = max(int(round(seconds * fs)), 2)
    out = np.zeros(n)
    if n < size:
        return project(rgb)
    hop = max(hop or size // 2, 1)
    starts = list(range(0, n - size + 1, hop))
    if starts[-1] != n - size:
        starts.append(n - size)
    taper = np.hanning(size) if hann else np.ones(size)
    for s in starts:
        out[s:s + size] += project(rgb[s:s + size]) * taper
    return out


def pulse_wave(name: str, rgb: np.ndarray, fs: float) -> np.ndarray | None:
    """The band-passed pulse wave of ``rgb`` by estimator ``name``; None when too much is missing."""
    estimator = get_estimator(name)
    filled = fill_gaps(rgb)
    if filled is None:
        return None
    return bandpass(estimator.wave(filled, fs), fs)


def estimator_names(text: str) -> tuple[str, ...] | None:
    """``"pos"``, ``"pos,chrom"`` or ``"all"`` as estimator names; None when ``text`` names something else."""
    import edgeaffect.pulse  # noqa: F401  (registers the built-in estimators)

    names = tuple(ESTIMATORS) if text.strip() == "all" else tuple(t.strip() for t in text.split(",") if t.strip())
    return names if names and all(n in ESTIMATORS for n in names) else None
