"""``data inspect``: what a dataset folder holds, as read by its reader.

Counts per split and class, subjects, image sizes of a seeded sample of decoded
images (so a corrupt file shows up before training does), skipped entries
grouped by reason with examples, and label facts (FER+ mode, target sums,
valence/arousal ranges, clip fps / length, feature shapes).  Works for every
registered format: image records, face-video clips and tabular windows.
"""
from __future__ import annotations

import dataclasses
import inspect as _pyinspect
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from tqdm import tqdm

from edgeaffect.data.base import READERS, DatasetIndex, Skipped, open_dataset
from edgeaffect.errors import ConfigError, DataError
from edgeaffect.plain import to_plain

EXAMPLES = 3  # sources shown per skip reason
WINDOW_FIELDS = ("fps", "length", "seconds")
RANGE_KEYS = ("_range", "_sum", "valence", "arousal")  # facts stored as [min, max]
NOT_SUMMARISED = ("pixels", "target", "landmarks")  # images / labels, described elsewhere


@dataclass(frozen=True)
class SplitReport:
    name: str
    count: int
    class_counts: Mapping[str, int]
    subjects: int
    image_sizes: Mapping[str, int] = field(default_factory=dict)  # "HxW[xC]" -> images decoded at that size
    decoded: int = 0
    undecodable: int = 0
    facts: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SkipGroup:
    reason: str
    count: int
    examples: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class InspectReport:
    path: str
    format: str
    task: str
    classes: tuple[str, ...]
    splits: tuple[SplitReport, ...]
    skipped: tuple[SkipGroup, ...]
    info: Mapping[str, Any]

    @property
    def total(self) -> int:
        return sum(s.count for s in self.splits)

    @property
    def skipped_total(self) -> int:
        return sum(g.count for g in self.skipped)

    def counts(self) -> dict[str, int]:
        return {s.name: s.count for s in self.splits}

    def to_dict(self) -> dict[str, Any]:
        return {**to_plain(self), "total": self.total, "skipped_total": self.skipped_total}


def detect_format(root: Path) -> str:
    """Name of the first registered reader that recognises ``root``."""
    import edgeaffect.data  # noqa: F401  (registers the built-in readers)

    root = Path(root).expanduser()
    if not root.exists():
        raise DataError(f"{root} does not exist", "check the path (EDGEAFFECT_DATA points at the data folder)")
    for name, reader in READERS.items():
        if reader.detect(root):
            return name
    raise DataError(f"cannot tell which dataset layout {root} is in",
                    f"pass --format with one of: {', '.join(sorted(READERS))}")


def load_index(path: str | Path, *, format: str | None = None, mode: str | None = None) -> DatasetIndex:
    """Open a dataset, passing the FER+ label ``mode`` only to readers that take one."""
    name = format or detect_format(Path(path))
    options = {}
    if mode is not None:
        reader = READERS.get(name)
        if reader is not None and "mode" not in _pyinspect.signature(reader.read).parameters:
            raise ConfigError(f"--mode does not apply to the '{name}' format", "drop --mode (only ferplus has modes)")
        options["mode"] = mode
    return open_dataset(path, format=name, **options)


def _range(values: Sequence[float]) -> list[float] | None:
    return [round(float(min(values)), 4), round(float(max(values)), 4)] if len(values) else None


def _record_facts(records: Sequence[Any]) -> dict[str, Any]:
    """Label facts of one split, whatever the record type."""
    facts: dict[str, Any] = {}
    targets = [r.target for r in records if getattr(r, "target", None) is not None]
    if targets:
        sums = [float(np.sum(t)) for t in targets]
        facts["target_sum"] = _range(sums)
        facts["targets_with_classes"] = dict(sorted(Counter(int(np.count_nonzero(t)) for t in targets).items()))
    for name in ("valence", "arousal"):
        values = [getattr(r, name) for r in records if getattr(r, name, None) is not None]
        if values:
            facts[name] = _range(values)
    for name in WINDOW_FIELDS:  # clips and signal windows: their rate and length
        values = {float(getattr(r, name)) for r in records if getattr(r, name, None) is not None}
        if values:
            facts[name] = sorted(values)[:5]
    if records and getattr(records[0], "video", None) is not None:
        facts["videos"] = len({str(r.video) for r in records})
    if records and dataclasses.is_dataclass(records[0]):
        # any array a record carries (EDA, BVP, feature windows): its shapes and value range
        for f in dataclasses.fields(records[0]):
            arrays = [a for a in (getattr(r, f.name) for r in records) if isinstance(a, np.ndarray)]
            if f.name in NOT_SUMMARISED or not arrays:
                continue
            facts[f"{f.name}_shape"] = sorted({a.shape for a in arrays})[:5]
            if all(a.size and np.issubdtype(a.dtype, np.number) for a in arrays):
                # NaN marks samples a recording lacks (sensor ended, timestamp went back): counted, not ranged
                finite = [a[np.isfinite(a)] for a in arrays]
                facts[f"{f.name}_range"] = _range([float(x.min()) for x in finite if x.size] +
                                                  [float(x.max()) for x in finite if x.size])
                missing = sum(int(a.size - x.size) for a, x in zip(arrays, finite))
                if missing:
                    facts[f"{f.name}_missing"] = missing
    return facts


