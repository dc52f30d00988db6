"""TFLite export round trips with the real LiteRT interpreter: FP32 / FP16 weights / PT2E INT8 against torch,
output mapping to heads, quantized IO, and refusal of ops the LiteRT runtime cannot run."""
from __future__ import annotations


import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("litert_torch")
pytest.importorskip("ai_edge_litert")

from edgeaffect.calibration.sources import from_arrays  # noqa: E402
from edgeaffect.compress.tflite_export import export  # noqa: E402
from edgeaffect.errors import ExportError  # noqa: E402
from edgeaffect.formats import ExportOptions  # noqa: E402
from edgeaffect.meta import ModelMeta  # noqa: E402
from edgeaffect.preprocess import prepare_batch  # noqa: E402
from edgeaffect.runtime.backends import create_backend  # noqa: E402

from export_support import (META, TinyMTL, calibration, export_each_precision, model, realish_images,  # noqa: E402,F401
                            samples, torch_out)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, model, calibration):
    return export_each_precision(export, tmp_path_factory.mktemp("tfl"), model, calibration, ["model.tflite"])


def test_fp32_matches_torch_tightly(exported, model, samples):
    backend = create_backend("litert", exported["fp32"], META, threads=1)
    assert backend.precision == "fp32" and not backend.quantized_io
    assert backend.output_mapping == {"expression": "output_0", "va": "output_1"}
    got, ref = backend.infer(samples), torch_out(model, samples)  # batch 24 through a batch-1 file
    assert [g.shape for g in got] == [(24, 7), (24, 2)]
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, atol=1e-4, rtol=1e-4)


def test_fp16_weights_are_smaller_and_close(exported, model, samples):
    assert exported["fp16"].stat().st_size < 0.8 * exported["fp32"].stat().st_size
    backend = create_backend("litert", exported["fp16"], META)
    for g, r in zip(backend.infer(samples), torch_out(model, samples)):
        np.testing.assert_allclose(g, r, atol=2e-2, rtol=2e-2)


def test_int8_is_full_integer_with_quantized_io_and_agrees_on_top1(exported, model, samples):
    backend = create_backend("litert", exported["int8"], META)
    assert backend.precision == "int8"
    assert backend.quantized_io  # the backend applies scale/zero-point itself
    got, ref = backend.infer(samples), torch_out(model, samples)
    assert got[0].dtype == np.float32 and got[0].shape == (24, 7)
    agreement = float(np.mean(got[0].argmax(1) == ref[0].argmax(1)))
    assert agreement >= 0.75, agreement
    assert np.abs(got[1] - ref[1]).max() < 0.1


class ThreeHeads(torch.nn.Module):
    """Heads of different sizes, so a wrong output mapping shows as a wrong shape."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 8, 3, 2, 1)
        self.a, self.b, self.c = torch.nn.Linear(8, 5), torch.nn.Linear(8, 1), torch.nn.Linear(8, 3)

    def forward(self, x):
        y = torch.relu(self.conv(x)).mean((2, 3))
        return self.a(y), torch.tanh(self.b(y)), self.c(y)


def test_outputs_are_returned_in_heads_order(tmp_path):
    meta = META.evolve(heads=({"name": "z5", "kind": "logits", "size": 5}, {"name": "a1", "kind": "regression"},
                              {"name": "m3", "kind": "regression", "size": 3}), labels=tuple("abcde"))
    torch.manual_seed(0)
    model = ThreeHeads().eval()
    export(model, meta, tmp_path, precision="fp32", calibration=None, options=ExportOptions())
    x = prepare_batch(realish_images(2, seed=3), meta)
    got = create_backend("litert", tmp_path / "model.tflite", meta).infer(x)
    assert [g.shape for g in got] == [(2, 5), (2, 1), (2, 3)]
    for g, r in zip(got, torch_out(model, x)):
        np.testing.assert_allclose(g, r, atol=1e-4)


class Upsample3D(torch.nn.Module):
    """A 3D transposed convolution (as in temporal decoders): LiteRT has no kernel for it."""

    def __init__(self) -> None:
        super().__init__()
        self.up = torch.nn.ConvTranspose3d(1, 2, (4, 1, 1), stride=(2, 1, 1), padding=(1, 0, 0))

    def forward(self, x):
        return (self.up(x).mean((1, 3, 4)),)


def test_op_the_runtime_cannot_run_is_refused_by_name(tmp_path):
    meta = ModelMeta(model="up3d", task="signal", input_size=(8, 8), color="gray", temporal={"frames": 4, "fps": 30},
                     heads=({"name": "eda", "kind": "signal", "size": 8},))
    with pytest.raises(ExportError, match="STABLEHLO_CONVOLUTION") as err:
        export(Upsample3D().eval(), meta, tmp_path, precision="fp32", calibration=None, options=ExportOptions())
    assert "onnx" in err.value.fix.lower()
    assert not (tmp_path / "model.tflite").exists()


def test_int8_without_calibration_is_refused(model, tmp_path):
    with pytest.raises(ExportError, match="calibration"):
        export(model, META, tmp_path, precision="int8", calibration=None, options=ExportOptions())


class Clip3D(torch.nn.Module):
    """Only 3D convolutions: the PT2E quantizer has no int8 pattern for them."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv3d(3, 4, 3, padding=1)
        self.out = torch.nn.Conv3d(4, 1, 1)

    def forward(self, x):
        return (self.out(torch.relu(self.conv(x))).mean((1, 3, 4)),)


