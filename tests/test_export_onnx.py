"""ONNX export, ORT quantization, TensorRT route, verification and bundles - real ONNX Runtime, tiny models."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
pytest.importorskip("onnxruntime")

from edgeaffect.bundle import load_bundle  # noqa: E402
from edgeaffect.calibration.sources import from_arrays  # noqa: E402
from edgeaffect.compress.export import export_model  # noqa: E402
from edgeaffect.compress.onnx_export import export as onnx_export  # noqa: E402
from edgeaffect.errors import BundleError, ConfigError, DeviceError, ExportError, VerificationError  # noqa: E402
from edgeaffect.formats import FORMATS, ExportOptions  # noqa: E402
from edgeaffect.meta import ONNX_PROP_KEY, ModelMeta  # noqa: E402
from edgeaffect.runtime.backends import create_backend  # noqa: E402

LABELS = ("neutral", "happiness", "surprise", "sadness")


def tiny_meta(**kw) -> ModelMeta:
    base = dict(model="tiny-cnn", task="classification", input_size=(24, 24), color="gray",
                heads=[{"name": "logits", "kind": "logits", "size": 4}], labels=LABELS, mean=(0.5,), std=(0.25,))
    return ModelMeta(**{**base, **kw})


class TinyCNN(nn.Module):
    def __init__(self, heads=1):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.cls = nn.Linear(16, 4)
        self.va = nn.Linear(16, 2) if heads == 2 else None

    def forward(self, x):
        f = self.body(x)
        return (self.cls(f), torch.tanh(self.va(f))) if self.va is not None else self.cls(f)


def images(n, seed=0, size=28):
    """Smooth random faces-like blobs: neighbouring pixels correlate, as in real crops."""
    rng = np.random.default_rng(seed)
    import cv2

    return [cv2.resize(rng.integers(0, 255, (6, 6), dtype=np.uint8), (size, size), interpolation=cv2.INTER_CUBIC)
            for _ in range(n)]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return TinyCNN().eval()


@pytest.fixture(scope="module")
def calib():
    return from_arrays(images(64, seed=1), tiny_meta(), labels=[i % 4 for i in range(64)], classes=LABELS)


@pytest.fixture(scope="module")
def verify_set():
    return from_arrays(images(200, seed=2), tiny_meta(), labels=[i % 4 for i in range(200)], classes=LABELS)


@pytest.mark.parametrize("precision", FORMATS["onnx"].precisions)
def test_onnx_round_trip_with_real_onnxruntime(tmp_path, model, calib, verify_set, precision):
    meta = tiny_meta()
    files = onnx_export(model, meta, tmp_path, precision=precision, calibration=calib, options=ExportOptions())
    assert files == ["model.onnx"]
    import onnx

    proto = onnx.load(str(tmp_path / "model.onnx"))
    assert [o.name for o in proto.graph.output] == ["logits"]
    assert [i.name for i in proto.graph.input] == ["input"]
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # fp32 IO even for fp16
    props = {p.key: p.value for p in proto.metadata_props}
    assert ModelMeta.from_json(props[ONNX_PROP_KEY]) == meta
    ops = {n.op_type for n in proto.graph.node}
    assert ("QuantizeLinear" in ops) == (precision == "int8")
    backend = create_backend("onnxruntime", tmp_path / "model.onnx", meta)
    assert backend.precision == precision and backend.batch_size is None
    x = np.stack(list(verify_set))
    (got,) = backend.infer(x)
    ref = model(torch.from_numpy(x)).detach().numpy()
    tol = {"fp32": 1e-4, "fp16": 5e-2, "int8": 0.5}[precision]
    assert np.abs(got - ref).max() < tol
    assert np.mean(got.argmax(1) == ref.argmax(1)) >= (0.99 if precision != "int8" else 0.9)


def test_bundle_written_verified_and_checksummed(tmp_path, model, calib, verify_set):
    out = export_model(model, tiny_meta(), target="laptop-x86", out=tmp_path / "b", format="onnx", precision="int8",
                       calibration=calib, verify_data=verify_set)
    bundle = load_bundle(out)
    m = bundle.manifest
    assert (m.format, m.precision, m.model_files, m.target) == ("onnx", "int8", ("model.onnx",), "laptop-x86")
    assert {"meta.json", "labels.txt", "calibration.json", "verification.json", "README.md", "model.onnx"} <= set(m.files)
    assert {"torch", "onnx", "onnxruntime"} <= set(m.tools)
    assert (out / "labels.txt").read_text().split() == list(LABELS)
    cal = json.loads((out / "calibration.json").read_text())
    assert cal["count"] == 64 and cal["per_class"] == dict.fromkeys(LABELS, 16)
    ver = json.loads((out / "verification.json").read_text())
    assert ver["chosen"] == "int8" and ver["candidates"][0]["samples"] == 200 and ver["candidates"][0]["passed"]
    assert "pip install 'edgeaffect[onnx]'" in (out / "README.md").read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # staging folder cleaned up


@pytest.mark.parametrize("victim", ["model.onnx", "meta.json"])
def test_edited_bundle_file_fails_load_naming_it(tmp_path, model, verify_set, victim):
    out = export_model(model, tiny_meta(), target="laptop-x86", out=tmp_path / "b", format="onnx", precision="fp32",
                       verify_data=verify_set)
    path = out / victim
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=victim):
        load_bundle(out)


def test_broken_quantization_fails_with_numbers(tmp_path, model, verify_set):
    # constant calibration images give degenerate activation ranges: real faces saturate
    constant = from_arrays([np.full((28, 28), 128, np.uint8)] * 16, tiny_meta(), labels=[0] * 16)
    with pytest.raises(VerificationError, match=r"top-1 agreement \d+\.\d+% < 97\.00%") as err:
        export_model(model, tiny_meta(), target="laptop-x86", out=tmp_path / "b", format="onnx", precision="int8",
                     calibration=constant, verify_data=verify_set)
    assert "max |delta|" in str(err.value)
    assert not (tmp_path / "b").exists()
    out = export_model(model, tiny_meta(), target="laptop-x86", out=tmp_path / "b", format="onnx", precision="int8",
                       calibration=constant, verify_data=verify_set, accept_drop=True)
    assert load_bundle(out).manifest.verification["passed"] is False


def test_default_precision_moves_on_when_int8_fails_verification(tmp_path, model, verify_set):
    """Without --precision the profile's first precision that passes is kept; the failed one stays on record."""
    constant = from_arrays([np.full((28, 28), 128, np.uint8)] * 16, tiny_meta(), labels=[0] * 16)
    out = export_model(model, tiny_meta(), target="rpi4", out=tmp_path / "b", format="onnx",
                       calibration=constant, verify_data=verify_set)
    record = json.loads((out / "verification.json").read_text())
    assert load_bundle(out).manifest.precision == record["chosen"] == "fp32"
    assert [(c["precision"], c["passed"]) for c in record["candidates"]] == [("int8", False), ("fp32", True)]


