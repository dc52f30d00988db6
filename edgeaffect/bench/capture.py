"""The capture-resolution sweep: the full runtime pipeline on one video at several frame sizes.

A camera delivering 640x480 or 1280x720 changes detection time and how many
faces are found, not just the model's cost.  For each size the video is
rescaled once into a temporary file (decoding that file is part of the
measured work, as a camera at that size would be) and run headless through
:func:`edgeaffect.runtime.pipeline.run`; the temporary file is deleted right
after, so no frame is kept.  Torch-free.
"""
from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Sequence

from edgeaffect.bench.results import CaptureRow, StageLatency
from edgeaffect.errors import ConfigError, SourceError

log = logging.getLogger(__name__)


def parse_size(text: str) -> tuple[int, int]:
    w, sep, h = text.lower().partition("x")
    try:
        size = (int(w), int(h))
    except ValueError:
        size = (0, 0)
    if not sep or min(size) < 16:
        raise ConfigError(f"capture size '{text}' is not WIDTHxHEIGHT", "write e.g. --capture 640x480,1280x720")
    return size


def rescale_video(video: Path, size: tuple[int, int], out: Path, max_frames: int | None = None) -> int:
    """Write ``video`` rescaled to ``size`` (W, H) as MJPG AVI; returns the frame count."""
    import cv2

    from edgeaffect.io import opencv_path

    cap = cv2.VideoCapture(opencv_path(video))
    if not cap.isOpened():
        raise SourceError(f"cannot open video {video}", "check the path and that OpenCV can decode its codec")
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    n = 0
    try:
        while max_frames is None or n < max_frames:
            ok, frame = cap.read()
            if not ok:
                break
            writer.write(cv2.resize(frame, size, interpolation=cv2.INTER_AREA if frame.shape[1] > size[0]
                                    else cv2.INTER_LINEAR))
            n += 1
    finally:
        cap.release()
        writer.release()
    if n == 0:
        raise SourceError(f"video {video} has no decodable frame", "pass a video OpenCV can read")
    return n


def _stage(stats, name: str) -> StageLatency | None:
    from edgeaffect.bench.latency import stage_latency

    return next((stage_latency(s) for s in stats if s.stage == name), None)


def sweep(bundle: Path, key: str, video: Path, captures: Sequence[str], *, detector: str = "haar",
          smoothing: str | None = None, max_frames: int | None = None) -> list[CaptureRow]:
    """One CaptureRow per capture size, each from a real headless pipeline run."""
    from edgeaffect.runtime.pipeline import RunConfig, run
    from edgeaffect.runtime.smoothing import SmoothingSpec

    spec = SmoothingSpec.parse(smoothing) if smoothing else SmoothingSpec()
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgeaffect-capture-") as tmp:
        for text in captures:
            size = parse_size(text)
            scaled = Path(tmp) / f"{size[0]}x{size[1]}.avi"
            rescale_video(Path(video), size, scaled, max_frames)
            summary = run(RunConfig(bundle=Path(bundle), source=str(scaled), headless=True, detector=detector,
                                    smoothing=spec, max_frames=max_frames))
            scaled.unlink(missing_ok=True)
            stages = tuple(s for s in (_stage(summary.stages, n.stage) for n in summary.stages) if s is not None)
            detect = _stage(summary.stages, "detect") or StageLatency("detect", 0, 0.0, 0.0, 0.0)
            total = _stage(summary.stages, "total") or StageLatency("total", 0, 0.0, 0.0, 0.0)
            rows.append(CaptureRow(bundle=key, capture=f"{size[0]}x{size[1]}", frames=summary.frames,
                                   faces_found=summary.faces, detect_p50_ms=detect.p50_ms, detect_p95_ms=detect.p95_ms,
                                   end_to_end_p50_ms=total.p50_ms, end_to_end_p95_ms=total.p95_ms, fps=summary.fps,
                                   stages=stages))
            log.info("%s @ %s: %d faces in %d frames, %.1f FPS", key, text, summary.faces, summary.frames, summary.fps)
    return rows
