"""Derivative signal heads: ModelMeta records what a signal head was trained on, training
differences the level for a derivative head, and every consumer (training's scorer, the
runtime's per-track trace) integrates the output back to a level."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from edgeaffect.errors import BundleError, ModelError
from edgeaffect.meta import Head, ModelMeta, SignalTarget, Temporal
from edgeaffect.signal_level import levels, newest_levels
from edgeaffect.train.losses import derivative_target

FPS = 4.0


def _meta(target: str, frames: int = 8) -> ModelMeta:
    return ModelMeta(model="d", task="signal", input_size=(8, 8), color="rgb",
                     heads=(Head("eda", "signal", frames, target=target),), temporal=Temporal(frames, FPS))


def test_meta_records_the_target_and_metas_written_before_it_load_as_level():
    meta = _meta("derivative")
    assert ModelMeta.from_json(meta.to_json()).heads[0].target is SignalTarget.DERIVATIVE
    old = meta.to_dict()
    del old["heads"][0]["target"]  # a meta.json written before heads carried a target
    assert ModelMeta.from_dict(old).heads[0].target is SignalTarget.LEVEL
    old["heads"][0]["target"] = "slope"
    with pytest.raises(BundleError, match="slope"):
        ModelMeta.from_json(json.dumps(old))


def test_deepphys_declares_a_derivative_head_and_a_level_one_on_request():
    from edgeaffect.train.registry import create_model

    assert create_model("deepphys", input_size=36, frames=4).meta.heads[0].target is SignalTarget.DERIVATIVE
    assert create_model("deepphys", input_size=36, frames=4, target="level").meta.heads[0].target is SignalTarget.LEVEL
    assert create_model("physnet", input_size=32, frames=8).meta.heads[0].target is SignalTarget.LEVEL
    with pytest.raises(ModelError, match="slope"):
        create_model("deepphys", input_size=36, frames=4, target="slope")


def test_the_integrated_training_target_is_the_level_up_to_a_constant():
    level = torch.randn(3, 10, dtype=torch.float64).cumsum(1)
    steps = derivative_target(level, FPS)
    assert torch.all(steps[:, -1] == 0)  # the change after the clip is not in it
    back = levels(SignalTarget.DERIVATIVE, steps.numpy(), FPS)
    assert np.allclose(back, (level - level[:, :1]).numpy())
    # windows laid end to end: one trace, each window's unseen first step taken as 0
    trace = levels(SignalTarget.DERIVATIVE, steps.numpy(), FPS, continuous=True).ravel()
    lost = np.repeat(np.cumsum((level[:, 0] - torch.cat([level[:1, 0], level[:-1, -1]])).numpy()), 10)
    assert np.allclose(trace, level.numpy().ravel() - level.numpy()[0, 0] - lost)
    assert np.array_equal(levels(SignalTarget.LEVEL, level.numpy(), FPS), level.numpy())
    # a window without output (a lost face) stays without a level and adds no change
    gap = steps.numpy().copy()
    gap[1] = np.nan
    with_gap = levels(SignalTarget.DERIVATIVE, gap, FPS, continuous=True)
    assert np.isnan(with_gap[1]).all() and np.allclose(with_gap[2] - with_gap[0, -1], back[2])


def test_a_derivative_head_is_trained_on_the_change_of_the_level():
    from edgeaffect.train.config import LossConfig
    from edgeaffect.train.losses import MultiTaskLoss

    level = torch.randn(4, 8).cumsum(1)
    batch = {"signal": level}
    change = MultiTaskLoss(_meta("derivative"), LossConfig(mse=1.0))
    assert change((derivative_target(level, FPS),), batch)[0] < 1e-6 < change((level,), batch)[0]
    same = MultiTaskLoss(_meta("level"), LossConfig(mse=1.0))
    assert same((level,), batch)[0] < 1e-6 < same((derivative_target(level, FPS),), batch)[0]


def test_scoring_compares_the_integrated_level_of_a_derivative_head():
    from edgeaffect.train.scoring import score

    t = np.arange(48) / FPS
    truth = np.sin(2 * np.pi * t / 12.0).reshape(6, 8)  # one 12 s cycle over 6 windows of 8 frames
    out = derivative_target(torch.from_numpy(truth), FPS).numpy()
    order = np.array([3, 0, 5, 1, 4, 2])  # the loader's order is not time order
    targets = {"signal": truth[order], "video": np.zeros(6), "start": (8.0 * np.arange(6))[order],
               "subject": np.zeros(6)}
    flat, _ = score(_meta("derivative"), {"eda": out[order]}, targets)
    assert flat["eda_pearson"] > 0.99 and flat["eda_trace_pearson"] > 0.95 and flat["eda_session_pearson"] > 0.95
    read_as_level, _ = score(_meta("level"), {"eda": out[order]}, targets)
    assert read_as_level["eda_trace_pearson"] < 0.5  # the change itself is not the level


@pytest.mark.parametrize("target", ["level", "derivative"])
def test_runtime_trace_of_a_real_bundle_is_the_level(tmp_path, target):
    """A real ONNX bundle whose output is each frame's mean pixel value; clips of 8 every 4 frames."""
    from runtime_support import make_bundle

    from edgeaffect.runtime.inference import Predictor
    from edgeaffect.runtime.loader import open_model
    from edgeaffect.runtime.stats import RunStats

    fps = 5.0
    loaded = open_model(make_bundle(tmp_path / "b", kind="signal", frames=8, fps=fps, stride=4, target=target))
    pred = Predictor(loaded.backend, loaded.bundle.meta, RunStats())
    values = (100 + 60 * np.sin(np.arange(24) / 3.0)).round()
    for i, v in enumerate(values):
        pred.predict([0], [np.full((48, 48, 3), v, np.uint8)], i / fps)
    times, trace = np.array(pred.trace(0)).T
    seen = values[:len(trace)] / 255.0
    assert len(trace) == 24 and np.allclose(times, np.arange(24) / fps)
    # overlapping clips: the change into each new frame is in the clip, so the level is exact
    expected = seen if target == "level" else np.concatenate([[0.0], np.cumsum(seen[:-1]) / fps])
    assert np.allclose(trace, expected, atol=2e-4)  # float32 means; one grey level is 4e-3


