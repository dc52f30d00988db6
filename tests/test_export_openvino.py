"""OpenVINO IR export round trips with the real OpenVINO runtime: FP32 / FP16 / NNCF INT8 against torch."""
from __future__ import annotations


import numpy as np
import pytest

torch = pytest.importorskip("torch")
ov = pytest.importorskip("openvino")
pytest.importorskip("nncf")

from edgeaffect.compress.openvino_export import RT_INFO_KEY, export  # noqa: E402
from edgeaffect.errors import ConfigError, ExportError  # noqa: E402
from edgeaffect.formats import ExportOptions  # noqa: E402
from edgeaffect.meta import ModelMeta  # noqa: E402
from edgeaffect.runtime.backends import create_backend  # noqa: E402

from export_support import (META, TinyMTL, calibration, export_each_precision, model, realish_images,  # noqa: E402,F401
                            samples, torch_out)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, model, calibration):
    return export_each_precision(export, tmp_path_factory.mktemp("ov"), model, calibration, ["model.xml", "model.bin"])


def test_fp32_matches_torch_tightly_when_forced_to_f32(exported, model, samples):
    backend = create_backend("openvino", exported["fp32"], META, inference_precision="fp32", threads=1)
    assert backend.precision == "fp32"
    assert backend.batch_size is None  # dynamic batch: the verifier feeds 24 at once
    got, ref = backend.infer(samples), torch_out(model, samples)
    assert [g.shape for g in got] == [(24, 7), (24, 2)]
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, atol=1e-4, rtol=1e-4)


def test_default_precision_is_what_the_plugin_runs(exported):
    backend = create_backend("openvino", exported["fp32"], META)
    hint = str(ov.Core().get_property("CPU", "INFERENCE_PRECISION_HINT")).lower()
    expected = {"f32": "fp32", "float32": "fp32", "bf16": "bf16", "bfloat16": "bf16", "f16": "fp16"}[
        hint.split("'")[1] if "'" in hint else hint]
    assert backend.precision == expected  # bf16 on CPUs with AMX/AVX512-BF16, fp32 elsewhere


def test_fp16_ir_is_smaller_and_close(exported, model, samples):
    assert exported["fp16"].with_suffix(".bin").stat().st_size < 0.6 * exported["fp32"].with_suffix(".bin").stat().st_size
    backend = create_backend("openvino", exported["fp16"], META, inference_precision="fp32")
    for g, r in zip(backend.infer(samples), torch_out(model, samples)):
        np.testing.assert_allclose(g, r, atol=2e-2, rtol=2e-2)


def test_int8_agrees_on_top1_and_reports_int8(exported, model, samples):
    backend = create_backend("openvino", exported["int8"], META, inference_precision="fp32")
    assert backend.precision == "int8" and backend.float_precision == "fp32"
    got, ref = backend.infer(samples), torch_out(model, samples)
    agreement = float(np.mean(got[0].argmax(1) == ref[0].argmax(1)))
    assert agreement >= 0.75, agreement
    assert np.abs(got[1] - ref[1]).max() < 0.1
    ops = {op.get_type_name() for op in ov.Core().read_model(str(exported["int8"])).get_ops()}
    assert "FakeQuantize" in ops


def test_outputs_named_after_heads_and_meta_in_rt_info(exported):
    ir = ov.Core().read_model(str(exported["fp32"]))
    assert [o.get_any_name() for o in ir.outputs] == ["expression", "va"]
    assert ModelMeta.from_json(ir.get_rt_info(list(RT_INFO_KEY)).astype(str)) == META


def test_int8_without_calibration_is_refused(model, tmp_path):
    with pytest.raises(ExportError, match="calibration"):
        export(model, META, tmp_path, precision="int8", calibration=None, options=ExportOptions())


def test_unknown_inference_precision_is_a_config_error(exported):
    with pytest.raises(ConfigError, match="inference precision"):
        create_backend("openvino", exported["fp32"], META, inference_precision="int4")
