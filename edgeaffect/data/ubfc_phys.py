"""Reader for the UBFC-Phys layout: face videos with EDA (and BVP) ground truth.

Layout (one folder per subject; T1 rest, T2 speech, T3 arithmetic)::

    s1/vid_s1_T1.avi   35 fps face video
    s1/bvp_s1_T1.csv   blood-volume pulse, 64 Hz, headerless, one value per line
    s1/eda_s1_T1.csv   electrodermal activity, 4 Hz, headerless, one value per line

Videos are brought to ``fps`` (4 fps by default, as in the EDA-from-video
studies), face crops are computed once per video and cached (see
``facecache``), and each video is cut into windows of ``window`` frames.
Frame k of a video sits at time k / fps; the EDA and BVP of a window are the
traces resampled to those times.  Videos that do not decode, stop early, lack
a signal or have signals shorter than the video are skipped and named.
Splits are subject-disjoint.  Torch-free.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from tqdm import tqdm

from edgeaffect.data.base import ClipRecord, DatasetIndex, Skipped, register_reader
from edgeaffect.data.facecache import CropCache, CropOptions, VideoCrops
from edgeaffect.data.signals import check_covers, read_values, resample
from edgeaffect.data.subjects import assign_subjects, parse_options
from edgeaffect.errors import ConfigError, DataError

log = logging.getLogger(__name__)

_VIDEO = re.compile(r"^vid_(s\d+)_(T\d+)\.avi$", re.IGNORECASE)


@dataclass(frozen=True)
class UbfcPhysOptions:
    fps: float = 4.0
    window: int = 32  # frames per clip (a multiple of 4 suits PhysNet-style 3D CNNs)
    stride: int | None = None  # frames between window starts; None = window (no overlap)
    tasks: tuple[str, ...] = ("T1", "T2", "T3")
    crop_size: int = 72
    detector: str = "haar"
    detector_options: Mapping[str, Any] | None = None  # passed to the detector, e.g. {"model": "yunet.onnx"}
    detect_every: int = 4
    scale: float = 1.2  # crop side / larger box side: the framing the model records (ModelMeta.framing)
    cache: bool = True  # False keeps crops in memory only (nothing written to disk)
    cache_dir: str | Path | None = None  # default <root>/.edgeaffect-cache, or the user cache dir if read-only
    eda_hz: float = 4.0
    bvp_hz: float = 64.0
    tolerance: float = 0.5  # seconds a signal may end before its video
    seed: int = 0
    valid: float = 0.2
    test: float = 0.2
    folds: int | None = None
    fold: int = 0
    splits: Mapping[str, Sequence[str]] | None = None  # split -> subjects, overrides the seeded split

    def __post_init__(self) -> None:
        tasks = (self.tasks,) if isinstance(self.tasks, str) else tuple(self.tasks)
        object.__setattr__(self, "tasks", tasks)

    def crop_options(self) -> CropOptions:
        return CropOptions(fps=self.fps, crop_size=self.crop_size, detector=self.detector,
                           detector_options=self.detector_options, detect_every=self.detect_every, scale=self.scale)


def detect(root: Path) -> bool:
    return root.is_dir() and any(_VIDEO.match(p.name) for p in root.glob("s*/vid_s*_T*.avi"))


def cache_directory(root: Path, opts: UbfcPhysOptions) -> Path | None:
    """The crop cache folder: as given, else beside the data, else the user cache dir."""
    if not opts.cache:
        return None
    if opts.cache_dir is not None:
        return Path(opts.cache_dir).expanduser()
    beside = root / ".edgeaffect-cache" / "ubfc_phys"
    if os.access(root, os.W_OK):
        return beside
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "edgeaffect" / "ubfc_phys" / re.sub(r"[^A-Za-z0-9]+", "_", str(root.resolve())).strip("_")


@dataclass(frozen=True)
class _CropReader:
    """Reads a window's crops from the cache (picklable, so data-loader workers can use it)."""

    cache: CropCache
    video: Path
    options: CropOptions

    def __call__(self, record: ClipRecord) -> list[np.ndarray]:
        crops = self.cache.get(self.video, self.options).crops
        return [np.asarray(c) for c in crops[record.start:record.start + record.length]]


def _signal(path: Path, rate: float, video: Path, vc: VideoCrops, tolerance: float, n: int) -> np.ndarray:
    values = read_values(path)
    check_covers(len(values) / rate, vc.seconds, signal=path, video=video, tolerance=tolerance)
    out = resample(values, rate, vc.fps)
    return np.pad(out, (0, max(n - len(out), 0)), mode="edge")[:n].astype(np.float32)


