"""``edgeaffect tune``: choose a trained classifier's prior correction, mirror averaging and framing on held-out data.

Three choices that need no retraining, each measured on the validation split (never on test):

1. **Prior correction** (logit adjustment, Menon et al. 2021): the logits plus ``tau * log(prior)``, prior =
   the training split's class frequencies.  ``tau < 0`` moves decisions towards rare classes.  The tau kept
   is the one with the highest UAR among those within ``max_accuracy_drop`` of the best accuracy of the grid
   (or at least ``min_accuracy``: the accuracy of the model it replaces), so recall of rare classes is
   bought only with little top-1.
2. **Mirror averaging and centre zoom**: the mean of the logits of a face and of its mirror image, and
   (``--zooms``) of its centre enlarged to the input size, kept when they raise the same criterion.
3. **Framing** (``framing_search``): faces pasted into frames through the real detector, the crop scale and
   vertical shift with the best UAR.

With several runs the model tuned is their ensemble (``models.ensemble``: the mean of their logits).
The result is a new run folder whose checkpoint builds the correction and averaging into the graph
(``ModelMeta.adjust``) and records the framing (``ModelMeta.framing``), so every export and every backend
applies them identically; ``tune.json`` holds every table measured.
"""
from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from edgeaffect.errors import ConfigError, ModelError
from edgeaffect.meta import HeadKind, LogitAdjust, ModelMeta

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class TuneOptions:
    run: str  # run folder or checkpoint of a classifier
    members: tuple[str, ...] = ()  # further runs: the tuned model is the mean of all their logits (an ensemble)
    out: str  # the tuned run folder (new)
    data: str = ""  # default: the data the run was trained on
    split: str = "valid"
    which: str = "best"
    taus: tuple[float, ...] = (-1.0, -0.75, -0.5, -0.375, -0.25, -0.125, 0.0, 0.25)
    hflip: str = "auto"  # auto | on | off
    zooms: tuple[float, ...] = (1.0,)  # centre zooms to try averaged in (1 = the input alone)
    max_accuracy_drop: float = 0.005
    min_accuracy: float | None = None  # instead: every row at least this accurate is a candidate (e.g. the model it replaces)
    framing: bool = True
    framing_faces: int = 800
    scales: tuple[float, ...] = (0.8, 0.9, 1.0, 1.1, 1.2, 1.3)
    shifts_y: tuple[float, ...] = (-0.05, 0.0, 0.05)
    seed: int = 0


@dataclass(frozen=True)
class AdjustRow:
    tau: float
    hflip: bool
    accuracy: float
    uar: float
    macro_f1: float
    recall: tuple[float, ...]
    zoom: float = 1.0


@dataclass(frozen=True)
class TuneResult:
    out: str
    split: str
    samples: int
    prior: tuple[float, ...]
    chosen: AdjustRow
    adjust_rows: list[AdjustRow] = field(default_factory=list)
    framing_rows: list[Any] = field(default_factory=list)
    framing: dict[str, float] = field(default_factory=dict)


def _batches(model: torch.nn.Module, x: np.ndarray, size: int = 256) -> np.ndarray:
    with torch.no_grad():
        return torch.cat([model(torch.from_numpy(x[i:i + size]))[0].float() for i in range(0, len(x), size)]).numpy()


def score_rows(views: dict[float, tuple[np.ndarray, np.ndarray]], y: np.ndarray, prior: np.ndarray,
               taus: Sequence[float], flips: Sequence[bool], zooms: Sequence[float]) -> list[AdjustRow]:
    """Accuracy, UAR, macro-F1 and per-class recall for every (zoom, hflip, tau).  ``views`` maps each zoom to the
    (plain, mirrored) logits of that view; 1.0 is the input itself, averaged into every other zoom's row."""
    from edgeaffect import metrics

    rows = []
    for zoom in zooms:
        for flip in flips:
            seen = [views[1.0]] + ([views[zoom]] if zoom < 1.0 else [])
            z = np.mean([v for plain, mirrored in seen for v in ((plain, mirrored) if flip else (plain,))], axis=0)
            n = z.shape[1]
            for tau in taus:
                pred = (z + float(tau) * np.log(prior)).argmax(1)
                recall = tuple(float(np.mean(pred[y == c] == c)) if np.any(y == c) else float("nan") for c in range(n))
                rows.append(AdjustRow(tau=float(tau), hflip=bool(flip), accuracy=metrics.accuracy(y, pred),
                                      uar=metrics.uar(y, pred), macro_f1=metrics.macro_f1(y, pred, num_classes=n),
                                      recall=recall, zoom=float(zoom)))
    return rows


