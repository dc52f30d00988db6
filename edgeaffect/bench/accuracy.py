"""Task metrics of one bundle over the resolution x interpolation grid (the resize study).

Every cell runs the real model on every sample: the face is brought to the
model's input size, degraded to ``resolution`` pixels with the ``down``
interpolation and brought back with ``up`` (:func:`edgeaffect.preprocess.degrade`),
then prepared exactly as the runtime prepares faces.  Nothing is cached across
cells but the decoded faces.  Torch-free.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from edgeaffect import metrics
from edgeaffect.bench.results import AccuracyRow
from edgeaffect.bench.samples import Samples
from edgeaffect.errors import BundleError, ConfigError
from edgeaffect.meta import HeadKind, ModelMeta
from edgeaffect.preprocess import INTERPOLATIONS, degrade, prepare_image
from edgeaffect.signal_level import levels


@dataclass(frozen=True)
class ResizeCase:
    """One cell of the resize table; ``resolution`` None = the face as is."""

    resolution: int | None
    down: str
    up: str


def resize_cases(resolutions: Sequence[int], pairs: Sequence[tuple[str, str]], native: str = "linear") -> tuple[ResizeCase, ...]:
    """The native cell first, then every resolution x pair."""
    for name in {n for p in pairs for n in p}:
        if name not in INTERPOLATIONS:
            raise ConfigError(f"unknown interpolation '{name}'", f"choose from {', '.join(sorted(INTERPOLATIONS))}")
    bad = [r for r in resolutions if r < 2]
    if bad:
        raise ConfigError(f"resolutions {bad} are too small", "give face sizes of 2 pixels or more, e.g. 112,64,32,16")
    return (ResizeCase(None, native, native),) + tuple(ResizeCase(r, d, u) for r in resolutions for d, u in pairs)


def parse_pairs(spec: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """``"area:cubic"`` is an explicit (down, up) pair; a plain name ``"cubic"`` is ``cubic:cubic``.

    Four plain names give the resize table its four interpolation columns; a cross
    pair (downscale with area, upscale with cubic) is asked for by name.
    """
    items = [s.strip() for s in spec if s.strip()]
    pairs = [tuple(s.split(":", 1)) if ":" in s else (s, s) for s in items]
    return tuple(dict.fromkeys(pairs))  # order kept, repeats dropped


def _inputs(samples: Samples, idx: Sequence[int], meta: ModelMeta, case: ResizeCase) -> np.ndarray:
    def one(face: np.ndarray) -> np.ndarray:
        if case.resolution is not None:
            face = degrade(face, case.resolution, case.down, case.up)
        return prepare_image(face, meta)

    if meta.is_temporal:  # CxTxHxW per clip
        return np.stack([np.stack([one(f) for f in samples.faces[i]], axis=1) for i in idx]).astype(np.float32)
    return np.stack([one(samples.faces[i]) for i in idx]).astype(np.float32)


def predict(backend, meta: ModelMeta, samples: Samples, case: ResizeCase, *, batch: int = 32) -> tuple[np.ndarray, ...]:
    """Run every sample through the backend; returns one array per head, N rows each."""
    size = backend.batch_size or batch
    n = len(samples)
    outs: list[list[np.ndarray]] = []
    for start in range(0, n, size):
        idx = list(range(start, min(start + size, n)))
        real = len(idx)
        if backend.batch_size:  # a static-shape model takes exactly its batch: pad with the last sample
            idx += [idx[-1]] * (size - real)
        heads = backend.infer(_inputs(samples, idx, meta, case))
        if not outs:
            outs = [[] for _ in heads]
        for acc, h in zip(outs, heads):
            acc.append(np.asarray(h)[:real])
    result = tuple(np.concatenate(o) for o in outs)
    bad = np.zeros(n, dtype=bool)
    for o in result:
        bad |= ~np.isfinite(o.reshape(n, -1)).all(axis=1)
    broken = int(bad.sum())
    if broken:  # scored, NaN would be an internal error deep in the metrics, or a confident wrong figure
        raise BundleError(f"the model gave NaN or infinite outputs for {broken} of {n} samples",
                          "the model file is broken or overflows at its precision: export it again (e.g. --precision fp32)")
    return result


def score(bundle: str, meta: ModelMeta, samples: Samples, case: ResizeCase, outputs: Sequence[np.ndarray]) -> AccuracyRow:
    """The metrics the model's heads and the data's targets allow."""
    fields: dict = {}
    kinds = [h.kind for h in meta.heads]
    if HeadKind.LOGITS in kinds and samples.labels is not None:
        probs = metrics.softmax(outputs[kinds.index(HeadKind.LOGITS)].reshape(len(samples), -1))
        if samples.classes is not None:  # a set with fewer classes: over all the model's, and over the set's
            rep, restricted = metrics.subset_reports(samples.labels, probs, meta.labels, samples.classes)
            fields.update(restricted_accuracy=restricted["accuracy"], restricted_uar=restricted["uar"],
                          restricted_macro_f1=restricted["macro_f1"], set_classes=tuple(restricted["per_class"]))
        else:
            rep = metrics.classification_report(samples.labels, probs, meta.labels)
        fields.update(accuracy=rep["accuracy"], uar=rep["uar"], macro_f1=rep["macro_f1"],
                      per_class_f1={k: v["f1"] for k, v in rep["per_class"].items()},
                      per_class_recall={k: v["recall"] for k, v in rep["per_class"].items()},
                      confusion=tuple(tuple(int(c) for c in row) for row in rep["confusion"]))
        if samples.groups is not None:
            fields["subgroups"] = _subgroups(samples, probs.argmax(1))
    valence, arousal = _va(meta, outputs, len(samples))
    if valence is not None and samples.valence is not None:
        fields["ccc_valence"] = metrics.ccc(samples.valence, valence)
    if arousal is not None and samples.arousal is not None:
        fields["ccc_arousal"] = metrics.ccc(samples.arousal, arousal)
    if HeadKind.SIGNAL in kinds and samples.signal is not None:
        head = meta.heads[kinds.index(HeadKind.SIGNAL)]
        pred = outputs[kinds.index(HeadKind.SIGNAL)].reshape(samples.signal.shape)
        fps = meta.temporal.fps if meta.temporal is not None else 1.0
        rep = metrics.signal_report(samples.signal, levels(head.target, pred, fps))  # each window's level
        fields.update(pearson=rep["pearson"], mse=rep["mse"])
    return AccuracyRow(bundle=bundle, resolution=case.resolution, down=case.down, up=case.up, n=len(samples), **fields)


def _va(meta: ModelMeta, outputs: Sequence[np.ndarray], n: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Valence/arousal predictions from heads named so, or from one two-column regression head."""
    found: dict[str, np.ndarray] = {}
    for head, out in zip(meta.heads, outputs):
        if head.kind is not HeadKind.REGRESSION:
            continue
        out = np.asarray(out, dtype=np.float64).reshape(n, -1)
        name = head.name.lower()
        if out.shape[1] >= 2 and "valence" not in found:
            found["valence"], found["arousal"] = out[:, 0], out[:, 1]
        elif "valence" in name:
            found["valence"] = out[:, 0]
        elif "arousal" in name:
            found["arousal"] = out[:, 0]
    return found.get("valence"), found.get("arousal")


def _subgroups(samples: Samples, pred: np.ndarray) -> dict[str, dict[str, float]]:
    out = {}
    groups = np.asarray(samples.groups)
    for g in sorted(set(samples.groups)):
        m = groups == g
        y, p = samples.labels[m], pred[m]
        out[g] = {"n": int(m.sum()), "accuracy": metrics.accuracy(y, p), "uar": metrics.balanced_accuracy(y, p)}
    return out


def evaluate(backend, meta: ModelMeta, samples: Samples, cases: Sequence[ResizeCase], *, bundle: str,
             batch: int = 32, progress: bool = True) -> list[AccuracyRow]:
    """One AccuracyRow per case, each from a full pass of the model over ``samples``."""
    from tqdm import tqdm

    rows = []
    for case in tqdm(cases, desc=f"accuracy {bundle}", unit="cell", disable=not progress, leave=False):
        rows.append(score(bundle, meta, samples, case, predict(backend, meta, samples, case, batch=batch)))
    return rows
