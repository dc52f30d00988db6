"""Timestamped face-video recordings with a contact pulse signal: the record and what every layout shares.

A :class:`RecordingRecord` is one video (a file, or a folder of frames) with a
time in seconds for every frame and the contact sensor's pulse wave
(PPG / oximeter "BVP") resampled onto those frame times — by the times, never
by assuming the frames are evenly spaced (webcams drop and bunch frames).

Bad timing is marked, not guessed over: a frame whose timestamp does not
increase gets a NaN time, a frame outside the signal's span gets a NaN pulse
value, and the heart-rate evaluation reports "no estimate" for windows that
hold too many of them (counted in its summary).  A sensor that drops out is
not bridged either: a missing sample (an empty or ``nan`` value, as loggers
write them) is left out, and frames inside a gap of more than ``GAP`` median
sample intervals get a NaN pulse value instead of a straight line.  A
malformed CSV row raises a :class:`DataError` naming the file and line, and
so does a signal whose span misses every frame (the two files do not share a
clock); a reader that finds several recordings skips (and names) the broken
ones.  Torch-free.

The readers, one file per layout: ``physrecorder.py``, ``ubfc_rppg.py``,
``pure.py``.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from edgeaffect.data.base import DatasetIndex, Skipped, index_from_splits, register_reader
from edgeaffect.errors import DataError
from edgeaffect.io import opencv_path, read_image_file, video_frames

log = logging.getLogger(__name__)

SPLIT = "test"  # recordings are for evaluation: one split, so 'eval --split test' (the default) reads them
RECORDING_FORMATS: set[str] = set()  # reader names whose records are RecordingRecords (heart-rate evaluation)
# a pulse wave is ~1 Hz and sampled at 20-256 Hz: a hole of a few samples is interpolated harmlessly, a longer one
# would draw a straight line where the beats were, and the heart rate read from it would be made up
GAP = 3.0
MISSING = ("", "nan", "na", "null")  # how loggers and pandas write a sample that was not taken


def register_recording_reader(name: str, *, detect: Callable[[Path], bool], description: str) -> Callable:
    """``register_reader`` for a video + pulse layout; also lists it in ``RECORDING_FORMATS``."""
    RECORDING_FORMATS.add(name)
    return register_reader(name, detect=detect, description=description)


@dataclass(frozen=True)
class RecordingRecord:
    """One recording: ``frame_times`` (s from the first frame, NaN = unusable) and ``bvp`` per frame."""

    key: str
    split: str
    video: Path  # video file, or folder of frame images (``frame_files``)
    frame_times: np.ndarray = field(repr=False)
    bvp: np.ndarray = field(repr=False)
    subject: str | None = None
    start_unix: float | None = None  # wall-clock time of the first frame, when the layout records it
    frame_files: tuple[Path, ...] = field(default=(), repr=False)
    bad_timestamps: int = 0  # frames whose timestamp did not increase

    @property
    def seconds(self) -> float:
        t = self.frame_times[np.isfinite(self.frame_times)]
        return float(t[-1] - t[0]) if len(t) > 1 else 0.0

    def frames(self) -> Iterator[np.ndarray]:
        """The frames as uint8 BGR images, in order; stops at the last timestamped frame."""
        import cv2

        n = len(self.frame_times)
        if self.frame_files:
            for path in self.frame_files[:n]:
                image = read_image_file(path)
                if image is None:
                    raise DataError(f"cannot decode frame {path}", "replace the file or remove the recording")
                yield image
            return
        yield from video_frames(self.video, n)


def read_rows(path: Path, *, columns: int, header: bool, sep: str | None = ",", missing: bool = False) -> np.ndarray:
    """A numeric CSV/TXT as a (rows, columns) float64 array; a malformed row raises DataError with file:line.

    ``missing``: the value columns (all but the first, the time) may be empty or ``nan``, read as NaN.
    """
    try:
        lines = path.read_text(encoding="utf-8-sig", errors="replace").splitlines()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}", "check the file exists and is readable") from None
    rows = []
    for lineno, line in enumerate(lines[1:] if header else lines, start=2 if header else 1):
        if not line.strip():
            continue
        toks = [t.strip() for t in (line.split(sep) if sep else line.split())]
        if missing:  # a value column (never the time) may be blank; it reads as NaN
            toks = (toks + [""] * columns)[:columns]
            blank = [k > 0 and t.lower() in MISSING for k, t in enumerate(toks)]
        else:
            toks = [t for t in toks if t]
            blank = [False] * len(toks)
        try:
            values = [math.nan if b else float(t) for t, b in zip(toks[:columns], blank)]
        except ValueError:
            values = []
        if len(values) != columns or not all(math.isfinite(v) or b for v, b in zip(values, blank)):
            raise DataError(f"{path}:{lineno}: expected {columns} numbers, got '{line.strip()[:60]}'",
                            "fix or remove the line")
        rows.append(values)
    if not rows:
        raise DataError(f"{path} holds no rows", "replace the file with the recorded data")
    return np.asarray(rows, dtype=np.float64)


def increasing(times: np.ndarray) -> tuple[np.ndarray, int]:
    """``times`` with NaN at the fewest timestamps whose removal leaves the rest strictly increasing; and how
    many that was (NaN entries stay NaN and are not counted).

    Why the fewest, not "every one not above all earlier ones": two swapped rows 200 apart made every
    row between them "earlier than the maximum", and 200 good frames (10 s of a 20 s clip) were lost
    for two bad ones.  The kept rows are a longest strictly increasing subsequence (patience sorting,
    O(n log n)); an already increasing series returns at once.
    """
    import bisect

    times = np.asarray(times, dtype=np.float64).copy()
    finite = np.flatnonzero(np.isfinite(times))
    values = times[finite]
    if len(values) < 2 or bool(np.all(np.diff(values) > 0)):
        return times, 0
    tails: list[float] = []  # smallest last value of an increasing run of each length
    tail_at: list[int] = []  # its position in ``values``
    before = np.full(len(values), -1)
    for i, v in enumerate(values.tolist()):
        k = bisect.bisect_left(tails, v)  # strictly increasing: an equal value replaces, never extends
        before[i] = tail_at[k - 1] if k else -1
        if k == len(tails):
            tails.append(v)
            tail_at.append(i)
        else:
            tails[k], tail_at[k] = v, i
    keep = np.zeros(len(values), dtype=bool)
    i = tail_at[-1]
    while i >= 0:
        keep[i] = True
        i = before[i]
    times[finite[~keep]] = np.nan
    return times, int((~keep).sum())


def on_frames(frame_times: np.ndarray, signal_times: np.ndarray, values: np.ndarray, name: str = "") -> np.ndarray:
    """The signal linearly interpolated at each frame time; NaN outside its span or at a NaN frame time.

    Samples whose own timestamps go backwards are dropped first (interpolation
    needs them in order); frames inside a gap of more than ``GAP`` median sample
    intervals stay NaN.  ``name`` labels the warnings.
    """
    st, n_bad = increasing(signal_times)
    keep = np.isfinite(st)
    if n_bad:
        log.warning("%s: %d signal samples with non-increasing timestamps dropped", name or "recording", n_bad)
    st, sv = st[keep], np.asarray(values, dtype=np.float64)[keep]
    out = np.full(len(frame_times), np.nan)
    ok = np.isfinite(frame_times) & (frame_times >= st[0]) & (frame_times <= st[-1]) if len(st) > 1 else \
        np.zeros(len(frame_times), bool)
    if ok.any():
        # a frame between two samples further apart than GAP median intervals is in a dropout: left NaN
        t = frame_times[ok]
        after = np.clip(np.searchsorted(st, t, side="left"), 1, len(st) - 1)
        inside = np.flatnonzero(ok)
        # a frame on a sample's own time keeps that sample's value, whatever gap lies before it
        gap = (st[after] - st[after - 1] > GAP * float(np.median(np.diff(st)))) & (st[after] != t) & (st[after - 1] != t)
        if gap.any():
            log.warning("%s: %d frames fall in gaps of the pulse signal (> %g sample intervals) and get no value",
                        name or "recording", int(gap.sum()), GAP)
            ok[inside[gap]] = False
    out[ok] = np.interp(frame_times[ok], st, sv)
    return out


def make_record(*, key: str, video: Path, frame_times_abs: np.ndarray, signal_times_abs: np.ndarray,
                signal: np.ndarray, subject: str | None = None, frame_files: tuple[Path, ...] = (),
                start_unix: float | None = None) -> RecordingRecord:
    """A record from absolute times (any common clock, seconds): times made relative to the first frame."""
    times, bad = increasing(frame_times_abs)
    if bad:
        log.warning("%s: %d frames with non-increasing timestamps are left out", video, bad)
    signal_times, signal = np.asarray(signal_times_abs, dtype=np.float64), np.asarray(signal, dtype=np.float64)
    taken = np.isfinite(signal)
    if not taken.all():
        log.warning("%s: %d of %d pulse samples are missing (empty or nan) and left out", video,
                    int((~taken).sum()), len(signal))
        signal_times, signal = signal_times[taken], signal[taken]
    if len(signal) < 2:
        raise DataError(f"{video}: its pulse signal holds {len(signal)} usable samples", "use the complete recording")
    bvp = on_frames(times, signal_times, signal, name=str(video))
    framed = np.isfinite(times)
    if framed.any() and not np.isfinite(bvp).any():
        raise DataError(f"{video}: the pulse signal spans {signal_times.min():.3f}-{signal_times.max():.3f} s and the "
                        f"frames {np.nanmin(times):.3f}-{np.nanmax(times):.3f} s: no frame has a pulse value",
                        "the video and the sensor must be timed on one clock; check the files are of one recording")
    if framed.any() and np.isfinite(bvp).sum() < 0.9 * framed.sum():
        log.warning("%s: only %d of %d frames have a pulse value (the sensor starts late, stops early or drops out)",
                    video, int(np.isfinite(bvp).sum()), int(framed.sum()))
    first = times[framed][0] if framed.any() else 0.0
    return RecordingRecord(key=key, split=SPLIT, video=video, frame_times=times - first, bvp=bvp, subject=subject,
                           start_unix=start_unix, frame_files=frame_files, bad_timestamps=bad)


def read_recordings(fmt: str, root: Path, folders: Iterable[Path],
                    read_one: Callable[[Path], RecordingRecord]) -> DatasetIndex:
    """Read every recording folder; broken ones are skipped and named, none usable raises."""
    records: list[RecordingRecord] = []
    skipped: list[Skipped] = []
    for folder in folders:
        try:
            records.append(read_one(folder))
        except DataError as exc:
            log.warning("skipping %s: %s", folder, exc.what)
            skipped.append(Skipped(str(folder), exc.what))
    reasons = "; ".join(f"{s.reason}" for s in skipped[:3])
    return index_from_splits(
        format=fmt, root=root, task="recording", classes=(), per_split={SPLIT: records} if records else {},
        order=(SPLIT,), skipped=skipped, info={"recordings": len(records)},
        empty=DataError(f"no usable {fmt} recording in {root}" + (f" ({reasons})" if reasons else ""),
                        "fix the files named above, or point at a recording folder"))


def video_frame_count(path: Path) -> tuple[int, float]:
    """(frames, fps) as the container reports them (UBFC-rPPG keeps no per-frame times)."""
    import cv2

    cap = cv2.VideoCapture(opencv_path(path))
    try:
        if not cap.isOpened():
            raise DataError(f"OpenCV cannot open {path}", "check the file is a complete video")
        return int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), float(cap.get(cv2.CAP_PROP_FPS))
    finally:
        cap.release()
