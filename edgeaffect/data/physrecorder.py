"""Reader for PhysRecorder recordings: a webcam video with a timestamp per frame and an oximeter's pulse wave.

Layout (one folder per recording; a folder of such folders also works)::

    v01/video_ZIP_H264.avi     the face video (any video_*.avi/.mp4/.mkv)
    v01/frames_timestamp.csv   frame,timestamp       unix seconds, one row per frame
    v01/BVP.csv                timestamp,bvp         the oximeter's pulse wave (~20 Hz)
    v01/missed_frames.csv      timestamp             dropped frames (informational)

Video and oximeter share the computer's clock, so the pulse wave is
interpolated at each frame's own timestamp.  Torch-free.
"""
from __future__ import annotations

import logging
from pathlib import Path

from edgeaffect.data.base import DatasetIndex
from edgeaffect.data.recording import (RecordingRecord, make_record, read_recordings, read_rows,
                                       register_recording_reader, video_frame_count)
from edgeaffect.errors import DataError

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
    count, _ = video_frame_count(videos[0])
    if count > 0 and count != len(frames):  # read_one is run once per recording: opening the video is cheap
        log.warning("%s: frames_timestamp.csv times %d frames, the video holds %d: the first %d are evaluated",
                    folder, len(frames), count, min(count, len(frames)))
    return make_record(key=folder.name, video=videos[0], frame_times_abs=frames[:, 1], signal_times_abs=bvp[:, 0],
                       signal=bvp[:, 1], subject=folder.name,
                       start_unix=float(frames[0, 1]))


@register_recording_reader("physrecorder", detect=detect,
                           description="PhysRecorder: video_*.avi + frames_timestamp.csv + BVP.csv (oximeter)")
def read(root: Path, **options) -> DatasetIndex:
    return read_recordings("physrecorder", Path(root), _folders(Path(root)), read_one)
