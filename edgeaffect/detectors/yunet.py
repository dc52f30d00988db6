"""YuNet through OpenCV's ``cv2.FaceDetectorYN``: boxes plus five landmarks.

More robust than Haar on turned or partly hidden faces and gives the landmarks
the aligned crop needs.  The model file comes from ``model=``, else the user's
model cache, else the copy shipped inside the package (no download).
``max_side`` shrinks frames whose longer side is larger before detection and
maps boxes and landmarks back to full-frame pixels (None = full resolution).
YuNet's cost grows with the input area while faces of a webcam frame stay
findable at a fraction of the pixels.  The default, 320, comes from
``benchmarks/bench_detect_side.py`` on a real 640x480 face video: recall 1.000
against full-resolution detection for faces 182, 91 and 43 px tall at 3.6-4.2x
less detection time; at 240 the 43 px face was still found, at 160 only in
54 % of frames — so 320 keeps faces down to about 1/15 of the frame height.

``engine`` picks what runs the network: ``opencv`` (``cv2.FaceDetectorYN``) or
``onnxruntime`` (``yunet_onnx.py``: the same network and decoding, the same faces, about
half the CPU on a whole frame); ``auto`` (the default) takes ONNX Runtime when it is installed.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edgeaffect.errors import ConfigError
from edgeaffect._optional import available
from edgeaffect.detectors.base import Face, register_detector


DEFAULT_SIDE = 320  # measured, see the module docstring
ENGINES = ("auto", "opencv", "onnxruntime")


@register_detector("yunet")
class YuNetDetector:
    name = "yunet"

    def __init__(self, *, model: str | Path | None = None, cache_dir: str | Path | None = None,
                 score_threshold: float = 0.6, nms_threshold: float = 0.3, top_k: int = 50,
                 max_side: int | None = DEFAULT_SIDE, engine: str = "auto", **_: object) -> None:
        from edgeaffect import modelcache

        path = Path(model) if model else modelcache.model_path("yunet", cache_dir)
        if path is None or not path.is_file():
            where = path or modelcache.cache_dir(cache_dir) / modelcache.MODELS["yunet"].filename
            raise ConfigError(f"the YuNet model is not at {where}",
                              "pass the path of a YuNet .onnx file, reinstall edgeaffect (it ships one), "
                              "or use --detector haar")
        if engine not in ENGINES:
            raise ConfigError(f"unknown YuNet engine '{engine}'", f"choose from: {', '.join(ENGINES)}")
        if engine == "auto":
            engine = "onnxruntime" if available("onnxruntime") else "opencv"
        self.engine = engine
        try:
            if engine == "onnxruntime":
                from edgeaffect.detectors.yunet_onnx import YuNetOnnx

                self._net = YuNetOnnx(path, score_threshold, nms_threshold, top_k)
            else:
                self._net = cv2.FaceDetectorYN.create(str(path), "", (320, 320), score_threshold, nms_threshold, top_k)
        except cv2.error as exc:
            raise ConfigError(f"OpenCV cannot load the YuNet model {path}: {exc.msg.strip()}",
                              "pass another YuNet .onnx file (OpenCV >= 4.8 is needed)") from exc
        except Exception as exc:  # ONNX Runtime raises its own Fail/InvalidGraph types; a file without YuNet's outputs
            raise ConfigError(f"ONNX Runtime cannot run {path} as YuNet: {exc}",
                              "pass another YuNet .onnx file, or the option engine=opencv") from exc
        self.path = path
        self.max_side = max_side
        self._size: tuple[int, int] | None = None

    def detect(self, frame: np.ndarray) -> tuple[Face, ...]:
        image = frame if frame.ndim == 3 else cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        h, w = image.shape[:2]
        scale = 1.0
        if self.max_side and max(h, w) > self.max_side:
            scale = max(h, w) / self.max_side
            # at least a pixel: a 2x3000 strip shrunk to 320 would be 0 rows, which OpenCV's resize refuses
            image = cv2.resize(image, (max(1, round(w / scale)), max(1, round(h / scale))), interpolation=cv2.INTER_AREA)
            h, w = image.shape[:2]
        if min(h, w) < 10:  # YuNet's smallest face is 10 px; a thinner strip holds none
            return ()
        if self._size != (w, h):
            self._net.setInputSize((w, h))
            self._size = (w, h)
        _, rows = self._net.detect(image)
        if rows is None:
            return ()
        faces = []
        for row in rows:
            r = row[:14] * scale  # boxes and landmarks back to the full frame; row[14] is the score
            marks = tuple((float(r[4 + 2 * k]), float(r[5 + 2 * k])) for k in range(5))
            faces.append(Face(float(r[0]), float(r[1]), float(r[2]), float(r[3]), float(row[14]), marks))
        return tuple(sorted(faces, key=lambda f: f.score, reverse=True))
