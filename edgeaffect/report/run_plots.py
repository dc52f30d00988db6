"""Run results -> PNG figures: what happened in the video, per track, runs side by side.

Per run and track: the expression probabilities over time (stacked, the smoothed
``scores``) with the label before and after smoothing as two strips under it, and
heart rate with its SNR where ``--pulse`` ran.  Across runs: share of time per
expression, faces per frame (detection coverage) and mean latency per stage.
Figures are PNG bytes (see ``plots.Figure``) for the HTML page and the files.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from edgeaffect.report.plots import Figure, _plt, _png
from edgeaffect.report.run_data import RunData, TrackSeries
from edgeaffect.report.run_tables import STAGES, shares, slug


def _colours(n: int):
    cmap = _plt().get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]


def _strip(ax, t: np.ndarray, labels: Sequence[str | None], classes: Sequence[str], colours, name: str) -> None:
    """One colour band per frame: the label it carried (blank where none)."""
    from matplotlib.colors import ListedColormap

    index = {c: i for i, c in enumerate(classes)}
    codes = np.ma.masked_less(np.array([index.get(lab, -1) if lab is not None else -1 for lab in labels]), 0)
    end = t[-1] + (t[-1] - t[-2] if len(t) > 1 else 1.0)
    ax.imshow(codes[None, :], aspect="auto", interpolation="nearest", extent=(t[0], end, 0, 1),
              cmap=ListedColormap(colours), vmin=0, vmax=len(classes) - 1)
    ax.set_yticks([])
    ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=7)


def timeline(run: RunData, track: TrackSeries) -> Figure:
    plt = _plt()
    classes, colours = run.labels, _colours(len(run.labels))
    fig, (ax, ax_l, ax_r) = plt.subplots(3, 1, figsize=(8.0, 3.6), sharex=True,
                                         gridspec_kw={"height_ratios": [8, 1, 1], "hspace": 0.08})
    scores = np.nan_to_num(track.scores, nan=0.0)
    ax.stackplot(track.t, scores.T, labels=classes, colors=colours, lw=0)
    ax.set_ylim(0, 1)
    ax.set_xlim(track.t[0], track.t[-1] if len(track.t) > 1 else track.t[0] + 1)
    ax.set_ylabel("probability")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)
    ax.set_title(f"{run.name} — track {track.track_id}: expression probabilities over time", fontsize=9)
    _strip(ax_l, track.t, track.label, classes, colours, "label")
    _strip(ax_r, track.t, track.raw_label, classes, colours, "raw")
    ax_r.set_xlabel("time (s)")
    return Figure(f"timeline-{slug(run.name)}-t{track.track_id}",
                  f"{run.name}, track {track.track_id}: expression probabilities (stacked) and labels", _png(fig))


def heart_rate(run: RunData, track: TrackSeries) -> Figure | None:
    ok = np.isfinite(track.heart_rate)
    if not ok.any():
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8.0, 2.8))
    ax.plot(track.t[ok], track.heart_rate[ok], color="#c0392b", lw=1.5, label="heart rate")
    ax.set_ylabel("bpm", color="#c0392b")
    ax.set_xlabel("time (s)")
    ax.set_xlim(track.t[0], track.t[-1] if len(track.t) > 1 else track.t[0] + 1)
    ax.grid(True, alpha=0.3)
    snr = ax.twinx()
    snr.plot(track.t[ok], track.pulse_snr[ok], color="#7f8c8d", lw=1, ls="--", label="SNR")
    snr.set_ylabel("SNR (dB)", color="#7f8c8d")
    ax.set_title(f"{run.name} — track {track.track_id}: heart rate and its signal quality", fontsize=9)
    return Figure(f"heart-rate-{slug(run.name)}-t{track.track_id}",
                  f"{run.name}, track {track.track_id}: heart rate (bpm) and SNR (dB)", _png(fig))


def share_bars(runs: Sequence[RunData], tracks: dict[str, list[TrackSeries]]) -> Figure | None:
    rows = [(f"{r.name} #{tr.track_id}", shares(tr.label, tr.t, r.labels), r.labels)
            for r in runs for tr in tracks[r.name]]
    if not rows:
        return None
    plt = _plt()
    classes = rows[0][2]
    colours = _colours(len(classes))
    fig, ax = plt.subplots(figsize=(8.0, 0.5 + 0.45 * len(rows)))
    left = np.zeros(len(rows))
    for i, c in enumerate(classes):
        values = np.array([sh.get(c, 0.0) for _, sh, _ in rows])
        ax.barh(range(len(rows)), values, left=left, color=colours[i], label=c)
        left += values
    ax.set_yticks(range(len(rows)), [name for name, _, _ in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of time (smoothed label)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)
    ax.set_title("share of time per expression, per run and track", fontsize=9)
    return Figure("share", "share of time per expression", _png(fig))


def coverage(runs: Sequence[RunData]) -> Figure:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8.0, 2.6))
    for r in runs:
        t = np.array([f.timestamp for f in r.frames])
        ax.step(t, [len(f.faces) for f in r.frames], where="post", lw=1, label=f"{r.name} (tracked)")
        ax.plot(t, [sum(x.detected for x in f.faces) for f in r.frames], ".", ms=2, alpha=0.6,
                label=f"{r.name} (detected)")
    from matplotlib.ticker import MaxNLocator

    most = max((len(f.faces) for r in runs for f in r.frames), default=1)
    ax.set_ylim(-0.1, max(most, 1) + 0.5)  # 0 in view: a frame without a face is the point of the figure
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("faces")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, frameon=False)
    ax.set_title("faces per frame: tracked (line) and found by the detector (dots)", fontsize=9)
    return Figure("coverage", "detection coverage: faces per frame", _png(fig))


def latency(runs: Sequence[RunData]) -> Figure:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8.0, 0.8 + 0.45 * len(runs)))
    left = np.zeros(len(runs))
    for i, stage in enumerate(STAGES):
        means = np.array([np.mean([f.stage_ms.get(stage, 0.0) for f in r.frames]) for r in runs])
        if means.any():
            ax.barh(range(len(runs)), means, left=left, color=_colours(len(STAGES))[i], label=stage)
            left += means
    ax.set_yticks(range(len(runs)), [r.name for r in runs], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("mean ms per frame")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)
    ax.set_title("latency per stage", fontsize=9)
    return Figure("latency", "mean latency per stage and frame", _png(fig))


def all_figures(runs: Sequence[RunData], tracks: dict[str, list[TrackSeries]]) -> list[Figure]:
    figures = [coverage(runs), latency(runs)]
    share = share_bars(runs, tracks)
    if share is not None:
        figures.append(share)
    for r in runs:
        for tr in tracks[r.name]:
            figures.append(timeline(r, tr))
            hr = heart_rate(r, tr)
            if hr is not None:
                figures.append(hr)
    return figures
