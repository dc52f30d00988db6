"""ONNX export of fitted scikit-learn fusion models (EEG + face feature windows) through skl2onnx.

The graph takes one float32 ``input`` of shape (N, n_features) - a fusion
window flattened the way the model was trained - and its class-probability
output is renamed to ModelMeta's first head, so the ONNX Runtime backend and
verification treat it like any other classifier.  Only FP32: tree ensembles
and linear models gain nothing from INT8 here, and skl2onnx emits ONNX-ML ops
the quantizer does not touch.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from edgeaffect._optional import require
from edgeaffect.errors import ConfigError, ExportError
from edgeaffect.meta import ModelMeta

log = logging.getLogger(__name__)
MODEL_FILE = "model.onnx"


def n_features(model: Any) -> int:
    n = getattr(model, "n_features_in_", None)
    if n is None:
        raise ExportError(f"{type(model).__name__} is not fitted (no n_features_in_)",
                          "fit the fusion model before exporting")
    return int(n)


def export(model: Any, meta: ModelMeta, out_dir: Path, *, precision: str, calibration: Any = None,
           options: Any = None) -> list[str]:
    """Write ``model.onnx`` (fp32) for a fitted estimator or pipeline with ``predict_proba``."""
    if precision != "fp32":
        raise ConfigError(f"scikit-learn models export at fp32 only, not {precision}", "pass --precision fp32")
    skl2onnx = require("skl2onnx", "fusion", purpose="exporting scikit-learn models")
    from skl2onnx.common.data_types import FloatTensorType

    from edgeaffect.compress.onnx_export import save_checked

    opset = getattr(options, "opset", 17)
    try:
        proto = skl2onnx.convert_sklearn(
            model, initial_types=[("input", FloatTensorType([None, n_features(model)]))],
            options={id(model): {"zipmap": False}}, target_opset={"": opset, "ai.onnx.ml": 3})
    except Exception as exc:  # skl2onnx raises RuntimeError/MissingShapeCalculator for unknown estimators
        raise ExportError(f"skl2onnx cannot convert {type(model).__name__}: {exc}",
                          "use an estimator skl2onnx supports (see skl2onnx's supported list)") from exc
    outputs = list(proto.graph.output)
    probs = next((o for o in outputs if "prob" in o.name), outputs[-1])
    old = probs.name
    for node in proto.graph.node:  # rename the probability tensor to the head name everywhere it appears
        node.output[:] = [meta.heads[0].name if o == old else o for o in node.output]
        node.input[:] = [meta.heads[0].name if i == old else i for i in node.input]
    probs.name = meta.heads[0].name
    del proto.graph.output[:]
    proto.graph.output.append(probs)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_checked(proto, out_dir / MODEL_FILE, meta, "fp32")
    return [MODEL_FILE]
