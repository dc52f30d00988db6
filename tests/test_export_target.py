"""``edgeaffect export RUN --target DEVICE`` with the README's arguments only: the run's own dataset
calibrates and verifies, the bundle carries the profile's runtime settings, and a profile's hardware
that is not on this machine is verified on the CPU here and reported on the device."""
from __future__ import annotations

import json
import shutil

import pytest

torch = pytest.importorskip("torch")

from edgeaffect.bundle import load_bundle  # noqa: E402
from edgeaffect.cli import main  # noqa: E402
from runtime_support import make_video  # noqa: E402
from train_support import TINY  # noqa: E402

@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from edgeaffect.train.engine import fit
    from edgeaffect.train.recipes import resolve_config

    root = tmp_path_factory.mktemp("export-target")
    config = resolve_config("ddamfn-synthetic", [
        f"model={TINY}", "model.options={}", f"data.cache={root / 'cache'}",
        "data.synthetic_options={per_class: 4, size: 48, seed: 3}", "batch=8", "epochs=1", f"out={root / 'run'}",
        "progress=false", "threads=1", "optim.bn_recalibrate=0"])
    return fit(config).run_dir


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("clip") / "clip.avi", frames=6)


def _verification(bundle) -> dict:
    return json.loads((bundle / "verification.json").read_text())


def test_export_target_rpi4_needs_no_data_flags(run_dir, tmp_path, capsys):
    out = tmp_path / "bundles" / "net-rpi4"
    assert main(["export", str(run_dir), "--target", "rpi4", "--out", str(out), "--embed-detector"]) == 0
    bundle = load_bundle(out)
    record = _verification(out)
    # INT8 (rpi4's first precision) was calibrated on the run's own train split and verified; a one-epoch
    # model may miss the INT8 gate, and then the default keeps the next precision that passes
    assert record["candidates"][0]["precision"] == "int8" and bundle.manifest.precision == record["chosen"]
    assert record["candidates"][-1]["passed"]
    data = record["data"]
    assert "the run's dataset, train split" in data["calibration"] and "held-out" in data["verification"]
    rt = bundle.manifest.runtime
    assert (rt.backend, dict(rt.backend_options), rt.threads, rt.camera) == ("litert", {"threads": 4}, 4, "picamera2")
    assert rt.detector == "yunet" and (out / rt.detector_model).is_file() and (out / "detector/LICENSE-yunet.txt").is_file()
    assert "litert (threads=4), 4 threads, yunet face detector" in (out / "README.md").read_text()


def test_laptop_intel_gpu_bundle_carries_the_gpu_and_the_run_reports_its_absence(run_dir, tmp_path, video, capsys):
    pytest.importorskip("openvino")
    out = tmp_path / "gpu"
    assert main(["export", str(run_dir), "--target", "laptop-intel-gpu", "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["runtime"]["backend_options"] == {"device": "GPU"}
    candidates = _verification(out)["candidates"]
    assert "GPU" in candidates[0]["note"]  # verified here on the CPU, and said so
    capsys.readouterr()
    args = ["run", str(out), "--source", str(video), "--headless", "--max-frames", "2", "--detector", "none"]
    import openvino

    if "GPU" in openvino.Core().available_devices:
        pytest.skip("this machine has an OpenVINO GPU device")
    assert main(args) == 2  # the option reached OpenVINO: no silent CPU run
    err = capsys.readouterr().err
    assert "device 'GPU'" in err and "CPU" in err
    assert main([*args, "--backend-option", "device=CPU", "--out", str(tmp_path / "r.jsonl")]) == 0
    settings = json.loads((tmp_path / "r.summary.json").read_text())["settings"]
    assert settings["openvino.device"] == {"value": "CPU", "from": "flag"}
    assert settings["backend"] == {"value": "openvino", "from": "bundle"}


def test_unreachable_run_data_verifies_on_synthetic_faces_and_leaves_int8_out(run_dir, tmp_path):
    moved = tmp_path / "elsewhere"
    shutil.copytree(run_dir, moved)
    config = (moved / "config.yaml").read_text()
    (moved / "config.yaml").write_text(config.replace("path: ''", f"path: {tmp_path / 'no-such-ferplus'}", 1))
    out = tmp_path / "b"
    assert main(["export", str(moved), "--target", "rpi4", "--format", "onnx", "--out", str(out)]) == 0
    v = _verification(out)
    assert load_bundle(out).manifest.precision == "fp32"
    assert "synthetic faces" in v["data"]["verification"] and "--calib-data" in v["data"]["int8"]
    assert v["skipped"][0]["precision"] == "int8" and "--calib-data" in v["skipped"][0]["fix"]


def test_no_verification_data_at_all_says_which_flag_to_pass(run_dir, tmp_path, capsys):
    from edgeaffect.compress.export import export_model
    from edgeaffect.errors import ConfigError
    from edgeaffect.train.checkpoint import load_model

    model, meta = load_model(run_dir)
    with pytest.raises(ConfigError) as info:
        export_model(model, meta, target="laptop-x86", out=tmp_path / "x", format="onnx")
    assert "--verify-data" in info.value.fix
