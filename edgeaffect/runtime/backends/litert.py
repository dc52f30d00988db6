"""LiteRT (TFLite) backend: runs a ``.tflite`` flatbuffer with the XNNPACK CPU delegate.

Uses ``ai_edge_litert`` and falls back to ``tflite_runtime`` (what older
Raspberry Pi / Coral images ship).  Full-integer models may take and return
int8/uint8 tensors: the backend quantizes inputs and dequantizes outputs with
each tensor's own scale/zero-point, so callers always feed and get float32.
Outputs are read through the model's signature (names ``output_0``,
``output_1``, ... in the order forward() returned them), because the flat
tensor list of a converted model is not guaranteed to keep that order.
Torch-free.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from edgeaffect._optional import available, require
from edgeaffect.errors import BundleError, ConfigError
from edgeaffect.meta import ModelMeta
from edgeaffect.runtime.backends.base import register_backend

log = logging.getLogger(__name__)

_INTERPRETER_MODULES = ("ai_edge_litert.interpreter", "tflite_runtime.interpreter")
_POSITIONAL = re.compile(r"output_(\d+)$")


def _interpreter_module():
    for name in _INTERPRETER_MODULES:
        if available(name):
            return require(name, "tflite")
    return require(_INTERPRETER_MODULES[0], "tflite", purpose="the LiteRT backend")


def _quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero = detail["quantization"]
    info = np.iinfo(detail["dtype"])
    return np.clip(np.round(x / scale + zero), info.min, info.max).astype(detail["dtype"])


def _dequantize(x: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero = detail["quantization"]
    if np.issubdtype(x.dtype, np.integer) and scale:
        return (x.astype(np.float32) - zero) * np.float32(scale)
    return np.asarray(x, dtype=np.float32)


def output_order(names: list[str], heads: list[str]) -> list[str]:
    """Signature output names in heads order: by head name, else by the positional ``output_<i>`` index."""
    if set(heads) <= set(names):
        return list(heads)
    positional = {int(m.group(1)): n for n in names if (m := _POSITIONAL.search(n))}
    if len(positional) == len(heads) == len(names):
        return [positional[i] for i in sorted(positional)]
    raise BundleError(f"cannot match the TFLite outputs {names} to the heads {heads}",
                      "re-export the model with 'edgeaffect export --format tflite'")


@register_backend("litert")
class LiteRTBackend:
    """``Interpreter`` + signature runner behind the Backend protocol.

    ``threads``: CPU threads for XNNPACK (None = runtime default).
    """

    name = "litert"

    def __init__(self, model_path: Path, meta: ModelMeta, *, threads: int | None = None) -> None:
        model_path = Path(model_path)
        if not model_path.is_file():
            raise BundleError(f"TFLite model {model_path} does not exist", "point at the model.tflite of a TFLite bundle")
        module = _interpreter_module()
        self.meta = meta
        try:
            self._interp = module.Interpreter(model_path=str(model_path), num_threads=threads)
        except ValueError as exc:  # unknown op / corrupt flatbuffer
            raise BundleError(f"LiteRT cannot load {model_path.name}: {exc}",
                              "upgrade ai-edge-litert on this device or re-export the model") from exc
        signatures = self._interp.get_signature_list()
        if len(signatures) != 1:
            raise BundleError(f"{model_path.name} has signatures {list(signatures)}, expected exactly one",
                              "re-export the model with 'edgeaffect export --format tflite'")
        self._runner = self._interp.get_signature_runner(next(iter(signatures)))
        self._in = self._runner.get_input_details()  # name -> detail, in signature order
        out = self._runner.get_output_details()
        self._order = output_order(list(out), [h.name for h in meta.heads])
        self._out = out
        self.output_mapping = dict(zip([h.name for h in meta.heads], self._order))  # head -> TFLite output name
        first = next(iter(self._in.values()))
        self.batch_size = int(first["shape"][0])
        self.precision = "int8" if self._is_quantized() else "fp32"
        self.quantized_io = any(np.issubdtype(d["dtype"], np.integer) for d in (*self._in.values(), *out.values()))
        log.info("LiteRT %s: %s, outputs %s", model_path.name, self.precision, self.output_mapping)

    def _is_quantized(self) -> bool:
        # A full-integer model holds int8 weights/activations; fp16-weight models only float16 constants.
        return any(d["dtype"] in (np.int8, np.uint8) for d in self._interp.get_tensor_details())

    def infer(self, batch: np.ndarray, *extra: np.ndarray) -> tuple[np.ndarray, ...]:
        arrays = (batch, *extra)
        if len(arrays) != len(self._in):
            raise ConfigError(f"the model takes {len(self._in)} inputs, got {len(arrays)}",
                              f"feed the image batch plus {list(self.meta.extra_inputs)}")
        if arrays[0].shape[0] != self.batch_size:
            # A static-batch flatbuffer: run larger batches sample by sample instead of failing.
            parts = [self.infer(*(a[i:i + 1] for a in arrays)) for i in range(arrays[0].shape[0])]
            return tuple(np.concatenate(p, axis=0) for p in zip(*parts))
        feed = {}
        for (name, detail), arr in zip(self._in.items(), arrays):
            arr = np.asarray(arr, dtype=np.float32)
            feed[name] = _quantize(arr, detail) if np.issubdtype(detail["dtype"], np.integer) else arr
        results = self._runner(**feed)
        return tuple(_dequantize(results[n], self._out[n]) for n in self._order)
