"""The runtime's privacy promise, checked on the real process: ``edgeaffect run`` with an ONNX Runtime, an OpenVINO
and a LiteRT bundle makes no network system call and writes no file outside its outputs (no telemetry database under
~/.cache/Microsoft, no counters under ~/intel).  Traced with strace; skips where strace is absent or not allowed."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runtime_support import make_bundle, make_openvino_bundle, make_video

REPO = Path(__file__).resolve().parents[1]
CALL = re.compile(r"^\d+\s+(\w+)\(")  # strace -f: "<pid> <syscall>(..."
NETWORK_CALLS = {"socket", "connect", "sendto", "sendmsg", "sendmmsg", "bind", "listen", "accept", "accept4"}
WRITE = re.compile(r'^\d+\s+(?:openat\(AT_FDCWD, "([^"]+)", [^)]*(?:O_WRONLY|O_RDWR|O_CREAT)|'
                   r'(?:mkdir|creat|unlink|rename)\("([^"]+)")')


def _strace() -> str:
    path = shutil.which("strace")
    if path is None:
        pytest.skip("strace is not installed (apt-get install strace)")
    if subprocess.run([path, "-f", "-qq", "-o", os.devnull, "true"], capture_output=True).returncode != 0:
        pytest.skip("strace cannot trace here (ptrace not permitted)")
    return path


def _litert_bundle(folder: Path) -> Path:
    """A tiny two-head model converted to a LiteRT flatbuffer (conversion needs torch; the run does not)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("litert_torch")
    pytest.importorskip("ai_edge_litert")
    from edgeaffect.bundle import Manifest, write_manifest
    from edgeaffect.formats import ExportOptions
    from edgeaffect.compress.tflite_export import export
    from export_support import META, TinyMTL

    torch.manual_seed(0)
    files = export(TinyMTL().eval(), META, folder, precision="fp32", calibration=None, options=ExportOptions())
    META.save(folder / "meta.json")
    write_manifest(folder, Manifest(format="tflite", precision="fp32", model_files=tuple(files)))
    return folder


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("privacy")
    return {"root": root, "onnx": make_bundle(root / "onnx"), "video": make_video(root / "clip.avi", frames=6)}


def _bundle(world, backend: str) -> Path:
    if backend == "openvino":
        pytest.importorskip("openvino")
        return make_openvino_bundle(world["root"] / "openvino", world["onnx"])
    if backend == "litert":
        return _litert_bundle(world["root"] / "litert")
    return world["onnx"]


# litert is marked slow: converting its test model takes ~30 s (the traced run itself takes seconds)
@pytest.mark.parametrize("backend", ["onnxruntime", "openvino", pytest.param("litert", marks=pytest.mark.slow)])
def test_run_makes_no_network_call_and_writes_only_its_outputs(world, backend, tmp_path):
    strace = _strace()
    bundle = _bundle(world, backend)
    home, out, trace = tmp_path / "home", tmp_path / "out", tmp_path / "trace.txt"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1",
           "XDG_CACHE_HOME": str(home / ".cache")}
    for key in ("ORT_DISABLE_TELEMETRY", "HF_HUB_DISABLE_TELEMETRY"):
        env.pop(key, None)  # the project must switch telemetry off itself
    cmd = [strace, "-f", "-qq", "-o", str(trace), "-e", "trace=%network,openat,creat,mkdir,rename,unlink",
           sys.executable, "-m", "edgeaffect", "run", str(bundle), "--source", str(world["video"]),
           "--headless", "--detector", "none", "--out", str(out / "r.jsonl")]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    assert len((out / "r.jsonl").read_text().splitlines()) == 6
    lines = trace.read_text().splitlines()
    network = [ln for ln in lines if (call := CALL.match(ln)) and call[1] in NETWORK_CALLS]
    assert network == [], network[:5]
    written = {Path(tmp_path, m[1] or m[2]).resolve() for ln in lines if (m := WRITE.match(ln)) and "ENOENT" not in ln}
    outside = sorted(p for p in written if out.resolve() not in (p, *p.parents))
    # the one write outside: the writability probe in the nearest existing folder, removed at once
    assert [p.name.startswith(".edgeaffect-probe-") and not p.exists() for p in outside] == [True] * len(outside)
    assert list(home.rglob("*")) == []


EXPORTS = [("onnx", "laptop-x86"), ("openvino", "laptop-x86"), pytest.param("tflite", "rpi4", marks=pytest.mark.slow)]


