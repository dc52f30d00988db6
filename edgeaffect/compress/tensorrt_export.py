"""The TensorRT route: the ONNX model TensorRT wants, plus the exact build step for the device.

An engine is specific to the TensorRT version and the GPU it was built on, so
the bundle does not carry one: it carries ``model.onnx`` (explicit-quantization
QDQ with symmetric INT8 for ``int8``; FP16 weights with FP32 IO for ``fp16``)
and ``build_engine.sh`` with the ``trtexec`` line for the profile's TensorRT
version.  The ONNX is verified with ONNX Runtime as a proxy on the export
machine.  :func:`build_engine` does the same build through the TensorRT Python
API when ``tensorrt`` is importable.

NOT RUN HERE: the export machine has no TensorRT; ``build_engine`` and the
script are written against the documented TensorRT 8.2-8.6 / 10.x APIs and
trtexec flags (``--workspace`` before 8.4, ``--memPoolSize`` from 8.4, the only
form in 10.x).
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from edgeaffect._optional import require
from edgeaffect.calibration.sources import CalibrationSource
from edgeaffect.errors import ConfigError, ExportError
from edgeaffect.formats import ExportOptions
from edgeaffect.io import atomic_write_text
from edgeaffect.meta import ModelMeta

log = logging.getLogger(__name__)
SCRIPT = "build_engine.sh"
ENGINE = "model.engine"
DEFAULT_TRT = "10.3"  # JetPack 6.x


def trt_version(tools: dict | None) -> tuple[int, int]:
    text = str((tools or {}).get("tensorrt") or DEFAULT_TRT)
    try:
        parts = [int(p) for p in text.split(".")[:2]]
    except ValueError:
        raise ConfigError(f"TensorRT version '{text}' in the device profile is not a version",
                          "write e.g. tensorrt: \"8.2\"") from None
    return (parts + [0])[0], (parts + [0])[1]


def trtexec_command(meta: ModelMeta, precision: str, *, version: tuple[int, int], workspace_mb: int,
                    onnx_name: str = "model.onnx", engine_name: str = ENGINE, batch: int = 1) -> list[str]:
    """The trtexec arguments for this model, precision and TensorRT version."""
    if precision not in ("fp16", "int8"):
        raise ConfigError(f"TensorRT bundles are built at fp16 or int8, not '{precision}'",
                          "pass --precision fp16 or int8")
    shape = "x".join(str(d) for d in meta.input_shape(batch))
    cmd = ["trtexec", f"--onnx={onnx_name}", f"--saveEngine={engine_name}", f"--shapes=input:{shape}"]
    # the ONNX is exported with a symbolic batch axis: --shapes pins min = opt = max to the runtime batch
    cmd += [f"--{precision}"]
    if precision == "int8":
        cmd += ["--fp16"]  # layers left unquantized by the QDQ graph may run FP16 instead of FP32
    cmd += [f"--workspace={workspace_mb}"] if version < (8, 4) else [f"--memPoolSize=workspace:{workspace_mb}"]
    return cmd


def write_script(out_dir: Path, meta: ModelMeta, precision: str, options: ExportOptions) -> Path:
    version = trt_version(dict(options.tools))
    cmd = trtexec_command(meta, precision, version=version, workspace_mb=options.workspace_mb, batch=options.batch_size)
    text = "\n".join([
        "#!/bin/sh",
        f"# Build the TensorRT engine for '{meta.model}' ({precision}) ON THE DEVICE that runs it.",
        f"# Written for TensorRT {version[0]}.{version[1]} (device profile '{options.target or 'unknown'}').",
        "# An engine only runs with the TensorRT version and GPU it was built with: rebuild after every JetPack upgrade.",
        "set -e",
        'cd "$(dirname "$0")"',
        'TRTEXEC="${TRTEXEC:-$(command -v trtexec || echo /usr/src/tensorrt/bin/trtexec)}"',
        '"$TRTEXEC" ' + " ".join(cmd[1:]),
        'echo "built $(pwd)/' + ENGINE + '"',
        "",
    ])
    path = atomic_write_text(out_dir / SCRIPT, text)
    path.chmod(0o755)
    return path


def export(model, meta: ModelMeta, out_dir: Path, *, precision: str, calibration: CalibrationSource | None,
           options: ExportOptions) -> list[str]:
    """``model.onnx`` (QDQ int8 or fp16) + ``build_engine.sh``; the runtime builds/opens ``model.engine``."""
    from edgeaffect.compress import onnx_export

    if precision not in ("fp16", "int8"):
        raise ConfigError(f"TensorRT bundles are built at fp16 or int8, not '{precision}'",
                          "pass --precision fp16 or int8")
    # TensorRT accumulates INT8 in 32 bits (no x86 U8S8 saturation): all 8 weight bits, not reduce_range
    trt_options = dataclasses.replace(options, symmetric_activations=True, per_channel=True, reduce_range=False)
    files = onnx_export.export(model, meta, out_dir, precision=precision, calibration=calibration, options=trt_options)
    write_script(Path(out_dir), meta, precision, trt_options)
    return [*files, SCRIPT]


def build_engine(onnx_path: Path, engine_path: Path, precision: str, *, workspace_mb: int = 1024,
                 meta: ModelMeta | None = None, batch: int = 1) -> Path:
    """Build ``engine_path`` from ``onnx_path`` with the TensorRT Python API (on the device).

    NOT RUN HERE (no TensorRT on the export machine); follows the documented
    8.x/10.x builder API: explicit-batch network, ONNX parser, one optimisation
    profile pinning the batch, FP16/INT8 builder flags (INT8 ranges come from
    the QDQ nodes, so no calibrator is set).
    """
    trt = require("tensorrt", "tensorrt", purpose="building a TensorRT engine")
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    major = int(trt.__version__.split(".")[0])
    # TensorRT 10 removed implicit batch (networks are always explicit); 8.x must ask for it
    flags = 0 if major >= 10 else 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ExportError(f"TensorRT cannot parse {onnx_path}: {errors}",
                          "check the op is supported by this TensorRT version")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
    config.set_flag(trt.BuilderFlag.FP16)
    if precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)
    inp = network.get_input(0)
    if -1 in tuple(inp.shape):
        shape = tuple(meta.input_shape(batch)) if meta is not None else tuple(batch if d == -1 else d for d in inp.shape)
        profile = builder.create_optimization_profile()
        profile.set_shape(inp.name, shape, shape, shape)
        config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ExportError(f"TensorRT failed to build an engine from {onnx_path}",
                          "run build_engine.sh to see trtexec's log")
    Path(engine_path).write_bytes(bytes(serialized))
    log.info("built %s (TensorRT %s, %s)", engine_path, trt.__version__, precision)
    return Path(engine_path)