def choose(rows: Sequence[AdjustRow], max_accuracy_drop: float, min_accuracy: float | None = None) -> AdjustRow:
    """Highest UAR among the rows within ``max_accuracy_drop`` of the best accuracy, or, with
    ``min_accuracy``, among the rows at least that accurate (the best-accuracy row when none is)."""
    best_acc = max(r.accuracy for r in rows)
    floor = best_acc - max_accuracy_drop if min_accuracy is None else min(min_accuracy, best_acc)
    fair = [r for r in rows if r.accuracy >= floor]
    return max(fair, key=lambda r: (round(r.uar, 4), r.accuracy))


def tune(opts: TuneOptions) -> TuneResult:
    from edgeaffect.data import open_dataset
    from edgeaffect.preprocess import prepare_batch
    from edgeaffect.train.builders import class_prior
    from edgeaffect.train.checkpoint import load_checkpoint, model_from_checkpoint, raw_model_from_checkpoint
    from edgeaffect.train.models.common import centre_zoom
    from edgeaffect.train.recipes import data_path
    from edgeaffect.train.config import TrainConfig
    from edgeaffect.train.evaluate import warn_if_trained_on

    if opts.hflip not in ("auto", "on", "off"):
        raise ConfigError(f"--hflip {opts.hflip!r} is not auto, on or off", "use --hflip auto")
    if not opts.zooms or any(not 0.5 <= z <= 1.0 for z in opts.zooms):
        raise ConfigError(f"--zooms {','.join(map(str, opts.zooms))}: each centre zoom lies in [0.5, 1]",
                          "use e.g. --zooms 1,0.9,0.8 (1 = the input alone)")
    ckpt = load_checkpoint(opts.run, which=opts.which)
    if opts.members:
        from edgeaffect.train.models.ensemble import ensemble_checkpoint

        ckpt = ensemble_checkpoint([ckpt, *(load_checkpoint(r, which=opts.which) for r in opts.members)])
    meta = ModelMeta.from_dict(ckpt["meta"])
    if len(meta.heads) != 1 or meta.heads[0].kind is not HeadKind.LOGITS:
        raise ModelError(f"tune chooses a classifier's prior correction; {opts.run} is a {meta.task.value} model",
                         "tune a single-head expression classifier")
    raw = raw_model_from_checkpoint(ckpt).eval().float()
    config = TrainConfig.from_dict(ckpt["config"])
    warn_if_trained_on(ckpt["config"], opts.data, opts.split, opts.run,
                       "choices measured there fit training data; tune on a held-out split (--split)")
    root = opts.data or str(data_path(config))
    index = open_dataset(root, format=config.data.format, **config.data.options)
    if tuple(index.classes) != tuple(meta.labels):
        raise ModelError(f"tune needs the model's own classes; {root} has {list(index.classes)}",
                         "pass --data with the dataset the run was trained on")
    records = [r for r in index.split(opts.split) if r.label is not None]
    if not records:
        raise ConfigError(f"{root} has no labelled '{opts.split}' split", "pass --split valid (a held-out split)")
    prior = np.clip(class_prior(index.split(config.data.train_split), len(meta.labels)), 1e-4, None).astype(np.float64)
    prior /= prior.sum()  # a class absent from train keeps a finite log
    x, y = prepare_batch([r.read_image() for r in records], meta), np.asarray([r.label for r in records])
    views = {}
    for zoom in dict.fromkeys((1.0, *opts.zooms)):  # the input first: every zoomed row averages it in
        zx = x if zoom >= 1.0 else centre_zoom(torch.from_numpy(x), zoom).numpy()
        views[zoom] = (_batches(raw, zx), _batches(raw, np.ascontiguousarray(zx[..., ::-1])))
    flips = {"auto": (False, True), "on": (True,), "off": (False,)}[opts.hflip]
    rows = score_rows(views, y, prior, opts.taus, flips, tuple(dict.fromkeys(opts.zooms)))
    chosen = choose(rows, opts.max_accuracy_drop, opts.min_accuracy)
    adjust = LogitAdjust(tau=chosen.tau, prior=tuple(float(p) for p in prior), hflip=chosen.hflip, zoom=chosen.zoom)
    tuned = model_from_checkpoint({**ckpt, "build_kwargs": {**ckpt["build_kwargs"], "adjust": adjust.__dict__.copy()}}).eval()
    tuned.meta = meta.evolve(adjust=adjust)
    framing_rows, framing = [], {}
    if opts.framing:
        from edgeaffect.train.framing_search import best_framing, framing_for, paste_faces, search_framing

        pick = np.random.default_rng(opts.seed).permutation(len(records))[:opts.framing_faces]
        pasted = paste_faces([records[i] for i in sorted(pick)], seed=opts.seed)
        framing_rows = search_framing(pasted, tuned.meta, lambda b: _batches(tuned, b), scales=opts.scales,
                                      shifts_y=opts.shifts_y, detector=(meta.framing.detector if meta.framing else "yunet"))
        best = best_framing(framing_rows)
        tuned.meta = tuned.meta.evolve(framing=framing_for(best.scale, best.shift_y, meta.framing))
        framing = {"scale": best.scale, "shift_y": best.shift_y, "uar": best.uar, "accuracy": best.accuracy}
    result = TuneResult(out=opts.out, split=opts.split, samples=len(records), prior=adjust.prior, chosen=chosen,
                        adjust_rows=rows, framing_rows=framing_rows, framing=framing)
    _write_run(opts, ckpt, tuned.meta, adjust, result)
    return result


