"""edgeaffect bench on tiny real ONNX bundles over a class-folder dataset written to tmp_path.

The faces encode their class in their brightness, and the hand-built ONNX
model classifies by mean brightness, so a working pipeline scores ~100 % and a
constant-output model scores chance: the numbers come from real inference.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeaffect.bundle import Manifest, write_manifest
from edgeaffect.data.base import EXPRESSIONS_8
from edgeaffect.meta import Head, ModelMeta

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

CLASSES = ("neutral", "happiness", "surprise", "sadness")  # the four classes the data holds
LEVELS = {c: 40 + 55 * i for i, c in enumerate(CLASSES)}  # mean gray level of each class
SIDE = 48


def write_faces(root: Path, per_class: int = 6, seed: int = 0) -> Path:
    """test/<class>/*.png: textured gray faces whose mean level encodes the class."""
    rng = np.random.default_rng(seed)
    for cls, level in LEVELS.items():
        folder = root / "test" / cls
        folder.mkdir(parents=True)
        for i in range(per_class):
            img = np.clip(level + rng.normal(0, 8, (SIDE, SIDE)), 0, 255).astype(np.uint8)
            cv2.imwrite(str(folder / f"{cls}_{i}.png"), img)
    return root


def _model(constant: bool) -> "onnx.ModelProto":
    """GlobalAveragePool -> -(mean - centre_k)^2 over the 8 expression labels (or a constant)."""
    from onnx import TensorProto, helper

    centres = np.full((1, 8), 10.0, dtype=np.float32)  # labels the data never uses: far away
    for i, cls in enumerate(EXPRESSIONS_8):
        if cls in LEVELS:
            centres[0, i] = LEVELS[cls] / 255.0
    inits = [helper.make_tensor("centres", TensorProto.FLOAT, centres.shape, centres.ravel()),
             helper.make_tensor("shape", TensorProto.INT64, (2,), [-1, 1]),
             helper.make_tensor("zero", TensorProto.FLOAT, (), [0.0]),
             helper.make_tensor("bias", TensorProto.FLOAT, (1, 8), [1.0] + [0.0] * 7)]
    nodes = [helper.make_node("GlobalAveragePool", ["input"], ["gap"]),
             helper.make_node("Reshape", ["gap", "shape"], ["mean"])]
    if constant:
        nodes += [helper.make_node("Mul", ["mean", "zero"], ["z"]), helper.make_node("Add", ["z", "bias"], ["logits"])]
    else:
        nodes += [helper.make_node("Sub", ["mean", "centres"], ["d"]), helper.make_node("Mul", ["d", "d"], ["d2"]),
                  helper.make_node("Neg", ["d2"], ["logits"])]
    graph = helper.make_graph(
        nodes, "brightness",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, SIDE, SIDE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 8])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


META = ModelMeta(model="brightness", task="classification", input_size=(SIDE, SIDE), color="gray",
                 heads=(Head("expression", "logits", 8),), labels=EXPRESSIONS_8)


def make_bundle(folder: Path, *, constant: bool = False, target: str = "laptop-x86") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(_model(constant), str(folder / "model.onnx"))
    META.save(folder / "meta.json")
    write_manifest(folder, Manifest(format="onnx", precision="fp32", model_files=("model.onnx",), target=target))
    return folder


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    return write_faces(tmp_path_factory.mktemp("faces"))


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    return make_bundle(tmp_path_factory.mktemp("bundles") / "good")


def bench(bundles, data, **kw):
    from edgeaffect.bench.run import BenchConfig, run_bench

    opts = dict(resolutions=(48, 16, 4), interpolations=("linear", "area"), latency_runs=5, warmup=1, progress=False)
    opts.update(kw)
    return run_bench(BenchConfig(bundles=tuple(bundles), data=data, **opts))


def test_resize_table_has_every_cell_and_real_accuracy(good, faces):
    result = bench([good], faces)
    rows = result.accuracy
    cells = {(r.resolution, r.down, r.up) for r in rows}
    assert cells == {(None, "linear", "linear")} | {(r, m, m) for r in (48, 16, 4) for m in ("linear", "area")}
    native = next(r for r in rows if r.resolution is None)
    assert native.n == 24 and native.accuracy == 1.0 and native.uar == 1.0
    assert native.per_class_f1["happiness"] == 1.0
    assert sum(map(sum, native.confusion)) == 24
    lat = result.latency[0]
    assert {s.stage for s in lat.stages} == {"preprocess", "infer", "postprocess"}
    assert lat.end_to_end.p95_ms >= lat.end_to_end.p50_ms > 0 and lat.fps > 0
    assert lat.model_size_bytes == (good / "model.onnx").stat().st_size and lat.peak_rss_mb > 0
    info = result.bundles[0]
    assert info.format == "onnx" and info.backend == "onnxruntime" and len(info.sha256) == 64
    assert result.device.cores > 0 and result.tools["onnxruntime"]


def test_constant_model_in_the_same_bundle_drops_to_chance(good, faces, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(good, bad)
    onnx.save(_model(constant=True), str(bad / "model.onnx"))
    write_manifest(bad, Manifest(format="onnx", precision="fp32", model_files=("model.onnx",), target="laptop-x86"))
    result = bench([bad], faces, resolutions=(16,), interpolations=("linear",))
    for row in result.accuracy:
        assert row.accuracy == pytest.approx(0.25) and row.uar == pytest.approx(0.25)
    assert result.bundles[0].sha256 != bench([good], faces, resolutions=(16,), interpolations=("linear",)).bundles[0].sha256


def test_edited_bundle_is_refused(good, faces, tmp_path):
    from edgeaffect.errors import BundleError

    bad = tmp_path / "edited"
    shutil.copytree(good, bad)
    onnx.save(_model(constant=True), str(bad / "model.onnx"))  # swapped without a new manifest
    with pytest.raises(BundleError, match="checksum"):
        bench([bad], faces)


def test_results_round_trip_and_merge(good, faces, tmp_path):
    from edgeaffect.bench.results import BenchResult, merge

    a = bench([good], faces, profile="laptop-x86", out=tmp_path / "a.json")
    b = bench([good], faces, profile="rpi4", out=tmp_path / "b.json")
    doc = json.loads((tmp_path / "a.json").read_text())
    assert doc["schema"] == "edgeaffect.bench" and doc["version"] == 1
    assert BenchResult.load(tmp_path / "a.json") == a
    merged = merge([BenchResult.load(tmp_path / "b.json"), BenchResult.load(tmp_path / "a.json")])
    assert [r.device.profile for r in merged] == ["laptop-x86", "rpi4"]
    assert merged[1] == b


def test_bench_cli_writes_results(good, faces, tmp_path):
    from edgeaffect.cli import main

    out = tmp_path / "r.json"
    code = main(["bench", str(good), "--data", str(faces), "--resolutions", "24,12", "--interp", "area:cubic",
                 "--latency-runs", "3", "--no-progress", "--out", str(out)])
    assert code == 0
    doc = json.loads(out.read_text())
    assert {(r["resolution"], r["down"], r["up"]) for r in doc["accuracy"]} == {
        (None, "linear", "linear"), (24, "area", "cubic"), (12, "area", "cubic")}
    assert main(["bench", str(good), "--data", str(faces), "--resolutions", "x,1", "--out", str(out)]) == 2


def test_capture_sweep_runs_the_pipeline_per_size(good, tmp_path):
    from edgeaffect.bench.capture import sweep

    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (320, 240))
    for i in range(8):
        writer.write(np.full((240, 320, 3), 60 + 20 * i, np.uint8))
    writer.release()
    rows = sweep(good, "good", video, ["160x120", "320x240"], detector="none", smoothing="ema:0.5")
    assert [r.capture for r in rows] == ["160x120", "320x240"]
    for r in rows:
        assert r.frames == 8 and r.faces_found == 8  # the whole frame is the face
        assert r.detect_p95_ms >= r.detect_p50_ms > 0 and r.fps > 0
        assert {"decode", "detect", "infer", "total"} <= {s.stage for s in r.stages}


def test_valence_arousal_head_is_scored_with_ccc(tmp_path):
    """A multitask bundle on AffectNet-layout data: CCC comes from the regression head's real outputs."""
    from onnx import TensorProto, helper

    from edgeaffect.data.synthetic import write_synthetic_faces

    data = write_synthetic_faces(tmp_path / "affectnet", per_class=1, size=SIDE, seed=1)
    nodes = [helper.make_node("GlobalAveragePool", ["input"], ["gap"]),
             helper.make_node("Flatten", ["gap"], ["mean"]),  # (N, 3)
             helper.make_node("MatMul", ["mean", "w_cls"], ["logits"]),
             helper.make_node("MatMul", ["mean", "w_va"], ["va"])]
    inits = [helper.make_tensor("w_cls", TensorProto.FLOAT, (3, 8), np.eye(3, 8, dtype=np.float32).ravel()),
             helper.make_tensor("w_va", TensorProto.FLOAT, (3, 2), [0.5, -0.5, 0.2, 0.1, -0.3, 0.4])]
    graph = helper.make_graph(nodes, "va", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, SIDE, SIDE])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 8]),
                               helper.make_tensor_value_info("va", TensorProto.FLOAT, ["N", 2])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    folder = tmp_path / "mtl"
    folder.mkdir()
    onnx.save(model, str(folder / "model.onnx"))
    ModelMeta(model="mtl", task="multitask", input_size=(SIDE, SIDE), color="rgb", labels=EXPRESSIONS_8,
              heads=(Head("expression", "logits", 8), Head("va", "regression", 2, (-1, 1)))).save(folder / "meta.json")
    write_manifest(folder, Manifest(format="onnx", precision="fp32", model_files=("model.onnx",)))
    result = bench([folder], data, resolutions=(16,), interpolations=("area",), group_by="subject")
    native = result.accuracy[0]
    assert native.n == 8 and native.accuracy is not None
    assert native.ccc_valence is not None and -1.0 <= native.ccc_valence <= 1.0 and native.ccc_valence != 0.0
    assert native.ccc_arousal is not None and native.ccc_arousal != native.ccc_valence
    assert sum(g["n"] for g in native.subgroups.values()) == 8


def test_bench_never_imports_torch(good, faces):
    import subprocess
    import sys

    code = ("import sys; from edgeaffect.bench import BenchConfig, run_bench; "
            f"run_bench(BenchConfig(bundles=({str(good)!r},), data={str(faces)!r}, resolutions=(8,), "
            "interpolations=('area',), latency_runs=2, progress=False)); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_unreadable_face_is_skipped_and_counted(good, faces, tmp_path):
    from edgeaffect.bench.samples import load_samples
    from edgeaffect.data import open_dataset

    data = tmp_path / "faces"
    shutil.copytree(faces, data)
    (data / "test" / "neutral" / "broken.png").write_bytes(b"not a png")
    samples = load_samples(open_dataset(data), "test", META)
    assert len(samples) == 24 and samples.skipped == 1
    assert np.bincount(samples.labels, minlength=8).tolist() == [6, 6, 6, 6, 0, 0, 0, 0]  # model label order
