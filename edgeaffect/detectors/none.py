"""The ``none`` detector: the whole frame is the face (pre-cropped input such as FER+)."""
from __future__ import annotations

import numpy as np

from edgeaffect.detectors.base import Face, register_detector


@register_detector("none")
class WholeFrame:
    name = "none"

    def __init__(self, **_: object) -> None:
        pass

    def detect(self, frame: np.ndarray) -> tuple[Face, ...]:
        h, w = frame.shape[:2]
        return (Face(0.0, 0.0, float(w), float(h), 1.0),)
