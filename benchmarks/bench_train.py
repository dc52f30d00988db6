"""Training throughput on this CPU: the study's DDAMFN recipe against the shipped default's, side by side.

Each configuration is built from its recipe through the trainer's own builders (model, data set,
augmentation, optimiser, precision, memory format) and timed over whole training iterations:
fetching and augmenting a batch, forward, loss, backward and optimiser step.  The configurations
run interleaved round by round in one process, so a noisy neighbour slows them alike; the median
images/second per configuration and the ratio to the first are printed.

* ``ddamfn-ferplus``: DDAMFN at 112x112 RGB, fp32, per-image decode + torchvision augmentation;
* ``ferplus-default``: slim ResNet-18 at 64x64 gray, bf16 autocast + channels_last, the split decoded
  once into memory and augmented a batch at a time (the decode is timed once, apart);
* ``ferplus-balanced``: the balanced default's fine-tuning stage (the same model and data path; its
  logit-adjusted loss adds one vector to the logits, so it trains at the default's rate);
* ``ferplus-default + torch.compile`` (``--compile``): the same, compiled;
* ``ferplus-balanced + teacher`` (``--teacher RUN``): the balanced recipe distilled from ``RUN`` (the
  shipped default v3 was trained so, from an ensemble of three networks): the teacher's forward
  pass is part of every step.

Every configuration's loss is the trainer's own (``MultiTaskLoss``: soft vote targets, logit
adjustment, distillation), through the trainer's ``TrainStep``.

``--recipes`` picks a subset (e.g. ``--recipes ferplus-default,ferplus-balanced``).  A whole run's
wall time is its images per epoch over this rate plus the per-epoch validation; the trainer's
``metrics.csv`` records each epoch's seconds.

Data: FER+ from ``$EDGEAFFECT_DATA/ferplus`` (train split), else the built-in synthetic faces.

    python benchmarks/bench_train.py [--batch 64] [--rounds 3] [--steps 2] [--threads 0] [--compile] [--teacher RUN]
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from edgeaffect.train import builders
from edgeaffect.train.distributed import setup
from edgeaffect.train.distill import Teacher
from edgeaffect.train.loop import TrainStep, model_inputs, to_device
from edgeaffect.train.losses import MultiTaskLoss
from edgeaffect.train.recipes import resolve_config


def data_root() -> tuple[Path, dict]:
    env = os.environ.get("EDGEAFFECT_DATA")
    if env and (Path(env) / "ferplus").is_dir():
        return Path(env) / "ferplus", {"mode": "majority", "votes": True}
    from edgeaffect.data.synthetic import write_synthetic_faces

    out = Path(tempfile.mkdtemp(prefix="bench-train-")) / "faces"
    return write_synthetic_faces(out, per_class=64, size=112, aligned=True, per_subject=1), {}


class Config:
    """One recipe made ready to train: model, optimiser, loader iterator, precision."""

    def __init__(self, recipe: str, data: Path, options: dict, batch: int, limit: int, compile_model: bool,
                 threads: int, loss: dict | None = None) -> None:
        overrides = {"data": {"path": str(data), "options": options, "limit_train": limit},
                     "optim": {"batch": batch}, "runtime": {"progress": False, "threads": threads}, "loss": loss or {}}
        self.config = config = resolve_config(recipe, overrides)
        self.env = setup(config.runtime)
        index = builders.open_data(config)
        torch.manual_seed(0)
        model = builders.build_model(config, index)
        self.meta = model.meta
        if self.env.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model.train()
        step = TrainStep(self.model, use_aux=bool(config.loss.aux_weight))
        self.step_fn = torch.compile(step) if compile_model else step
        self.opt = builders.build_optimizer(model, config)
        records = builders.limited(index.split(config.data.train_split), limit, 0)
        teacher = Teacher(config.loss.teacher, self.meta, device=self.env.device) if config.loss.teacher else None
        n = builders.logits_size(self.meta) or 0
        prior = torch.from_numpy(builders.class_prior(records, n)) if n else None
        self.loss_fn = MultiTaskLoss(self.meta, config.loss, None, prior, teacher).to(self.env.device)
        started = time.perf_counter()
        dataset = builders.make_dataset(records, self.meta, config, train=True)
        self.prepare_seconds = time.perf_counter() - started
        sampler = __import__("edgeaffect.train.torch_data", fromlist=["EpochSampler"]).EpochSampler(len(dataset), seed=0)
        self.loader = builders.loader(dataset, batch=batch, sampler=sampler, workers=0)
        self.batches = iter(())

    def next_batch(self) -> dict:
        batch = next(self.batches, None)
        if batch is None:
            self.batches = iter(self.loader)
            batch = next(self.batches)
        batch.pop("dropped", None)
        return to_device(batch, self.env)

    def seconds_per_step(self, steps: int) -> tuple[float, int]:
        started, seen = time.perf_counter(), 0
        for _ in range(steps):
            batch = self.next_batch()
            with self.env.autocast():
                outputs, aux = self.step_fn(*model_inputs(batch, self.meta))
                loss, _ = self.loss_fn(outputs, batch, aux, train=True)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            seen += len(batch["label"])
        return time.perf_counter() - started, seen


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--limit", type=int, default=2048, help="training images each configuration holds")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--compile", action="store_true", help="also time the default configuration under torch.compile")
    ap.add_argument("--recipes", default="ddamfn-ferplus,ferplus-default,ferplus-balanced")
    ap.add_argument("--teacher", default="", help="also time ferplus-balanced distilled from this run (loss.distill 0.5)")
    args = ap.parse_args()
    data, options = data_root()
    plan = [("ddamfn-ferplus", "ddamfn-ferplus", {"mode": "majority"}, False, None),
            ("ferplus-default", "ferplus-default", options, False, None),
            ("ferplus-balanced", "ferplus-balanced", options, False, None)]
    plan = [p for p in plan if p[0] in args.recipes.split(",")]
    if args.compile:
        plan.append(("ferplus-default + torch.compile", "ferplus-default", options, True, None))
    if args.teacher:
        plan.append(("ferplus-balanced + teacher", "ferplus-balanced", options, False,
                     {"teacher": args.teacher, "distill": 0.5}))
    configs = {}
    for name, recipe, opts, compiled, loss in plan:
        configs[name] = Config(recipe, data, opts, args.batch, args.limit, compiled, args.threads, loss)
        configs[name].seconds_per_step(1)  # warm-up: oneDNN picks kernels (and compile traces) on the first call
    rates: dict[str, list[float]] = {name: [] for name in configs}
    for r in range(args.rounds):
        for name, cfg in configs.items():
            seconds, seen = cfg.seconds_per_step(args.steps)
            rates[name].append(seen / seconds)
        print(f"round {r + 1}/{args.rounds} done", flush=True)
    print(f"\nTraining iterations (batch fetch + augmentation + forward + backward + step), batch {args.batch}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}, data {data}")
    first = statistics.median(next(iter(rates.values())))
    print(f"{'configuration':<34}{'input':>14}{'precision':>11}{'images/s':>10}{'ratio':>8}{'prepare s':>11}")
    for name, cfg in configs.items():
        ips = statistics.median(rates[name])
        m = cfg.meta
        size = f"{m.input_size[0]}x{m.input_size[1]} {m.color.value}"
        precision = cfg.env.precision.value.replace("auto", "fp32")  # what ran: bf16 falls back to fp32 on a CPU without it
        print(f"{name:<34}{size:>14}{precision:>11}{ips:>10.1f}{ips / first:>7.1f}x"
              f"{cfg.prepare_seconds:>11.1f}")


if __name__ == "__main__":
    main()
