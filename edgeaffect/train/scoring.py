"""Turn collected predictions into the studies' metrics, head by head.

``Collector`` gathers model outputs and targets batch by batch (as numpy);
``score`` hands them to :mod:`edgeaffect.metrics` according to each head's
kind and returns a flat ``{name: float}`` row for metrics.csv / early stopping
plus the full per-head reports (per-class scores, confusion matrix).

Flat names: the first logits head gives ``accuracy``, ``macro_f1``, ``uar``, ...;
regression heads ``<value>_ccc`` / ``_rmse`` / ``_pearson`` (``valence_ccc``);
signal heads ``<head>_pearson`` (per window), ``_trace_pearson`` (per whole video),
``_session_pearson`` (per subject, videos in order) and ``_mse`` (``eda_trace_pearson``).
A derivative signal head is scored on its level (``edgeaffect.signal_level``): each window
integrated on its own for the per-window figures, and integrated along the stitched trace
(a video, or a session played as one recording) for the trace figures; its MSE compares a
level known only up to a constant, so its Pearson figures are the ones that carry meaning.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Mapping, Sequence

import numpy as np

from edgeaffect import metrics as M
from edgeaffect.meta import Head, HeadKind, ModelMeta
from edgeaffect.signal_level import levels

TARGET_KEYS = ("label", "target", "valence", "arousal", "signal", "video", "start", "subject")
CLASSIFICATION_FLAT = ("accuracy", "uar", "macro_f1", "kappa", "ece")
# Names of the scoring restricted to a cross-data-set's classes (flat metrics, per-head report).
RESTRICTED_PREFIX, RESTRICTED_SUFFIX = "restricted_", ".restricted"
# Metrics where lower is better; every other monitored metric is maximised.
LOWER_IS_BETTER = ("loss", "rmse", "mse", "mae", "ece")


def lower_is_better(metric: str) -> bool:
    return any(metric == k or metric.endswith("_" + k) for k in LOWER_IS_BETTER)


class Collector:
    """Accumulates per-head outputs and the batch targets of an evaluation pass."""

    def __init__(self, meta: ModelMeta) -> None:
        self.meta = meta
        self.outputs: dict[str, list[np.ndarray]] = defaultdict(list)
        self.targets: dict[str, list[np.ndarray]] = defaultdict(list)

    def add(self, outputs: tuple[Any, ...], batch: Mapping[str, Any]) -> None:
        for head, out in zip(self.meta.heads, outputs):
            self.outputs[head.name].append(out.detach().float().cpu().numpy())
        for key in TARGET_KEYS:
            if key in batch:
                self.targets[key].append(batch[key].detach().float().cpu().numpy())

    def arrays(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        cat = lambda d: {k: np.concatenate(v) for k, v in d.items() if v}  # noqa: E731
        return cat(self.outputs), cat(self.targets)


def _labels(targets: Mapping[str, np.ndarray]) -> np.ndarray:
    labels = targets["label"].astype(int)
    if "target" in targets and (labels < 0).any():  # soft-target-only samples: the argmax is their class
        labels = np.where(labels < 0, targets["target"].argmax(1), labels)
    return labels


def _logits(head: Head, out: np.ndarray, targets: Mapping[str, np.ndarray], meta: ModelMeta) -> dict:
    labels = list(meta.labels) or [f"class{i}" for i in range(out.shape[1])]
    return M.classification_report(_labels(targets), M.softmax(out, axis=1), labels)


def _value_names(head: Head) -> list[str]:
    if head.size == 2 and head.name not in ("valence", "arousal"):
        return ["valence", "arousal"]
    return [head.name] if head.size == 1 else [f"{head.name}{i}" for i in range(head.size)]


def _regression(head: Head, out: np.ndarray, targets: Mapping[str, np.ndarray], meta: ModelMeta) -> dict:
    out = out.reshape(len(out), -1)
    reports = {}
    for i, name in enumerate(_value_names(head)):
        truth = targets.get(name)
        if truth is None:
            continue
        keep = np.isfinite(truth)
        if keep.sum() >= 2:
            reports[name] = M.regression_report(truth[keep], out[keep, i])
    return reports


def _signal(head: Head, out: np.ndarray, targets: Mapping[str, np.ndarray], meta: ModelMeta) -> dict:
    truth = targets["signal"]
    out = out.reshape(truth.shape)
    fps = meta.temporal.fps if meta.temporal is not None else 1.0

    def stitch(windows: np.ndarray) -> np.ndarray:  # one recording's windows, in time order
        return levels(head.target, windows, fps, continuous=True)

    report = M.signal_report(truth, levels(head.target, out, fps))
    if "video" in targets:
        report["trace_pearson"] = _trace_pearson(truth, out, targets["video"], targets["start"], stitch)
        if "subject" in targets:  # a session: the subject's videos one after another
            order_key = targets["video"].astype(np.int64) * 10**7 + targets["start"].astype(np.int64)
            report["session_pearson"] = _trace_pearson(truth, out, targets["subject"], order_key, stitch)
    return report


def _trace_pearson(truth: np.ndarray, pred: np.ndarray, group: np.ndarray, order: np.ndarray, stitch) -> float:
    """Mean over groups (videos, or sessions) of the Pearson r of the trace stitched back in ``order``."""
    rs = []
    for v in np.unique(group):
        idx = np.flatnonzero(group == v)
        idx = idx[np.argsort(order[idx], kind="stable")]
        if len(idx) * truth.shape[1] >= 3:
            rs.append(M.pearson(truth[idx].ravel(), stitch(pred[idx]).ravel()))
    return float(np.nanmean(rs)) if rs and not np.all(np.isnan(rs)) else float("nan")


REPORTERS = {HeadKind.LOGITS: _logits, HeadKind.REGRESSION: _regression, HeadKind.SIGNAL: _signal}


def _flatten(head: Head, report: dict, first_logits: bool) -> dict[str, float]:
    if head.kind is HeadKind.LOGITS:
        prefix = "" if first_logits else f"{head.name}_"
        return {prefix + k: float(report[k]) for k in CLASSIFICATION_FLAT}
    if head.kind is HeadKind.REGRESSION:
        return {f"{name}_{k}": float(r[k]) for name, r in report.items() for k in ("ccc", "rmse", "pearson")}
    return {f"{head.name}_{k}": float(report[k]) for k in ("pearson", "trace_pearson", "session_pearson", "mse") if k in report}


def score(meta: ModelMeta, outputs: Mapping[str, np.ndarray], targets: Mapping[str, np.ndarray], *,
          classes: Sequence[int] | None = None) -> tuple[dict, dict]:
    """-> (flat metrics row, per-head reports).

    ``classes``: the model-label indices a data set with fewer classes than the model covers
    (cross-data-set evaluation).  The first logits head is then scored two ways: over all the
    model's classes (the usual names, ``accuracy``...) and restricted to the set's classes
    (``restricted_accuracy``..., report ``<head>.restricted``).
    """
    flat: dict[str, float] = {}
    reports: dict[str, Any] = {}
    seen_logits = False
    for head in meta.heads:
        if head.name not in outputs:
            continue
        first_logits = head.kind is HeadKind.LOGITS and not seen_logits
        if first_logits and classes is not None and len(classes) < head.size:
            labels = list(meta.labels) or [f"class{i}" for i in range(head.size)]
            report, restricted = M.subset_reports(_labels(targets), M.softmax(outputs[head.name], axis=1), labels,
                                                  classes)
            reports[head.name] = report
            reports[f"{head.name}{RESTRICTED_SUFFIX}"] = restricted
            flat.update({f"{RESTRICTED_PREFIX}{k}": float(restricted[k]) for k in CLASSIFICATION_FLAT})
        else:
            report = reports[head.name] = REPORTERS[head.kind](head, outputs[head.name], targets, meta)
        flat.update(_flatten(head, report, first_logits=first_logits))
        seen_logits |= head.kind is HeadKind.LOGITS
    return dict(sorted(flat.items(), key=lambda kv: kv[0].startswith(RESTRICTED_PREFIX))), reports
