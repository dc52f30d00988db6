"""OpenVINO backend: runs an IR (``model.xml`` + ``model.bin``) on CPU or an Intel GPU/NPU.

The CPU plugin silently runs FP32 IRs in bf16 on CPUs with AMX/AVX512-BF16;
``precision`` reports what the compiled model actually runs (read back from the
plugin), and ``inference_precision="fp32"`` forces full precision when the
accuracy drop matters more than the speed.  Torch-free.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from edgeaffect._optional import require
from edgeaffect.errors import BundleError, ConfigError
from edgeaffect.meta import ModelMeta
from edgeaffect.runtime.backends.base import register_backend

log = logging.getLogger(__name__)

# our precision words <-> OpenVINO element-type names of INFERENCE_PRECISION_HINT
_HINTS = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}
_FROM_OV = {"f32": "fp32", "float32": "fp32", "bf16": "bf16", "bfloat16": "bf16", "f16": "fp16", "float16": "fp16"}
# op types NNCF inserts: an IR that has them runs its heavy layers in INT8
_QUANT_OPS = {"FakeQuantize", "FakeConvert"}


def _precision_word(ov_type: object) -> str:
    text = str(getattr(ov_type, "get_type_name", lambda: ov_type)()).lower()
    return _FROM_OV.get(text, text)


@register_backend("openvino")
class OpenVINOBackend:
    """``openvino.Core().compile_model`` behind the Backend protocol.

    ``device``: "CPU", "GPU", "NPU", "AUTO".  ``threads``: CPU inference threads
    (None = plugin default).  ``inference_precision``: None (plugin default, bf16
    where the CPU supports it), "fp32", "bf16" or "fp16".
    """

    name = "openvino"

    def __init__(self, model_path: Path, meta: ModelMeta, *, device: str = "CPU", threads: int | None = None,
                 inference_precision: str | None = None, latency_hint: bool = True) -> None:
        ov = require("openvino", "openvino", purpose="the OpenVINO backend")
        model_path = Path(model_path)
        if not model_path.is_file():
            raise BundleError(f"OpenVINO model {model_path} does not exist", "point at the model.xml of an OpenVINO bundle")
        self.meta = meta
        config: dict[str, object] = {"PERFORMANCE_HINT": "LATENCY" if latency_hint else "THROUGHPUT"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        if inference_precision is not None:
            if inference_precision not in _HINTS:
                raise ConfigError(f"unknown OpenVINO inference precision '{inference_precision}'",
                                  f"choose one of: {', '.join(_HINTS)}")
            config["INFERENCE_PRECISION_HINT"] = _HINTS[inference_precision]
        core = ov.Core()
        plain = device.split(".")[0]  # "GPU.1" names the second GPU; AUTO/HETERO/MULTI pick devices themselves
        if ":" not in device and plain not in ("AUTO", "HETERO", "MULTI") and \
                not any(d.split(".")[0] == plain for d in core.available_devices):
            raise ConfigError(f"OpenVINO device '{device}' is not available on this machine "
                              f"(devices here: {', '.join(core.available_devices)})",
                              "install the device's driver and OpenVINO plugin (for an Intel GPU: the compute runtime, "
                              "intel-opencl-icd), or run on another device, e.g. --backend-option device=CPU")
        try:
            model = core.read_model(str(model_path))
        except RuntimeError as exc:  # a damaged .xml or .bin (OpenVINO raises a bare RuntimeError)
            raise BundleError(f"OpenVINO cannot read {model_path.name}: {str(exc).strip().splitlines()[0]}",
                              "copy the bundle again or re-run 'edgeaffect export'") from exc
        quantized = any(op.get_type_name() in _QUANT_OPS for op in model.get_ops())
        try:
            self._compiled = core.compile_model(model, device, config)
        except RuntimeError as exc:
            raise ConfigError(f"OpenVINO could not compile {model_path.name} for device '{device}': {exc}",
                              f"available devices here: {', '.join(core.available_devices)}") from exc
        try:
            self.float_precision = _precision_word(self._compiled.get_property("INFERENCE_PRECISION_HINT"))
        except RuntimeError:  # plugins without the property (e.g. NPU) run what the IR says
            self.float_precision = inference_precision or "fp32"
        # INT8 IRs run quantized layers in INT8 and the rest at the float precision above.
        self.precision = "int8" if quantized else self.float_precision
        self.device = device
        self._request = self._compiled.create_infer_request()
        self._inputs = list(self._compiled.inputs)
        self._outputs = self._map_outputs(self._compiled.outputs)
        shape = self._inputs[0].get_partial_shape()
        self.batch_size = shape[0].get_length() if shape.rank.is_static and shape[0].is_static else None
        log.info("OpenVINO %s on %s runs %s (float layers %s)", model_path.name, device, self.precision, self.float_precision)

    def _map_outputs(self, outputs: list) -> list:
        """Compiled outputs in meta.heads order: by tensor name (the exporter names them), else by position."""
        by_name = {name: out for out in outputs for name in out.get_names()}
        if all(h.name in by_name for h in self.meta.heads):
            return [by_name[h.name] for h in self.meta.heads]
        if len(outputs) != len(self.meta.heads):
            raise BundleError(f"the OpenVINO model has {len(outputs)} outputs, ModelMeta lists {len(self.meta.heads)} heads",
                              "re-export the model with 'edgeaffect export'")
        log.warning("OpenVINO outputs are not named after the heads; mapping them by position")
        return list(outputs)

    def infer(self, batch: np.ndarray, *extra: np.ndarray) -> tuple[np.ndarray, ...]:
        arrays = (batch, *extra)
        if len(arrays) != len(self._inputs):
            raise ConfigError(f"the model takes {len(self._inputs)} inputs, got {len(arrays)}",
                              f"feed the image batch plus {list(self.meta.extra_inputs)}")
        feed = {i: np.ascontiguousarray(a, dtype=np.float32) for i, a in enumerate(arrays)}
        results = self._request.infer(feed)
        return tuple(np.array(results[out], copy=True) for out in self._outputs)
