"""The ``ensemble`` model: the mean of several classifiers' logits in one graph, built from run folders by
``edgeaffect tune RUN RUN ...``, carried through a checkpoint and an ONNX bundle unchanged."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgeaffect.cli import main  # noqa: E402
from edgeaffect.errors import ModelError  # noqa: E402
from edgeaffect.meta import ModelMeta  # noqa: E402
from edgeaffect.train.registry import create_model  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from test_readme import tiny_ferplus  # noqa: E402

PRIOR = (0.34, 0.29, 0.12, 0.13, 0.08, 0.0065, 0.026, 0.0075)
SLIM = {"in_chans": 1, "channels": [8, 8, 16, 16], "input_size": 32}


def _checkpoint(seed: int, **extra) -> dict:
    torch.manual_seed(seed)
    model = create_model("resnet18", **SLIM, **extra).eval()
    return {"model_name": "resnet18", "build_kwargs": dict(model.build_kwargs), "meta": model.meta.to_dict(),
            "model": model.state_dict(), "config": {}, "state": {}}


def test_an_ensemble_is_the_mean_of_its_members_raw_logits_then_its_own_correction():
    from edgeaffect.train.checkpoint import model_from_checkpoint, raw_model_from_checkpoint
    from edgeaffect.train.models.ensemble import ensemble_checkpoint

    # the second member was tuned: its own correction is left out, the ensemble carries one of its own
    a, b = _checkpoint(0), _checkpoint(1, adjust={"tau": 0.5, "prior": PRIOR, "hflip": False})
    ckpt = ensemble_checkpoint([a, b])
    x = torch.randn(4, 1, 32, 32)
    with torch.no_grad():
        want = (raw_model_from_checkpoint(a).eval()(x)[0] + raw_model_from_checkpoint(b).eval()(x)[0]) / 2
        got = model_from_checkpoint(ckpt).eval()(x)[0]
        assert torch.allclose(got, want, atol=1e-5)
        adjusted = {**ckpt, "build_kwargs": {**ckpt["build_kwargs"], "adjust": {"tau": 1.0, "prior": PRIOR}}}
        shifted = model_from_checkpoint(adjusted).eval()(x)[0]
        assert torch.allclose(shifted, want + torch.tensor(PRIOR).log(), atol=1e-5)
    meta = ModelMeta.from_dict(ckpt["meta"])
    assert meta.model == "ensemble" and meta.adjust is None and meta.info["members"] == ["resnet18", "resnet18"]


def test_members_that_read_other_faces_or_are_alone_are_refused():
    from edgeaffect.train.models.ensemble import ensemble_checkpoint

    wider = _checkpoint(2)
    torch.manual_seed(3)
    other = create_model("resnet18", **{**SLIM, "input_size": 48})
    odd = {**wider, "build_kwargs": dict(other.build_kwargs), "meta": other.meta.to_dict(), "model": other.state_dict()}
    with pytest.raises(ModelError, match="member 2 reads"):
        ensemble_checkpoint([wider, odd])
    with pytest.raises(ModelError, match="at least two"):
        ensemble_checkpoint([wider])
    with pytest.raises(ModelError, match="is an ensemble"):
        ensemble_checkpoint([ensemble_checkpoint([wider, _checkpoint(4)]), wider])


def test_an_ensemble_exports_to_one_onnx_graph_that_onnx_runtime_runs_as_torch_does(tmp_path):
    from edgeaffect.compress.export import export_model
    from edgeaffect.calibration.sources import from_arrays
    from edgeaffect.preprocess import prepare_batch
    from edgeaffect.runtime.backends import create_backend
    from edgeaffect.train.checkpoint import model_from_checkpoint
    from edgeaffect.train.models.ensemble import ensemble_checkpoint
    from export_support import realish_images

    ckpt = ensemble_checkpoint([_checkpoint(5), _checkpoint(6)])
    model = model_from_checkpoint(ckpt).eval()
    out = export_model(model, model.meta, target="laptop-x86", format="onnx", precision="fp32", out=tmp_path / "b",
                       verify_data=from_arrays(realish_images(16, seed=3), model.meta))
    x = prepare_batch(realish_images(4, seed=4), model.meta)
    got = create_backend("onnxruntime", out / "model.onnx", model.meta).infer(x)[0]
    with torch.no_grad():
        assert np.allclose(got, model(torch.from_numpy(x))[0].numpy(), atol=1e-4)


@pytest.mark.slow
def test_tune_with_two_runs_writes_an_ensemble_run_that_eval_reads(tmp_path, capsys):
    data = tiny_ferplus(tmp_path / "ferplus")
    runs = []
    for seed in (0, 1):
        runs.append(tmp_path / f"run{seed}")
        assert main(["train", "ferplus-default", f"data={data}", "epochs=1", f"out={runs[-1]}", "batch=8",
                     f"runtime.seed={seed}", "model.input_size=32", "model.options.channels=[8,8,16,16]",
                     "progress=false", "runtime.precision=fp32"]) == 0
    tuned = tmp_path / "ens"
    code = main(["tune", *map(str, runs), "--out", str(tuned), "--taus", "0,0.5", "--no-framing"])
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err
    meta = ModelMeta.from_dict(json.loads((tuned / "meta.json").read_text()))
    assert meta.model == "ensemble" and meta.adjust is not None and meta.adjust.tau in (0.0, 0.5)
    assert main(["eval", str(tuned), "--data", str(data), "--split", "valid"]) == 0
    assert "accuracy" in capsys.readouterr().out
    # a run that is not a classifier's, or is missing, is a clear error, not a traceback
    assert main(["tune", str(runs[0]), str(tmp_path / "nosuch"), "--out", str(tmp_path / "e2"), "--no-framing"]) == 2


def test_an_ensemble_run_teaches_its_mean_logits(tmp_path):
    from edgeaffect.train.checkpoint import raw_model_from_checkpoint
    from edgeaffect.train.distill import Teacher
    from edgeaffect.train.models.ensemble import ensemble_checkpoint

    a, b = _checkpoint(7), _checkpoint(8)
    torch.save(ensemble_checkpoint([a, b]), tmp_path / "ens.pt")
    student = create_model("resnet18", **SLIM).meta
    teacher = Teacher(tmp_path / "ens.pt", student, device=torch.device("cpu"))
    x = torch.randn(3, 1, 32, 32)
    with torch.no_grad():
        want = (raw_model_from_checkpoint(a).eval()(x)[0] + raw_model_from_checkpoint(b).eval()(x)[0]) / 2
    assert torch.allclose(teacher(x), want, atol=1e-5)


def test_a_family_without_a_prior_correction_is_rebuilt_as_it_is():
    from edgeaffect.train.checkpoint import raw_model_from_checkpoint

    model = create_model("ddamfn", num_heads=1)  # DDAMFN carries no correction: it can still teach or be fine-tuned
    ckpt = {"model_name": "ddamfn", "build_kwargs": dict(model.build_kwargs), "meta": model.meta.to_dict(),
            "model": model.state_dict(), "state": {}}
    raw = raw_model_from_checkpoint(ckpt)
    assert raw.model_name == "ddamfn" and raw.meta.adjust is None
