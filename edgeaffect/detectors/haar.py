"""OpenCV Haar-cascade frontal-face detector: works offline out of the box.

The cascade XML ships inside opencv-python-headless (``cv2.data.haarcascades``;
OpenCV 5 dropped it, hence the < 5 pin).  Fast on a Pi, but weaker than YuNet
on rotated or partly hidden faces and gives no landmarks.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edgeaffect.errors import ConfigError
from edgeaffect.detectors.base import Face, register_detector


@register_detector("haar")
class HaarDetector:
    name = "haar"

    def __init__(self, *, cascade: str | None = None, scale_factor: float = 1.1, min_neighbors: int = 5,
                 min_size: int = 24, **_: object) -> None:
        path = Path(cascade) if cascade else Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise ConfigError(f"cannot load the Haar cascade {path}", "install opencv-python-headless<5 or pass --detector yunet")
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size = (min_size, min_size)

    def detect(self, frame: np.ndarray) -> tuple[Face, ...]:
        gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        boxes, _, weights = self._cascade.detectMultiScale3(
            gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
            minSize=self.min_size, outputRejectLevels=True)
        faces = [Face(float(x), float(y), float(w), float(h), float(s))
                 for (x, y, w, h), s in zip(boxes, np.ravel(weights))]
        return tuple(sorted(faces, key=lambda f: f.score, reverse=True))
