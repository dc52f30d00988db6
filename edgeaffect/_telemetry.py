"""Telemetry off, for every library edgeaffect loads, before any of them loads.

The runtime promises it never uses the network and stores nothing unless
asked, but two of the inference libraries it loads phone home by default:
ONNX Runtime keeps an events database under ``~/.cache/Microsoft`` (and
uploads it), and ``import openvino`` sends an event to Google Analytics from
a forked child and keeps counters under ``~/intel``; NNCF does the same at
export.  :func:`telemetry_off` runs when the ``edgeaffect`` package is
imported and again before each heavy import (``_optional.require``), so the
user never needs to know an environment variable.

How each is switched off is the library's own documented switch where it has
one that acts in-process; OpenVINO and NNCF have none that writes nothing
(their opt-out is a file under ``~/intel``), but both import their telemetry
client inside ``try/except ImportError`` and fall back to a no-op stub, so the
client is made unimportable in this process.
"""
from __future__ import annotations

import os
import sys

# Read by the library once, when its native part loads: set before the first import.
ENVIRONMENT = {
    "ORT_DISABLE_TELEMETRY": "1",  # ONNX Runtime: no events database, no upload
    "HF_HUB_DISABLE_TELEMETRY": "1",  # huggingface_hub (timm's pretrained weights, at training time)
}
# Telemetry clients whose importers fall back to a no-op when the import fails.
BLOCKED_MODULES = ("openvino_telemetry",)  # used by OpenVINO (ovc, at 'import openvino') and NNCF


def telemetry_off() -> None:
    """Switch telemetry off for this process (idempotent; cheap; imports nothing)."""
    for key, value in ENVIRONMENT.items():
        os.environ.setdefault(key, value)  # an explicit choice of the user's own still wins
    for name in BLOCKED_MODULES:
        # None in sys.modules makes 'import name' raise ImportError; a client already loaded is left alone
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]
