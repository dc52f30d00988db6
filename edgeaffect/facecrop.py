"""The one face cut: ``cut(frame, box, framing, size)``, for every task and every path.

Training caches (``data/facecache.py``), the runtime (``runtime/crop.py``) and the
evaluators call this one function, so a model sees live the pixels it was trained on.
The cut is a square of side ``framing.scale x max(box w, box h)`` centred at the box
centre moved by ``(shift_x, shift_y)`` box sides; the parts of the square outside the
frame are filled by repeating the edge pixels (never a clipped, then stretched, box),
and the square is resized to ``size`` by ``preprocess.resize_to`` (the named interpolation enlarges,
shrinking averages).  With
``framing.aligned`` and five landmarks the face is instead warped upright onto a
template framed the same way (scale and shift).  It lives below ``data`` and
``runtime`` because both need it.  Torch-free.
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from edgeaffect.meta import Framing
from edgeaffect.preprocess import resize_to

# Five-point template on a 112x112 canvas in the detectors' landmark order (right eye, left eye,
# nose tip, right mouth corner, left mouth corner) - the right eye is the subject's, on the image's
# left.  These are the widely used reference positions of face-recognition alignment; on this
# canvas the face fills the square as a detector box does, so framing.scale means the same in both paths.
TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)
DEFAULT_FRAMING = Framing()  # for models whose ModelMeta records no framing (1.3x the box)


def _size_hw(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        return int(size), int(size)
    h, w = (int(v) for v in size)
    return h, w


def square(box: Sequence[float], framing: Framing) -> tuple[int, int, int]:
    """(x0, y0, side) in frame pixels of the square ``framing`` cuts around ``box`` (x, y, w, h)."""
    x, y, w, h = (float(v) for v in box)
    big = max(w, h)
    side = max(int(round(big * float(framing.scale))), 2)
    cx = x + w / 2 + framing.shift_x * big
    cy = y + h / 2 + framing.shift_y * big
    return int(round(cx - side / 2)), int(round(cy - side / 2)), side


def _padded(frame: np.ndarray, x0: int, y0: int, side: int) -> np.ndarray | None:
    """The square [x0, x0+side) x [y0, y0+side), edge pixels repeated where it leaves the frame."""
    fh, fw = frame.shape[:2]
    ix0, iy0, ix1, iy1 = max(x0, 0), max(y0, 0), min(x0 + side, fw), min(y0 + side, fh)
    if ix1 <= ix0 or iy1 <= iy0:
        return None  # the square misses the frame entirely: there is no face to show
    inside = frame[iy0:iy1, ix0:ix1]
    top, left, bottom, right = iy0 - y0, ix0 - x0, y0 + side - iy1, x0 + side - ix1
    if top or left or bottom or right:
        inside = cv2.copyMakeBorder(inside, top, bottom, left, right, cv2.BORDER_REPLICATE)
    return inside


def _aligned(frame: np.ndarray, landmarks: Sequence[Sequence[float]], framing: Framing,
             hw: tuple[int, int], method: str) -> np.ndarray | None:
    h, w = hw
    scale = float(framing.scale)
    centre = np.float32([56.0, 56.0])
    # the template face shrinks by the scale around the centre and moves against the shift, as the box path
    shift = np.float32([framing.shift_x, framing.shift_y]) * 112.0 / scale
    dst = ((TEMPLATE_112 - centre) / scale + centre - shift) * np.float32([w / 112.0, h / 112.0])
    src = np.asarray(landmarks, dtype=np.float32)
    matrix, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.LMEDS)
    if matrix is None:
        return None
    # warpAffine knows no area averaging, so a face over twice the output's size is warped at about its own
    # resolution (k times the output) and shrunk by resize_to as the box path is; linear, same edge rule
    k = min(int(1.0 / max(float(np.sqrt(abs(np.linalg.det(matrix[:, :2])))), 1e-6)), 8)
    if k < 2:
        return cv2.warpAffine(frame, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    big = cv2.warpAffine(frame, matrix * k, (w * k, h * k), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return resize_to(big, hw, method)


def cut(frame: np.ndarray, box, framing: Framing | None, size: int | Sequence[int], *,
        interpolation_name: str = "area", landmarks: Sequence[Sequence[float]] | None = None) -> np.ndarray | None:
    """The face in ``box`` framed by ``framing`` at ``size`` (side, or (height, width)), uint8 like ``frame``.

    ``box`` is (x, y, w, h) or a detector ``Face`` (whose landmarks serve the aligned path);
    ``framing=None`` is :data:`DEFAULT_FRAMING`; ``interpolation_name`` is the model's
    (``ModelMeta.interpolation``: how it enlarges).  None when the square lies wholly outside the frame.
    An aligned framing without five landmarks falls back to the box cut.
    """
    framing = DEFAULT_FRAMING if framing is None else framing
    if landmarks is None:
        landmarks = getattr(box, "landmarks", None)
    box = getattr(box, "box", box)
    hw = _size_hw(size)
    if framing.aligned and landmarks is not None and len(landmarks) == 5:
        aligned = _aligned(frame, landmarks, framing, hw, interpolation_name)
        if aligned is not None:
            return aligned
    x0, y0, side = square(box, framing)
    pixels = _padded(frame, x0, y0, side)
    if pixels is None:
        return None
    return np.ascontiguousarray(resize_to(pixels, hw, interpolation_name))
