"""The two passes of training: ``train_one_epoch`` and ``evaluate``.

Both run a :class:`TrainStep` (the model's forward plus its auxiliary loss)
over a loader, under the run's autocast, and summarise loss and metrics
across ranks.  A NaN/inf loss stops the run with :class:`DivergedError` and
the offending batch saved as ``bad_batch.pt``.  ``fit`` (engine.py) drives them.
"""
from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from tqdm import tqdm

from edgeaffect.errors import ModelError
from edgeaffect.meta import ModelMeta
from edgeaffect.train import distributed as dist
from edgeaffect.train.losses import MultiTaskLoss
from edgeaffect.train.scoring import Collector, score

log = logging.getLogger(__name__)


class DivergedError(ModelError):
    """The loss became NaN or infinite."""


@dataclass(frozen=True)
class EvalResult:
    loss: float
    metrics: dict[str, float]  # flat: accuracy, macro_f1, eda_pearson, ...
    reports: dict[str, Any] = field(default_factory=dict)  # per head: per-class, confusion, ...
    samples: int = 0
    dropped: int = 0


class TrainStep(torch.nn.Module):
    """Runs a model's forward with its auxiliary loss, so DDP wraps the call that trains.

    Returns ``(heads, aux)``; ``aux`` is None for models without one.
    """

    def __init__(self, model: torch.nn.Module, use_aux: bool) -> None:
        super().__init__()
        self.module = model
        self.use_aux = use_aux and hasattr(model, "forward_with_aux")

    def forward(self, *inputs: torch.Tensor) -> tuple[tuple[torch.Tensor, ...], torch.Tensor | None]:
        if self.use_aux:
            heads, aux = self.module.forward_with_aux(*inputs)
            return tuple(heads), aux
        out = self.module(*inputs)
        return (tuple(out) if isinstance(out, (tuple, list)) else (out,)), None


def seed_epoch(seed: int, epoch: int, rank: int = 0) -> None:
    s = (seed * 1_000_003 + epoch * 1009 + rank) % (2**31)
    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)


def to_device(batch: Mapping[str, Any], env: dist.Env) -> dict[str, Any]:
    out = {}
    for k, v in batch.items():
        if isinstance(v, torch.Tensor):
            v = v.to(env.device, non_blocking=True)
            if k == "x" and v.dim() == 4 and env.channels_last:
                v = v.contiguous(memory_format=torch.channels_last)
        out[k] = v
    return out


def model_inputs(batch: Mapping[str, torch.Tensor], meta: ModelMeta) -> list[torch.Tensor]:
    return [batch["x"], *(batch[name] for name in meta.extra_inputs)]


def save_bad_batch(batch: Mapping[str, Any], run_dir: Path | None, env: dist.Env, **info: Any) -> Path | None:
    if run_dir is None:
        return None
    from edgeaffect.io import atomic_write

    path = Path(run_dir) / ("bad_batch.pt" if env.is_main else f"bad_batch.rank{env.rank}.pt")
    payload = {"batch": {k: v.detach().cpu() if isinstance(v, torch.Tensor) else v for k, v in batch.items()}, **info}
    return atomic_write(path, lambda fh: torch.save(payload, fh))


def train_one_epoch(step: torch.nn.Module, loader: Any, loss_fn: MultiTaskLoss, optimizer: torch.optim.Optimizer,
                    env: dist.Env, *, meta: ModelMeta, epoch: int, grad_clip: float = 0.0,
                    scaler: Any = None, run_dir: Path | None = None, progress: bool = True,
                    batch_scheduler: Any = None) -> EvalResult:
    """One pass over the training data; returns the mean loss and the train-set metrics.

    ``batch_scheduler`` (a per-batch schedule such as OneCycleLR) is stepped after every optimiser step.
    """
    step.train()
    collector = Collector(meta)
    loss_sum, seen, dropped = 0.0, 0, 0
    bar = tqdm(loader, desc=f"epoch {epoch} train", leave=False, disable=not (progress and env.is_main))
    for i, batch in enumerate(bar):
        dropped += batch.pop("dropped", 0)
        if "x" not in batch:
            continue  # every sample of this batch failed to decode
        batch = to_device(batch, env)
        with env.autocast():
            outputs, aux = step(*model_inputs(batch, meta))
            loss, _ = loss_fn(outputs, batch, aux, train=True)
        if not torch.isfinite(loss):
            path = save_bad_batch(batch, run_dir, env, epoch=epoch, step=i, loss=float(loss.detach()))
            raise DivergedError(f"the training loss became {float(loss.detach())} at epoch {epoch}, step {i}"
                                + (f"; the batch is saved in {path}" if path else ""),
                                "lower optim.lr, set optim.grad_clip, or inspect the saved batch for broken samples")
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
        else:
            loss.backward()
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(step.parameters(), grad_clip)
        (scaler.step(optimizer), scaler.update()) if scaler is not None else optimizer.step()
        if batch_scheduler is not None:
            batch_scheduler.step()
        n = len(batch["x"])
        loss_sum, seen = loss_sum + float(loss.detach()) * n, seen + n
        collector.add(outputs, batch)
        bar.set_postfix(loss=f"{loss_sum / max(seen, 1):.4f}")
    return _summarise(collector, loss_sum, seen, dropped, env, meta, reports=False)


