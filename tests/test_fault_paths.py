"""Hostile paths and flags: outputs that name an input, a device or each other; file names that are not
UTF-8; images whose header claims absurd sizes; frames a pixel thin; an empty --source; flag values that
used to run as something else; a closed pipe; result files with impossible numbers.  Real files, real
OpenCV decoding, the real CLI."""
from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeaffect.cli import main
from runtime_support import face_frame, face_image, make_video
from test_fault_outputs import bundle, video  # noqa: F401  (the same tiny bundle and 5-frame clip)


def _run(args, capsys, detector="none"):
    code = main(["run", *map(str, args), "--headless", "--detector", detector])
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err, err
    return code, err


def _photos(folder: Path, n: int = 3) -> Path:
    folder.mkdir()
    face = face_image()
    for i in range(n):
        cv2.imwrite(str(folder / f"{i}.png"), face_frame(i, face))
    return folder


def test_an_output_never_replaces_an_input_or_lands_inside_one(bundle, video, tmp_path, capsys):
    before = video.read_bytes()
    for flag in ("--out", "--csv", "--summary", "--save-video"):
        extra = [] if flag == "--out" else ["--out", tmp_path / "r.jsonl"]
        code, err = _run([bundle, "--source", video, flag, video, *extra], capsys)
        assert code == 2 and f"{flag} {video} is the input" in err, err
    assert video.read_bytes() == before
    photos = _photos(tmp_path / "photos")
    for inside in ("0.png", "new.jsonl"):  # over a photo, or a new file among them
        code, err = _run([bundle, "--source", photos, "--out", photos / inside], capsys)
        assert code == 2 and "lies inside the input" in err
    code, err = _run([bundle, "--source", video, "--out", bundle / "r.jsonl"], capsys)
    assert code == 2 and "lies inside the input" in err
    assert sorted(p.name for p in photos.iterdir()) == ["0.png", "1.png", "2.png"]
    # bench would have replaced the bundle's own model with its result JSON
    model = next(p for p in bundle.iterdir() if p.suffix == ".onnx")
    kept = model.read_bytes()
    assert main(["bench", str(bundle), "--video", str(video), "--out", str(model), "--latency-runs", "1"]) == 2
    assert "lies inside the input" in capsys.readouterr().err and model.read_bytes() == kept
    # eval's --out in a bundle would add a file its manifest does not list, and the bundle would no longer load
    assert main(["eval", str(bundle), "--data", str(tmp_path), "--out", str(bundle)]) == 2
    assert "is the input" in capsys.readouterr().err


def test_a_read_only_output_is_refused_even_for_root(bundle, video, tmp_path, capsys):
    out = tmp_path / "kept.jsonl"
    out.write_text("earlier\n")
    out.chmod(0o444)
    code, err = _run([bundle, "--source", video, "--out", out], capsys)
    assert code == 2 and "read-only" in err and out.read_text() == "earlier\n"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_pipe_is_not_renamed_over_and_outputs_do_not_collide(bundle, video, tmp_path, capsys):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    code, err = _run([bundle, "--source", video, "--out", fifo], capsys)
    assert code == 2 and "not a regular file" in err and fifo.is_fifo()
    code, err = _run([bundle, "--source", video, "--out", tmp_path / "a.jsonl", "--csv", tmp_path / "a.jsonl"], capsys)
    assert code == 2 and "--out and --csv both name" in err
    code, err = _run([bundle, "--source", video, "--out", "-", "--csv", "-"], capsys)
    assert code == 2 and "both name -" in err


