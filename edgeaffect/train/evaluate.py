"""``edgeaffect eval``: score a trained run or checkpoint on a dataset split.

The model is rebuilt from its checkpoint, the data read through the same
readers and preprocessing as in training, and the studies' metrics computed
by the same code as the validation pass (``loop.evaluate``).  When the data
is the run's own, the reader options it was trained with (e.g. the FER+ label
mode) are reused.

Any labelled set whose classes are a subset of the model's is scored
(cross-data-set evaluation): classes are matched by name through the one alias
table (``edgeaffect.data.classes``, ``happy/`` -> happiness) and ``class_map``,
and the scores come two ways, over all the model's classes and restricted to
the set's (``restricted_*``).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgeaffect.errors import ConfigError, DataError

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class EvalOptions:
    checkpoint: str  # run folder or .pt file
    data: str = ""  # dataset folder; empty = the data the run was trained on
    split: str = "test"
    format: str | None = None
    options: dict = field(default_factory=dict)  # reader options; default: the run's when the data is the run's
    class_map: dict = field(default_factory=dict)  # data class -> model class (or "skip"): --class-map
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
    loss: float | None  # None for a bundle (scored by its runtime, which has no loss)
    metrics: dict[str, float]  # flat: accuracy, macro_f1, uar, ..., eda_pearson, valence_ccc; restricted_*
    reports: dict[str, Any]  # per head: per-class scores, confusion matrix, ...; "<head>.restricted"
    classes: dict[str, str] = field(default_factory=dict)  # data class -> model class, when they differ

    def to_dict(self) -> dict[str, Any]:
        from edgeaffect.plain import to_plain

        return to_plain(self)


def _own_data(base: dict[str, Any], data: Any) -> bool:
    """Whether ``data`` (empty: none given) is the data set the run's config ``base`` trained on."""
    def where(path: Any) -> Path:  # not recipes.data_path: an unset variable here just means another folder
        return Path(os.path.expandvars(str(path))).expanduser().resolve()  # a recipe's path names $EDGEAFFECT_DATA

    path = (base.get("data") or {}).get("path")
    return not data or bool(path and where(data) == where(path))


def trained_on(base: dict[str, Any], data: Any, split: str) -> list[str]:
    """The parts of ``split`` (``valid+test``) the run trained on, when ``data`` is its own data set (empty: none)."""
    if not _own_data(base, data):
        return []
    trained = set(str((base.get("data") or {}).get("train_split") or "train").split("+"))
    return [part for part in split.split("+") if part in trained]


def warn_if_trained_on(base: dict[str, Any], data: Any, split: str, run: Any, doing: str) -> None:
    seen = trained_on(base, data, split)
    if seen:
        log.warning("%s trained on %s (data.train_split=%s): %s", run, " and ".join(f"'{p}'" for p in seen),
                    base["data"].get("train_split"), doing)


def eval_config(opts: EvalOptions, ckpt: dict[str, Any]) -> Any:
    """The run's TrainConfig, pointed at the data and split to score."""
    from edgeaffect.train.config import TrainConfig, merge

    base = ckpt["config"]
    same_data = _own_data(base, opts.data)
    # Scored per image as at run time (no in-memory batches: the resize study degrades each crop), in
    # float32, the precision the exported model computes in, whatever autocast trained it.
    data: dict[str, Any] = {"test_split": opts.split, "limit_test": opts.limit, "augment": False, "in_memory": False}
    if opts.data:
        data.update(path=str(opts.data), synthetic="", format=opts.format or (base["data"]["format"] if same_data else None))
    if opts.options or not same_data:
        data["options"] = dict(opts.options)
    top = {"data": data, "optim": {"batch": opts.batch},
           "runtime": {"device": opts.device, "resume": False, "out": "", "progress": opts.progress, "precision": "fp32"}}
    merged = merge(base, top)
    if opts.class_map:  # readers that name classes from folder names take it too (data.classes)
        merged["data"] = {**merged["data"], "options": {**(merged["data"].get("options") or {}),
                                                        "class_map": dict(opts.class_map)}}
    return TrainConfig.from_dict(merged)


