"""The Python API: ``edgeaffect.load`` -> predictor, torch-free, and the very objects ``run`` uses.

The README's Python block runs as printed in a fresh interpreter where importing torch raises, on the
PhysRecorder clip when ``EDGEAFFECT_DATA`` has it (else a synthetic face).  The predictor's answers
are checked against ``edgeaffect run`` on the same frames: one way, not two.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import edgeaffect
from edgeaffect.io import video_frames
from pulse_support import write_video  # tests/ is on sys.path
from runtime_support import make_video

ROOT = Path(__file__).resolve().parents[1]
CLIP = Path(os.environ.get("EDGEAFFECT_DATA", "")) / "physrecorder_v01" / "video_ZIP_H264.avi"

BLOCK_TORCH = """
import importlib.abc, sys
class _NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision", "timm", "torch_pruning", "kornia"):
            raise ImportError("torch is blocked in this test: " + name)
sys.meta_path.insert(0, _NoTorch())
"""


def readme_python() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.search(r"```python\n(.*?)```", text.split("## From Python", 1)[1], re.S).group(1)


def real_frames(n: int) -> list[np.ndarray]:
    """The first ``n`` frames of the PhysRecorder clip, else a synthetic 640x480 face."""
    if CLIP.is_file():
        return list(video_frames(CLIP, n))
    from edgeaffect.data.synthetic import synth_frame

    frame, _, _ = synth_frame(height=480, width=640, face_px=200, seed=3)
    return [frame] * n


def run_blocked(code: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", BLOCK_TORCH + code], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def model():
    return edgeaffect.load("default")


def test_the_readme_python_block_runs_with_torch_blocked(tmp_path):
    frames = real_frames(45)
    cv2.imwrite(str(tmp_path / "face.jpg"), frames[0])
    write_video(tmp_path / "clip.mp4", frames, fourcc="mp4v")
    done = run_blocked(readme_python() + "\nprint('TORCH', 'torch' in sys.modules)\n", tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    labels = set(json.loads((ROOT / "edgeaffect/assets/default/bundle/meta.json").read_text())["labels"])
    assert lines[0].split()[0] in labels  # a label for the face of the first frame
    assert (tmp_path / "annotated.jpg").is_file() and lines[-1] == "TORCH False"
    assert sum(1 for line in lines if len(line.split()) == 4) >= 40  # one line per streamed frame with a face


def test_public_names_are_listed_and_torch_free(tmp_path):
    from test_layers import TORCH_FREE  # tests/ is on sys.path

    code = "import edgeaffect\nfrom edgeaffect import *\nprint(sorted(edgeaffect.__all__))\n"
    done = run_blocked(code, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert {"load", "draw", "FaceResult", "FrameResult", "FacePredictor"} <= set(edgeaffect.__all__)
    for name, module in edgeaffect._PUBLIC.items():  # the lazy re-exports reach only torch-free layers
        assert module.split(".")[1] in TORCH_FREE, (name, module)
        assert getattr(edgeaffect, name) is getattr(__import__(module, fromlist=[name]), name)


def test_image_call_equals_run_on_the_same_frame(model, tmp_path):
    frame = real_frames(1)[0]
    faces = model(frame)
    assert faces and faces[0].label in model.labels and abs(sum(faces[0].scores) - 1) < 1e-4
    assert faces[0].to_dict()["label"] == faces[0].label
    video = write_video(tmp_path / "one.avi", [frame] * 3, fourcc="FFV1")  # lossless: run sees this very frame
    out = tmp_path / "r.jsonl"
    from edgeaffect.cli import main

    assert main(["run", "default", "--source", str(video), "--headless", "--out", str(out)]) == 0
    first = json.loads(out.read_text().splitlines()[0])["faces"][0]
    streamed = next(iter(model.stream(video)))
    assert streamed.faces[0].to_dict()["scores"] == first["scores"]  # stream() is run's loop
    assert first["label"] == faces[0].label and np.allclose(first["scores"], faces[0].scores, atol=1e-4)


def test_colour_order_paths_and_batched_classify(model, tmp_path):
    frame = real_frames(1)[0]
    bgr = model(frame)
    rgb = model(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), bgr=False)
    assert [f.scores for f in bgr] == [f.scores for f in rgb]
    cv2.imwrite(str(tmp_path / "f.png"), frame)
    assert [f.scores for f in model(tmp_path / "f.png")] == [f.scores for f in bgr]
    x, y, w, h = (int(v) for v in bgr[0].box)
    crops = [frame[y:y + h, x:x + w], frame[max(y - 20, 0):y + h, x:x + w], frame]
    calls = model.engine.calls
    out = model.classify(crops)
    assert model.engine.calls == calls + 1 and len(out) == 3  # three faces, one backend call
    assert all(r.label in model.labels and not r.detected for r in out)
    drawn = edgeaffect.draw(frame, bgr)
    assert drawn.shape == frame.shape and not np.array_equal(drawn, frame) and drawn is not frame
    with pytest.raises(edgeaffect.EdgeAffectError):
        model(tmp_path / "missing.png")
    for bad in (np.zeros((4, 4, 3), np.float32), np.zeros((0, 0, 3), np.uint8), np.zeros((0, 8), np.uint8)):
        with pytest.raises(edgeaffect.EdgeAffectError):
            model(bad)
        with pytest.raises(edgeaffect.EdgeAffectError):
            model.classify([frame, bad])


def test_pil_images_are_read_by_their_mode_and_one_crop_is_one_face(model):
    """A PIL image states its mode: palette indices are not gray levels, CMYK is not BGRA, RGB is not BGR."""
    Image = pytest.importorskip("PIL.Image")
    frame = real_frames(1)[0]
    x, y, w, h = (int(v) for v in model(frame)[0].box)
    crop = frame[y:y + h, x:x + w]
    want = model.classify([crop])[0].scores
    rgb = Image.fromarray(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB))
    for mode in ("RGB", "CMYK", "YCbCr"):
        got = model.classify([rgb.convert(mode)])[0].scores
        assert np.allclose(got, want, atol=0.05), mode  # lossy colour conversions aside, the same face
    gray = model.classify([rgb.convert("L")])[0].scores
    assert np.allclose(model.classify([cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)])[0].scores, gray, atol=0.05)  # PIL weighs L its own way
    assert len(model.classify(crop)) == 1  # one HxWx3 crop is one face, not one face per row
    assert len(model.classify(np.stack([crop[:40, :40]] * 3))) == 3  # N x H x W x C: N faces
    for bad in (None, 5, Image.new("I;16", (48, 48))):
        with pytest.raises(edgeaffect.EdgeAffectError):
            model.classify(bad)


def test_misused_api_calls_say_what_to_pass(model):
    for call in (lambda: edgeaffect.load(None), lambda: edgeaffect.load("default", bogus=1),
                 lambda: next(iter(model.stream(np.zeros((9, 9, 3), np.uint8))))):
        with pytest.raises(edgeaffect.EdgeAffectError):
            call()


def test_keyword_overrides_are_run_flags_and_bundle_settings_apply(tmp_path):
    model = edgeaffect.load("default", detect_every=3, smoothing="ema:0.5", max_faces=1, margin=0.2, threads=1)
    described = model.settings.describe()
    assert described["detect_every"] == {"value": 3, "from": "flag"}
    assert described["smoothing"]["from"] == "flag" and described["onnxruntime.threads"]["from"] == "flag"
    assert described["onnxruntime.providers"]["from"] == "bundle"  # the bundle's own runtime setting
    assert model.crop.framing.scale == pytest.approx(1.4)  # margin 0.2 per side = a 1.4x box
    video = make_video(tmp_path / "c.avi", frames=7)
    results = list(model.stream(video))
    assert len(results) == 7 and all(len(r.faces) <= 1 for r in results)
    assert [f.detected for r in results for f in r.faces][:4] == [True, False, False, True]  # detector every 3rd
    with pytest.raises(edgeaffect.EdgeAffectError, match="did you mean detect_every"):
        edgeaffect.load("default", detect_evry=3)  # a misspelt flag is not silently ignored