def _write_run(opts: TuneOptions, ckpt: dict[str, Any], meta: ModelMeta, adjust: LogitAdjust, result: TuneResult) -> None:
    """The tuned run folder, written beside its target and moved into place whole."""
    import tempfile

    import yaml

    from edgeaffect.io import atomic_write_json
    from edgeaffect.plain import to_plain

    out = Path(opts.out)
    options = {**ckpt["config"]["model"].get("options", {}), "adjust": to_plain(adjust)}
    config = {**ckpt["config"], "model": {**ckpt["config"]["model"], "options": options}}
    payload = {**ckpt, "build_kwargs": {**ckpt["build_kwargs"], "adjust": to_plain(adjust)}, "meta": meta.to_dict(),
               "config": config, "optimizer": None, "scheduler": None, "rng": None,
               "state": {k: v for k, v in (ckpt.get("state") or {}).items() if k == "pruned"}}
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        torch.save(payload, staging / "best.pt")
        meta.save(staging / "meta.json")
        (staging / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        atomic_write_json(staging / "tune.json", to_plain(result))
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def format_result(r: TuneResult) -> str:
    lines = [f"prior correction, mirror averaging and centre zoom on {r.samples} '{r.split}' faces (rows within the "
             "accuracy budget are candidates; * = chosen):",
             f"  {'tau':>6} {'hflip':>5} {'zoom':>4} {'accuracy':>8} {'UAR':>6} {'macro-F1':>8}   recall per class"]
    for row in r.adjust_rows:
        mark = "*" if row == r.chosen else " "
        lines.append(f"{mark} {row.tau:>6.3f} {str(row.hflip):>5} {row.zoom:>4.2f} {row.accuracy:>8.4f} {row.uar:>6.4f} "
                     f"{row.macro_f1:>8.4f}   " + " ".join(f"{v:.2f}" for v in row.recall))
    if r.framing_rows:
        lines.append("framing (faces pasted into 640x480 frames, through the detector; misses count as wrong):")
        lines.append(f"  {'scale':>6} {'shift_y':>7} {'top-1':>6} {'UAR':>6} found")
        for row in r.framing_rows:
            mark = "*" if (row.scale, row.shift_y) == (r.framing["scale"], r.framing["shift_y"]) else " "
            lines.append(f"{mark} {row.scale:>6.2f} {row.shift_y:>7.2f} {row.accuracy:>6.3f} {row.uar:>6.3f} "
                         f"{row.found}/{row.total}")
    lines.append(f"wrote {r.out}")
    return "\n".join(lines)
