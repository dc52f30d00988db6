"""Pruned (30 % channels) vs unpruned DDAMFN, side by side in one run: parameters, MACs and MEASURED latency
in torch eager, ONNX Runtime and OpenVINO (fp32 IR forced to f32, and the plugin default), with the ratios.

    python benchmarks/bench_prune.py [--run RUN_DIR] [--ratio 0.3] [--rounds 60] [--threads 2]

Latencies are taken in interleaved rounds (every variant once per round) so
other load on the machine hits both models alike.  Batch 1, 112x112.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from edgeaffect.bench.latency import interleaved_ms
from edgeaffect.compress.prune import prune_model
from ddamfn_side_by_side import open_variant, parser, start  # benchmarks/ is on sys.path

RUNTIMES = (  # label, format, backend options
    ("onnxruntime", "onnx", {}),
    ("openvino f32", "openvino", {"inference_precision": "fp32"}),
    ("openvino default", "openvino", {}),
)


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--ratio", type=float, default=0.3, help="share of the channels to prune")
    args, model, meta = start(ap)

    import torch

    example = (torch.zeros(meta.input_shape(1)),)
    t0 = time.perf_counter()
    result = prune_model(model, example, ratio=args.ratio)
    print(f"pruned {args.ratio:.0%} of the channels in {time.perf_counter() - t0:.1f} s "
          f"({len(result.ignored)} layers kept whole)")
    models = {"unpruned": model, "pruned": result.model.eval()}

    x = np.random.default_rng(0).standard_normal(meta.input_shape(1)).astype(np.float32)
    xt = torch.from_numpy(x)
    runners: dict[tuple[str, str], object] = {}
    tmp = tempfile.TemporaryDirectory(prefix="edgeaffect-bench-prune-")
    exported: dict[Path, list[str]] = {}
    for name, m in models.items():
        runners[("torch eager", name)] = (lambda m=m: m(xt))
        for label, fmt, opts in RUNTIMES:
            backend = open_variant(m, meta, Path(tmp.name, f"{name}-{fmt}"), fmt, "fp32", threads=args.threads,
                                   exported=exported, **opts)
            runners[(label, name)] = (lambda b=backend: b.infer(x))

    with torch.inference_mode():
        times = interleaved_ms(runners, warmup=args.warmup, rounds=args.rounds)
    tmp.cleanup()

    print(f"\nDDAMFN 112x112 batch 1, {args.threads} threads, {args.rounds} interleaved rounds")
    print(f"{'':18s} {'unpruned':>12s} {'pruned':>12s} {'ratio':>7s}")
    print(f"{'params':18s} {result.params_before:12,d} {result.params_after:12,d} {result.param_ratio:7.3f}")
    print(f"{'MACs':18s} {result.macs_before:12,d} {result.macs_after:12,d} {result.mac_ratio:7.3f}")
    for label in ["torch eager"] + [r[0] for r in RUNTIMES]:
        a, b = (float(np.median(times[(label, n)])) for n in ("unpruned", "pruned"))
        pa, pb = (float(np.percentile(times[(label, n)], 95)) for n in ("unpruned", "pruned"))
        print(f"{label + ' p50 ms':18s} {a:12.2f} {b:12.2f} {b / a:7.3f}   (p95 {pa:.2f} -> {pb:.2f}; speedup x{a / b:.2f})")


if __name__ == "__main__":
    main()
