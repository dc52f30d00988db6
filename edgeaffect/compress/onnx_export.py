"""ONNX export: torch -> ONNX (fp32), the FP16 variant, and the INT8 route through ort_quant.

The TorchScript-based exporter (``dynamo=False``) is used: on the model
families here it exports in ~0.1 s at opset 17, while the dynamo exporter
takes seconds and up-converts to opset 18, which older TensorRT parsers
(JetPack 4.6 / TensorRT 8.2) do not read.  Every file gets ModelMeta in
``metadata_props`` (plus its precision), input name ``input`` (+ ModelMeta's
extra inputs), output names = head names, and passes ``onnx.checker``.
"""
from __future__ import annotations

import logging
import tempfile
import warnings
from pathlib import Path
from typing import Any

from edgeaffect._optional import require
from edgeaffect.calibration.sources import CalibrationSource
from edgeaffect.errors import ConfigError, ExportError
from edgeaffect.formats import PRECISION_PROP, ExportOptions
from edgeaffect.meta import ModelMeta

log = logging.getLogger(__name__)
WEIGHTS_PROP = "edgeaffect.weights"  # "fp16" when FP32 weights are stored as float16
MODEL_FILE = "model.onnx"


def input_names(meta: ModelMeta) -> list[str]:
    return ["input", *meta.extra_inputs]


def stamp(model_proto: Any, meta: ModelMeta, precision: str) -> None:
    """Write ModelMeta + precision into ``metadata_props`` (replacing earlier values)."""
    props = {**meta.to_onnx_props(), PRECISION_PROP: precision}
    keep = [p for p in model_proto.metadata_props if p.key not in props]
    del model_proto.metadata_props[:]
    model_proto.metadata_props.extend(keep)
    for key, value in props.items():
        entry = model_proto.metadata_props.add()
        entry.key, entry.value = key, value


def save_checked(model_proto: Any, path: Path, meta: ModelMeta, precision: str) -> Path:
    onnx = require("onnx", "onnx")
    stamp(model_proto, meta, precision)
    onnx.save(model_proto, str(path))
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"{path.name} fails the ONNX checker: {exc}", "report this model; try another --opset") from exc
    return path


def export_fp32(model: Any, meta: ModelMeta, path: Path, options: ExportOptions, *, fp16_weights: bool = False) -> Path:
    """torch -> ONNX float32 with head-named outputs (weights stored as float16 with ``fp16_weights``)."""
    torch = require("torch", "train")
    onnx = require("onnx", "onnx")
    from edgeaffect.train.complexity import example_inputs

    names = input_names(meta)
    outputs = [h.name for h in meta.heads]
    dynamic = {n: {0: "batch"} for n in names + outputs} if options.dynamic_batch else None
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter is deprecated, still maintained
        try:
            torch.onnx.export(model, example_inputs(meta, options.batch_size), str(path), dynamo=False,
                              opset_version=options.opset, input_names=names, output_names=outputs,
                              dynamic_axes=dynamic, do_constant_folding=True)
        except Exception as exc:  # the exporter raises many types; the op name is in the message
            raise ExportError(f"torch.onnx.export failed for '{meta.model}': {exc}",
                              "check the op named above is supported at this opset (try --opset 18)") from exc
    proto = onnx.load(str(path))
    if len(proto.graph.output) != len(outputs):
        raise ExportError(f"'{meta.model}' returns {len(proto.graph.output)} outputs, ModelMeta lists heads {outputs}",
                          "make forward() return one tensor per head, in meta.heads order")
    if fp16_weights:
        store_weights_fp16(proto)
    return save_checked(proto, path, meta, "fp32")


def store_weights_fp16(proto: Any, min_size: int = 16) -> int:
    """Store float32 weight tensors as float16, each followed by a Cast back to float32; returns how many.

    Why: a device's flash and a Python package hold half the bytes, while the graph still
    computes in float32 — ONNX Runtime folds the Casts into float32 constants when the
    session loads (constant folding), and OpenVINO reads the pattern as compressed weights.
    Unlike the FP16 export, no activation is rounded; only each weight is, once (relative
    error <= 2**-11).  Tiny tensors (shapes, scalars) stay float32.  ONNX's own tools have
    no such pass (onnxconverter's float16 converts compute too), hence these lines.
    """
    require("onnx", "onnx")  # a clear error naming the extra when onnx is missing
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    casts = []
    for init in proto.graph.initializer:
        if init.data_type != TensorProto.FLOAT:
            continue
        values = numpy_helper.to_array(init)
        if values.size < min_size or np.abs(values).max(initial=0.0) > 65000.0:  # beyond float16's range: keep
            continue
        name = init.name
        init.CopyFrom(numpy_helper.from_array(values.astype(np.float16), f"{name}__fp16"))
        casts.append(helper.make_node("Cast", [f"{name}__fp16"], [name], to=TensorProto.FLOAT, name=f"{name}__to_fp32"))
    nodes = casts + list(proto.graph.node)  # the casts come first: every consumer follows its producer
    del proto.graph.node[:]
    proto.graph.node.extend(nodes)
    entry = proto.metadata_props.add()
    entry.key, entry.value = WEIGHTS_PROP, "fp16"
    return len(casts)


def to_fp16(src: Path, dst: Path, meta: ModelMeta, options: ExportOptions) -> Path:
    """Float16 weights and compute; inputs/outputs stay float32 when ``keep_io_fp32`` (the default).

    Uses ONNX Runtime's converter (``onnxruntime.transformers.float16``), which
    inserts Cast nodes at the graph boundary when ``keep_io_types`` is set; it
    appends them after their consumers, so the graph is re-sorted with ORT's
    own ``OnnxModel.topological_sort`` before the checker sees it.
    """
    onnx = require("onnx", "onnx")
    f16 = require("onnxruntime.transformers.float16", "onnx", purpose="FP16 conversion")
    onnx_model = require("onnxruntime.transformers.onnx_model", "onnx", purpose="FP16 conversion")
    proto = f16.convert_float_to_float16(onnx.load(str(src)), keep_io_types=options.keep_io_fp32)
    wrapped = onnx_model.OnnxModel(proto)
    wrapped.topological_sort()
    proto = wrapped.model
    return save_checked(proto, dst, meta, "fp16")


def export(model: Any, meta: ModelMeta, out_dir: Path, *, precision: str, calibration: CalibrationSource | None,
           options: ExportOptions) -> list[str]:
    """Write ``model.onnx`` at ``precision`` into ``out_dir``; returns ``["model.onnx"]``."""
    if not hasattr(model, "state_dict"):  # a fitted scikit-learn fusion model, not a torch module
        from edgeaffect.compress.sklearn_export import export as export_sklearn

        return export_sklearn(model, meta, out_dir, precision=precision, calibration=calibration, options=options)
    out_dir = Path(out_dir)
    dst = out_dir / MODEL_FILE
    if precision == "fp32":
        export_fp32(model, meta, dst, options, fp16_weights=options.fp16_weights)
        return [MODEL_FILE]
    with tempfile.TemporaryDirectory(prefix="edgeaffect-onnx-") as tmp:
        fp32 = export_fp32(model, meta, Path(tmp) / "fp32.onnx", options)
        if precision == "fp16":
            to_fp16(fp32, dst, meta, options)
        elif precision == "int8":
            from edgeaffect.compress.ort_quant import quantize

            quantize(fp32, dst, meta, calibration=calibration, options=options)
        else:
            raise ConfigError(f"ONNX export has no precision '{precision}'", "choose fp32, fp16 or int8")
    return [MODEL_FILE]
