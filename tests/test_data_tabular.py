"""The EEG + facial-feature fusion layout: alignment, windows, participant-independent splits."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeaffect.data import open_dataset
from edgeaffect.data.tabular import SYNTH_CLASSES, asof, write_synthetic_tabular
from edgeaffect.errors import DataError


def write_subject(folder: Path, eeg_t, face_t, trials) -> None:
    folder.mkdir(parents=True)
    eeg = "timestamp,Fz_alpha,Fz_beta\n" + "".join(f"{t},{t * 10},{-t}\n" for t in eeg_t)
    face = "timestamp,AU12\n" + "".join(f"{t},{t * 100}\n" for t in face_t)
    (folder / "eeg.csv").write_text(eeg)
    (folder / "face.csv").write_text(face)
    (folder / "trials.csv").write_text("trial,start,end,label\n" + "".join(f"{r}\n" for r in trials))


def test_asof_takes_the_latest_row_within_tolerance():
    times = np.array([0.0, 1.0, 2.0, 5.0])
    values = np.array([[0.0], [10.0], [20.0], [50.0]])
    got, ok = asof(times, values, np.array([-0.5, 0.0, 1.9, 2.4, 4.0, 5.1]), 0.5)
    assert ok.tolist() == [False, True, False, True, False, True]  # 1.9 is 0.9 s after its row: too old
    assert np.allclose(got[ok, 0], [0.0, 20.0, 50.0])


def test_alignment_windows_and_gaps(tmp_path):
    eeg_t = np.round(np.arange(0, 10, 0.5), 3)  # 2 Hz grid
    face_t = [t + 0.1 for t in np.arange(0, 10, 0.25) if not 6.0 <= t < 7.5]  # a 1.5 s face gap
    write_subject(tmp_path / "subject_01", eeg_t, face_t,
                  ["a,0.0,4.0,calm", "b,5.0,9.0,stress", "c,9.0,9.6,calm"])
    index = open_dataset(tmp_path, format="tabular", steps=4, valid=0, test=0, tolerance=0.3)
    assert index.classes == ("calm", "stress")
    recs = index.splits["train"]
    # trial a: grid 0.0 has no face row yet (first at 0.1), so its one window starts at row 1 (0.5 s);
    # trial b: the face gap leaves runs of 3 and 2 rows; trial c is 2 rows long
    assert [r.key for r in recs] == ["subject_01_a_0001"]
    first = recs[0]
    assert first.feature_names == ("Fz_alpha", "Fz_beta", "AU12") and first.features.shape == (4, 3)
    # each grid time takes the latest face row at or before it
    assert np.allclose(first.features[:, 0], [5, 10, 15, 20])
    assert np.allclose(first.features[:, 2], [35.0, 85.0, 135.0, 185.0])
    reasons = {s.source.rsplit(":", 1)[1]: s.reason for s in index.skipped}
    assert set(reasons) == {"3", "4"} and "trial b" in reasons["3"] and "trial c" in reasons["4"]


def test_synthetic_fusion_data_is_participant_independent(tmp_path):
    root = write_synthetic_tabular(tmp_path / "fusion", subjects=6, seed=0)
    index = open_dataset(root)
    assert index.format == "tabular" and index.task == "tabular" and index.classes == SYNTH_CLASSES
    subjects = {s: index.subjects(s) for s in ("train", "valid", "test")}
    assert all(subjects.values())
    assert not (subjects["train"] & subjects["valid"]) and not (subjects["train"] & subjects["test"])
    assert not (subjects["valid"] & subjects["test"])
    recs = [r for s in index.splits.values() for r in s]
    assert len(recs) == 6 * 9 * 6  # 9 trials of 12 s at 4 Hz = 48 rows = 6 windows of 8
    assert all(r.features.shape == (8, 27) for r in recs)
    assert {r.label for r in recs} == {0, 1, 2}
    folds = [open_dataset(root, folds=3, fold=k).subjects("test") for k in range(3)]
    assert set.union(*folds) == {f"subject_{i:02d}" for i in range(1, 7)} and sum(map(len, folds)) == 6


def test_synthetic_fusion_labels_are_learnable_across_people(tmp_path):
    sklearn = pytest.importorskip("sklearn.linear_model")
    index = open_dataset(write_synthetic_tabular(tmp_path / "fusion", subjects=6, seed=1))
    x = {s: np.array([np.log(np.clip(r.features, 1e-3, None)).mean(0) for r in index.splits[s]])
         for s in ("train", "test")}
    y = {s: np.array([r.label for r in index.splits[s]]) for s in ("train", "test")}
    model = sklearn.LogisticRegression(max_iter=2000).fit(x["train"], y["train"])
    assert model.score(x["test"], y["test"]) >= 0.8  # measured 0.96 on unseen subjects (seed 0)


def test_bad_subject_files_are_named(tmp_path):
    write_subject(tmp_path / "subject_01", np.arange(0, 10, 0.5), np.arange(0, 10, 0.25), ["a,0,8,calm"])
    write_subject(tmp_path / "subject_02", np.arange(0, 10, 0.5), np.arange(0, 10, 0.25), ["a,0,8,calm"])
    (tmp_path / "subject_02" / "face.csv").write_text("timestamp,AU12\n0.0,1\n0.25,oops\n")
    index = open_dataset(tmp_path, steps=4, valid=0, test=0)
    assert len(index.skipped) == 1 and "face.csv:3" in index.skipped[0].reason
    (tmp_path / "subject_01" / "trials.csv").write_text("trial,start,end,label\na,0,1,calm\n")
    with pytest.raises(DataError, match="no trial window"):
        open_dataset(tmp_path, steps=4)
