"""CHROM: the chrominance-based method.

de Haan G, Jeanne V. "Robust pulse rate from chrominance-based rPPG."
IEEE Transactions on Biomedical Engineering 60(10):2878-2886, 2013.

What this implementation does: windows of 1.6 s with a half-window hop; in each
window the RGB means are divided by their temporal mean, projected onto two
chrominance signals ``X = 3R - 2G`` and ``Y = 1.5R + G - 1.5B`` (the paper's
standardised skin-tone model), and combined as ``S = X - (std X / std Y) Y`` so
specular and motion changes, which move X and Y alike, cancel.  X and Y are
band-passed before the combination with this package's shared filter (4th-order
zero-phase Butterworth, 0.7-3.5 Hz: ``pulse.spectrum.bandpass``), not with the
filter of the paper or of any toolbox, and the overlap-added wave is band-passed
once more by ``pulse_wave``, as every estimator's is.  Windows are Hann-tapered
and overlap-added.  Torch-free.
"""
from __future__ import annotations

import numpy as np

from edgeaffect.pulse.base import overlap_add, register_estimator
from edgeaffect.pulse.spectrum import bandpass

WINDOW_S = 1.6


@register_estimator("chrom", reference="de Haan & Jeanne, IEEE TBME 2013")
def chrom(rgb: np.ndarray, fs: float) -> np.ndarray:
    def project(c: np.ndarray) -> np.ndarray:
        cn = c / c.mean(axis=0)
        x = 3.0 * cn[:, 0] - 2.0 * cn[:, 1]
        y = 1.5 * cn[:, 0] + cn[:, 1] - 1.5 * cn[:, 2]
        xf, yf = bandpass(x, fs), bandpass(y, fs)
        sy = yf.std()
        return xf - (xf.std() / sy if sy > 0 else 0.0) * yf

    return overlap_add(np.asarray(rgb, dtype=np.float64), fs, WINDOW_S, project, hann=True)
