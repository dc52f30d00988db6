"""A run's JSONL read back: frames as the runtime's :class:`FrameResult`, grouped per track.

``edgeaffect run --out RUN.jsonl`` writes one :class:`FrameResult` per line and
``RUN.summary.json`` beside it (labels, settings, stage latencies).  :func:`load_run`
reads both back into a :class:`RunData`; a last line cut short by a killed run is
dropped with a warning, any other bad line is a :class:`DataError` naming it.
Without the summary the classes are named ``class 0`` .. ``class N``.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from edgeaffect.errors import DataError
from edgeaffect.runtime.results import FaceResult, FrameResult

log = logging.getLogger(__name__)

_FACE_FIELDS = {f.name for f in fields(FaceResult)}


@dataclass(frozen=True)
class TrackSeries:
    """One track of one run as arrays over its frames (NaN where a value is absent)."""

    track_id: int
    t: np.ndarray  # (n,) seconds
    scores: np.ndarray  # (n, classes) smoothed probabilities; NaN rows before a clip model's first window
    label: tuple[str | None, ...]
    raw_label: tuple[str | None, ...]
    detected: np.ndarray  # (n,) bool
    heart_rate: np.ndarray  # (n,) bpm
    pulse_snr: np.ndarray  # (n,) dB


@dataclass(frozen=True)
class RunData:
    name: str
    path: Path
    labels: tuple[str, ...]
    frames: tuple[FrameResult, ...]
    summary: Mapping[str, Any]

    @property
    def seconds(self) -> float:
        return self.frames[-1].timestamp - self.frames[0].timestamp if len(self.frames) > 1 else 0.0

    def tracks(self, *, min_share: float = 0.05, min_frames: int = 5, most: int = 6) -> list[TrackSeries]:
        """The tracks seen in at least ``min_share`` of the frames (and ``min_frames``), longest first."""
        by_id: dict[int, list[tuple[float, FaceResult]]] = {}
        for fr in self.frames:
            for face in fr.faces:
                by_id.setdefault(face.track_id, []).append((fr.timestamp, face))
        need = max(min_frames, min_share * len(self.frames))
        ids = sorted((tid for tid, rows in by_id.items() if len(rows) >= need), key=lambda t: -len(by_id[t]))[:most]
        return [self._series(tid, by_id[tid]) for tid in sorted(ids)]

    def _series(self, tid: int, rows: list[tuple[float, FaceResult]]) -> TrackSeries:
        n = len(self.labels)
        scores = np.full((len(rows), n), np.nan)
        for i, (_, face) in enumerate(rows):
            if len(face.scores) == n:
                scores[i] = face.scores
        num = lambda v: np.nan if v is None else float(v)  # noqa: E731
        return TrackSeries(
            tid, np.array([t for t, _ in rows]), scores, tuple(f.label for _, f in rows),
            tuple(f.raw_label for _, f in rows), np.array([f.detected for _, f in rows]),
            np.array([num(f.heart_rate) for _, f in rows]), np.array([num(f.pulse_snr) for _, f in rows]))


# the numbers a result line may carry, and the range a real one lies in (bpm for the heart rate); a text
# or a 1e308 there stopped the report with an internal error or wrote inf into its tables
_NUMBERS = {"heart_rate": (0.0, 400.0), "pulse_snr": (-1e3, 1e3), "valence": (-1e3, 1e3), "arousal": (-1e3, 1e3),
            "eda": (-1e6, 1e6), "detector_score": (-1e3, 1e3)}


def _checked(face: Mapping[str, Any]) -> Mapping[str, Any]:
    for key, (lo, hi) in _NUMBERS.items():
        value = face.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not lo <= value <= hi):
            raise ValueError(f"{key} = {value!r}")
    return face


def _frame(data: Any) -> FrameResult:
    faces = tuple(FaceResult(**{**{k: v for k, v in f.items() if k in _FACE_FIELDS},
                                "box": tuple(f["box"]), "scores": tuple(f.get("scores", ()))})
                  for f in map(_checked, data["faces"]))
    return FrameResult(int(data["index"]), float(data["timestamp"]), faces, dict(data.get("stage_ms", {})),
                       data.get("file"))


def _summary(path: Path) -> dict[str, Any]:
    beside = path.with_name(path.stem + ".summary.json")
    try:
        data = json.loads(beside.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def load_run(path: str | Path, name: str | None = None) -> RunData:
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path} is a folder", "pass the JSONL file written by 'edgeaffect run --out'")
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    frames = []
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            frames.append(_frame(json.loads(line)))
        except (ValueError, TypeError, KeyError) as exc:
            if no == len(lines) > 1 and isinstance(exc, json.JSONDecodeError):  # a run killed mid-write: one cut line
                log.warning("%s: last line %d is incomplete (killed run?); left out", path, no)
                continue
            # what a user can check in the file, not the Python error that tripped on it
            why = "not JSON" if isinstance(exc, json.JSONDecodeError) else \
                f"no field {exc}" if isinstance(exc, KeyError) else f"a field of the wrong kind or out of range: {exc}" \
                if isinstance(exc, ValueError) else "a field of the wrong kind"
            raise DataError(f"{path} line {no} is not a result line of 'edgeaffect run' ({why}): '{line.strip()[:60]}'",
                            "pass the JSONL file written by 'edgeaffect run --out' (bench results are .json)") from None
    if not frames:
        raise DataError(f"{path} holds no frame results", "run 'edgeaffect run BUNDLE --source ... --out FILE.jsonl'")
    summary = _summary(path)
    width = max((len(f.scores) for fr in frames for f in fr.faces), default=0)
    labels = tuple(summary.get("labels") or ()) or tuple(f"class {i}" for i in range(width))
    return RunData(name or path.stem, path, labels, tuple(frames), summary)


def load_runs(paths: Sequence[str | Path]) -> list[RunData]:
    """Several runs, named by file stem (with the folder where two stems clash)."""
    paths = [Path(p) for p in paths]
    stems = [p.stem for p in paths]
    names = [f"{p.parent.name}/{p.stem}" if stems.count(p.stem) > 1 else p.stem for p in paths]
    return [load_run(p, n) for p, n in zip(paths, names)]
