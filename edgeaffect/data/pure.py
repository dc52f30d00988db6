"""Reader for PURE: frames as PNG images with nanosecond timestamps, and the oximeter's JSON.

Layout (Stricker, Müller & Gross, RO-MAN 2014; 10 people x 6 setups)::

    01-01/01-01.json          "/Image": [{"Timestamp": ns}, ...],
                              "/FullPackage": [{"Timestamp": ns, "Value": {"waveform": ..., "pulseRate": ...}}]
    01-01/01-01/Image<ns>.png one frame per "/Image" entry

The pulse wave ("waveform", a CMS50E oximeter at ~60 Hz) is interpolated at
each frame's timestamp.  Torch-free.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edgeaffect.data.base import DatasetIndex
from edgeaffect.data.recording import RecordingRecord, make_record, read_recordings, register_recording_reader
from edgeaffect.errors import DataError


def _folders(root: Path) -> list[Path]:
    if (root / f"{root.name}.json").is_file():
        return [root]
    return sorted(p.parent for p in root.glob("*/*.json") if p.stem == p.parent.name)


def detect(root: Path) -> bool:
    return root.is_dir() and any((f / f.name).is_dir() for f in _folders(root))


def _entries(data: dict, key: str, path: Path) -> list:
    entries = data.get(key)
    if not isinstance(entries, list) or not entries:
        raise DataError(f"{path} has no '{key}' list", "restore the file from the dataset")
    return entries


def read_one(folder: Path) -> RecordingRecord:
    path = folder / f"{folder.name}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path}: {exc}", "restore the file from the dataset") from None
    images, package = _entries(data, "/Image", path), _entries(data, "/FullPackage", path)
    try:
        frame_ns = np.asarray([int(e["Timestamp"]) for e in images], dtype=np.int64)
        signal_ns = np.asarray([int(e["Timestamp"]) for e in package], dtype=np.int64)
        wave = np.asarray([float(e["Value"]["waveform"]) for e in package], dtype=np.float64)
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{path}: an entry lacks Timestamp or Value.waveform ({exc})",
                        "restore the file from the dataset") from None
    files = tuple(folder / folder.name / f"Image{ns}.png" for ns in frame_ns)
    missing = next((f for f in files if not f.is_file()), None)
    if missing is not None:
        raise DataError(f"{missing} is missing ({path} lists it)", "restore the frame images of this recording")
    t0 = int(frame_ns[0])  # relative ns before float conversion: float64 cannot hold ns since 1970 exactly
    return make_record(key=folder.name, video=folder / folder.name, frame_times_abs=(frame_ns - t0) / 1e9,
                       signal_times_abs=(signal_ns - t0) / 1e9, signal=wave, subject=folder.name.split("-")[0],
                       frame_files=files, start_unix=t0 / 1e9)


@register_recording_reader("pure", detect=detect,
                           description="PURE: NN-NN/NN-NN.json + NN-NN/NN-NN/Image<ns>.png")
def read(root: Path, **options) -> DatasetIndex:
    return read_recordings("pure", Path(root), _folders(Path(root)), read_one)
