"""Read ahead: decode the next frames in a thread while the loop works on this one.

Decoding a 640x480 frame costs about a millisecond, a tenth of a frame once
detection is cheap; OpenCV's decoders release the GIL, so on a device with a
spare core the decode runs beside detection and inference instead of before
them.  The frames wait in a bounded queue whose policy follows the source:

* a file or a folder (``source.realtime`` False) never loses a frame: the
  reader blocks while the queue is full, and results stay frame-exact;
* a live source (camera, stream) must not fall behind the world: when the loop
  is slower than the device, the oldest queued frame is dropped for the new
  one and counted in ``source.counters.dropped`` (the run summary's
  ``dropped_frames``).

An error inside the source (a lost stream) is raised on the consumer side, in
order, after the frames read before it.  Torch-free.
"""
from __future__ import annotations

import collections
import logging
import threading
from typing import Iterator

from edgeaffect.backend_options import usable_cores
from edgeaffect.runtime.sources import Frame, FrameSource

log = logging.getLogger(__name__)

DEFAULT_DEPTH = 4  # frames decoded ahead for files; live sources keep 1 (the freshest)


def default_depth() -> int:
    """DEFAULT_DEPTH when this process may use more than one core, else 0 (decode in the loop).

    On one core nothing overlaps and the hand-over between threads only costs: 5-7 % fewer
    frames per CPU second on the PhysRecorder clip pinned to one core (bench note of issue 23).
    """
    return DEFAULT_DEPTH if usable_cores() > 1 else 0


class ReadAhead:
    """A reader thread between a source and the loop; ``frames()`` once, then ``close()``."""

    def __init__(self, source: FrameSource, depth: int = DEFAULT_DEPTH) -> None:
        if depth < 1:
            raise ValueError("depth must be >= 1")
        self.source = source
        self.live = bool(getattr(source, "realtime", False))
        self.depth = 1 if self.live else depth  # a live frame older than the newest is only latency
        self._queue: collections.deque[Frame] = collections.deque()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._done = False
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def _read(self) -> None:
        frames = self.source.frames()
        try:
            for frame in frames:
                with self._cond:
                    while not self.live and len(self._queue) >= self.depth and not self._stop.is_set():
                        self._cond.wait(0.1)
                    if self._stop.is_set():
                        break
                    while len(self._queue) >= self.depth:  # live only: the loop fell behind
                        self._queue.popleft()
                        self.source.counters.dropped += 1
                    self._queue.append(frame)
                    self._cond.notify_all()
        except BaseException as exc:  # noqa: BLE001  (raised again on the consumer side)
            self._error = exc
        finally:
            frames.close()
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def frames(self) -> Iterator[Frame]:
        self._thread = threading.Thread(target=self._read, name=f"edgeaffect-read-{self.source.kind}", daemon=True)
        self._thread.start()
        while True:
            with self._cond:
                while not self._queue and not self._done:
                    self._cond.wait(0.2)
                frame = self._queue.popleft() if self._queue else None
                self._cond.notify_all()
            if frame is None:
                break
            yield frame
        if self._error is not None:
            raise self._error

    def interrupt(self) -> None:
        """Make ``frames()`` end soon (safe from a signal handler): stops the source too."""
        self._stop.set()
        stop = getattr(self.source, "interrupt", None)
        if stop is not None:
            stop()

    def close(self) -> None:
        self.interrupt()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            if self._thread.is_alive():  # a live source inside an open: its own timeout ends it
                log.debug("reader of %s still inside the source; not waiting for it", self.source.spec)
