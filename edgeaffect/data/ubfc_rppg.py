"""Reader for UBFC-rPPG: ``subject*/vid.avi`` with the oximeter's pulse wave.

Layouts (Bobbia et al., Pattern Recognition Letters 2019)::

    subject1/vid.avi + ground_truth.txt   DATASET_2: three lines - PPG values, HR, time (s) per sample
    after-exercise/vid.avi + gtdump.xmp   DATASET_1: CSV rows - time (ms), HR, SpO2, PPG

The video keeps no per-frame times, so frame k sits at k / fps (the
container's rate) and the pulse wave is interpolated there from its own
sample times.  Torch-free.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeaffect.data.base import DatasetIndex
from edgeaffect.data.recording import (RecordingRecord, make_record, read_recordings, read_rows,
                                       register_recording_reader, video_frame_count)
from edgeaffect.errors import DataError

TRUTH = ("ground_truth.txt", "gtdump.xmp")


def _folders(root: Path) -> list[Path]:
    if (root / "vid.avi").is_file():
        return [root]
    return sorted(p.parent for p in root.glob("*/vid.avi"))


def detect(root: Path) -> bool:
    return root.is_dir() and any((f / t).is_file() for f in _folders(root) for t in TRUTH)


def _dataset2(path: Path, frames: int, fps: float) -> tuple[np.ndarray, np.ndarray]:
    lines = [line for line in path.read_text(encoding="utf-8-sig", errors="replace").splitlines() if line.strip()]
    rows = []
    for lineno, line in enumerate(lines[:3], start=1):
        try:
            rows.append(np.asarray([float(t) for t in line.split()], dtype=np.float64))
        except ValueError:
            raise DataError(f"{path}:{lineno}: not a list of numbers: '{line.strip()[:60]}'",
                            "restore the file from the dataset") from None
    ppg = rows[0]
    times = rows[2] if len(rows) > 2 and len(rows[2]) == len(ppg) else np.arange(len(ppg)) / fps
    return times, ppg


def read_one(folder: Path) -> RecordingRecord:
    video = folder / "vid.avi"
    frames, fps = video_frame_count(video)
    if frames < 1 or fps <= 0:
        raise DataError(f"{video} reports {frames} frames at {fps} fps", "check the video is complete")
    if (folder / TRUTH[0]).is_file():
        times, ppg = _dataset2(folder / TRUTH[0], frames, fps)
    elif (folder / TRUTH[1]).is_file():
        rows = read_rows(folder / TRUTH[1], columns=4, header=False)
        times, ppg = rows[:, 0] / 1000.0, rows[:, 3]
    else:
        raise DataError(f"{folder} has no {' or '.join(TRUTH)}", "add the recording's ground truth file")
    return make_record(key=folder.name, video=video, frame_times_abs=np.arange(frames) / fps,
                       signal_times_abs=times - times[0], signal=ppg, subject=folder.name)


@register_recording_reader("ubfc_rppg", detect=detect,
                           description="UBFC-rPPG: */vid.avi + ground_truth.txt or gtdump.xmp")
def read(root: Path, **options) -> DatasetIndex:
    return read_recordings("ubfc_rppg", Path(root), _folders(Path(root)), read_one)
