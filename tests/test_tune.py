"""The balanced default's parts: logit-adjusted loss, the in-graph prior correction and mirror averaging,
``edgeaffect tune`` end to end on a FER+-layout folder, and the export gate on accuracy and UAR."""
from __future__ import annotations

import json
import logging
import math
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgeaffect.cli import main  # noqa: E402
from edgeaffect.meta import LogitAdjust, ModelMeta  # noqa: E402
from edgeaffect.train.registry import create_model  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from test_readme import tiny_ferplus  # noqa: E402

PRIOR = (0.34, 0.29, 0.12, 0.13, 0.08, 0.0065, 0.026, 0.0075)
SLIM = {"in_chans": 1, "channels": [8, 8, 16, 16], "input_size": 32}


def test_logit_adjusted_loss_is_cross_entropy_of_the_shifted_logits():
    from edgeaffect.train.config import LossConfig
    from edgeaffect.train.losses import MultiTaskLoss

    meta = create_model("resnet18", **SLIM).meta
    z, target = torch.randn(6, 8), torch.softmax(torch.randn(6, 8), 1)
    prior = torch.tensor(PRIOR)
    adjusted = MultiTaskLoss(meta, LossConfig(soft_targets=True, logit_adjust=1.0), prior=prior)
    plain = MultiTaskLoss(meta, LossConfig(soft_targets=True))
    got, _ = adjusted((z,), {"target": target})
    want, _ = plain((z + prior.log(),), {"target": target})
    assert float(got) == pytest.approx(float(want), rel=1e-6)
    assert float(got) != pytest.approx(float(plain((z,), {"target": target})[0]), rel=1e-3)
    # the same logits lose more where the prior is small: training pushes rare-class logits up
    grad_z = z.clone().requires_grad_(True)
    adjusted((grad_z,), {"target": torch.full((6, 8), 1 / 8)})[0].backward()
    assert grad_z.grad[:, 5].mean() < grad_z.grad[:, 0].mean()


def test_class_prior_is_the_mean_vote_share():
    from types import SimpleNamespace

    from edgeaffect.train.builders import class_prior

    recs = [SimpleNamespace(label=0, target=np.array([8, 2, 0], np.float32)),
            SimpleNamespace(label=1, target=np.array([0, 5, 5], np.float32))]
    assert np.allclose(class_prior(recs, 3), [0.4, 0.35, 0.25])
    assert np.allclose(class_prior([SimpleNamespace(label=2, target=None)] * 3, 3), [0, 0, 1])


def test_adjust_lives_in_the_graph_and_keeps_the_weights():
    torch.manual_seed(0)
    plain = create_model("resnet18", **SLIM).eval()
    adjust = {"tau": -0.5, "prior": PRIOR, "hflip": True}
    tuned = create_model("resnet18", **SLIM, adjust=adjust).eval()
    assert set(tuned.state_dict()) == set(plain.state_dict())  # a plain run's weights load unchanged
    tuned.load_state_dict(plain.state_dict())
    x = torch.randn(3, 1, 32, 32)
    with torch.no_grad():
        want = (plain(x)[0] + plain(torch.flip(x, dims=[3]))[0]) / 2 - 0.5 * torch.tensor(PRIOR).log()
        assert torch.allclose(tuned(x)[0], want, atol=1e-5)
    assert tuned.meta.adjust == LogitAdjust(**adjust)
    assert ModelMeta.from_dict(json.loads(tuned.meta.to_json())).adjust == tuned.meta.adjust
    with pytest.raises(ValueError):
        LogitAdjust(tau=-0.5, prior=(0.5, 0.0))


