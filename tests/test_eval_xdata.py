"""Cross-data-set evaluation: a model scored on any labelled set whose classes are a subset of its own.

Contracts of the one alias table and the class matching (torch-free), the two scorings, and real
round trips through the CLI: ``eval default`` on renamed class folders without neutral, on a folder
with a class the model lacks (exit 2, then ``--class-map``), on RAF-DB in its own layout, a bundle
scored by its runtime, and ``bench`` — on real FER+ faces when ``EDGEAFFECT_DATA`` has them, else
synthetic faces.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from edgeaffect import metrics
from edgeaffect.data import open_dataset
from edgeaffect.data.classes import (EXPRESSIONS_8, SKIP, canonical_class, match_classes, model_view,
                                     parse_class_map, remap_records)
from edgeaffect.errors import ConfigError, DataError
from xeval_support import SEVEN_FOLDERS, write_class_folders, write_rafdb


# --- the alias table and the matching -------------------------------------------------------
def test_the_folder_reader_uses_the_one_table():
    from edgeaffect.data import folders

    assert folders.canonical_class is canonical_class


@pytest.mark.parametrize("name,canonical", [("happy", "happiness"), ("Angry", "anger"), ("SAD", "sadness"),
                                            ("surprised", "surprise"), ("disgusted", "disgust"),
                                            ("fearful", "fear"), ("scared", "fear"), ("Neutral", "neutral"),
                                            ("contempt", "contempt"), ("0_angry", "anger"), ("bored", None)])
def test_aliases_are_case_insensitive(name, canonical):
    assert canonical_class(name) == canonical


def test_seven_renamed_classes_are_a_subset_of_the_eight():
    match = match_classes(list(SEVEN_FOLDERS), EXPRESSIONS_8)
    assert [EXPRESSIONS_8[m] for m in match.to_model] == list(SEVEN_FOLDERS.values())
    assert match.subset and not match.identity and EXPRESSIONS_8.index("neutral") not in match.classes
    assert match_classes(EXPRESSIONS_8, EXPRESSIONS_8).identity


def test_a_class_the_model_lacks_is_named_with_the_models_classes():
    with pytest.raises(DataError) as info:
        match_classes(["happy", "bored"], EXPRESSIONS_8, data="DIR", model="default")
    assert "'bored'" in info.value.what and "neutral, happiness, surprise" in info.value.what
    assert "--class-map bored=CLASS" in info.value.fix


def test_class_map_names_or_skips_a_class():
    match = match_classes(["happy", "Bored", "other"], EXPRESSIONS_8, class_map=parse_class_map(["bored=Calm",
                                                                                                "other=skip"]))
    assert match.to_model == (1, 0, None) and match.named()["other"] == SKIP
    with pytest.raises(ConfigError, match="names no class"):
        match_classes(["bored"], EXPRESSIONS_8, class_map={"bored": "sleepy"})
    with pytest.raises(ConfigError, match="DATA_CLASS=MODEL_CLASS"):
        parse_class_map(["bored"])


def test_a_model_with_labels_of_its_own_matches_by_name():
    assert match_classes(["Positive"], ("negative", "positive")).to_model == (1,)


def test_records_are_relabelled_to_the_model_and_soft_targets_spread():
    from edgeaffect.data.base import Record

    match = match_classes(["sad", "happy", "bored"], EXPRESSIONS_8, class_map={"bored": SKIP})
    recs = (Record("a", "test", label=0, target=np.array([0.75, 0.25, 0.0], np.float32)),
            Record("b", "test", label=2))
    (a,) = remap_records(recs, match)  # the skipped class's record is dropped
    assert a.label == EXPRESSIONS_8.index("sadness") and a.target.shape == (8,)
    assert a.target[EXPRESSIONS_8.index("happiness")] == 0.25


def test_fer2013_csv_seven_classes_view_as_the_models(tmp_path):
    pixels = " ".join(["128"] * 48 * 48)
    rows = ["emotion,pixels,Usage"] + [f"{label},{pixels},PrivateTest" for label in range(7)]
    (tmp_path / "fer2013.csv").write_text("\n".join(rows) + "\n")
    index = open_dataset(tmp_path / "fer2013.csv")
    view, match = model_view(index, EXPRESSIONS_8, split="test")
    assert match.subset and view.classes == EXPRESSIONS_8
    assert [EXPRESSIONS_8[r.label] for r in view.split("test")] == list(index.classes)


def test_the_class_map_reaches_the_readers_that_name_classes_from_folders(tmp_path):
    data = write_class_folders(tmp_path / "f", {"happy": "happiness", "bored": "neutral"}, per_class=1)
    plain = open_dataset(data)
    assert plain.classes == ("happiness",) and plain.info["unknown_classes"] == {"test": ["bored"]}
    with pytest.raises(DataError, match="'bored'"):  # left out by the reader, so named, not silently dropped
        model_view(plain, EXPRESSIONS_8, split="test")
    named = open_dataset(data, class_map={"bored": "neutral"})
    view, match = model_view(named, EXPRESSIONS_8, split="test", class_map={"bored": "neutral"})
    assert match.classes == (0, 1) and sorted(EXPRESSIONS_8[r.label] for r in view.split("test")) == ["happiness",
                                                                                                       "neutral"]
    csv_file = tmp_path / "fer2013.csv"
    csv_file.write_text("emotion,pixels,Usage\n3," + " ".join(["9"] * 48 * 48) + ",Training\n")
    assert open_dataset(csv_file, class_map={"bored": "neutral"}).classes[3] == "happiness"  # ignored there


# --- the two scorings ---------------------------------------------------------------------
def test_subset_reports_score_over_all_and_over_the_set():
    labels = ("neutral", "happiness", "sadness")
    y = np.array([1, 1, 2, 2])
    probs = np.array([[0.6, 0.3, 0.1],  # neutral (not in the set): wrong over all, happiness over the set
                      [0.1, 0.8, 0.1], [0.1, 0.2, 0.7], [0.2, 0.1, 0.7]])
    every, restricted = metrics.subset_reports(y, probs, labels, [1, 2])
    assert every["accuracy"] == 0.75 and restricted["accuracy"] == 1.0
    assert every["uar"] == 0.75 and restricted["uar"] == 1.0
    assert np.asarray(every["confusion"]).shape == (3, 3) and np.asarray(restricted["confusion"]).shape == (2, 2)
    assert list(restricted["per_class"]) == ["happiness", "sadness"]
    assert every["per_class"]["happiness"]["recall"] == 0.5
    # macro-F1 averages over the set's classes, not over a class the set cannot contain
    assert every["macro_f1"] == pytest.approx(np.mean([every["per_class"][c]["f1"] for c in ("happiness", "sadness")]))


# --- round trips through the CLI (the shipped default model) ----------------------------------
@pytest.fixture(scope="module")
def seven(tmp_path_factory):
    return write_class_folders(tmp_path_factory.mktemp("seven") / "faces", SEVEN_FOLDERS, per_class=3)


def _eval(args, tmp_path, capsys):
    from edgeaffect.cli import main

    code = main(["eval", *args, "--out", str(tmp_path)])
    out = capsys.readouterr()
    report = json.loads((tmp_path / "eval-test.json").read_text()) if code == 0 else None
    return code, out, report


def test_training_still_needs_the_models_exact_classes(seven):
    pytest.importorskip("torch")
    from edgeaffect.assets import DEFAULT_DIR
    from edgeaffect.errors import ModelError
    from edgeaffect.meta import ModelMeta
    from edgeaffect.train.builders import check_fit

    meta = ModelMeta.load(DEFAULT_DIR / "run" / "meta.json")
    index = open_dataset(seven)
    with pytest.raises(ModelError, match="do not match the head"):
        check_fit(meta, index, source="default")
    check_fit(meta, index, source="default", subset=True)  # evaluation: any subset


def test_eval_default_on_seven_renamed_folders_prints_both_scorings(seven, tmp_path, capsys):
    pytest.importorskip("torch")
    code, out, report = _eval(["default", "--data", str(seven), "--split", "test"], tmp_path, capsys)
    assert code == 0, out.err
    assert "argmax over all the model's classes" in out.out and "argmax restricted to the set's 7 classes" in out.out
    assert "happy -> happiness" in out.out and "restricted_uar" in out.out
    assert report["samples"] == 21 and report["classes"]["fearful"] == "fear"
    m = report["metrics"]
    assert m["restricted_accuracy"] >= m["accuracy"] and 0 <= m["uar"] <= m["restricted_uar"] <= 1
    assert np.asarray(report["reports"]["emotion"]["confusion"]).shape == (8, 8)
    restricted = report["reports"]["emotion.restricted"]
    assert np.asarray(restricted["confusion"]).shape == (7, 7) and "neutral" not in restricted["per_class"]
    assert {c["support"] for c in restricted["per_class"].values()} == {3}


def test_a_class_the_model_lacks_exits_2_and_class_map_resolves_it(tmp_path, capsys):
    pytest.importorskip("torch")
    data = write_class_folders(tmp_path / "bored", {"happy": "happiness", "bored": "neutral"}, per_class=2)
    code, out, _ = _eval(["default", "--data", str(data), "--split", "test"], tmp_path, capsys)
    assert code == 2 and "'bored'" in out.err and "neutral, happiness" in out.err and "--class-map" in out.err
    assert "Traceback" not in out.err
    code, out, report = _eval(["default", "--data", str(data), "--split", "test", "--class-map", "bored=neutral"],
                              tmp_path, capsys)
    assert code == 0, out.err
    assert report["samples"] == 4 and report["classes"] == {"bored": "neutral", "happy": "happiness"}
    assert "restricted_accuracy" in report["metrics"]


def test_rafdb_seven_classes_evaluate_through_the_same_path(tmp_path, capsys):
    pytest.importorskip("torch")
    data = write_rafdb(tmp_path / "rafdb" / "basic")
    code, out, report = _eval(["default", "--data", str(data.parent), "--split", "test"], tmp_path, capsys)
    assert code == 0, out.err
    assert report["samples"] == 14 and "restricted_accuracy" in out.out
    assert "contempt" not in report["reports"]["emotion.restricted"]["per_class"]


def test_a_bundle_and_bench_score_the_set_as_the_checkpoint_does(seven, tmp_path, capsys):
    pytest.importorskip("torch")
    from edgeaffect.assets import DEFAULT_DIR
    from edgeaffect.cli import main

    _, _, checkpoint = _eval(["default", "--data", str(seven)], tmp_path / "ckpt", capsys)
    code, out, bundle = _eval([str(DEFAULT_DIR / "bundle"), "--data", str(seven)], tmp_path / "bundle", capsys)
    assert code == 0, out.err
    for key in ("accuracy", "uar", "restricted_accuracy", "restricted_uar"):
        assert bundle["metrics"][key] == pytest.approx(checkpoint["metrics"][key], abs=0.05)  # ONNX vs torch
    code = main(["bench", "default", "--data", str(seven), "--resolutions", "48", "--interp", "linear",
                 "--latency-runs", "2", "--no-progress", "--out", str(tmp_path / "bench.json")])
    assert code == 0, capsys.readouterr().err
    row = next(r for r in json.loads((tmp_path / "bench.json").read_text())["accuracy"] if r["resolution"] is None)
    assert len(row["set_classes"]) == 7 and row["per_class_recall"]["neutral"] == 0.0
    assert row["restricted_accuracy"] == pytest.approx(bundle["metrics"]["restricted_accuracy"])
    assert row["accuracy"] == pytest.approx(bundle["metrics"]["accuracy"])


def test_a_bundle_is_scored_without_torch(tmp_path):
    """``eval BUNDLE`` runs on the runtime core alone, as a device has it."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import edgeaffect
    from edgeaffect.assets import DEFAULT_DIR

    data = write_rafdb(tmp_path / "rafdb", per_class=1)
    code = ("import sys; from edgeaffect.cli import main; "
            f"rc = main(['eval', {str(DEFAULT_DIR / 'bundle')!r}, '--data', {str(data)!r}]); "
            "print('torch' in sys.modules); sys.exit(rc)")
    root = str(Path(edgeaffect.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "restricted_accuracy" in done.stdout and done.stdout.strip().endswith("False")
