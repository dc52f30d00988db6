"""Band-pass filtering, heart rate from the spectrum, and the SNR of a pulse wave.

Shared by every estimator, by the evaluation against a contact sensor and by the
runtime's pulse stage, so the reference heart rate and the estimated one are
read off the same spectrum.  Torch-free; the filters come from ``scipy.signal``
(the ``pulse`` extra).

Conventions (those of rPPG-Toolbox and the papers it implements):

* pass band 0.7-3.5 Hz = 42-210 bpm, a 4th-order Butterworth run forwards and
  backwards (``sosfiltfilt``: no phase shift, so waves line up with the sensor);
* heart rate = the highest peak of a Hann-windowed periodogram inside the pass
  band, zero-padded to at least 4096 points so a 10 s window reads to ~0.4 bpm;
* SNR after de Haan & Jeanne (2013): power within 0.1 Hz of the heart rate and
  within 0.2 Hz of its first harmonic, over the rest of the pass band, in dB.
"""
from __future__ import annotations

import numpy as np

from edgeaffect._optional import require

LOW_HZ, HIGH_HZ = 0.7, 3.5
MIN_SECONDS = 4.0  # below ~3 beats at 42 bpm the spectrum peak means nothing: report no estimate


def _signal():
    return require("scipy.signal", "pulse", purpose="pulse-wave filtering")


def bandpass(x: np.ndarray, fs: float, *, low: float = LOW_HZ, high: float = HIGH_HZ, order: int = 4) -> np.ndarray:
    """Zero-phase Butterworth band-pass of a 1-D trace sampled at ``fs`` Hz."""
    sig = _signal()
    x = np.asarray(x, dtype=np.float64)
    sos = sig.butter(order, [low, min(high, 0.45 * fs)], btype="bandpass", fs=fs, output="sos")
    return sig.sosfiltfilt(sos, x - x.mean(), padlen=min(3 * (2 * len(sos) + 1), len(x) - 1))


def power_spectrum(x: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies in Hz, power) of a Hann-windowed, zero-padded periodogram."""
    x = np.asarray(x, dtype=np.float64)
    nfft = max(4096, 1 << int(np.ceil(np.log2(max(len(x), 2)))))
    return _signal().periodogram(x - x.mean(), fs=fs, window="hann", nfft=nfft, detrend=False)


def heart_rate(x: np.ndarray, fs: float, *, low: float = LOW_HZ, high: float = HIGH_HZ) -> float:
    """Beats per minute at the spectral peak inside [low, high] Hz; NaN for a flat or too short trace."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) < MIN_SECONDS * fs or not np.all(np.isfinite(x)) or np.ptp(x) == 0:
        return float("nan")
    f, p = power_spectrum(x, fs)
    band = (f >= low) & (f <= high)
    if not band.any() or p[band].max() <= 0:
        return float("nan")
    return float(f[band][np.argmax(p[band])] * 60.0)


def snr_db(x: np.ndarray, fs: float, hr_bpm: float, *, low: float = LOW_HZ, high: float = HIGH_HZ) -> float:
    """Power at the heart rate and its first harmonic over the other power in the band, in dB."""
    if not np.isfinite(hr_bpm):
        return float("nan")
    f, p = power_spectrum(x, fs)
    f0 = hr_bpm / 60.0
    band = (f >= low) & (f <= high)
    on = band & ((np.abs(f - f0) <= 0.1) | (np.abs(f - 2 * f0) <= 0.2))
    signal, noise = p[on].sum(), p[band & ~on].sum()
    if signal <= 0 or noise <= 0:
        return float("nan")
    return float(10.0 * np.log10(signal / noise))
