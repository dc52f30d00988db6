"""The one implementation of the preprocessing ModelMeta describes.

Training, calibration, verification, the runtime and the benchmark all turn a
face crop into a model input through these functions, so the numbers a model
was trained with are the numbers it is calibrated, checked and run with.
Torch-free (numpy + OpenCV).
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from edgeaffect.meta import Color, ModelMeta

INTERPOLATIONS = {
    "nearest": cv2.INTER_NEAREST,
    "linear": cv2.INTER_LINEAR,
    "cubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
    "lanczos4": cv2.INTER_LANCZOS4,
}


def interpolation(name: str) -> int:
    try:
        return INTERPOLATIONS[name]
    except KeyError:
        raise ValueError(f"unknown interpolation '{name}'; choose from {sorted(INTERPOLATIONS)}") from None


def to_color(image: np.ndarray, color: Color) -> np.ndarray:
    """Convert a gray (HxW / HxWx1) or BGR (HxWx3) uint8 image to the model's colour.

    OpenCV decodes to BGR; RGB models get RGB, gray models a single channel.
    """
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if color is Color.GRAY:
        return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def resize_to(image: np.ndarray, size_hw: tuple[int, int], method: str = "linear") -> np.ndarray:
    """``image`` at ``size_hw`` (height, width): ``method`` (``ModelMeta.interpolation``) enlarges, shrinking averages.

    A bilinear shrink by more than 2x reads a few pixels per output pixel, so a camera face's fine texture,
    sensor noise and JPEG blocks alias into a pattern no training face had; ``INTER_AREA`` averages them
    (on FER+ valid faces pasted into noisy JPEG frames: +0.7 pt top-1, +1.5 pt UAR against bilinear,
    ``benchmarks/bench_shrink.py``).  Training caches go through here too, so both sides shrink alike.
    """
    h, w = size_hw
    ih, iw = image.shape[:2]
    if (ih, iw) == (h, w):
        return image
    shrink = ih >= h and iw >= w
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else interpolation(method))


def degrade(image: np.ndarray, side: int, down: str, up: str) -> np.ndarray:
    """Downscale a face to ``side`` pixels and bring it back to its size (the resize study)."""
    h, w = image.shape[:2]
    small = cv2.resize(image, (side, side), interpolation=interpolation(down))
    return cv2.resize(small, (w, h), interpolation=interpolation(up))


def _normalise(pixels: np.ndarray, meta: ModelMeta) -> np.ndarray:
    """uint8 HxWxC -> float32 CxHxW with ``(x/255 - mean) / std``."""
    x = pixels.astype(np.float32) * (1.0 / 255.0)
    if x.ndim == 2:
        x = x[:, :, None]
    mean = np.asarray(meta.mean, dtype=np.float32)
    std = np.asarray(meta.std, dtype=np.float32)
    x = (x - mean) / std
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def prepare_image(image: np.ndarray, meta: ModelMeta) -> np.ndarray:
    """One face crop (uint8, gray or BGR, any size) -> float32 CxHxW model input."""
    if image is None or image.size == 0:
        raise ValueError("empty image")
    pixels = resize_to(to_color(image, meta.color), meta.input_size, meta.interpolation)
    return _normalise(pixels, meta)


def prepare_batch(images: Sequence[np.ndarray], meta: ModelMeta) -> np.ndarray:
    """A list of crops -> float32 NCHW batch."""
    return np.stack([prepare_image(im, meta) for im in images]).astype(np.float32, copy=False)


def prepare_clip(frames: Sequence[np.ndarray], meta: ModelMeta) -> np.ndarray:
    """A clip of face crops (T frames, uint8) -> float32 CxTxHxW model input."""
    if meta.temporal is None:
        raise ValueError(f"model '{meta.model}' is not a video model")
    if len(frames) != meta.temporal.frames:
        raise ValueError(f"clip has {len(frames)} frames, the model takes {meta.temporal.frames}")
    per_frame = [prepare_image(f, meta) for f in frames]  # each CxHxW
    return np.ascontiguousarray(np.stack(per_frame, axis=1))
