"""``edgeaffect eval``: score a trained run or checkpoint on a dataset split.

The model is rebuilt from its checkpoint, the data read through the same
readers and preprocessing as in training, and the studies' metrics computed
by the same code as the validation pass (``loop.evaluate``).  When the data
is the run's own, the reader options it was trained with (e.g. the FER+ label
mode) are reused.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgeaffect.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class EvalOptions:
    checkpoint: str  # run folder or .pt file
    data: str = ""  # dataset folder; empty = the data the run was trained on
    split: str = "test"
    format: str | None = None
    options: dict = field(default_factory=dict)  # reader options; default: the run's when the data is the run's
    limit: int = 0  # 0 = the whole split
    batch: int = 64
    which: str = "best"  # best | last
    device: str = "auto"
    progress: bool = True


@dataclass(frozen=True)
class EvalReport:
    checkpoint: str
    data: str
    split: str
    samples: int
    dropped: int
    loss: float
    metrics: dict[str, float]  # flat: accuracy, macro_f1, uar, ..., eda_pearson, valence_ccc
    reports: dict[str, Any]  # per head: per-class scores, confusion matrix, ...

    def to_dict(self) -> dict[str, Any]:
        from edgeaffect.plain import to_plain

        return to_plain(self)


def eval_config(opts: EvalOptions, ckpt: dict[str, Any]) -> Any:
    """The run's TrainConfig, pointed at the data and split to score."""
    from edgeaffect.train.config import TrainConfig, merge

    base = ckpt["config"]
    same_data = not opts.data or (base["data"]["path"] and Path(opts.data).expanduser().resolve()
                                  == Path(base["data"]["path"]).expanduser().resolve())
    # Scored per image as at run time (no in-memory batches: the resize study degrades each crop), in
    # float32, the precision the exported model computes in, whatever autocast trained it.
    data: dict[str, Any] = {"test_split": opts.split, "limit_test": opts.limit, "augment": False, "in_memory": False}
    if opts.data:
        data.update(path=str(opts.data), synthetic="", format=opts.format or (base["data"]["format"] if same_data else None))
    if opts.options or not same_data:
        data["options"] = dict(opts.options)
    top = {"data": data, "optim": {"batch": opts.batch},
           "runtime": {"device": opts.device, "resume": False, "out": "", "progress": opts.progress, "precision": "fp32"}}
    return TrainConfig.from_dict(merge(base, top))


def load_for_eval(opts: EvalOptions) -> tuple[Any, Any, Any, Any]:
    """(model, meta, config, dataset index) with the data checked against the model."""
    from edgeaffect.train import builders
    from edgeaffect.train.checkpoint import load_checkpoint, model_from_checkpoint

    ckpt = load_checkpoint(opts.checkpoint, which=opts.which)
    model = model_from_checkpoint(ckpt).eval()
    config = eval_config(opts, ckpt)
    index = builders.open_data(config)
    builders.check_fit(model.meta, index, source=f"checkpoint {opts.checkpoint}")
    if opts.split not in index.splits:
        raise ConfigError(f"{index.root} has no '{opts.split}' split", f"choose one of: {', '.join(index.splits)}")
    return model, model.meta, config, index


def score_records(model: Any, meta: Any, config: Any, records: list[Any], *,
                  degrade: Callable[[np.ndarray], np.ndarray] | None = None, desc: str = "eval") -> Any:
    """loop.evaluate over ``records`` (optionally degrading every crop first) -> EvalResult."""
    from edgeaffect.train import builders
    from edgeaffect.train import distributed as dist
    from edgeaffect.train.config import RuntimeConfig
    from edgeaffect.train.losses import MultiTaskLoss
    from edgeaffect.train.loop import TrainStep, evaluate
    from edgeaffect.train import torch_data as td

    env = dist.setup(RuntimeConfig(device=config.runtime.device, channels_last=config.runtime.channels_last,
                                   precision=config.runtime.precision, deterministic=False))
    model = model.to(env.device)
    loader = builders.eval_loader(records, meta, config, env)
    if degrade is not None:
        loader.dataset.degrade = degrade
        if not isinstance(loader.dataset, td.ImageDataset):
            raise ConfigError("the resize study applies to image models only", "drop --resize for video/tabular models")
    loss_fn = MultiTaskLoss(meta, config.loss).to(env.device)
    return evaluate(TrainStep(model, use_aux=bool(config.loss.aux_weight)), loader, loss_fn, env, meta=meta,
                    desc=desc, progress=config.runtime.progress)


def evaluate_checkpoint(opts: EvalOptions) -> EvalReport:
    from edgeaffect.train import builders

    model, meta, config, index = load_for_eval(opts)
    records = builders.limited(index.split(opts.split), opts.limit, config.runtime.seed)
    result = score_records(model, meta, config, records, desc=opts.split)
    return EvalReport(checkpoint=str(opts.checkpoint), data=str(index.root), split=opts.split, samples=result.samples,
                      dropped=result.dropped, loss=result.loss, metrics=result.metrics, reports=result.reports)


def format_report(report: EvalReport) -> str:
    lines = [f"{report.checkpoint} on {report.data} [{report.split}]: {report.samples} samples"
             + (f" ({report.dropped} unreadable, skipped)" if report.dropped else ""),
             f"  {'loss':<18} {report.loss:.4f}"]
    lines += [f"  {k:<18} {v:.4f}" for k, v in report.metrics.items()]
    for head, rep in report.reports.items():
        if isinstance(rep, dict) and "per_class" in rep:
            lines.append(f"  per class ({head}): " + ", ".join(
                f"{lab} F1 {c['f1']:.3f} (n={c['support']})" for lab, c in rep["per_class"].items()))
    return "\n".join(lines)
