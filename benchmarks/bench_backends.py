"""Every backend x precision on THIS machine, side by side in one run, for one model (DDAMFN 112x112, batch 1).

Exports the model to ONNX (fp32, int8), OpenVINO (fp32 IR run as f32 and as the
plugin's default - bf16 where the CPU has it -, fp16 IR, int8 NNCF) and TFLite
(fp32, fp16 weights, int8 PT2E), then times all of them in interleaved rounds
(every variant once per round, so load from other processes hits all alike) and
prints p50/p95 ms and the speed ratio against torch eager, plus top-1 agreement
with torch on FER+ validation faces.

    python benchmarks/bench_backends.py [--run RUN_DIR] [--rounds 60] [--threads 2]

INT8 calibration reads FER+ train faces under $EDGEAFFECT_DATA when present
(random faces otherwise); the agreement check reads FER+ valid faces.
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from edgeaffect.bench.latency import interleaved_ms
from edgeaffect.calibration.sources import from_arrays, from_image_folder
from ddamfn_side_by_side import open_variant, parser, start  # benchmarks/ is on sys.path

VARIANTS = (  # label, format, precision, backend options
    ("onnxruntime fp32", "onnx", "fp32", {}),
    ("onnxruntime int8", "onnx", "int8", {}),
    ("openvino fp32 (f32)", "openvino", "fp32", {"inference_precision": "fp32"}),
    ("openvino fp32 (default)", "openvino", "fp32", {}),
    ("openvino fp16 IR (f32)", "openvino", "fp16", {"inference_precision": "fp32"}),
    ("openvino int8", "openvino", "int8", {}),
    ("litert fp32", "tflite", "fp32", {}),
    ("litert fp16", "tflite", "fp16", {}),
    ("litert int8", "tflite", "int8", {}),
)


def faces(meta, split: str, n: int, seed: int):
    root = os.environ.get("EDGEAFFECT_DATA")
    folder = Path(root, "ferplus", split) if root else None
    if folder is not None and folder.is_dir():
        return from_image_folder(folder, meta, n=n, seed=seed)
    rng = np.random.default_rng(seed)
    return from_arrays([rng.integers(0, 255, (112, 112, 3), dtype=np.uint8) for _ in range(n)], meta)


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--calib", type=int, default=64, help="calibration faces for the INT8 variants")
    args, model, meta = start(ap)

    import torch

    calibration = faces(meta, "FER2013Train", args.calib, seed=0)
    valid = np.stack(list(faces(meta, "FER2013Valid", 64, seed=1)))
    with torch.no_grad():
        ref_top1 = model(torch.from_numpy(valid))[0].argmax(1).numpy()

    x = np.ascontiguousarray(valid[:1])
    xt = torch.from_numpy(x)
    runners = {"torch eager": lambda: model(xt)}
    info = {"torch eager": ("fp32", 1.0)}
    tmp = tempfile.TemporaryDirectory(prefix="edgeaffect-bench-")
    exported: dict[Path, list[str]] = {}
    for label, fmt, precision, opts in VARIANTS:
        t0 = time.perf_counter()
        backend = open_variant(model, meta, Path(tmp.name, f"{fmt}-{precision}"), fmt, precision, threads=args.threads,
                               calibration=calibration if precision == "int8" else None, exported=exported, **opts)
        top1 = np.concatenate([backend.infer(valid[i:i + 1])[0] for i in range(len(valid))]).argmax(1)
        runners[label] = (lambda b=backend: b.infer(x))
        info[label] = (getattr(backend, "precision", precision), float(np.mean(top1 == ref_top1)))
        print(f"exported {label:26s} in {time.perf_counter() - t0:6.1f} s -> runs {info[label][0]}", flush=True)

    with torch.inference_mode():
        times = interleaved_ms(runners, warmup=args.warmup, rounds=args.rounds)

    base = float(np.median(times["torch eager"]))
    print(f"\nDDAMFN {meta.input_size[0]}x{meta.input_size[1]} batch 1, {args.threads} threads, {args.rounds} interleaved rounds")
    print(f"{'variant':26s} {'runs':>6s} {'p50 ms':>8s} {'p95 ms':>8s} {'x eager':>8s} {'top1 agree':>10s}")
    for label, ts in times.items():
        p50, p95 = np.percentile(ts, 50), np.percentile(ts, 95)
        ran, agree = info[label]
        print(f"{label:26s} {ran:>6s} {p50:8.2f} {p95:8.2f} {base / p50:8.2f} {agree:10.2f}")
    tmp.cleanup()


if __name__ == "__main__":
    main()