def test_newest_levels_continue_a_trace():
    steps = np.array([1.0, 2.0, 3.0, 4.0])
    assert np.allclose(newest_levels(SignalTarget.DERIVATIVE, steps, 1.0, 4, None), [0, 1, 3, 6])
    assert np.allclose(newest_levels(SignalTarget.DERIVATIVE, steps, 2.0, 2, 10.0), [11, 12.5])
    assert np.allclose(newest_levels(SignalTarget.LEVEL, steps, 1.0, 2, 10.0), [3, 4])
    with pytest.raises(ValueError):
        newest_levels(SignalTarget.DERIVATIVE, steps, 1.0, 5, None)


def test_bench_scores_each_window_of_a_derivative_head_as_a_level():
    from edgeaffect.bench.accuracy import ResizeCase, score
    from edgeaffect.bench.samples import Samples

    truth = np.sin(np.arange(16) / 2.0).reshape(2, 8)
    out = derivative_target(torch.from_numpy(truth), FPS).numpy()
    samples = Samples(faces=((), ()), labels=None, valence=None, arousal=None, signal=truth, groups=None, skipped=0)
    case = ResizeCase(None, "linear", "linear")
    assert score("b", _meta("derivative"), samples, case, [out]).pearson > 0.99
    assert score("b", _meta("level"), samples, case, [out]).pearson < 0.5


def test_pulse_eval_integrates_a_derivative_model_along_the_recording():
    from edgeaffect.train.pulse_eval import _model_trace

    def model(clip):  # each frame's mean pixel value, as the real model's first output
        return (clip.mean(dim=(1, 3, 4)),)

    times = np.arange(20) / FPS
    values = np.arange(20) * 10.0
    crops = [np.full((8, 8, 3), v, np.uint8) for v in values]
    t, trace = _model_trace(model, _meta("derivative"), times, crops)
    assert np.allclose(t, times[:16])  # two clips of 8 end to end
    seen = (values[:16] / 255.0).reshape(2, 8)
    steps = np.concatenate([[0.0], seen[0, :-1], [0.0], seen[1, :-1]]) / FPS  # no clip saw the step between them
    assert np.allclose(trace, np.cumsum(steps), atol=1e-5)


def test_deepphys_synthetic_trains_a_derivative_head_end_to_end(tmp_path):
    """The real engine on a few tiny synthetic videos: the run, its checkpoint and its eval keep the target."""
    from edgeaffect.train.checkpoint import load_model
    from edgeaffect.train.engine import fit
    from edgeaffect.train.evaluate import EvalOptions, evaluate_checkpoint
    from edgeaffect.train.recipes import resolve_config

    run = tmp_path / "run"
    result = fit(resolve_config("deepphys-synthetic", [
        f"out={run}", "progress=false", f"data.cache={tmp_path / 'cache'}", "epochs=1",
        "data.synthetic_options.subjects=5", "data.synthetic_options.seconds=8.0"]))
    assert ModelMeta.load(run).heads[0].target is SignalTarget.DERIVATIVE
    assert load_model(run)[1].heads[0].target is SignalTarget.DERIVATIVE
    assert result.test["samples"] > 0 and np.isfinite(result.test["eda_trace_pearson"])
    report = evaluate_checkpoint(EvalOptions(checkpoint=str(run), progress=False))
    assert report.metrics["eda_trace_pearson"] == pytest.approx(result.test["eda_trace_pearson"], abs=1e-6)
