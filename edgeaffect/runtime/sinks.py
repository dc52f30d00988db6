"""Where results go: JSONL, CSV, an annotated video file or window, saved crops.

Every sink takes ``write(frame, result)`` per processed frame and ``close()``.
The JSONL sink writes one line per frame and flushes it at once, so a run that
is killed leaves a ``.partial`` file whose every line parses.  File sinks check
their path is writable when they are built (before the model loads or the
source opens) but open it only for the first result.  Frames and crops
are written only by the sinks the user asked for (``--save-video``,
``--save-crops``, a window without ``--headless``).  JSONL and CSV stream to
``<name>.partial`` and replace ``<name>`` only when the run ends cleanly; a
failed run leaves its partial results there and the earlier file untouched
(:class:`edgeaffect.io.StagedFile`, which also locks the output against a
second writer).  Torch-free.
"""
from __future__ import annotations

import csv
import logging
import os
import re
import sys
from pathlib import Path
from typing import Protocol, Sequence

import cv2
import numpy as np

from edgeaffect.errors import ConfigError
from edgeaffect.io import StagedFile, check_writable
from edgeaffect.runtime.results import FrameResult
from edgeaffect.runtime.sources import Frame

log = logging.getLogger(__name__)


class Sink(Protocol):
    def write(self, frame: Frame, result: FrameResult) -> None: ...

    def close(self) -> None: ...


class _LazyFile:
    """A text result file: checked writable and locked now, streamed to ``<name>.partial`` from the first
    result on, and renamed onto ``<name>`` only by :meth:`finish` of a run that ended cleanly; path ``-``
    is standard output (for pipes), written as it comes."""

    def __init__(self, path: Path, flag: str) -> None:
        if str(path) == "-":
            self.path, self._fh, self._staged = Path("-"), None, None
            return
        self._staged = StagedFile(path, flag)
        self.path = self._staged.path
        self._fh = None

    def _file(self):
        if self._fh is None:
            self._fh = sys.stdout if self._staged is None else self._staged.file()
            self._opened(self._fh)
        return self._fh

    def _opened(self, fh) -> None:
        """Write a header, if the format has one."""

    def finish(self, outcome: str) -> Path | None:
        """``commit`` (a clean end: replace the target), ``fail`` (keep ``.partial``) or ``discard``."""
        if self._staged is None:  # standard output: nothing to rename
            return None
        if outcome == "commit":
            return self.path if self._staged.commit() else None
        if outcome == "fail":
            return self._staged.fail()
        self._staged.discard()
        return None

    def close(self) -> None:  # not finished: what was written stays as .partial, the target is untouched
        if self._staged is not None:
            self._staged.fail()


