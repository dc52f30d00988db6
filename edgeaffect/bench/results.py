"""The versioned bench result document: frozen dataclasses <-> JSON.

One ``BenchResult`` is what ``edgeaffect bench`` writes on one device.  It says
where the numbers came from (device profile, detected hardware, tool versions,
the bundles by content digest, a timestamp) so results from a Jetson, a Pi and
a laptop can be merged into one report.  Torch-free.

``SCHEMA_VERSION`` rises whenever a field changes meaning; readers refuse
documents newer than they understand and fill defaults for older ones.
"""
from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from edgeaffect.errors import DataError
from edgeaffect.plain import from_plain, to_plain

SCHEMA = "edgeaffect.bench"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class DeviceInfo:
    """The machine the bench ran on."""

    profile: str  # device profile name ("laptop-x86", "rpi4", ...) or "unknown"
    cpu_model: str = ""
    cores: int = 0
    ram_mb: int = 0
    machine: str = ""  # platform.machine(): x86_64, aarch64
    system: str = ""  # OS and kernel
    accelerators: tuple[str, ...] = ()


@dataclass(frozen=True)
class BundleInfo:
    """One benchmarked bundle, identified by the digest of its manifest's file list."""

    name: str  # folder name, for humans
    sha256: str  # digest over the manifest's per-file sha256s: same bundle, same id on every device
    model_sha256: str
    format: str
    precision: str
    target: str
    model: str
    task: str
    input_size: tuple[int, int]
    labels: tuple[str, ...]
    size_bytes: int
    backend: str  # backend that ran it
    ran_precision: str  # what the backend reports it ran

    @property
    def key(self) -> str:
        """Short id used to join accuracy and latency rows."""
        return f"{self.name}@{self.sha256[:8]}"


@dataclass(frozen=True)
class AccuracyRow:
    """Task metrics of one bundle at one face resolution with one (down, up) interpolation pair.

    ``resolution`` None is the native input (no degradation).  Metrics a task
    does not have stay None.
    """

    bundle: str  # BundleInfo.key
    resolution: int | None
    down: str
    up: str
    n: int
    accuracy: float | None = None
    uar: float | None = None
    macro_f1: float | None = None
    per_class_f1: Mapping[str, float] = field(default_factory=dict)
    confusion: tuple[tuple[int, ...], ...] = ()
    per_class_recall: Mapping[str, float] = field(default_factory=dict)
    # A data set with fewer classes than the model (cross-data-set): its classes, and the scores of the
    # argmax restricted to them (the fields above take the argmax over all the model's classes).
    set_classes: tuple[str, ...] = ()
    restricted_accuracy: float | None = None
    restricted_uar: float | None = None
    restricted_macro_f1: float | None = None
    ccc_valence: float | None = None
    ccc_arousal: float | None = None
    pearson: float | None = None
    mse: float | None = None
    subgroups: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # group -> {"n", "accuracy", ...}

    @property
    def pair(self) -> str:
        return f"{self.down}/{self.up}"

    @property
    def headline(self) -> float | None:
        """The one number the Pareto front and the resize table use."""
        for value in (self.accuracy, self.pearson, self.ccc_valence):
            if value is not None:
                return value
        return None


@dataclass(frozen=True)
class StageLatency:
    """Percentiles of one stage over the timed runs, in milliseconds."""

    stage: str
    n: int
    mean_ms: float
    p50_ms: float
    p95_ms: float


@dataclass(frozen=True)
class LatencyRow:
    """Per-stage and end-to-end latency of one bundle at batch 1, plus size and memory."""

    bundle: str
    stages: tuple[StageLatency, ...]
    end_to_end: StageLatency
    fps: float
    model_size_bytes: int
    rss_mb: float  # resident memory after the timed runs
    peak_rss_mb: float  # process high-water mark (includes everything benched before)


@dataclass(frozen=True)
class CaptureRow:
    """The full pipeline on a video at one capture resolution."""

    bundle: str
    capture: str  # "640x480"
    frames: int
    faces_found: int
    detect_p50_ms: float
    detect_p95_ms: float
    end_to_end_p50_ms: float
    end_to_end_p95_ms: float
    fps: float
    stages: tuple[StageLatency, ...] = ()