def load_for_eval(opts: EvalOptions) -> tuple[Any, Any, Any, Any]:
    """(model, meta, config, dataset index) with the data checked against the model."""
    from edgeaffect.train import builders
    from edgeaffect.train.checkpoint import load_checkpoint, model_from_checkpoint

    ckpt = load_checkpoint(opts.checkpoint, which=opts.which)
    model = model_from_checkpoint(ckpt).eval()
    warn_if_trained_on(ckpt["config"], opts.data, opts.split, opts.checkpoint,
                       "these are training figures, not a held-out score")
    config = eval_config(opts, ckpt)
    index = builders.open_data(config)
    labelled = bool(model.meta.labels) and builders.logits_size(model.meta) is not None and bool(index.classes)
    builders.check_fit(model.meta, index, source=f"checkpoint {opts.checkpoint}", subset=labelled)
    if any(part not in index.splits for part in opts.split.split("+")):
        raise ConfigError(f"{index.root} has no '{opts.split}' split",
                          f"choose one of: {', '.join(index.splits)} (or join them: valid+test)")
    if labelled:
        from edgeaffect.data.classes import model_view

        index, _ = model_view(index, model.meta.labels, split=opts.split, class_map=opts.class_map,
                              model=f"{opts.checkpoint} ('{model.meta.model}')")
    elif opts.class_map:
        raise ConfigError("--class-map needs a classifier with labels and a data set with classes",
                          "drop --class-map")
    return model, model.meta, config, index


def set_classes(index: Any) -> tuple[int, ...] | None:
    """The model-label indices the data set covers, when fewer than the model's (None: score as usual)."""
    match = index.info.get("class_match")
    return match.classes if match is not None and match.subset else None


def score_records(model: Any, meta: Any, config: Any, records: list[Any], *,
                  degrade: Callable[[np.ndarray], np.ndarray] | None = None, desc: str = "eval",
                  classes: tuple[int, ...] | None = None) -> Any:
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
                    desc=desc, progress=config.runtime.progress, classes=classes)


def is_bundle(path: str | Path) -> bool:
    """A folder with a bundle manifest and no checkpoint: scored by its own runtime (``evaluate_bundle``)."""
    from edgeaffect.bundle import MANIFEST

    folder = Path(path).expanduser()
    return (folder.is_dir() and (folder / MANIFEST).is_file()
            and not any((folder / name).is_file() for name in ("best.pt", "last.pt")))


def evaluate_bundle(opts: EvalOptions) -> EvalReport:
    """An exported bundle scored by its own backend, torch-free: faces prepared as the runtime prepares them
    (the bench's native cell), scored by the same code as a checkpoint.  No loss (the bundle has no loss)."""
    from edgeaffect.bench.accuracy import ResizeCase, predict
    from edgeaffect.bench.run import BenchConfig, model_data
    from edgeaffect.bench.samples import load_samples
    from edgeaffect.data import open_dataset
    from edgeaffect.runtime.loader import open_model
    from edgeaffect.train.scoring import score

    if not opts.data:
        raise ConfigError(f"{opts.checkpoint} is a bundle, which does not record the data it was trained on",
                          "pass --data DATASET")
    loaded = open_model(opts.checkpoint)
    meta = loaded.bundle.meta
    bench = BenchConfig(bundles=(Path(opts.checkpoint),), data=Path(opts.data).expanduser(), split=opts.split,
                        data_format=opts.format, data_options=dict(opts.options), class_map=dict(opts.class_map))
    index = open_dataset(bench.data, format=opts.format, class_map=dict(opts.class_map), **opts.options)
    view, classes = model_data(index, meta, bench, str(opts.checkpoint))
    samples = load_samples(view, opts.split, meta, limit=opts.limit or None, classes=classes)
    check_scorable(index, opts.split, len(samples))
    outputs = predict(loaded.backend, meta, samples, ResizeCase(None, meta.interpolation, meta.interpolation),
                      batch=opts.batch)
    targets = {name: value for name, value in (("label", samples.labels), ("valence", samples.valence),
                                               ("arousal", samples.arousal), ("signal", samples.signal))
               if value is not None}
    flat, reports = score(meta, {h.name: o for h, o in zip(meta.heads, outputs)}, targets, classes=classes)
    match = view.info.get("class_match")
    return EvalReport(checkpoint=str(opts.checkpoint), data=str(index.root), split=opts.split, samples=len(samples),
                      dropped=samples.skipped, loss=None, metrics=flat, reports=with_intervals(reports),
                      classes=_named(match, index))


def check_scorable(index: Any, split: str, count: int) -> None:
    """Say what the reader skipped, and refuse to report figures of nothing.

    Why: a label file with a column missing, or every image corrupt, scored "0 samples, loss nan" and
    exited 0; rows the reader skipped (negative votes, missing images) were left out without a word.
    """
    skipped = len(getattr(index, "skipped", ()))
    if skipped:
        log.warning("%d entries of %s were skipped as unreadable and are not scored; 'edgeaffect data inspect %s' "
                    "lists them with their reasons", skipped, index.root, index.root)
    if count == 0:
        raise DataError(f"no sample of {index.root} [{split}] could be scored"
                        + (f" ({skipped} entries skipped as unreadable)" if skipped else ""),
                        f"run 'edgeaffect data inspect {index.root}' to see what is wrong with its files")


