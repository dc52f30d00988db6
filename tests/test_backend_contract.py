"""The Backend protocol contract: one test class, one subclass per backend, real runtimes on a tiny export.

Each subclass exports the same two-head model with its format's exporter from
the export-format table and runs it with the real runtime.  Backends whose
library (or module) is not installed here are skipped, e.g. TensorRT.
"""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from edgeaffect._optional import available  # noqa: E402
from edgeaffect.errors import EdgeAffectError  # noqa: E402
from edgeaffect.formats import FORMATS, ExportOptions  # noqa: E402
from edgeaffect.meta import ModelMeta  # noqa: E402
from edgeaffect.runtime.backends import BACKEND_MODULES, BACKENDS, create_backend  # noqa: E402

META = ModelMeta(model="contract", task="multitask", input_size=(20, 20), color="rgb",
                 heads=[{"name": "logits", "kind": "logits", "size": 3},
                        {"name": "va", "kind": "regression", "size": 2, "value_range": (-1, 1)}],
                 labels=("a", "b", "c"), mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.cls, self.va = nn.Linear(8, 3), nn.Linear(8, 2)

    def forward(self, x):
        f = self.body(x)
        return self.cls(f), torch.tanh(self.va(f))


class BackendContract:
    backend: str = ""
    library: str = ""  # python module the backend needs
    atol: float = 1e-4

    @pytest.fixture(scope="class")
    def exported(self, tmp_path_factory):
        if importlib.util.find_spec(BACKEND_MODULES[self.backend]) is None or not available(self.library):
            pytest.skip(f"{self.backend} backend or its library '{self.library}' is not installed here")
        torch.manual_seed(0)
        model = TwoHeads().eval()
        fmt = next(f for f in FORMATS.values() if f.backend == self.backend)
        folder = tmp_path_factory.mktemp(self.backend)
        precision = "fp32" if "fp32" in fmt.precisions else "fp16"
        files = fmt.load_exporter()(model, META, folder, precision=precision, calibration=None, options=ExportOptions())
        return model, folder / files[0], precision

    @pytest.fixture(scope="class")
    def backend_obj(self, exported):
        return create_backend(self.backend, exported[1], META)

    def batch(self, backend, n=2):
        rng = np.random.default_rng(0)
        return rng.standard_normal((backend.batch_size or n, 3, 20, 20)).astype(np.float32)

    def test_registered_under_its_name(self, backend_obj):
        assert self.backend in BACKENDS and backend_obj.name == self.backend and backend_obj.meta == META

    def runs_at(self, exported_precision: str) -> str:
        """The precision a file exported at ``exported_precision`` runs at here, by default the same."""
        return exported_precision

    def test_batch_size_and_precision_are_what_the_file_holds(self, exported, backend_obj):
        # the exported precision (or what the runtime says it turns it into), not any valid-looking name
        assert backend_obj.precision == self.runs_at(exported[2])
        n = backend_obj.batch_size or 3  # None promises any batch: three faces must come back as three rows
        assert [len(o) for o in backend_obj.infer(self.batch(backend_obj, n))] == [n] * len(META.heads)

    def test_infer_returns_heads_in_meta_order(self, backend_obj):
        x = self.batch(backend_obj)
        out = backend_obj.infer(x)
        assert isinstance(out, tuple) and len(out) == len(META.heads)
        for arr, head in zip(out, META.heads):
            assert isinstance(arr, np.ndarray) and arr.shape == (len(x), head.size) and np.isfinite(arr).all()
        assert np.abs(out[1]).max() <= 1.0  # the tanh head really is the second output

    def test_matches_float_model(self, exported, backend_obj):
        model = exported[0]
        x = self.batch(backend_obj)
        with torch.no_grad():
            ref = [t.numpy() for t in model(torch.from_numpy(x))]
        atol = 5e-2 if backend_obj.precision in ("bf16", "fp16") else self.atol
        for got, want in zip(backend_obj.infer(x), ref):
            np.testing.assert_allclose(got, want, atol=atol)

    def test_deterministic(self, backend_obj):
        x = self.batch(backend_obj)
        for a, b in zip(backend_obj.infer(x), backend_obj.infer(x)):
            np.testing.assert_array_equal(a, b)

    def test_missing_file_is_a_clear_error(self, exported, tmp_path):
        missing = tmp_path / f"missing{exported[1].suffix}"
        with pytest.raises(EdgeAffectError):
            create_backend(self.backend, missing, META)


class TestOnnxRuntime(BackendContract):
    backend, library = "onnxruntime", "onnxruntime"


class TestOpenVINO(BackendContract):
    backend, library = "openvino", "openvino"

    def runs_at(self, exported_precision: str) -> str:
        # the CPU plugin runs float IRs in bf16 where the CPU has bf16 units (AVX512-BF16, AMX) and says so
        # in its capabilities; the backend must report that, not the file's fp32
        import openvino as ov

        if exported_precision == "fp32" and "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
            return "bf16"
        return exported_precision


class TestLiteRT(BackendContract):
    backend, library = "litert", "ai_edge_litert"


class TestTensorRT(BackendContract):
    backend, library = "tensorrt", "tensorrt"  # not importable on the development machine: skipped


def test_every_registered_backend_has_a_contract_subclass():
    covered = {cls.backend for cls in BackendContract.__subclasses__()}
    assert covered == set(BACKEND_MODULES)
