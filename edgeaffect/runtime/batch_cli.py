"""The corpus side of ``edgeaffect run``: check the flags, run the batch, print the corpus table."""
from __future__ import annotations

from pathlib import Path

import typer

from edgeaffect.errors import ConfigError, DataError


def run_corpus(config, source: str, out: Path | None, *, jobs: int, shard: str | None, ray: str | None) -> None:
    from edgeaffect.runtime.batch_run import run_batch

    if out is None or str(out) == "-" or Path(out).suffix.lower() in (".jsonl", ".json", ".csv"):
        raise ConfigError(f"--source {source} is a corpus: its results need a folder as --out",
                          "e.g. --out results/ (one <video>.jsonl and summary per video, and corpus.csv)")
    result = run_batch(config, source, out, jobs=jobs, shard_spec=shard, ray=ray)
    width = max((len(r.name) for r in result.rows), default=5)
    for r in result.rows:
        top = max(r.share.items(), key=lambda kv: kv[1]) if r.share else None
        what = (f"{r.frames:6d} frames {r.faces:6d} faces" + (f"  {top[0]} {100 * top[1]:.0f}%" if top else "")
                + (f"  {r.mean_heart_rate:.0f} bpm" if r.mean_heart_rate is not None else "")) if r.frames else r.error
        typer.echo(f"{r.name:<{width}}  {r.status:<8} {what}", err=True)
    ran = result.count("done")
    typer.echo(f"{ran} videos run in {result.seconds:.1f} s ({3600 * ran / max(result.seconds, 1e-9):.0f} videos/hour), "
               f"{result.count('skipped')} finished earlier, {result.count('failed')} failed; table: {result.table}",
               err=True)
    stopped = next((r.status for r in result.ran if r.status.startswith("signal ")), None)
    if stopped:  # the user (or a scheduler) stopped it: finished videos are kept, but the corpus is not done
        import signal

        from edgeaffect.errors import Interrupted

        typer.echo(f"interrupted by {stopped.split()[1]}: run the same command again to finish the rest", err=True)
        raise Interrupted(signal.Signals[stopped.split()[1]])
    failed = [r.name for r in result.ran if r.status == "failed"]
    if failed:  # the others ran; exit 2 so a script sees that some did not
        raise DataError(f"{len(failed)} of {len(result.ran)} videos failed: {', '.join(failed[:5])}"
                        + (" ..." if len(failed) > 5 else ""),
                        f"see the error column of {result.table}; a re-run retries only those (finished ones are skipped)")
