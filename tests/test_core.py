"""ModelMeta, atomic IO, bundles, shared preprocessing and the CLI shell."""
import subprocess
import sys

import cv2
import numpy as np
import pytest

from edgeaffect import preprocess
from edgeaffect.bundle import Manifest, load_bundle, write_manifest
from edgeaffect.cli import main
from edgeaffect.errors import BundleError
from edgeaffect.meta import ONNX_PROP_KEY, Color, Head, HeadKind, ModelMeta, Task, Temporal


def make_meta(**kw):
    base = dict(model="tiny", task=Task.MULTITASK, input_size=(32, 24), color=Color.RGB,
                heads=(Head("emotion", HeadKind.LOGITS, 3), Head("valence", HeadKind.REGRESSION, 1, (-1, 1))),
                labels=("a", "b", "c"), mean=(0.5, 0.4, 0.3), std=(0.2, 0.2, 0.2))
    base.update(kw)
    return ModelMeta(**base)


def test_meta_json_and_onnx_props_round_trip(tmp_path):
    meta = make_meta(temporal=Temporal(frames=8, fps=4.0, stride=4), extra_inputs=("bvp",), info={"run": "x"})
    again = ModelMeta.from_json(meta.to_json())
    assert again == meta and again.temporal.step == 4 and again.heads[1].value_range == (-1.0, 1.0)
    assert ModelMeta.from_json(meta.to_onnx_props()[ONNX_PROP_KEY]) == meta
    meta.save(tmp_path / "meta.json")
    assert ModelMeta.load(tmp_path) == meta
    assert meta.input_shape(2) == (2, 3, 8, 32, 24)


def test_meta_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError):
        make_meta(mean=(0.1, 0.2))  # 2 values for 3 channels
    with pytest.raises(BundleError, match="newer"):
        ModelMeta.from_dict({**make_meta().to_dict(), "version": 99})
    with pytest.raises(BundleError, match="unknown"):
        ModelMeta.from_dict({**make_meta().to_dict(), "colour": "rgb"})
    with pytest.raises(BundleError):
        ModelMeta.from_json("{not json")
    # class names and prior count the first logits head's classes: an edited meta.json may not shorten them
    with pytest.raises(ValueError, match=r"labels .* one per class of the 'emotion' head \(3\)"):
        make_meta(labels=("a", "b"))
    with pytest.raises(ValueError, match=r"adjust.prior .* \(3\)"):
        make_meta(adjust={"tau": 1.0, "prior": (0.5, 0.5)})
    assert make_meta(labels=()).num_classes == 0  # a model without names keeps working


def test_prepare_image_matches_meta():
    meta = make_meta()
    bgr = np.zeros((10, 20, 3), np.uint8)
    bgr[..., 2] = 255  # pure red in BGR
    x = preprocess.prepare_image(bgr, meta)
    assert x.shape == (3, 32, 24) and x.dtype == np.float32
    # channel 0 is R after BGR->RGB: (1 - 0.5) / 0.2
    assert np.allclose(x[0], 2.5) and np.allclose(x[1], -2.0) and np.allclose(x[2], -1.5)
    gray_meta = make_meta(color=Color.GRAY, mean=(0.0,), std=(1.0,))
    g = preprocess.prepare_image(bgr, gray_meta)
    assert g.shape == (1, 32, 24) and np.allclose(g, cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)[0, 0] / 255.0)
    clip_meta = make_meta(temporal=Temporal(frames=3, fps=4.0))
    assert preprocess.prepare_clip([bgr] * 3, clip_meta).shape == (3, 3, 32, 24)
    with pytest.raises(ValueError, match="frames"):
        preprocess.prepare_clip([bgr] * 2, clip_meta)


def test_degrade_keeps_size_and_loses_detail():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (112, 112), dtype=np.uint8)
    low = preprocess.degrade(img, 14, "area", "cubic")
    assert low.shape == img.shape
    assert np.abs(low.astype(int) - img).mean() > np.abs(preprocess.degrade(img, 96, "area", "cubic").astype(int) - img).mean()


def _bundle(tmp_path):
    b = tmp_path / "bundle"
    b.mkdir()
    (b / "model.onnx").write_bytes(b"\x08\x01model-bytes")
    make_meta().save(b / "meta.json")
    write_manifest(b, Manifest(format="onnx", precision="fp32", model_files=("model.onnx",), tools={"onnx": "1"}))
    return b


def test_bundle_checksums_name_the_bad_file(tmp_path):
    b = _bundle(tmp_path)
    bundle = load_bundle(b)
    assert bundle.model_path == b / "model.onnx" and set(bundle.manifest.files) == {"model.onnx", "meta.json"}
    (b / "model.onnx").write_bytes(b"\x08\x01edited")
    with pytest.raises(BundleError, match="model.onnx"):
        load_bundle(b)
    (b / "manifest.json").unlink()
    with pytest.raises(BundleError, match="manifest"):
        load_bundle(b)


def test_cli_help_lists_verbs(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for verb in ("data", "train", "eval", "compress", "export", "run", "bench", "report", "devices", "demo"):
        assert verb in out, verb


def test_cli_expected_error_is_exit_2_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "edgeaffect", "run", str(tmp_path / "missing"), "--source", "0"],
                          capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "error:" in proc.stderr


def test_atomic_write_gives_normal_permissions(tmp_path):
    import os
    import stat

    from edgeaffect.io import atomic_write_text

    path = atomic_write_text(tmp_path / "out" / "report.md", "x")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
    assert path.read_text() == "x" and not list(path.parent.glob(".*tmp"))
