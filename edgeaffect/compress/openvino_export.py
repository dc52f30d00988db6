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
from typing import Any

from edgeaffect._optional import require
from edgeaffect.calibration.adapters import nncf_dataset
from edgeaffect.calibration.sources import CalibrationSource
from edgeaffect.errors import ExportError
from edgeaffect.formats import check_exporter_args
from edgeaffect.meta import ModelMeta

log = logging.getLogger(__name__)

MODEL_XML = "model.xml"
RT_INFO_KEY = ("edgeaffect", "meta")
DEFAULT_SUBSET = 300  # NNCF's own default; more samples rarely move the ranges


def convert(model: Any, meta: ModelMeta, *, batch: int, dynamic_batch: bool) -> Any:
    """torch module -> ``openvino.Model`` with outputs named after the heads."""
    ov = require("openvino", "openvino", purpose="OpenVINO export")
    torch = require("torch", "train")
    from edgeaffect.train.complexity import example_inputs

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


def quantize_int8(ov_model: Any, meta: ModelMeta, calibration: CalibrationSource, options: Any) -> Any:
    """NNCF post-training quantization (activations + weights to INT8) of an ``openvino.Model``."""
    nncf = require("nncf", "openvino", purpose="INT8 quantization for OpenVINO")
    dataset = nncf_dataset(calibration.bound(meta))
    backend_opts = dict(dict(getattr(options, "backend_options", {}) or {}).get("openvino") or {})
    # MIXED = symmetric weights + asymmetric activations: the right default for ReLU/PReLU CNNs.
    preset = nncf.QuantizationPreset(backend_opts.get("preset", "mixed"))
    subset = int(backend_opts.get("subset_size", min(DEFAULT_SUBSET, len(calibration))))
    log.info("NNCF INT8 quantization on %d calibration samples (preset %s)", min(subset, len(calibration)), preset.value)
    return nncf.quantize(ov_model, dataset, preset=preset, subset_size=subset,
                         fast_bias_correction=bool(backend_opts.get("fast_bias_correction", True)))


def export(model: Any, meta: ModelMeta, out_dir: Path, *, precision: str, calibration: CalibrationSource | None,
           options: Any) -> list[str]:
    """Write ``model.xml`` + ``model.bin`` in ``out_dir`` at ``precision`` (fp32 | fp16 | int8)."""
    ov = require("openvino", "openvino", purpose="OpenVINO export")
    check_exporter_args("OpenVINO", precision, calibration, meta=meta)
    ov_model = convert(model, meta, batch=int(getattr(options, "batch_size", 1)),
                       dynamic_batch=bool(getattr(options, "dynamic_batch", True)))
    if precision == "int8":
        ov_model = quantize_int8(ov_model, meta, calibration, options)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # save_model compresses weights to FP16 by default; FP32 and INT8 IRs must not be.
    ov.save_model(ov_model, str(out_dir / MODEL_XML), compress_to_fp16=precision == "fp16")
    return [MODEL_XML, "model.bin"]
