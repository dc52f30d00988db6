"""The Python face of the runtime: ``edgeaffect.load(bundle)`` -> :class:`FacePredictor`.

::

    model = edgeaffect.load("default")            # a bundle folder or "default" (the shipped model)
    faces = model(image)                          # BGR numpy frame or a path: detect, frame, classify
    model.classify(crops)                         # faces already cut out: one batched backend call
    for result in model.stream("clip.mp4", pulse="pos"):   # tracked, smoothed, heart rate
        ...
    edgeaffect.draw(image, faces)                 # an annotated copy

A predictor is built from the same :class:`RunConfig` as ``edgeaffect run`` (keyword
overrides are the CLI flags, see ``runflags.py``), resolves the bundle's runtime settings
the same way, and owns the detector, the crop framing and the batched backend that
``run``'s loop uses: ``run`` builds a :class:`FacePredictor` and drives :meth:`session`,
and :meth:`stream` is the same loop without sinks.  Results are the runtime's frozen
:class:`FaceResult` / :class:`FrameResult`.  Torch-free.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator, Sequence

import cv2
import numpy as np

from edgeaffect.bundle import load_bundle
from edgeaffect.detectors import create_detector
from edgeaffect.detectors.base import Face
from edgeaffect.errors import ConfigError, SourceError
from edgeaffect.io import read_image_file
from edgeaffect.runtime.crop import crop_face
from edgeaffect.runtime.inference import Predictor
from edgeaffect.runtime.loader import backend_for, open_model
from edgeaffect.runtime.postprocess import Prediction
from edgeaffect.runtime.results import FaceResult, FrameResult
from edgeaffect.runtime.settings import resolve_settings
from edgeaffect.runtime.sinks import annotate
from edgeaffect.runtime.stats import RunStats

log = logging.getLogger(__name__)


def _as_bgr(image: Any, bgr: bool) -> np.ndarray:
    """A uint8 BGR (or gray) array from an array in the stated colour order, or from an image file."""
    if isinstance(image, (str, Path)):
        read = read_image_file(image)
        if read is None:
            raise SourceError(f"cannot read image {image}", "pass a readable image file (png, jpg, ...) or a numpy array")
        return read  # files decode to BGR whatever ``bgr`` says
    if _is_pil(image):
        return _pil_to_bgr(image)
    array = np.asarray(image)
    if (array.dtype != np.uint8 or array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4))
            or 0 in array.shape[:2]):  # an empty array reached the detector's network as a missing input
        raise ConfigError(f"an image of shape {array.shape} and dtype {array.dtype}",
                          "pass a non-empty uint8 HxW (gray), HxWx3 or HxWx4 array, or a path")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 3 and array.shape[2] == 4:
        array = cv2.cvtColor(array, cv2.COLOR_BGRA2BGR if bgr else cv2.COLOR_RGBA2BGR)
    elif array.ndim == 3 and not bgr:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    return array


def _is_pil(image: Any) -> bool:
    return type(image).__module__.startswith("PIL.") and hasattr(image, "mode") and hasattr(image, "convert")


def _pil_to_bgr(image: Any) -> np.ndarray:
    """A PIL image says its own mode: palette, CMYK, YCbCr and the rest are converted by it, never read as
    channels (a palette image's indices were read as gray levels), and ``bgr`` does not apply."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # no lossless 8-bit reading of their range
        raise ConfigError(f"a PIL image of mode {image.mode} (more than 8 bits per pixel)",
                          "scale it to 8 bits first, e.g. image.convert('L'), or pass a uint8 numpy array")
    if image.mode in ("L", "1", "LA"):
        return np.asarray(image.convert("L"))
    return cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2BGR)


def cut_faces(image: np.ndarray, faces: Sequence[Face], crop) -> tuple[list[int], list[np.ndarray]]:
    """(indices of the faces kept, their crops): one crop per face, faces outside the frame left out."""
    kept, crops = [], []
    for i, face in enumerate(faces):
        cut = crop_face(image, face, crop)
        if cut is not None and cut.size:
            kept.append(i)
            crops.append(cut)
    return kept, crops


