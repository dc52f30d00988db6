"""The privacy promise, checked on the real process: ``edgeaffect run`` with an ONNX Runtime, an OpenVINO and a
LiteRT bundle, and ``edgeaffect export`` to ONNX (INT8, ONNX Runtime's quantizer), OpenVINO (INT8, its converter and
NNCF) and TFLite, make no network system call and write no file outside their outputs and the temp dir (no
telemetry database under ~/.cache/Microsoft, no counters under ~/intel).  Traced with strace; skips where strace is
absent or not allowed."""
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


# Each export is traced once for everything it must not do. ONNX and OpenVINO export at INT8, the path that
# loads the most libraries: ONNX Runtime's quantizer, OpenVINO's converter and NNCF (the latter two carry
# telemetry clients); TFLite (slow: ~30 s of conversion) at FP32.
EXPORTS = [("onnx", "laptop-x86", "int8"), ("openvino", "laptop-x86", "int8"),
           pytest.param("tflite", "rpi4", "fp32", marks=pytest.mark.slow)]


@pytest.mark.parametrize("fmt, target, precision", EXPORTS)
def test_export_makes_no_network_call_and_writes_only_its_folder_and_temp(fmt, target, precision, tmp_path):
    """``edgeaffect export`` of the shipped run: no network call; files written only in the output's folder
    (the bundle and its staging) and the temp dir; nothing under the home folder (no telemetry id, consent
    file or events database)."""
    strace = _strace()
    pytest.importorskip("torch")
    pytest.importorskip({"onnx": "onnxruntime", "openvino": "openvino", "tflite": "ai_edge_litert"}[fmt])
    from edgeaffect.data.synthetic import write_synthetic_faces

    faces = tmp_path / "faces"  # calibration and verification images
    write_synthetic_faces(faces, per_class=3, size=48, seed=1)
    home, parent, tmp, trace = tmp_path / "home", tmp_path / "exports", tmp_path / "tmp", tmp_path / "trace.txt"
    for folder in (home, parent, tmp):
        folder.mkdir()
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1",
           "XDG_CACHE_HOME": str(home / ".cache"), "OMP_NUM_THREADS": "1", "TMPDIR": str(tmp)}
    for key in ("ORT_DISABLE_TELEMETRY", "NNCF_CI", "HF_HUB_DISABLE_TELEMETRY"):
        env.pop(key, None)  # the project must switch telemetry off itself
    # torch's inductor writes its cache folder's path into os.environ the first time it asks for it (an
    # export earlier in this pytest process did), and a child would inherit /tmp/... instead of its TMPDIR
    env.pop("TORCHINDUCTOR_CACHE_DIR", None)
    data = ["--verify-data", str(faces), "--n-verify", "16"]
    if precision == "int8":
        data += ["--calib-data", str(faces), "--n-calib", "16"]
    cmd = [strace, "-f", "-qq", "-o", str(trace), "-e", "trace=%network,openat,creat,mkdir,rename,unlink",
           sys.executable, "-m", "edgeaffect", "export", "default", "--target", target, "--format", fmt,
           "--precision", precision, *data, "--accept-drop", "--out", str(parent / "b")]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = trace.read_text().splitlines()
    # local sockets are no network: AF_UNIX is glibc asking nscd for the user's name (torch's cache
    # folder), AF_NETLINK a library listing the network interfaces
    network = [ln for ln in lines if (call := CALL.match(ln)) and call[1] in NETWORK_CALLS
               and "AF_UNIX" not in ln and "AF_NETLINK" not in ln]
    assert network == [], network[:5]
    # /proc: a library naming its threads (pthread_setname_np writes /proc/<pid>/task/<tid>/comm), not a file
    allowed = (parent.resolve(), tmp.resolve(), Path("/dev/shm"), Path("/proc"))
    written = {Path(tmp_path, m[1] or m[2]).resolve() for ln in lines if (m := WRITE.match(ln)) and "ENOENT" not in ln}
    outside = sorted(str(p) for p in written if not any(a in (p, *p.parents) for a in allowed)
                     and not p.name.startswith(".edgeaffect-probe-") and p != Path("/dev/null"))
    assert outside == [], outside[:10]
    assert sorted(p.name for p in parent.iterdir()) == ["b"]  # the staging folder is gone
    assert list(home.rglob("*")) == []
