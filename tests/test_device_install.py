"""The torch-free device install, exercised: a fresh virtual environment, ``pip install .`` with no
extras (not editable, so the wheel's package data is what ships), no torch, and ``edgeaffect run`` of
a small bundle and of the shipped default model (``run default``) on a short video with the shipped
YuNet detector.  Skipped only when pip cannot reach
a package index."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

import pytest

from runtime_support import make_bundle, make_video

ROOT = Path(__file__).resolve().parents[1]
OFFLINE = ("NewConnectionError", "Temporary failure in name resolution", "Network is unreachable",
           "No matching distribution found")


@pytest.mark.slow
def test_fresh_venv_runtime_install_runs_a_bundle_without_torch(tmp_path):
    env_dir = tmp_path / "venv"
    start = time.perf_counter()
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")  # an empty model cache: the detector must ship in the wheel
    # a copy of the sources, so the build leaves nothing in the work tree
    src = Path(shutil.copytree(ROOT, tmp_path / "src", ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", "runs", "demo-out")))
    pip = subprocess.run([str(py), "-m", "pip", "install", "-q", "-c", str(ROOT / "constraints.txt"), str(src)],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    if pip.returncode != 0 and any(s in pip.stdout + pip.stderr for s in OFFLINE):
        pytest.skip(f"pip cannot reach a package index: {pip.stderr.strip().splitlines()[-1]}")
    assert pip.returncode == 0, pip.stderr[-3000:]
    installed = time.perf_counter() - start
    probe = subprocess.run([str(py), "-c", "import importlib.util, edgeaffect.modelcache as m; "
                            "print(importlib.util.find_spec('torch') is None, m.packaged_path('yunet'))"],
                           capture_output=True, text=True, env=env, cwd=tmp_path)
    no_torch, shipped = probe.stdout.split()
    assert no_torch == "True", "the runtime core pulled in torch"
    assert "site-packages" in shipped and Path(shipped).is_file()  # the wheel carries YuNet
    bundle = make_bundle(tmp_path / "bundle")
    video = make_video(tmp_path / "clip.avi", frames=20)
    t = time.perf_counter()
    result = subprocess.run([str(env_dir / "bin" / "edgeaffect"), "run", str(bundle), "--source", str(video),
                             "--headless", "--out", str(tmp_path / "r.jsonl")],
                            capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / "r.summary.json").read_text())
    assert summary["detector"] == "yunet" and summary["frames"] == 20 and summary["faces"] >= 18
    # the shipped default model, from the wheel, with the runtime core alone
    shipped_run = subprocess.run([str(env_dir / "bin" / "edgeaffect"), "run", "default", "--source", str(video),
                                  "--headless", "--out", str(tmp_path / "d.jsonl"), "--max-frames", "15"],
                                 capture_output=True, text=True, env=env, cwd=tmp_path)
    assert shipped_run.returncode == 0, shipped_run.stderr[-3000:]
    lines = [json.loads(line) for line in (tmp_path / "d.jsonl").read_text().splitlines()]
    assert len(lines) == 15 and sum(bool(r["faces"]) for r in lines) >= 13
    assert {f["label"] for r in lines for f in r["faces"]} <= {"neutral", "happiness", "surprise", "sadness", "anger",
                                                              "disgust", "fear", "contempt"}
    print(f"\nfresh venv + pip install . (no extras): {installed:.1f} s; edgeaffect run of 20 frames: "
          f"{time.perf_counter() - t:.1f} s; python {sys.version.split()[0]}")


_DRY_RUN = r"""
import platform, runpy, sys
release, report, target, src = sys.argv[1:5]
platform.release = lambda: release  # pip reads the install machine's markers from here (platform_release)
sys.argv = ["pip", "install", "--dry-run", "--quiet", "--report", report, "--ignore-installed", "--no-build-isolation",
            "--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
            "--platform", "manylinux2014_aarch64", "--platform", "manylinux_2_28_aarch64",
            "--platform", "manylinux_2_35_aarch64", "--target", target, src]
runpy.run_module("pip", run_name="__main__")
"""


@pytest.mark.slow
@pytest.mark.parametrize("release,wanted", [("5.15.148-tegra", []),  # JetPack 6: NVIDIA's wheel is the one
                                            ("6.6.31+rpt-rpi-v8", ["onnxruntime"])])  # Raspberry Pi OS: PyPI's
def test_a_device_install_ends_with_exactly_one_onnx_runtime(tmp_path, release, wanted):
    """What ``pip install edgeaffect`` resolves to on an aarch64 device, by pip's own dry run: on a Jetson no
    ONNX Runtime of PyPI's beside the onnxruntime-gpu wheel the README installs first; elsewhere PyPI's."""
    report = tmp_path / "report.json"
    done = subprocess.run([sys.executable, "-c", _DRY_RUN, release, str(report), str(tmp_path / "t"), str(ROOT)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600)
    if done.returncode != 0 and any(s in done.stdout + done.stderr for s in OFFLINE):
        pytest.skip("pip cannot reach a package index")
    assert done.returncode == 0, done.stderr[-3000:]
    names = [i["metadata"]["name"].lower() for i in json.loads(report.read_text())["install"]]
    assert "edgeaffect" in names and "numpy" in names
    assert [n for n in names if n.startswith("onnxruntime")] == wanted
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "onnxruntime-gpu" in readme and "then `pip install edgeaffect`" in readme  # the step that adds the one
