"""Per-stage latency of one bundle on this device: preprocess, infer, postprocess, end to end.

Timed at the runtime's batch (one face, or the model's static batch) on real
faces from the bench data, after warm-up runs, with the wall clock: what a user
of the device sees, not a kernel timer.  The timer, the memory reading and the
postprocessing are the runtime's own (``runtime.stats``, ``runtime.postprocess``),
so a bench row and a ``run`` summary measure the same thing the same way.  Also the
model size on disk and resident memory.  Torch-free.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Mapping

import numpy as np

from edgeaffect.bench.results import LatencyRow, StageLatency
from edgeaffect.bench.samples import Samples
from edgeaffect.meta import ModelMeta
from edgeaffect.preprocess import prepare_image
from edgeaffect.runtime.postprocess import decode
from edgeaffect.runtime.results import StageStats
from edgeaffect.runtime.stats import RunStats, peak_rss_mb, rss_mb

STAGES = ("preprocess", "infer", "postprocess")


def stage_latency(stats: StageStats) -> StageLatency:
    """A runtime stage summary as a bench row's stage."""
    return StageLatency(stage=stats.stage, n=stats.count, mean_ms=stats.mean_ms, p50_ms=stats.p50_ms,
                        p95_ms=stats.p95_ms)


def interleaved_ms(runners: Mapping[Any, Callable[[], object]], *, warmup: int, rounds: int) -> dict[Any, list[float]]:
    """Wall milliseconds of each runner over ``rounds`` rounds after ``warmup``, the runners taking turns
    within a round, so a slow drift of the machine (heat, another process) falls on all of them alike."""
    times: dict[Any, list[float]] = {k: [] for k in runners}
    for r in range(warmup + rounds):
        for key, run in runners.items():
            t = time.perf_counter()
            run()
            if r >= warmup:
                times[key].append((time.perf_counter() - t) * 1000)
    return times


def measure(backend, meta: ModelMeta, samples: Samples, *, bundle: str, model_size_bytes: int,
            runs: int = 50, warmup: int = 5) -> LatencyRow:
    """Time ``runs`` passes (after ``warmup``) cycling over the bench faces."""
    batch = backend.batch_size or 1
    stats = RunStats(rss_interval_s=float("inf"))
    n = len(samples)
    for i in range(warmup + runs):
        faces = [samples.faces[(i * batch + j) % n] for j in range(batch)]
        t0 = time.perf_counter()
        if meta.is_temporal:
            x = np.stack([np.stack([prepare_image(f, meta) for f in clip], axis=1) for clip in faces])
        else:
            x = np.stack([prepare_image(f, meta) for f in faces])
        t1 = time.perf_counter()
        heads = backend.infer(x.astype(np.float32, copy=False))
        t2 = time.perf_counter()
        decode(meta, tuple(heads), batch)
        t3 = time.perf_counter()
        if i >= warmup:
            for stage, dt in zip(STAGES, (t1 - t0, t2 - t1, t3 - t2)):
                stats.record(stage, dt * 1e3)
            stats.frame_done((t3 - t0) * 1e3)
    by_stage = {s.stage: stage_latency(s) for s in stats.stage_stats()}
    e2e = by_stage["total"]
    e2e = StageLatency(stage="end_to_end", n=e2e.n, mean_ms=e2e.mean_ms, p50_ms=e2e.p50_ms, p95_ms=e2e.p95_ms)
    return LatencyRow(bundle=bundle, stages=tuple(by_stage[s] for s in STAGES), end_to_end=e2e,
                      fps=float(batch * 1000.0 / e2e.mean_ms) if e2e.mean_ms > 0 else 0.0,
                      model_size_bytes=int(model_size_bytes), rss_mb=rss_mb(), peak_rss_mb=peak_rss_mb())
