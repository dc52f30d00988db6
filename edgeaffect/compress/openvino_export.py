"""OpenVINO IR exporter: FP32 / FP16 IR from the torch model, INT8 by NNCF post-training quantization.

The torch module is converted directly (``openvino.convert_model``), so no
intermediate ONNX file is needed.  Output tensors are renamed to the ModelMeta
head names, which is how the OpenVINO backend maps outputs back to heads, and
the ModelMeta JSON is stored in the IR's ``rt_info`` so a lone ``.xml`` still
describes itself (``meta.json`` in the bundle stays the source of truth).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from edgeaffect._optional import require
from edgeaffect.compress.formats import check_exporter_args
from edgeaffect.errors import ExportError
from edgeaffect.meta import ModelMeta

log = logging.getLogger(__name__)

MODEL_XML = "model.xml"
RT_INFO_KEY = ("edgeaffect", "meta")
DEFAULT_SUBSET = 300  # NNCF's own default; more samples rarely move the ranges


def as_batches(calibration: Iterable[Any], meta: ModelMeta) -> list[tuple[np.ndarray, ...]]:
    """Calibration items (one sample or one batch, single array or tuple with extra inputs) as input tuples.

    The calibration source yields already-preprocessed float32 inputs; a sample
    without the batch axis gets one, so both per-sample and batched sources work.
    """
    rank = len(meta.input_shape())
    out = []
    for item in calibration:
        arrays = item if isinstance(item, (tuple, list)) else (item,)
        arrays = tuple(np.asarray(a, dtype=np.float32) for a in arrays)
        if arrays[0].ndim == rank - 1:
            arrays = tuple(a[None] for a in arrays)
        out.append(arrays)
    if not out:
        raise ExportError("the calibration source yielded no samples", "calibrate on a split that holds images")
    return out


def example_inputs(meta: ModelMeta, batch: int = 1) -> tuple[Any, ...]:
    """Zero tensors of the model's input shape (torch), for tracing."""
    torch = require("torch", "train")
    if meta.extra_inputs:
        raise ExportError(f"model '{meta.model}' takes extra inputs {list(meta.extra_inputs)} this exporter cannot trace",
                          "export it to ONNX instead")
    return (torch.zeros(meta.input_shape(batch), dtype=torch.float32),)


def convert(model: Any, meta: ModelMeta, *, batch: int, dynamic_batch: bool) -> Any:
    """torch module -> ``openvino.Model`` with outputs named after the heads."""
    ov = require("openvino", "openvino", purpose="OpenVINO export")
    torch = require("torch", "train")
    model = model.eval()
    example = example_inputs(meta, batch)
    shape = list(meta.input_shape(batch))
    if dynamic_batch:
        shape[0] = -1
    try:
        with torch.no_grad():
            ov_model = ov.convert_model(model, example_input=example, input=[ov.PartialShape(shape)])
    except Exception as exc:  # the converter raises its own types for unsupported ops
        raise ExportError(f"OpenVINO could not convert '{meta.model}': {exc}",
                          "export to ONNX instead, or report the operator that failed") from exc
    if len(ov_model.outputs) != len(meta.heads):
        raise ExportError(f"the converted model has {len(ov_model.outputs)} outputs, ModelMeta lists {len(meta.heads)} heads",
                          "make forward() return one tensor per head, in meta.heads order")
    for output, head in zip(ov_model.outputs, meta.heads):
        output.get_tensor().set_names({head.name})
    ov_model.set_rt_info(json.dumps(meta.to_dict(), sort_keys=True), list(RT_INFO_KEY))
    return ov_model


def quantize_int8(ov_model: Any, meta: ModelMeta, calibration: Iterable[Any], options: Any) -> Any:
    """NNCF post-training quantization (activations + weights to INT8) of an ``openvino.Model``."""
    nncf = require("nncf", "openvino", purpose="INT8 quantization for OpenVINO")
    batches = as_batches(calibration, meta)
    inputs = [inp.get_any_name() for inp in ov_model.inputs]
    dataset = nncf.Dataset(batches, lambda arrays: dict(zip(inputs, arrays)))
    backend_opts = dict(dict(getattr(options, "backend_options", {}) or {}).get("openvino") or {})
    # MIXED = symmetric weights + asymmetric activations: the right default for ReLU/PReLU CNNs.
    preset = nncf.QuantizationPreset(backend_opts.get("preset", "mixed"))
    subset = int(backend_opts.get("subset_size", min(DEFAULT_SUBSET, len(batches))))
    log.info("NNCF INT8 quantization on %d calibration batches (preset %s)", min(subset, len(batches)), preset.value)
    return nncf.quantize(ov_model, dataset, preset=preset, subset_size=subset,
                         fast_bias_correction=bool(backend_opts.get("fast_bias_correction", True)))


def export(model: Any, meta: ModelMeta, out_dir: Path, *, precision: str, calibration: Iterable[Any] | None,
           options: Any) -> list[str]:
    """Write ``model.xml`` + ``model.bin`` in ``out_dir`` at ``precision`` (fp32 | fp16 | int8)."""
    ov = require("openvino", "openvino", purpose="OpenVINO export")
    check_exporter_args("OpenVINO", precision, calibration)
    ov_model = convert(model, meta, batch=int(getattr(options, "batch_size", 1)),
                       dynamic_batch=bool(getattr(options, "dynamic_batch", True)))
    if precision == "int8":
        ov_model = quantize_int8(ov_model, meta, calibration, options)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # save_model compresses weights to FP16 by default; FP32 and INT8 IRs must not be.
    ov.save_model(ov_model, str(out_dir / MODEL_XML), compress_to_fp16=precision == "fp16")
    return [MODEL_XML, "model.bin"]
