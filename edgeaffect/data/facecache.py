"""Face crops of a video, computed once and cached.

``face_crops(video, options, cache)`` decodes the video once, keeps the frames
that fall on a ``fps`` grid, runs a registered face detector every
``detect_every`` kept frames, smooths the box track, and cuts each face with the
one :func:`edgeaffect.facecrop.cut` (the runtime's cut) at ``crop_size``.  The crops land in ``cache_dir`` as ``.npy`` (read back
memory-mapped, so a clip read touches only its frames) with a ``.json``
sidecar written last: a crash mid-write leaves no half cache.  The cache key is
the video path, size, mtime and a hash of the crop options, so an edited video
or other options never reuse stale crops.  The cache holds face crops of the
dataset the user pointed at and nothing else; ``cache_dir=None`` keeps them in
memory only.  Torch-free.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import cv2
import numpy as np

from edgeaffect.detectors import create_detector, largest
from edgeaffect.errors import DataError
from edgeaffect.facecrop import cut
from edgeaffect.io import atomic_write, atomic_write_json, opencv_path
from edgeaffect.meta import Framing
from edgeaffect.plain import to_plain

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CropOptions:
    fps: float = 4.0  # frames kept per second of video (never more than the video has)
    crop_size: int = 72
    detector: str = "haar"
    detector_options: Mapping[str, Any] | None = None  # e.g. {"model": "yunet.onnx"}
    detect_every: int = 4  # kept frames between two detections; boxes in between are interpolated
    scale: float = 1.2  # square crop side = scale x the larger box side (Framing.scale)
    # INTER_AREA averages the skin pixels, which keeps the faint pulse colour rather than aliasing it away
    interpolation: str = "area"
    frame_tolerance: int = 2  # frames a video may fall short of its header before it counts as truncated

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(to_plain(self), sort_keys=True, default=str).encode()).hexdigest()[:12]

    @property
    def framing(self) -> Framing:
        """The framing these crops have: what a model trained on them records in its ModelMeta."""
        return Framing(scale=self.scale, detector=self.detector)

    def info(self) -> dict[str, Any]:
        """What a dataset index records about its crops (builders copy it into the model's ModelMeta)."""
        return {"framing": to_plain(self.framing), "detector": self.detector, "interpolation": self.interpolation,
                "crop_size": self.crop_size}


@dataclass(frozen=True)
class VideoCrops:
    """Face crops (n, S, S, 3) uint8 BGR at ``fps``; ``native_fps`` and ``frames`` describe the source."""

    crops: np.ndarray
    fps: float
    native_fps: float
    frames: int  # decoded source frames
    boxes: np.ndarray  # (n, 4) smoothed x, y, w, h per kept frame

    @property
    def seconds(self) -> float:
        return self.frames / self.native_fps


class CropCache:
    """Where crops live between runs; counts what it served and what it computed."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = Path(directory) if directory is not None else None
        self.hits = 0
        self.computed = 0
        self._memory: dict[str, VideoCrops] = {}

    def __getstate__(self) -> dict:
        # data-loader workers re-open the memory-mapped files instead of receiving copies of every crop
        state = dict(self.__dict__)
        if self.directory is not None:
            state["_memory"] = {}
        return state

    def key(self, video: Path, options: CropOptions) -> str:
        st = video.stat()
        raw = f"{video.resolve()}|{st.st_size}|{st.st_mtime_ns}|{options.digest()}"
        return f"{video.stem}-{hashlib.sha256(raw.encode()).hexdigest()[:16]}"

    def get(self, video: Path, options: CropOptions) -> VideoCrops:
        # within one process a video is looked up once; clip reads then skip the stat() of the key
        mem_key = f"{video}|{options.digest()}"
        if mem_key in self._memory:
            return self._memory[mem_key]
        try:
            key = self.key(video, options)
        except OSError as exc:
            raise DataError(f"cannot read video {video}: {exc}", "check the dataset folder is still there") from None
        found = self._load(key)
        if found is None:
            found = compute_crops(video, options)
            self.computed += 1
            self._store(key, found)
        else:
            self.hits += 1
        self._memory[mem_key] = found
        return found

    def _load(self, key: str) -> VideoCrops | None:
        if self.directory is None or not (self.directory / f"{key}.json").exists():
            return None
        meta = json.loads((self.directory / f"{key}.json").read_text())
        crops = np.load(self.directory / f"{key}.npy", mmap_mode="r")
        return VideoCrops(crops, meta["fps"], meta["native_fps"], meta["frames"], np.asarray(meta["boxes"]))

    def _store(self, key: str, vc: VideoCrops) -> None:
        if self.directory is None:
            return
        atomic_write(self.directory / f"{key}.npy", lambda fh: np.save(fh, np.ascontiguousarray(vc.crops)))
        atomic_write_json(self.directory / f"{key}.json", {"fps": vc.fps, "native_fps": vc.native_fps,
                                                           "frames": vc.frames, "boxes": vc.boxes.tolist()})


def _smooth_track(boxes: list[tuple[float, ...] | None], n: int) -> np.ndarray | None:
    """Interpolate detections over all kept frames, then a short moving average against jitter."""
    idx = [i for i, b in enumerate(boxes) if b is not None]
    if not idx:
        return None
    known = np.array([boxes[i] for i in idx], dtype=np.float64)
    track = np.stack([np.interp(np.arange(n), idx, known[:, j]) for j in range(4)], 1)
    k = min(5, n)
    pad = np.pad(track, ((k // 2, k - 1 - k // 2), (0, 0)), mode="edge")
    return np.stack([np.convolve(pad[:, j], np.ones(k) / k, mode="valid") for j in range(4)], 1)


def crop_frame(frame: np.ndarray, box, options: CropOptions) -> np.ndarray:
    """One training crop: ``box`` (x, y, w, h) cut as ``options`` frame it; a box off the frame gives edge pixels."""
    crop = cut(frame, box, options.framing, options.crop_size, interpolation_name=options.interpolation)
    if crop is None:  # the smoothed track left the frame: keep the clip whole with the frame's nearest edge
        crop = cut(frame, (0, 0, frame.shape[1], frame.shape[0]), options.framing, options.crop_size,
                   interpolation_name=options.interpolation)
    return crop


def compute_crops(video: Path, options: CropOptions) -> VideoCrops:
    """Decode ``video`` once and return its face crops; DataError names the file on any failure."""
    cap = cv2.VideoCapture(opencv_path(video))
    try:
        if not cap.isOpened():
            raise DataError(f"cannot open video {video}", "re-encode or replace the file; it is skipped")
        native = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        announced = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        if native <= 0:
            raise DataError(f"{video} reports no frame rate", "re-encode the video with its frame rate set")
        fps = min(options.fps, native)
        step = native / fps
        frames, decoded, next_keep = [], 0, 0.0
        while True:
            if decoded + 1e-6 >= next_keep:
                ok, frame = cap.read()
                if not ok:
                    break
                frames.append(frame)
                next_keep = len(frames) * step
            elif not cap.grab():  # grab without converting frames we do not keep
                break
            decoded += 1
    finally:
        cap.release()
    if decoded == 0:
        raise DataError(f"cannot decode any frame of {video}", "re-encode or replace the file; it is skipped")
    if announced and decoded + options.frame_tolerance < announced:
        raise DataError(f"{video} stops after {decoded} of its {announced} frames",
                        "the file is truncated; copy it again from the source")
    detector = create_detector(options.detector, **dict(options.detector_options or {}))
    boxes: list[tuple[float, ...] | None] = [None] * len(frames)
    for i in range(0, len(frames), max(options.detect_every, 1)):
        face = largest(detector.detect(frames[i]))
        boxes[i] = face.box if face is not None else None
    track = _smooth_track(boxes, len(frames))
    if track is None:
        raise DataError(f"no face found in {video} by the '{options.detector}' detector",
                        "try another detector (--detector yunet) or detector 'none' for pre-cropped video")
    crops = np.stack([crop_frame(f, b, options) for f, b in zip(frames, track)])
    log.debug("%s: %d frames at %.2f fps -> %d crops", video, decoded, native, len(crops))
    return VideoCrops(crops, fps, native, decoded, track)
