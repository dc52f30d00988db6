"""Live sources: cameras, RTSP/GStreamer streams and the Raspberry Pi camera.

A grabber thread reads the device as fast as it delivers and keeps only the
newest frame; the pipeline takes whatever is newest when it is ready, so a slow
model drops stale frames (counted) instead of falling further and further
behind a queue.  When the device or stream goes away (unplugged camera,
dropped RTSP connection, end of stream) the thread reconnects with doubling
backoff, up to ``SourceOptions.max_retries`` attempts, then the source ends
with a :class:`SourceError`.  A stream that accepts the connection and never
answers costs ``SourceOptions.timeout_s`` per open or read (FFmpeg's open/read
timeouts), not FFmpeg's 30 s, and a stop signal ends the wait at once even
while the grabber is still inside an open.

Stream examples::

    edgeaffect run B --source rtsp://192.168.1.20:554/stream1
    # Jetson CSI camera through GStreamer (OpenCV built with GStreamer, as on JetPack):
    edgeaffect run B --source "nvarguscamerasrc sensor-id=0 ! video/x-raw(memory:NVMM),width=1280,height=720,\
framerate=30/1 ! nvvidconv ! video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! appsink drop=1 max-buffers=1"
    edgeaffect run B --source picamera:      # Raspberry Pi camera via picamera2 ('picamera' extra)

Torch-free.
"""
from __future__ import annotations

import abc
import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import cv2

from edgeaffect._optional import require
from edgeaffect.errors import SourceError
from edgeaffect.runtime.sources import Frame, SourceCounters, SourceOptions, backoff_wait, register_source

log = logging.getLogger(__name__)


class LiveSource(abc.ABC):
    """Base of the live kinds: a grabber thread, newest-frame hand-over, reconnects."""

    realtime = True
    kind = "live"

    def __init__(self, spec: str, options: SourceOptions) -> None:
        self.spec, self.options = spec, options
        self.counters = SourceCounters()
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._error: Exception | None = None
        self._done = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- per kind ----------------------------------------------------------------------
    @abc.abstractmethod
    def _open(self) -> Any:
        """Return an opened capture with ``read() -> (ok, image)`` and ``release()``, or None."""

    def _why(self) -> str:
        """What is known about a failed open, for its messages ("" when nothing is)."""
        return ""

    # -- grabber thread ----------------------------------------------------------------
    def _connect(self) -> Any:
        attempt = 0
        while not self._stop.is_set():
            cap = self._open()
            if cap is not None:
                return cap
            attempt += 1
            self.counters.retries += 1
            backoff_wait(attempt, self.options, f"cannot open {self.kind} '{self.spec}'{self._why()}",
                         sleep=self._stop.wait)
        return None

    def _grab_loop(self) -> None:
        index, t_start, failures = 0, time.monotonic(), 0
        cap = None
        try:
            cap = self._connect()
            while cap is not None and not self._stop.is_set():
                t0 = time.perf_counter()
                ok, image = cap.read()
                if not ok or image is None or image.size == 0:
                    cap.release()
                    cap = None
                    failures += 1
                    log.warning("%s '%s' stopped delivering frames; reconnecting", self.kind, self.spec)
                    if failures > 1:  # it opens but gives nothing (busy camera): back off, bounded
                        self.counters.retries += 1
                        backoff_wait(failures - 1, self.options, f"{self.kind} '{self.spec}' delivers no frames",
                                     sleep=self._stop.wait)
                    cap = self._connect()
                    if cap is not None:
                        self.counters.reconnects += 1
                    continue
                failures = 0
                frame = Frame(index, time.monotonic() - t_start, image, (time.perf_counter() - t0) * 1e3)
                index += 1
                with self._cond:
                    if self._latest is not None:
                        self.counters.dropped += 1
                    self._latest = frame
                    self._cond.notify()
        except Exception as exc:  # noqa: BLE001  (handed to the consumer thread, which raises it)
            self._error = exc
        finally:
            if cap is not None:
                cap.release()
            with self._cond:
                self._done = True
                self._cond.notify_all()

    # -- consumer side -----------------------------------------------------------------
    def frames(self) -> Iterator[Frame]:
        self._thread = threading.Thread(target=self._grab_loop, name=f"edgeaffect-{self.kind}", daemon=True)
        self._thread.start()
        while True:
            with self._cond:
                while self._latest is None and not self._done and not self._stop.is_set():
                    self._cond.wait(0.2)
                frame, self._latest = self._latest, None
                # a signal ends the wait at once, even while the grabber is still blocked opening the device
                done = self._done or self._stop.is_set()
            if frame is not None:
                self.counters.frames += 1
                yield frame
            elif done:
                break
        if self._error is not None:
            raise self._error

    def interrupt(self) -> None:
        """Make ``frames()`` end soon (safe to call from a signal handler)."""
        self._stop.set()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            # The grabber is a daemon: one stuck inside an open is left to its timeout, not waited for.
            self._thread.join(timeout=1.0)
            if self._thread.is_alive():
                log.debug("%s '%s': grabber still inside an open or read; not waiting for it", self.kind, self.spec)