class FacePredictor:
    """A loaded bundle with its detector, framing and backend; see the module docstring."""

    def __init__(self, config) -> None:
        """``config``: a :class:`~edgeaffect.runtime.pipeline.RunConfig` (use :func:`load` to build one from flags)."""
        self.config = config
        self.bundle = load_bundle(config.bundle)
        self.settings = resolve_settings(config, self.bundle, backend_for(self.bundle))
        log.info("settings: %s", self.settings.line())
        threads = self.settings.backend_options.get("threads")
        if threads:
            cv2.setNumThreads(int(threads))  # OpenCV's detectors share the cores with the backend
        self.loaded = open_model(self.bundle, backend=self.settings.backend, **dict(self.settings.backend_options))
        self.meta = self.bundle.meta
        self.labels: tuple[str, ...] = tuple(self.meta.labels)
        self.detector = create_detector(self.settings.detector, **dict(self.settings.detector_options))
        if getattr(self.detector, "engine", None):  # what "auto" picked: the settings line shows only flags
            log.info("face detector %s runs on %s", self.settings.detector, self.detector.engine)
        self.crop = config.crop.for_model(self.meta)  # the framing the model was trained on, unless overridden
        self.stats = RunStats(rss_interval_s=config.rss_interval_s)
        self.engine = Predictor(self.loaded.backend, self.meta, self.stats)  # one batched backend call per frame

    def __repr__(self) -> str:
        return (f"FacePredictor({self.meta.model!r}, {self.loaded.backend_name}, labels={list(self.labels)}, "
                f"detector={self.settings.detector})")

    # -- single images ---------------------------------------------------------------------------------------
    def _image_model(self) -> None:
        if self.meta.temporal is not None:
            raise ConfigError(f"model '{self.meta.model}' reads clips of {self.meta.temporal.frames} frames, "
                              "not single images", "use model.stream(video) for a clip model")

    def detect(self, image: Any, *, bgr: bool = True) -> tuple[Face, ...]:
        """The faces the bundle's detector finds (best first, at most ``max_faces``)."""
        return tuple(self.detector.detect(_as_bgr(image, bgr))[: self.config.max_faces])

    def __call__(self, image: Any, *, bgr: bool = True) -> tuple[FaceResult, ...]:
        """Detect, frame (as the model's ModelMeta says) and classify every face of one image, in one batch."""
        self._image_model()
        frame = _as_bgr(image, bgr)
        faces = self.detector.detect(frame)[: self.config.max_faces]
        kept, crops = cut_faces(frame, faces, self.crop)
        preds = self._predict(crops)
        return tuple(self._result(n + 1, faces[i], p) for n, (i, p) in enumerate(zip(kept, preds)))

    def classify(self, crops: Sequence[Any], *, bgr: bool = True) -> tuple[FaceResult, ...]:
        """Faces already cut out (arrays, PIL images or paths), in one batched backend call; the box is the
        whole crop and ``detector_score`` 0 (no detector ran).  One crop alone is taken as a list of one, and
        an N x H x W x C array as N crops."""
        self._image_model()
        if isinstance(crops, (str, Path)) or _is_pil(crops) or (isinstance(crops, np.ndarray) and crops.ndim in (2, 3)):
            crops = [crops]  # iterated, one HxWx3 crop was taken as H crops of one row each
        if crops is None or not hasattr(crops, "__iter__"):
            raise ConfigError(f"classify() got {type(crops).__name__}", "pass a face crop or a list of them")
        images = [_as_bgr(c, bgr) for c in crops]
        return tuple(self._result(n + 1, Face(0.0, 0.0, float(im.shape[1]), float(im.shape[0]), 0.0), p, detected=False)
                     for n, (im, p) in enumerate(zip(images, self._predict(images))))

    def _predict(self, crops: list[np.ndarray]) -> list[Prediction]:
        return [tp.prediction for tp in self.engine.predict(range(len(crops)), crops, 0.0)]

    def _label(self, index: int) -> str:
        return self.labels[index] if index < len(self.labels) else str(index)

    def _result(self, track_id: int, face: Face, pred: Prediction, *, detected: bool = True) -> FaceResult:
        label = None if pred.probs is None else self._label(int(np.argmax(pred.probs)))
        va = pred.va
        return FaceResult(
            track_id=track_id, box=tuple(float(v) for v in face.box), detected=detected,
            detector_score=float(face.score), label=label, raw_label=label,
            scores=() if pred.probs is None else tuple(float(p) for p in pred.probs),
            valence=None if va is None or np.isnan(va[0]) else float(va[0]),
            arousal=None if va is None or np.isnan(va[1]) else float(va[1]))

    # -- video: the run loop ---------------------------------------------------------------------------------
    def session(self, config=None):
        """A fresh run loop (tracker, smoothers, pulse windows, clip buffers) on this predictor's parts."""
        from edgeaffect.runtime.pipeline import _Loop

        config = config or self.config
        settings = self.settings if config is self.config else resolve_settings(config, self.bundle,
                                                                                  backend_for(self.bundle))
        stats = RunStats(rss_interval_s=config.rss_interval_s)
        return _Loop(config, settings, Predictor(self.loaded.backend, self.meta, stats), stats, self)

    def stream(self, source: Any, *, pulse: str | None = None, pulse_window: float = 10.0,
               smoothing: str | None = None, max_frames: int | None = None, fps: float = 30.0,
               loop: bool = False, images: bool = False) -> Iterator[FrameResult] | Iterator[tuple[np.ndarray, FrameResult]]:
        """One :class:`FrameResult` per frame of a camera index, video file, image folder or stream, as ``run``
        makes them (tracking, smoothing, ``--pulse`` heart rate); ``images=True`` yields (frame, result) pairs."""
        from edgeaffect.runtime.pulse import PulseOptions
        from edgeaffect.runtime.smoothing import SmoothingSpec
        from edgeaffect.runtime.sources import open_source

        if not isinstance(source, (str, int, Path)):  # an image array became a file name thousands of characters long
            raise ConfigError(f"stream() got {type(source).__name__}", "pass a camera index, a video file, an image "
                              "folder or a stream URL; for one image call the model on it: model(image)")
        config = replace(self.config, source=str(source), max_frames=max_frames,
                         pulse=PulseOptions(estimator=pulse, window_s=pulse_window) if pulse else self.config.pulse,
                         smoothing=SmoothingSpec.parse(smoothing) if smoothing else self.config.smoothing,
                         source_options=replace(self.config.source_options, folder_fps=fps, loop=loop))
        session = self.session(config)
        src = open_source(session.settings.source, config.source_options)
        frames = src.frames()
        try:
            for frame in frames:
                result = session.process(frame)
                yield (frame.image, result) if images else result
                if max_frames is not None and session.processed >= max_frames:
                    break
        finally:
            frames.close()
            src.close()


