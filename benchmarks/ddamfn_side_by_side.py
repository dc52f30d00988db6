"""What the DDAMFN side-by-side benchmarks (bench_backends.py, bench_prune.py) share.

Both time one model at batch 1 in several runtimes in interleaved rounds: the same options (a run folder
or a fresh DDAMFN, rounds, warm-up, threads), the same model loading, and the same export-then-open of
one variant.  A script in this folder imports it by name (the folder is on sys.path when run).
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path


def parser(doc: str) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--run", help="a trained run folder (default: a freshly initialised DDAMFN)")
    ap.add_argument("--rounds", type=int, default=60, help="interleaved timing rounds (every variant once a round)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed rounds first")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch and backend threads")
    return ap


def start(ap: argparse.ArgumentParser):
    """``(args, model, meta)``: the parsed options, torch's thread count set, the model loaded."""
    import torch

    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    return (args, *load_model(args.run))


def load_model(run: str | None):
    """``(model, meta)``: the run's model, or DDAMFN with seeded random weights."""
    if run:
        from edgeaffect.train.checkpoint import load_model as load_run

        return load_run(run)
    import torch

    from edgeaffect.train.registry import create_model

    torch.manual_seed(0)
    model = create_model("ddamfn", num_classes=8).eval()
    return model, model.meta


def open_variant(model, meta, out: Path, fmt: str, precision: str, *, threads: int, calibration=None,
                 exported: dict[Path, list[str]], **backend_options):
    """A backend on ``model`` exported to ``fmt``/``precision`` in ``out``; one export per folder, kept in
    ``exported``, since variants that differ in backend options only run the same file."""
    from edgeaffect.formats import ExportOptions, get_format
    from edgeaffect.runtime.backends import create_backend

    spec = get_format(fmt)
    if out not in exported:
        out.mkdir(parents=True)
        exported[out] = spec.load_exporter()(model, meta, out, precision=precision, calibration=calibration,
                                             options=ExportOptions(dynamic_batch=False))
    return create_backend(spec.backend, out / exported[out][0], meta, threads=threads, **backend_options)
