"""ModelMeta: the description that travels with every checkpoint, export and bundle.

A model file alone does not say how to feed it.  ModelMeta does: the task, the
labels, the input size and colour, the normalisation, the temporal window of
video models and the output heads with their ranges.  It is stored as
``meta.json`` next to every artifact and as ONNX ``metadata_props`` inside ONNX
files, so the runtime never guesses preprocessing from a file name or a shape.

Torch-free: the runtime imports this module.
"""
from __future__ import annotations

import enum
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from edgeaffect.errors import BundleError
from edgeaffect.plain import from_plain, to_plain

META_VERSION = 1
ONNX_PROP_KEY = "edgeaffect.meta"
# Bounds every ModelMeta is checked against when it is built (so before a runtime allocates anything from
# it): a meta.json is read from bundles that may come from anywhere.  Far above any real face model.
MAX_INPUT_SIDE = 4096  # pixels, each of height and width
MAX_INPUT_ELEMENTS = 1 << 26  # channels x frames x height x width of one sample (256 MB as float32)
INTERPOLATION_NAMES = ("nearest", "linear", "cubic", "area", "lanczos4")  # the keys of preprocess.INTERPOLATIONS
MAX_LABELS, MAX_HEADS, MAX_HEAD_SIZE, MAX_CLIP_FRAMES, MAX_FPS = 1000, 32, 100_000, 1024, 1000.0


def _finite(values: Any) -> bool:
    return all(math.isfinite(v) for v in values)


def _check_bounds(meta: "ModelMeta") -> None:
    """ValueError naming the field, its value and the allowed range, for a meta no model of ours has."""
    def bad(field: str, value: Any, allowed: str) -> ValueError:
        text = repr(value)
        return ValueError(f"{field} = {text if len(text) <= 80 else text[:77] + '...'} is outside the allowed "
                          f"range: {allowed}")

    if len(meta.input_size) != 2 or not all(1 <= v <= MAX_INPUT_SIDE for v in meta.input_size):
        raise bad("input_size", meta.input_size, f"[height, width], each 1..{MAX_INPUT_SIDE}")
    if not _finite(meta.mean):
        raise bad("mean", meta.mean, "finite numbers")
    if not all(math.isfinite(v) and v > 0 for v in meta.std):
        raise bad("std", meta.std, "finite numbers above 0")
    if len(meta.labels) > MAX_LABELS or not all(isinstance(lb, str) and len(lb) <= 128 for lb in meta.labels):
        raise bad("labels", f"{len(meta.labels)} labels", f"at most {MAX_LABELS} texts of up to 128 characters")
    if len(set(meta.labels)) != len(meta.labels) or any("\n" in lb or "\r" in lb for lb in meta.labels):
        # two classes of one name make every result that names it ambiguous; labels.txt holds one per line
        raise bad("labels", list(meta.labels), "distinct class names, each on one line")
    if len(meta.heads) > MAX_HEADS:
        raise bad("heads", f"{len(meta.heads)} heads", f"at most {MAX_HEADS}")
    for h in meta.heads:
        if isinstance(h.size, bool) or not isinstance(h.size, int) or not 1 <= h.size <= MAX_HEAD_SIZE:
            raise bad(f"heads[{h.name}].size", h.size, f"a whole number in 1..{MAX_HEAD_SIZE}")
        if h.value_range is not None and (len(h.value_range) != 2 or not _finite(h.value_range)):
            raise bad(f"heads[{h.name}].value_range", h.value_range, "two finite numbers")
    # the class names and the prior belong to the first logits head: a count that differs from its size named
    # the wrong class (or none) for every prediction past the shorter list
    logits = next((h for h in meta.heads if h.kind is HeadKind.LOGITS), None)
    if logits is not None and meta.labels and len(meta.labels) != logits.size:
        raise bad("labels", f"{len(meta.labels)} labels", f"one per class of the '{logits.name}' head ({logits.size})")
    if logits is not None and meta.adjust is not None and meta.adjust.prior and len(meta.adjust.prior) != logits.size:
        raise bad("adjust.prior", f"{len(meta.adjust.prior)} values",
                  f"one per class of the '{logits.name}' head ({logits.size})")
    if meta.interpolation not in INTERPOLATION_NAMES:
        raise bad("interpolation", meta.interpolation, f"one of {', '.join(INTERPOLATION_NAMES)}")
    f = meta.framing
    if f is not None and not (isinstance(f.shift_x, (int, float)) and isinstance(f.shift_y, (int, float))
                              and _finite((f.shift_x, f.shift_y)) and abs(f.shift_x) <= 2 and abs(f.shift_y) <= 2):
        raise bad("framing.shift", (f.shift_x, f.shift_y), "finite numbers in -2..2 box sides")
    t = meta.temporal
    if t is not None:
        if isinstance(t.frames, bool) or not isinstance(t.frames, int) or not 1 <= t.frames <= MAX_CLIP_FRAMES:
            raise bad("temporal.frames", t.frames, f"a whole number in 1..{MAX_CLIP_FRAMES}")
        if isinstance(t.fps, bool) or not isinstance(t.fps, (int, float)) or not (math.isfinite(t.fps)
                                                                                   and 0 < t.fps <= MAX_FPS):
            raise bad("temporal.fps", t.fps, f"a number in (0, {MAX_FPS:g}]")
        if t.stride is not None and (isinstance(t.stride, bool) or not isinstance(t.stride, int)
                                     or not 1 <= t.stride <= MAX_CLIP_FRAMES):
            raise bad("temporal.stride", t.stride, f"null or a whole number in 1..{MAX_CLIP_FRAMES}")
    elements = meta.channels * (t.frames if t is not None else 1) * meta.input_size[0] * meta.input_size[1]
    if elements > MAX_INPUT_ELEMENTS:
        raise bad("input (channels x frames x height x width)", elements, f"at most {MAX_INPUT_ELEMENTS} values")


