"""Learning tests: the shipped models learn the built-in synthetic data, and FER+ runs end to end.

Each trains a real model through the real engine on CPU (marked slow).  The
synthetic data is generated once into a module cache folder.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("train-cache")


def _fit(recipe: str, out: Path, *overrides: str):
    from edgeaffect.train.engine import fit
    from edgeaffect.train.recipes import resolve_config

    return fit(resolve_config(recipe, [f"out={out}", "progress=false", *overrides]))


def test_ddamfn_learns_synthetic_expressions_well_above_chance(cache, tmp_path):
    result = _fit("ddamfn-synthetic", tmp_path / "run", f"data.cache={cache}")
    chance = 1 / 8
    assert result.test["samples"] >= 40
    assert result.test["accuracy"] > 3 * chance, result.test


VIDEO_RECIPES = ["physnet-synthetic", "seqcnn-bvp-synthetic"]


@pytest.fixture(scope="module")
def video_cache(cache) -> Path:
    """The synthetic face videos of both video recipes, rendered once before either trains.

    Rendering is data preparation (both recipes render at the 4 FPS their reader samples),
    so pytest reports it as this fixture's setup and each test's time is its training and scoring.
    """
    from edgeaffect.train.recipes import data_path, resolve_config

    for recipe in VIDEO_RECIPES:
        data_path(resolve_config(recipe, [f"data.cache={cache}"]))
    return cache


@pytest.mark.parametrize("recipe", VIDEO_RECIPES)
def test_video_models_recover_the_eda_trace_of_held_out_videos(video_cache, tmp_path, recipe):
    result = _fit(recipe, tmp_path / "run", f"data.cache={video_cache}")
    assert result.test["samples"] > 0
    # The held-out subjects' sessions (rest, speech, arithmetic videos in order), windows stitched back.
    assert result.test["eda_session_pearson"] > 0.8, result.test


def _ferplus() -> Path:
    root = os.environ.get("EDGEAFFECT_DATA")
    if not root or not (Path(root) / "ferplus" / "FER2013Train").is_dir():
        pytest.skip("EDGEAFFECT_DATA/ferplus is not available")
    return Path(root) / "ferplus"


def test_ddamfn_ferplus_recipe_runs_on_real_data_and_eval_reports_it(tmp_path, capsys):
    from edgeaffect.cli import main

    data = _ferplus()
    run = tmp_path / "run"
    code = main(["train", "ddamfn-ferplus", f"data={data}", "epochs=1", "limit_train=32", "limit_valid=16",
                 "limit_test=16", "batch=16", f"out={run}", "progress=false"])
    assert code == 0
    for name in ("config.yaml", "meta.json", "metrics.csv", "metrics.json", "best.pt", "last.pt",
                 "learning_curve.png", "confusion.png", "model_card.md"):
        assert (run / name).is_file(), name
    test = json.loads((run / "metrics.json").read_text())["test"]
    assert test["samples"] == 16 and 0 <= test["accuracy"] <= 1
    capsys.readouterr()
    assert main(["eval", str(run), "--data", str(data), "--limit", "24", "--out", str(tmp_path / "ev")]) == 0
    out = capsys.readouterr().out
    assert "24 samples" in out and "accuracy" in out and "macro_f1" in out and "uar" in out
    report = json.loads((tmp_path / "ev" / "eval-test.json").read_text())
    assert report["samples"] == 24 and set(report["reports"]["emotion"]["per_class"]) >= {"neutral", "contempt"}
