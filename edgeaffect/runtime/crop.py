"""Face crops at run time: the model's recorded framing (or the user's --margin) through the one cut.

``CropOptions`` is what the user may override; :meth:`CropOptions.for_model` resolves it
against the model's ModelMeta into a :class:`ModelCrop` (framing, input size,
interpolation), and :func:`crop_face` cuts with :func:`edgeaffect.facecrop.cut` - the
function the training caches and the evaluators use - so a live face is cut, padded and
resized exactly as the model's training faces were.  Torch-free.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from edgeaffect.detectors.base import Face
from edgeaffect.facecrop import DEFAULT_FRAMING, cut
from edgeaffect.meta import Framing

DEFAULT_MARGIN = DEFAULT_FRAMING.margin  # for models whose ModelMeta records no framing


@dataclass(frozen=True, kw_only=True)
class CropOptions:
    """``margin`` is added on every side as a fraction of the box size (negative = inside the box).

    ``margin=None`` takes the framing the model was trained on (``ModelMeta.framing``: scale and
    centre shift); a number given by the user overrides it.  ``align`` asks for the aligned cut
    (needs landmarks: YuNet); a model trained on aligned faces gets it anyway.
    """

    margin: float | None = None
    align: bool = False

    def __post_init__(self) -> None:
        if self.margin is not None and not -0.4 <= self.margin <= 2:
            raise ValueError(f"crop margin {self.margin} is outside [-0.4, 2]")

    def framing(self, meta) -> Framing:
        """The framing to cut with: the user's margin, else the model's framing, else the default."""
        recorded = getattr(meta, "framing", None) or DEFAULT_FRAMING
        if self.margin is not None:
            return Framing(scale=1.0 + 2.0 * self.margin, aligned=self.align, detector=recorded.detector)
        if self.align and not recorded.aligned:
            return replace(recorded, aligned=True)
        return recorded

    def for_model(self, meta) -> "ModelCrop":
        """These options resolved against the model: what every face of the run is cut with."""
        return ModelCrop(framing=self.framing(meta), size=tuple(meta.input_size),
                         interpolation=getattr(meta, "interpolation", "linear"))


@dataclass(frozen=True, kw_only=True)
class ModelCrop:
    """A cut resolved for one model: its framing, its input size (height, width), its interpolation."""

    framing: Framing
    size: tuple[int, int]
    interpolation: str = "linear"


def crop_face(frame: np.ndarray, face: Face, crop: ModelCrop) -> np.ndarray | None:
    """The crop for ``face`` at the model's input size; None for a face wholly outside the frame."""
    return cut(frame, face, crop.framing, crop.size, interpolation_name=crop.interpolation)
