"""GREEN: the band-passed mean of the green channel over the skin.

Verkruysse W, Svaasand LO, Nelson JS. "Remote plethysmographic imaging using
ambient light." Optics Express 16(26):21434-21445, 2008.  Haemoglobin absorbs
green light most, so the green channel carries the strongest pulse.  The
trace is divided by its mean (a relative change, independent of exposure);
the shared band-pass (0.7-3.5 Hz) does the rest.  Torch-free.
"""
from __future__ import annotations

import numpy as np

from edgeaffect.pulse.base import register_estimator


@register_estimator("green", reference="Verkruysse, Svaasand & Nelson, Optics Express 2008")
def green(rgb: np.ndarray, fs: float) -> np.ndarray:
    g = np.asarray(rgb, dtype=np.float64)[:, 1]
    return g / g.mean() - 1.0
