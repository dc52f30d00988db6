"""Prune a training run into a new run folder, optionally fine-tune it, and measure what it gained.

Storage choice: a pruned network cannot be rebuilt from its ``build_kwargs``,
but it is still the same module tree with thinner tensors.  So the pruned run
keeps the engine's ordinary checkpoint (``best.pt``: tensors and plain values,
read with ``weights_only=True`` — no pickled module, nothing executes on load),
and :func:`fit_to_state_dict` rebuilds the architecture by resizing each layer
of a freshly built model to the tensor shapes stored in the checkpoint.
``load_pruned`` does this for any run, pruned or not.

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
from edgeaffect.errors import ModelError
from edgeaffect.io import atomic_write_json
from edgeaffect.meta import ModelMeta

log = logging.getLogger(__name__)

REPORT = "prune_report.json"


def _sync_layer_attrs(module: Any) -> None:
    """Make a resized layer's size attributes agree with its new tensors (conv ``groups`` drives forward)."""
    nn = require("torch", "train").nn
    w = getattr(module, "weight", None)
    if isinstance(module, nn.modules.conv._ConvNd) and w is not None:
        depthwise = module.groups > 1 and module.groups == module.in_channels
        mult = module.out_channels // module.in_channels if depthwise else 1
        # weight layout: [out, in/groups, k..] (transposed: [in, out/groups, k..])
        ins, outs = (w.shape[0], w.shape[1]) if module.transposed else (w.shape[1], w.shape[0])
        if depthwise:
            module.groups = w.shape[0] if module.transposed else w.shape[0] // mult
        if module.transposed:
            module.in_channels, module.out_channels = ins, outs * module.groups
        else:
            module.in_channels, module.out_channels = ins * module.groups, outs
    elif isinstance(module, nn.Linear):
        module.out_features, module.in_features = module.weight.shape
    elif isinstance(module, nn.modules.batchnorm._NormBase):
        module.num_features = (module.weight if module.weight is not None else module.running_mean).shape[0]
    elif isinstance(module, nn.PReLU):
        module.num_parameters = module.weight.numel()
    elif isinstance(module, nn.GroupNorm):
        module.num_channels = module.weight.shape[0]
    elif isinstance(module, nn.LayerNorm):
        module.normalized_shape = tuple(module.weight.shape)


def fit_to_state_dict(model: Any, state: dict[str, Any]) -> Any:
    """Resize every parameter/buffer of ``model`` whose shape differs from ``state`` (a no-op when none does)."""
    torch = require("torch", "train")
    for prefix, module in model.named_modules():
        old = {}
        for kind, table in (("param", module._parameters), ("buffer", module._buffers)):
            for name, tensor in list(table.items()):
                key = f"{prefix}.{name}" if prefix else name
                if tensor is None or key not in state or tuple(state[key].shape) == tuple(tensor.shape):
                    continue
                old[name] = tuple(tensor.shape)
                fresh = torch.empty_like(state[key], dtype=tensor.dtype)
                table[name] = torch.nn.Parameter(fresh, requires_grad=tensor.requires_grad) if kind == "param" else fresh
        if old:
            _sync_layer_attrs(module)
    return model


def load_pruned(path: str | Path, *, which: str = "best") -> tuple[Any, ModelMeta]:
    """(model in eval mode, ModelMeta) from a run folder or checkpoint, pruned or not."""
    from edgeaffect.train.checkpoint import load_checkpoint
    from edgeaffect.train.registry import create_model

    ckpt = load_checkpoint(path, which=which)
    model = create_model(ckpt["model_name"], **ckpt["build_kwargs"])
    fit_to_state_dict(model, ckpt["model"])
    try:
        model.load_state_dict(ckpt["model"], strict=True)
    except RuntimeError as exc:
        raise ModelError(f"checkpoint {path} does not fit model '{ckpt['model_name']}': {str(exc)[:300]}",
                         "rebuild with the edgeaffect version that wrote the checkpoint") from exc
    model.meta = ModelMeta.from_dict(ckpt["meta"])
    return model.eval(), model.meta


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
    from edgeaffect.compress.formats import ExportOptions, get_format
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
    torch = require("torch", "train")
    example = (torch.zeros(meta.input_shape(1)),)
    out = {"torch_eager": torch_latency(model.eval(), example, runs=runs)}
    for fmt in formats:
        out[fmt] = backend_latency(model, meta, fmt, runs=runs)
    return out


def prune_run(run: str | Path, *, ratio: float, finetune_epochs: int = 0, out: str | Path | None = None,
              importance: Importance | str = Importance.L2, latency_runs: int = 30,
              latency_formats: tuple[str, ...] = ("onnx",)) -> Path:
    """Write a pruned copy of ``run`` (``best.pt``, ``meta.json``, ``config.yaml``, ``prune_report.json``)."""
    torch = require("torch", "train")
    from edgeaffect.train.checkpoint import load_checkpoint, save_checkpoint

    run = Path(run)
    ckpt = load_checkpoint(run)
    model, meta = load_pruned(run)
    example = (torch.zeros(meta.input_shape(1)),)
    result = prune_model(model, example, ratio=ratio, importance=importance)
    pruned = result.model
    pruned.model_name, pruned.build_kwargs = model.model_name, model.build_kwargs
    dst = Path(out) if out else run.with_name(f"{run.name}-pruned{round(ratio * 100)}")
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

    The engine rebuilds ``model.init`` through its checkpoint loader, which must
    resize pruned layers (``fit_to_state_dict``) before loading the weights.
    """
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
    model, _ = load_pruned(pruned_dir)
    return model
