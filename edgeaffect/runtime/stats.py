"""Run statistics: per-stage latency percentiles, frame rate and memory over time.

Latencies go into fixed log-spaced histograms (0.1 % relative resolution), so
a run of hours keeps constant memory and still reports p50/p95/p99 over every
frame, not over a recent window.  Memory is the resident set size read from
``/proc/self/statm`` (``resource`` elsewhere), sampled every few seconds; the
long-run benchmark uses these samples to check that RSS does not grow.
Torch-free.
"""
from __future__ import annotations

import math
import os
import time
from collections import deque

import numpy as np

from edgeaffect.runtime.results import StageStats

# decode: the source's decode time (in the reader thread when reading ahead); read: what the loop waited for a frame
STAGES = ("decode", "read", "detect", "crop", "preprocess", "infer", "postprocess", "smooth", "pulse", "sink", "total")

_LO_MS, _HI_MS, _BINS = 1e-3, 1e6, 20_000
_LOG_LO = math.log(_LO_MS)
_STEP = (math.log(_HI_MS) - _LOG_LO) / _BINS


class LatencyHistogram:
    """Counts of latencies in log-spaced bins from 1 µs to 1000 s."""

    def __init__(self) -> None:
        self.counts = np.zeros(_BINS + 2, dtype=np.int64)
        self.n = 0
        self.total = 0.0

    def add(self, ms: float) -> None:
        i = int((math.log(ms) - _LOG_LO) / _STEP) + 1 if ms > _LO_MS else 0
        self.counts[min(i, _BINS + 1)] += 1
        self.n += 1
        self.total += ms

    def percentile(self, q: float) -> float:
        if not self.n:
            return 0.0
        rank = max(1, math.ceil(q / 100.0 * self.n))
        i = int(np.searchsorted(np.cumsum(self.counts), rank))
        if i == 0:
            return _LO_MS
        return math.exp(_LOG_LO + (i - 0.5) * _STEP)  # bin centre

    def summary(self, stage: str) -> StageStats:
        mean = self.total / self.n if self.n else 0.0
        return StageStats(stage, self.n, mean, self.percentile(50), self.percentile(95), self.percentile(99))


def rss_mb() -> float:
    """Resident memory of this process in MiB (the peak where /proc is not there to read)."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return peak_rss_mb()


def peak_rss_mb() -> float:
    """The highest resident memory this process has had, in MiB."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / 1024 if os.uname().sysname != "Darwin" else peak / 2**20


class RunStats:
    """Everything the loop measures; ``record`` per stage, ``frame_done`` per frame."""

    def __init__(self, *, rss_interval_s: float = 5.0) -> None:
        self.stages = {s: LatencyHistogram() for s in STAGES}
        self.t_start = time.perf_counter()
        self.frames = 0
        self.rss_interval_s = rss_interval_s
        self.rss_samples: deque[tuple[float, float]] = deque(maxlen=100_000)
        self._next_rss = 0.0
        self.current: dict[str, float] = {}  # this frame's stage times (for the frame's result line)
        self._cpu_start: float | None = None  # process CPU clock at the first frame (opening the model excluded)
        self.sample_rss(force=True)

    def begin_frame(self) -> None:
        self.current = {}
        if self._cpu_start is None:
            self._cpu_start = time.process_time()

    def record(self, stage: str, ms: float) -> None:
        self.stages[stage].add(ms)
        self.current[stage] = self.current.get(stage, 0.0) + ms

    def frame_done(self, total_ms: float) -> None:
        self.frames += 1
        self.stages["total"].add(total_ms)
        self.sample_rss()

    def sample_rss(self, force: bool = False) -> None:
        now = time.perf_counter() - self.t_start
        if force or now >= self._next_rss:
            self.rss_samples.append((now, rss_mb()))
            self._next_rss = now + self.rss_interval_s

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.t_start

    @property
    def cpu_seconds(self) -> float:
        """CPU time of the whole process (reader thread included) since the first frame: on a core shared
        with other work, frames / cpu_seconds is what the loop does with the core to itself."""
        return time.process_time() - self._cpu_start if self._cpu_start is not None else 0.0

    @property
    def fps(self) -> float:
        s = self.seconds
        return self.frames / s if s > 0 else 0.0

    def stage_stats(self) -> tuple[StageStats, ...]:
        return tuple(h.summary(s) for s, h in self.stages.items() if h.n)

    def report(self) -> str:
        """A human-readable table (printed at the end and on SIGUSR1)."""
        lines = [f"{self.frames} frames in {self.seconds:.1f}s = {self.fps:.1f} FPS; "
                 f"RSS {self.rss_samples[-1][1]:.0f} MiB (peak {max(r for _, r in self.rss_samples):.0f})",
                 f"{'stage':<12}{'n':>8}{'mean':>9}{'p50':>9}{'p95':>9}{'p99':>9}  (ms)"]
        for st in self.stage_stats():
            lines.append(f"{st.stage:<12}{st.count:>8}{st.mean_ms:>9.2f}{st.p50_ms:>9.2f}{st.p95_ms:>9.2f}{st.p99_ms:>9.2f}")
        return "\n".join(lines)
