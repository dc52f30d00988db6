"""What ``fit`` builds from a TrainConfig: data, model, loaders, optimiser, scheduler.

Each builder is one small function, so the loop reads top to bottom and each
piece is testable alone.  The data kind a model eats (images, clips, tabular
windows) follows from its task — one table — and a dataset of another kind,
or with classes that do not fit the model's head, fails here, before any
training step.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from edgeaffect.data.base import DatasetIndex
from edgeaffect.errors import ConfigError, ModelError
from edgeaffect.meta import HeadKind, ModelMeta, Task
from edgeaffect.train import torch_data as td
from edgeaffect.train.config import Balance, Optimizer, Schedule, TrainConfig
from edgeaffect.train.distributed import Env

log = logging.getLogger(__name__)

# model task -> (dataset class, dataset tasks it can train on)
DATA_KIND = {
    Task.CLASSIFICATION: (td.ImageDataset, ("classification", "multitask")),
    Task.MULTITASK: (td.ImageDataset, ("classification", "multitask")),
    Task.SIGNAL: (td.ClipDataset, ("signal",)),
    Task.TABULAR: (td.TabularDataset, ("tabular",)),
}


def open_data(config: TrainConfig) -> DatasetIndex:
    from edgeaffect.data import open_dataset
    from edgeaffect.train.recipes import data_path

    return open_dataset(data_path(config), format=config.data.format, **config.data.options)


def limited(records: Sequence[Any], limit: int, seed: int) -> list[Any]:
    """The first ``limit`` records after a seeded shuffle (all of them, in order, when limit is 0)."""
    if not limit or limit >= len(records):
        return list(records)
    order = np.random.default_rng(seed).permutation(len(records))[:limit]
    return [records[i] for i in sorted(order)]


def logits_size(meta: ModelMeta) -> int | None:
    return next((h.size for h in meta.heads if h.kind is HeadKind.LOGITS), None)


def check_fit(meta: ModelMeta, index: DatasetIndex, *, source: str, subset: bool = False) -> None:
    """Raise ModelError when the data's kind or classes do not match the model.

    Training needs the model's exact classes; ``subset=True`` (evaluation) checks the kind only and
    leaves the classes to ``data.classes.model_view``, which scores any set whose classes are a subset.
    """
    _, accepts = DATA_KIND[meta.task]
    if index.task not in accepts:
        hint = (" (heart rate from a recording's face video: 'edgeaffect eval --pulse pos --data REC')"
                if index.task == "recording" else "")
        raise ModelError(f"{source} ('{meta.model}', {meta.task.value}) does not fit {index.root}, a {index.task} "
                         "dataset", f"use a {' or '.join(accepts)} dataset, or a model made for {index.task} data{hint}")
    n = logits_size(meta)
    if n is None or not index.classes or subset:
        return
    if n != len(index.classes) or (meta.labels and tuple(meta.labels) != tuple(index.classes)):
        raise ModelError(f"the classes of {index.root} do not match the head of {source}: "
                         f"data {list(index.classes)} vs model {list(meta.labels) or n}",
                         "train on data with the model's classes, or start a new head (drop model.init)")


def build_model(config: TrainConfig, index: DatasetIndex) -> torch.nn.Module:
    """A new model for the data's classes, or the ``model.init`` checkpoint's model."""
    from edgeaffect.train.registry import create_model

    if config.model.init_options and not config.model.init:
        raise ConfigError(f"model.init_options {dict(config.model.init_options)} change a model.init checkpoint, "
                          "and none is given", "add model.init=RUN, or set model.options to build a new model")
    if config.model.init:
        from edgeaffect.train.checkpoint import load_checkpoint, raw_model_from_checkpoint

        # A tuned run's prior correction was chosen on held-out data for those weights, at inference.  Kept in the
        # graph, the logit-adjusted loss would count the prior twice and the raw logits would learn to undo it; the
        # fine-tune starts from what the network learnt, and tune chooses a correction again after it.
        ckpt, changed = load_checkpoint(config.model.init), dict(config.model.init_options)
        try:
            model = raw_model_from_checkpoint({**ckpt, "build_kwargs": {**ckpt["build_kwargs"], **changed}})
        except ModelError as exc:
            if not changed:
                raise
            raise ModelError(f"model.init_options {changed} do not fit checkpoint {config.model.init}: {exc.what}",
                             "change only options that keep the weights' shapes (output_stride 8/16/32, drop_rate), "
                             "or train from scratch with model.options") from None
        check_fit(model.meta, index, source=f"checkpoint {config.model.init}")
        if config.model.input_size is not None:
            model = resized(model, config.model.input_size, source=f"checkpoint {config.model.init}")
        return record_framing(model, index)
    kwargs: dict[str, Any] = dict(config.model.options)
    for key in ("input_size", "frames"):
        if getattr(config.model, key) is not None:
            kwargs[key] = getattr(config.model, key)
    if index.task == "tabular" and "input_size" not in kwargs:
        first = next((r for split in index.splits.values() for r in split), None)
        if first is not None:  # (steps, features) is a property of the data, not a recipe choice
            kwargs["input_size"] = tuple(int(v) for v in np.asarray(first.features).shape)
    if config.model.pretrained:
        kwargs["pretrained"] = True
    if index.classes:
        kwargs["labels"] = list(index.classes)
    model = create_model(config.model.name, **kwargs)
    check_fit(model.meta, index, source=f"model '{config.model.name}'")
    return record_framing(model, index)


def resized(model: torch.nn.Module, side: int, *, source: str) -> torch.nn.Module:
    """The ``model.init`` model fed ``side`` x ``side`` inputs from now on (a fine-tune at a new
    resolution): only for image models that end in global pooling, proved by a forward pass at the
    new size, since a fixed-size graph would otherwise fail epochs later or, worse, not at all."""
    meta = model.meta
    size = (int(side), int(side))
    if meta.temporal is not None or meta.task not in (Task.CLASSIFICATION, Task.MULTITASK):
        raise ModelError(f"{source} is not an image model; its input size is fixed",
                         "drop model.input_size when starting from it")
    if tuple(meta.input_size) == size:
        return model
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, meta.channels, *size))
    except (RuntimeError, ValueError) as exc:
        raise ModelError(f"{source} ({meta.model}) cannot take {size[0]}x{size[1]} inputs: {exc}",
                         f"drop model.input_size to keep its {meta.input_size[0]} px") from None
    finally:
        model.train(was_training)
    model.meta = meta.evolve(input_size=size)
    return model


def record_framing(model: torch.nn.Module, index: DatasetIndex) -> torch.nn.Module:
    """Write into the model's ModelMeta the crop the runtime must cut, whatever the task: the data's
    framing (and the interpolation its cached crops were cut with), else the runtime's default made
    explicit, so a later change of that default cannot change what an existing model is fed."""
    from edgeaffect.facecrop import DEFAULT_FRAMING

    changes: dict[str, Any] = {}
    if index.info.get("framing"):
        changes["framing"] = index.info["framing"]
    elif model.meta.framing is None and model.meta.task is not Task.TABULAR:  # tabular models see no face
        changes["framing"] = DEFAULT_FRAMING
    if index.info.get("interpolation"):
        changes["interpolation"] = index.info["interpolation"]
    if changes:
        model.meta = model.meta.evolve(**changes)
    return model


@dataclass
class Loaders:
    train: torch.utils.data.DataLoader
    valid: torch.utils.data.DataLoader
    class_weight: torch.Tensor | None
    prior: torch.Tensor | None = None  # class frequencies of the training records (logit adjustment)


def make_dataset(records: Sequence[Any], meta: ModelMeta, config: TrainConfig, *, train: bool) -> torch.utils.data.Dataset:
    cls, _ = DATA_KIND[meta.task]
    if cls is td.ImageDataset and config.data.in_memory:
        from edgeaffect.train.memory_data import MemoryImageDataset, build_batch_augment

        batch_augment = build_batch_augment(config.data.augment_options) if train and config.data.augment else None
        return MemoryImageDataset(records, meta, num_classes=logits_size(meta) or 0, augment=batch_augment)
    if cls is td.ImageDataset:
        augment = None
        if train and config.data.augment:
            from edgeaffect.data.augment import AugmentConfig, build_augment

            augment = build_augment(AugmentConfig(**config.data.augment_options))
        return td.ImageDataset(records, meta, num_classes=logits_size(meta) or 0, augment=augment)
    if cls is td.ClipDataset:
        _check_clip_length(records, meta)
        return td.ClipDataset(records, meta, norm=config.data.signal_norm.value)
    return cls(records, meta)


def _check_clip_length(records: Sequence[Any], meta: ModelMeta) -> None:
    if records and meta.temporal is not None and records[0].length != meta.temporal.frames:
        raise ConfigError(f"the data gives {records[0].length}-frame windows but model '{meta.model}' takes "
                          f"{meta.temporal.frames} frames", f"set model.frames={records[0].length} or data.options.window")


def loader(dataset: torch.utils.data.Dataset, *, batch: int, sampler: td.EpochSampler, workers: int) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(dataset, batch_size=batch, sampler=sampler, num_workers=workers,
                                       collate_fn=getattr(dataset, "collate", td.collate), drop_last=False, persistent_workers=False)


def build_loaders(config: TrainConfig, index: DatasetIndex, meta: ModelMeta, env: Env) -> Loaders:
    d, seed = config.data, config.runtime.seed
    train_records = limited(index.split(d.train_split), d.limit_train, seed)
    valid_records = limited(index.split(d.valid_split), d.limit_valid, seed)
    if not train_records or not valid_records:
        raise ConfigError(f"{index.root}: the '{d.train_split}' or '{d.valid_split}' split is empty",
                          "check the data path, the split names and the limits")
    n_classes = logits_size(meta) or 0
    weights = td.balanced_sample_weights(train_records, n_classes) if d.balance is Balance.SAMPLER else None
    class_weight = (torch.from_numpy(td.class_weights(train_records, n_classes))
                    if d.balance is Balance.WEIGHTS and n_classes else None)
    train_sampler = td.EpochSampler(len(train_records), seed=seed, weights=weights, rank=env.rank, world=env.world)
    valid_sampler = td.EpochSampler(len(valid_records), seed=seed, shuffle=False, rank=env.rank, world=env.world, pad=False)
    batch = config.optim.batch
    return Loaders(
        train=loader(make_dataset(train_records, meta, config, train=True), batch=batch, sampler=train_sampler, workers=d.workers),
        valid=loader(make_dataset(valid_records, meta, config, train=False), batch=batch, sampler=valid_sampler, workers=d.workers),
        class_weight=class_weight,
        prior=torch.from_numpy(class_prior(train_records, n_classes)) if n_classes else None,
    )


def class_prior(records: Sequence[Any], num_classes: int) -> np.ndarray:
    """Class frequencies of the records: the mean of their soft targets where they carry them (FER+ votes),
    else of their labels.  What the logit-adjusted loss corrects for."""
    rows = [np.asarray(r.target, np.float64) / max(float(np.sum(r.target)), 1e-8) for r in records
            if getattr(r, "target", None) is not None]
    if not rows:
        counts = td.class_counts(records, num_classes).astype(np.float64)
        return (counts / max(counts.sum(), 1.0)).astype(np.float32)
    return np.mean(rows, axis=0).astype(np.float32)


def eval_loader(records: Sequence[Any], meta: ModelMeta, config: TrainConfig, env: Env) -> torch.utils.data.DataLoader:
    sampler = td.EpochSampler(len(records), seed=0, shuffle=False, rank=env.rank, world=env.world, pad=False)
    return loader(make_dataset(records, meta, config, train=False), batch=config.optim.batch, sampler=sampler,
                  workers=config.data.workers)


OPTIMIZERS = {
    Optimizer.SGD: lambda p, o: torch.optim.SGD(p, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay),
    Optimizer.ADAM: lambda p, o: torch.optim.Adam(p, lr=o.lr, weight_decay=o.weight_decay),
    Optimizer.ADAMW: lambda p, o: torch.optim.AdamW(p, lr=o.lr, weight_decay=o.weight_decay),
}


def build_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    return OPTIMIZERS[config.optim.name](params, config.optim)


PER_BATCH = (Schedule.ONECYCLE,)  # schedules stepped after every batch rather than every epoch


def onecycle_warmup(warmup: float, total_steps: int) -> float:
    """OneCycleLR's ``pct_start`` for ``warmup`` of ``total_steps``.  OneCycleLR divides by zero when the
    warm-up is exactly one step (a short run: 1 epoch of 5 batches at 0.2) or every step (warmup=1): a warm-up
    shorter than two steps becomes none, and the last half step always anneals."""
    total = max(int(total_steps), 1)
    return 0.5 / total if warmup * total < 2 else min(warmup, 1.0 - 0.5 / total)


def build_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, *, maximize: bool,
                    steps_per_epoch: int = 1) -> Any:
    s = config.schedule
    table = {
        Schedule.NONE: lambda: None,
        Schedule.STEP: lambda: torch.optim.lr_scheduler.StepLR(optimizer, step_size=s.step_size, gamma=s.gamma),
        Schedule.PLATEAU: lambda: torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max" if maximize else "min", factor=s.factor, patience=s.patience),
        Schedule.COSINE: lambda: torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(s.epochs, 1)),
        Schedule.ONECYCLE: lambda: torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=config.optim.lr, epochs=max(s.epochs, 1), steps_per_epoch=max(steps_per_epoch, 1),
            pct_start=onecycle_warmup(s.warmup, max(s.epochs, 1) * max(steps_per_epoch, 1)), anneal_strategy="cos"),
    }
    return table[s.name]()


def complexity(model: torch.nn.Module, meta: ModelMeta) -> dict[str, Any]:
    """Parameters, parameters the forward pass uses and MACs of one forward pass (batch 1), for the model card."""
    from edgeaffect.train.complexity import count, count_parameters

    try:
        return dict(count(model, meta))
    except Exception as exc:  # the card is informative; never fail a finished run over it
        log.warning("complexity count failed: %s", exc)
        return {"parameters": count_parameters(model), "macs": None}
