"""Per-stage latency of one bundle on this device: preprocess, infer, postprocess, end to end.

Timed at the runtime's batch (one face, or the model's static batch) on real
faces from the bench data, after warm-up runs, with the wall clock
(``time.perf_counter``): what a user of the device sees, not a kernel timer.
Also the model size on disk and resident memory.  Torch-free.
"""
from __future__ import annotations

import resource
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from edgeaffect import metrics
from edgeaffect.bench.results import LatencyRow, StageLatency
from edgeaffect.bench.samples import Samples
from edgeaffect.meta import HeadKind, ModelMeta
from edgeaffect.preprocess import prepare_image

STAGES = ("preprocess", "infer", "postprocess")


def stage_stats(stage: str, times_s: Sequence[float]) -> StageLatency:
    ms = np.asarray(times_s, dtype=np.float64) * 1000.0
    return StageLatency(stage=stage, n=int(ms.size), mean_ms=float(ms.mean()),
                        p50_ms=float(np.percentile(ms, 50)), p95_ms=float(np.percentile(ms, 95)))


def memory_mb() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MiB; /proc on Linux, getrusage elsewhere."""
    status = Path("/proc/self/status")
    if status.is_file():
        fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        kb = lambda key: float(fields.get(key, "0 kB").split()[0])  # noqa: E731
        return kb("VmRSS") / 1024.0, kb("VmHWM") / 1024.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_mb = peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0  # bytes on macOS, KiB on Linux
    return peak_mb, peak_mb


def _postprocess(meta: ModelMeta, heads: Sequence[np.ndarray]) -> object:
    """What the runtime does with the outputs: class probabilities and the top label."""
    for head, out in zip(meta.heads, heads):
        if head.kind is HeadKind.LOGITS:
            probs = metrics.softmax(np.asarray(out).reshape(out.shape[0], -1))
            return probs.argmax(axis=1), probs
    return heads


def measure(backend, meta: ModelMeta, samples: Samples, *, bundle: str, model_size_bytes: int,
            runs: int = 50, warmup: int = 5) -> LatencyRow:
    """Time ``runs`` passes (after ``warmup``) cycling over the bench faces."""
    batch = backend.batch_size or 1
    times: dict[str, list[float]] = {s: [] for s in STAGES}
    total: list[float] = []
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
        _postprocess(meta, heads)
        t3 = time.perf_counter()
        if i >= warmup:
            for stage, dt in zip(STAGES, (t1 - t0, t2 - t1, t3 - t2)):
                times[stage].append(dt)
            total.append(t3 - t0)
    rss, peak = memory_mb()
    e2e = stage_stats("end_to_end", total)
    return LatencyRow(bundle=bundle, stages=tuple(stage_stats(s, times[s]) for s in STAGES), end_to_end=e2e,
                      fps=float(batch * 1000.0 / e2e.mean_ms) if e2e.mean_ms > 0 else 0.0,
                      model_size_bytes=int(model_size_bytes), rss_mb=rss, peak_rss_mb=peak)
