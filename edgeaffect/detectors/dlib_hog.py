"""dlib's HOG + linear-SVM frontal face detector (the ``face`` extra).

CPU-only and model-file-free (the detector ships inside dlib); slower than
YuNet and frontal-only, but a familiar baseline.  dlib is imported when the
detector is built, so the runtime works without it.
"""
from __future__ import annotations

import cv2
import numpy as np

from edgeaffect._optional import require
from edgeaffect.detectors.base import Face, register_detector


@register_detector("dlib")
class DlibHogDetector:
    name = "dlib"

    def __init__(self, *, upsample: int = 0, threshold: float = 0.0, **_: object) -> None:
        dlib = require("dlib", "face", purpose="--detector dlib")
        self._detector = dlib.get_frontal_face_detector()
        self.upsample = upsample  # each upsampling doubles the image: finds smaller faces, 4x slower
        self.threshold = threshold

    def detect(self, frame: np.ndarray) -> tuple[Face, ...]:
        image = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if frame.ndim == 3 else frame
        rects, scores, _ = self._detector.run(np.ascontiguousarray(image), self.upsample, self.threshold)
        h, w = frame.shape[:2]
        faces = []
        for rect, score in zip(rects, scores):
            x0, y0 = max(rect.left(), 0), max(rect.top(), 0)
            x1, y1 = min(rect.right(), w), min(rect.bottom(), h)
            if x1 > x0 and y1 > y0:
                faces.append(Face(float(x0), float(y0), float(x1 - x0), float(y1 - y0), float(score)))
        return tuple(sorted(faces, key=lambda f: f.score, reverse=True))