def load(bundle: str | Path = "default", **flags: Any) -> FacePredictor:
    """Open a bundle (folder written by ``edgeaffect export``, or ``"default"``) for Python use.

    ``flags`` are ``edgeaffect run``'s options by their names (``detector``, ``detect_every``,
    ``detect_side``, ``max_faces``, ``smoothing``, ``margin``, ``align``, ``backend``,
    ``backend_option``, ``threads``, ``pulse``, ...); unset ones take the bundle's runtime settings.
    """
    import inspect

    from edgeaffect.runtime.runflags import run_config

    if not isinstance(bundle, (str, Path)):
        raise ConfigError(f"load() got {type(bundle).__name__} {bundle!r}", "pass a bundle folder or \"default\"")
    known = set(inspect.signature(run_config).parameters) - {"bundle"}
    unknown = sorted(set(flags) - known)
    if unknown:
        import difflib

        near = difflib.get_close_matches(unknown[0], known, n=1)
        raise ConfigError(f"load() has no option {', '.join(unknown)}" + (f" (did you mean {near[0]}?)" if near else ""),
                          f"use run's options by name: {', '.join(sorted(known))}")
    return FacePredictor(run_config(bundle, flags.pop("source", ""), **flags))


def draw(image: Any, faces: FrameResult | Sequence[FaceResult], *, bgr: bool = True) -> np.ndarray:
    """An annotated copy of ``image`` (box, track id, label, heart rate), in the colour order it came in."""
    frame = _as_bgr(image, bgr)
    result = faces if isinstance(faces, FrameResult) else FrameResult(0, 0.0, tuple(faces))
    out = annotate(frame, result)
    return out if bgr or isinstance(image, (str, Path)) else cv2.cvtColor(out, cv2.COLOR_BGR2RGB)
