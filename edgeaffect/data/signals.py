"""Physiological signals: Empatica E4 CSV reading, built-in EDA/BVP generators, resampling, alignment.

Torch-free.  The Empatica E4 wristband (also used by UBFC-Phys) exports one CSV
per sensor: row 1 holds the session start as a unix time (UTC), row 2 the sample
rate in Hz (repeated per column in multi-column files such as ACC.csv), then one
sample per row.  IBI.csv is different (beat times, no rate): see :func:`read_e4_ibi`.
The readers refuse, naming file and line, what no sensor writes: NaN, infinities,
values beyond float32, a rate header outside ``RATE_HZ``, and EDA / BVP values
outside ``VALUE_LIMITS``.  A UTF-8 byte-order mark before the first row is accepted.

When no recording is at hand, :func:`synth_eda` and :func:`synth_bvp` produce
plausible traces (tonic drift + phasic skin-conductance responses; a pulse wave
with a dicrotic notch and heart-rate variability) for fixtures and the
synthetic face videos.
"""
from __future__ import annotations

import math

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from edgeaffect._optional import require
from edgeaffect.errors import DataError


@dataclass(frozen=True)
class Signal:
    """A uniformly sampled signal: ``values`` is (n,) or (n, channels)."""

    start_unix: float
    rate_hz: float
    values: np.ndarray

    @property
    def seconds(self) -> float:
        return len(self.values) / self.rate_hz


@dataclass(frozen=True)
class BeatIntervals:
    """E4 IBI.csv: beat times (seconds after ``start_unix``) and the interval ending at each beat."""

    start_unix: float
    times: np.ndarray
    intervals: np.ndarray


# The largest magnitude a float32 holds: windows, model inputs and exports are float32, and a larger value read
# as float64 turns into inf at the cast (with a bare numpy RuntimeWarning) instead of an error naming its line.
FLOAT32_MAX = float(np.finfo(np.float32).max)
# Sample rates an E4-layout header may announce.  The E4 writes EDA and TEMP at 4 Hz, BVP at 64, ACC at 32 and
# HR at 1; other wristbands export this layout at other rates, hence the wide span.  Outside it the header is
# damaged, not a sensor: at 0.001 Hz a 10-s window holds no sample, at 4 MHz a day of data would be one window.
RATE_HZ = (0.5, 10_000.0)
# Values a sensor cannot produce, by E4 file name: (low, high, why).  A damaged or mislabelled file is refused
# with its line rather than trained on.  EDA is skin conductance in microsiemens: the E4 measures 0.01-100 uS
# and a conductance is never negative.  BVP is the E4's filtered photoplethysmogram in arbitrary units around
# 0: the sample recording spans about +-700; +-1e5 leaves room for strong pulses and motion artefacts while
# refusing 1e30-style garbage, which would swamp every normalised window it falls in.
VALUE_LIMITS = {"EDA": (0.0, 100.0, "skin conductance in microsiemens: 0-100 uS on the E4, never negative"),
                "BVP": (-1e5, 1e5, "the E4 pulse wave stays within +-100,000 (about +-700 in a real recording)")}


def _floats(line: str, path: Path, lineno: int) -> list[float]:
    try:
        values = [float(tok) for tok in line.replace(";", ",").split(",") if tok.strip()]
    except ValueError:
        values = [math.nan]
    # float() also reads 'nan' and 'inf': on an evenly sampled trace a sample cannot be left out without
    # shifting every later one, and a NaN target only surfaces epochs later as a diverged training loss
    if not all(math.isfinite(v) for v in values):
        raise DataError(f"{path}:{lineno}: not a finite number in '{line.strip()[:60]}'",
                        "fix or remove the line; E4 files hold only numbers after the two header rows")
    if any(abs(v) > FLOAT32_MAX for v in values):
        raise DataError(f"{path}:{lineno}: '{line.strip()[:60]}' is beyond the 32-bit float range (+-3.4e38)",
                        "fix or remove the line; no sensor writes such a value, the file is damaged")
    return values


def _read_lines(path: Path) -> list[str]:
    """The file's lines; utf-8-sig drops the byte-order mark spreadsheet programs put before the first row."""
    try:
        return path.read_text(encoding="utf-8-sig", errors="replace").splitlines()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}", "check the file exists and is readable") from None


