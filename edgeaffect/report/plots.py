"""Bench results -> PNG figures (matplotlib, Agg backend, no display needed).

Accuracy-vs-resolution curves per interpolation pair, the accuracy-vs-latency
Pareto front across bundles and devices, per-stage latency bars and confusion
matrices.  Each figure is returned as PNG bytes so the HTML page can embed it
and the Markdown page can link the same file.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Sequence

from edgeaffect._optional import require
from edgeaffect.report.tables import Entry, pairs_of


@dataclass(frozen=True)
class Figure:
    key: str  # file stem of the PNG
    title: str
    png: bytes


def _plt():
    mpl = require("matplotlib", "report", purpose="report plots")
    mpl.use("Agg", force=True)
    return require("matplotlib.pyplot", "report")


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return buf.getvalue()


def resolution_curves(entry: Entry) -> Figure | None:
    rows = [r for r in entry.accuracy if r.resolution is not None and r.headline is not None]
    if not rows:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for pair in pairs_of(entry):
        pts = sorted((r.resolution, r.headline) for r in rows if r.pair == pair)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, label=pair)
    native = entry.native
    if native is not None and native.headline is not None:
        ax.axhline(native.headline, color="gray", ls="--", lw=1, label="native")
    ax.set_xscale("log", base=2)
    ticks = sorted({r.resolution for r in rows})
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("face resolution (pixels per side)")
    is_acc = native is None or native.accuracy is not None
    ax.set_ylabel("accuracy" if is_acc else "score")
    if is_acc:
        ax.set_ylim(0.0, 1.02)
    ax.set_title(entry.label, fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, ncol=2, title="down/up", title_fontsize=7)
    return Figure(f"resolution-{entry.slug}", f"score vs face resolution — {entry.label}", _png(fig))


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of points no other point beats on both latency (lower) and score (higher), by latency."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def pareto(items: Sequence[Entry]) -> Figure | None:
    pts, labels, devices = [], [], []
    for e in items:
        if e.latency is None or e.native is None or e.native.headline is None:
            continue
        pts.append((e.latency.end_to_end.p50_ms, e.native.headline))
        labels.append(f"{e.bundle.name} {e.bundle.format}/{e.bundle.precision}")
        devices.append(e.device)
    if not pts:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.8, 4.4))
    markers = "os^Dvp*h"
    for k, dev in enumerate(dict.fromkeys(devices)):
        idx = [i for i, d in enumerate(devices) if d == dev]
        ax.scatter([pts[i][0] for i in idx], [pts[i][1] for i in idx], marker=markers[k % len(markers)], s=40, label=dev)
    front = pareto_front(pts)
    ax.step([pts[i][0] for i in front], [pts[i][1] for i in front], where="post", color="crimson", lw=1.2,
            marker="o", ms=11, mfc="none", label="Pareto front")
    for (x, y), text in zip(pts, labels):
        ax.annotate(text, (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    plain = require("matplotlib.ticker", "report").FuncFormatter(lambda v, _: f"{v:g}")
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(plain)
    ax.set_xlabel("end-to-end latency p50 (ms, log)")
    ax.set_ylabel("score at native resolution")
    if all(e.native.accuracy is not None for e in items if e.native is not None):
        ax.set_ylim(0.0, 1.02)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, title="device", title_fontsize=7)
    return Figure("pareto", "accuracy vs latency across bundles and devices", _png(fig))


def stage_bars(items: Sequence[Entry]) -> Figure | None:
    timed = [e for e in items if e.latency is not None]
    if not timed:
        return None
    plt = _plt()
    stages = list(dict.fromkeys(s.stage for e in timed for s in e.latency.stages))
    fig, ax = plt.subplots(figsize=(6.8, 0.5 * len(timed) + 1.4))
    left = [0.0] * len(timed)
    for stage in stages:
        widths = [next((s.p50_ms for s in e.latency.stages if s.stage == stage), 0.0) for e in timed]
        ax.barh(range(len(timed)), widths, left=left, label=stage)
        left = [a + b for a, b in zip(left, widths)]
    ax.set_yticks(range(len(timed)), [e.label for e in timed], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("p50 latency per stage (ms)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(True, axis="x", alpha=0.3)
    return Figure("stages", "latency per stage (p50)", _png(fig))


def confusion(entry: Entry) -> Figure | None:
    native = entry.native
    if native is None or not native.confusion:
        return None
    import numpy as np

    cm = np.asarray(native.confusion, dtype=float)
    labels = list(entry.bundle.labels) or [str(i) for i in range(len(cm))]
    keep = [i for i in range(len(cm)) if cm[i].sum() > 0 or cm[:, i].sum() > 0]  # classes the data never touches
    cm, labels = cm[np.ix_(keep, keep)], [labels[i] for i in keep]
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(0.6 * len(keep) + 2.2, 0.6 * len(keep) + 1.6))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(keep)):
        for j in range(len(keep)):
            ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(keep)), labels, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(keep)), labels, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(entry.label, fontsize=8)
    return Figure(f"confusion-{entry.slug}", f"confusion matrix at native resolution — {entry.label}", _png(fig))


def all_figures(items: Sequence[Entry]) -> list[Figure]:
    figs = [pareto(items), stage_bars(items)]
    for e in items:
        figs += [resolution_curves(e), confusion(e)]
    return [f for f in figs if f is not None]
