"""TensorRT backend: deserialises ``model.engine`` and runs it with CUDA buffers (Jetson, NVIDIA GPUs).

A TensorRT bundle ships ``model.onnx`` + ``build_engine.sh``; the engine is
built on the device (engines are tied to the TensorRT version and GPU).  Given
the bundle's ``model.onnx`` this backend opens the ``model.engine`` beside it,
checks the running TensorRT against the manifest's ``tools.tensorrt`` and says
to re-run build_engine.sh when they differ or the engine is missing/stale.

NOT RUN HERE: the development machine has no GPU/TensorRT.  Written against the
documented TensorRT Python API (name-based tensor API of 8.5+/10.x, binding API
of 8.2-8.4) and cuda-python's runtime API.  Torch-free.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from edgeaffect._optional import require
from edgeaffect.errors import BundleError
from edgeaffect.meta import ModelMeta
from edgeaffect.runtime.backends.base import register_backend

log = logging.getLogger(__name__)
ENGINE = "model.engine"
REBUILD = "run ./build_engine.sh in the bundle folder on this device to (re)build model.engine"


def cudart_module():
    """cuda-python's runtime API (module path moved in cuda-python 12.6)."""
    try:
        from cuda.bindings import runtime as cudart  # cuda-python >= 12.6
    except ImportError:
        cudart = require("cuda.cudart", "tensorrt", purpose="CUDA buffers for TensorRT")
    return cudart


def _check(result):
    err, *rest = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        raise BundleError(f"CUDA call failed with error {err}",
                          "check the GPU driver and that no other process holds the GPU")
    return rest[0] if len(rest) == 1 else rest


def _major_minor(text: str) -> str:
    return ".".join(str(text).split(".")[:2])


@register_backend("tensorrt")
class TensorRTBackend:
    """A TensorRT engine behind the Backend protocol (batch fixed at build time)."""

    name = "tensorrt"

    def __init__(self, model_path: Path, meta: ModelMeta, *, precision: str | None = None) -> None:
        trt = require("tensorrt", "tensorrt", purpose="the TensorRT backend")
        self._cudart = cudart_module()
        model_path = Path(model_path)
        engine_path = model_path if model_path.suffix == ".engine" else model_path.with_name(ENGINE)
        manifest = self._manifest(model_path.parent)
        built_for = manifest.get("tools", {}).get("tensorrt")
        if built_for and _major_minor(built_for) != _major_minor(trt.__version__):
            raise BundleError(f"this bundle was prepared for TensorRT {built_for}, this device runs {trt.__version__}",
                              f"re-export with the right --target, or {REBUILD} (and re-verify accuracy)")
        if not engine_path.is_file():
            raise BundleError(f"no TensorRT engine at {engine_path}", REBUILD)
        self.meta = meta
        self.precision = precision or manifest.get("precision", "fp16")
        self._runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self._engine = self._runtime.deserialize_cuda_engine(engine_path.read_bytes())
        if self._engine is None:
            raise BundleError(f"TensorRT {trt.__version__} cannot load {engine_path} (built by another version or GPU)",
                              REBUILD)
        self._context = self._engine.create_execution_context()
        self._stream = _check(self._cudart.cudaStreamCreate())
        self._tensor_api = hasattr(self._engine, "num_io_tensors")
        self._io = self._describe(trt)
        self.batch_size = int(self._io[0][2][0])
        self._buffers = {}
        for name, _, shape, dtype in self._io:
            nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
            self._buffers[name] = (_check(self._cudart.cudaMalloc(nbytes)), shape, dtype)
        log.info("TensorRT %s engine %s, batch %d", trt.__version__, engine_path.name, self.batch_size)

    @staticmethod
    def _manifest(folder: Path) -> dict:
        path = folder / "manifest.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    def _describe(self, trt) -> list[tuple[str, bool, tuple[int, ...], type]]:
        """(name, is_input, shape, numpy dtype) for every engine tensor, inputs first."""
        e = self._engine
        if self._tensor_api:
            names = [e.get_tensor_name(i) for i in range(e.num_io_tensors)]
            io = [(n, e.get_tensor_mode(n) == trt.TensorIOMode.INPUT, tuple(e.get_tensor_shape(n)),
                   trt.nptype(e.get_tensor_dtype(n))) for n in names]
        else:  # TensorRT 8.2-8.4 binding API
            io = [(e.get_binding_name(i), e.binding_is_input(i), tuple(e.get_binding_shape(i)),
                   trt.nptype(e.get_binding_dtype(i))) for i in range(e.num_bindings)]
        # a symbolic batch axis (-1) is pinned to the build profile's batch (build_engine.sh --shapes)
        io = [(n, is_in, tuple(1 if d == -1 else d for d in shape), dt) for n, is_in, shape, dt in io]
        ins = [t for t in io if t[1]]
        for name, _, shape, _ in ins:
            if self._tensor_api:
                self._context.set_input_shape(name, shape)
            else:
                self._context.set_binding_shape(self._engine.get_binding_index(name), shape)
        outs = [t for t in io if not t[1]]
        heads = [h.name for h in self.meta.heads]
        by_name = {t[0]: t for t in outs}
        outs = [by_name[h] for h in heads] if set(heads) <= set(by_name) else outs
        return ins + outs

    def infer(self, batch: np.ndarray, *extra: np.ndarray) -> tuple[np.ndarray, ...]:
        cudart = self._cudart
        h2d, d2h = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        inputs = [t for t in self._io if t[1]]
        for (name, _, shape, dtype), host in zip(inputs, (batch, *extra)):
            host = np.ascontiguousarray(host, dtype=dtype)
            if host.shape != shape:
                raise BundleError(f"TensorRT engine takes {name} of shape {shape}, got {host.shape}",
                                  "feed the batch size the engine was built for (see build_engine.sh --shapes)")
            _check(cudart.cudaMemcpyAsync(self._buffers[name][0], host.ctypes.data, host.nbytes, h2d, self._stream))
        if self._tensor_api:
            for name, (ptr, _, _) in self._buffers.items():
                self._context.set_tensor_address(name, int(ptr))
            self._context.execute_async_v3(int(self._stream))
        else:  # bindings go in engine binding-index order, not our heads order
            names = [self._engine.get_binding_name(i) for i in range(self._engine.num_bindings)]
            self._context.execute_async_v2([int(self._buffers[n][0]) for n in names], int(self._stream))
        outputs = []
        for name, _, shape, dtype in (t for t in self._io if not t[1]):
            host = np.empty(shape, dtype=dtype)
            _check(cudart.cudaMemcpyAsync(host.ctypes.data, self._buffers[name][0], host.nbytes, d2h, self._stream))
            outputs.append(host)
        _check(cudart.cudaStreamSynchronize(self._stream))
        return tuple(o.astype(np.float32, copy=False) for o in outputs)

    def __del__(self) -> None:
        for ptr, _, _ in getattr(self, "_buffers", {}).values():
            self._cudart.cudaFree(ptr)
