"""Temporal smoothing of per-track predictions, switchable by name (a registry).

Frame-by-frame expression predictions flicker; how much smoothing helps (and
how much lag it adds) is something to measure, so the smoother is a first-class
choice recorded in every run summary:

- ``none``: raw predictions.
- ``ema:ALPHA``: exponential moving average of class probabilities and
  valence/arousal; ALPHA is the weight of the newest frame (1 = no smoothing).
- ``majority:WINDOW``: the label is the most frequent top-1 of the last WINDOW
  predictions (ties go to the most recent); probabilities are the window mean
  and valence/arousal the window median.
- ``oneeuro:MIN_CUTOFF,BETA,D_CUTOFF``: the one-euro filter (Casiez et al.,
  CHI 2012), a low-pass whose cut-off rises with the signal's speed: steady
  when still, little lag when the value moves.  Used for valence/arousal and
  for probabilities (renormalised).

One smoother instance per track; timestamps are the frames' seconds.  Torch-free.
"""
from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Callable, Mapping, Protocol

import numpy as np

from edgeaffect.errors import ConfigError


@dataclass(frozen=True)
class Smoothed:
    probs: np.ndarray | None  # class probabilities after smoothing
    label: int | None  # index into the labels
    va: np.ndarray | None  # (valence, arousal) after smoothing


class Smoother(Protocol):
    def update(self, t: float, probs: np.ndarray | None, va: np.ndarray | None) -> Smoothed: ...


def _argmax(probs: np.ndarray | None) -> int | None:
    return None if probs is None else int(np.argmax(probs))


class NoSmoothing:
    def __init__(self) -> None:
        pass

    def update(self, t: float, probs: np.ndarray | None, va: np.ndarray | None) -> Smoothed:
        return Smoothed(probs, _argmax(probs), va)


class Ema:
    def __init__(self, alpha: float = 0.6) -> None:
        if not 0 < alpha <= 1:
            raise ConfigError(f"ema alpha {alpha} is outside (0, 1]", "use e.g. --smoothing ema:0.6")
        self.alpha = alpha
        self._probs: np.ndarray | None = None
        self._va: np.ndarray | None = None

    def _step(self, old: np.ndarray | None, new: np.ndarray | None) -> np.ndarray | None:
        if new is None:
            return old
        return new.astype(np.float64) if old is None else self.alpha * new + (1 - self.alpha) * old

    def update(self, t: float, probs: np.ndarray | None, va: np.ndarray | None) -> Smoothed:
        self._probs, self._va = self._step(self._probs, probs), self._step(self._va, va)
        return Smoothed(self._probs, _argmax(self._probs), self._va)


class MajorityWindow:
    def __init__(self, window: float = 5) -> None:
        if not float(window).is_integer() or int(window) < 1 or int(window) > 10_000:  # 2.5 ran as 2, recorded as 2.5
            raise ConfigError(f"majority window {window:g} must be a whole number of frames, 1-10000",
                              "use e.g. --smoothing majority:5")
        self._probs: deque[np.ndarray] = deque(maxlen=int(window))
        self._va: deque[np.ndarray] = deque(maxlen=int(window))

    def update(self, t: float, probs: np.ndarray | None, va: np.ndarray | None) -> Smoothed:
        if probs is not None:
            self._probs.append(probs)
        if va is not None:
            self._va.append(va)
        label = mean = None
        if self._probs:
            tops = [int(np.argmax(p)) for p in self._probs]
            counts = Counter(tops)
            best = max(counts.values())
            label = next(lab for lab in reversed(tops) if counts[lab] == best)
            mean = np.mean(self._probs, axis=0)
        med = np.median(self._va, axis=0) if self._va else None
        return Smoothed(mean, label, med)


class _OneEuroVector:
    """The one-euro filter applied element-wise to a vector."""

    def __init__(self, min_cutoff: float, beta: float, d_cutoff: float) -> None:
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    @staticmethod
    def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def __call__(self, t: float, x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float64)
        if self._x is None or self._t is None:
            self._x, self._dx, self._t = x, np.zeros_like(x), t
            return x
        dt = t - self._t if t > self._t else 1.0 / 30.0
        dx = (x - self._x) / dt
        a_d = self._alpha(self.d_cutoff, dt)
        self._dx = a_d * dx + (1 - a_d) * self._dx
        cutoff = self.min_cutoff + self.beta * np.abs(self._dx)
        a = self._alpha(cutoff, dt)
        self._x, self._t = a * x + (1 - a) * self._x, t
        return self._x


class OneEuro:
    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.3, d_cutoff: float = 1.0) -> None:
        if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
            raise ConfigError("one-euro needs min_cutoff > 0, d_cutoff > 0, beta >= 0", "use e.g. --smoothing oneeuro:1.0,0.3")
        self._probs = _OneEuroVector(min_cutoff, beta, d_cutoff)
        self._va = _OneEuroVector(min_cutoff, beta, d_cutoff)

    def update(self, t: float, probs: np.ndarray | None, va: np.ndarray | None) -> Smoothed:
        p = None if probs is None else self._probs(t, probs)
        if p is not None:
            p = np.clip(p, 0.0, None)
            p = p / p.sum() if p.sum() > 0 else p
        return Smoothed(p, _argmax(p), None if va is None else self._va(t, va))


@dataclass(frozen=True)
class SmootherKind:
    factory: Callable[..., Smoother]
    params: tuple[str, ...]  # positional parameter names of "name:a,b,c"


SMOOTHERS: dict[str, SmootherKind] = {
    "none": SmootherKind(NoSmoothing, ()),
    "ema": SmootherKind(Ema, ("alpha",)),
    "majority": SmootherKind(MajorityWindow, ("window",)),
    "oneeuro": SmootherKind(OneEuro, ("min_cutoff", "beta", "d_cutoff")),
}


@dataclass(frozen=True)
class SmoothingSpec:
    """A smoother name and its parameters, e.g. parsed from ``ema:0.6``."""

    name: str = "none"
    params: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> "SmoothingSpec":
        name, _, rest = text.strip().lower().partition(":")
        if name not in SMOOTHERS:
            raise ConfigError(f"unknown smoothing '{name}'", f"choose one of: {', '.join(SMOOTHERS)} (e.g. ema:0.6, majority:5)")
        names = SMOOTHERS[name].params
        if ":" in text and not rest.strip():  # "ema:" ran the default and recorded "ema"
            raise ConfigError(f"smoothing '{text}' has a ':' but no value",
                              "give a value (e.g. ema:0.6, majority:5), or leave the ':' out for the default")
        values = [v for v in rest.split(",") if v.strip()] if rest else []
        if len(values) > len(names):
            raise ConfigError(f"smoothing '{name}' takes at most {len(names)} parameters ({', '.join(names) or 'none'})",
                              f"e.g. {name}:{','.join('1' for _ in names)}" if names else f"use just '{name}'")
        try:
            params = {n: float(v) for n, v in zip(names, values)}
        except ValueError as exc:
            raise ConfigError(f"smoothing parameters of '{text}' must be numbers", "e.g. --smoothing ema:0.6") from exc
        spec = cls(name, params)
        spec.build()  # each smoother checks its values: fail now, not at the first face of the run
        return spec

    def build(self) -> Smoother:
        return SMOOTHERS[self.name].factory(**self.params)

    def __str__(self) -> str:
        return self.name + (":" + ",".join(f"{v:g}" for v in self.params.values()) if self.params else "")
