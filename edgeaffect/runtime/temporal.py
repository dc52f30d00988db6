"""Per-track clip buffers for video models (EDA-from-face and other clip models).

A clip model was trained on ``meta.temporal.frames`` frames sampled at
``meta.temporal.fps``; a camera delivers another rate, and a loaded machine an
irregular one.  Each track keeps a ring buffer of already-preprocessed crops
sampled by timestamp at the model's rate (a frame is taken when the model's
next sampling instant has come; late frames re-anchor the clock instead of
bursting), and the model runs every ``meta.temporal.step`` new samples once
the window is full.  Each inference returns one value per clip frame for a
signal head; the newest ``step`` of them extend the track's trace (EDA), as
levels: a head trained on the derivative is integrated along the track
(``edgeaffect.signal_level``), so what a sink sees is always the level.
Torch-free.
"""
from __future__ import annotations

from collections import deque

import numpy as np

from edgeaffect.meta import ModelMeta, SignalTarget
from edgeaffect.signal_level import newest_levels


class ClipBuffer:
    """The newest ``frames`` preprocessed crops of one track at the model's frame rate."""

    def __init__(self, meta: ModelMeta) -> None:
        if meta.temporal is None:
            raise ValueError(f"model '{meta.model}' is not a video model")
        self.frames = meta.temporal.frames
        self.period = 1.0 / meta.temporal.fps
        self.step = meta.temporal.step
        self._items: deque[np.ndarray] = deque(maxlen=self.frames)
        self._next_t: float | None = None
        self._new = 0
        self.ran_once = False

    def wants(self, t: float) -> bool:
        """True when the frame at time ``t`` is the next sample of the model's clock."""
        return self._next_t is None or t >= self._next_t - 1e-6

    def push(self, t: float, prepared: np.ndarray) -> None:
        self._items.append(prepared)
        self._new += 1
        # stay on the model's grid while frames are on time; re-anchor after a gap
        late = self._next_t is None or t - self._next_t >= self.period
        self._next_t = (t if late else self._next_t) + self.period

    def ready(self) -> bool:
        if len(self._items) < self.frames:
            return False
        return not self.ran_once or self._new >= self.step

    def take(self) -> np.ndarray:
        """The clip as C x T x H x W (the layout of :func:`edgeaffect.preprocess.prepare_clip`)."""
        self._new = 0
        self.ran_once = True
        return np.ascontiguousarray(np.stack(list(self._items), axis=1))


class SignalTrace:
    """A track's signal level over time: (timestamp, value) pairs, bounded in memory."""

    def __init__(self, period: float, maxlen: int = 36_000, target: SignalTarget = SignalTarget.LEVEL) -> None:
        self.period, self.target = period, target
        self.points: deque[tuple[float, float]] = deque(maxlen=maxlen)

    def extend(self, t_newest: float, values: np.ndarray, new: int) -> None:
        """Append the levels at the newest ``new`` frames of a clip (head output ``values``) whose
        last frame is at ``t_newest``."""
        new = min(max(new, 1), np.asarray(values).size)
        tail = newest_levels(self.target, values, 1.0 / self.period, new, self.latest)
        for k, v in enumerate(tail):
            self.points.append((t_newest - (len(tail) - 1 - k) * self.period, float(v)))

    @property
    def latest(self) -> float | None:
        return self.points[-1][1] if self.points else None
