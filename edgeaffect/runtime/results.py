"""What the runtime loop produces: frozen results, one per face and per frame.

Sinks serialise these (JSONL, CSV); nothing downstream builds ad-hoc dicts, so
a field renamed here is renamed everywhere.  ``label``/``scores``/``valence``/
``arousal`` are after smoothing; ``raw_label`` is the unsmoothed top-1 so a
report can compare smoothers from one run.  Torch-free.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from edgeaffect.io import dumps_json
from edgeaffect.plain import to_plain


DIGITS = 5  # decimals of every float a frame record holds: scores to 1e-5, boxes to 1e-5 px


@dataclass(frozen=True)
class FaceResult:
    """One tracked face in one frame."""

    track_id: int
    box: tuple[float, float, float, float]  # x, y, w, h in frame pixels
    detected: bool  # False: box extrapolated by the tracker between detections
    detector_score: float
    label: str | None = None
    scores: tuple[float, ...] = ()  # class probabilities, in the model's label order
    raw_label: str | None = None
    valence: float | None = None
    arousal: float | None = None
    eda: float | None = None  # newest value of the track's EDA trace (signal models)
    inferred: bool = True  # False: a temporal model is still filling its window
    heart_rate: float | None = None  # bpm from --pulse, once the track's window is full (None: no estimate)
    pulse_snr: float | None = None  # signal quality of that estimate: the pulse wave's SNR in dB

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self, DIGITS)


@dataclass(frozen=True)
class FrameResult:
    """One processed frame: what was found and how long each stage took; ``file`` names the image
    for a folder of images (a photo set is read by file, not by index), None for video."""

    index: int
    timestamp: float
    faces: tuple[FaceResult, ...]
    stage_ms: Mapping[str, float] = field(default_factory=dict)
    file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self, DIGITS)

    def to_json(self) -> str:
        # one walk over the record (this runs for every frame); strict: a NaN score is null, never NaN
        return dumps_json(self, digits=DIGITS, separators=(",", ":"))


@dataclass(frozen=True)
class StageStats:
    """Latency of one stage over the run, in milliseconds."""

    stage: str
    count: int
    mean_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float


@dataclass(frozen=True)
class RunSummary:
    """The end-of-run record, printed and saved next to the results."""

    bundle: str
    backend: str
    precision: str
    source: str
    detector: str
    detect_every: int
    smoothing: str
    smoothing_params: Mapping[str, float]
    frames: int  # frames processed (= JSONL lines)
    last_index: int  # index of the last processed frame (-1: none)
    faces: int  # face results written
    tracks: int  # distinct track ids
    bad_frames: int  # undecodable frames skipped
    dropped_frames: int  # stale live frames replaced by newer ones
    skipped_crops: int  # faces whose crop was empty (outside the frame)
    reconnects: int
    seconds: float
    fps: float
    stages: tuple[StageStats, ...]
    rss_mb_start: float
    rss_mb_peak: float
    rss_mb_end: float
    rss_samples: tuple[tuple[float, float], ...]  # (seconds since start, MiB), every rss_interval_s
    stop_reason: str  # "end", "max_frames", "max_seconds", "signal SIGTERM", "source lost: ..."
    config: Mapping[str, Any] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)  # {name: {"value", "from": flag|bundle|default}}
    # detection passes by kind: full (whole frame), region (around tracks), fallback (a region lost its face)
    detect_passes: Mapping[str, int] = field(default_factory=dict)
    ran_on: str = ""  # the hardware the backend actually used (ONNX Runtime providers, OpenVINO device)
    labels: tuple[str, ...] = ()  # the model's class names, in the order of every result's ``scores``
    cpu_seconds: float = 0.0  # process CPU time from the first frame on (stats.RunStats.cpu_seconds)
    detect_engine: str = ""  # what ran the face detector's network ("auto" resolved), where the detector says

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self, 4)

    def stage(self, name: str) -> StageStats:
        for s in self.stages:
            if s.stage == name:
                return s
        raise KeyError(name)