@pytest.mark.parametrize("precision", ["int8", "fp16"])
def test_int8_or_fp16_that_stays_float_is_refused_instead_of_shipped_under_that_name(tmp_path, precision):
    meta = ModelMeta(model="clip3d", task="signal", input_size=(8, 8), color="rgb", temporal={"frames": 4, "fps": 4},
                     heads=({"name": "eda", "kind": "signal", "size": 4},))
    torch.manual_seed(0)
    clips = [np.random.default_rng(i).integers(0, 256, (4, 8, 8, 3), dtype=np.uint8) for i in range(4)]  # T x H x W x C
    with pytest.raises(ExportError, match="left 2 of its 2 compute ops in float" if precision == "int8"
                       else "cast too few weights") as err:
        export(Clip3D().eval(), meta, tmp_path, precision=precision, calibration=from_arrays(clips, meta),
               options=ExportOptions())
    assert "fp32" in err.value.fix
    assert precision == "fp16" or "CONV_3D" in err.value.what
    assert not (tmp_path / "model.tflite").exists()


def test_auto_and_default_precision_drop_a_precision_the_model_cannot_take(tmp_path):
    from edgeaffect.compress.export import export_model

    meta = ModelMeta(model="clip3d", task="signal", input_size=(8, 8), color="rgb", temporal={"frames": 4, "fps": 4},
                     heads=({"name": "eda", "kind": "signal", "size": 4},))
    rng = np.random.default_rng(0)
    clips = [rng.integers(0, 256, (4, 8, 8, 3), dtype=np.uint8) for _ in range(12)]  # T x H x W x C frames
    torch.manual_seed(0)
    out = export_model(Clip3D().eval(), meta, target="rpi4", out=tmp_path / "b", format="tflite", precision="auto",
                       calibration=from_arrays(clips, meta), verify_data=from_arrays(clips, meta))
    report = json.loads((out / "verification.json").read_text())
    assert report["chosen"] == "fp32"
    assert {s["precision"] for s in report["skipped"]} == {"int8", "fp16"}
    # the device default (rpi4: int8 first) falls to the next precision the model can take, and says so
    out = export_model(Clip3D().eval(), meta, target="rpi4", out=tmp_path / "d", format="tflite",
                       calibration=from_arrays(clips, meta), verify_data=from_arrays(clips, meta))
    report = json.loads((out / "verification.json").read_text())
    assert report["chosen"] == "fp32" and [s["precision"] for s in report["skipped"]] == ["int8"]
    assert len(report["candidates"]) == 1


def test_mirror_averaging_quantizes_as_one_network(tmp_path):
    """A tuned default averages the face and its mirror in the graph.  Called twice, the network was
    quantized once: PT2E left the second call's 21 convolutions in float and the LiteRT INT8 file agreed
    with torch on 16 % of real faces.  Stacked in the batch, it is one network, all of it int8."""
    from edgeaffect.compress.tflite_export import float_compute_ops
    from edgeaffect.train.registry import create_model

    prior = (0.34, 0.29, 0.12, 0.13, 0.08, 0.0065, 0.026, 0.0075)
    counts = {}
    for flip, zoom in ((False, 1.0), (True, 1.0), (True, 0.8)):  # 1, 2 and 4 views of the face
        torch.manual_seed(1)
        model = create_model("resnet18", in_chans=1, channels=[8, 8, 16, 16], input_size=32,
                             adjust={"tau": 0.0, "prior": prior, "hflip": flip, "zoom": zoom}).eval()
        out = tmp_path / f"{flip}-{zoom}"
        export(model, model.meta, out, precision="int8", calibration=from_arrays(realish_images(32, seed=3), model.meta),
               options=ExportOptions())
        floating, counts[flip, zoom] = float_compute_ops((out / "model.tflite").read_bytes())
        assert floating == [], floating
        x = prepare_batch(realish_images(24, seed=4), model.meta)
        got = create_backend("litert", out / "model.tflite", model.meta).infer(x)[0]
        with torch.no_grad():
            want = model(torch.from_numpy(x))[0].numpy()
        assert float(np.mean(got.argmax(1) == want.argmax(1))) >= 0.9
    assert counts[True, 1.0] == counts[False, 1.0]  # the mirror adds no second copy of the network
    assert counts[True, 0.8] == counts[False, 1.0]  # nor does the zoomed centre