def test_precision_auto_keeps_fastest_passing(tmp_path, model, calib, verify_set):
    out = export_model(model, tiny_meta(), target="laptop-x86", out=tmp_path / "b", format="onnx", precision="auto",
                       calibration=calib, verify_data=verify_set)
    cands = json.loads((out / "verification.json").read_text())["candidates"]
    assert {c["precision"] for c in cands} == {"fp32", "int8", "fp16"}
    passing = [c for c in cands if c["passed"]]
    fastest = min(passing, key=lambda c: c["latency_ms"])
    assert load_bundle(out).manifest.precision == fastest["precision"]


def test_multihead_outputs_in_head_order(tmp_path, verify_set):
    torch.manual_seed(1)
    model = TinyCNN(heads=2).eval()
    meta = tiny_meta(task="multitask", heads=[{"name": "logits", "kind": "logits", "size": 4},
                                              {"name": "va", "kind": "regression", "size": 2, "value_range": (-1, 1)}])
    vs = from_arrays(images(50, seed=3), meta, labels=[i % 4 for i in range(50)],
                     values=np.random.default_rng(0).uniform(-1, 1, (50, 2)))
    out = export_model(model, meta, target="laptop-x86", out=tmp_path / "b", format="onnx", precision="fp16", verify_data=vs)
    ver = json.loads((out / "verification.json").read_text())["candidates"][0]
    assert [h["head"] for h in ver["heads"]] == ["logits", "va"]
    assert ver["heads"][1]["pearson"] > 0.99 and "ccc_valence" in ver["heads"][1]["metrics"]
    backend = create_backend("onnxruntime", out / "model.onnx", meta)
    logits, va = backend.infer(np.stack(list(vs))[:3])
    assert logits.shape == (3, 4) and va.shape == (3, 2)


