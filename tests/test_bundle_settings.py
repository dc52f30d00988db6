"""Bundles carry their device profile's runtime settings; ``edgeaffect run`` applies them (flags override,
the summary says which came from where), with nothing to download; profiles are checked when they load."""
from __future__ import annotations

import json
import socket

import pytest

from edgeaffect.bundle import RuntimeSettings, load_bundle
from edgeaffect.cli import main
from edgeaffect.devices.profiles import _from_yaml, get_profile
from edgeaffect.errors import EdgeAffectError
from edgeaffect.runtime.pipeline import RunConfig, run
from runtime_support import make_bundle, make_video



@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("video") / "clip.avi", frames=12)


def test_run_applies_the_bundle_settings_and_flags_override_them(tmp_path, video):
    bundle = make_bundle(tmp_path / "b", runtime=RuntimeSettings(
        backend="onnxruntime", backend_options={"providers": ["CPUExecutionProvider"]}, threads=1,
        detector="haar", detect_every=3, smoothing="ema:0.5", camera="usb"))
    summary = run(RunConfig(bundle=bundle, source=str(video), out=tmp_path / "r.jsonl", max_frames=6))
    s = summary.settings
    assert summary.detector == "haar" and summary.detect_every == 3 and summary.smoothing == "ema"
    assert s["detector"]["from"] == "bundle" and s["detect_every"]["from"] == "bundle"
    assert s["onnxruntime.threads"] == {"value": 1, "from": "bundle"}
    assert s["onnxruntime.providers"]["from"] == "bundle"
    assert json.loads((tmp_path / "r.summary.json").read_text())["settings"]["smoothing"]["value"] == "ema:0.5"
    flagged = run(RunConfig(bundle=bundle, source=str(video), detector="none", detect_every=1, threads=2, max_frames=3))
    assert flagged.detector == "none" and flagged.settings["detector"]["from"] == "flag"
    assert flagged.settings["onnxruntime.threads"] == {"value": 2, "from": "flag"}
    assert flagged.settings["detect_every"]["from"] == "flag" and flagged.settings["smoothing"]["from"] == "bundle"


def test_a_bundle_without_settings_runs_on_defaults(tmp_path, video):
    summary = run(RunConfig(bundle=make_bundle(tmp_path / "old"), source=str(video), detector="none", max_frames=2))
    assert summary.settings["backend"] == {"value": "onnxruntime", "from": "default"}


def test_yunet_runs_with_no_network(tmp_path, video, monkeypatch):
    """The default detector is found inside the package: no socket is ever opened."""
    attempts = []

    def refuse(self, address, *a, **k):
        attempts.append(address)
        raise OSError("network is blocked in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))  # no cached model either
    bundle = make_bundle(tmp_path / "b", runtime=get_profile("laptop-x86").runtime_settings("onnxruntime"))
    code = main(["run", str(bundle), "--source", str(video), "--headless", "--max-frames", "5",
                 "--out", str(tmp_path / "r.jsonl")])
    assert code == 0 and attempts == []
    summary = json.loads((tmp_path / "r.summary.json").read_text())
    assert summary["detector"] == "yunet" and summary["faces"] >= 4


def test_a_bundle_whose_backend_is_not_installed_names_the_extra(tmp_path, video, capsys, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tensorrt(name, *a, **k):
        if name == "tensorrt" or name.startswith("tensorrt."):
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_tensorrt)
    bundle = make_bundle(tmp_path / "b", runtime=RuntimeSettings(backend="tensorrt", detector="none"))
    assert main(["run", str(bundle), "--source", str(video), "--headless", "--max-frames", "1"]) == 2
    assert "edgeaffect[tensorrt]" in capsys.readouterr().err


def test_backend_option_flags_are_checked_against_the_backend(tmp_path, video, capsys):
    bundle = make_bundle(tmp_path / "b", runtime=RuntimeSettings(backend="onnxruntime", detector="none"))
    assert main(["run", str(bundle), "--source", str(video), "--headless", "--backend-option", "devcie=CPU"]) == 2
    assert "devcie" in capsys.readouterr().err


def test_camera_index_opens_the_profiles_camera_kind():
    from edgeaffect.runtime.settings import camera_source

    assert camera_source("0", "picamera2") == "picamera:"
    assert camera_source("1", "csi").startswith("stream:nvarguscamerasrc sensor-id=1 ")
    assert camera_source("clip.mp4", "picamera2") == "clip.mp4" and camera_source("0", "usb") == "camera:0"


PROFILE = """name: mybox
description: test
arch: x86_64
formats: [onnx]
precisions: [fp32]
backend_options:
  onnxruntime: {providers: [CPUExecutionProvider]}
"""


@pytest.mark.parametrize("text,typo,word", [
    ("formats: [onnx]", "formats: [onxx]", "onxx"),
    ("precisions: [fp32]", "precisions: [fp23]", "fp23"),
    ("{providers:", "{provders:", "provders"),
    ("onnxruntime: {", "onnxrutime: {", "onnxrutime"),
    ("description: test", "descripton: test", "descripton"),
    ("description: test", "description: test\ndetector: yunett", "yunett"),
    ("description: test", "description: test\nsmoothing: emma:0.5", "emma"),
])
def test_a_profile_with_a_typo_fails_naming_the_file_and_the_key(text, typo, word):
    _from_yaml(PROFILE, "mybox.yaml")  # the untouched profile loads
    with pytest.raises(EdgeAffectError) as info:
        _from_yaml(PROFILE.replace(text, typo), "mybox.yaml")
    assert "mybox.yaml" in info.value.what and word in info.value.what


def test_every_shipped_profile_loads_and_its_bundle_settings_carry_its_options():
    gpu = get_profile("laptop-intel-gpu").runtime_settings("openvino")
    assert gpu.backend_options == {"device": "GPU"} and gpu.detector == "yunet"
    orin = get_profile("jetson-orin-nano").runtime_settings("onnxruntime")
    assert orin.backend_options["providers"][0] == "TensorrtExecutionProvider" and orin.camera == "csi"
    assert get_profile("rpi4").runtime_settings("litert").backend_options == {"threads": 4}


def test_providers_the_device_lacks_are_reported_as_what_ran(tmp_path, video, caplog):
    """A Jetson bundle on a machine without CUDA/TensorRT: the summary shows the CPU ran it, with a warning."""
    bundle = make_bundle(tmp_path / "b", runtime=get_profile("jetson-orin-nano").runtime_settings("onnxruntime"))
    summary = run(RunConfig(bundle=bundle, source=str(video), detector="none", max_frames=2))
    assert summary.settings["onnxruntime.providers"]["value"][0] == "TensorrtExecutionProvider"
    assert summary.ran_on == "CPUExecutionProvider"
    assert any("skipped" in r.message and r.levelname == "WARNING" for r in caplog.records)
