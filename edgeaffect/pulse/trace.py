"""From timestamped colour samples to a heart rate: uniform resampling, windows, and a live track's window.

Cameras do not deliver frames evenly (the real webcam recording has gaps of
48-64 ms among its 32 ms frames), and a spectrum assumes even sampling: on
that recording, treating frames as evenly spaced read the oximeter at 73.5
bpm instead of 71.3.  So every trace is first interpolated onto an even grid
at its mean frame rate, by the frames' own times.  Grid points farther than
``MAX_GAP_S`` from any usable frame (face lost, timestamps broken) stay NaN,
and :func:`estimate` gives no heart rate for a window missing too much, or
for one whose picture hardly changed (a still image: ``pulse.quality``).
:func:`wave_rate` gives none for a flat wave (a sensor stuck at one value).
Torch-free.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from edgeaffect.pulse.base import fill_gaps, pulse_wave
from edgeaffect.pulse.quality import MIN_VARIATION_PCT, variation_pct
from edgeaffect.pulse.spectrum import MIN_SECONDS, bandpass, heart_rate, snr_db

MAX_GAP_S = 0.25  # a missing stretch longer than this is not bridged by interpolation


@dataclass(frozen=True)
class PulseEstimate:
    """Heart rate and signal quality of one window; ``hr_bpm`` is NaN for "no estimate"."""

    hr_bpm: float
    snr_db: float
    fs: float
    wave: np.ndarray | None = None  # band-passed pulse wave on the even grid
    # how much the picture moved the skin colour in the heart-rate band, % of its level (pulse.quality); NaN: not read
    variation_pct: float = float("nan")

    @property
    def ok(self) -> bool:
        return bool(np.isfinite(self.hr_bpm))

    @property
    def still(self) -> bool:
        """No estimate because the skin colour did not vary as a pulse makes it (a still picture)."""
        return bool(self.variation_pct < MIN_VARIATION_PCT)


NO_ESTIMATE = PulseEstimate(float("nan"), float("nan"), float("nan"))


def uniform(times: np.ndarray, values: np.ndarray, fs: float | None = None,
            span: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """(grid times, values on the grid, fs): ``values`` (n,) or (n, k) interpolated at an even rate.

    The grid covers ``span`` (start, end seconds) when given, else the usable samples; so a
    window whose first seconds lack a face shows those seconds as missing, not as a shorter window.
    """
    times = np.asarray(times, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    flat = values.ndim == 1
    v = values[:, None] if flat else values
    ok = np.isfinite(times) & np.all(np.isfinite(v), axis=1)
    t, v = times[ok], v[ok]
    if len(t) < 2 or t[-1] <= t[0]:
        return np.zeros(0), np.zeros((0,) if flat else (0, v.shape[1])), float("nan")
    fs = fs or (len(t) - 1) / (t[-1] - t[0])
    lo, hi = span if span is not None else (t[0], t[-1])
    grid = lo + np.arange(int(np.floor((hi - lo) * fs + 1e-9)) + 1) / fs
    out = np.stack([np.interp(grid, t, v[:, c]) for c in range(v.shape[1])], axis=1)
    right = np.clip(np.searchsorted(t, grid), 1, len(t) - 1)
    nearest = np.minimum(np.abs(grid - t[right - 1]), np.abs(t[right] - grid))
    out[nearest > MAX_GAP_S] = np.nan
    return grid, (out[:, 0] if flat else out), float(fs)


def estimate(name: str, times: np.ndarray, rgb: np.ndarray, *, span: tuple[float, float] | None = None,
             keep_wave: bool = False, change: np.ndarray | None = None) -> PulseEstimate:
    """Heart rate by estimator ``name`` from per-frame skin colour at ``times`` (seconds) over ``span``.

    ``change`` (n, 3), when the sampler knows it (``skin.HeldSkin``), is each frame's
    change of the skin colour made by the picture, not by the box (NaN: unknown,
    counted as none); the quality gate reads the picture's variation from it, else
    from ``rgb`` itself.  Below ``quality.MIN_VARIATION_PCT`` there is no estimate.
    """
    _, grid_rgb, fs = uniform(times, rgb, span=span)
    if not len(grid_rgb) or len(grid_rgb) < MIN_SECONDS * fs:
        return NO_ESTIMATE
    filled = fill_gaps(grid_rgb)
    if filled is None:
        return NO_ESTIMATE
    picture = filled
    if change is not None:  # the picture's own trace: its frame-to-frame changes summed
        steps = np.nan_to_num(np.asarray(change, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        _, picture, _ = uniform(times, np.cumsum(steps, axis=0), fs=fs, span=span)
    varied = variation_pct(picture, filled.mean(axis=0), fs)
    if not varied >= MIN_VARIATION_PCT:
        return PulseEstimate(float("nan"), float("nan"), fs, None, varied)
    wave = pulse_wave(name, filled, fs)
    if wave is None:
        return NO_ESTIMATE
    hr = heart_rate(wave, fs)
    return PulseEstimate(hr, snr_db(wave, fs, hr), fs, wave if keep_wave else None, varied)


def wave_rate(times: np.ndarray, wave: np.ndarray, *, span: tuple[float, float] | None = None,
              keep_wave: bool = False) -> PulseEstimate:
    """Heart rate of a pulse wave given per frame (a contact sensor's, or a video model's output).

    Read off the same band-pass and spectrum as the estimators' waves; more than
    5 % of the window missing gives no estimate, and so does a flat wave (a
    sensor stuck at one value: filtering the rounding error of a constant 1e30
    read 90 bpm).  The wave is scaled to its range first, so its size (a raw ADC
    count or 1e30) does not matter to the filter.
    """
    _, grid, fs = uniform(times, wave, span=span)
    if not len(grid) or len(grid) < MIN_SECONDS * fs or np.isnan(grid).mean() > 0.05:
        return NO_ESTIMATE
    ok = np.isfinite(grid)
    values = grid[ok]
    with np.errstate(over="ignore", invalid="ignore"):
        spread = float(np.max(values) - np.min(values))
    if not np.isfinite(spread) or spread <= 64 * np.finfo(np.float64).eps * float(np.max(np.abs(values))):
        return NO_ESTIMATE
    scaled = (grid - float(np.median(values))) / spread
    wave = bandpass(np.interp(np.arange(len(grid)), np.flatnonzero(ok), scaled[ok]), fs)
    hr = heart_rate(wave, fs)
    return PulseEstimate(hr, snr_db(wave, fs, hr), fs, wave if keep_wave else None)


def windows(seconds: float, window_s: float, hop_s: float) -> list[tuple[float, float]]:
    """(start, end) of every full window of ``window_s`` seconds, ``hop_s`` apart, in ``[0, seconds]``."""
    if seconds + 1e-6 < window_s:
        return []
    return [(float(s), float(s + window_s)) for s in np.arange(0.0, seconds - window_s + 1e-6, hop_s)]


class PulseWindow:
    """The rolling colour window of one live track; an estimate every ``every_s`` once ``window_s`` is full."""

    def __init__(self, estimator: str, *, window_s: float = 10.0, every_s: float = 1.0) -> None:
        self.estimator, self.window_s, self.every_s = estimator, window_s, every_s
        self._samples: deque[tuple[float, np.ndarray, np.ndarray | None]] = deque()
        self._next = -np.inf
        self.latest = NO_ESTIMATE

    def update(self, t: float, rgb: np.ndarray, change: np.ndarray | None = None) -> PulseEstimate:
        """Add one frame's colour (NaNs when the face gave no skin); returns the newest estimate.

        ``change``: the part of the colour's change since the last frame that the
        picture made (``skin.HeldSkin``); a window given it is gated on it.
        """
        self._samples.append((float(t), np.asarray(rgb, dtype=np.float64),
                              None if change is None else np.asarray(change, dtype=np.float64)))
        while self._samples and self._samples[0][0] < t - self.window_s:
            self._samples.popleft()
        if t - self._samples[0][0] >= 0.95 * self.window_s and t >= self._next:
            self._next = t + self.every_s
            times = np.fromiter((s[0] for s in self._samples), dtype=np.float64, count=len(self._samples))
            changes = [s[2] for s in self._samples]
            change = None if any(c is None for c in changes) else np.stack(changes)
            self.latest = estimate(self.estimator, times, np.stack([s[1] for s in self._samples]),
                                   span=(t - self.window_s, t), change=change)
        return self.latest