class JsonlSink(_LazyFile):
    """One JSON object per processed frame, flushed per line; path ``-`` = standard output (for pipes)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, "--out")

    def write(self, frame: Frame, result: FrameResult) -> None:
        fh = self._file()
        fh.write(result.to_json() + "\n")
        fh.flush()


class CsvSink(_LazyFile):
    """One row per face (frames without a face give one row with an empty track); ``file`` is last, so the
    columns before it keep their places: it names the image of a folder source, empty for video."""

    COLUMNS = ("index", "timestamp", "track_id", "x", "y", "w", "h", "detected", "label", "raw_label",
               "top_score", "valence", "arousal", "eda", "heart_rate", "pulse_snr", "file")

    def __init__(self, path: Path) -> None:
        super().__init__(path, "--csv")
        self._csv = None

    def _opened(self, fh) -> None:
        self._csv = csv.writer(fh)
        self._csv.writerow(self.COLUMNS)

    def write(self, frame: Frame, result: FrameResult) -> None:
        fh = self._file()
        if not result.faces:
            self._csv.writerow([result.index, f"{result.timestamp:.4f}"] + [""] * (len(self.COLUMNS) - 3)
                               + [result.file or ""])
        for f in result.faces:
            top = max(f.scores) if f.scores else ""
            self._csv.writerow([result.index, f"{result.timestamp:.4f}", f.track_id, *(round(v, 1) for v in f.box),
                                int(f.detected), f.label or "", f.raw_label or "", top,
                                "" if f.valence is None else f.valence, "" if f.arousal is None else f.arousal,
                                "" if f.eda is None else f.eda,
                                "" if f.heart_rate is None else f.heart_rate, "" if f.pulse_snr is None else f.pulse_snr,
                                result.file or ""])
        fh.flush()


def annotate(image: np.ndarray, result: FrameResult) -> np.ndarray:
    """A copy of ``image`` with each face's box, track id and label drawn on it."""
    out = image.copy() if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    for f in result.faces:
        x, y, w, h = (int(round(v)) for v in f.box)
        colour = (0, 200, 0) if f.detected else (0, 200, 200)
        cv2.rectangle(out, (x, y), (x + w, y + h), colour, 2)
        text = f"#{f.track_id} {f.label or ''}"
        if f.valence is not None and f.arousal is not None:
            text += f" v{f.valence:+.2f} a{f.arousal:+.2f}"
        if f.eda is not None:
            text += f" eda {f.eda:.2f}"
        if f.heart_rate is not None:
            text += f" {f.heart_rate:.0f} bpm"
        cv2.putText(out, text, (x, max(y - 6, 12)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)
    return out


class VideoSink:
    """Annotated frames to a video file (MJPG in .avi, mp4v otherwise), written as ``<stem>.partial<suffix>``
    and renamed into place only by :meth:`finish` of a run that ended cleanly, like the result files."""

    def __init__(self, path: Path, fps: float = 30.0) -> None:
        self.path, self.fps = check_writable(path, flag="--save-video"), fps
        self.partial = self.path.with_name(f"{self.path.stem}.partial{self.path.suffix}")
        check_writable(self.partial, flag="--save-video")
        self._writer: cv2.VideoWriter | None = None

    def write(self, frame: Frame, result: FrameResult) -> None:
        image = annotate(frame.image, result)
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fourcc = cv2.VideoWriter_fourcc(*("MJPG" if self.path.suffix.lower() == ".avi" else "mp4v"))
            h, w = image.shape[:2]
            self._writer = cv2.VideoWriter(str(self.partial), fourcc, self.fps, (w, h))
            if not self._writer.isOpened():
                raise ConfigError(f"cannot write video {self.path}", "use a .avi or .mp4 file name in a writable folder")
        self._writer.write(image)

    def finish(self, outcome: str) -> Path | None:
        self.close()
        if self._writer is None or not self.partial.exists():
            return None
        if outcome == "commit":
            os.replace(self.partial, self.path)
            return self.path
        if outcome == "fail":
            return self.partial
        self.partial.unlink(missing_ok=True)
        return None

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()


def window_unavailable() -> str | None:
    """Why no preview window can open here, or None when one may.

    Asked before ``cv2.namedWindow``: opencv-python-headless (the runtime's own OpenCV) has no GUI at all,
    and the Qt build of opencv-python aborts the whole process when Linux has no display to connect to.
    """
    gui = re.search(r"^\s*GUI:\s*(\S+)", cv2.getBuildInformation(), re.MULTILINE)
    if gui is not None and gui.group(1).upper() == "NONE":
        return "this OpenCV build has no GUI (opencv-python-headless)"
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "there is no display (DISPLAY and WAYLAND_DISPLAY are unset)"
    return None


class WindowSink:
    """An on-screen preview (needs an OpenCV build with GUI support; 'q' stops the run)."""

    def __init__(self, title: str = "edgeaffect") -> None:
        self.title = title
        self.quit = False
        try:  # fail before the run starts, not at its first frame
            cv2.namedWindow(self.title, cv2.WINDOW_NORMAL)
        except cv2.error as exc:
            raise ConfigError(f"cannot open a window: {exc.msg.strip()}",
                              "run with --headless (opencv-python-headless has no GUI), or install opencv-python") from exc

    def write(self, frame: Frame, result: FrameResult) -> None:
        cv2.imshow(self.title, annotate(frame.image, result))
        self.quit = (cv2.waitKey(1) & 0xFF) == ord("q")

    def close(self) -> None:
        try:
            cv2.destroyWindow(self.title)
        except cv2.error:
            pass


class CropSaver:
    """Writes each face crop as ``DIR/track_<id>/<frame index>.png`` (only with --save-crops)."""

    def __init__(self, folder: Path) -> None:
        self.folder = check_writable(folder, folder=True, flag="--save-crops")
        self.count = 0

    def save(self, frame_index: int, track_ids: Sequence[int], crops: Sequence[np.ndarray]) -> None:
        for tid, crop in zip(track_ids, crops):
            path = self.folder / f"track_{tid:04d}" / f"{frame_index:08d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            if cv2.imwrite(str(path), crop):
                self.count += 1
            else:
                log.warning("could not write crop %s", path)