class Task(str, enum.Enum):
    """What the model predicts."""

    CLASSIFICATION = "classification"  # one categorical head (expressions)
    MULTITASK = "multitask"  # emotion classes + valence + arousal
    SIGNAL = "signal"  # a per-frame physiological trace (EDA) from video
    TABULAR = "tabular"  # fused feature windows (EEG + face features)


class Color(str, enum.Enum):
    GRAY = "gray"
    RGB = "rgb"


class HeadKind(str, enum.Enum):
    LOGITS = "logits"  # unnormalised class scores; softmax gives probabilities
    REGRESSION = "regression"  # one or more real values in ``value_range``
    SIGNAL = "signal"  # one value per input frame


class SignalTarget(str, enum.Enum):
    """What a signal head's per-frame values are; every consumer turns them into the level
    (``edgeaffect.signal_level``)."""

    LEVEL = "level"  # the signal itself
    # its change per second to the next frame: for models that see frame differences, not
    # levels (DeepPhys); integrated back to the level, up to a constant
    DERIVATIVE = "derivative"


@dataclass(frozen=True)
class Head:
    """One model output, in the order the model returns them."""

    name: str
    kind: HeadKind
    size: int = 1
    value_range: tuple[float, float] | None = None
    target: SignalTarget = SignalTarget.LEVEL  # signal heads only; metas written before it existed are levels

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", HeadKind(self.kind))
        object.__setattr__(self, "target", SignalTarget(self.target))
        if self.value_range is not None:
            object.__setattr__(self, "value_range", tuple(float(v) for v in self.value_range))


@dataclass(frozen=True)
class Temporal:
    """The clip a video model consumes: ``frames`` frames sampled at ``fps``."""

    frames: int
    fps: float
    stride: int | None = None  # frames between two inferences at run time; None = frames

    @property
    def step(self) -> int:
        return self.stride or self.frames


