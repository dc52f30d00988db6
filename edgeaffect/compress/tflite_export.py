"""TFLite (LiteRT) exporter through litert-torch: FP32, FP16 weights and full-integer INT8.

* fp32 — ``litert_torch.convert(model, sample_args)``.
* fp16 — the FP32 flatbuffer with weights cast to float16 by ai-edge-quantizer's
  FLOAT_CASTING weight-only recipe (litert-torch has no float16 switch of its
  own); XNNPACK computes in float32 from the fp16 weights.
* int8 — PT2E static quantization with litert-torch's ``PT2EQuantizer``
  (symmetric int8, per-channel weights): ``prepare_pt2e`` observers are fed the
  calibration batches, ``convert_pt2e`` folds the ranges, and the converter
  lowers the Q/DQ graph to integer TFLite kernels.  Inputs/outputs of quantized
  ops become int8 tensors; the LiteRT backend applies their scale/zero-point.

IO stays NCHW (NCTHW for clips), exactly as torch: every backend is fed the
same array.  Every file is loaded and run with the real interpreter before it
is reported; an op the LiteRT runtime cannot run (a Flex/TF op, or a StableHLO
op without a TFLite kernel, e.g. a 3D transposed convolution) stops the export
with an :class:`ExportError` naming that op.
"""
from __future__ import annotations

import contextlib
import io
import logging
import re
from pathlib import Path
from itertools import islice
from typing import Any

import numpy as np

from edgeaffect._optional import require
from edgeaffect.calibration.adapters import representative_dataset
from edgeaffect.calibration.sources import CalibrationSource
from edgeaffect.errors import ExportError
from edgeaffect.formats import check_exporter_args
from edgeaffect.io import atomic_write
from edgeaffect.meta import ModelMeta

log = logging.getLogger(__name__)

MODEL_FILE = "model.tflite"
PT2E_SUBSET = 100
# The ops that hold a model's weights and nearly all of its arithmetic: what INT8 must reach.
COMPUTE_OPS = frozenset({"CONV_2D", "CONV_3D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV",
                         "BATCH_MATMUL"})
# A cast that reaches most weights halves the file; above this share it reached too few to call it FP16.
FP16_MAX_SIZE_RATIO = 0.75
_MISSING_OP = re.compile(r"op for (?:builtin|custom) opcode '([A-Za-z0-9_]+)'")
_ATEN_OP = re.compile(r"(aten[._:]+[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)?)")


def _refuse(op: str, meta: ModelMeta, detail: str) -> ExportError:
    return ExportError(f"the TFLite target cannot run op {op} used by '{meta.model}' ({detail})",
                       "export this model to ONNX or OpenVINO instead (edgeaffect export --format onnx)")


def _convert(model: Any, sample: tuple, meta: ModelMeta, **kwargs: Any) -> bytes:
    litert_torch = require("litert_torch", "tflite-export", purpose="TFLite export")
    litert_torch.config.show_progress = False  # keep export logs to our own progress lines
    try:
        return litert_torch.convert(model, sample, **kwargs).model_content()
    except Exception as exc:  # lowering errors come as many types; name the torch op when the message has one
        found = _ATEN_OP.search(str(exc))
        if found:
            raise _refuse(found.group(1), meta, "no LiteRT lowering") from exc
        raise ExportError(f"litert-torch could not convert '{meta.model}': {type(exc).__name__}: {str(exc)[:500]}",
                          "export this model to ONNX or OpenVINO instead") from exc


def check_runs(content: bytes, meta: ModelMeta, sample: tuple) -> list[str]:
    """Load ``content`` in the real interpreter, run ``sample`` once; return the op names it holds.

    Raises :class:`ExportError` naming the op when the runtime cannot execute the model.
    """
    interp_mod = require("ai_edge_litert.interpreter", "tflite", purpose="checking the TFLite file")
    try:
        interp = interp_mod.Interpreter(model_content=content)
        interp.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        found = _MISSING_OP.search(str(exc))
        raise _refuse(found.group(1) if found else "(unknown)", meta, f"interpreter: {str(exc)[:300]}") from exc
    ops = sorted({op["op_name"] for op in interp._get_ops_details()})  # public API has no op listing
    flex = [op for op in ops if op.startswith("Flex") or op == "CUSTOM"]
    if flex:
        raise _refuse(", ".join(flex), meta, "TensorFlow Flex/custom ops are not in the LiteRT runtime")
    runner = interp.get_signature_runner()
    feed = {}
    for (name, detail), arr in zip(runner.get_input_details().items(), sample):
        arr = arr.numpy()
        feed[name] = arr.astype(detail["dtype"]) if np.issubdtype(detail["dtype"], np.integer) else arr
    try:
        runner(**feed)
    except (ValueError, RuntimeError) as exc:
        raise ExportError(f"the converted TFLite model of '{meta.model}' does not run: {exc}",
                          "export this model to ONNX or OpenVINO instead") from exc
    return ops


def float_compute_ops(content: bytes) -> tuple[list[str], int]:
    """(names of compute ops whose input is still float, number of compute ops) in a TFLite file."""
    interp_mod = require("ai_edge_litert.interpreter", "tflite", purpose="checking the TFLite file")
    interp = interp_mod.Interpreter(model_content=content)
    dtypes = {t["index"]: t["dtype"] for t in interp.get_tensor_details()}
    compute = [op for op in interp._get_ops_details() if op["op_name"] in COMPUTE_OPS]
    floating = [op["op_name"] for op in compute
                if len(op["inputs"]) and np.issubdtype(dtypes.get(int(op["inputs"][0]), np.float32), np.floating)]
    return floating, len(compute)


