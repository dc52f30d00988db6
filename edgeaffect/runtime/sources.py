"""Frame sources: where the runtime's frames come from, registered by kind.

Every source yields :class:`Frame` (index, timestamp in seconds, BGR image,
decode time).  Files and image folders are read in order, every frame; live
sources (camera, RTSP/GStreamer stream, Pi camera — see ``live.py``) keep only
the newest frame so a slow model never works on stale video.

``open_source(spec, options)`` picks the kind: an explicit ``kind:rest`` prefix
(``camera:0``, ``video:clip.avi``, ``folder:imgs/``, ``stream:rtsp://...``,
``picamera:``) or, without one, the first kind whose ``matches`` accepts the
spec (digits = camera, ``://`` or a GStreamer ``!`` pipeline = stream, a
folder, a file).  Adding a kind = one class with ``register_source``.

An undecodable frame is skipped and counted; a folder that disappears is
waited for with backoff (bounded retries) before the run stops.  A video file
can be replayed in a loop (``SourceOptions.loop``) with indices and timestamps
running on across the seams.  Torch-free.
"""
from __future__ import annotations

import abc
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Protocol

import cv2
import numpy as np

from edgeaffect.errors import SourceError, check_range
from edgeaffect.io import IMAGE_SUFFIXES, opencv_path, read_image_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Frame:
    """One decoded frame; ``index`` counts frames of the source (gaps = skipped or dropped frames);
    ``name`` is the image's file name when the source is a folder of images (results carry it)."""

    index: int
    timestamp: float
    image: np.ndarray
    decode_ms: float = 0.0
    name: str = ""


@dataclass(kw_only=True)
class SourceOptions:
    """How to read a source.  ``max_retries`` bounds reconnects after a loss; the wait doubles from ``backoff_s``."""

    folder_fps: float = 30.0  # timestamps of image folders
    max_retries: int = 5
    backoff_s: float = 0.5
    backoff_max_s: float = 8.0
    loop: bool = False  # replay a video file from the start at its end (kiosks, soak tests)
    # A stream that accepts and never answers would hold each open (and each read) for FFmpeg's own 30 s.
    timeout_s: float = 5.0
    width: int | None = None  # requested capture size (cameras)
    height: int | None = None

    def __post_init__(self) -> None:  # finite bounds: a NaN fps or an infinite timeout never reaches OpenCV
        check_range("--fps", self.folder_fps, 0.01, 1000)
        check_range("--timeout", self.timeout_s, 0.1, 3600)
        check_range("--max-retries", self.max_retries, 0, 10_000, whole=True)
        for name, side in (("--width", self.width), ("--height", self.height)):
            if side is not None:
                check_range(name, side, 1, 16384, whole=True)


@dataclass
class SourceCounters:
    """Running counts a source keeps; the pipeline copies them into the run summary."""

    frames: int = 0  # frames delivered
    bad: int = 0  # undecodable frames skipped
    dropped: int = 0  # stale live frames replaced by a newer one before being processed
    reconnects: int = 0  # successful reconnects after a loss
    retries: int = 0  # failed open attempts


