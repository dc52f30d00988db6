"""UBFC-Phys read as video + pulse recordings (for heart rate), beside the EDA-window reader ``ubfc_phys``.

Same layout (``s1/vid_s1_T1.avi`` + ``s1/bvp_s1_T1.csv``, BVP at 64 Hz,
headerless); each video becomes one :class:`RecordingRecord` with frame k at
k / fps (the container's rate; the dataset keeps no per-frame times) and the
BVP sample j at j / 64 s.  ``ubfc_phys`` recognises the folder first, so name
this layout: ``edgeaffect eval --pulse pos --data UBFC-Phys --format ubfc_phys_rppg``.
Torch-free.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeaffect.data.base import DatasetIndex
from edgeaffect.data.recording import (RecordingRecord, make_record, read_recordings, register_recording_reader,
                                       video_frame_count)
from edgeaffect.data.signals import read_values

BVP_HZ = 64.0


def read_one(video: Path) -> RecordingRecord:
    frames, fps = video_frame_count(video)
    bvp = read_values(video.with_name(video.name.replace("vid_", "bvp_", 1).rsplit(".", 1)[0] + ".csv"))
    return make_record(key=video.stem, video=video, frame_times_abs=np.arange(frames) / fps,
                       signal_times_abs=np.arange(len(bvp)) / BVP_HZ, signal=bvp, subject=video.parent.name)


@register_recording_reader("ubfc_phys_rppg", detect=lambda root: False,
                           description="UBFC-Phys as recordings: s*/vid_s*_T*.avi + bvp_ CSVs (name it with --format)")
def read(root: Path, **options) -> DatasetIndex:
    return read_recordings("ubfc_phys_rppg", root, sorted(root.glob("s*/vid_s*_T*.avi")), read_one)
