"""Training-time augmentation of face crops: small rotations, zoom, shifts, flips, light changes.

The ranges are the ones facial-expression training commonly uses (rotation
±15°, zoom and shift ±10 %, horizontal flip, brightness and contrast ±10 %,
optional saturation / hue jitter).  Built from torchvision transforms v2; the
training code applies it to the resized uint8 crop (1 or 3 channels, CxHxW)
before normalisation, so the shared preprocessing stays the one in
``edgeaffect.preprocess``.  Randomness comes from torch's generator, which the
trainer seeds.  Only this builder needs torchvision, loaded on call.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Callable

from edgeaffect._optional import require
from edgeaffect.errors import ConfigError


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation ranges; 0 (or ``flip=False``) switches one off."""

    rotation: float = 15.0  # degrees, ±
    zoom: float = 0.1  # scale 1 ± zoom
    shift: float = 0.1  # fraction of width / height, ±
    flip: bool = True  # horizontal, p = 0.5 (expressions are left/right symmetric classes)
    brightness: float = 0.1  # factor 1 ± brightness
    contrast: float = 0.1
    saturation: float = 0.0  # colour jitter; no effect on gray crops
    hue: float = 0.0  # in [0, 0.5]

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name != "flip" and (not isinstance(value, (int, float)) or value < 0):
                raise ConfigError(f"augmentation {f.name}={value!r} must be a number >= 0",
                                  "use 0 to switch it off")
        if self.zoom >= 1 or self.shift >= 1 or self.brightness >= 1 or self.contrast >= 1 or self.saturation >= 1:
            raise ConfigError("augmentation zoom, shift, brightness, contrast and saturation must be below 1",
                              "they are fractions, e.g. 0.1 for ±10 %")
        if self.hue > 0.5:
            raise ConfigError(f"augmentation hue={self.hue} must be at most 0.5", "e.g. 0.05")

    @property
    def is_identity(self) -> bool:
        return not (self.rotation or self.zoom or self.shift or self.flip or self.brightness or self.contrast
                    or self.saturation or self.hue)


NO_AUGMENT = AugmentConfig(rotation=0.0, zoom=0.0, shift=0.0, flip=False, brightness=0.0, contrast=0.0)


def build_augment(config: AugmentConfig = AugmentConfig()) -> Callable[[Any], Any]:
    """A callable: uint8 torch tensor CxHxW (C = 1 or 3) -> augmented uint8 tensor of the same shape."""
    v2 = require("torchvision.transforms.v2", "train", purpose="training augmentation")
    steps: list[Any] = []
    if config.rotation or config.zoom or config.shift:
        # one affine warp (not three resamplings) keeps the small crops sharp
        steps.append(v2.RandomAffine(
            degrees=config.rotation,
            translate=(config.shift, config.shift) if config.shift else None,
            scale=(1.0 - config.zoom, 1.0 + config.zoom) if config.zoom else None,
            interpolation=v2.InterpolationMode.BILINEAR))
    if config.flip:
        steps.append(v2.RandomHorizontalFlip(p=0.5))
    if config.brightness or config.contrast or config.saturation or config.hue:
        steps.append(v2.ColorJitter(brightness=config.brightness or None, contrast=config.contrast or None,
                                    saturation=config.saturation or None, hue=config.hue or None))
    if not steps:
        return v2.Identity()
    return v2.Compose(steps)