def _opened(cap: cv2.VideoCapture) -> cv2.VideoCapture | None:
    if cap.isOpened():
        return cap
    cap.release()
    return None


@register_source("camera")
class CameraSource(LiveSource):
    """An OpenCV camera by index (V4L2 on Linux, USB webcams)."""

    @staticmethod
    def matches(spec: str) -> bool:
        return spec.strip().isdigit()

    def _open(self) -> cv2.VideoCapture | None:
        cap = cv2.VideoCapture(int(self.spec))
        if self.options.width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.options.width)
        if self.options.height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.options.height)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the driver's own queue would add latency
        return _opened(cap)

    def _why(self) -> str:
        # Still retried: at boot a service can start before udev makes the node. But the first warning says it,
        # so a user without that camera reads why at once instead of after every retry.
        node = Path(f"/dev/video{int(self.spec)}")
        if not sys.platform.startswith("linux") or node.exists():
            return ""
        present = sorted(p.name for p in Path("/dev").glob("video*"))
        return f" ({node} does not exist; {'cameras here: ' + ', '.join(present) if present else 'no /dev/video* at all'})"


@register_source("stream")
class StreamSource(LiveSource):
    """A network stream (rtsp://, http://) through FFmpeg or a GStreamer pipeline ending in ``appsink``."""

    @staticmethod
    def matches(spec: str) -> bool:
        return "://" in spec or "!" in spec

    def _open(self) -> cv2.VideoCapture | None:
        if "!" in self.spec:  # a GStreamer pipeline sets its own timeouts (e.g. rtspsrc timeout=...)
            return _opened(cv2.VideoCapture(self.spec, cv2.CAP_GSTREAMER))
        if not cv2.videoio_registry.hasBackend(cv2.CAP_FFMPEG):
            return _opened(cv2.VideoCapture(self.spec, cv2.CAP_ANY))
        # FFmpeg honours both timeouts (its interrupt callback); other backends may refuse unknown parameters.
        ms = max(int(self.options.timeout_s * 1000), 1)
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
        return _opened(cv2.VideoCapture(self.spec, cv2.CAP_FFMPEG, params))


class _Picamera:
    """picamera2 behind the ``read()/release()`` shape of an OpenCV capture."""

    def __init__(self, width: int, height: int) -> None:
        picamera2 = require("picamera2", "picamera", purpose="the Raspberry Pi camera")
        self._cam = picamera2.Picamera2()
        # "RGB888" in libcamera's naming is B,G,R byte order: what OpenCV expects.
        config = self._cam.create_video_configuration(main={"size": (width, height), "format": "RGB888"})
        self._cam.configure(config)
        self._cam.start()

    def read(self) -> tuple[bool, Any]:
        try:
            return True, self._cam.capture_array()
        except RuntimeError as exc:
            log.warning("picamera2 capture failed: %s", exc)
            return False, None

    def release(self) -> None:
        self._cam.stop()
        self._cam.close()


@register_source("picamera")
class PicameraSource(LiveSource):
    """The Raspberry Pi camera module through picamera2 (imported only when asked for)."""

    def __init__(self, spec: str, options: SourceOptions) -> None:
        require("picamera2", "picamera", purpose="the Raspberry Pi camera")  # fail now, not in the grabber thread
        super().__init__(spec, options)

    @staticmethod
    def matches(spec: str) -> bool:
        return spec.strip().lower() in ("picamera", "picamera2")

    def _open(self) -> _Picamera | None:
        try:
            return _Picamera(self.options.width or 640, self.options.height or 480)
        except RuntimeError as exc:  # camera busy or not connected
            log.warning("cannot start the Pi camera: %s", exc)
            return None
