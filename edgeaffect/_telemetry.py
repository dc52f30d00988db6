"""Telemetry off, for every library edgeaffect loads, before any of them loads.

The runtime promises it never uses the network and stores nothing unless asked, but the
libraries it loads phone home by default: ONNX Runtime keeps an events database and uploads
it; OpenVINO's converter (``ovc``, at export) and NNCF (INT8 quantization) send usage events
to Google Analytics through the ``openvino_telemetry`` client and keep an id under ``~/intel``.
:func:`telemetry_off` runs when the ``edgeaffect`` package is imported and again before each
heavy import (``_optional.require``), so the user never needs to know a switch.

Each library is switched off by the switch its own code reads, where it has one:

* ONNX Runtime: ``ORT_DISABLE_TELEMETRY=1``, read when its native part loads (and
  ``onnxruntime.disable_telemetry_events()``, its API, when a session is made:
  ``runtime/backends/onnxruntime.py``).
* NNCF: ``NNCF_CI``, read by ``nncf.telemetry.wrapper`` at import, which then keeps its
  no-op stub as the telemetry object (NNCF uses the variable for nothing else).
* OpenVINO's converter has no in-process switch: its documented opt-out (``opt_in_out
  --opt_out``) writes a consent file under ``~/intel``, which edgeaffect does not write on
  a user's behalf.  So the client module is replaced, in this process only, by
  :data:`STAND_IN`, a module with the client's public surface whose calls do nothing.  A
  module rather than a blocked import: a release that imports the client without a fallback
  still imports.

``tests/test_telemetry.py`` imports each library and inspects the telemetry object it ends
up with, so a release that moves or renames its client fails that test loudly instead of
quietly sending events again.
"""
from __future__ import annotations

import os
import sys
import types

# Read by each library once, when it (or its native part) loads: set before the first import.
ENVIRONMENT = {
    "ORT_DISABLE_TELEMETRY": "1",  # ONNX Runtime: no events database, no upload
    "NNCF_CI": "1",  # NNCF: its telemetry object stays the no-op stub
    "HF_HUB_DISABLE_TELEMETRY": "1",  # huggingface_hub (timm's pretrained weights, at training time)
}
CLIENT = "openvino_telemetry"  # the client OpenVINO's converter and NNCF send through


class _Silent:
    """The client's ``Telemetry``: the calls its users make (the converter, NNCF), none of which sends."""

    consent = False

    def __init__(self, *args, **kwargs) -> None:
        pass

    def _nothing(self, *args, **kwargs) -> None:
        return None

    init = send_event = send_error = send_stack_trace = start_session = end_session = force_shutdown = _nothing


def _stand_in() -> types.ModuleType:
    module = types.ModuleType(CLIENT, "edgeaffect's no-op stand-in for the OpenVINO telemetry client")
    module.Telemetry = _Silent  # type: ignore[attr-defined]
    module.__path__ = []  # a package, so 'from openvino_telemetry.backend import backend_ga4' resolves
    backend = types.ModuleType(f"{CLIENT}.backend")
    backend.backend_ga4 = types.ModuleType(f"{CLIENT}.backend.backend_ga4")  # type: ignore[attr-defined]
    backend.__path__ = []  # type: ignore[attr-defined]
    module.backend = backend  # type: ignore[attr-defined]
    return module


STAND_IN = _stand_in()


def telemetry_off() -> None:
    """Switch telemetry off for this process (idempotent; cheap; imports nothing)."""
    for key, value in ENVIRONMENT.items():
        os.environ.setdefault(key, value)  # an explicit choice of the user's own still wins
    if sys.modules.get(CLIENT) is None:  # a client a caller already loaded is left alone
        sys.modules[CLIENT] = STAND_IN
        sys.modules[f"{CLIENT}.backend"] = STAND_IN.backend  # type: ignore[attr-defined]
        sys.modules[f"{CLIENT}.backend.backend_ga4"] = STAND_IN.backend.backend_ga4  # type: ignore[attr-defined]
