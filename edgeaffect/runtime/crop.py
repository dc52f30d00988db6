"""Face crops: margin, square, clip to the frame, optional 5-point alignment.

The crop is what :func:`edgeaffect.preprocess.prepare_image` receives; it stays
uint8 BGR at its native resolution so the one preprocessing does the resize.
Alignment maps the detector's five landmarks onto a fixed template with a
similarity transform (rotation + uniform scale + shift, OpenCV's
``estimateAffinePartial2D``), which removes head roll the way face datasets
are usually aligned.  Torch-free.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from edgeaffect.detectors.base import Face

# Five-point template on a 112x112 canvas in the detectors' landmark order
# (right eye, left eye, nose tip, right mouth corner, left mouth corner) — the
# right eye is the subject's, on the image's left.  These are the widely used
# reference positions of face-recognition alignment.
TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)


DEFAULT_MARGIN = 0.15  # for models whose ModelMeta records no framing


@dataclass(frozen=True, kw_only=True)
class CropOptions:
    """``margin`` is added on every side as a fraction of the box size (negative = inside the box).

    ``margin=None`` takes the framing the model was trained on (``ModelMeta.framing``: margin and
    centre shift) — see :meth:`for_model`; a number given by the user overrides it.
    """

    margin: float | None = None
    shift_x: float = 0.0  # crop centre offset from the box centre, in box sides (positive = right)
    shift_y: float = 0.0  # (positive = down)
    square: bool = True
    align: bool = False  # needs landmarks (YuNet); faces without them fall back to the box crop
    align_size: int = 112

    def __post_init__(self) -> None:
        if self.margin is not None and not -0.4 <= self.margin <= 2:
            raise ValueError(f"crop margin {self.margin} is outside [-0.4, 2]")

    def for_model(self, meta) -> "CropOptions":
        """These options with the model's framing filled in where the user left the margin unset."""
        if self.margin is not None:
            return self
        framing = getattr(meta, "framing", None)
        if framing is None:
            return replace(self, margin=DEFAULT_MARGIN)
        return replace(self, margin=framing.margin, shift_x=framing.shift_x, shift_y=framing.shift_y,
                       align=self.align or framing.aligned)

    @property
    def side_margin(self) -> float:
        return DEFAULT_MARGIN if self.margin is None else self.margin


def crop_box(face: Face, frame_shape: tuple[int, ...], options: CropOptions) -> tuple[int, int, int, int] | None:
    """The pixel box (x0, y0, x1, y1) to cut, clipped to the frame; None when nothing is left."""
    height, width = frame_shape[:2]
    m = options.side_margin
    w, h = face.w * (1 + 2 * m), face.h * (1 + 2 * m)
    if options.square:
        w = h = max(w, h)
    side = max(face.w, face.h)
    cx = face.x + face.w / 2 + options.shift_x * side
    cy = face.y + face.h / 2 + options.shift_y * side
    x0, y0 = int(round(cx - w / 2)), int(round(cy - h / 2))
    x1, y1 = int(round(cx + w / 2)), int(round(cy + h / 2))
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return x0, y0, x1, y1


def aligned_crop(frame: np.ndarray, face: Face, options: CropOptions) -> np.ndarray | None:
    """Warp the face so its landmarks sit on the template (with the margin as extra context)."""
    if not face.landmarks or len(face.landmarks) != 5:
        return None
    size = options.align_size
    # shrink the template towards the centre so the margin shows around the face
    centre = np.float32([56.0, 56.0])
    dst = ((TEMPLATE_112 - centre) / (1 + 2 * options.side_margin) + centre) * (size / 112.0)
    src = np.asarray(face.landmarks, dtype=np.float32)
    matrix, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.LMEDS)
    if matrix is None:
        return None
    return cv2.warpAffine(frame, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def crop_face(frame: np.ndarray, face: Face, options: CropOptions) -> np.ndarray | None:
    """The crop for ``face``; None for a face that lies outside the frame (the caller counts it)."""
    if options.align:
        aligned = aligned_crop(frame, face, options)
        if aligned is not None:
            return aligned
    box = crop_box(face, frame.shape, options)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    return frame[y0:y1, x0:x1]