def _check_header(path: Path, start: list[float], rate: list[float]) -> None:
    if not start or not rate:
        raise DataError(f"{path}: rows 1-2 must hold the unix start time and the sample rate in Hz",
                        "re-export the session; the header rows are missing")
    lo, hi = RATE_HZ
    bad = next((r for r in rate if not lo <= r <= hi), None)
    if bad is not None:
        raise DataError(f"{path}:2: sample rate {bad:g} Hz is outside the plausible {lo:g}-{hi:g} Hz",
                        "row 2 must hold the sensor's rate (the E4 writes 4 for EDA.csv, 64 for BVP.csv): "
                        "correct it or re-export the session")


def _check_values(path: Path, values: np.ndarray, line_numbers: list[int]) -> None:
    """Refuse a sample the sensor named by the file cannot produce (see VALUE_LIMITS), naming its line."""
    limits = VALUE_LIMITS.get(path.stem.upper())
    if limits is None or values.size == 0:
        return
    lo, hi, why = limits
    outside = np.flatnonzero(((values < lo) | (values > hi)).reshape(len(values), -1).any(axis=1))
    if outside.size:
        i = int(outside[0])
        shown = ", ".join(f"{v:g}" for v in np.ravel(values[i]))
        raise DataError(f"{path}:{line_numbers[i]}: {path.stem} value {shown} is outside {lo:g}..{hi:g} "
                        f"({why}); {outside.size} line(s) out of range",
                        f"check that {path.name} is the {path.stem} file of an E4 export; "
                        "re-export the session, or remove the damaged lines")


def read_e4_csv(path: str | Path) -> Signal:
    """Read one E4 sensor CSV (EDA, BVP, TEMP, HR, ACC, ...) into a :class:`Signal`."""
    path = Path(path)
    lines = _read_lines(path)
    if len(lines) >= 1 and "ibi" in lines[0].lower():
        raise DataError(f"{path} is an inter-beat-interval file (beat times, no sample rate)",
                        "read it with edgeaffect.data.signals.read_e4_ibi")
    if len(lines) < 3:
        raise DataError(f"{path} has {len(lines)} lines; an E4 file needs a start time, a rate and samples",
                        "re-export the session from E4 connect")
    start = _floats(lines[0], path, 1)
    rate = _floats(lines[1], path, 2)
    _check_header(path, start, rate)
    numbered = [(i, _floats(line, path, i)) for i, line in enumerate(lines[2:], start=3) if line.strip()]
    if not numbered:
        raise DataError(f"{path} holds the two header rows but no samples", "re-export the session from E4 connect")
    width = len(rate)
    bad = next(((i, r) for i, r in numbered if len(r) != width), None)
    if bad is not None:
        raise DataError(f"{path}:{bad[0]}: {len(bad[1])} values, the header announces {width} columns",
                        "fix or remove the line")
    values = np.asarray([r for _, r in numbered], dtype=np.float64)
    _check_values(path, values, [i for i, _ in numbered])
    return Signal(start[0], rate[0], values[:, 0] if width == 1 else values)


def read_e4_ibi(path: str | Path) -> BeatIntervals:
    """Read E4 IBI.csv: row 1 = ``start, IBI``, then ``time_after_start, interval`` pairs."""
    path = Path(path)
    lines = _read_lines(path)
    if not lines:
        raise DataError(f"{path} is empty", "re-export the session from E4 connect")
    start = float(lines[0].split(",")[0])
    pairs = np.asarray([_floats(line, path, i) for i, line in enumerate(lines[1:], start=2) if line.strip()],
                       dtype=np.float64).reshape(-1, 2)
    return BeatIntervals(start, pairs[:, 0], pairs[:, 1])


def read_values(path: str | Path) -> np.ndarray:
    """A headerless one-value-per-line CSV (UBFC-Phys bvp_/eda_ files) as float64."""
    path = Path(path)
    lines = _read_lines(path)
    vals = [_floats(line, path, i)[0] for i, line in enumerate(lines, start=1) if line.strip()]
    if not vals:
        raise DataError(f"{path} holds no samples", "replace the file with the recorded signal")
    return np.asarray(vals, dtype=np.float64)


