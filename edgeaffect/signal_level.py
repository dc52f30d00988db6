"""A signal head's per-frame values -> the level trace every consumer compares and emits.

A head trained on the level (``SignalTarget.LEVEL``) already gives it.  A head trained on
the derivative (``SignalTarget.DERIVATIVE``, DeepPhys: it sees frame differences, so it
can follow changes of the skin, not its level) gives, at frame t, the change per second
from frame t to frame t+1 (``edgeaffect.train.losses.derivative_target``); the level is
the running sum of those changes over 1/fps seconds each, so it is known up to a constant:
it starts at 0 with the first frame and only its shape, not its offset, carries meaning.

The change into a clip's first frame lies before the clip, so no output of that clip saw
it.  Clips that overlap by at least one frame (runtime stride < frames) integrate exactly;
clips laid end to end (scoring, a stride equal to the window) take that one step as 0.
Values that are NaN (no output, e.g. a lost face) stay NaN and add no change.

One small object per target kind in a table (register, don't branch).  Torch-free: the
runtime, bench and training's scorer share it.
"""
from __future__ import annotations

import numpy as np

from edgeaffect.meta import SignalTarget


def frame_steps(values: np.ndarray, fps: float) -> np.ndarray:
    """Per-frame derivative outputs (..., T) -> the level's change into each frame (the first is 0)."""
    v = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0)
    steps = np.zeros_like(v)
    steps[..., 1:] = v[..., :-1] / float(fps)
    return steps


class _Level:
    def windows(self, values: np.ndarray, fps: float, continuous: bool) -> np.ndarray:
        return np.asarray(values, dtype=np.float64)

    def newest(self, values: np.ndarray, fps: float, new: int, last: float | None) -> np.ndarray:
        return np.asarray(values, dtype=np.float64).ravel()[-new:]


class _Derivative:
    def windows(self, values: np.ndarray, fps: float, continuous: bool) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        steps = frame_steps(values, fps)
        level = np.cumsum(steps.ravel()).reshape(steps.shape) if continuous else np.cumsum(steps, axis=-1)
        return np.where(np.isnan(values), np.nan, level)

    def newest(self, values: np.ndarray, fps: float, new: int, last: float | None) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64).ravel()
        level = (0.0 if last is None or np.isnan(last) else last) + np.cumsum(frame_steps(values, fps)[-new:])
        return np.where(np.isnan(values[-new:]), np.nan, level)


KINDS = {SignalTarget.LEVEL: _Level(), SignalTarget.DERIVATIVE: _Derivative()}


def levels(target: SignalTarget, values: np.ndarray, fps: float, *, continuous: bool = False) -> np.ndarray:
    """Outputs of clips (N, T) -> their levels, same shape.

    ``continuous``: the N clips are consecutive pieces of one recording in time order, so a
    derivative is integrated across them (one trace); otherwise each clip starts at 0.
    """
    return KINDS[SignalTarget(target)].windows(values, fps, continuous)


def newest_levels(target: SignalTarget, values: np.ndarray, fps: float, new: int, last: float | None) -> np.ndarray:
    """The level at a clip's newest ``new`` frames, continuing a trace whose latest level is ``last``
    (None for a new trace).  ``new`` may be less than the clip (clips overlapping at run time)."""
    if not 1 <= new <= np.asarray(values).size:
        raise ValueError(f"new={new} is outside 1..{np.asarray(values).size} frames")
    return KINDS[SignalTarget(target)].newest(values, fps, new, last)