def test_refusals_happen_before_anything_is_written(tmp_path, model, verify_set):
    with pytest.raises(DeviceError, match="tflite"):
        export_model(model, tiny_meta(), target="jetson-orin-nano", out=tmp_path / "b", format="tflite",
                     verify_data=verify_set)

    class Deconv3d(nn.Module):
        def __init__(self):
            super().__init__()
            self.up = nn.ConvTranspose3d(1, 1, (4, 1, 1), stride=(2, 1, 1), padding=(1, 0, 0))

        def forward(self, x):
            return self.up(x).mean((1, 3, 4))

    meta = tiny_meta(task="signal", heads=[{"name": "eda", "kind": "signal", "size": 8}], labels=(),
                     temporal={"frames": 4, "fps": 30})
    with pytest.raises(ExportError, match="ConvTranspose3d"):
        export_model(Deconv3d(), meta, target="rpi5", out=tmp_path / "b", format="tflite", verify_data=verify_set)
    assert list(tmp_path.iterdir()) == []


def test_tensorrt_route_ships_qdq_onnx_and_versioned_build_script(tmp_path, model, calib, verify_set):
    out = export_model(model, tiny_meta(), target="jetson-orin-nano", out=tmp_path / "orin", calibration=calib,
                       verify_data=verify_set)
    b = load_bundle(out)
    assert (b.manifest.format, b.manifest.precision) == ("tensorrt", "int8")
    assert b.manifest.model_files == ("model.onnx", "build_engine.sh") and b.manifest.tools["tensorrt"] == "10.3"
    script = (out / "build_engine.sh").read_text()
    assert "--int8" in script and "--memPoolSize=workspace:1024" in script and "--workspace=" not in script
    assert "--shapes=input:1x1x24x24" in script and "--saveEngine=model.engine" in script
    import onnx

    zero_points = [i for i in onnx.load(str(out / "model.onnx")).graph.initializer if "zero_point" in i.name]
    assert zero_points and not [z.name for z in zero_points if z.data_type == onnx.TensorProto.UINT8]  # signed INT8
    act = next(z for z in zero_points if z.name == "input_zero_point")
    assert act.data_type == onnx.TensorProto.INT8 and list(act.int32_data) == [0]  # symmetric activations
    ver = json.loads((out / "verification.json").read_text())["candidates"][0]
    assert ver["backend"] == "onnxruntime" and ver["proxy"] is True
    nano = export_model(model, tiny_meta(), target="jetson-nano", out=tmp_path / "nano", verify_data=verify_set)
    script = (nano / "build_engine.sh").read_text()
    assert load_bundle(nano).manifest.precision == "fp16"
    assert "--fp16" in script and "--workspace=1024" in script and "memPoolSize" not in script  # TensorRT 8.2


def test_sklearn_fusion_model_exports_to_onnx(tmp_path):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 6)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    clf = LogisticRegression().fit(X, y)
    meta = ModelMeta(model="fusion-logreg", task="tabular", input_size=(1, 6), color="gray", labels=("low", "high"),
                     heads=[{"name": "probs", "kind": "logits", "size": 2}])
    vs = from_arrays(list(X[:60]), meta, labels=list(y[:60]))
    out = export_model(clf, meta, target="laptop-x86", out=tmp_path / "b", format="onnx", precision="fp32", verify_data=vs)
    (probs,) = create_backend("onnxruntime", out / "model.onnx", meta).infer(X[60:])
    np.testing.assert_allclose(probs, clf.predict_proba(X[60:]), atol=1e-5)


def test_cli_errors_exit_2(tmp_path, capsys):
    from edgeaffect.cli import main

    assert main(["export", str(tmp_path / "no-run"), "--target", "laptop-x86"]) == 2
    assert "error:" in capsys.readouterr().err


def test_lstm_models_get_dynamic_int8_without_calibration(tmp_path):
    class SeqNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(6, 16, batch_first=True)
            self.out = nn.Linear(16, 2)

        def forward(self, x):  # (N, steps, features), the layout of the registered tabular models
            y, _ = self.lstm(x)
            return self.out(y[:, -1])

    torch.manual_seed(0)
    model = SeqNet().eval()
    meta = ModelMeta(model="seq", task="tabular", input_size=(10, 6), color="gray", labels=("a", "b"),
                     heads=[{"name": "logits", "kind": "logits", "size": 2}])
    files = onnx_export(model, meta, tmp_path, precision="int8", calibration=None, options=ExportOptions())
    import onnx

    ops = {n.op_type for n in onnx.load(str(tmp_path / files[0])).graph.node}
    assert "DynamicQuantizeLSTM" in ops or "MatMulInteger" in ops
    x = np.random.default_rng(0).standard_normal((8, 10, 6)).astype(np.float32)
    (got,) = create_backend("onnxruntime", tmp_path / files[0], meta).infer(x)
    ref = model(torch.from_numpy(x)).detach().numpy()
    assert np.abs(got - ref).max() < 0.05


