"""Registry completeness: every export format (at every precision it declares) and every device profile is exercised.

The format cases derive from the table itself, so a new format is exported and run here as soon
as it has a row.  Device profiles are listed with the export their ``--target`` picks by default,
so a new profile without a row here fails.  (Models: tests/test_models.py; face detectors:
tests/test_runtime_detectors.py; runtime backends: tests/test_backend_contract.py.)
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from edgeaffect.detectors import DETECTORS
from edgeaffect.devices import get_profile, list_profiles
from edgeaffect.errors import MissingExtraError
from edgeaffect.formats import FORMATS, ExportOptions
from edgeaffect.meta import ModelMeta

torch = pytest.importorskip("torch")

META = ModelMeta(model="registry", task="multitask", input_size=(20, 20), color="rgb",
                 heads=[{"name": "logits", "kind": "logits", "size": 3},
                        {"name": "va", "kind": "regression", "size": 2, "value_range": (-1, 1)}],
                 labels=("a", "b", "c"), mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
# max |export - torch| relative to the largest output, by the precision the backend runs (OpenVINO's CPU plugin
# runs an FP32 IR in bf16 on CPUs with AMX)
TOLERANCE = {"fp32": 1e-3, "bf16": 3e-2, "fp16": 3e-2, "int8": 0.15}


class TwoHeads(torch.nn.Module):
    def __init__(self):
        super().__init__()
        nn = torch.nn
        # wide enough that weights dominate the file (the TFLite FP16 export refuses a file it barely shrinks)
        self.body = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
                                  nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.cls, self.va = nn.Linear(64, 3), nn.Linear(64, 2)

    def forward(self, x):
        f = self.body(x)
        return self.cls(f), torch.tanh(self.va(f))


def _images(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [cv2.GaussianBlur(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8), (5, 5), 2) for _ in range(n)]


@pytest.mark.parametrize("name,precision", [(f.name, p) for f in FORMATS.values() for p in f.precisions])
def test_every_format_exports_and_runs_at_every_precision(tmp_path, name, precision):
    from edgeaffect.calibration.sources import from_arrays
    from edgeaffect.preprocess import prepare_batch
    from edgeaffect.runtime.backends import create_backend

    fmt = FORMATS[name]
    torch.manual_seed(0)
    model = TwoHeads().eval()
    calibration = from_arrays(_images(16, 1), META) if precision == "int8" else None
    try:
        files = fmt.load_exporter()(model, META, tmp_path, precision=precision, calibration=calibration,
                                    options=ExportOptions())
    except MissingExtraError as exc:
        pytest.skip(f"{name} exporter not installed here: {exc.what}")
    assert files and all((tmp_path / f).is_file() for f in files)
    if not fmt.proxy_backend:  # a TensorRT bundle carries the ONNX its engine is built from on the device
        assert (tmp_path / files[0]).suffix == fmt.suffix
    backend = None
    for runner in (fmt.backend, fmt.proxy_backend):
        try:
            backend = runner and create_backend(runner, tmp_path / files[0], META)
        except MissingExtraError:
            continue
        if backend:
            break
    if not backend:
        pytest.skip(f"no runtime for {name} installed here")
    x = prepare_batch(_images(backend.batch_size or 4, 2), META)
    with torch.no_grad():
        want = [t.numpy() for t in model(torch.from_numpy(x))]
    got = backend.infer(x)
    assert [g.shape for g in got] == [w.shape for w in want]
    for g, w in zip(got, want):
        assert np.abs(g - w).max() <= TOLERANCE[backend.precision] * max(np.abs(w).max(), 1e-3)


# device profile -> the (format, precision) 'edgeaffect export --target NAME' picks without --format/--precision
PROFILE_DEFAULTS = {
    "jetson-nano": ("tensorrt", "fp16"),
    "jetson-orin-nano": ("tensorrt", "int8"),
    "laptop-intel-gpu": ("openvino", "fp16"),
    "laptop-x86": ("openvino", "fp32"),
    "rpi4": ("tflite", "int8"),
    "rpi5": ("tflite", "int8"),
}


def test_every_device_profile_is_tested():
    assert {p.name for p in list_profiles()} == set(PROFILE_DEFAULTS)


@pytest.mark.parametrize("name", sorted(PROFILE_DEFAULTS))
def test_profile_agrees_with_the_registries(name):
    from edgeaffect.compress.export import resolve

    profile = get_profile(name)
    fmt, precisions = resolve(profile, None, None)
    assert (fmt.name, precisions[0]) == PROFILE_DEFAULTS[name]
    for fmt_name in profile.formats:  # every listed format is in the table and runs one of the profile's precisions
        assert resolve(profile, fmt_name, None)[1]
    assert profile.detector in DETECTORS
    runners = {b for f in profile.formats for b in (FORMATS[f].backend, FORMATS[f].proxy_backend) if b}
    assert set(profile.backend_options) <= runners
