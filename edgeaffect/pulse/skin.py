"""The skin of a tracked face, reduced to one mean colour per frame.

Every estimator here reads the average colour of skin pixels, so what counts
as skin decides whether the pulse is found at all: the plain mean of a face
box mixes in hair, eyes, brows, lips and background, whose changes with head
motion dwarf the ~1 % pulse modulation.  Inside the detector's face box only
pixels whose chroma lies in the skin range of Chai & Ngan (1999: Cr 133-173,
Cb 77-127 in YCrCb) are averaged; that drops eyes, brows, hair, lips, glasses
rims and background while keeping forehead and cheeks.

Measured on the real webcam recording (``physrecorder_v01``, oximeter 71.3 bpm,
three 10 s windows, YuNet at full resolution): this region gives GREEN, CHROM and
POS window errors of at most 1.4 bpm, where forehead-and-cheek rectangles from the five landmarks
(smaller, so their pixel count flickers with the mask) sent GREEN and POS to
48-61 bpm in two windows.  When under ``MIN_SKIN_FRACTION`` of the box passes
the chroma test (unusual light or skin tone outside the range), the middle of
the box (forehead to upper lip) is averaged unmasked instead.  The mean is
returned in R, G, B order.

:class:`SteadyBox` holds the box still between frames: the pulse is ~0.5 % of
the skin's brightness, and a box that moves by one detector pixel (two frame
pixels at the runtime's 320 px detection side) changes which pixels are
averaged by more than that.  Each new box moves the held one ``ALPHA`` of the
way (a time constant of about three frames, 0.1 s at 30 FPS: a head turn is
followed, a one-pixel wobble is not), and a box that overlaps the held one
less than ``JUMP_IOU`` (another face, a re-found track) replaces it.  On the
real recording with YuNet at 320 px it moved the window errors of GREEN /
CHROM / POS from 0.74 / 3.53 / 1.62 to 0.74 / 1.17 / 1.47 bpm, and at full
resolution from 0.45 / 0.89 / 1.18 to 0.30 / 0.59 / 1.03 (three windows of
one clip: a direction, not a figure to rely on).

:class:`HeldSkin` (the runtime's sampler) also splits each frame's change of
the skin mean into what the box did and what the picture did: it keeps the
pixels around the last held box and measures the previous frame inside the
new box, so the difference is the picture's change alone.  Damping does not
remove box jitter: with region detection, YuNet's held box on copies of one
still frame still moves by 1-2 px (std in the heart-rate band) and puts
0.14-0.19 % of the skin level into that band, which POS read as 63-153 bpm;
the picture's part of that change is exactly zero (``pulse.quality`` gates on
it).  Torch-free.
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from edgeaffect.detectors.base import Face, iou

SKIN_CR = (133, 173)
SKIN_CB = (77, 127)
MIN_SKIN_FRACTION = 0.05
MIN_PIXELS = 50  # a face this small (or lost) gives no sample


def _clip(x0: float, y0: float, x1: float, y1: float, shape: tuple[int, ...]) -> tuple[int, int, int, int] | None:
    h, w = shape[:2]
    a, b = int(round(max(x0, 0))), int(round(max(y0, 0)))
    c, d = int(round(min(x1, w))), int(round(min(y1, h)))
    return (a, b, c, d) if (c - a) * (d - b) >= MIN_PIXELS else None


def _regions(box: Sequence[float], shape: tuple[int, ...]) -> tuple[tuple[int, int, int, int] | None, ...]:
    """(the box, its middle from forehead to upper lip) as pixel rects (x0, y0, x1, y1) in a frame of ``shape``."""
    x, y, w, h = (float(v) for v in box)
    return _clip(x, y, x + w, y + h, shape), _clip(x + 0.2 * w, y + 0.1 * h, x + 0.8 * w, y + 0.75 * h, shape)


def _skin_in(frame: np.ndarray, rect: tuple[int, int, int, int] | None,
             middle: tuple[int, int, int, int] | None) -> np.ndarray:
    if rect is None:
        return np.full(3, np.nan)
    x0, y0, x1, y1 = rect
    patch = frame[y0:y1, x0:x1]
    mask = cv2.inRange(cv2.cvtColor(patch, cv2.COLOR_BGR2YCrCb), (0, SKIN_CR[0], SKIN_CB[0]),
                       (255, SKIN_CR[1], SKIN_CB[1]))
    if cv2.countNonZero(mask) >= max(MIN_PIXELS, MIN_SKIN_FRACTION * mask.size):
        return np.asarray(cv2.mean(patch, mask=mask)[:3])[::-1]  # BGR -> RGB
    if middle is None:
        return np.full(3, np.nan)
    a, b, c, d = middle
    return frame[b:d, a:c].reshape(-1, 3).mean(axis=0)[::-1]


def skin_mean(frame: np.ndarray, box: Sequence[float]) -> np.ndarray:
    """Mean (R, G, B) of the skin pixels in face ``box`` (x, y, w, h) of a BGR frame; NaNs when there is none."""
    if frame.ndim != 3:
        return np.full(3, np.nan)
    return _skin_in(frame, *_regions(box, frame.shape))


ALPHA = 0.3
JUMP_IOU = 0.5


class SteadyBox:
    """One face's box (x, y, w, h) held steady across frames; see the module docstring."""

    def __init__(self, alpha: float = ALPHA) -> None:
        self.alpha = alpha
        self._box: np.ndarray | None = None

    def __call__(self, box: Sequence[float]) -> tuple[float, ...]:
        new = np.asarray(box, dtype=np.float64)
        if self._box is None or iou(Face(*self._box), Face(*new)) < JUMP_IOU:
            self._box = new
        else:
            self._box = self._box + self.alpha * (new - self._box)
        return tuple(float(v) for v in self._box)