def with_intervals(reports: dict[str, Any]) -> dict[str, Any]:
    """Each class's recall with its bootstrap 95 % interval, from the confusion matrix's row (its hits and
    faces).  Here, once per ``eval``, not in every validation pass of a training run, where nobody reads it."""
    from edgeaffect.metrics import recall_interval

    out = dict(reports)
    for head, rep in reports.items():
        if not isinstance(rep, dict) or "confusion" not in rep or "per_class" not in rep:
            continue
        per_class = {}
        for i, (lab, c) in enumerate(rep["per_class"].items()):
            row = rep["confusion"][i] if i < len(rep["confusion"]) else []
            per_class[lab] = {**c, "recall_ci95": list(recall_interval(int(row[i]) if row else 0, int(sum(row))))}
        out[head] = {**rep, "per_class": per_class}
    return out


def _named(match: Any, index: Any) -> dict[str, str]:
    """``{data class: model class}`` in the data's own spelling (``happy`` -> happiness), when they differ."""
    if match is None or match.identity:
        return {}
    spelled = index.info.get("folder_names") or {}
    return {next((f for f, c in spelled.items() if c == d), d): m for d, m in match.named().items()}


def evaluate_checkpoint(opts: EvalOptions) -> EvalReport:
    if is_bundle(opts.checkpoint):  # before anything imports torch: a device scores its bundle without it
        return evaluate_bundle(opts)
    from edgeaffect.train import builders

    model, meta, config, index = load_for_eval(opts)
    records = builders.limited(index.split(opts.split), opts.limit, config.runtime.seed)
    result = score_records(model, meta, config, records, desc=opts.split, classes=set_classes(index))
    check_scorable(index, opts.split, result.samples)  # after decoding: every image may be corrupt
    return EvalReport(checkpoint=str(opts.checkpoint), data=str(index.root), split=opts.split, samples=result.samples,
                      dropped=result.dropped, loss=result.loss, metrics=result.metrics,
                      reports=with_intervals(result.reports),
                      classes=_named(index.info.get("class_match"), index))


def _interval(per_class: dict) -> str:
    low, high = per_class.get("recall_ci95") or (None, None)
    return "" if low is None or low != low else f" [{low:.2f}-{high:.2f}]"


def format_report(report: EvalReport) -> str:
    from edgeaffect.data.classes import SKIP
    from edgeaffect.train.scoring import RESTRICTED_PREFIX

    lines = [f"{report.checkpoint} on {report.data} [{report.split}]: {report.samples} samples"
             + (f" ({report.dropped} unreadable, skipped)" if report.dropped else "")]
    renamed = {d: m for d, m in report.classes.items() if d != m}
    if renamed:
        lines.append("  classes (data -> model): " + ", ".join(f"{d} -> {m}" for d, m in renamed.items()))
    if report.loss is not None:  # a bundle has no loss
        lines.append(f"  {'loss':<20} {report.loss:.4f}")
    plain = {k: v for k, v in report.metrics.items() if not k.startswith(RESTRICTED_PREFIX)}
    restricted = {k: v for k, v in report.metrics.items() if k.startswith(RESTRICTED_PREFIX)}
    if restricted:
        lines.append("  argmax over all the model's classes (a prediction outside the set counts wrong):")
    lines += [f"  {k:<20} {v:.4f}" for k, v in plain.items()]
    if restricted:
        kept = sorted({m for m in report.classes.values() if m != SKIP})
        lines.append(f"  argmax restricted to the set's {len(kept)} classes ({', '.join(kept)}):")
        lines += [f"  {k:<20} {v:.4f}" for k, v in restricted.items()]
    for head, rep in report.reports.items():
        if isinstance(rep, dict) and "per_class" in rep:
            shown = {lab: c for lab, c in rep["per_class"].items() if c["support"] or not restricted}
            lines.append(f"  per class ({head}): " + ", ".join(
                (f"{lab} recall {c['recall']:.3f}{_interval(c)} F1 {c['f1']:.3f} (n={c['support']})" if c["support"]
                 else f"{lab}: no sample (n=0)")  # a recall of 0.000 read as a class the model never gets right
                for lab, c in shown.items()))
    return "\n".join(lines)
