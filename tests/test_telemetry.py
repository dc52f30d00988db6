"""Telemetry is off in every library edgeaffect loads, checked on the libraries' own telemetry objects after
import (in a fresh process with none of the switches set by the caller), so a release that moves or renames
its client fails here instead of quietly sending events again."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

PROBE = r"""
import json, os, sys
import edgeaffect
from edgeaffect._optional import require
out = {"ort_env": os.environ.get("ORT_DISABLE_TELEMETRY"), "nncf_env": os.environ.get("NNCF_CI")}
ort = require("onnxruntime", "onnx")
ort.disable_telemetry_events()  # the API the backend calls exists in this release
if "{what}" in ("nncf", "ovc"):
    require("openvino", "openvino")
if "{what}" == "nncf":
    require("nncf", "openvino")
    from nncf.telemetry import wrapper
    out["nncf"] = type(wrapper.telemetry).__name__
    wrapper.telemetry.send_event("probe", "probe", "probe")
if "{what}" == "ovc":
    from openvino.tools.ovc import telemetry_utils
    t = telemetry_utils.init_ovc_telemetry()
    out["ovc"] = type(t).__module__ + "." + type(t).__qualname__
    t.send_event("ovc", "probe", "probe")
    t.end_session("ovc")
out["client"] = getattr(sys.modules.get("openvino_telemetry"), "__doc__", None)
print(json.dumps(out))
"""


def _probe(what: str, tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("ORT_DISABLE_TELEMETRY", "NNCF_CI", "NNCF_DEV", "CI", "HF_HUB_DISABLE_TELEMETRY")}
    env.update(HOME=str(tmp_path), PYTHONPATH=str(REPO), PYTHONDONTWRITEBYTECODE="1")
    done = subprocess.run([sys.executable, "-c", PROBE.replace("{what}", what)], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not (tmp_path / "intel").exists()  # no consent file, no client id written under the home folder
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_onnxruntime_is_switched_off_by_its_own_variable(tmp_path):
    pytest.importorskip("onnxruntime")
    assert _probe("ort", tmp_path)["ort_env"] == "1"


def test_nncf_keeps_its_no_op_telemetry_object(tmp_path):
    pytest.importorskip("nncf")
    got = _probe("nncf", tmp_path)
    assert got["nncf_env"] == "1"
    # NNCF's own stub, chosen by NNCF because NNCF_CI is set: not a client that could send anything
    assert got["nncf"] == "MagicMock", got


def test_openvino_converter_telemetry_is_the_silent_stand_in(tmp_path):
    pytest.importorskip("openvino")
    got = _probe("ovc", tmp_path)
    assert got["ovc"] == "edgeaffect._telemetry._Silent", got  # the converter found our client, not the real one
    assert "edgeaffect" in (got["client"] or "")
