"""Drive :func:`~edgeaffect.runtime.batch.process_video` over a corpus: serially, in N processes, or on Ray.

``run_batch`` lists the corpus, takes this shard's items, skips the finished ones, runs
the rest with a progress bar over files, then writes the corpus table.  Each of the N
local processes gets ``cores // N`` inference threads (so N x threads <= cores) unless
``--threads`` says otherwise.  Ray (the ``ray`` extra) runs the very same function as
remote tasks, one CPU-thread budget each: ``ray.init()`` starts a local Ray, an
address (``ray://head:10001`` or ``auto``) joins a cluster, whose nodes need edgeaffect
installed and the corpus and OUTDIR on a shared path.  Torch-free.
"""
from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterable, Iterator

from edgeaffect.backend_options import usable_cores
from edgeaffect.errors import ConfigError
from edgeaffect.io import check_writable, refuse_writing_into_inputs
from edgeaffect.runtime.batch import (Item, VideoOutcome, corpus_items, corpus_table, finished, process_video, shard,
                                      write_corpus)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchResult:
    rows: tuple[VideoOutcome, ...]  # the whole corpus
    ran: tuple[VideoOutcome, ...]  # what this batch did (done, failed, skipped)
    table: Path
    seconds: float

    def count(self, status: str) -> int:
        return sum(1 for r in self.ran if r.status == status)


def _serial(config, items: list[Item], outdir: Path) -> Iterator[VideoOutcome]:
    for item in items:
        yield process_video(config, item, outdir)


def _processes(config, items: list[Item], outdir: Path, jobs: int) -> Iterator[VideoOutcome]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # spawn: a fresh interpreter per worker, no copy of the parent's threads or open files
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))
    futures = [pool.submit(process_video, config, item, outdir) for item in items]
    try:
        for future in as_completed(futures):
            yield future.result()
    finally:
        for f in futures:
            f.cancel()
        pool.shutdown(wait=True)


def _ray(config, items: list[Item], outdir: Path, address: str, threads: int) -> Iterator[VideoOutcome]:
    from edgeaffect._optional import require

    ray = require("ray", "ray", purpose="batch analysis on a Ray cluster (--ray)")
    started = not ray.is_initialized()
    if started:
        local = address in ("", "local")
        ray.init(address=None if local else address, include_dashboard=False, log_to_driver=False,
                 **({"num_cpus": usable_cores()} if local else {}))
    task = ray.remote(num_cpus=threads, max_retries=0)(process_video)
    pending = [task.remote(config, item, str(outdir)) for item in items]
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
    finally:
        for ref in pending:
            ray.cancel(ref)
        if started:
            ray.shutdown()


def _progress(outcomes: Iterable[VideoOutcome], total: int) -> Iterator[VideoOutcome]:
    from tqdm import tqdm

    with tqdm(total=total, unit="video", desc="corpus", file=sys.stderr, dynamic_ncols=True) as bar:
        for outcome in outcomes:
            bar.update(1)
            if outcome.status == "failed":
                tqdm.write(f"failed: {outcome.name}: {outcome.error}", file=sys.stderr)
            yield outcome


def run_batch(config, source: str, outdir: str | Path, *, jobs: int = 1, shard_spec: str | None = None,
              ray: str | None = None, clock: Callable[[], float] | None = None) -> BatchResult:
    """Every item of ``source`` (a corpus, see ``batch.py``) to ``outdir``; ``ray`` = "local" or a cluster address."""
    import time

    clock = clock or time.perf_counter
    if any(getattr(config, k) is not None for k in ("csv", "save_video", "save_crops")):
        raise ConfigError("--csv, --save-video and --save-crops name one file or folder, not one per video",
                          "leave them out in batch mode: each video gets OUTDIR/<name>.jsonl and its summary")
    if jobs < 1:
        raise ConfigError(f"--jobs {jobs}", "use --jobs 1 or more")
    refuse_writing_into_inputs({"--out": outdir}, [config.bundle, source])
    outdir = check_writable(outdir, folder=True)
    outdir.mkdir(parents=True, exist_ok=True)
    threads = config.threads
    if ray is not None:  # Ray spreads one task per CPU over the cluster unless --threads asks for more
        threads = threads or 1
    elif jobs > 1:
        threads = threads or max(1, usable_cores() // jobs)
        if jobs * threads > usable_cores():
            if threads > 1:
                raise ConfigError(f"--jobs {jobs} x --threads {threads} is more than the {usable_cores()} cores here",
                                  f"use --threads {max(1, usable_cores() // jobs)} or fewer jobs")
            log.warning("%d jobs on %d core(s): they take turns, expect no speed-up", jobs, usable_cores())
    config = replace(config, threads=threads, headless=True, out=None, summary=None)
    everything = corpus_items(source)
    mine = shard(everything, shard_spec)
    todo = [i for i in mine if finished(config, i, outdir) is None]
    log.info("corpus: %d items, %d in this shard, %d finished earlier, %d to run", len(everything), len(mine),
             len(mine) - len(todo), len(todo))
    t0 = clock()
    if not todo:
        runner: Iterator[VideoOutcome] = iter(())  # nothing to run: no pool, no Ray to start
    elif ray is not None:
        runner = _ray(config, todo, outdir, ray, threads or 1)
    elif jobs > 1:
        runner = _processes(config, todo, outdir, jobs)
    else:
        runner = _serial(config, todo, outdir)
    fresh: dict[str, VideoOutcome] = {}
    try:
        for outcome in _progress(runner, len(todo)):
            fresh[outcome.name] = outcome
            if outcome.status.startswith("signal"):  # the user stopped the run: stop the corpus too
                break
    finally:
        seconds = clock() - t0
        skipped = {i.name: process_video(config, i, outdir) for i in mine if i.name not in fresh and i not in todo}
        rows = corpus_table(config, everything, outdir, {**skipped, **fresh})
        table = write_corpus(rows, outdir)
    return BatchResult(tuple(rows), tuple(list(skipped.values()) + list(fresh.values())), table, seconds)
