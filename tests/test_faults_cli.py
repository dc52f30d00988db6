"""Fault suite, absurd numbers and unsafe outputs: every number a flag takes has a finite range (NaN, infinities,
zero rates and million-thread pools are refused naming the flag, the value and the range, exit 2), output paths
that are symlinks or lie inside the installed package are refused before any work for every verb that writes,
a second writer of one output is stopped naming the first, and a run that gets no frame exits 2 leaving the
earlier results byte-identical.  Real ONNX bundle, real video, the real CLI in-process."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from edgeaffect.cli import main
from edgeaffect.io import PACKAGE_ROOT, OutputLock, dumps_json
from runtime_support import make_bundle, make_video


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli-faults")
    w = {"root": root, "bundle": make_bundle(root / "b"), "video": make_video(root / "clip.avi", frames=3)}
    (root / "elsewhere.txt").write_text("someone else's file\n")
    os.symlink(root / "elsewhere.txt", root / "link.jsonl")
    os.symlink(root / "nowhere", root / "dangling")
    (root / "truncated.pt").write_bytes(b"PK\x03\x04 cut short")
    import cv2

    cv2.VideoWriter(str(root / "zero.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48)).release()  # no frame
    undecodable = root / "undecodable"
    undecodable.mkdir()
    for i in range(3):
        (undecodable / f"{i}.png").write_bytes(b"\x89PNG not really")
    return w


B, V, R, P = "{bundle}", "{video}", "{root}", "{package}"
RUN = ["run", B, "--source", V, "--headless", "--detector", "none"]
# (case, argv, fragment of the error)
NUMBERS = [
    ("fps-zero", RUN + ["--fps", "0"], "--fps"),
    ("fps-negative", RUN + ["--fps", "-5"], "--fps"),
    ("fps-nan", RUN + ["--fps", "nan"], "--fps"),
    ("fps-inf", RUN + ["--fps", "inf"], "--fps"),
    ("timeout-inf", RUN + ["--timeout", "inf"], "--timeout"),
    ("timeout-huge", RUN + ["--timeout", "2200000"], "--timeout"),
    ("timeout-nan", RUN + ["--timeout", "nan"], "--timeout"),
    ("timeout-zero", RUN + ["--timeout", "0"], "--timeout"),
    ("pulse-window-nan", RUN + ["--pulse", "pos", "--pulse-window", "nan"], "--pulse-window"),
    ("pulse-window-inf", RUN + ["--pulse", "pos", "--pulse-window", "inf"], "--pulse-window"),
    ("pulse-window-short", RUN + ["--pulse", "pos", "--pulse-window", "1"], "--pulse-window"),
    ("threads-huge", RUN + ["--threads", "999999"], "--threads = 999999"),
    ("threads-zero", RUN + ["--threads", "0"], "--threads"),
    ("max-seconds-nan", RUN + ["--max-seconds", "nan"], "--max-seconds"),
    ("max-seconds-inf", RUN + ["--max-seconds", "inf"], "--max-seconds"),
    ("detect-every-zero", RUN + ["--detect-every", "0"], "--detect-every"),
    ("detect-every-huge", RUN + ["--detect-every", "5000"], "--detect-every"),
    ("detect-side-huge", RUN + ["--detect-side", "99999"], "--detect-side"),
    ("width-zero", RUN + ["--width", "0"], "--width"),
    ("height-huge", RUN + ["--height", "99999"], "--height"),
    ("max-retries-negative", RUN + ["--max-retries", "-1"], "--max-retries"),
    ("max-faces-zero", RUN + ["--max-faces", "0"], "--max-faces"),
    ("margin-nan", RUN + ["--margin", "nan"], "--margin"),
    ("backend-option-threads-text", RUN + ["--backend-option", "threads=abc"], "--backend-option threads"),
    ("backend-option-threads-negative", RUN + ["--backend-option", "threads=-3"], "threads=-3"),
    ("backend-option-threads-huge", RUN + ["--backend-option", "threads=999999"], "threads=999999"),
    ("backend-option-providers-unclosed", RUN + ["--backend-option", "providers=[CPUExecutionProvider"],
     "unknown ONNX Runtime execution providers"),
    ("backend-option-providers-mapping", RUN + ["--backend-option", "providers={{a: 1}}"], "providers"),
    ("backend-option-empty-key", RUN + ["--backend-option", "=3"], "is not key=value"),
    ("camera-letters", ["run", B, "--source", "camera:abc", "--headless"], "camera index 'abc'"),
    ("camera-20-digits", ["run", B, "--source", "12345678901234567890", "--headless"], "camera index"),
    ("camera-negative", ["run", B, "--source", "camera:-1", "--headless"], "camera index"),
    ("eval-window-nan", ["eval", "--pulse", "pos", "--data", R, "--window", "nan"], "--window = nan"),
    ("eval-window-inf", ["eval", "--pulse", "pos", "--data", R, "--window", "inf"], "--window"),
    ("eval-hop-nan", ["eval", "--pulse", "pos", "--data", R, "--hop", "nan"], "--hop"),
    ("eval-hop-zero", ["eval", "--pulse", "pos", "--data", R, "--hop", "0"], "--hop"),
    ("eval-batch-zero", ["eval", f"{R}/truncated.pt", "--batch", "0"], "--batch"),
    ("bench-batch-zero", ["bench", B, "--batch", "0"], "--batch"),
    ("bench-latency-runs-zero", ["bench", B, "--latency-runs", "0"], "--latency-runs"),
    ("explain-n-zero", ["explain", f"{R}/truncated.pt", "--out", f"{R}/cam", "--n", "0"], "--n"),
]
OUTPUTS = [
    ("run-out-symlink", RUN + ["--out", f"{R}/link.jsonl"], "is a symbolic link"),
    ("run-csv-symlink", RUN + ["--csv", f"{R}/link.jsonl"], "is a symbolic link"),
    ("run-out-dangling-symlink", RUN + ["--out", f"{R}/dangling"], "is a symbolic link"),
    ("run-summary-symlink", RUN + ["--out", f"{R}/r.jsonl", "--summary", f"{R}/link.jsonl"], "is a symbolic link"),
    ("run-save-video-symlink", RUN + ["--save-video", f"{R}/link.jsonl"], "is a symbolic link"),
    ("export-out-dangling-symlink", ["export", f"{R}/truncated.pt", "--target", "laptop-x86", "--out", f"{R}/dangling"],
     "is a symbolic link"),
    ("run-out-in-package", RUN + ["--out", f"{P}/assets/default/bundle/meta.json"], "inside the installed"),
    ("export-out-in-package", ["export", "default", "--target", "laptop-x86", "--out", f"{P}/assets/default/bundle"],
     "inside the installed"),
    ("compress-out-in-package", ["compress", f"{R}/truncated.pt", "--prune", "0.3", "--out", f"{P}/assets/default/run"],
     "inside the installed"),
    ("train-out-in-package", ["train", "ddamfn-synthetic", f"out={P}/assets/default/run"], "inside the installed"),
    ("eval-out-in-package", ["eval", f"{R}/truncated.pt", "--out", f"{P}/assets"], "inside the installed"),
    ("bench-out-in-package", ["bench", B, "--video", V, "--out", f"{P}/assets/r.json"], "inside the installed"),
    ("report-out-in-package", ["report", f"{R}/truncated.pt", "-o", f"{P}/assets/default"], "inside the installed"),
    ("explain-out-in-package", ["explain", f"{R}/truncated.pt", "--out", f"{P}/runtime"], "inside the installed"),
    ("export-fp16-weights-ignored", ["export", f"{R}/truncated.pt", "--target", "rpi4", "--fp16-weights",
                                     "--out", f"{R}/fp16"], "--fp16-weights applies to ONNX FP32"),
    ("run-zero-frames", ["run", B, "--source", f"{R}/undecodable", "--headless", "--detector", "none",
                         "--out", f"{R}/prev.jsonl"], "delivered no frame"),
    ("run-zero-frame-video", ["run", B, "--source", f"{R}/zero.avi", "--headless", "--detector", "none",
                              "--out", f"{R}/prev.jsonl", "--csv", f"{R}/prev.jsonl.csv"], "delivered no frame"),
]


def _argv(args, world):
    return [a.format(bundle=world["bundle"], video=world["video"], root=world["root"], package=PACKAGE_ROOT)
            for a in args]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


@pytest.mark.parametrize("case, args, fragment", NUMBERS + OUTPUTS, ids=[c[0] for c in NUMBERS + OUTPUTS])
def test_refused_with_exit_2(case, args, fragment, world, capsys):
    (world["root"] / "prev.jsonl").write_text('{"index": 0}\n')
    before, shipped = _snapshot(world["root"]), _snapshot(PACKAGE_ROOT / "assets")
    code = main(_argv(args, world))
    out = capsys.readouterr()
    text = out.err + out.out
    assert "Traceback" not in text and "internal error" not in text, text
    assert code == 2 and fragment in text, text
    assert _snapshot(world["root"]) == before  # every pre-existing file byte-identical, nothing added
    assert _snapshot(PACKAGE_ROOT / "assets") == shipped


def test_a_bare_provider_name_is_one_provider_not_letters(world, capsys):
    code = main(_argv(RUN + ["--backend-option", "providers=CPUExecutionProvider", "--max-frames", "1"], world))
    err = capsys.readouterr().err
    assert code == 0 and "['CPUExecutionProvider']" in err, err


def test_a_second_writer_is_stopped_naming_the_first(world, capsys):
    out = world["root"] / "locked.jsonl"
    out.write_text("earlier\n")
    held = OutputLock(out)  # another writer holds it (flock: a second open file conflicts even in one process)
    try:
        code = main(_argv(RUN + ["--out", str(out)], world))
    finally:
        held.release()
    err = capsys.readouterr().err
    assert code == 2 and f"pid {os.getpid()}" in err and "--out" in err, err
    assert out.read_text() == "earlier\n" and not (world["root"] / ".locked.jsonl.lock").exists()
    assert main(_argv(RUN + ["--out", str(out)], world)) == 0  # released: the next run writes
    assert len(out.read_text().splitlines()) == 3


def test_a_clean_run_replaces_results_whole_and_leaves_no_temporaries(world, capsys):
    out = world["root"] / "whole.jsonl"
    out.write_text("old\n" * 50)
    assert main(_argv(RUN + ["--out", str(out), "--csv", str(world["root"] / "whole.csv")], world)) == 0
    capsys.readouterr()
    assert [json.loads(line)["index"] for line in out.read_text().splitlines()] == [0, 1, 2]
    leftovers = [p.name for p in world["root"].iterdir() if ".partial" in p.name or p.name.endswith(".lock")]
    assert leftovers == []


def test_strict_json_never_writes_nan_or_infinity(world, capsys):
    assert dumps_json({"a": float("nan"), "b": [float("inf"), 1.5], "c": -float("inf")}) == \
        '{"a": null, "b": [null, 1.5], "c": null}'
    out, res = world["root"] / "strict.jsonl", world["root"] / "bench.json"
    assert main(_argv(RUN + ["--out", str(out), "--csv", str(world["root"] / "strict.csv")], world)) == 0
    assert main(_argv(["bench", B, "--video", V, "--latency-runs", "3", "--out", str(res)], world)) == 0
    capsys.readouterr()
    written = [out, world["root"] / "strict.csv", world["root"] / "strict.summary.json", res]
    for path in written:
        text = path.read_text()
        assert "NaN" not in text and "Infinity" not in text, path
        if path.suffix == ".json":
            json.loads(text, parse_constant=lambda c: pytest.fail(f"{path} holds {c}"))