@pytest.mark.parametrize("fmt, target", EXPORTS)
def test_export_makes_no_network_call_and_writes_only_its_folder_and_temp(world, fmt, target, tmp_path):
    """``edgeaffect export`` of the shipped run to each format: no network call; files written only in the
    output's folder (the bundle and its staging) and the temp dir."""
    from runtime_support import make_folder

    strace = _strace()
    pytest.importorskip("torch")
    pytest.importorskip({"onnx": "onnxruntime", "openvino": "openvino", "tflite": "ai_edge_litert"}[fmt])
    faces = make_folder(tmp_path / "faces", 12)  # verification images (an image folder)
    home, parent, tmp, trace = tmp_path / "home", tmp_path / "exports", tmp_path / "tmp", tmp_path / "trace.txt"
    for folder in (home, parent, tmp):
        folder.mkdir()
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1",
           "XDG_CACHE_HOME": str(home / ".cache"), "OMP_NUM_THREADS": "1", "TMPDIR": str(tmp)}
    # torch's inductor writes its cache folder's path into os.environ the first time it asks for it (an
    # export earlier in this pytest process did), and a child would inherit /tmp/... instead of its TMPDIR
    env.pop("TORCHINDUCTOR_CACHE_DIR", None)
    cmd = [strace, "-f", "-qq", "-o", str(trace), "-e", "trace=%network,openat,creat,mkdir,rename,unlink",
           sys.executable, "-m", "edgeaffect", "export", "default", "--target", target, "--format", fmt,
           "--precision", "fp32", "--verify-data", str(faces), "--n-verify", "12", "--accept-drop",
           "--out", str(parent / "b")]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = trace.read_text().splitlines()
    # a local AF_UNIX socket is glibc asking nscd for the user's name (torch's cache folder), not the network
    network = [ln for ln in lines if (call := CALL.match(ln)) and call[1] in NETWORK_CALLS and "AF_UNIX" not in ln]
    assert network == [], network[:5]
    # /proc: a library naming its threads (pthread_setname_np writes /proc/<pid>/task/<tid>/comm), not a file
    allowed = (parent.resolve(), tmp.resolve(), Path("/dev/shm"), Path("/proc"))
    written = {Path(tmp_path, m[1] or m[2]).resolve() for ln in lines if (m := WRITE.match(ln)) and "ENOENT" not in ln}
    outside = sorted(str(p) for p in written if not any(a in (p, *p.parents) for a in allowed)
                     and not p.name.startswith(".edgeaffect-probe-") and p != Path("/dev/null"))
    assert outside == [], outside[:10]
    assert sorted(p.name for p in parent.iterdir()) == ["b"]  # the staging folder is gone
    assert list(home.rglob("*")) == []


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["openvino", "onnx"])  # OpenVINO's converter + NNCF INT8; ONNX Runtime quantization
def test_export_makes_no_network_call_and_writes_nothing_under_home(fmt, tmp_path):
    strace = _strace()
    pytest.importorskip("torch")
    pytest.importorskip("openvino" if fmt == "openvino" else "onnxruntime")
    from edgeaffect.data.synthetic import write_synthetic_faces

    faces = tmp_path / "faces"
    write_synthetic_faces(faces, per_class=3, size=48, seed=1)
    home, tmp, out, trace = tmp_path / "home", tmp_path / "tmp", tmp_path / "bundles" / "b", tmp_path / "trace.txt"
    home.mkdir()
    tmp.mkdir()
    env = {**os.environ, "HOME": str(home), "TMPDIR": str(tmp), "PYTHONPATH": str(REPO),
           "PYTHONDONTWRITEBYTECODE": "1", "XDG_CACHE_HOME": str(home / ".cache")}
    for key in ("ORT_DISABLE_TELEMETRY", "NNCF_CI", "HF_HUB_DISABLE_TELEMETRY"):
        env.pop(key, None)  # the project must switch telemetry off itself
    cmd = [strace, "-f", "-qq", "-o", str(trace), "-e", "trace=%network,openat,creat,mkdir,rename,unlink",
           sys.executable, "-m", "edgeaffect", "export", "default", "--target", "laptop-x86", "--format", fmt,
           "--precision", "int8", "--calib-data", str(faces), "--verify-data", str(faces), "--n-calib", "16",
           "--n-verify", "16", "--accept-drop", "--out", str(out)]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = trace.read_text().splitlines()
    network = [ln for ln in lines if (call := CALL.match(ln)) and call[1] in NETWORK_CALLS
               and "AF_UNIX" not in ln and "AF_NETLINK" not in ln]  # local sockets: no network
    assert network == [], network[:5]
    assert list(home.rglob("*")) == []  # no telemetry id, consent file or events database under the home folder
