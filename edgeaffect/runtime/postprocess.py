"""Model outputs -> predictions, read through the heads ModelMeta declares.

The backend returns one array per head, in ``meta.heads`` order.  A logits head
becomes class probabilities (softmax); a regression head of size 2 is
(valence, arousal), a size-1 regression head named ``valence`` or ``arousal``
fills that value; a signal head is a per-frame trace (EDA) over the clip.
Nothing is inferred from shapes or file names.  Torch-free.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from edgeaffect.meta import HeadKind, ModelMeta
from edgeaffect.metrics import softmax

log = logging.getLogger(__name__)
_told = False  # the broken-output warning, once per process: a run would repeat it every frame


@dataclass(frozen=True)
class Prediction:
    """What the model said about one face (or one clip of a face)."""

    probs: np.ndarray | None = None  # (num_classes,)
    va: np.ndarray | None = None  # (valence, arousal); NaN where the model has no such head
    signal: np.ndarray | None = None  # (frames,) per-frame values of a signal head


def _va_slot(name: str) -> int | None:
    lowered = name.lower()
    if "valence" in lowered and "arousal" not in lowered:
        return 0
    if "arousal" in lowered and "valence" not in lowered:
        return 1
    return None


def decode(meta: ModelMeta, outputs: tuple[np.ndarray, ...], batch: int) -> list[Prediction]:
    """Split a batch of head outputs into one :class:`Prediction` per item."""
    if len(outputs) < len(meta.heads):
        raise ValueError(f"the backend returned {len(outputs)} outputs, meta lists {len(meta.heads)} heads")
    probs = va = signal = None
    for head, out in zip(meta.heads, outputs):
        out = np.asarray(out, dtype=np.float32).reshape(batch, -1)
        if head.kind is HeadKind.LOGITS and probs is None:
            probs = softmax(out)
        elif head.kind is HeadKind.REGRESSION:
            if va is None:
                va = np.full((batch, 2), np.nan, dtype=np.float32)
            slot = _va_slot(head.name)
            if out.shape[1] >= 2 and slot is None:
                va[:, :] = out[:, :2]
            else:
                va[:, slot if slot is not None else 0] = out[:, 0]
        elif head.kind is HeadKind.SIGNAL and signal is None:
            signal = out
    finite = np.ones(batch, dtype=bool) if probs is None else np.isfinite(probs).all(axis=1)
    if not finite.all():
        _warn_broken(int((~finite).sum()), batch)
    # a row of NaN has no argmax worth reporting: no label rather than the first class with NaN scores
    return [Prediction(None if probs is None or not finite[i] else probs[i],
                       None if va is None else va[i], None if signal is None else signal[i]) for i in range(batch)]


def _warn_broken(rows: int, batch: int) -> None:
    global _told
    if not _told:
        _told = True
        log.warning("the model gave NaN or infinite scores for %d of %d faces, which get no label; the model file is "
                    "broken or overflows at its precision: export it again (e.g. --precision fp32)", rows, batch)