def _decode(records: Sequence[Any], decode: int, seed: int, split: str) -> tuple[Counter, list[Skipped], int]:
    images = [r for r in records if hasattr(r, "read_image")]
    if decode == 0 or not images:
        return Counter(), [], 0
    if 0 < decode < len(images):
        pick = np.random.default_rng(seed).choice(len(images), size=decode, replace=False)
        images = [images[i] for i in sorted(pick)]
    sizes: Counter = Counter()
    bad: list[Skipped] = []
    for r in tqdm(images, desc=f"decode {split}", unit="img", disable=len(images) < 2000, leave=False):
        try:
            img = r.read_image()
        except DataError:
            bad.append(Skipped(str(r.path), "cannot decode image"))
            continue
        sizes["x".join(str(d) for d in img.shape)] += 1
    return sizes, bad, len(images)


def inspect_dataset(path: str | Path, *, format: str | None = None, mode: str | None = None,
                    decode: int = 200, seed: int = 0) -> InspectReport:
    """Read ``path`` and describe it; ``decode`` images per split are decoded (-1 = all, 0 = none)."""
    if decode < -1:
        raise ConfigError(f"--decode {decode} is not a count", "use -1 (all), 0 (none) or a positive number")
    index = load_index(path, format=format, mode=mode)
    skipped = list(index.skipped)
    split_reports = []
    for name, records in index.splits.items():
        sizes, bad, tried = _decode(records, decode, seed, name)
        skipped.extend(bad)
        labelled = any(getattr(r, "label", None) is not None for r in records)
        split_reports.append(SplitReport(
            name=name, count=len(records), class_counts=index.class_counts(name) if labelled else {},
            subjects=len(index.subjects(name)), image_sizes=dict(sizes.most_common()), decoded=tried - len(bad),
            undecodable=len(bad), facts=_record_facts(records)))
    groups: dict[str, list[str]] = {}
    for s in skipped:
        groups.setdefault(s.reason, []).append(s.source)
    skip_groups = tuple(SkipGroup(reason, len(sources), tuple(sources[:EXAMPLES]))
                        for reason, sources in sorted(groups.items(), key=lambda kv: -len(kv[1])))
    return InspectReport(path=str(index.root), format=index.format, task=index.task, classes=tuple(index.classes),
                         splits=tuple(split_reports), skipped=skip_groups, info=dict(index.info))


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
            for r in rows]


def _fact_text(key: str, value: Any) -> str:
    if key.endswith(RANGE_KEYS) and isinstance(value, list) and len(value) == 2:
        return f"{value[0]:.4f}..{value[1]:.4f}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v:,}" if isinstance(v, int) else f"{k}: {v}" for k, v in value.items())
    return str(value)


def format_report(report: InspectReport) -> str:
    """The human-readable table ``edgeaffect data inspect`` prints."""
    lines = [f"{report.path}", f"format: {report.format}   task: {report.task}   "
             f"images/samples: {report.total:,}   skipped: {report.skipped_total:,}"]
    if "mode" in report.info:
        lines.append(f"label mode: {report.info['mode']} (target: {report.info.get('target', 'none')})")
    simple = {k: v for k, v in report.info.items()
              if isinstance(v, (int, float, str, bool)) and k not in ("mode", "target", "file")}
    if simple:  # reader facts such as fps, window, sample rates
        lines.append("reader: " + ", ".join(f"{k}={v}" for k, v in simple.items()))
    names = [s.name for s in report.splits]
    rows = [["split", *names, "total"], ["count", *(f"{s.count:,}" for s in report.splits), f"{report.total:,}"],
            ["subjects", *(f"{s.subjects:,}" if s.subjects else "-" for s in report.splits), ""]]
    if report.classes and any(s.class_counts for s in report.splits):
        for c in report.classes:
            counts = [s.class_counts.get(c, 0) for s in report.splits]
            rows.append([f"  {c}", *(f"{n:,}" for n in counts), f"{sum(counts):,}"])
    lines += [""] + _table(rows)
    for s in report.splits:
        if s.decoded or s.undecodable:
            sizes = ", ".join(f"{k} ({v:,})" for k, v in s.image_sizes.items())
            lines.append(f"{s.name}: decoded {s.decoded:,} of {s.count:,} images: {sizes or '-'}"
                         + (f"; {s.undecodable:,} undecodable" if s.undecodable else ""))
        for key, value in s.facts.items():
            lines.append(f"{s.name}: {key.replace('_', ' ')} {_fact_text(key, value)}")
    dropped = report.info.get("dropped")
    if isinstance(dropped, dict) and any(dropped.values()):
        lines.append("dropped by the label rule: " + "; ".join(
            f"{split} {_fact_text(split, d)}" for split, d in dropped.items() if d))
    if report.skipped:
        lines.append(f"skipped {report.skipped_total:,}:")
        for g in report.skipped:
            lines.append(f"  {g.count:>7,}  {g.reason}   e.g. {', '.join(g.examples)}")
    else:
        lines.append("skipped: none")
    return "\n".join(lines)