@dataclass(frozen=True, kw_only=True)
class DetectModeRow:
    """One detection setting of the full pipeline on one video, scored against full-frame detection every frame."""

    bundle: str
    video: str
    mode: str  # a key of edgeaffect.bench.detect_modes.DETECT_MODES
    detect_every: int
    detect_region: int
    frames: int
    faces: int
    fps: float
    recall: float | None  # reference faces found (IoU >= 0.5); None when the reference found none
    top1_agreement: float | None  # of the found faces, same raw label as the reference; None when none was found
    cpu_fps: float = 0.0  # frames per CPU second of the process: the FPS with the cores to itself
    box_iou: float | None = 1.0  # mean IoU of the found boxes with the reference ones; None when none was found
    detect_passes: Mapping[str, int] = field(default_factory=dict)
    stages: tuple[StageLatency, ...] = ()
    round_fps: tuple[float, ...] = ()  # FPS of every round, in order (``fps`` is the fastest of them)


def round_ratio(row: DetectModeRow, reference: DetectModeRow) -> float:
    """Median over rounds of this row's FPS over the reference's in the same round (NaN without rounds)."""
    pairs = [a / b for a, b in zip(row.round_fps, reference.round_fps) if b > 0]
    return statistics.median(pairs) if pairs else float("nan")


@dataclass(frozen=True)
class BenchResult:
    """Everything one ``edgeaffect bench`` run measured on one device."""

    created: str
    device: DeviceInfo
    tools: Mapping[str, str]
    data: str  # dataset path/format/split as run
    bundles: tuple[BundleInfo, ...]
    accuracy: tuple[AccuracyRow, ...] = ()
    latency: tuple[LatencyRow, ...] = ()
    capture: tuple[CaptureRow, ...] = ()
    detect_modes: tuple[DetectModeRow, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)  # the resolved bench config
    schema: str = SCHEMA
    version: int = SCHEMA_VERSION

    def bundle(self, key: str) -> BundleInfo:
        for b in self.bundles:
            if b.key == key:
                return b
        raise KeyError(key)

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "BenchResult":
        if data.get("schema") != SCHEMA:
            raise DataError(f"not an edgeaffect bench result (schema {data.get('schema')!r})",
                            "pass a results.json written by 'edgeaffect bench'")
        if int(data.get("version", 0)) > SCHEMA_VERSION:
            raise DataError(f"bench result version {data['version']} is newer than this edgeaffect reads ({SCHEMA_VERSION})",
                            "upgrade edgeaffect: pip install -U edgeaffect")
        return from_plain(cls, data, leaf=_typed)  # keys of a newer minor schema are ignored

    def save(self, path: str | Path) -> Path:
        from edgeaffect.io import atomic_write_json

        return atomic_write_json(Path(path), self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> "BenchResult":
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError(f"bench result {path} does not exist", "run 'edgeaffect bench ... --out FILE' first") from None
        except IsADirectoryError:
            raise DataError(f"bench result {path} is a folder", "pass the results.json file written by 'edgeaffect bench'") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            where = f" (line {exc.lineno}): {exc.msg}" if isinstance(exc, json.JSONDecodeError) else ": not UTF-8 text"
            raise DataError(f"{path} is not valid JSON{where}", "re-run 'edgeaffect bench' to write it again") from None
        if not isinstance(data, dict):
            kind = {list: "an array", str: "a string", bool: "true/false", type(None): "null"}.get(type(data), "a number")
            raise DataError(f"{path} holds {kind}, not a bench result (a JSON object)",
                            "pass the results.json file written by 'edgeaffect bench'")
        try:
            return cls.from_dict(data)
        except (TypeError, ValueError, KeyError, OverflowError, RecursionError) as exc:
            raise DataError(f"{path} does not fit the bench result schema: {exc}",
                            "re-run 'edgeaffect bench' with this edgeaffect version") from exc


def _typed(tp: Any, value: Any, where: str) -> Any:
    """Each leaf of a results file has the type its field declares (a report must not meet "x" as a latency)."""
    from edgeaffect.plain import PlainError

    if value is None:  # NaN was written as null (strict JSON)
        return None
    checks = {bool: lambda v: isinstance(v, bool), str: lambda v: isinstance(v, str),
              int: lambda v: isinstance(v, int) and not isinstance(v, bool),
              float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)}
    if tp in checks and not checks[tp](value):
        raise PlainError(where, f"expected {tp.__name__}, got {str(value)[:40]!r}")
    return float(value) if tp is float else value


def merge(results: Sequence[BenchResult]) -> tuple[BenchResult, ...]:
    """Results from several devices/runs, in a stable order (device, then time).

    Each result keeps its own device; the report joins rows on bundle key and
    device profile, so the same bundle benched on a Pi and a laptop shows as
    two points of the Pareto front.
    """
    if not results:
        raise DataError("no bench results to merge", "pass one or more results.json files")
    return tuple(sorted(results, key=lambda r: (r.device.profile, r.created)))
