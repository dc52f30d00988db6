"""Checkpoints: atomic saves of everything a run needs to continue or be exported.

A checkpoint holds the model weights, optimiser and scheduler state, the RNG
states (python, numpy, torch, cuda), the epoch, the best metric, the model
name + build kwargs, the ModelMeta dict and the resolved config — only tensors
and plain values, so ``torch.load(path, weights_only=True)`` reads it (no
pickled objects, nothing executes on load).

Public for the export side: :func:`load_checkpoint` and :func:`load_model`, the
one loader of every run, pruned or not (a pruned run's layers are resized to its
stored weights by :func:`fit_to_state_dict`).
"""
from __future__ import annotations

import io
import logging
import pickle
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgeaffect.errors import ModelError
from edgeaffect.io import atomic_write
from edgeaffect.meta import ModelMeta

log = logging.getLogger(__name__)
FORMAT_VERSION = 1
CHECKPOINT_NAMES = {"best": "best.pt", "last": "last.pt"}


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The bare model under a DDP / compile wrapper."""
    while hasattr(model, "module") or hasattr(model, "_orig_mod"):
        model = getattr(model, "module", None) or model._orig_mod
    return model


def rng_state() -> dict[str, Any]:
    version, state, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    out = {
        "python": {"version": version, "state": list(state), "gauss": gauss},
        "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        out["cuda"] = torch.cuda.get_rng_state_all()
    return out


def set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss"]))
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, *, model: torch.nn.Module, optimizer: Any = None, scheduler: Any = None,
                    epoch: int, best: float | None, config: Any, state: dict[str, Any] | None = None) -> Path:
    """Write ``path`` atomically: a kill mid-save leaves the previous file intact.

    ``config`` (a TrainConfig or its plain dict) is stored with its paths relative to the checkpoint's
    folder (``train.config.saved_config``); :func:`load_checkpoint` reads them back against it.
    """
    from edgeaffect.train.config import saved_config

    bare = unwrap(model)
    payload = {
        "format": FORMAT_VERSION,
        "model_name": bare.model_name,
        "build_kwargs": dict(bare.build_kwargs),
        "meta": bare.meta.to_dict(),
        "model": bare.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": rng_state(),
        "epoch": int(epoch),
        "best": None if best is None else float(best),
        "state": {**({"pruned": bare.pruned_info} if getattr(bare, "pruned_info", None) else {}),
                  **(state or {})},  # loop state: early-stopping counter, best epoch; pruning provenance
        "config": saved_config(config, Path(path).parent) if config else {},
        "torch_version": str(torch.__version__),
    }
    buf = io.BytesIO()
    torch.save(payload, buf)
    return atomic_write(Path(path), lambda fh: fh.write(buf.getbuffer()))


def checkpoint_file(path: str | Path, which: str = "best") -> Path:
    """A run folder (-> its best.pt / last.pt) or a checkpoint file; ``default`` = the shipped model."""
    from edgeaffect.assets import resolve

    path = resolve(Path(path).expanduser(), "run")
    if path.is_dir():
        if which not in CHECKPOINT_NAMES:
            raise ModelError(f"unknown checkpoint '{which}'", f"choose one of {sorted(CHECKPOINT_NAMES)}")
        candidate = path / CHECKPOINT_NAMES[which]
        if not candidate.is_file() and which == "best" and (path / "last.pt").is_file():
            candidate = path / "last.pt"  # a run stopped before any validation improvement
        path = candidate
    if not path.is_file():
        raise ModelError(f"no checkpoint at {path}", "point at a run folder (runs/<recipe>-<time>) or a .pt file")
    return path


def load_checkpoint(path: str | Path, *, which: str = "best") -> dict[str, Any]:
    """The checkpoint dict (tensors and plain values only; loaded with ``weights_only=True``)."""
    file = checkpoint_file(path, which)
    try:
        ckpt = torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # PyTorch's own text advises weights_only=False "will likely succeed": the one thing not to do with a
        # file that holds code.  Only the name of the refused object is kept from it.
        found = re.search(r"GLOBAL (\S+)", str(exc))
        what = f" ({found[1]})" if found else ""
        raise ModelError(f"checkpoint {file} holds a pickled Python object{what} that could run code when loaded; "
                         "it was not loaded", "use a checkpoint written by 'edgeaffect train' (tensors and plain "
                         "values only); never unpickle a file from a source you do not trust") from None
    except Exception as exc:  # truncated or not a checkpoint
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"cannot read checkpoint {file}: {first}", "use a checkpoint written by 'edgeaffect train'") from exc
    if not isinstance(ckpt, dict) or "model_name" not in ckpt:
        raise ModelError(f"{file} is not an edgeaffect checkpoint", "use a checkpoint written by 'edgeaffect train'")
    if ckpt.get("config"):
        from edgeaffect.train.config import loaded_config

        ckpt["config"] = loaded_config(ckpt["config"], file.parent)
    return ckpt


def _sync_layer_attrs(module: torch.nn.Module) -> None:
    """Make a resized layer's size attributes agree with its new tensors (conv ``groups`` drives forward)."""
    nn = torch.nn
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


def fit_to_state_dict(model: torch.nn.Module, state: dict[str, Any]) -> torch.nn.Module:
    """Resize every parameter/buffer of ``model`` whose shape differs from ``state`` (a no-op when none does)."""
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


def model_from_checkpoint(ckpt: dict[str, Any]) -> torch.nn.Module:
    """Rebuild the module a checkpoint describes and load its weights (every key, every shape)."""
    from edgeaffect.train.registry import create_model

    model = create_model(ckpt["model_name"], **ckpt["build_kwargs"])
    if (ckpt.get("state") or {}).get("pruned"):
        # A structurally pruned model has thinner layers than its build kwargs say: resize them to
        # the stored weights.  Only a checkpoint marked as pruned is resized, so a mismatch in any
        # other checkpoint stays an error.
        fit_to_state_dict(model, ckpt["model"])
        model.pruned_info = ckpt["state"]["pruned"]  # carried into the checkpoints of a fine-tuning run
    try:
        model.load_state_dict(ckpt["model"], strict=True)
    except RuntimeError as exc:  # missing or unexpected keys, shape mismatches
        raise ModelError(f"checkpoint weights do not fit model '{ckpt['model_name']}': {str(exc)[:300]}",
                         "rebuild with the edgeaffect version that wrote the checkpoint") from exc
    model.meta = ModelMeta.from_dict(ckpt["meta"])
    return model


def raw_model_from_checkpoint(ckpt: dict[str, Any]) -> torch.nn.Module:
    """The checkpoint's network without its in-graph prior correction and mirror averaging (``ModelMeta.adjust``):
    the logits it learnt, for choosing a correction (tune), teaching another model (distill), joining an ensemble
    or being fine-tuned (``model.init``).  A family that carries no correction is rebuilt as it is."""
    if "adjust" not in ckpt["build_kwargs"]:
        return model_from_checkpoint(ckpt)
    model = model_from_checkpoint({**ckpt, "build_kwargs": without_adjust(ckpt["build_kwargs"])})
    model.meta = model.meta.evolve(adjust=None)
    return model


def without_adjust(build_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Build arguments with the prior correction left out (the family's default: none)."""
    return {k: v for k, v in build_kwargs.items() if k != "adjust"}


def load_model(path: str | Path, *, which: str = "best") -> tuple[torch.nn.Module, ModelMeta]:
    """(model in eval mode on CPU, its ModelMeta) from a run folder or a checkpoint file."""
    model = model_from_checkpoint(load_checkpoint(path, which=which))
    return model.eval(), model.meta
