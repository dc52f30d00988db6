"""The inference-backend protocol and registry.

A backend opens one exported model file and runs already-preprocessed float32
inputs (NCHW images or NCTHW clips, as ModelMeta states) to a tuple of numpy
outputs in the order of ``meta.heads``.  Backends register by name; the export
format table (``edgeaffect.formats``) names the backend that runs each
format, and the runtime picks it from the bundle manifest.  Torch-free.

Backend modules are imported only when asked for (``BACKEND_MODULES``), so a
Raspberry Pi with only LiteRT installed never touches OpenVINO.  Adding a
backend = one file that registers itself + one line in ``BACKEND_MODULES``.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from edgeaffect.errors import unknown_name
from edgeaffect.meta import ModelMeta


class Backend(Protocol):
    """What every backend offers.

    ``infer`` takes the batch (and any extra inputs ModelMeta lists, e.g. a BVP
    signal) and returns the heads.  ``batch_size`` is the fixed batch of a
    static-shape model, or None when any batch runs.  ``precision`` says what
    actually ran (e.g. OpenVINO's CPU plugin may run bf16 for an FP32 model).
    """

    name: str
    meta: ModelMeta
    batch_size: int | None
    precision: str

    def infer(self, batch: np.ndarray, *extra: np.ndarray) -> tuple[np.ndarray, ...]: ...


BACKENDS: dict[str, Callable[..., Backend]] = {}

# name -> module that registers it (imported on first use)
BACKEND_MODULES = {
    "onnxruntime": "edgeaffect.runtime.backends.onnxruntime",
    "openvino": "edgeaffect.runtime.backends.openvino",
    "litert": "edgeaffect.runtime.backends.litert",
    "tensorrt": "edgeaffect.runtime.backends.tensorrt",
}


def register_backend(name: str) -> Callable[[Callable[..., Backend]], Callable[..., Backend]]:
    def wrap(factory: Callable[..., Backend]) -> Callable[..., Backend]:
        BACKENDS[name] = factory
        return factory

    return wrap


def create_backend(name: str, model_path: str | Path, meta: ModelMeta, **options) -> Backend:
    """Open ``model_path`` with the backend ``name`` (its heavy library loads here)."""
    if name not in BACKENDS and name in BACKEND_MODULES:
        importlib.import_module(BACKEND_MODULES[name])
    if name not in BACKENDS:
        raise unknown_name("backend", name, BACKEND_MODULES)
    return BACKENDS[name](Path(model_path), meta, **options)
