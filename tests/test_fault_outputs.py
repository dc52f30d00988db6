"""Fault suite, outputs and waits: a failed run leaves earlier results byte-identical, a wrong output path fails
before the work, and a stream that accepts and never answers neither holds the run for FFmpeg's 30 s per attempt
nor keeps a stop signal waiting.  Real ONNX Runtime bundles, real OpenCV/FFmpeg, a real silent TCP server."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from edgeaffect.cli import main
from runtime_support import make_bundle, make_video

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return make_bundle(tmp_path_factory.mktemp("fault-out") / "b")


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("fault-video") / "clip.avi", frames=5)


@pytest.fixture
def silent_server():
    """An 'rtsp' server that accepts connections and never says a word."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    held = []

    def accept():
        while True:
            try:
                held.append(srv.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"rtsp://127.0.0.1:{srv.getsockname()[1]}/stream"
    srv.close()
    for conn in held:
        conn.close()


def _run(args, capsys):
    code = main(["run", *map(str, args), "--headless", "--detector", "none"])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def test_previous_output_survives_a_failed_run(bundle, tmp_path, capsys):
    out, summary, csv = tmp_path / "prev.jsonl", tmp_path / "prev.summary.json", tmp_path / "prev.csv"
    out.write_text("".join(f'{{"index": {i}}}\n' for i in range(20)))
    summary.write_text('{"frames": 20}\n')
    csv.write_text("index\n0\n")
    before = {p: p.read_bytes() for p in (out, summary, csv)}
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000))  # an MP4 header and nothing playable
    for source in (broken, tmp_path / "missing.mp4", tmp_path / "empty-folder"):
        (tmp_path / "empty-folder").mkdir(exist_ok=True)
        code, err = _run([bundle, "--source", source, "--out", out, "--csv", csv], capsys)
        assert code == 2 and "error:" in err
        assert {p: p.read_bytes() for p in before} == before, source


def test_unwritable_outputs_fail_before_the_model_loads(bundle, video, tmp_path, capsys):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    for flag, path, fragment in [("--out", a_file / "r.jsonl", "is a file, not a folder"),
                                 ("--out", tmp_path, "is a folder"),
                                 ("--out", "/proc/edgeaffect/r.jsonl", "cannot be written"),
                                 ("--csv", a_file / "r.csv", "is a file, not a folder")]:
        extra = ["--out", tmp_path / "ok.jsonl"] if flag == "--csv" else []
        code, err = _run([bundle, "--source", video, flag, path, *extra], capsys)
        assert code == 2 and fragment in err and flag in err, err
        assert "loaded" not in err  # refused before the bundle was opened
    assert not (tmp_path / "ok.jsonl").exists()  # the good --out beside a bad --csv was not even created
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]  # the probe files are gone


def test_silent_stream_gives_up_after_its_timeout(bundle, silent_server, tmp_path, capsys):
    t0 = time.monotonic()
    code, err = _run([bundle, "--source", silent_server, "--out", tmp_path / "r.jsonl", "--timeout", "0.5",
                      "--max-retries", "1"], capsys)
    took = time.monotonic() - t0
    assert code == 2 and "gave up after 1 retries" in err
    assert took < 8, f"{took:.1f} s"  # two 0.5 s opens and a 0.5 s backoff (FFmpeg alone: 30 s per open)


def test_sigterm_while_a_stream_open_blocks_stops_at_once(bundle, silent_server, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "edgeaffect", "run", str(bundle), "--source", silent_server,
                             "--headless", "--detector", "none", "--timeout", "60", "--out", str(tmp_path / "r.jsonl")],
                            stderr=subprocess.PIPE, text=True, env=env)
    for line in proc.stderr:  # the model is loaded and the grabber is inside its 60 s open
        if "loaded" in line:
            break
    time.sleep(1.0)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    took = time.monotonic() - t0
    # a clean stop, but not the end of the work: a script must not read it as success
    assert proc.returncode == 143 and "stopped: signal SIGTERM" in err and "interrupted" in err, err
    assert not list(tmp_path.iterdir())  # no frame came: no results, no .partial, no lock file
    assert took < 5, f"{took:.1f} s"


def test_a_machine_without_a_window_runs_headless_and_a_run_that_keeps_nothing_says_so(bundle, video, tmp_path,
                                                                                       caplog, monkeypatch):
    import logging

    from edgeaffect.runtime.sinks import window_unavailable

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert window_unavailable() is not None  # no display here (and the runtime's own OpenCV has no GUI)
    with caplog.at_level(logging.WARNING, logger="edgeaffect"):
        code = main(["run", str(bundle), "--source", str(video), "--detector", "none"])
    assert code == 0
    assert "no preview window" in caplog.text and "results are not kept" in caplog.text
    caplog.clear()
    out = tmp_path / "r.jsonl"
    with caplog.at_level(logging.WARNING, logger="edgeaffect"):
        code = main(["run", str(bundle), "--source", str(video), "--detector", "none", "--out", str(out)])
    assert code == 0 and len(out.read_text().splitlines()) == 5
    assert "no preview window" in caplog.text and "results are not kept" not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="edgeaffect"):
        assert main(["run", str(bundle), "--source", str(video), "--detector", "none", "--headless",
                     "--out", str(out)]) == 0
    assert "no preview window" not in caplog.text


def test_a_missing_camera_is_one_message_of_ours_without_opencv_lines(bundle, tmp_path):
    cmd = [sys.executable, "-m", "edgeaffect", "run", str(bundle), "--source", "camera:97", "--headless",
           "--max-retries", "0"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2 and "cannot open camera '97'" in done.stderr and "fix:" in done.stderr
    assert "WARN:" not in done.stderr and "Traceback" not in done.stderr  # OpenCV's own lines stay for --verbose
    verbose = subprocess.run(cmd[:3] + ["--verbose"] + cmd[3:], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert verbose.returncode == 2 and "WARN:" in verbose.stderr