def synth_eda(seconds: float, rate: float = 4.0, seed: int = 0, *, level: float = 2.0,
              responses_per_min: float = 3.0, amplitude: float = 0.3) -> Signal:
    """Skin conductance in microsiemens: drifting tonic level plus phasic responses.

    Each response rises in about a second and decays over several (the
    bi-exponential shape of a skin-conductance response); onsets are Poisson.
    """
    rng = np.random.default_rng(seed)
    n = max(int(round(seconds * rate)), 1)
    t = np.arange(n) / rate
    # tonic: a slow random walk, smoothed so it drifts over tens of seconds
    walk = np.cumsum(rng.normal(0, 0.02 * level / np.sqrt(rate), n))
    k = max(int(rate * 20), 1)
    tonic = level + np.convolve(np.pad(walk, (k // 2, k - 1 - k // 2), mode="edge"), np.ones(k) / k, mode="valid")
    onsets = np.cumsum(rng.exponential(60.0 / max(responses_per_min, 1e-6), int(seconds * responses_per_min / 60) + 3))
    tau_rise, tau_decay = 0.75, 4.0
    peak_t = np.log(tau_decay / tau_rise) * tau_rise * tau_decay / (tau_decay - tau_rise)
    peak = np.exp(-peak_t / tau_decay) - np.exp(-peak_t / tau_rise)
    phasic = np.zeros(n)
    for onset in onsets[onsets < seconds]:
        dt = np.clip(t - onset, 0, None)
        phasic += rng.lognormal(np.log(amplitude), 0.4) * (np.exp(-dt / tau_decay) - np.exp(-dt / tau_rise)) / peak
    eda = tonic + phasic + rng.normal(0, 0.002 * level, n)
    return Signal(0.0, float(rate), np.clip(eda, 0.01, None))


def synth_bvp(seconds: float, rate: float = 64.0, seed: int = 0, *, hr_bpm: float | None = None) -> Signal:
    """Blood-volume pulse: systolic peak + dicrotic wave per beat, HR 60-90 bpm with variability."""
    rng = np.random.default_rng(seed)
    n = max(int(round(seconds * rate)), 1)
    t = np.arange(n) / rate
    hr0 = rng.uniform(60, 90) if hr_bpm is None else hr_bpm
    # respiratory sinus arrhythmia (~0.25 Hz) plus a slow wander
    hr = hr0 + 3.0 * np.sin(2 * np.pi * 0.25 * t + rng.uniform(0, 6.3)) + 4.0 * np.sin(2 * np.pi * 0.02 * t
                                                                                     + rng.uniform(0, 6.3))
    phase = np.cumsum(hr / 60.0) / rate + rng.uniform()
    frac = phase % 1.0
    wave = np.exp(-((frac - 0.25) / 0.09) ** 2) + 0.45 * np.exp(-((frac - 0.58) / 0.11) ** 2)
    wave = wave - wave.mean()
    baseline = 0.15 * np.sin(2 * np.pi * 0.1 * t + rng.uniform(0, 6.3))
    return Signal(0.0, float(rate), 100.0 * (wave + baseline + rng.normal(0, 0.02, n)))


def resample(values: np.ndarray, from_hz: float, to_hz: float) -> np.ndarray:
    """Resample a 1-D trace so sample k sits at time k / to_hz.

    Up-sampling (and equal rates) interpolates linearly with ``np.interp``: no
    ringing, so EDA stays positive and every original sample is kept where the
    grids meet.  Down-sampling uses ``scipy.signal.resample_poly``, whose
    polyphase low-pass filter stops the pulse harmonics of a 64 Hz BVP aliasing
    into a 4 Hz trace (plain interpolation would alias them).
    """
    values = np.asarray(values, dtype=np.float64)
    n_out = int(np.floor(len(values) * to_hz / from_hz + 1e-9))
    if to_hz >= from_hz or len(values) < 8:
        return values_at(values, from_hz, np.arange(n_out) / to_hz)
    signal = require("scipy.signal", "train", purpose="down-sampling physiological signals")
    ratio = Fraction(to_hz / from_hz).limit_denominator(1000)
    out = signal.resample_poly(values, ratio.numerator, ratio.denominator, padtype="line")
    return out[:n_out] if len(out) >= n_out else np.pad(out, (0, n_out - len(out)), mode="edge")


def values_at(values: np.ndarray, rate_hz: float, times: np.ndarray) -> np.ndarray:
    """Linear interpolation of a trace sampled at ``rate_hz`` at arbitrary ``times`` (seconds)."""
    values = np.asarray(values, dtype=np.float64)
    return np.interp(times, np.arange(len(values)) / rate_hz, values)


def check_covers(signal_seconds: float, video_seconds: float, *, signal: Path, video: Path,
                 tolerance: float = 0.5) -> None:
    """Raise DataError when a signal ends more than ``tolerance`` seconds before its video."""
    if signal_seconds + tolerance < video_seconds:
        raise DataError(f"{signal} lasts {signal_seconds:.2f} s but {video.name} lasts {video_seconds:.2f} s",
                        "use the complete recording, or cut the video to the signal")


def trim(values: np.ndarray, rate_hz: float, seconds: float) -> np.ndarray:
    """The first ``seconds`` of a trace (whole samples only)."""
    return np.asarray(values)[: int(np.floor(seconds * rate_hz + 1e-9))]