class _BatchInputs(torch.nn.Module):
    """Calls a model on a prepared batch dict: the one-argument call ``update_bn`` makes."""

    def __init__(self, model: torch.nn.Module, meta: ModelMeta, env: dist.Env) -> None:
        super().__init__()
        self.model, self.meta, self.env = model, meta, env

    def forward(self, batch: Mapping[str, Any]) -> Any:
        with self.env.autocast():
            return self.model(*model_inputs(to_device(batch, self.env), self.meta))


def recalibrate_bn(model: torch.nn.Module, loader: Any, env: dist.Env, *, meta: ModelMeta, batches: int) -> None:
    """Re-estimate every BatchNorm's running statistics as a plain mean over ``batches`` training batches.

    Why: in a short run from scratch the weights move faster than BatchNorm's running
    averages (momentum 0.1) follow, so evaluation-mode outputs lag what the model has
    learnt (a DDAMFN after 40 steps scored chance in eval mode, 0.29 with fresh
    statistics).  torch's ``update_bn`` (written for weight averaging) does the pass.
    """
    from itertools import islice

    from torch.optim.swa_utils import update_bn

    if batches <= 0 or not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        return
    adapter = _BatchInputs(model, meta, env).train(model.training)  # update_bn restores the adapter's mode
    update_bn((b for b in islice(loader, batches) if "x" in b), adapter)  # a batch that decoded nothing has no x


@torch.no_grad()
def evaluate(step: torch.nn.Module, loader: Any, loss_fn: MultiTaskLoss | None, env: dist.Env, *,
             meta: ModelMeta, desc: str = "valid", progress: bool = True,
             classes: Sequence[int] | None = None) -> EvalResult:
    """Loss and the studies' metrics on one split (outputs gathered across ranks).

    ``classes``: the model-label indices of a data set with fewer classes (scored two ways, see scoring.score).
    """
    step.eval()
    collector = Collector(meta)
    loss_sum, seen, dropped = 0.0, 0, 0
    for batch in tqdm(loader, desc=desc, leave=False, disable=not (progress and env.is_main)):
        dropped += batch.pop("dropped", 0)
        if "x" not in batch:
            continue
        batch = to_device(batch, env)
        with env.autocast():
            outputs, aux = step(*model_inputs(batch, meta))
        if loss_fn is not None:
            loss, _ = loss_fn(tuple(o.float() for o in outputs), batch, aux)
            loss_sum += float(loss) * len(batch["x"])
        seen += len(batch["x"])
        collector.add(outputs, batch)
    return _summarise(collector, loss_sum, seen, dropped, env, meta, reports=True, classes=classes)


def _summarise(collector: Collector, loss_sum: float, seen: int, dropped: int, env: dist.Env, meta: ModelMeta,
               *, reports: bool, classes: Sequence[int] | None = None) -> EvalResult:
    loss_sum, seen, dropped = dist.all_reduce_sum([loss_sum, seen, dropped], env)
    outputs, targets = collector.arrays()
    merged = dist.gather_arrays({**{f"o:{k}": v for k, v in outputs.items()},
                                 **{f"t:{k}": v for k, v in targets.items()}}, env)
    outputs = {k[2:]: v for k, v in merged.items() if k.startswith("o:")}
    targets = {k[2:]: v for k, v in merged.items() if k.startswith("t:")}
    if dropped:
        log.warning("%d samples could not be decoded and were skipped", int(dropped))
    flat, full = score(meta, outputs, targets, classes=classes) if seen else ({}, {})
    return EvalResult(loss=loss_sum / seen if seen else math.nan, metrics=flat, reports=full if reports else {},
                      samples=int(seen), dropped=int(dropped))

