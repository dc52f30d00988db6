"""Face crops -> predictions through the backend, batched, image or clip models.

All faces of a frame go to the backend in one call when the model has a
dynamic batch axis (``backend.batch_size is None``); a static-batch model gets
chunks of its batch size, the last one zero-padded.  Image models run on every
frame's crops; clip models (``meta.temporal``) feed per-track clip buffers and
run when a buffer is due, and between runs each track keeps its last
prediction.  Crops go through :func:`edgeaffect.preprocess.prepare_image`, the
one preprocessing.  Torch-free.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from edgeaffect.errors import ConfigError
from edgeaffect.meta import HeadKind, ModelMeta, SignalTarget
from edgeaffect.preprocess import prepare_image
from edgeaffect.runtime.backends.base import Backend
from edgeaffect.runtime.postprocess import Prediction, decode
from edgeaffect.runtime.stats import RunStats
from edgeaffect.runtime.temporal import ClipBuffer, SignalTrace


@dataclass(frozen=True)
class TrackPrediction:
    prediction: Prediction | None  # None: a clip model whose window is not full yet
    inferred: bool  # True when the model ran for this track on this frame
    signal: float | None = None  # newest value of the track's signal trace


class Predictor:
    """Runs the backend for the faces of one frame and keeps per-track clip state."""

    def __init__(self, backend: Backend, meta: ModelMeta, stats: RunStats) -> None:
        if meta.extra_inputs:
            raise ConfigError(f"model '{meta.model}' also needs {list(meta.extra_inputs)}; the camera loop feeds video only",
                              "run a video-only bundle, or use 'edgeaffect bench' with the recorded signals")
        self.backend, self.meta, self.stats = backend, meta, stats
        self._clips: dict[int, ClipBuffer] = {}
        self._traces: dict[int, SignalTrace] = {}
        self._last: dict[int, Prediction] = {}
        self.calls = 0
        # the head decode() reads the signal from: its target kind says how a trace integrates it
        signal_heads = [h for h in meta.heads if h.kind is HeadKind.SIGNAL]
        self._target = signal_heads[0].target if signal_heads else SignalTarget.LEVEL

    def infer(self, batch: np.ndarray) -> tuple[np.ndarray, ...]:
        """One backend call per batch (or per chunk for a static batch size)."""
        n, size = len(batch), self.backend.batch_size
        if size is None or size == n:
            self.calls += 1
            return tuple(np.asarray(o) for o in self.backend.infer(batch))
        chunks: list[tuple[np.ndarray, ...]] = []
        for start in range(0, n, size):
            part = batch[start:start + size]
            if len(part) < size:
                pad = np.zeros((size - len(part),) + part.shape[1:], dtype=part.dtype)
                part = np.concatenate([part, pad])
            self.calls += 1
            chunks.append(tuple(np.asarray(o) for o in self.backend.infer(part)))
        return tuple(np.concatenate([c[h] for c in chunks])[:n] for h in range(len(chunks[0])))

    def _run(self, inputs: list[np.ndarray]) -> list[Prediction]:
        t0 = time.perf_counter()
        outputs = self.infer(np.stack(inputs).astype(np.float32, copy=False))
        t1 = time.perf_counter()
        preds = decode(self.meta, outputs, len(inputs))
        self.stats.record("infer", (t1 - t0) * 1e3)
        self.stats.record("postprocess", (time.perf_counter() - t1) * 1e3)
        return preds

    def predict(self, track_ids: Sequence[int], crops: Sequence[np.ndarray], t: float) -> list[TrackPrediction]:
        if not crops:
            return []
        if self.meta.temporal is None:
            t0 = time.perf_counter()
            prepared = [prepare_image(c, self.meta) for c in crops]
            self.stats.record("preprocess", (time.perf_counter() - t0) * 1e3)
            return [TrackPrediction(p, True) for p in self._run(prepared)]
        return self._predict_clips(track_ids, crops, t)

    def _predict_clips(self, track_ids: Sequence[int], crops: Sequence[np.ndarray], t: float) -> list[TrackPrediction]:
        t0 = time.perf_counter()
        due: list[int] = []
        clips: list[np.ndarray] = []
        for tid, crop in zip(track_ids, crops):
            buf = self._clips.get(tid) or self._clips.setdefault(tid, ClipBuffer(self.meta))
            if buf.wants(t):
                buf.push(t, prepare_image(crop, self.meta))
                if buf.ready():
                    due.append(tid)
                    clips.append(buf.take())
        self.stats.record("preprocess", (time.perf_counter() - t0) * 1e3)
        if clips:
            step = self.meta.temporal.step
            for tid, pred in zip(due, self._run(clips)):
                self._last[tid] = pred
                if pred.signal is not None:
                    trace = self._traces.setdefault(tid, SignalTrace(1.0 / self.meta.temporal.fps,
                                                                     target=self._target))
                    first = len(trace.points) == 0
                    trace.extend(t, pred.signal, len(pred.signal) if first else step)
        ran = set(due)
        return [TrackPrediction(self._last.get(tid), tid in ran,
                                self._traces[tid].latest if tid in self._traces else None) for tid in track_ids]

    def forget(self, track_ids: Sequence[int]) -> None:
        """Drop the state of expired tracks (keeps memory flat on long runs)."""
        for tid in track_ids:
            self._clips.pop(tid, None)
            self._traces.pop(tid, None)
            self._last.pop(tid, None)

    def trace(self, track_id: int) -> tuple[tuple[float, float], ...]:
        return tuple(self._traces[track_id].points) if track_id in self._traces else ()
