"""The one place heavy optional dependencies are imported.

Heavy libraries (torch, openvino, ai-edge-litert, tensorrt, ...) load inside the
function that needs them through :func:`require`, so that the runtime installs
and imports on a device that has only what it runs.  Nothing is pip-installed
at run time; a missing module raises an error naming the extra to install.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from edgeaffect._telemetry import telemetry_off
from edgeaffect.errors import MissingExtraError


def require(module: str, extra: str, *, purpose: str = "") -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` naming ``extra``."""
    telemetry_off()  # again here: a caller may have cleared it, and this is the moment a library loads
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # ModuleNotFoundError, or a broken native library
        why = f" (needed for {purpose})" if purpose else ""
        fix = f"pip install 'edgeaffect[{extra}]'"
        if module.split(".")[0] == "onnxruntime":  # the one package pyproject leaves out on a Jetson
            fix += " (on a Jetson: NVIDIA's onnxruntime-gpu wheel for its JetPack, or pip install onnxruntime)"
        raise MissingExtraError(f"python module '{module}' is not available{why}: {exc}", fix) from exc


def available(module: str) -> bool:
    """True when ``module`` imports; used to skip optional paths and tests."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True
