"""Bench results -> tables: the resize table, summary, latency, per class, subgroups, capture sweep.

A :class:`Table` holds raw values (floats stay floats, so the CSV keeps full
precision); Markdown and HTML format them through :func:`cell`.  Several result
files (devices) are flattened into :class:`Entry` rows — one per benched
bundle per device — which every table and plot iterates.
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from edgeaffect.bench.results import (AccuracyRow, BenchResult, BundleInfo, CaptureRow, DetectModeRow, LatencyRow,
                                      round_ratio)


@dataclass(frozen=True)
class Table:
    key: str  # file stem of the CSV
    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    note: str = ""
    percent: tuple[str, ...] = ()  # further columns shown as percentages (shares); the CSV keeps fractions


@dataclass(frozen=True)
class Entry:
    """One bundle as benched on one device."""

    device: str
    bundle: BundleInfo
    accuracy: tuple[AccuracyRow, ...]
    latency: LatencyRow | None
    capture: tuple[CaptureRow, ...]
    detect_modes: tuple[DetectModeRow, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.bundle.name} [{self.bundle.format}/{self.bundle.precision}] @ {self.device}"

    @property
    def slug(self) -> str:
        return "".join(c if c.isalnum() else "-" for c in f"{self.device}-{self.bundle.name}").strip("-").lower()

    @property
    def native(self) -> AccuracyRow | None:
        return next((r for r in self.accuracy if r.resolution is None), None)


def entries(results: Sequence[BenchResult]) -> list[Entry]:
    out = []
    for res in results:
        for b in res.bundles:
            out.append(Entry(
                device=res.device.profile, bundle=b,
                accuracy=tuple(r for r in res.accuracy if r.bundle == b.key),
                latency=next((r for r in res.latency if r.bundle == b.key), None),
                capture=tuple(r for r in res.capture if r.bundle == b.key),
                detect_modes=tuple(r for r in res.detect_modes if r.bundle == b.key)))
    return out


def cell(value: Any, *, percent: bool = False) -> str:
    """How a value reads in Markdown/HTML; the CSV keeps the raw value."""
    if value is None:
        return "–"
    if isinstance(value, float):
        if value != value:
            return "n/a"
        return f"{100 * value:.1f}" if percent else f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def pairs_of(entry: Entry) -> list[str]:
    seen: dict[str, None] = {}
    for r in entry.accuracy:
        if r.resolution is not None:
            seen.setdefault(r.pair)
    return list(seen)


def resize_table(entry: Entry) -> Table:
    """Rows = face resolutions (largest first), columns = down/up interpolation pairs, cells = the headline score."""
    pairs = pairs_of(entry)
    grid = {(r.resolution, r.pair): r.headline for r in entry.accuracy if r.resolution is not None}
    resolutions = sorted({r for r, _ in grid}, reverse=True)
    rows = [(res, *(grid.get((res, p)) for p in pairs)) for res in resolutions]
    nat = entry.native
    metric = "accuracy" if nat is not None and nat.accuracy is not None else "score"
    note = f"native input {entry.bundle.input_size[0]}x{entry.bundle.input_size[1]}: {cell(nat.headline if nat else None)}"
    return Table(f"resize-{entry.slug}", f"{metric} by face resolution and down/up interpolation — {entry.label}",
                 ("resolution", *pairs), tuple(rows), note)


def summary_table(items: Sequence[Entry]) -> Table:
    rows = []
    for e in items:
        n, lat = e.native, e.latency
        rows.append((e.device, e.bundle.name, e.bundle.format, e.bundle.precision, e.bundle.ran_precision,
                     e.bundle.size_bytes / 1e6,
                     n.accuracy if n else None, n.uar if n else None, n.macro_f1 if n else None,
                     n.ccc_valence if n else None, n.ccc_arousal if n else None, n.pearson if n else None,
                     lat.end_to_end.p50_ms if lat else None, lat.end_to_end.p95_ms if lat else None,
                     lat.fps if lat else None, lat.peak_rss_mb if lat else None))
    return Table("summary", "bundles per device (native resolution)",
                 ("device", "bundle", "format", "precision", "ran as", "size MB", "accuracy", "UAR", "macro-F1",
                  "CCC valence", "CCC arousal", "Pearson", "p50 ms", "p95 ms", "FPS", "peak RSS MiB"), tuple(rows))


def latency_table(items: Sequence[Entry]) -> Table:
    rows = []
    for e in items:
        if e.latency is None:
            continue
        for s in (*e.latency.stages, e.latency.end_to_end):
            rows.append((e.device, e.bundle.name, s.stage, s.n, s.mean_ms, s.p50_ms, s.p95_ms))
    return Table("latency", "latency per stage (ms, batch of the runtime)",
                 ("device", "bundle", "stage", "runs", "mean", "p50", "p95"), tuple(rows))


def per_class_table(items: Sequence[Entry]) -> Table | None:
    scored = [e for e in items if e.native is not None and e.native.per_class_f1]
    if not scored:
        return None
    classes = list(dict.fromkeys(c for e in scored for c in e.native.per_class_f1))
    rows = [(c, *(e.native.per_class_f1.get(c) for e in scored)) for c in classes]
    return Table("per-class", "per-class F1 at native resolution", ("class", *(e.label for e in scored)), tuple(rows))


def subgroup_table(items: Sequence[Entry]) -> Table | None:
    rows = [(e.device, e.bundle.name, group, int(v.get("n", 0)), v.get("accuracy"), v.get("uar"))
            for e in items if e.native is not None for group, v in e.native.subgroups.items()]
    if not rows:
        return None
    return Table("subgroups", "accuracy per subgroup at native resolution",
                 ("device", "bundle", "subgroup", "n", "accuracy", "UAR"), tuple(rows))


def capture_table(items: Sequence[Entry]) -> Table | None:
    rows = [(e.device, e.bundle.name, c.capture, c.frames, c.faces_found, c.detect_p50_ms, c.detect_p95_ms,
             c.end_to_end_p50_ms, c.end_to_end_p95_ms, c.fps) for e in items for c in e.capture]
    if not rows:
        return None
    return Table("capture", "full pipeline by capture resolution",
                 ("device", "bundle", "capture", "frames", "faces", "detect p50 ms", "detect p95 ms",
                  "end-to-end p50 ms", "end-to-end p95 ms", "FPS"), tuple(rows))


DETECT_STAGES = ("decode", "read", "detect", "crop", "preprocess", "infer", "smooth", "sink", "total")


def detect_modes_table(items: Sequence[Entry]) -> Table | None:
    """Per detection setting: FPS, its ratio to full-frame detection every frame, what it lost, ms per stage."""
    rows = []
    for e in items:
        for r in e.detect_modes:
            ref = next((x for x in e.detect_modes if x.video == r.video and x.mode == "full"), None)
            per_frame = {s.stage: s.mean_ms * s.n / max(r.frames, 1) for s in r.stages}
            median = round_ratio(r, ref) if ref else math.nan
            rows.append((e.device, e.bundle.name, r.video, r.mode, r.fps, r.fps / ref.fps if ref and ref.fps else None,
                         None if math.isnan(median) else median,  # an empty cell, as for a missing reference
                         r.cpu_fps, r.cpu_fps / ref.cpu_fps if ref and ref.cpu_fps else None,
                         r.recall, r.box_iou, r.top1_agreement, *(per_frame.get(s) for s in DETECT_STAGES)))
    if not rows:
        return None
    return Table("latency-detection", "full pipeline by detection setting (stage ms per frame, amortised)",
                 ("device", "bundle", "video", "setting", "FPS", "x full", "x full (median round)", "CPU FPS",
                  "CPU x full", "face recall", "box IoU", "top-1 agreement",
                  *DETECT_STAGES), tuple(rows),
                 note="full = full-frame detection every frame (the reference for recall and agreement); every5 = "
                      "every 5th frame, the tracker extrapolates between; region = regions around tracks between "
                      "scheduled full-frame passes; x full compares the fastest runs, the median round the runs of "
                      "one round; CPU FPS = frames per CPU second (the FPS with the cores to itself)")


PERCENT_HEADERS = {"accuracy", "UAR", "macro-F1"}


def is_percent(table: Table, column: int) -> bool:
    """Scores shown as percentages: named score columns, and every score cell of a resize table."""
    return table.headers[column] in PERCENT_HEADERS or table.headers[column] in table.percent or (table.key.startswith("resize-") and column > 0
                                                        and "accuracy" in table.title)


def drop_empty_columns(table: Table) -> Table:
    """Leave out metric columns no row has (CCC for a classifier, accuracy for an EDA model)."""
    keep = [i for i in range(len(table.headers)) if i == 0 or any(row[i] is not None for row in table.rows)]
    return Table(table.key, table.title, tuple(table.headers[i] for i in keep),
                 tuple(tuple(row[i] for i in keep) for row in table.rows), table.note)


def all_tables(items: Sequence[Entry]) -> Iterator[Table]:
    yield drop_empty_columns(summary_table(items))
    for e in items:
        if any(r.resolution is not None for r in e.accuracy):
            yield resize_table(e)
    for make in (per_class_table, subgroup_table, latency_table, capture_table, detect_modes_table):
        table = make(items)
        if table is not None and table.rows:
            yield table


def to_csv(table: Table) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(table.headers)
    writer.writerows(["" if v is None else v for v in row] for row in table.rows)
    return buf.getvalue()