@pytest.mark.parametrize("method", ["percentile", "entropy"])
def test_histogram_calibration_is_fed_in_bounded_chunks(tmp_path, model, verify_set, method, monkeypatch):
    from onnxruntime.quantization.calibrate import HistogramCalibrater

    from edgeaffect.formats import CalibrationMethod
    from edgeaffect.compress.ort_quant import HISTOGRAM_CHUNK, histogram_stride

    # Percentile/entropy keep every intermediate output of what one collect_data call reads: a spy on
    # the real calibrator counts the samples each call held (300 DDAMFN faces at once were OOM-killed).
    held = []
    real = HistogramCalibrater.collect_data

    def counting(self, reader):
        samples = []
        real(self, _Counting(reader, samples))
        held.append(sum(samples))

    monkeypatch.setattr(HistogramCalibrater, "collect_data", counting)
    options = ExportOptions(calibration_method=CalibrationMethod(method))
    calib = from_arrays(images(60, seed=1), tiny_meta())  # not a multiple of 8: no short last batch may break it
    onnx_export(model, tiny_meta(), tmp_path, precision="int8", calibration=calib, options=options)
    assert sum(held) == 60 and len(held) > 1 and max(held) <= HISTOGRAM_CHUNK
    backend = create_backend("onnxruntime", tmp_path / "model.onnx", tiny_meta())
    x = np.stack(list(verify_set))
    ref = model(torch.from_numpy(x)).detach().numpy()
    assert np.mean(backend.infer(x)[0].argmax(1) == ref.argmax(1)) >= 0.9
    assert histogram_stride(38, 8) == 2 and histogram_stride(37, 1) == 1 and histogram_stride(64, 1) == 16


class _Counting:
    """Passes a calibration reader through, noting how many samples each batch it hands out holds."""

    def __init__(self, reader, sizes):
        self.reader, self.sizes = reader, sizes

    def get_next(self):
        batch = self.reader.get_next()
        if batch is not None:
            self.sizes.append(len(next(iter(batch.values()))))
        return batch


def test_fp16_weights_halve_the_file_and_keep_fp32_compute(model, tmp_path):
    """--fp16-weights: weights stored as float16, Cast back on load; outputs match the float32 file."""
    import onnx
    import onnxruntime as ort

    torch.manual_seed(1)
    wide = nn.Sequential(nn.Conv2d(1, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 4)).eval()
    meta = tiny_meta()
    plain = onnx_export(wide, meta, tmp_path / "plain", precision="fp32", calibration=None, options=ExportOptions())
    small = onnx_export(wide, meta, tmp_path / "small", precision="fp32", calibration=None,
                        options=ExportOptions(fp16_weights=True))
    a, b = tmp_path / "plain" / plain[0], tmp_path / "small" / small[0]
    assert b.stat().st_size < 0.6 * a.stat().st_size
    proto = onnx.load(str(b))
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in proto.graph.initializer)
    assert {p.key: p.value for p in proto.metadata_props}["edgeaffect.weights"] == "fp16"
    x = np.random.default_rng(0).normal(size=(3, 1, 24, 24)).astype(np.float32)
    ya = ort.InferenceSession(str(a)).run(None, {"input": x})[0]
    yb = ort.InferenceSession(str(b)).run(None, {"input": x})[0]
    assert yb.dtype == np.float32
    assert np.abs(ya - yb).max() < 1e-2 * max(np.abs(ya).max(), 1.0)
    assert (ya.argmax(1) == yb.argmax(1)).all()


def _snapshot(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_user_folder_survives_export(tmp_path, model, verify_set):
    user = tmp_path / "mine"
    (user / "notes").mkdir(parents=True)
    (user / "notes" / "thesis.txt").write_text("three years of work\n")
    (user / "manifest.json").write_text('{"format": "onnx", "precision": "fp32", "model_files": ["x.onnx"]}\n')
    before = _snapshot(user)
    with pytest.raises(ConfigError, match="mine"):
        export_model(model, tiny_meta(), target="laptop-x86", out=user, format="onnx", precision="fp32",
                     verify_data=verify_set)
    assert _snapshot(user) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # no staging folder left either
    # a folder that is provably a bundle is replaced whole; a file is never replaced by a folder
    out = export_model(model, tiny_meta(), target="laptop-x86", out=tmp_path / "b", format="onnx", precision="fp32",
                       verify_data=verify_set)
    first = _snapshot(out)
    export_model(model, tiny_meta(), target="laptop-x86", out=out, format="onnx", precision="fp32",
                 verify_data=verify_set)
    assert load_bundle(out).manifest.files.keys() == {k for k in first if k != "manifest.json"}
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        export_model(model, tiny_meta(), target="laptop-x86", out=tmp_path / "file", format="onnx",
                     verify_data=verify_set)
