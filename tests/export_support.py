"""Shared pieces of the OpenVINO and TFLite export tests: a tiny two-head model with non-trivial
BatchNorm statistics, its ModelMeta, and real FER+ faces (or smooth synthetic images) as samples."""
from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
import torch

from edgeaffect.calibration.sources import from_arrays
from edgeaffect.meta import ModelMeta
from edgeaffect.preprocess import prepare_batch

META = ModelMeta(model="tiny_mtl", task="multitask", input_size=(48, 48), color="gray", mean=(0.5,), std=(0.25,),
                 labels=tuple("ABCDEFG"),
                 heads=({"name": "expression", "kind": "logits", "size": 7},
                        {"name": "va", "kind": "regression", "size": 2, "value_range": (-1, 1)}))


class TinyMTL(torch.nn.Module):
    """Residual CNN with an attention product and two heads (logits, tanh regression)."""

    def __init__(self) -> None:
        super().__init__()
        nn = torch.nn
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.PReLU(16))
        self.body = nn.Sequential(nn.Conv2d(16, 16, 3, 1, 1, groups=16), nn.BatchNorm2d(16), nn.ReLU(), nn.Conv2d(16, 16, 1))
        self.att = nn.Conv2d(16, 16, 1)
        self.down = nn.Conv2d(16, 32, 3, 2, 1)
        self.fc = nn.Linear(32, 7)
        self.va = nn.Linear(32, 2)

    def forward(self, x):
        y = self.stem(x)
        y = y + self.body(y)
        y = y * torch.sigmoid(self.att(y))
        y = torch.relu(self.down(y)).mean((2, 3))
        return self.fc(y), torch.tanh(self.va(y))


def realish_images(n: int, seed: int = 0) -> list[np.ndarray]:
    """Real FER+ faces when EDGEAFFECT_DATA holds them, else smooth synthetic gray images."""
    root = os.environ.get("EDGEAFFECT_DATA")
    folder = os.path.join(root, "ferplus", "FER2013Valid") if root else ""
    if folder and os.path.isdir(folder):
        files = sorted(f for f in os.listdir(folder) if f.endswith(".png"))
        picks = np.random.default_rng(seed).choice(len(files), size=n, replace=False)
        return [cv2.imread(os.path.join(folder, files[i]), cv2.IMREAD_GRAYSCALE) for i in picks]
    rng = np.random.default_rng(seed)
    return [cv2.GaussianBlur(rng.integers(0, 255, (48, 48), dtype=np.uint8), (9, 9), 3) for _ in range(n)]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = TinyMTL().eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics, as after training
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.2, 0.2)
                mod.running_var.uniform_(0.5, 2.0)
    return m


@pytest.fixture(scope="module")
def samples():
    return prepare_batch(realish_images(24, seed=1), META)


@pytest.fixture(scope="module")
def calibration():
    return from_arrays(realish_images(32, seed=2), META)


def torch_out(model, x):
    with torch.no_grad():
        return [t.numpy() for t in model(torch.from_numpy(x))]


def export_each_precision(export, root, model, calibration, files: list[str]) -> dict:
    """Export ``model`` with one exporter at fp32, fp16 and int8 under ``root``; {precision: the file a backend opens}."""
    from edgeaffect.formats import ExportOptions

    out = {}
    for precision in ("fp32", "fp16", "int8"):
        written = export(model, META, root / precision, precision=precision, calibration=calibration,
                         options=ExportOptions())
        assert written == files and all((root / precision / f).is_file() for f in written)
        out[precision] = root / precision / written[0]
    return out
