"""The metrics of all five studies, shared by training, export verification and the benchmark.

Torch-free: numpy arrays in, floats (or small arrays) out.  Classification
metrics come from scikit-learn (``report`` extra) rather than being rewritten;
the few that scikit-learn lacks — concordance correlation (CCC), sign agreement
(SAGR), expected calibration error (ECE) and the negative-Pearson signal loss —
are a handful of lines each and written here.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from edgeaffect._optional import require


def _sk():
    return require("sklearn.metrics", "report", purpose="classification metrics")


def _labels(y_true: np.ndarray, y_pred_or_probs: np.ndarray) -> np.ndarray:
    """Predicted labels from labels (1-D) or scores/probabilities (2-D)."""
    y = np.asarray(y_pred_or_probs)
    return y.argmax(axis=1) if y.ndim == 2 else y.astype(int)


# --- classification ----------------------------------------------------------------
def accuracy(y_true, y_pred) -> float:
    return float(_sk().accuracy_score(np.asarray(y_true), _labels(y_true, y_pred)))


def balanced_accuracy(y_true, y_pred) -> float:
    """Unweighted average recall (UAR): the mean recall over the classes present in ``y_true``.

    Computed as macro recall restricted to those classes (what balanced accuracy is), because
    ``balanced_accuracy_score`` warns on every call where a prediction names an absent class,
    which is routine on small test sets and flooded the bench output.
    """
    y_true = np.asarray(y_true)
    if y_true.size == 0:
        return float("nan")
    return float(_sk().recall_score(y_true, _labels(y_true, y_pred), labels=np.unique(y_true), average="macro",
                                    zero_division=0))


uar = balanced_accuracy


def macro_f1(y_true, y_pred, *, num_classes: int | None = None) -> float:
    labels = None if num_classes is None else list(range(num_classes))
    return float(_sk().f1_score(np.asarray(y_true), _labels(y_true, y_pred), average="macro", labels=labels,
                                zero_division=0))


def per_class_f1(y_true, y_pred, num_classes: int) -> np.ndarray:
    return _sk().f1_score(np.asarray(y_true), _labels(y_true, y_pred), average=None,
                          labels=list(range(num_classes)), zero_division=0)


def cohen_kappa(y_true, y_pred) -> float:
    return float(_sk().cohen_kappa_score(np.asarray(y_true), _labels(y_true, y_pred)))


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    return _sk().confusion_matrix(np.asarray(y_true), _labels(y_true, y_pred), labels=list(range(num_classes)))


def roc_auc_ovr(y_true, probs, num_classes: int) -> float:
    """Macro one-vs-rest ROC-AUC over the classes present in ``y_true``."""
    return _ovr(_sk().roc_auc_score, y_true, probs, num_classes)


def pr_auc_ovr(y_true, probs, num_classes: int) -> float:
    """Macro one-vs-rest PR-AUC (average precision) over the classes present."""
    return _ovr(_sk().average_precision_score, y_true, probs, num_classes)


def _ovr(score, y_true, probs, num_classes: int) -> float:
    y_true = np.asarray(y_true)
    probs = np.asarray(probs, dtype=np.float64)
    # A class absent from y_true has no positives: its AUC is undefined, so it is left out
    # of the macro mean rather than failing the whole report (small test splits lack contempt).
    vals = [score((y_true == c).astype(int), probs[:, c]) for c in range(num_classes)
            if 0 < (y_true == c).sum() < len(y_true)]
    return float(np.mean(vals)) if vals else float("nan")


def ece(y_true, probs, *, bins: int = 15) -> float:
    """Expected calibration error: |accuracy - confidence| averaged over confidence bins."""
    probs = np.asarray(probs, dtype=np.float64)
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == np.asarray(y_true)).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            total += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(total)


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def recall_interval(hits: int, n: int, *, level: float = 0.95, resamples: int = 2000,
                    seed: int = 0) -> tuple[float, float]:
    """Bootstrap ``level`` interval (percentile) of a class's recall: ``hits`` right of its ``n`` faces.

    Why: FER+ test holds 15 contempt and 16 disgust faces, where one face moves recall by 6 points; a
    per-class figure without its interval invites reading noise.  SciPy's ``bootstrap`` resamples.
    """
    hits = (np.arange(n) < hits).astype(np.float64)  # which faces were right does not change a resampled mean
    if hits.size == 0:
        return (float("nan"), float("nan"))
    if hits.min() == hits.max():  # every resample gives the same recall
        return (float(hits[0]), float(hits[0]))
    from scipy.stats import bootstrap

    res = bootstrap((hits,), np.mean, confidence_level=level, n_resamples=resamples, method="percentile",
                    random_state=np.random.default_rng(seed))
    return (float(res.confidence_interval.low), float(res.confidence_interval.high))


def classification_report(y_true, probs, labels: Sequence[str], *, classes: Sequence[int] | None = None) -> dict:
    """All classification metrics of the studies for one evaluation, JSON-ready.

    ``classes`` (default: all of ``labels``) are the classes the data set has: macro-F1 averages
    over them, so a model scored on a set with fewer classes is not charged for the classes the
    set cannot contain (its predictions of them still count as errors in every figure).
    """
    y_true = np.asarray(y_true)
    probs = np.asarray(probs, dtype=np.float64)
    n = len(labels)
    f1 = per_class_f1(y_true, probs, n)
    recall = _sk().recall_score(y_true, probs.argmax(1), average=None, labels=list(range(n)), zero_division=0)
    return {
        "n": int(len(y_true)),
        "accuracy": accuracy(y_true, probs),
        "uar": balanced_accuracy(y_true, probs),
        "macro_f1": (macro_f1(y_true, probs, num_classes=n) if classes is None
                     else float(np.mean([f1[c] for c in classes])) if len(classes) else float("nan")),
        "kappa": cohen_kappa(y_true, probs),
        "roc_auc": roc_auc_ovr(y_true, probs, n),
        "pr_auc": pr_auc_ovr(y_true, probs, n),
        "ece": ece(y_true, probs),
        "per_class": {lab: {"f1": float(f1[i]), "recall": float(recall[i]), "support": int((y_true == i).sum())}
                      for i, lab in enumerate(labels)},
        "confusion": confusion_matrix(y_true, probs, n).tolist(),
    }


def subset_reports(y_true, probs, labels: Sequence[str], classes: Sequence[int]) -> tuple[dict, dict]:
    """The two scorings of a data set whose classes are a subset of the model's.

    ``y_true`` indexes ``labels`` (the model's), ``classes`` are the indices the set has.
    Returns (all, restricted): the argmax over all the model's classes, where a prediction of a
    class the set lacks counts wrong, and the argmax over the set's classes only (the model's
    probabilities renormalised over them; labels and confusion matrix in the set's class order).
    """
    classes = [int(c) for c in classes]
    y_true = np.asarray(y_true).astype(int)
    probs = np.asarray(probs, dtype=np.float64)
    everything = classification_report(y_true, probs, labels, classes=classes)
    sub = probs[:, classes]
    sub = sub / np.clip(sub.sum(axis=1, keepdims=True), 1e-300, None)
    position = {c: i for i, c in enumerate(classes)}
    restricted = classification_report(np.array([position[int(y)] for y in y_true], dtype=int), sub,
                                       [labels[c] for c in classes])
    return everything, restricted


# --- regression (valence / arousal) --------------------------------------------------
def rmse(y_true, y_pred) -> float:
    return float(np.sqrt(_sk().mean_squared_error(np.ravel(y_true), np.ravel(y_pred))))


def mae(y_true, y_pred) -> float:
    return float(_sk().mean_absolute_error(np.ravel(y_true), np.ravel(y_pred)))


def r2(y_true, y_pred) -> float:
    return float(_sk().r2_score(np.ravel(y_true), np.ravel(y_pred)))


def pearson(x, y) -> float:
    """Pearson correlation; NaN when either side is constant (it is undefined there)."""
    x = np.ravel(np.asarray(x, dtype=np.float64))
    y = np.ravel(np.asarray(y, dtype=np.float64))
    xc, yc = x - x.mean(), y - y.mean()
    denom = np.sqrt((xc * xc).sum() * (yc * yc).sum())
    return float((xc * yc).sum() / denom) if denom > 0 else float("nan")


def ccc(y_true, y_pred) -> float:
    """Lin's concordance correlation coefficient (population moments), the VA challenge metric."""
    x = np.ravel(np.asarray(y_true, dtype=np.float64))
    y = np.ravel(np.asarray(y_pred, dtype=np.float64))
    mx, my = x.mean(), y.mean()
    cov = ((x - mx) * (y - my)).mean()
    denom = x.var() + y.var() + (mx - my) ** 2
    return float(2.0 * cov / denom) if denom > 0 else float("nan")


def sagr(y_true, y_pred) -> float:
    """Sign agreement: the share of predictions on the same side of zero as the target."""
    return float(np.mean(np.sign(np.ravel(y_true)) == np.sign(np.ravel(y_pred))))


def regression_report(y_true, y_pred) -> dict:
    return {"n": int(np.size(y_true)), "rmse": rmse(y_true, y_pred), "mae": mae(y_true, y_pred),
            "r2": r2(y_true, y_pred), "pearson": pearson(y_true, y_pred), "ccc": ccc(y_true, y_pred),
            "sagr": sagr(y_true, y_pred)}


# --- signals (EDA / BVP traces) --------------------------------------------------------
def signal_mse(y_true, y_pred) -> float:
    return float(np.mean((np.asarray(y_true, np.float64) - np.asarray(y_pred, np.float64)) ** 2))


def neg_pearson(y_true, y_pred) -> float:
    """1 - mean per-trace Pearson r over the rows of (N, T) arrays: the signal loss of the studies."""
    t = np.atleast_2d(np.asarray(y_true, np.float64))
    p = np.atleast_2d(np.asarray(y_pred, np.float64))
    return float(1.0 - np.nanmean([pearson(a, b) for a, b in zip(t, p)]))


def signal_report(y_true, y_pred) -> dict:
    """Per-trace Pearson (mean over windows) and pooled MSE for (N, T) traces."""
    t = np.atleast_2d(np.asarray(y_true, np.float64))
    p = np.atleast_2d(np.asarray(y_pred, np.float64))
    per = [pearson(a, b) for a, b in zip(t, p)]
    return {"n": int(t.shape[0]), "pearson": float(np.nanmean(per)) if per else float("nan"),
            "pearson_pooled": pearson(t, p), "mse": signal_mse(t, p), "mae": mae(t, p)}


# --- heart rate (pulse estimates against a contact sensor, per window) ----------------------
def hr_report(reference_bpm, estimated_bpm) -> dict:
    """MAE, RMSE, MAPE (%) and Pearson of heart rates over the windows that have both numbers.

    A NaN estimate means "no estimate" (too little face or signal in the window): it is
    counted, never scored as a number.  The rPPG-Toolbox metrics; the wave's SNR is in
    ``edgeaffect.pulse.spectrum.snr_db``.
    """
    ref = np.ravel(np.asarray(reference_bpm, dtype=np.float64))
    est = np.ravel(np.asarray(estimated_bpm, dtype=np.float64))
    scored = np.isfinite(ref) & np.isfinite(est)
    r, e = ref[scored], est[scored]
    nan = float("nan")
    return {"windows": int(len(ref)), "scored": int(scored.sum()),
            "no_estimate": int((np.isfinite(ref) & ~np.isfinite(est)).sum()),
            "no_reference": int((~np.isfinite(ref)).sum()),
            "mae": mae(r, e) if len(r) else nan, "rmse": rmse(r, e) if len(r) else nan,
            "mape": float(np.mean(np.abs(e - r) / r) * 100.0) if len(r) else nan,
            "pearson": pearson(r, e) if len(r) > 2 else nan}