def _video_clips(video: Path, subject: str, task: str, split: str, opts: UbfcPhysOptions,
                 cache: CropCache) -> list[ClipRecord]:
    """All windows of one video; raises DataError naming the file when it cannot be used."""
    eda_path = video.with_name(f"eda_{subject}_{task}.csv")
    bvp_path = video.with_name(f"bvp_{subject}_{task}.csv")
    if not eda_path.exists():
        raise DataError(f"{eda_path} is missing", "add the EDA recording of this video, or remove the video")
    crop_opts = opts.crop_options()
    vc = cache.get(video, crop_opts)
    n = len(vc.crops)
    eda = _signal(eda_path, opts.eda_hz, video, vc, opts.tolerance, n)
    bvp = _signal(bvp_path, opts.bvp_hz, video, vc, opts.tolerance, n) if bvp_path.exists() else None
    stride = opts.stride or opts.window
    reader = _CropReader(cache, video, crop_opts)
    return [ClipRecord(key=f"{subject}_{task}_{start:05d}", split=split, video=video, start=start,
                       length=opts.window, fps=vc.fps, eda=eda[start:start + opts.window],
                       bvp=None if bvp is None else bvp[start:start + opts.window], subject=subject, task=task,
                       reader=reader)
            for start in range(0, n - opts.window + 1, stride)]


@register_reader("ubfc_phys", detect=detect, description="UBFC-Phys: s*/vid_s*_T*.avi + eda_/bvp_ CSVs")
def read(root: Path, **options) -> DatasetIndex:
    opts = parse_options(UbfcPhysOptions, options)
    if opts.window < 1 or opts.fps <= 0:
        raise ConfigError(f"window={opts.window}, fps={opts.fps}", "use window >= 1 frames and fps > 0")
    videos = sorted((p for p in root.glob("s*/vid_s*_T*.avi") if _VIDEO.match(p.name)
                     and _VIDEO.match(p.name).group(2).upper() in {t.upper() for t in opts.tasks}),
                    key=lambda p: (int(_VIDEO.match(p.name).group(1)[1:]), p.name))
    if not videos:
        raise DataError(f"no vid_s*_T*.avi videos for tasks {', '.join(opts.tasks)} under {root}",
                        "point at the folder holding s1/, s2/, ... or choose other --tasks")
    subjects = assign_subjects({_VIDEO.match(v.name).group(1) for v in videos}, seed=opts.seed, valid=opts.valid,
                               test=opts.test, folds=opts.folds, fold=opts.fold, splits=opts.splits)
    cache = CropCache(cache_directory(root, opts))
    splits: dict[str, list[ClipRecord]] = {name: [] for name in dict.fromkeys(("train", "valid", "test",
                                                                              *subjects.values()))}
    skipped: list[Skipped] = []
    for video in tqdm(videos, desc="ubfc_phys face crops", unit="video", disable=len(videos) < 4):
        subject, task = _VIDEO.match(video.name).groups()
        if subject not in subjects:
            continue
        try:
            clips = _video_clips(video, subject, task, subjects[subject], opts, cache)
        except DataError as exc:
            log.warning("skipping %s: %s", video, exc.what)
            skipped.append(Skipped(str(video), exc.what))
            continue
        if not clips:
            skipped.append(Skipped(str(video), f"shorter than one window of {opts.window} frames at {opts.fps} fps"))
        splits[subjects[subject]].extend(clips)
    if not any(splits.values()):
        reasons = "; ".join(f"{s.source}: {s.reason}" for s in skipped[:3])
        raise DataError(f"no usable clip in {root} ({len(skipped)} videos skipped: {reasons})",
                        "fix the files named above, or lower --window")
    return DatasetIndex(
        format="ubfc_phys", root=root, task="signal", classes=(),
        splits={k: tuple(v) for k, v in splits.items()}, skipped=tuple(skipped),
        info={"fps": opts.fps, "window": opts.window, "stride": opts.stride or opts.window,
              **opts.crop_options().info(), "eda_hz": opts.eda_hz, "bvp_hz": opts.bvp_hz,
              "tasks": tuple(opts.tasks), "cache_dir": str(cache.directory) if cache.directory else None,
              "crops_cached": cache.hits, "crops_computed": cache.computed, "subjects": dict(subjects)})
