"""Where an ONNX Runtime INT8 QDQ model loses agreement with the float model: the CPU kernel or the quantization.

Quantizes the tiny test CNN (the model of tests/test_export_onnx.py) with several ORT settings and runs each
QDQ model three ways, side by side in one run:
  ort-int   ONNX Runtime with its default graph optimisations: QDQ fused into integer kernels (the CPU's INT8 path)
  ort-u8u8  the same with session.x64quantprecision=1 (ORT's exact U8U8 kernel on x86 without VNNI)
  ort-qdq   ONNX Runtime with optimisations off: Q/DQ nodes run as float ops around float Conv/Gemm (simulated quant)
  numpy     onnx.reference.ReferenceEvaluator: a pure numpy run of the same QDQ graph
and prints top-1 agreement with the float torch model.  ort-int below ort-qdq = numpy means the CPU kernel
(not the ranges, not the rounding) loses the agreement.  Run pinned: taskset -c 1, OMP_NUM_THREADS=1.
"""
from __future__ import annotations

import itertools
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main() -> None:
    import onnx
    import onnxruntime as ort
    import torch
    from onnx.reference import ReferenceEvaluator
    from onnxruntime import quantization as q

    from edgeaffect.calibration.adapters import ort_reader
    from edgeaffect.calibration.sources import from_arrays
    from edgeaffect.compress.onnx_export import export_fp32
    from edgeaffect.compress.cpu_int8 import PRECISE_KEY, cpu_int8_features
    from edgeaffect.formats import ExportOptions
    from test_export_onnx import LABELS, TinyCNN, images, tiny_meta

    torch.manual_seed(0)
    model, meta = TinyCNN().eval(), tiny_meta()
    calib = from_arrays(images(64, seed=1), meta, labels=[i % 4 for i in range(64)], classes=LABELS).bound(meta)
    verify = from_arrays(images(200, seed=2), meta, labels=[i % 4 for i in range(200)], classes=LABELS).bound(meta)
    x = np.concatenate([a[0] for a, _ in verify.batches(200)])
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy().argmax(1)
    print("CPU INT8 features:", cpu_int8_features(), "| onnxruntime", ort.__version__)

    def run(path: Path, level, precise: bool = False) -> np.ndarray:
        so = ort.SessionOptions()
        so.graph_optimization_level, so.intra_op_num_threads = level, 1
        if precise:
            so.add_session_config_entry(PRECISE_KEY, "1")
        return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]

    with tempfile.TemporaryDirectory() as tmp:
        fp32 = export_fp32(model, meta, Path(tmp) / "fp32.onnx", ExportOptions())
        print(f"fp32 onnx (ort) agreement {np.mean(run(fp32, ort.GraphOptimizationLevel.ORT_ENABLE_ALL).argmax(1) == ref):.3f}")
        print(f"{'activations':<22}{'reduce_range':<14}{'per_channel':<13}{'ort-int':>8}{'ort-u8u8':>9}{'ort-qdq':>9}{'numpy':>8}")
        acts = [("S8 symmetric (TRT)", q.QuantType.QInt8, True), ("U8 asymmetric (CPU)", q.QuantType.QUInt8, False)]
        for (name, act, sym), rr, pc in itertools.product(acts, (False, True), (True, False)):
            out = Path(tmp) / "int8.onnx"
            q.quantize_static(str(fp32), str(out), ort_reader(calib, ["input"], batch_size=8),
                              quant_format=q.QuantFormat.QDQ, per_channel=pc, reduce_range=rr,
                              activation_type=act, weight_type=q.QuantType.QInt8,
                              extra_options={"ActivationSymmetric": sym, "WeightSymmetric": True})
            fused = np.mean(run(out, ort.GraphOptimizationLevel.ORT_ENABLE_ALL).argmax(1) == ref)
            exact = np.mean(run(out, ort.GraphOptimizationLevel.ORT_ENABLE_ALL, precise=True).argmax(1) == ref)
            sim = np.mean(run(out, ort.GraphOptimizationLevel.ORT_DISABLE_ALL).argmax(1) == ref)
            proto = onnx.load(str(out))
            for imp in proto.opset_import:  # the reference ops exist from opset 19; Q/DQ/Conv/Gemm semantics match
                imp.version = max(imp.version, 21) if imp.domain in ("", "ai.onnx") else imp.version
            npy = np.mean(ReferenceEvaluator(proto).run(None, {"input": x})[0].argmax(1) == ref)
            print(f"{name:<22}{str(rr):<14}{str(pc):<13}{fused:>8.3f}{exact:>9.3f}{sim:>9.3f}{npy:>8.3f}")


if __name__ == "__main__":
    main()