def check_integer(content: bytes, meta: ModelMeta) -> None:
    """Refuse an "int8" file whose compute ops mostly still run in float; log a partly quantized one.

    The PT2E quantizer silently leaves ops it has no int8 pattern for (e.g. Conv3d) in
    float, so without this check an INT8 request could ship a float model under that name.
    """
    floating, total = float_compute_ops(content)
    if total and 2 * len(floating) > total:
        raise ExportError(f"INT8 TFLite export of '{meta.model}' left {len(floating)} of its {total} compute ops in "
                          f"float ({', '.join(sorted(set(floating)))}: the PT2E quantizer has no int8 pattern for them)",
                          "export fp32 for TFLite, or INT8 to ONNX/OpenVINO")
    if floating:
        log.warning("TFLite INT8: %d of %d compute ops stay float (%s)", len(floating), total,
                    ", ".join(sorted(set(floating))))


def check_fp16(fp32: bytes, fp16: bytes, meta: ModelMeta) -> None:
    """Refuse an "fp16" file the weight cast barely touched (ops it has no recipe for, e.g. CONV_3D)."""
    if len(fp16) > FP16_MAX_SIZE_RATIO * len(fp32):
        raise ExportError(f"FP16 TFLite export of '{meta.model}' cast too few weights to float16 (file "
                          f"{len(fp16) / len(fp32):.0%} of the FP32 size; ops without a cast recipe stay float32)",
                          "export fp32 for TFLite, or FP16 to ONNX/OpenVINO")


def to_fp16_weights(content: bytes) -> bytes:
    """Cast every float weight to float16 (weight-only; computation stays float32)."""
    aeq = require("ai_edge_quantizer", "tflite-export", purpose="FP16 TFLite export")
    from ai_edge_quantizer import algorithm_manager, qtyping  # submodules of the checked package

    quantizer = aeq.Quantizer(content)
    quantizer.add_weight_only_config(regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
                                     num_bits=16, algorithm_key=algorithm_manager.AlgorithmName.FLOAT_CASTING)
    with contextlib.redirect_stdout(io.StringIO()):  # the quantizer prints a size summary; we log our own
        return bytes(quantizer.quantize().quantized_model)


def quantize_int8(model: Any, sample: tuple, meta: ModelMeta, calibration: CalibrationSource, options: Any) -> bytes:
    """PT2E static INT8: observe the calibration batches, then convert the Q/DQ graph."""
    torch = require("torch", "train")
    require("litert_torch", "tflite-export", purpose="INT8 TFLite export")
    from litert_torch.quantize import pt2e_quantizer, quant_config
    from torchao.quantization.pt2e import quantize_pt2e

    batch = sample[0].shape[0]
    quantizer = pt2e_quantizer.PT2EQuantizer().set_global(pt2e_quantizer.get_symmetric_quantization_config(
        is_per_channel=bool(getattr(options, "per_channel", True)), is_dynamic=False))
    graph = torch.export.export(model, sample).module()
    graph = quantize_pt2e.prepare_pt2e(graph, quantizer)
    # HistogramObserver (the quantizer's activation observer) costs ~0.5 s per DDAMFN sample: cap the subset
    subset = int(dict(dict(getattr(options, "backend_options", {}) or {}).get("litert") or {}).get("subset_size", PT2E_SUBSET))
    log.info("PT2E INT8 calibration on up to %d batches of %d", subset, batch)
    with torch.no_grad():
        for arrays in islice(representative_dataset(calibration.bound(meta), batch_size=batch)(), subset):
            if arrays[0].shape[0] == batch:  # the exported graph has a static batch: a short last one is left out
                graph(*(torch.from_numpy(a) for a in arrays))
    graph = quantize_pt2e.convert_pt2e(graph, fold_quantize=False)
    return _convert(graph, sample, meta, quant_config=quant_config.QuantConfig(pt2e_quantizer=quantizer))


def export(model: Any, meta: ModelMeta, out_dir: Path, *, precision: str, calibration: CalibrationSource | None,
           options: Any) -> list[str]:
    """Write ``model.tflite`` in ``out_dir`` at ``precision`` (fp32 | fp16 | int8); static batch ``options.batch_size``."""
    torch = require("torch", "train")
    from edgeaffect.train.complexity import example_inputs

    check_exporter_args("TFLite", precision, calibration, meta=meta)
    model = model.eval()
    sample = example_inputs(meta, int(getattr(options, "batch_size", 1) or 1))
    if precision == "int8":  # the quantized file is checked on its own: one conversion instead of two
        content = quantize_int8(model, sample, meta, calibration, options)
    else:
        with torch.no_grad():
            content = _convert(model, sample, meta)
        if precision == "fp16":
            check_runs(content, meta, sample)  # an unsupported op is named from the float file, as for fp32
            fp32, content = content, to_fp16_weights(content)
            check_fp16(fp32, content, meta)
    ops = check_runs(content, meta, sample)
    if precision == "int8":
        check_integer(content, meta)
    log.info("TFLite %s: %d bytes, ops %s", precision, len(content), ", ".join(ops))
    atomic_write(Path(out_dir) / MODEL_FILE, lambda fh: fh.write(content))
    return [MODEL_FILE]