class FrameSource(Protocol):
    kind: str
    spec: str
    realtime: bool
    counters: SourceCounters

    def frames(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


SOURCES: dict[str, type] = {}


def register_source(kind: str) -> Callable[[type], type]:
    def wrap(cls: type) -> type:
        cls.kind = kind
        SOURCES[kind] = cls
        return cls

    return wrap


def backoff_wait(attempt: int, options: SourceOptions, what: str,
                 sleep: Callable[[float], object] = time.sleep) -> None:
    """Sleep before retry ``attempt`` (1-based) or raise once the retries are used up."""
    if attempt > options.max_retries:
        raise SourceError(f"{what}: gave up after {options.max_retries} retries",
                          "check the cable/URL/path, or raise --max-retries")
    delay = min(options.backoff_s * 2 ** (attempt - 1), options.backoff_max_s)
    log.warning("%s; retry %d/%d in %.2fs", what, attempt, options.max_retries, delay)
    sleep(delay)


def open_source(spec: str | int | Path, options: SourceOptions | None = None) -> FrameSource:
    """Build the source ``spec`` names (see the module docstring for the rules)."""
    from edgeaffect.runtime import live  # noqa: F401  (registers camera, stream, picamera)

    options = options or SourceOptions()
    text = str(spec)
    kind, sep, rest = text.partition(":")
    if kind == "camera" and sep or text.strip().isdigit():
        index = (rest if sep else text).strip()
        if not index.isdigit() or len(index) > 4:
            raise SourceError(f"camera index '{index}' is outside the allowed range: a whole number in 0..9999",
                              "pass the camera's index, e.g. --source 0 (see 'ls /dev/video*')")
    if sep and kind in SOURCES:  # URL schemes (rtsp:, http:) are not kinds, so they fall through
        return SOURCES[kind](rest, options)
    for cls in SOURCES.values():
        if cls.matches(text):
            return cls(text, options)
    raise SourceError(f"cannot open source '{text}': not a camera index, stream URL, folder or file",
                      f"pass a camera index (0), a video file, an image folder, an rtsp:// URL or a GStreamer pipeline; "
                      f"or prefix the kind: {', '.join(k + ':' for k in SOURCES)}")


class _LocalSource(abc.ABC):
    """What the folder and video-file sources share: a local path, read at its own pace (not real time),
    refused at once when it is not there."""

    realtime = False
    what = ""  # names the path in messages: "image folder", "video file"

    def __init__(self, spec: str, options: SourceOptions) -> None:
        self.spec, self.options, self.path = spec, options, Path(spec)
        self.counters = SourceCounters()
        if not self.matches(spec):
            other = "a folder" if self.path.is_dir() else "a file" if self.path.exists() else ""
            article = "an" if self.what[0] in "aeiou" else "a"
            raise SourceError(f"{self.path} is {other}, not {article} {self.what}" if other else
                              f"{self.what} {self.path} does not exist", f"pass an existing {self.what}"
                              + (" (or leave the kind prefix out)" if other else ""))

    @staticmethod
    @abc.abstractmethod
    def matches(spec: str) -> bool:
        """Whether ``spec`` names this kind of local path (each source says)."""

    def close(self) -> None:
        pass


@register_source("folder")
class ImageFolderSource(_LocalSource):
    """Every image of a folder in name order; timestamps at ``folder_fps``."""

    what = "image folder"

    def __init__(self, spec: str, options: SourceOptions) -> None:
        super().__init__(spec, options)
        entries = list(self.path.iterdir())
        self.files = sorted(p for p in entries if p.suffix.lower() in IMAGE_SUFFIXES)
        inner = sum(1 for p in entries if p.is_dir())
        if inner:  # one folder is one sequence of frames; a corpus of folders is run as such only without images here
            log.warning("%s: %d sub-folder(s) are not read (only the images directly in the folder are)", self.path, inner)
        if not self.files:
            raise SourceError(f"image folder {self.path} holds no images ({', '.join(IMAGE_SUFFIXES)})",
                              "point --source at a folder of frames")

    @staticmethod
    def matches(spec: str) -> bool:
        return Path(spec).is_dir()

    def _wait_for_folder(self) -> None:
        attempt = 0
        while not self.path.is_dir():
            attempt += 1
            self.counters.retries += 1
            backoff_wait(attempt, self.options, f"image folder {self.path} disappeared")
        if attempt:
            self.counters.reconnects += 1
            log.info("image folder %s is back", self.path)

    def frames(self) -> Iterator[Frame]:
        for index, path in enumerate(self.files):
            t0 = time.perf_counter()
            if not path.exists():
                self._wait_for_folder()
            image = read_image_file(path) if path.exists() else None
            if image is None or image.size == 0:
                self.counters.bad += 1
                readable = path.is_file() and os.access(path, os.R_OK)
                log.warning("skipping %s image %s", "undecodable" if readable else "unreadable (permissions?)", path)
                continue
            self.counters.frames += 1
            yield Frame(index, index / self.options.folder_fps, image, (time.perf_counter() - t0) * 1e3, path.name)


@register_source("video")
class VideoFileSource(_LocalSource):
    """A video file read in order, every frame; timestamps from the container."""

    what = "video file"

    def __init__(self, spec: str, options: SourceOptions) -> None:
        super().__init__(spec, options)
        self._cap: cv2.VideoCapture | None = None

    @staticmethod
    def matches(spec: str) -> bool:
        return Path(spec).is_file()

    def frames(self) -> Iterator[Frame]:
        index, offset = 0, 0.0
        while True:
            last = yield from self._play(index, offset)
            if not self.options.loop or last is None:
                return
            index, offset = last[0] + 1, last[1]
            log.debug("%s: replaying from the start", self.path)

    def _play(self, first: int, offset: float) -> Iterator[Frame]:
        """One pass over the file; returns (index, timestamp) of its last frame (None when empty)."""
        if self._cap is not None:
            self._cap.release()
        cap = self._cap = cv2.VideoCapture(opencv_path(self.path))
        if not cap.isOpened():
            raise SourceError(f"OpenCV cannot open video {self.path}", "check the file plays, or convert it to MJPG/H.264")
        fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
        expected = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        n, shape, last = 0, None, None
        while True:
            t0 = time.perf_counter()
            if not cap.grab():
                break
            ok, image = cap.retrieve()
            if not ok or image is None or (shape is not None and image.shape != shape):
                self.counters.bad += 1
                n += 1
                continue
            shape = image.shape
            pos_ms = cap.get(cv2.CAP_PROP_POS_MSEC)
            stamp = offset + (pos_ms / 1e3 if pos_ms > 0 or n == 0 else n / fps) + (1.0 / fps if first else 0.0)
            self.counters.frames += 1
            last = (first + n, stamp)
            yield Frame(first + n, stamp, image, (time.perf_counter() - t0) * 1e3)
            n += 1
        # FFmpeg drops packets it cannot decode without an error, so frames the
        # container announced but never delivered are the undecodable ones.
        lost = expected - n
        if lost > 0:
            self.counters.bad += lost
            log.warning("%s: %d of %d frames could not be decoded and were skipped", self.path, lost, expected)
        return last

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