def test_centre_zoom_is_averaged_in_the_graph():
    """zoom 0.75 on a 32 px input: the centre 24 px (from pixel 4), enlarged back to 32, and its mirror, averaged
    with the face and its mirror: four views, one call of the network."""
    import torch.nn.functional as F

    torch.manual_seed(0)
    plain = create_model("resnet18", **SLIM).eval()
    adjust = {"tau": -0.5, "prior": PRIOR, "hflip": True, "zoom": 0.75}
    tuned = create_model("resnet18", **SLIM, adjust=adjust).eval()
    tuned.load_state_dict(plain.state_dict())
    x = torch.randn(3, 1, 32, 32)
    centre = F.interpolate(x[..., 4:28, 4:28], size=(32, 32), mode="bilinear", align_corners=False)
    views = [x, centre, torch.flip(x, dims=[3]), torch.flip(centre, dims=[3])]
    with torch.no_grad():
        want = sum(plain(v)[0] for v in views) / 4 - 0.5 * torch.tensor(PRIOR).log()
        assert torch.allclose(tuned(x)[0], want, atol=1e-5)
    assert ModelMeta.from_dict(json.loads(tuned.meta.to_json())).adjust.zoom == 0.75
    assert LogitAdjust().zoom == 1.0  # a model tuned before zoom existed reads as the input alone
    with pytest.raises(ValueError, match="zoom"):
        LogitAdjust(zoom=0.4)


def test_the_export_gate_refuses_a_uar_drop_and_ignores_thin_classes():
    from edgeaffect.compress.verify import DEFAULT_THRESHOLDS, HeadResult, _metric_failures

    def head(acc, uar):
        return HeadResult("emotion", "logits", 0.1, 0.01, 0.98,
                          metrics={"accuracy": {"float": 0.85, "export": acc, "delta": acc - 0.85},
                                   "uar": {"float": 0.72, "export": uar, "delta": uar - 0.72}})

    many = np.repeat(np.arange(8), 20)
    int8, fp32 = DEFAULT_THRESHOLDS["int8"], DEFAULT_THRESHOLDS["fp32"]
    assert _metric_failures("emotion", head(0.845, 0.71), many, int8) == []
    failed = _metric_failures("emotion", head(0.845, 0.69), many, int8)
    assert len(failed) == 1 and "uar 0.6900 vs float 0.7200" in failed[0]
    assert len(_metric_failures("emotion", head(0.84, 0.71), many, fp32)) == 2
    thin = np.concatenate([np.repeat(np.arange(7), 20), [7, 7]])  # two faces of class 7
    assert _metric_failures("emotion", head(0.85, 0.5), thin, int8) == []  # 2 faces of a class: not gated


@pytest.mark.slow
def test_tune_writes_a_run_whose_graph_and_meta_carry_the_choices(tmp_path, capsys):
    data = tiny_ferplus(tmp_path / "ferplus")
    run = tmp_path / "run"
    assert main(["train", "ferplus-default", f"data={data}", "epochs=1", f"out={run}", "batch=8",
                 "model.input_size=32", "model.options.channels=[8,8,16,16]", "progress=false",
                 "runtime.precision=fp32"]) == 0
    tuned = tmp_path / "tuned"
    code = main(["tune", str(run), "--out", str(tuned), "--taus", "-0.5,0", "--framing-faces", "10",
                 "--scales", "0.9,1.0", "--shifts", "0", "--zooms", "1,0.8"])
    captured = capsys.readouterr()
    printed = captured.out
    assert code == 0, captured.out + captured.err
    assert "framing" in printed and "*" in printed
    meta = ModelMeta.from_dict(json.loads((tuned / "meta.json").read_text()))
    assert meta.adjust is not None and meta.adjust.tau in (-0.5, 0.0) and len(meta.adjust.prior) == 8
    assert meta.framing is not None and meta.framing.scale in (0.9, 1.0)
    result = json.loads((tuned / "tune.json").read_text())  # strict JSON
    assert len(result["adjust_rows"]) == 8 and result["split"] == "valid"  # 2 taus x mirror on/off x 2 zooms
    assert meta.adjust.zoom in (1.0, 0.8) and {r["zoom"] for r in result["adjust_rows"]} == {1.0, 0.8}
    from edgeaffect.train.checkpoint import load_model

    model, loaded = load_model(tuned)
    assert loaded.adjust == meta.adjust and loaded.framing == meta.framing
    assert (model.net is not None) and (model.hflip == meta.adjust.hflip)
    assert math.isclose(float(model.logit_bias[5]) if model.logit_bias is not None else 0.0,
                        meta.adjust.tau * math.log(meta.adjust.prior[5]), abs_tol=1e-5)
    # a fine-tune of the tuned run starts from the network without the correction: tune chooses again after it
    assert main(["train", "ferplus-default", f"data={data}", "epochs=1", f"out={tmp_path / 'ft'}", "batch=8",
                 f"model.init={tuned}", "progress=false", "runtime.precision=fp32"]) == 0
    ft = ModelMeta.from_dict(json.loads((tmp_path / "ft" / "meta.json").read_text()))
    assert ft.adjust is None
    finetuned, _ = load_model(tmp_path / "ft")
    assert finetuned.logit_bias is None and not finetuned.hflip
    # the choice is refused on test data's name only in spirit; a wrong split name is a clear error
    assert main(["tune", str(run), "--out", str(tmp_path / "t2"), "--split", "nosuch", "--no-framing"]) == 2
    assert main(["tune", str(run), "--out", str(tmp_path / "t3"), "--zooms", "1,0.3", "--no-framing"]) == 2


