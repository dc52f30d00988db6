"""What a pulse can look like: the gate on a face's colour trace and the glitch check of a contact sensor's wave.

**Is anything there to measure?**  A spectrum always has a highest peak, so a
trace that carries no pulse still "has" a heart rate.  A still picture (a
folder of copies of one photo, a frozen or paused video, a virtual camera
showing an image) is the plain case: its only variation comes from the face
box jittering between detection passes.  :func:`variation_pct` is how far the
trace moves within the heart-rate band, robustly (1.4826 x the median absolute
deviation of the band-passed trace, so a transient such as a codec's first
frames or one glitch frame does not count as sustained variation), in % of the
skin level, for the channel that moves most.  :func:`estimate
<edgeaffect.pulse.trace.estimate>` gives no heart rate below
``MIN_VARIATION_PCT``.  It is measured on the picture's own change when the
sampler knows it (``skin.HeldSkin``: ``run`` and ``eval --pulse`` alike),
otherwise on the trace itself, which bounds it from above (a caller passing
only colours).

Measured on 10 s windows every 1 s (``physrecorder_v01``, YuNet): the real
webcam recording varies by 0.45-0.59 % (runtime, picture change) and 0.49-0.61
% (eval, raw trace); 400 PNG copies of its frame 50 and its video re-encoded
from one frame by 0.0000-0.0005 % (the box jitter alone moved the raw run trace
by 0.14-0.19 %).  The floor of 0.05 % sits a factor 9 under the real
recording's weakest window, leaving room for weaker pulses (darker skin,
dimmer light), and a factor 100 over the frozen copies.  Not caught: a live
camera filming a photograph.  Simulated camera noise (sigma 1-4 grey levels)
on the still frame gives 0.06-0.14 %, as the skin mask's edge flickers; telling
that from a weak pulse takes the shape of the spectrum, not its size.

**Glitches of the contact sensor.**  One oximeter sample of 1000 among values
of 12-99 moved the reference of the window holding it from 71.9 to 59.5 bpm,
and one of 1e30 to 42 bpm, silently.  :func:`outlying` marks samples further
outside the wave's robust range (its 5th-95th percentiles) than twice that
range's width.  The real wave's range is 19-70 (sharp systolic peaks reach 101,
0.6 widths above it), so its fences sit at -83 and 173: room for beats half as
large again, while a saturated 8-bit 255, a 1000 or a 1e30 is out.  Readers
leave such samples out with a warning saying how many, and the wave is
interpolated across an isolated one as across any dropped sample.  Torch-free.
"""
from __future__ import annotations

import numpy as np

from edgeaffect.pulse.spectrum import bandpass

MIN_VARIATION_PCT = 0.05  # % of the skin level; see the module docstring for the measurements behind it
ROBUST_RANGE = (5.0, 95.0)  # percentiles spanning a sensor wave's usual range
OUTLIER_RANGES = 2.0  # a sample this many robust-range widths outside the range is a glitch


def variation_pct(trace: np.ndarray, level: np.ndarray, fs: float) -> float:
    """Robust spread of ``trace`` (n, k) in the heart-rate band, in % of ``level`` (k,): the largest channel's.

    Rows of NaN are bridged linearly; NaN when fewer than two rows are usable.
    """
    trace = np.asarray(trace, dtype=np.float64)
    level = np.asarray(level, dtype=np.float64)
    ok = np.all(np.isfinite(trace), axis=1)
    if ok.sum() < 2:
        return float("nan")
    idx = np.arange(len(trace))
    most = 0.0
    for c in range(trace.shape[1]):
        if not level[c] > 0:
            continue
        banded = bandpass(np.interp(idx, idx[ok], trace[ok, c]), fs)
        spread = 1.4826 * np.median(np.abs(banded - np.median(banded)))
        most = max(most, 100.0 * spread / level[c])
    return float(most)


def outlying(values: np.ndarray) -> np.ndarray:
    """Mask of the finite samples of a sensor wave lying far outside its robust range (see the module docstring).

    A wave whose robust range is a single value (a flat line for 90 % of the
    time) marks every sample off that value.
    """
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v)
    if ok.sum() < 3:
        return np.zeros(v.shape, dtype=bool)
    lo, hi = np.percentile(v[ok], ROBUST_RANGE)
    reach = OUTLIER_RANGES * (hi - lo)
    with np.errstate(over="ignore", invalid="ignore"):  # fences of a wave near the float limit may overflow to inf
        return ok & ((v < lo - reach) | (v > hi + reach))
