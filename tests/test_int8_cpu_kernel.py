"""INT8 ONNX on x86 CPUs without VNNI: the export is exact there, and verification says which kernel ran.

ORT's default U8S8 kernel on AVX2 without VNNI sums u8 x s8 pairs in a saturating 16-bit register; on this
project's test model that alone cost 6 points of top-1 agreement (94 % vs 100 % for the same QDQ file run
with exact sums, and 100 % for the QDQ arithmetic simulated in float: the ranges were right).  The fixes
under test: 7-bit weights for x86 CPU targets, ORT's exact kernel for the TensorRT proxy, and the CPU and
kernel recorded in verification.json.  Real ONNX Runtime, tiny model.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from edgeaffect.compress.cpu_int8 import WEIGHT_BITS_PROP, CpuInt8, cpu_int8_features  # noqa: E402
from edgeaffect.compress.export import export_model  # noqa: E402
from edgeaffect.compress.ort_quant import reduce_range  # noqa: E402
from edgeaffect.compress.verify import DEFAULT_THRESHOLDS  # noqa: E402
from edgeaffect.formats import ExportOptions  # noqa: E402
from edgeaffect.runtime.backends import create_backend  # noqa: E402
from test_export_onnx import calib, images, model, tiny_meta, verify_set  # noqa: E402,F401  (tests/ on sys.path)

GATE = DEFAULT_THRESHOLDS["int8"].top1_agreement
HERE = cpu_int8_features()


@pytest.fixture(scope="module")
def faces():
    from edgeaffect.calibration.sources import from_arrays

    meta = tiny_meta()
    return np.concatenate([a[0] for a, _ in from_arrays(images(200, seed=2), meta).bound(meta).batches(200)])


def agreement(model, path, x, **backend) -> float:
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy().argmax(1)
    (got,) = create_backend("onnxruntime", path, tiny_meta(), threads=1, **backend).infer(x)
    return float(np.mean(got.argmax(1) == ref))


def int8_weights(path) -> list[np.ndarray]:
    from onnx import numpy_helper

    proto = onnx.load(str(path))
    return [numpy_helper.to_array(i) for i in proto.graph.initializer
            if i.data_type == onnx.TensorProto.INT8 and "zero_point" not in i.name]


def test_cpu_flags_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse4_1 avx avx2 fma\n")
    assert cpu_int8_features(str(info)).flags == ("avx2",)
    assert CpuInt8("x86_64", ("avx2",)).u8s8_saturates  # Zen 3, Intel before Ice Lake
    assert not CpuInt8("x86_64", ("avx2", "avx512f", "avx512bw", "avx512_vnni")).u8s8_saturates
    assert not CpuInt8("x86_64", ("avx2", "avx_vnni")).u8s8_saturates
    assert not CpuInt8("aarch64", ()).u8s8_saturates
    assert cpu_int8_features(str(tmp_path / "missing")).flags == ("unknown",)


def test_weight_bits_follow_the_target():
    assert reduce_range(ExportOptions(target="laptop-x86"))  # will meet AVX2 laptops without VNNI
    assert not reduce_range(ExportOptions(target="rpi5"))  # ARM kernels do not saturate: keep 8 bits
    assert reduce_range(ExportOptions())  # unknown target: the choice that is exact everywhere
    assert not reduce_range(ExportOptions(target="laptop-x86", reduce_range=False))  # explicit wins


def test_laptop_x86_int8_passes_the_gate_on_this_cpu_with_the_default_kernel(tmp_path, model, calib, verify_set,
                                                                              faces):
    out = export_model(model, tiny_meta(), target="laptop-x86", format="onnx", precision="int8",
                       out=tmp_path / "laptop", calibration=calib, verify_data=verify_set)
    path = out / "model.onnx"
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert props[WEIGHT_BITS_PROP] == "7"
    weights = int8_weights(path)
    assert weights and max(int(np.abs(w.astype(np.int32)).max()) for w in weights) <= 64  # 7-bit range
    # what a user's ONNX Runtime does on this CPU (no session options), not an exact emulation
    assert agreement(model, path, faces) >= GATE
    ver = json.loads((out / "verification.json").read_text())["candidates"][0]
    assert ver["passed"] and ver["proxy"] is False and ver["backend"] == "onnxruntime"
    assert ver["heads"][0]["top1_agreement"] >= GATE
    assert ver["cpu"] == {"machine": HERE.machine, "flags": list(HERE.flags), "vnni": HERE.vnni}
    if HERE.u8s8_saturates:
        assert ver["int8_kernel"].startswith("U8S8 without VNNI: 7-bit weights")


def test_tensorrt_proxy_runs_the_exact_kernel_and_says_so(tmp_path, model, calib, verify_set, faces):
    out = export_model(model, tiny_meta(), target="jetson-orin-nano", out=tmp_path / "orin", calibration=calib,
                       verify_data=verify_set)
    path = out / "model.onnx"
    assert {p.key: p.value for p in onnx.load(str(path)).metadata_props}[WEIGHT_BITS_PROP] == "8"  # TensorRT: all 8
    assert max(int(np.abs(w.astype(np.int32)).max()) for w in int8_weights(path)) > 64
    ver = json.loads((out / "verification.json").read_text())["candidates"][0]
    assert ver["proxy"] is True and ver["precision"] == "int8" and ver["heads"][0]["top1_agreement"] >= GATE
    exact = agreement(model, path, faces, exact_int8=True)
    assert exact >= GATE
    if HERE.u8s8_saturates:
        assert ver["int8_kernel"].startswith("U8U8 (session.x64quantprecision=1)")
        # the loss is this CPU's kernel, not the quantization: the same file with saturating sums agrees less
        assert agreement(model, path, faces) < exact


def test_arm_target_keeps_8_bits_and_is_verified_with_exact_sums(tmp_path, model, calib, verify_set):
    out = export_model(model, tiny_meta(), target="rpi5", format="onnx", precision="int8", out=tmp_path / "rpi5",
                       calibration=calib, verify_data=verify_set)
    assert {p.key: p.value for p in onnx.load(str(out / "model.onnx")).metadata_props}[WEIGHT_BITS_PROP] == "8"
    ver = json.loads((out / "verification.json").read_text())["candidates"][0]
    assert ver["proxy"] is False and ver["heads"][0]["top1_agreement"] >= GATE
    if HERE.u8s8_saturates:  # the Pi's ARM kernels do not saturate: the x86 export machine must not pretend they do
        assert ver["int8_kernel"].endswith("as the target device computes")


def test_openvino_int8_for_laptops_passes_the_gate_on_this_cpu(tmp_path, model, calib, verify_set):
    pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    out = export_model(model, tiny_meta(), target="laptop-x86", format="openvino", precision="int8",
                       out=tmp_path / "ov", calibration=calib, verify_data=verify_set)
    ver = json.loads((out / "verification.json").read_text())["candidates"][0]
    assert ver["backend"] == "openvino" and ver["proxy"] is False and ver["passed"]
    assert ver["heads"][0]["top1_agreement"] >= GATE and ver["cpu"]["flags"] == list(HERE.flags)
