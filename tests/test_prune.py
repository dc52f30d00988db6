"""Structured pruning: fewer parameters and MACs, unchanged head shapes, still runs and exports to ONNX,
and a pruned run folder loads back from its weights-only checkpoint."""
from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_pruning")

from edgeaffect.compress.prune import output_layers, prune_model  # noqa: E402
from edgeaffect.compress.prune_run import prune_run  # noqa: E402
from edgeaffect.errors import ConfigError  # noqa: E402
from edgeaffect.formats import ExportOptions  # noqa: E402
from edgeaffect.meta import ModelMeta  # noqa: E402
from edgeaffect.runtime.backends import create_backend  # noqa: E402
from edgeaffect.train.checkpoint import fit_to_state_dict  # noqa: E402

META = ModelMeta(model="tiny_mtl", task="multitask", input_size=(32, 32), color="rgb", labels=tuple("ABCDEFG"),
                 heads=({"name": "expression", "kind": "logits", "size": 7},
                        {"name": "va", "kind": "regression", "size": 2, "value_range": (-1, 1)}))


class Block(torch.nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        nn = torch.nn
        self.pw = nn.Sequential(nn.Conv2d(c, 2 * c, 1, bias=False), nn.BatchNorm2d(2 * c), nn.PReLU(2 * c))
        self.dw = nn.Sequential(nn.Conv2d(2 * c, 2 * c, 3, 1, 1, groups=2 * c, bias=False), nn.BatchNorm2d(2 * c))
        self.project = nn.Conv2d(2 * c, c, 1)
        self.att = nn.Conv2d(c, c, 1)

    def forward(self, x):
        y = self.project(self.dw(self.pw(x)))
        return x + y * torch.sigmoid(self.att(y))  # residual add + attention product couple the channels


class TinyMTL(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 32, 3, 2, 1)
        self.blocks = torch.nn.Sequential(Block(32), Block(32))
        self.fc = torch.nn.Linear(32, 7)
        self.va = torch.nn.Linear(32, 2)
        self.meta = META

    def forward(self, x):
        y = self.blocks(torch.relu(self.stem(x))).mean((2, 3))
        return self.fc(y), torch.tanh(self.va(y))


@pytest.fixture()
def model():
    torch.manual_seed(0)
    return TinyMTL().eval()


EXAMPLE = (torch.zeros(META.input_shape(1)),)


def test_output_layers_are_the_heads(model):
    assert output_layers(model, EXAMPLE) == ["fc", "va"]


def test_prune_30_percent_reduces_params_and_macs_and_keeps_heads(model, tmp_path):
    result = prune_model(model, EXAMPLE, ratio=0.3)
    assert result.params_after < 0.75 * result.params_before
    assert result.macs_after < 0.75 * result.macs_before
    assert set(result.ignored) >= {"fc", "va"}
    assert sum(p.numel() for p in model.parameters()) == result.params_before  # the original is untouched
    pruned = result.model
    assert pruned.stem.out_channels < 32 and pruned.fc.out_features == 7 and pruned.va.out_features == 2
    assert pruned.meta.info["pruned"]["params"] == result.params_after
    x = torch.randn(3, *META.input_shape(1)[1:])
    with torch.no_grad():
        out = pruned(x)
    assert [tuple(o.shape) for o in out] == [(3, 7), (3, 2)]

    from edgeaffect.compress.onnx_export import export

    files = export(pruned, META, tmp_path, precision="fp32", calibration=None, options=ExportOptions())
    backend = create_backend("onnxruntime", tmp_path / files[0], META)
    for got, ref in zip(backend.infer(x.numpy()), out):
        np.testing.assert_allclose(got, ref.numpy(), atol=1e-4)


def test_mac_target_is_reached_iteratively(model):
    result = prune_model(model, EXAMPLE, mac_target=0.5)
    assert result.macs_after <= 0.5 * result.macs_before
    assert 0 < result.ratio < 0.9


def test_bad_arguments_are_config_errors(model):
    with pytest.raises(ConfigError):
        prune_model(model, EXAMPLE, ratio=1.5)
    with pytest.raises(ConfigError):
        prune_model(model, EXAMPLE, ratio=0.3, mac_target=0.5)
    with pytest.raises(ConfigError, match="not in the model"):
        prune_model(model, EXAMPLE, ratio=0.3, ignored=["nope"])
    with pytest.raises(ConfigError, match="Taylor"):
        prune_model(model, EXAMPLE, ratio=0.3, importance="taylor")


def test_named_layers_keep_their_channels(model):
    result = prune_model(model, EXAMPLE, ratio=0.3, ignored=["blocks.0.att"])
    assert result.model.blocks[0].att.out_channels == 32  # and, coupled with it, the residual channels


def test_pruned_shapes_rebuild_from_the_state_dict(model):
    pruned = prune_model(model, EXAMPLE, ratio=0.3).model
    fresh = TinyMTL().eval()
    fit_to_state_dict(fresh, pruned.state_dict())
    fresh.load_state_dict(pruned.state_dict(), strict=True)
    x = torch.randn(2, *META.input_shape(1)[1:])
    with torch.no_grad():
        for a, b in zip(fresh(x), pruned(x)):
            assert torch.equal(a, b)
    assert str(fresh) == str(pruned)  # layer attributes (channels, groups) follow the tensors


@pytest.mark.slow
def test_prune_ddamfn_respects_attention_heads_and_mixconv():
    registry = pytest.importorskip("edgeaffect.train.registry")
    torch.manual_seed(0)
    model = registry.create_model("ddamfn", num_classes=8).eval()
    result = prune_model(model, (torch.zeros(1, 3, 112, 112),), ratio=0.3)
    assert result.params_after < 0.8 * result.params_before and result.macs_after < 0.8 * result.macs_before
    pruned = result.model
    assert pruned.fc.out_features == 8
    # the attention maps still match the features they multiply
    assert pruned.heads[0].ca.attn_h.out_channels == pruned.gdconv[0].in_channels == pruned.fc.in_features
    with torch.no_grad():
        assert pruned(torch.randn(2, 3, 112, 112))[0].shape == (2, 8)


@pytest.fixture()
def tiny_registered(monkeypatch):
    """TinyMTL as a registered model (removed again after the test), so runs rebuild it by name."""
    registry = pytest.importorskip("edgeaffect.train.registry")
    registry.list_models()  # load the real families first
    info = registry.ModelInfo("test_tiny_mtl", "test", META.task, "test model", (3, 32, 32))
    monkeypatch.setitem(registry._REGISTRY, "test_tiny_mtl", registry._Entry(info, lambda: TinyMTL()))
    return registry


def test_prune_run_writes_a_loadable_run_with_a_measured_report(tmp_path, tiny_registered):
    from edgeaffect.train.checkpoint import load_model, save_checkpoint

    torch.manual_seed(0)
    model = tiny_registered.create_model("test_tiny_mtl").eval()
    run = tmp_path / "run"
    save_checkpoint(run / "best.pt", model=model, epoch=3, best=0.5, config={})
    out = prune_run(run, ratio=0.3, latency_runs=3)
    assert out == tmp_path / "run-pruned30"
    report = json.loads((out / "prune_report.json").read_text())
    assert report["params_after"] < report["params_before"] and report["macs_after"] < report["macs_before"]
    for side in ("before", "after"):
        assert set(report["latency_ms"][side]) == {"torch_eager", "onnx"}
        assert all(v > 0 for v in report["latency_ms"][side].values())
    loaded, meta = load_model(out)
    assert sum(p.numel() for p in loaded.parameters()) == report["params_after"]
    assert meta.info["pruned"]["params"] == report["params_after"]
    assert ModelMeta.load(out / "meta.json") == meta