@dataclass(frozen=True)
class Framing:
    """How the training faces were framed, relative to a face detector's box.

    The runtime cuts a square of side ``scale x max(box w, box h)`` centred at the box
    centre moved by ``(shift_x, shift_y)`` box sides (positive = right / down), so a model
    sees faces framed as it was trained.  ``scale`` 1.3 equals the old fixed margin 0.15 per
    side.  ``aligned``: the faces were also rotated upright on their eye line.  ``detector``
    names the detector the numbers were measured with (``benchmarks/measure_framing.py``).
    """

    scale: float = 1.3
    shift_x: float = 0.0
    shift_y: float = 0.0
    aligned: bool = False
    detector: str = "yunet"

    def __post_init__(self) -> None:
        if not 0.2 <= float(self.scale) <= 5.0:
            raise ValueError(f"framing scale {self.scale} is outside [0.2, 5]")

    @property
    def margin(self) -> float:
        """The per-side margin (fraction of the box) this framing equals."""
        return (float(self.scale) - 1.0) / 2.0


@dataclass(frozen=True)
class LogitAdjust:
    """What a classifier's graph does to its logits after the network, recorded so every reader knows.

    The model (and so every export of it) returns ``logits + tau * log(prior)`` — logit adjustment
    (Menon et al., ICLR 2021): with ``tau < 0`` rare classes are favoured, ``tau = 0`` leaves the
    logits alone — and, with ``hflip``, the mean of the logits of the face and of its mirror image; with
    ``zoom`` < 1, also of the input's centre (that share of its side) enlarged back to the input size, a
    closer look at the eyes, nose and mouth (with ``hflip``, its mirror too).
    All live inside the graph, so ONNX Runtime, OpenVINO, LiteRT and TensorRT apply them identically;
    no consumer applies them again.  ``prior`` is the training split's class frequencies.
    """

    tau: float = 0.0
    prior: tuple[float, ...] = ()
    hflip: bool = False
    zoom: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "prior", tuple(float(p) for p in self.prior))
        if not 0.5 <= float(self.zoom) <= 1.0:
            raise ValueError(f"centre zoom {self.zoom} must lie in [0.5, 1] (1 = the input alone)")
        if not -4.0 <= float(self.tau) <= 4.0 or (self.tau and not self.prior):
            raise ValueError(f"logit adjustment tau {self.tau} needs a prior and must lie in [-4, 4]")
        if any(not 0.0 < p <= 1.0 for p in self.prior):
            raise ValueError("a logit-adjustment prior holds class frequencies in (0, 1]")

    def bias(self) -> list[float]:
        """The constant added to the logits: tau * log(prior) (empty without a prior)."""
        import math

        return [float(self.tau) * math.log(p) for p in self.prior] if self.tau else []


