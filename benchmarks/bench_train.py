"""Training throughput on this CPU: DDAMFN at 112x112, fp32 vs bf16 autocast vs channels_last.

All variants run side by side in one process, interleaved round by round (so a
noisy neighbour slows them alike), each on the same model and batch; the
median images/second per variant and the ratios to fp32 are printed.

    python benchmarks/bench_train.py [--batch 16] [--rounds 3] [--steps 2] [--threads 0]
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import statistics
import time

import torch

from edgeaffect.train.distributed import cpu_supports_bf16
from edgeaffect.train.registry import create_model

VARIANTS = {  # name -> (autocast dtype or None, channels_last)
    "fp32": (None, False),
    "bf16 autocast": (torch.bfloat16, False),
    "channels_last": (None, True),
    "bf16 + channels_last": (torch.bfloat16, True),
}


def step_time(model: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
              dtype: torch.dtype | None, steps: int) -> float:
    cast = torch.autocast("cpu", dtype=dtype) if dtype is not None else contextlib.nullcontext()
    started = time.perf_counter()
    for _ in range(steps):
        with cast:
            logits = model(x)[0]
            loss = torch.nn.functional.cross_entropy(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (time.perf_counter() - started) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    base = create_model("ddamfn")
    x = torch.randn(args.batch, *base.meta.input_shape()[1:])
    y = torch.randint(0, base.meta.num_classes, (args.batch,))
    runs = {}
    for name, (dtype, cl) in VARIANTS.items():
        if dtype is torch.bfloat16 and not cpu_supports_bf16():
            print(f"skip {name}: this CPU has no fast bfloat16")
            continue
        model = copy.deepcopy(base).train()
        xx = x
        if cl:
            model = model.to(memory_format=torch.channels_last)
            xx = x.contiguous(memory_format=torch.channels_last)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        step_time(model, opt, xx, y, dtype, 1)  # warm-up: oneDNN picks kernels on the first call
        runs[name] = (model, opt, xx, dtype, [])
    for r in range(args.rounds):
        for name, (model, opt, xx, dtype, times) in runs.items():
            times.append(step_time(model, opt, xx, y, dtype, args.steps))
        print(f"round {r + 1}/{args.rounds} done", flush=True)
    print(f"\nDDAMFN 112x112 training (forward+backward+SGD step), batch {args.batch}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    ref = args.batch / statistics.median(runs["fp32"][4])
    print(f"{'variant':<24}{'images/s':>10}{'vs fp32':>10}")
    for name, (*_, times) in runs.items():
        ips = args.batch / statistics.median(times)
        print(f"{name:<24}{ips:>10.2f}{ips / ref:>9.2f}x")


if __name__ == "__main__":
    main()
