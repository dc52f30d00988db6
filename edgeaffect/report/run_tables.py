"""Run results -> tables: overview, share of time per expression, transitions, heart rate, latency.

Each table has one row per run (or per run and track), so several runs read side by
side: two videos, or one video under two smoothing settings — the share and the
transitions are given for ``label`` (after smoothing) and ``raw_label`` (before).
Shares are weighted by time (each frame counts until the next one), so a stall
in the video does not change them.
"""
from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np

from edgeaffect.report.run_data import RunData, TrackSeries
from edgeaffect.report.tables import Table

STAGES = ("decode", "detect", "crop", "preprocess", "infer", "postprocess", "smooth", "pulse")  # as each line has them


def _durations(t: np.ndarray) -> np.ndarray:
    """How long each sample stands for: the gap to the next one (the last gets the median gap)."""
    if len(t) < 2:
        return np.ones(len(t))
    gaps = np.diff(t)
    return np.append(gaps, np.median(gaps))


def shares(labels: Sequence[str | None], t: np.ndarray, classes: Sequence[str]) -> dict[str, float]:
    """Share of the track's time per class name (frames without a label left out)."""
    weights = _durations(t)
    total = sum(w for w, lab in zip(weights, labels) if lab is not None)
    return {c: (sum(w for w, lab in zip(weights, labels) if lab == c) / total if total else 0.0) for c in classes}


def transitions(labels: Sequence[str | None]) -> Counter:
    """(from, to) -> count of label changes between consecutive labelled frames."""
    seq = [lab for lab in labels if lab is not None]
    return Counter((a, b) for a, b in zip(seq, seq[1:]) if a != b)


def _mean(values: np.ndarray) -> float | None:
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else None


def overview(runs: Sequence[RunData]) -> Table:
    rows = []
    for r in runs:
        n = len(r.frames)
        with_face = sum(1 for f in r.frames if f.faces)
        detected = sum(1 for f in r.frames if any(x.detected for x in f.faces))
        hr = np.array([x.heart_rate for f in r.frames for x in f.faces if x.heart_rate is not None], dtype=float)
        s = r.summary
        rows.append((r.name, n, round(r.seconds, 2), sum(len(f.faces) for f in r.frames),
                     len({x.track_id for f in r.frames for x in f.faces}), with_face / n, detected / n,
                     _mean(hr), s.get("fps"), s.get("smoothing"), s.get("backend")))
    return Table("runs", "runs: frames, detection coverage, heart rate",
                 ("run", "frames", "seconds", "faces", "tracks", "frames with a face", "frames with a detection",
                  "mean heart rate (bpm)", "FPS", "smoothing", "backend"), tuple(rows),
                 "coverage: share of processed frames with at least one face (tracked) / one detector hit",
                 percent=("frames with a face", "frames with a detection"))


def share_table(runs: Sequence[RunData], tracks: dict[str, list[TrackSeries]]) -> Table:
    classes = runs[0].labels if runs else ()
    rows = []
    for r in runs:
        for tr in tracks[r.name]:
            for kind, labels in (("label", tr.label), ("raw_label", tr.raw_label)):
                sh = shares(labels, tr.t, r.labels)
                rows.append((r.name, tr.track_id, kind, *(sh.get(c, 0.0) for c in classes)))
    return Table("share", "share of time per expression, per track (label = smoothed, raw_label = before smoothing)",
                 ("run", "track", "of", *classes), tuple(rows), "percent of the track's time", percent=tuple(classes))


def transition_table(runs: Sequence[RunData], tracks: dict[str, list[TrackSeries]]) -> Table:
    rows = []
    for r in runs:
        for tr in tracks[r.name]:
            minutes = max((tr.t[-1] - tr.t[0]) / 60.0, 1e-9) if len(tr.t) > 1 else None
            smooth, raw = transitions(tr.label), transitions(tr.raw_label)
            top = ", ".join(f"{a}→{b} {n}" for (a, b), n in smooth.most_common(4))
            rows.append((r.name, tr.track_id, sum(smooth.values()), sum(raw.values()),
                         None if minutes is None else sum(smooth.values()) / minutes, top))
    return Table("transitions", "expression changes per track",
                 ("run", "track", "changes (label)", "changes (raw_label)", "changes per minute", "most frequent"),
                 tuple(rows), "smoothing works where 'label' changes far less often than 'raw_label'")


def transition_matrix(run: RunData, track: TrackSeries) -> Table:
    counts = transitions(track.label)
    key = f"transitions-{slug(run.name)}-t{track.track_id}"
    rows = tuple((a, *(counts.get((a, b), 0) for b in run.labels)) for a in run.labels)
    return Table(key, f"{run.name}, track {track.track_id}: label changes (row → column)",
                 ("from \\ to", *run.labels), rows)


def pulse_table(runs: Sequence[RunData], tracks: dict[str, list[TrackSeries]]) -> Table | None:
    rows = []
    for r in runs:
        for tr in tracks[r.name]:
            ok = np.isfinite(tr.heart_rate)
            if ok.any():
                hr = tr.heart_rate[ok]
                rows.append((r.name, tr.track_id, float(ok.mean()), float(hr.mean()), float(hr.min()), float(hr.max()),
                             _mean(tr.pulse_snr)))
    if not rows:
        return None
    return Table("heart-rate", "heart rate per track (--pulse)",
                 ("run", "track", "frames with an estimate", "mean bpm", "min bpm", "max bpm", "mean SNR (dB)"),
                 tuple(rows), "no estimate before a track has a full window (--pulse-window, 10 s by default)",
                 percent=("frames with an estimate",))


def latency_table(runs: Sequence[RunData]) -> Table:
    rows = []
    for r in runs:
        for stage in (*STAGES, "end to end"):
            if stage == "end to end":
                ms = np.array([sum(f.stage_ms.values()) for f in r.frames])
            else:
                ms = np.array([f.stage_ms[stage] for f in r.frames if stage in f.stage_ms])
            if len(ms):
                rows.append((r.name, stage, len(ms), float(ms.mean()), float(np.percentile(ms, 50)),
                             float(np.percentile(ms, 95)), float(ms.max())))
    return Table("latency", "latency per stage (ms, from every frame's stage_ms)",
                 ("run", "stage", "frames", "mean", "p50", "p95", "max"), tuple(rows),
                 "end to end = the frame's stages summed; writing the line itself (sink) is in the run summary only")


def slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-").lower() or "run"


def all_tables(runs: Sequence[RunData], tracks: dict[str, list[TrackSeries]]) -> list[Table]:
    tables = [overview(runs), share_table(runs, tracks), transition_table(runs, tracks)]
    pulse = pulse_table(runs, tracks)
    if pulse is not None:
        tables.append(pulse)
    tables.append(latency_table(runs))
    tables += [transition_matrix(r, tr) for r in runs for tr in tracks[r.name]]
    return tables
