"""ONNX Runtime backend: runs ``.onnx`` files (fp32, fp16 with fp32 IO, QDQ int8) on CPU, CUDA or TensorRT EPs.

Execution providers are asked for in preference order and the ones this
onnxruntime build lacks are dropped (logged), so one device profile works with
``onnxruntime`` and ``onnxruntime-gpu``.  ``precision`` comes from the file's
own ``edgeaffect.precision`` metadata (written at export).  Torch-free.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from edgeaffect._optional import require
from edgeaffect.backend_options import usable_cores
from edgeaffect.errors import BundleError, ConfigError
from edgeaffect.formats import PRECISION_PROP
from edgeaffect.meta import ONNX_PROP_KEY, ModelMeta
from edgeaffect.runtime.backends.base import register_backend

log = logging.getLogger(__name__)
# Short names accepted in device profiles and on the command line.
PROVIDER_ALIASES = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider",
                    "tensorrt": "TensorrtExecutionProvider", "openvino": "OpenVINOExecutionProvider",
                    "coreml": "CoreMLExecutionProvider", "xnnpack": "XnnpackExecutionProvider"}


@register_backend("onnxruntime")
class OnnxRuntimeBackend:
    """``onnxruntime.InferenceSession`` behind the Backend protocol.

    ``providers``: execution providers in preference order (names or aliases);
    ``threads``: intra-op threads (0/None = ONNX Runtime's default, all cores, or one per core this process may
    use when its CPU affinity allows fewer);
    ``exact_int8``: ORT's U8U8 integer kernels (``session.x64quantprecision``) on x86-64 CPUs without
    VNNI, where the default U8S8 ones saturate on full 8-bit weights; ORT ignores it on other CPUs.
    The export machine sets it to verify a TensorRT QDQ model as the device computes it (32-bit sums).
    """

    name = "onnxruntime"

    def __init__(self, model_path: Path, meta: ModelMeta, *, providers: Sequence[str] = ("CPUExecutionProvider",),
                 threads: int | None = None, precision: str | None = None, exact_int8: bool = False) -> None:
        ort = require("onnxruntime", "onnx", purpose="the ONNX Runtime backend")
        ort.disable_telemetry_events()  # the environment switch (edgeaffect._telemetry) is too late if ORT loaded first
        model_path = Path(model_path)
        if not model_path.is_file():
            raise BundleError(f"ONNX model {model_path} does not exist", "point at the model.onnx of an ONNX bundle")
        self.meta = meta
        self.providers = self._usable(ort, providers)
        opts = ort.SessionOptions()
        # ONNX Runtime's own default counts the machine's (physical) cores, not the ones this process may use:
        # pinned to one core (taskset) it ran two threads there and took 2x the CPU per call (8.0 vs 4.2 ms, 2 faces)
        cores = usable_cores()
        if not threads and cores < (os.cpu_count() or 1):
            threads = cores
        if threads:
            opts.intra_op_num_threads = int(threads)
        opts.log_severity_level = 3  # ORT warns about every unused initializer; errors still raise
        self.exact_int8 = bool(exact_int8)
        if self.exact_int8:
            opts.add_session_config_entry("session.x64quantprecision", "1")
        try:
            self._session = ort.InferenceSession(str(model_path), sess_options=opts, providers=self.providers)
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph types
            raise BundleError(f"ONNX Runtime cannot load {model_path}: {exc}",
                              "the file is damaged or needs a newer onnxruntime; re-export or upgrade") from exc
        self._inputs = [i.name for i in self._session.get_inputs()]
        expected = ["input", *meta.extra_inputs]
        if len(self._inputs) != len(expected):
            raise BundleError(f"{model_path.name} takes inputs {self._inputs}, ModelMeta expects {expected}",
                              "re-export the model: its file and meta.json do not belong together")
        declared = self._session.get_inputs()[0].shape
        wanted = meta.input_shape()
        if len(declared) == len(wanted) and any(isinstance(d, int) and d != w for d, w in zip(declared[1:], wanted[1:])):
            raise BundleError(f"{model_path.name} declares input shape {declared}, ModelMeta says {list(wanted)}",
                              "re-export the model: its file and meta.json do not belong together")
        self._outputs = self._map_outputs([o.name for o in self._session.get_outputs()], model_path)
        dim0 = self._session.get_inputs()[0].shape[0]
        self.batch_size = dim0 if isinstance(dim0, int) and dim0 > 0 else None
        props = self._session.get_modelmeta().custom_metadata_map
        _same_meta(props, meta, model_path)
        self.precision = precision or props.get(PRECISION_PROP, "fp32")
        log.info("ONNX Runtime %s (%s) on %s", model_path.name, self.precision, ", ".join(self.providers))

    @staticmethod
    def _usable(ort, wanted: Sequence[str]) -> list[str]:
        have = set(ort.get_available_providers())
        names = [PROVIDER_ALIASES.get(p.lower(), p) for p in wanted]
        unknown = [p for p in names if p not in PROVIDER_ALIASES.values() and p not in have]
        if unknown:
            raise ConfigError(f"unknown ONNX Runtime execution providers {unknown}",
                              f"choose from: {', '.join(sorted(have | set(PROVIDER_ALIASES.values())))}")
        usable = [p for p in names if p in have]
        dropped = [p for p in names if p not in have]
        if dropped:  # a warning, and the run summary's ran_on shows what did run: never a silent CPU run
            log.warning("execution providers not in this onnxruntime build, skipped: %s", ", ".join(dropped))
        return usable or ["CPUExecutionProvider"]

    def _map_outputs(self, names: list[str], path: Path) -> list[str]:
        """Session outputs in ``meta.heads`` order (by name; position when the file has other names)."""
        heads = [h.name for h in self.meta.heads]
        if len(names) != len(heads):
            raise BundleError(f"{path.name} has {len(names)} outputs, ModelMeta lists heads {heads}",
                              "re-export the model: its file and meta.json do not belong together")
        return heads if set(heads) == set(names) else names

    def infer(self, batch: np.ndarray, *extra: np.ndarray) -> tuple[np.ndarray, ...]:
        feeds = {name: np.ascontiguousarray(a, dtype=np.float32) for name, a in zip(self._inputs, (batch, *extra))}
        return tuple(self._session.run(self._outputs, feeds))


# What decides a label: a meta.json from another bundle beside this file would run confidently wrong
COMPARED = ("labels", "input_size", "color", "mean", "std")


def _same_meta(props: Mapping[str, str], meta: ModelMeta, model_path: Path) -> None:
    """The ModelMeta export embedded in the ONNX file agrees with meta.json on the fields that decide a label."""
    import json

    try:
        embedded = json.loads(props[ONNX_PROP_KEY])
    except (KeyError, ValueError):  # files from other tools carry none: nothing to compare
        return
    ours = meta.to_dict()
    differ = [k for k in COMPARED if k in embedded and json.dumps(embedded[k]) != json.dumps(ours.get(k))]
    if differ:
        raise BundleError(f"{model_path.name} was exported with other {', '.join(differ)} than meta.json says "
                          f"(e.g. {differ[0]}: {embedded[differ[0]]} against {ours.get(differ[0])})",
                          "re-export the model: its file and meta.json do not belong together")
