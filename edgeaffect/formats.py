"""The export-format table: every format edgeaffect writes, declared once.

CLI choices, option validation, device-profile compatibility, the per-format
exporter and runtime backend, and the test parametrisation all derive from
:data:`FORMATS`.  Adding a format = one row here + one exporter module with
``export(model, meta, out_dir, *, precision, calibration, options) -> list[str]``
(relative file names written in ``out_dir``; the first is what the backend opens).

Also holds :class:`ExportOptions`, the typed knobs every exporter receives,
and the ONNX metadata key the precision is stored under.  It sits below
``compress`` and ``runtime`` because both read it: the exporters write what the
runtime loader and backends read back.  Torch-free.
"""
from __future__ import annotations

import enum
import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from edgeaffect.errors import ConfigError, ExportError, unknown_name

PRECISIONS = ("fp32", "fp16", "int8")
PRECISION_PROP = "edgeaffect.precision"  # ONNX metadata_props key: written at export, read by the ORT backend


class CalibrationMethod(str, enum.Enum):
    """Range estimators of ONNX Runtime static quantization (others map them to their own)."""

    MINMAX = "minmax"
    ENTROPY = "entropy"
    PERCENTILE = "percentile"


@dataclass(frozen=True)
class ExportOptions:
    """Knobs shared by all exporters; each exporter reads the ones it understands.

    ``dynamic_batch`` keeps the batch axis symbolic (the runtime feeds 1, the
    verifier feeds larger batches; TensorRT pins it with ``--shapes``).
    ``tools`` are the device profile's tool versions (e.g. ``{"tensorrt": "8.2"}``)
    so exporters can emit version-appropriate build steps.
    """

    opset: int = 17
    dynamic_batch: bool = True
    batch_size: int = 1
    calibration_method: CalibrationMethod = CalibrationMethod.MINMAX
    per_channel: bool = True
    symmetric_activations: bool = False  # TensorRT reads only symmetric signed INT8 QDQ
    keep_io_fp32: bool = True  # FP16 models keep float32 inputs/outputs so preprocessing stays identical
    fp16_weights: bool = False  # ONNX FP32: store weights as float16 (half the file), computed in float32
    workspace_mb: int = 1024  # TensorRT builder workspace
    target: str = ""
    tools: Mapping[str, str] = field(default_factory=dict)
    backend_options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "calibration_method", CalibrationMethod(self.calibration_method))
        if self.opset < 13:
            raise ConfigError(f"ONNX opset {self.opset} is too old", "use --opset 13 or newer (17 is the default)")


@dataclass(frozen=True)
class ExportFormat:
    """One row of the table.

    ``backend`` runs the exported file on the device; ``proxy_backend`` runs it
    for verification on a machine without that runtime (TensorRT engines are
    built on the device, so the ONNX they are built from is verified with ONNX
    Runtime).  ``refuses`` names torch module types the format cannot run: the
    export stops before writing anything when the model contains one.
    """

    name: str
    suffix: str
    precisions: tuple[str, ...]
    backend: str
    extra: str
    exporter: str  # "module:function"
    temporal_ok: bool = True
    proxy_backend: str | None = None
    refuses: tuple[str, ...] = ()
    model_kinds: tuple[str, ...] = ("torch",)  # "sklearn": fitted scikit-learn fusion models
    tools: tuple[str, ...] = ()  # distributions whose versions the bundle manifest records
    notes: str = ""

    def load_exporter(self) -> Callable[..., list[str]]:
        module, _, func = self.exporter.partition(":")
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            raise ConfigError(f"the {self.name} exporter ({module}) is not part of this installation",
                              f"choose another format: {', '.join(FORMATS)}") from exc
        return getattr(mod, func)

    def check_precision(self, precision: str) -> None:
        if precision not in self.precisions:
            raise ConfigError(f"format '{self.name}' does not support precision '{precision}'",
                              f"choose one of: {', '.join(self.precisions)}")


FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat("onnx", ".onnx", ("fp32", "fp16", "int8"), "onnxruntime", "onnx",
                     "edgeaffect.compress.onnx_export:export", model_kinds=("torch", "sklearn"),
                     tools=("onnx", "onnxruntime"),
                     notes="int8 = static QDQ (dynamic for LSTM); fp16 keeps fp32 inputs/outputs"),
        ExportFormat("openvino", ".xml", ("fp32", "fp16", "int8"), "openvino", "openvino",
                     "edgeaffect.compress.openvino_export:export", tools=("openvino", "nncf"),
                     notes="OpenVINO IR (.xml + .bin); int8 via NNCF"),
        ExportFormat("tflite", ".tflite", ("fp32", "fp16", "int8"), "litert", "tflite",
                     "edgeaffect.compress.tflite_export:export", tools=("litert-torch", "ai-edge-litert"),
                     refuses=("ConvTranspose3d",),  # lowers to a StableHLO convolution LiteRT has no kernel for
                     notes="LiteRT flatbuffer via litert-torch"),
        ExportFormat("tensorrt", ".engine", ("fp16", "int8"), "tensorrt", "tensorrt",
                     "edgeaffect.compress.tensorrt_export:export", proxy_backend="onnxruntime",
                     tools=("onnx", "onnxruntime"),
                     notes="bundle carries the ONNX + build_engine.sh; the engine is built on the device"),
    )
}


def get_format(name: str) -> ExportFormat:
    if name not in FORMATS:
        raise unknown_name("export format", name, FORMATS)
    return FORMATS[name]


def check_exporter_args(label: str, precision: str, calibration: Any,
                        precisions: tuple[str, ...] = PRECISIONS, *, meta: Any = None) -> None:
    """The checks every float/INT8 exporter makes before converting: a known precision, and data for INT8.

    With ``meta``, also that the model takes one input: the exporters that pass it trace the
    image/clip tensor only.
    """
    if meta is not None and meta.extra_inputs:
        raise ExportError(f"model '{meta.model}' takes extra inputs {list(meta.extra_inputs)} the {label} exporter "
                          "cannot trace", "export it to ONNX instead")
    if precision not in precisions:
        raise ExportError(f"{label} export has no precision '{precision}'", f"choose {', '.join(precisions)}")
    if precision == "int8" and calibration is None:
        raise ExportError(f"INT8 {label} export needs calibration data", "pass --calib-data with a train/valid split")
