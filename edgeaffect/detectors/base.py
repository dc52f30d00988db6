"""The face-detector interface shared by the data layer and the runtime.

A detector turns one frame (uint8 BGR or gray, HxW[x3]) into a tuple of
:class:`Face` results.  Detectors register themselves by name in
``DETECTORS``; ``create_detector(name, **options)`` builds one.  Adding a
detector = one new file in this package + one line in ``__init__``.
Torch-free.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from edgeaffect.errors import unknown_name


@dataclass(frozen=True)
class Face:
    """One detected face: box in pixels (x, y, w, h), confidence, optional 5 landmarks.

    Landmarks, when the detector gives them, are (right eye, left eye, nose tip,
    right mouth corner, left mouth corner) as (x, y) pixel pairs — YuNet's order.
    """

    x: float
    y: float
    w: float
    h: float
    score: float = 1.0
    landmarks: tuple[tuple[float, float], ...] | None = None

    @property
    def box(self) -> tuple[float, float, float, float]:
        return (self.x, self.y, self.w, self.h)

    @property
    def area(self) -> float:
        return max(self.w, 0.0) * max(self.h, 0.0)


def iou(a: Face, b: Face) -> float:
    """Intersection over union of two boxes (0 when they do not touch)."""
    x0, y0 = max(a.x, b.x), max(a.y, b.y)
    x1, y1 = min(a.x + a.w, b.x + b.w), min(a.y + a.h, b.y + b.h)
    inter = max(x1 - x0, 0.0) * max(y1 - y0, 0.0)
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


class FaceDetector(Protocol):
    """Anything with ``detect(frame) -> tuple[Face, ...]`` sorted by score, best first."""

    name: str

    def detect(self, frame: np.ndarray) -> tuple[Face, ...]: ...


DETECTORS: dict[str, Callable[..., FaceDetector]] = {}


def register_detector(name: str) -> Callable[[Callable[..., FaceDetector]], Callable[..., FaceDetector]]:
    def wrap(factory: Callable[..., FaceDetector]) -> Callable[..., FaceDetector]:
        DETECTORS[name] = factory
        return factory

    return wrap


def create_detector(name: str, **options) -> FaceDetector:
    """Build a registered detector; unknown names list the choices."""
    import edgeaffect.detectors  # noqa: F401  (registers the built-in detectors)

    if name not in DETECTORS:
        raise unknown_name("face detector", name, DETECTORS)
    return DETECTORS[name](**options)


def largest(faces: tuple[Face, ...]) -> Face | None:
    return max(faces, key=lambda f: f.area, default=None)
