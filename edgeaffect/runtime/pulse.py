"""The pulse stage of the runtime loop: heart rate per tracked face, beside the expression model.

``edgeaffect run BUNDLE --pulse pos`` adds this stage: for every kept track of
a frame it reduces the face's skin to one mean colour (``pulse.skin``, on the
same tracked box the expression crop is cut from) and feeds that track's
rolling window (``pulse.trace.PulseWindow``).  Once a track has ``window_s``
seconds, its heart rate and signal quality (the wave's SNR in dB) are read
every ``every_s`` seconds and carried on each of its result lines; before
that, and for windows missing too much face, they are absent.  So they are
when the picture itself did not change (a still image, a frozen feed): the
skin sampler (``pulse.skin.HeldSkin``) separates the picture's change from the
box's jitter, and ``pulse.quality`` gates on it; the first such window of a
track is said in a warning.  Expired tracks' windows are dropped, so memory
stays flat.  The estimators are
torch-free and need ``scipy`` (the ``pulse`` extra); nothing is stored.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from edgeaffect.errors import ConfigError, check_range
from edgeaffect.pulse.base import get_estimator
from edgeaffect.pulse.quality import MIN_VARIATION_PCT
from edgeaffect.pulse.skin import HeldSkin
from edgeaffect.pulse.spectrum import MIN_SECONDS
from edgeaffect.pulse.trace import PulseEstimate, PulseWindow
from edgeaffect.runtime.stats import RunStats
from edgeaffect.runtime.tracker import Track

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class PulseOptions:
    """``estimator`` by name (green, chrom, pos); heart rate over ``window_s`` s, refreshed every ``every_s`` s."""

    estimator: str
    window_s: float = 10.0
    every_s: float = 1.0

    def __post_init__(self) -> None:
        get_estimator(self.estimator)  # unknown names fail before the camera opens
        if self.window_s < MIN_SECONDS or self.every_s <= 0:
            raise ConfigError(f"pulse window {self.window_s} s, every {self.every_s} s",
                              f"use a window of at least {MIN_SECONDS:g} s (10 s is the usual) and a positive refresh")
        check_range("--pulse-window", self.window_s, MIN_SECONDS, 600)  # NaN/inf never give a heart rate
        check_range("pulse refresh", self.every_s, 0.01, 600)


class PulseStage:
    """Per-track pulse windows; ``update`` once per frame with the kept tracks."""

    def __init__(self, options: PulseOptions, stats: RunStats) -> None:
        from edgeaffect._optional import require

        require("scipy.signal", "pulse", purpose="heart rate from face video (--pulse)")
        self.options, self.stats = options, stats
        # per track: its rolling window, and its skin sampler (box held still: a wobbling box changes the skin mean)
        self._tracks: dict[int, tuple[PulseWindow, HeldSkin]] = {}
        self._told: set[int] = set()  # tracks whose still picture was already said

    def update(self, image: np.ndarray, tracks: Sequence[Track], t: float) -> list[PulseEstimate]:
        t0 = time.perf_counter()
        out = []
        for track in tracks:
            state = self._tracks.get(track.id)
            if state is None:
                state = self._tracks[track.id] = (PulseWindow(self.options.estimator, window_s=self.options.window_s,
                                                              every_s=self.options.every_s), HeldSkin())
            window, sampler = state
            estimate = window.update(t, *sampler(image, track.face.box))
            if estimate.still and track.id not in self._told:
                self._told.add(track.id)
                log.warning("track %d: the picture of the face did not change in the last %g s (its skin colour "
                            "moved %.4f %% of its level in the heart-rate band, under the %g %% floor; a real "
                            "pulse moves it ~0.5 %%): a still picture gives no heart rate", track.id,
                            self.options.window_s, estimate.variation_pct, MIN_VARIATION_PCT)
            out.append(estimate)
        self.stats.record("pulse", (time.perf_counter() - t0) * 1e3)
        return out

    def forget(self, track_ids: Sequence[int]) -> None:
        for tid in track_ids:
            self._tracks.pop(tid, None)
            self._told.discard(tid)
