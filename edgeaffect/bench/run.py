"""``run_bench(config)``: every bundle over the resize grid, timed, into one BenchResult.

The order per bundle is: open it (checksums + tool versions), read the bench
faces at its input size, score every resolution x interpolation cell with real
inference, time the stages at the runtime's batch, and, when a video is given,
sweep the full pipeline over capture resolutions and, when asked, over
detection settings (per-stage cost, recall and labels against full-frame
detection every frame).  Torch-free.
"""
from __future__ import annotations

import datetime as _dt
import logging
from dataclasses import dataclass, field
from pathlib import Path

from edgeaffect.bench.accuracy import evaluate, parse_pairs, resize_cases
from edgeaffect.bench.latency import measure
from edgeaffect.bench.provenance import bundle_info, device_info, tool_versions
from edgeaffect.bench.results import BenchResult
from edgeaffect.plain import to_plain
from edgeaffect.bench.samples import load_samples
from edgeaffect.data.base import DatasetIndex
from edgeaffect.errors import ConfigError
from edgeaffect.meta import HeadKind, ModelMeta

log = logging.getLogger(__name__)

STUDY_RESOLUTIONS = (112, 96, 84, 64, 56, 48, 32, 28, 16, 14)
STUDY_INTERPOLATIONS = ("cubic", "linear", "lanczos4", "area")


@dataclass(frozen=True, kw_only=True)
class BenchConfig:
    """What to bench and how; saved in the result's ``options``."""

    bundles: tuple[Path, ...]
    data: Path | None = None  # labelled dataset; None = latency/capture only
    split: str = "test"
    data_format: str | None = None  # reader name; None = detect
    data_options: dict = field(default_factory=dict)  # e.g. {"mode": "majority"} for FER+
    class_map: dict = field(default_factory=dict)  # data class -> model class or "skip" (data.classes)
    limit: int | None = None
    resolutions: tuple[int, ...] = STUDY_RESOLUTIONS
    interpolations: tuple[str, ...] = STUDY_INTERPOLATIONS  # names (all pairs) or "down:up" pairs
    group_by: str | None = None  # record attribute that names subgroups, e.g. "subject"
    batch: int = 32
    latency_runs: int = 50
    warmup: int = 5
    video: Path | None = None
    captures: tuple[str, ...] = ("640x480", "1280x720")
    detector: str = "haar"
    smoothing: str | None = None
    capture_frames: int | None = None  # frames per capture run; None = the whole video
    detect_modes: tuple[str, ...] = ()  # detection settings run side by side on the video (bench/detect_modes.py)
    profile: str | None = None  # device profile name; None = detected
    out: Path | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        if not self.bundles:
            raise ConfigError("no bundle to bench", "pass one or more bundle folders written by 'edgeaffect export'")
        if self.data is None and self.video is None:
            raise ConfigError("nothing to measure: neither --data nor --video was given",
                              "pass --data DATASET (accuracy + latency) and/or --video FILE (capture sweep)")

    def to_dict(self) -> dict:
        import json

        return json.loads(json.dumps(to_plain(self), default=str))  # JSON-plain so a saved result reloads equal


def run_bench(config: BenchConfig) -> BenchResult:
    from tqdm import tqdm

    from edgeaffect.io import check_writable, refuse_writing_into_inputs
    from edgeaffect.runtime.loader import open_model

    if config.out is not None:  # before the benchmark, so a wrong --out cannot lose its results
        refuse_writing_into_inputs({"--out": config.out}, [*config.bundles, config.data, config.video])
        check_writable(config.out)
    index = None
    if config.data is not None:
        from edgeaffect.data import open_dataset
        from edgeaffect.data.base import describe

        index = open_dataset(config.data, format=config.data_format, class_map=dict(config.class_map),
                             **config.data_options)
    cases = resize_cases(config.resolutions, parse_pairs(config.interpolations))
    bundles, accuracy, latency, capture, modes = [], [], [], [], []
    for folder in tqdm(config.bundles, desc="bench", unit="bundle", disable=not config.progress):
        loaded = open_model(folder)
        info = bundle_info(loaded)
        bundles.append(info)
        meta = loaded.bundle.meta
        if index is not None:
            view, classes = model_data(index, meta, config, info.name)
            samples = load_samples(view, config.split, meta, limit=config.limit, group_by=config.group_by,
                                   classes=classes)
            if samples.skipped:
                log.warning("%s: %d samples skipped (unreadable or unknown class)", info.name, samples.skipped)
            accuracy += evaluate(loaded.backend, meta, samples, cases, bundle=info.key,
                                 batch=config.batch, progress=config.progress)
            latency.append(measure(loaded.backend, meta, samples, bundle=info.key, model_size_bytes=info.size_bytes,
                                   runs=config.latency_runs, warmup=config.warmup))
        if config.video is not None:
            from edgeaffect.bench.capture import sweep

            capture += sweep(folder, info.key, config.video, config.captures, detector=config.detector,
                             smoothing=config.smoothing, max_frames=config.capture_frames)
        if config.video is not None and config.detect_modes:
            from edgeaffect.bench.detect_modes import compare_modes

            modes += compare_modes(folder, config.video, key=info.key, modes=config.detect_modes,
                                   max_frames=config.capture_frames)
    data = "" if config.data is None else f"{describe(index)}:{config.data}:{config.split}"
    result = BenchResult(
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        device=device_info(config.profile), tools=tool_versions(), data=data, bundles=tuple(bundles),
        accuracy=tuple(accuracy), latency=tuple(latency), capture=tuple(capture),
        detect_modes=tuple(modes), options=config.to_dict())
    if config.out is not None:
        result.save(config.out)
        log.info("wrote %s", config.out)
    return result


def model_data(index: DatasetIndex, meta: ModelMeta, config: BenchConfig,
               name: str) -> tuple[DatasetIndex, tuple[int, ...] | None]:
    """The data as the model's classes (any subset of them; see data.classes.model_view) and, when the set
    has fewer classes than the model, the model-label indices it covers (for the restricted scoring)."""
    from edgeaffect.data.classes import model_view

    if not meta.labels or not index.classes or not any(h.kind is HeadKind.LOGITS for h in meta.heads):
        return index, None
    view, match = model_view(index, meta.labels, split=config.split, class_map=config.class_map, model=name)
    return view, (match.classes if match.subset else None)
