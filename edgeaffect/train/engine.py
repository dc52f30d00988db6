"""``fit(config) -> RunResult``: one training run, read top to bottom.

Set up the process, open the data, build model, loaders, loss, optimiser and
scheduler, resume from last.pt if asked; then per epoch train -> validate ->
schedule -> checkpoint -> log; finally score best.pt on the test split and
write the report.  Every epoch's randomness (order, augmentation, dropout) is
seeded from (seed, epoch), so a resumed run repeats an uninterrupted one.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from edgeaffect.errors import ConfigError
from edgeaffect.train import builders, distributed as dist
from edgeaffect.train.checkpoint import load_checkpoint, save_checkpoint, set_rng_state, unwrap
from edgeaffect.portable import portable
from edgeaffect.train.config import TrainConfig, config_to_yaml, saved_config
from edgeaffect.train.losses import MultiTaskLoss
from edgeaffect.train.loop import EvalResult, TrainStep, evaluate, recalibrate_bn, seed_epoch, train_one_epoch
from edgeaffect.train.recipes import data_path
from edgeaffect.train.runfolder import RunFolder, new_run_dir
from edgeaffect.train.scoring import lower_is_better

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunResult:
    run_dir: Path
    epochs_run: int  # epochs completed in total (including those before a resume)
    best_epoch: int
    best_metric: float
    monitor: str
    valid: dict[str, float] = field(default_factory=dict)  # validation metrics of the best epoch
    test: dict[str, float] = field(default_factory=dict)  # test metrics of best.pt ({} when there is no test split)
    stopped_early: bool = False
    interrupted: bool = False  # stopped by runtime.stop_after_epoch
    weights_digest: str = ""  # sha256 of the final weights on this process (DDP ranks must agree)


def _improved(value: float, best: float | None, maximize: bool) -> bool:
    if value is None or math.isnan(value):
        return False
    return best is None or (value > best if maximize else value < best)


def _run_dir(config: TrainConfig) -> Path:
    if config.runtime.resume and not config.runtime.out:
        from edgeaffect.train.runfolder import latest_run

        return latest_run(config.runtime.runs_dir, config.recipe)
    return new_run_dir(config.runtime.runs_dir, config.recipe, config.runtime.out)


def fit(config: TrainConfig) -> RunResult:
    """Train as ``config`` says; only rank 0 writes the run folder."""
    env = dist.setup(config.runtime)
    try:
        return _fit(config, env)
    finally:
        dist.teardown(env)


def _fit(config: TrainConfig, env: dist.Env) -> RunResult:
    r, s = config.runtime, config.schedule
    run_dir = _run_dir(config)
    if env.distributed:  # every rank must write into the folder rank 0 named
        parts: list = [str(run_dir)]
        torch.distributed.broadcast_object_list(parts, src=0)
        run_dir = Path(parts[0])
    resume_ckpt = load_checkpoint(run_dir, which="last") if r.resume else None

    # -- data and model -----------------------------------------------------------------
    if env.is_main:  # generate synthetic data once, before other ranks look for it (reading it is once, below)
        data_path(config)
    dist.barrier(env)
    index = builders.open_data(config)
    torch.manual_seed(r.seed)  # identical initial weights on every rank and every rerun
    model = builders.build_model(config, index).to(env.device)
    if env.channels_last and len(model.meta.input_shape()) == 4:
        model = model.to(memory_format=torch.channels_last)
    meta = model.meta
    loaders = builders.build_loaders(config, index, meta, env)
    teacher = None
    if config.loss.teacher:
        from edgeaffect.train.distill import Teacher

        teacher = Teacher(config.loss.teacher, meta, device=env.device)
    loss_fn = MultiTaskLoss(meta, config.loss, loaders.class_weight, loaders.prior, teacher).to(env.device)
    step = TrainStep(model, use_aux=bool(config.loss.aux_weight))
    train_step = dist.wrap(step, env)
    optimizer = builders.build_optimizer(model, config)
    maximize = not lower_is_better(s.monitor)
    scheduler = builders.build_scheduler(optimizer, config, maximize=maximize, steps_per_epoch=len(loaders.train))
    batch_scheduler = scheduler if s.name in builders.PER_BATCH else None
    scaler = env.grad_scaler()
    monitor_key = f"valid_{s.monitor}"

    # -- run folder and resume ----------------------------------------------------------
    folder = RunFolder(run_dir) if env.is_main else None
    rows: list[dict[str, Any]] = []
    start, best, best_epoch, bad_epochs = 1, None, 0, 0
    if resume_ckpt is not None:
        model.load_state_dict(resume_ckpt["model"])
        optimizer.load_state_dict(resume_ckpt["optimizer"])
        if scheduler is not None and resume_ckpt["scheduler"] is not None:
            scheduler.load_state_dict(resume_ckpt["scheduler"])
        set_rng_state(resume_ckpt["rng"])
        state = resume_ckpt["state"]
        start, best = resume_ckpt["epoch"] + 1, resume_ckpt["best"]
        best_epoch, bad_epochs, rows = state["best_epoch"], state["bad_epochs"], list(state["rows"])
        log.info("resuming %s at epoch %d", run_dir, start)
    if folder is not None:
        folder.write_config(config_to_yaml(config, run_dir))
        folder.write_meta(meta)
        log.info("run folder: %s", run_dir)

    # -- epochs -------------------------------------------------------------------------
    stopped_early = interrupted = False
    for epoch in range(start, s.epochs + 1):
        started = time.perf_counter()
        seed_epoch(r.seed, epoch, env.rank)
        loaders.train.sampler.set_epoch(epoch)
        lr = optimizer.param_groups[0]["lr"]
        train = train_one_epoch(train_step, loaders.train, loss_fn, optimizer, env, meta=meta, epoch=epoch,
                                grad_clip=config.optim.grad_clip, scaler=scaler, run_dir=run_dir, progress=r.progress,
                                batch_scheduler=batch_scheduler)
        recalibrate_bn(model, loaders.train, env, meta=meta, batches=config.optim.bn_recalibrate)
        dist.sync_buffers(model, env)
        valid = evaluate(step, loaders.valid, loss_fn, env, meta=meta, progress=r.progress)
        row = _row(epoch, lr, train, valid, time.perf_counter() - started)
        if monitor_key not in row:
            raise ConfigError(f"schedule.monitor '{s.monitor}' is not a validation metric of this model",
                              f"choose one of: {', '.join(k[6:] for k in row if k.startswith('valid_'))}")
        value = row[monitor_key]
        if _improved(value, best, maximize):
            best, best_epoch, bad_epochs = value, epoch, 0
        else:
            bad_epochs += 1
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(value if not math.isnan(value) else (-math.inf if maximize else math.inf))
        elif scheduler is not None and batch_scheduler is None:
            scheduler.step()
        rows.append(row)
        log.info("epoch %d: %s", epoch, ", ".join(f"{k}={v:.4g}" for k, v in row.items()
                                                  if isinstance(v, float) and k.split("_", 1)[-1] in
                                                  ("loss", "accuracy", "macro_f1", "eda_pearson", "signal_pearson")))
        if folder is not None:
            state = {"best_epoch": best_epoch, "bad_epochs": bad_epochs, "rows": rows}
            ckpt = dict(model=model, optimizer=optimizer, scheduler=scheduler, epoch=epoch, best=best,
                        config=config, state=state)
            save_checkpoint(folder.file("last.pt"), **ckpt)
            if best_epoch == epoch:
                save_checkpoint(folder.file("best.pt"), **ckpt)
            folder.write_metrics(rows)
        dist.barrier(env)
        if s.early_stop and bad_epochs >= s.early_stop:
            log.info("early stop: no %s improvement for %d epochs", s.monitor, bad_epochs)
            stopped_early = True
            break
        if r.stop_after_epoch and epoch >= r.stop_after_epoch and epoch < s.epochs:
            interrupted = True
            break

    best_row = next((row for row in rows if row["epoch"] == best_epoch), rows[-1] if rows else {})
    valid_metrics = {k[6:]: v for k, v in best_row.items() if k.startswith("valid_")}
    digest = weights_digest(model)  # the trained weights, before best.pt is loaded for the test
    test: dict[str, float] = {}
    if not interrupted:
        test = _finish(config, env, index, model, meta, loss_fn, folder, rows, best_epoch)
    return RunResult(run_dir=run_dir, epochs_run=rows[-1]["epoch"] if rows else 0, best_epoch=best_epoch,
                     best_metric=math.nan if best is None else best, monitor=s.monitor, valid=valid_metrics,
                     test=test, stopped_early=stopped_early, interrupted=interrupted, weights_digest=digest)


def weights_digest(model: torch.nn.Module) -> str:
    import hashlib

    h = hashlib.sha256()
    for name, tensor in sorted(unwrap(model).state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _row(epoch: int, lr: float, train: EvalResult, valid: EvalResult, seconds: float) -> dict[str, Any]:
    row: dict[str, Any] = {"epoch": epoch, "lr": lr, "train_loss": train.loss}
    row.update({f"train_{k}": v for k, v in train.metrics.items()})
    row["valid_loss"] = valid.loss
    row.update({f"valid_{k}": v for k, v in valid.metrics.items()})
    row.update({"dropped": train.dropped + valid.dropped, "seconds": round(seconds, 2)})
    return row


def _finish(config: TrainConfig, env: dist.Env, index: Any, model: torch.nn.Module, meta: Any, loss_fn: MultiTaskLoss,
            folder: RunFolder | None, rows: list[dict[str, Any]], best_epoch: int) -> dict[str, float]:
    """Score best.pt on the test split; write metrics, plots and the model card."""
    d = config.data
    test_result: EvalResult | None = None
    if d.test_split and d.test_split not in index.splits:  # a typo must not pass for "leave test unread"
        log.warning("data.test_split=%s names no split of %s (it has: %s); test not scored",
                    d.test_split, index.root, ", ".join(index.splits))
    if d.test_split in index.splits and index.split(d.test_split):
        if folder is not None and folder.file("best.pt").is_file():
            model.load_state_dict(load_checkpoint(folder.path, which="best")["model"])
        if env.distributed:  # ranks other than 0 never wrote best.pt: share rank 0's weights
            for tensor in unwrap(model).state_dict().values():
                torch.distributed.broadcast(tensor, src=0)
        records = builders.limited(index.split(d.test_split), d.limit_test, config.runtime.seed)
        loader = builders.eval_loader(records, meta, config, env)
        test_result = evaluate(TrainStep(model, use_aux=bool(config.loss.aux_weight)), loader, loss_fn, env,
                               meta=meta, desc="test", progress=config.runtime.progress)
    test = {"loss": test_result.loss, **test_result.metrics, "samples": test_result.samples} if test_result else {}
    if folder is None:
        return test
    folder.write_metrics(rows, test=test or None, reports=test_result.reports if test_result else None)
    folder.plot_learning_curve(rows)
    for report in (test_result.reports.values() if test_result else ()):
        if isinstance(report, dict) and "confusion" in report:
            folder.plot_confusion(report["confusion"], list(report["per_class"]))
            break
    info = {"format": index.format, "task": index.task, "train_split": f"{d.train_split} ({len(index.split(d.train_split))} records, "
            f"limit {d.limit_train or 'none'})", "classes": ", ".join(index.classes) or "—",
            "skipped while reading": len(index.skipped)}
    folder.write_model_card(meta=meta, config=saved_config(config, folder.path), data_root=portable(index.root),
                            data_info=info, test=test,
                            complexity=builders.complexity(unwrap(model), meta), best_epoch=best_epoch)
    return test