def test_the_prior_correction_travels_into_an_onnx_bundle(tmp_path):
    """Exported, the bundle's own backend returns the adjusted, mirror- and zoom-averaged logits torch returns."""
    from edgeaffect.bundle import load_bundle
    from edgeaffect.calibration.sources import from_arrays
    from edgeaffect.compress.export import export_model
    from edgeaffect.preprocess import prepare_batch
    from edgeaffect.runtime.backends import create_backend
    from export_support import realish_images

    torch.manual_seed(1)
    model = create_model("resnet18", **SLIM, adjust={"tau": -1.0, "prior": PRIOR, "hflip": True, "zoom": 0.8}).eval()
    meta = model.meta
    out = export_model(model, meta, target="laptop-x86", format="onnx", precision="fp32", out=tmp_path / "b",
                       verify_data=from_arrays(realish_images(16, seed=3), meta))
    bundle = load_bundle(out)
    assert bundle.meta.adjust == meta.adjust
    x = prepare_batch(realish_images(4, seed=4), meta)
    got = create_backend("onnxruntime", out / "model.onnx", bundle.meta).infer(x)[0]
    with torch.no_grad():
        want = model(torch.from_numpy(x))[0].numpy()
    assert np.allclose(got, want, atol=1e-4)


def test_scoring_or_tuning_on_a_split_the_run_trained_on_warns(tmp_path, caplog, capsys, monkeypatch):
    data = tiny_ferplus(tmp_path / "ferplus")
    monkeypatch.setenv("EDGEAFFECT_TINY", str(tmp_path))
    run = tmp_path / "run"  # the recipe names its data through a variable, as the shipped default's does
    assert main(["train", "ferplus-default", "data=$EDGEAFFECT_TINY/ferplus", "data.train_split=train+valid",
                 "data.test_split=", "epochs=1", f"out={run}", "batch=8", "model.input_size=32",
                 "model.options.channels=[8,8,16,16]", "progress=false", "runtime.precision=fp32"]) == 0
    assert "test: not scored (data.test_split is empty" in capsys.readouterr().out  # test left unread
    assert not json.loads((run / "metrics.json").read_text()).get("test")

    def warned(*args: str) -> str:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="edgeaffect"):
            assert main(list(args)) == 0
        return caplog.text

    assert "trained on 'valid' (data.train_split=train+valid): these are training figures" in warned(
        "eval", str(run), "--split", "valid")
    assert "trained on 'valid'" in warned("eval", str(run), "--data", str(data), "--split", "valid+test")
    assert "trained on" not in warned("eval", str(run), "--split", "test")
    other = tiny_ferplus(tmp_path / "other")  # another data set: its valid split is held out
    assert "trained on" not in warned("eval", str(run), "--data", str(other), "--split", "valid")
    assert "choices measured there fit training data" in warned("tune", str(run), "--out", str(tmp_path / "t"),
                                                               "--no-framing", "--taus", "0")


def test_a_bad_number_list_shows_an_example_of_its_own_option():
    from edgeaffect.errors import ConfigError
    from edgeaffect.train.tune_cli import _floats

    assert _floats("1, 0.8", "--zooms") == (1.0, 0.8)
    for name, example in (("--zooms", "1,0.9,0.8"), ("--taus", "-0.5,-0.25,0"), ("--scales", "0.9,1,1.1")):
        with pytest.raises(ConfigError) as err:
            _floats("abc", name)
        assert example in err.value.fix