@dataclass(frozen=True)
class ModelMeta:
    """Everything needed to feed a model and read its outputs.

    ``input_size`` is (height, width).  Images are fed as NCHW float32 after
    ``(pixel / 255 - mean) / std`` per channel; clips as NCTHW.  ``heads`` lists
    the outputs in the order the model (and every export of it) returns them.
    """

    model: str
    task: Task
    input_size: tuple[int, int]
    color: Color
    heads: tuple[Head, ...]
    labels: tuple[str, ...] = ()
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    temporal: Temporal | None = None
    interpolation: str = "linear"  # cv2 method that enlarges a face to input_size (shrinking always averages)
    extra_inputs: tuple[str, ...] = ()  # e.g. ("bvp",) for a model fed a signal too
    framing: Framing | None = None  # face framing the model was trained on; None = the runtime's default margin
    adjust: LogitAdjust | None = None  # prior correction / mirror averaging inside the graph (classifiers)
    version: int = META_VERSION
    info: Mapping[str, Any] = field(default_factory=dict)  # free-form provenance

    def __post_init__(self) -> None:
        object.__setattr__(self, "task", Task(self.task))
        object.__setattr__(self, "color", Color(self.color))
        if any(isinstance(v, float) and not v.is_integer() for v in self.input_size):  # 64.5 was cut to 64 unsaid
            raise ValueError(f"input_size = {list(self.input_size)} is not whole pixels")
        object.__setattr__(self, "input_size", tuple(int(v) for v in self.input_size))
        object.__setattr__(self, "labels", tuple(self.labels))
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        object.__setattr__(self, "extra_inputs", tuple(self.extra_inputs))
        heads = tuple(h if isinstance(h, Head) else Head(**h) for h in self.heads)
        object.__setattr__(self, "heads", heads)
        if isinstance(self.temporal, Mapping):
            object.__setattr__(self, "temporal", Temporal(**self.temporal))
        if isinstance(self.framing, Mapping):
            object.__setattr__(self, "framing", Framing(**self.framing))
        if isinstance(self.adjust, Mapping):
            object.__setattr__(self, "adjust", LogitAdjust(**self.adjust))
        if len(self.mean) not in (1, self.channels) or len(self.std) not in (1, self.channels):
            raise ValueError(f"mean/std need 1 or {self.channels} values for {self.color.value} input")
        _check_bounds(self)

    # -- derived facts -----------------------------------------------------------------
    @property
    def channels(self) -> int:
        return 1 if self.color is Color.GRAY else 3

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    @property
    def is_temporal(self) -> bool:
        return self.temporal is not None

    def input_shape(self, batch: int = 1) -> tuple[int, ...]:
        """The shape of one input tensor: NCHW for images, NCTHW for clips."""
        h, w = self.input_size
        if self.temporal is not None:
            return (batch, self.channels, self.temporal.frames, h, w)
        return (batch, self.channels, h, w)

    def head(self, name: str) -> Head:
        for h in self.heads:
            if h.name == name:
                return h
        raise KeyError(f"no head '{name}' in {[h.name for h in self.heads]}")

    def evolve(self, **changes: Any) -> "ModelMeta":
        return replace(self, **changes)

    # -- serialisation -----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ModelMeta":
        if not isinstance(data, Mapping):
            raise ValueError(f"it holds a JSON {type(data).__name__}, not an object of fields")
        data = dict(data)
        version = data.get("version", META_VERSION)
        if isinstance(version, bool) or not isinstance(version, int):
            raise ValueError(f"version = {version!r} is not a whole number")
        if version > META_VERSION:
            raise BundleError(
                f"model metadata version {version} is newer than this edgeaffect understands ({META_VERSION})",
                "upgrade edgeaffect on this device: pip install -U edgeaffect",
            )
        # every saved meta has them; defaulted, a bundle whose meta lost them ran on (0, 1) pixels, confidently wrong
        lost = [name for name in ("mean", "std") if name not in data]
        if lost:
            raise ValueError(f"the input normalisation ({' and '.join(lost)}) is missing")
        return from_plain(cls, data, unknown=_refuse)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ModelMeta":
        try:
            return cls.from_dict(json.loads(text))
        except (json.JSONDecodeError, TypeError, ValueError, OverflowError, RecursionError) as exc:  # PlainError: a ValueError
            raise BundleError(f"model metadata is not valid: {exc}", "re-export the model") from exc

    def save(self, path: str | Path) -> Path:
        """Write ``meta.json`` atomically (a crash never leaves half a file)."""
        from edgeaffect.io import atomic_write_text

        return atomic_write_text(Path(path), self.to_json() + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "ModelMeta":
        path = Path(path)
        if path.is_dir():
            path = path / "meta.json"
        if not path.is_file():
            raise BundleError(f"no model metadata at {path}", "point at a run folder or bundle that holds meta.json")
        return cls.from_json(path.read_text(encoding="utf-8"))

    def to_onnx_props(self) -> dict[str, str]:
        """Key/value pairs for ``onnx.ModelProto.metadata_props``."""
        return {ONNX_PROP_KEY: json.dumps(self.to_dict(), sort_keys=True)}


def _refuse(key: str) -> None:
    raise BundleError(f"unknown model metadata field '{key}'", "re-export the model with this edgeaffect version")