def test_csv_to_standard_output(bundle, video, capsys):
    assert main(["run", str(bundle), "--source", str(video), "--headless", "--detector", "none", "--csv", "-"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].startswith("index,timestamp,track_id") and len(rows) == 6
    assert not Path("-").exists()


def test_an_empty_source_and_an_absurd_read_ahead_are_refused(bundle, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # "" would have run the current folder as a corpus
    make_video(tmp_path / "here.avi", frames=3)
    code, err = _run([bundle, "--source", "", "--out", tmp_path / "o"], capsys)
    assert code == 2 and "--source is empty" in err and not (tmp_path / "o").exists()
    code, err = _run([bundle, "--source", tmp_path / "here.avi", "--read-ahead", "100000"], capsys)
    assert code == 2 and "--read-ahead" in err


def test_a_file_name_that_is_not_utf8_is_read_or_refused_by_name(bundle, tmp_path, capsys):
    """OpenCV takes paths as UTF-8; such a name used to crash the process (exit 139) inside it."""
    photos = _photos(tmp_path / "photos")
    os.rename(photos / "1.png", os.fsdecode(bytes(photos / "x") + b"\xff.png"))
    out = tmp_path / "r.csv"
    code, err = _run([bundle, "--source", photos, "--csv", out], capsys, detector="yunet")
    assert code == 0 and "3 frames (0 bad" in err, err
    assert "x\\udcff.png" in out.read_text()  # the name, written readably
    odd = Path(os.fsdecode(bytes(tmp_path / "v") + b"\xff.avi"))
    make_video(tmp_path / "v.avi", frames=3).rename(odd)
    code, err = _run([bundle, "--source", odd, "--out", tmp_path / "v.jsonl"], capsys)
    assert code == 2 and "is not valid UTF-8" in err and "rename the file" in err


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def test_an_image_claiming_absurd_size_is_skipped_and_thin_frames_hold_no_face(bundle, tmp_path, capsys, caplog):
    photos = _photos(tmp_path / "photos", n=2)
    header = _chunk(b"IHDR", struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0))
    (photos / "1_bomb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + header + _chunk(b"IDAT", zlib.compress(bytes(1000)))
                                        + _chunk(b"IEND", b""))
    for i, shape in enumerate([(1, 640), (2, 3000), (3000, 2)]):
        cv2.imwrite(str(photos / f"2_thin{i}.png"), np.full((*shape, 3), 128, np.uint8))
    code, err = _run([bundle, "--source", photos, "--out", tmp_path / "r.jsonl"], capsys, detector="yunet")
    assert code == 0 and "5 frames (1 bad" in err, err  # it used to end the whole folder with an internal error
    assert "skipping undecodable image" in caplog.text and "1_bomb.png" in caplog.text


def test_flag_values_that_ran_as_something_else_are_refused(bundle, video, capsys):
    for flag, value, said in (("--smoothing", "majority:2.5", "whole number of frames"),  # ran a window of 2
                              ("--smoothing", "ema:", "no value"),  # ran the default, recorded "ema"
                              ("--detect-side", "5", "below any face")):  # found no face, said nothing
        code, err = _run([bundle, "--source", video, flag, value], capsys)
        assert code == 2 and said in err, err


def test_a_closed_pipe_ends_quietly_and_not_as_a_bug(bundle, tmp_path):
    frames = tmp_path / "frames"
    _photos(frames, n=30)
    proc = subprocess.run(f"{sys.executable} -m edgeaffect run {bundle} --source {frames} --headless --detector none "
                          f"--out - | head -1", shell=True, capture_output=True, text=True, timeout=300,
                          executable="/bin/bash", env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert json.loads(proc.stdout)["index"] == 0
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr
    code = subprocess.run(f"set -o pipefail; {sys.executable} -m edgeaffect run {bundle} --source {frames} --headless "
                          f"--detector none --out - 2>/dev/null | head -1 >/dev/null", shell=True, executable="/bin/bash",
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}, timeout=300).returncode
    assert code == 141  # what SIGPIPE gives a tool; 1 is edgeaffect's code for a bug


def test_a_result_line_with_an_impossible_number_is_named_not_an_internal_error(bundle, video, tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    assert _run([bundle, "--source", video, "--out", out], capsys)[0] == 0
    lines = out.read_text().splitlines()
    for bad in ("fast", 1e308):
        first = json.loads(lines[0])
        first["faces"] = [{"track_id": 1, "box": [0, 0, 10, 10], "heart_rate": bad}]
        (tmp_path / "bad.jsonl").write_text("\n".join([json.dumps(first)] + lines[1:]) + "\n")
        assert main(["report", str(tmp_path / "bad.jsonl"), "--out", str(tmp_path / "rep")]) == 2
        err = capsys.readouterr().err
        assert "line 1" in err and "heart_rate" in err and "internal error" not in err, err


def test_a_path_of_the_wrong_kind_is_called_what_it_is(bundle, video, tmp_path, capsys):
    photos = _photos(tmp_path / "photos", n=2)
    (photos / "inner").mkdir()
    code, err = _run([bundle, "--source", f"video:{photos}"], capsys)
    assert code == 2 and "is a folder, not a video file" in err  # it said the folder "does not exist"
    code, err = _run([bundle, "--source", f"folder:{video}"], capsys)
    assert code == 2 and "is a file, not an image folder" in err
    model = next(p for p in bundle.iterdir() if p.suffix == ".onnx")
    code, err = _run([model, "--source", photos], capsys)
    assert code == 2 and "is a file, not a bundle folder" in err
