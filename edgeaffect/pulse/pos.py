"""POS: the plane-orthogonal-to-skin method.

Wang W, den Brinker AC, Stuijk S, de Haan G. "Algorithmic principles of remote
PPG." IEEE Transactions on Biomedical Engineering 64(7):1479-1491, 2017
(Algorithm 1).

Parameters as published: windows of l = 1.6 s (32 frames at 20 fps) moved one
frame at a time; in each window the RGB means are divided by their
temporal mean (temporal normalisation), projected onto the plane orthogonal
to the skin tone with ``P = [[0, 1, -1], [-2, 1, 1]]``, tuned as
``h = S1 + (std S1 / std S2) S2`` (alpha tuning), made zero-mean and
overlap-added.  The paper adds every window without a taper; so does this.
The shared band-pass (0.7-3.5 Hz) follows, as in rPPG-Toolbox.  Torch-free.
"""
from __future__ import annotations

import numpy as np

from edgeaffect.pulse.base import overlap_add, register_estimator

WINDOW_S = 1.6
PROJECTION = np.array([[0.0, 1.0, -1.0], [-2.0, 1.0, 1.0]])


@register_estimator("pos", reference="Wang, den Brinker, Stuijk & de Haan, IEEE TBME 2017")
def pos(rgb: np.ndarray, fs: float) -> np.ndarray:
    def project(c: np.ndarray) -> np.ndarray:
        s = (c / c.mean(axis=0)) @ PROJECTION.T
        s2 = s[:, 1].std()
        h = s[:, 0] + (s[:, 0].std() / s2 if s2 > 0 else 0.0) * s[:, 1]
        return h - h.mean()

    return overlap_add(np.asarray(rgb, dtype=np.float64), fs, WINDOW_S, project, hop=1)
