"""INT8 ONNX models through ONNX Runtime quantization.

Static QDQ quantization (``quantize_static`` with ``QuantFormat.QDQ``) after
``quant_pre_process``, calibrated by a :class:`CalibrationSource` through the
ORT data-reader adapter; MinMax / Entropy / Percentile range estimation and
per-channel weights are options.  QDQ is also the explicit-quantization input
TensorRT builds INT8 engines from (symmetric activations then).  Weights use 7
bits (``reduce_range``) when the model will run on ORT's x86 CPU kernels, which
saturate on full 8-bit weights on CPUs without VNNI (:mod:`edgeaffect.compress.cpu_int8`
has the measurement); TensorRT and ARM CPUs get all 8 bits.  Recurrent
models (LSTM/GRU) get dynamic quantization instead: their activations vary
per step, and ORT's dynamic LSTM kernel quantizes weights only.
"""
from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from edgeaffect._optional import require
from edgeaffect.calibration.adapters import ort_reader
from edgeaffect.calibration.sources import CalibrationSource
from edgeaffect.compress.cpu_int8 import WEIGHT_BITS_PROP, target_may_saturate
from edgeaffect.errors import ConfigError, ExportError
from edgeaffect.formats import CalibrationMethod, ExportOptions
from edgeaffect.meta import ModelMeta

log = logging.getLogger(__name__)
RECURRENT_OPS = ("LSTM", "GRU", "RNN")
# Entropy/Percentile calibrators keep every intermediate output of every sample they are fed
# before building histograms: 300 DDAMFN faces at once grew past 24 GB and were OOM-killed.
# Fed in chunks of this many samples (ORT's CalibStridedMinMax), the histograms are merged
# chunk by chunk and memory stays at one chunk's outputs.
HISTOGRAM_CHUNK = 16


def reduce_range(options: ExportOptions) -> bool:
    """7-bit weights unless the model is known not to meet ORT's x86 U8S8 kernel.

    An explicit ``options.reduce_range`` wins (TensorRT sets False: its INT8 accumulates in 32 bits).
    Otherwise the target profile's ``arch`` decides: an x86 target will run on AVX2 laptops without
    VNNI, where full-range weights lose agreement (94 % vs 100 % measured on the test model, Zen 3),
    whatever CPU exported it; an ARM target keeps 8 bits.  With no target the safe choice is 7 bits.
    """
    if options.reduce_range is not None:
        return bool(options.reduce_range)
    return target_may_saturate(options.target)


def recurrent_ops(path: Path) -> list[str]:
    onnx = require("onnx", "onnx")
    return sorted({n.op_type for n in onnx.load(str(path)).graph.node if n.op_type in RECURRENT_OPS})


def _pre_process(src: Path, dst: Path) -> Path:
    """ORT's recommended shape inference + optimisation before quantization; skipped (logged) if it fails."""
    shape_inference = require("onnxruntime.quantization.shape_inference", "onnx")
    try:
        shape_inference.quant_pre_process(str(src), str(dst))
        return dst
    except Exception as exc:  # symbolic shape inference rejects some graphs; quantization still works without it
        log.warning("quant_pre_process failed (%s); quantizing the exported graph as is", exc)
        return src


def _methods(quant) -> dict[CalibrationMethod, object]:
    return {CalibrationMethod.MINMAX: quant.CalibrationMethod.MinMax,
            CalibrationMethod.ENTROPY: quant.CalibrationMethod.Entropy,
            CalibrationMethod.PERCENTILE: quant.CalibrationMethod.Percentile}


def histogram_stride(batches: int, batch_size: int, chunk: int = HISTOGRAM_CHUNK) -> int:
    """Batches per calibration chunk: the largest divisor of ``batches`` (ORT requires one) within ``chunk`` samples."""
    limit = max(1, chunk // max(batch_size, 1))
    return max(d for d in range(1, min(limit, batches) + 1) if batches % d == 0) if batches else 1


def quantize(fp32_path: Path, dst: Path, meta: ModelMeta, *, calibration: CalibrationSource | None,
             options: ExportOptions) -> Path:
    """Write an INT8 model at ``dst`` from the float model at ``fp32_path``."""
    quant = require("onnxruntime.quantization", "onnx", purpose="INT8 quantization")
    onnx = require("onnx", "onnx")
    from edgeaffect.compress.onnx_export import input_names, save_checked

    with tempfile.TemporaryDirectory(prefix="edgeaffect-quant-") as tmp:
        pre = _pre_process(Path(fp32_path), Path(tmp) / "pre.onnx")
        raw = Path(tmp) / "int8.onnx"
        recurrent = recurrent_ops(pre)
        seven_bits = reduce_range(options)
        log.info("INT8 weights in %d bits%s", 7 if seven_bits else 8,
                 " (reduce_range: exact on x86 CPUs without VNNI)" if seven_bits else "")
        if recurrent:
            log.info("model has %s: dynamic INT8 quantization (weights), no calibration", "/".join(recurrent))
            quant.quantize_dynamic(str(pre), str(raw), weight_type=quant.QuantType.QInt8,
                                   per_channel=options.per_channel, reduce_range=seven_bits)
        else:
            if calibration is None or len(calibration) == 0:
                raise ConfigError("INT8 export needs calibration data",
                                  "pass --calib-data PATH (a dataset or image folder)")
            histogram = options.calibration_method is not CalibrationMethod.MINMAX
            batch = options.batch_size
            if options.dynamic_batch:
                # The histogram collector stacks a chunk's outputs into one array, so every batch must be the
                # same size: one sample each (a short last batch of 8 failed with "inhomogeneous shape").
                batch = 1 if histogram else 8
            reader = ort_reader(calibration.bound(meta), input_names(meta), batch_size=batch)
            symmetric = options.symmetric_activations
            extra = {"ActivationSymmetric": symmetric, "WeightSymmetric": True}
            if histogram:
                extra["CalibStridedMinMax"] = histogram_stride(len(reader), batch)
            try:
                quant.quantize_static(
                    str(pre), str(raw), reader, quant_format=quant.QuantFormat.QDQ,
                    per_channel=options.per_channel, reduce_range=seven_bits, calibrate_method=_methods(quant)[options.calibration_method],
                    # TensorRT reads only symmetric signed INT8; ORT CPU is fastest with unsigned activations
                    activation_type=quant.QuantType.QInt8 if symmetric else quant.QuantType.QUInt8,
                    weight_type=quant.QuantType.QInt8,
                    extra_options=extra)
            except Exception as exc:
                raise ExportError(f"ONNX Runtime static quantization failed: {exc}",
                                  "try --precision fp16, or another calibration method") from exc
        proto = onnx.load(str(raw))
        entry = proto.metadata_props.add()
        entry.key, entry.value = WEIGHT_BITS_PROP, "7" if seven_bits else "8"
        return save_checked(proto, Path(dst), meta, "int8")
