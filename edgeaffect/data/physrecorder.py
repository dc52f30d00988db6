"""Reader for PhysRecorder recordings: a webcam video with a timestamp per frame and an oximeter's pulse wave.

Layout (one folder per recording; a folder of such folders also works)::

    v01/video_ZIP_H264.avi     the face video (any video_*.avi/.mp4/.mkv)
    v01/frames_timestamp.csv   frame,timestamp       unix seconds, one row per frame
    v01/BVP.csv                timestamp,bvp         the oximeter's pulse wave (~20 Hz)
    v01/missed_frames.csv      timestamp             dropped frames (informational)

Video and oximeter share the computer's clock, so the pulse wave is
interpolated at each frame's own timestamp.  An oximeter glitches: a sample
far outside the wave's usual range (``pulse.quality.outlying``: one of 1000
among 12-99 moved a window's reference heart rate by 12 bpm) is left out with a
warning and the wave interpolated across it, like a dropped sample; a wave that
is one value throughout is said, and gives no reference (``pulse.trace.wave_rate``).
Torch-free.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from edgeaffect.data.base import DatasetIndex
from edgeaffect.data.recording import (RecordingRecord, make_record, read_recordings, read_rows,
                                       register_recording_reader, video_frame_count)
from edgeaffect.errors import DataError
from edgeaffect.pulse.quality import outlying

log = logging.getLogger(__name__)
VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".mov")


def _folders(root: Path) -> list[Path]:
    if (root / "frames_timestamp.csv").is_file():
        return [root]
    return sorted({p.parent for depth in ("*", "*/*") for p in root.glob(f"{depth}/frames_timestamp.csv")})


def detect(root: Path) -> bool:
    # frames_timestamp.csv alone marks the layout, so a missing BVP.csv is named rather than the layout unknown
    return root.is_dir() and bool(_folders(root))


def read_one(folder: Path) -> RecordingRecord:
    videos = sorted(p for p in folder.glob("video*") if p.suffix.lower() in VIDEO_SUFFIXES)
    if not videos:
        raise DataError(f"{folder} has no video_*.avi", "put the recording's video beside frames_timestamp.csv")
    frames = read_rows(folder / "frames_timestamp.csv", columns=2, header=True)
    if not (folder / "BVP.csv").is_file():
        raise DataError(f"{folder / 'BVP.csv'} is missing", "add the oximeter recording (timestamp,bvp)")
    bvp = read_rows(folder / "BVP.csv", columns=2, header=True, missing=True)  # an oximeter drops out
    bvp = _without_glitches(folder / "BVP.csv", bvp)
    count, _ = video_frame_count(videos[0])
    if count > 0 and count != len(frames):  # read_one is run once per recording: opening the video is cheap
        log.warning("%s: frames_timestamp.csv times %d frames, the video holds %d: the first %d are evaluated",
                    folder, len(frames), count, min(count, len(frames)))
    return make_record(key=folder.name, video=videos[0], frame_times_abs=frames[:, 1], signal_times_abs=bvp[:, 0],
                       signal=bvp[:, 1], subject=folder.name,
                       start_unix=float(frames[0, 1]))


def _without_glitches(path: Path, rows: np.ndarray) -> np.ndarray:
    """``rows`` (timestamp, value) without the samples far outside the wave's range, each kind said."""
    values = rows[:, 1]
    odd = outlying(values)
    if odd.any():
        kept = values[~odd & np.isfinite(values)]
        log.warning("%s: %d of %d pulse samples lie far outside the wave's range (%s; the rest %.4g to %.4g), as a "
                    "sensor glitch does: left out, the wave is interpolated across them", path, int(odd.sum()),
                    len(values), ", ".join(f"{v:.4g}" for v in values[odd][:3]) + (", ..." if odd.sum() > 3 else ""),
                    kept.min(), kept.max())
        rows = rows[~odd]
    finite = rows[np.isfinite(rows[:, 1]), 1]
    if len(finite) > 1 and finite.min() == finite.max():
        log.warning("%s: the pulse wave is %.4g throughout, a sensor not reading: it gives no reference heart rate",
                    path, finite[0])
    return rows


@register_recording_reader("physrecorder", detect=detect,
                           description="PhysRecorder: video_*.avi + frames_timestamp.csv + BVP.csv (oximeter)")
def read(root: Path, **options) -> DatasetIndex:
    return read_recordings("physrecorder", Path(root), _folders(Path(root)), read_one)
