"""Prune a training run into a new run folder, optionally fine-tune it, and measure what it gained.

Storage choice: a pruned network cannot be rebuilt from its ``build_kwargs``,
but it is still the same module tree with thinner tensors.  So the pruned run
keeps the engine's ordinary checkpoint (``best.pt``: tensors and plain values,
read with ``weights_only=True`` — no pickled module, nothing executes on load)
marked as pruned, and the one checkpoint loader
(:func:`edgeaffect.train.checkpoint.load_model`) resizes the layers of a freshly
built model to the stored tensor shapes before loading the weights.

The report (``prune_report.json``) holds parameters, MACs and latency MEASURED
side by side in one process (median of N runs, torch CPU eager and ONNX Runtime).
"""
from __future__ import annotations

import logging
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgeaffect._optional import require
from edgeaffect.compress.prune import Importance, prune_model
from edgeaffect.io import atomic_write_json
from edgeaffect.meta import ModelMeta

log = logging.getLogger(__name__)

REPORT = "prune_report.json"


def torch_latency(model: Any, example: tuple, *, runs: int = 30, warmup: int = 5) -> float:
    """Median milliseconds of one eager CPU forward."""
    torch = require("torch", "train")
    times = []
    with torch.inference_mode():
        for i in range(warmup + runs):
            t = time.perf_counter()
            model(*example)
            if i >= warmup:
                times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def backend_latency(model: Any, meta: ModelMeta, fmt: str, *, precision: str = "fp32", runs: int = 30,
                    backend_options: dict[str, Any] | None = None) -> float:
    """Export ``model`` to ``fmt`` in a temp folder, open it with its backend, return the median ms."""
    from edgeaffect.formats import ExportOptions, get_format
    from edgeaffect.compress.verify import measure_latency
    from edgeaffect.runtime.backends import create_backend

    spec = get_format(fmt)
    with tempfile.TemporaryDirectory(prefix="edgeaffect-lat-") as tmp:
        files = spec.load_exporter()(model, meta, Path(tmp), precision=precision, calibration=None,
                                     options=ExportOptions(dynamic_batch=False))
        backend = create_backend(spec.backend, Path(tmp) / files[0], meta, **(backend_options or {}))
        x = np.random.default_rng(0).standard_normal(meta.input_shape(1)).astype(np.float32)
        return measure_latency(backend, (x,), runs=runs)


def measure(model: Any, meta: ModelMeta, *, runs: int = 30, formats: tuple[str, ...] = ("onnx",)) -> dict[str, float]:
    """Median latency (ms) in torch eager and in each format's runtime."""
    from edgeaffect.train.complexity import example_inputs

    out = {"torch_eager": torch_latency(model.eval(), example_inputs(meta), runs=runs)}
    for fmt in formats:
        out[fmt] = backend_latency(model, meta, fmt, runs=runs)
    return out


def prune_run(run: str | Path, *, ratio: float, finetune_epochs: int = 0, out: str | Path | None = None,
              importance: Importance | str = Importance.L2, latency_runs: int = 30,
              latency_formats: tuple[str, ...] = ("onnx",)) -> Path:
    """Write a pruned copy of ``run`` (``best.pt``, ``meta.json``, ``config.yaml``, ``prune_report.json``)."""
    from edgeaffect.train.checkpoint import load_checkpoint, load_model, save_checkpoint
    from edgeaffect.train.complexity import example_inputs

    from edgeaffect.io import check_writable

    run = Path(run)
    dst = check_writable(Path(out) if out else run.with_name(f"{run.name}-pruned{round(ratio * 100)}"), folder=True)
    ckpt = load_checkpoint(run)
    model, meta = load_model(run)
    result = prune_model(model, example_inputs(meta), ratio=ratio, importance=importance)
    pruned = result.model
    pruned.model_name, pruned.build_kwargs = model.model_name, model.build_kwargs
    dst.mkdir(parents=True, exist_ok=True)
    state = {"pruned": result.summary(), "source_run": str(run)}
    save_checkpoint(dst / "best.pt", model=pruned, epoch=int(ckpt.get("epoch", 0)), best=None,
                    config=ckpt.get("config", {}), state=state)
    pruned.meta.save(dst / "meta.json")
    if (run / "config.yaml").is_file():
        shutil.copyfile(run / "config.yaml", dst / "config.yaml")
    if finetune_epochs > 0:
        pruned = finetune(dst, ckpt.get("config", {}), finetune_epochs)
    report = {**result.summary(), "finetune_epochs": finetune_epochs, "latency_runs": latency_runs,
              "latency_ms": {"before": measure(model, meta, runs=latency_runs, formats=latency_formats),
                             "after": measure(pruned, pruned.meta, runs=latency_runs, formats=latency_formats)}}
    atomic_write_json(dst / REPORT, report)
    log.info("pruned run written to %s: params %.2fx, MACs %.2fx", dst, result.param_ratio, result.mac_ratio)
    return dst


def finetune(pruned_dir: Path, config: dict[str, Any], epochs: int) -> Any:
    """Fine-tune the pruned checkpoint with the engine's ``fit`` (same recipe, ``model.init`` = the pruned run).

    The engine rebuilds ``model.init`` through the checkpoint loader, which resizes
    the pruned layers before loading the weights.
    """
    from edgeaffect.train.checkpoint import load_model
    from edgeaffect.train.config import TrainConfig
    from edgeaffect.train.engine import fit

    cfg = TrainConfig.from_dict(config)
    cfg.model.init = str(pruned_dir)
    cfg.schedule.epochs = int(epochs)
    cfg.runtime.resume = False
    cfg.runtime.out = str(pruned_dir / "finetune")
    fit(cfg)
    tuned = pruned_dir / "finetune"
    for name in ("best.pt", "last.pt"):
        if (tuned / name).is_file():
            shutil.copyfile(tuned / name, pruned_dir / name)
    model, _ = load_model(pruned_dir)
    return model