MARGIN = 0.25  # of the box's width and height kept around it from one frame to the next


def _moved(rect: tuple[int, int, int, int] | None, ox: int, oy: int) -> tuple[int, int, int, int] | None:
    return None if rect is None else (rect[0] - ox, rect[1] - oy, rect[2] - ox, rect[3] - oy)


class HeldSkin:
    """One track's skin colour per frame, and the part of its change that the picture made.

    ``__call__(frame, box)`` holds the box steady (:class:`SteadyBox`) and returns
    (skin mean, picture change): the change is the skin mean of this frame minus
    that of the previous frame *inside this frame's held box*, so the box's own
    movement is not in it (NaN for the first frame or when the box left the kept
    surroundings).  The pixels around the held box are copied, not the frame
    referenced, as a camera source may reuse its buffer.  See the module docstring.
    """

    def __init__(self, alpha: float = ALPHA) -> None:
        self.steady = SteadyBox(alpha)
        # the previous frame's pixels around its held box, their top-left (x, y) and the frame's shape
        self._last: tuple[np.ndarray, tuple[int, int], tuple[int, ...]] | None = None

    def __call__(self, frame: np.ndarray, box: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        held = self.steady(box)
        change = np.full(3, np.nan)
        if frame.ndim != 3:
            self._last = None
            return np.full(3, np.nan), change
        rect, middle = _regions(held, frame.shape)
        rgb = _skin_in(frame, rect, middle)
        if self._last is not None and rect is not None and np.isfinite(rgb).all():
            pixels, (ox, oy), shape = self._last
            h, w = pixels.shape[:2]
            rects = [r for r in (rect, middle) if r is not None]
            if shape == frame.shape and all(r[0] >= ox and r[1] >= oy and r[2] <= ox + w and r[3] <= oy + h
                                            for r in rects):
                change = rgb - _skin_in(pixels, _moved(rect, ox, oy), _moved(middle, ox, oy))
        x, y, w, h = held
        keep = _clip(x - MARGIN * w, y - MARGIN * h, x + (1 + MARGIN) * w, y + (1 + MARGIN) * h, frame.shape)
        self._last = None if keep is None else (frame[keep[1]:keep[3], keep[0]:keep[2]].copy(), keep[:2],
                                                frame.shape)
        return rgb, change
