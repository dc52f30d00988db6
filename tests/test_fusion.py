"""Fusion baselines: participant-independent CV on synthetic EEG + face windows."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

from edgeaffect.errors import ConfigError, DataError  # noqa: E402
from edgeaffect.train.fusion import FusionConfig, Splitter, Summary, fit_fusion, fusion_features  # noqa: E402
from edgeaffect.train.fusion_models import Classifier, Strategy, available_classifiers  # noqa: E402


def _dataset(participants=8, per=30, classes=3, steps=4, eeg=6, face=5, seed=0, imbalance=False):
    """EEG windows carry the label (class-dependent means + a per-participant offset); face is noise."""
    rng = np.random.default_rng(seed)
    y = np.tile(np.arange(classes), participants * per // classes + 1)[: participants * per]
    if imbalance:  # class 0 rare
        y = np.where(rng.random(len(y)) < 0.8, np.maximum(y, 1), y)
    groups = np.repeat([f"p{i:02d}" for i in range(participants)], per)
    centres = rng.normal(0, 1.5, size=(classes, eeg))
    offset = {g: rng.normal(0, 0.3, size=eeg) for g in sorted(set(groups))}
    x_eeg = np.stack([centres[c] + offset[g] for c, g in zip(y, groups)])[:, None, :] + rng.normal(0, 1, (len(y), steps, eeg))
    x_face = rng.normal(0, 1, (len(y), steps, face))
    return x_eeg.astype(np.float32), x_face.astype(np.float32), y, groups


@pytest.mark.parametrize("strategy,classifier", [
    (Strategy.EARLY, Classifier.LOGISTIC),
    (Strategy.LATE, Classifier.LOGISTIC),
    (Strategy.INTERMEDIATE, Classifier.LOGISTIC),
    (Strategy.EARLY, Classifier.RANDOM_FOREST),
    (Strategy.LATE, Classifier.MLP),
])
def test_eeg_signal_is_found_across_participants(strategy, classifier):
    x_eeg, x_face, y, groups = _dataset()
    res = fit_fusion(x_eeg, x_face, y, groups, FusionConfig(strategy=strategy, classifier=classifier, n_splits=4))
    assert len(res.folds) == 4
    for fold in res.folds:  # participant-independent: no test participant was trained on
        train_groups = set(groups) - set(fold.test_groups)
        assert fold.n_train == sum(g in train_groups for g in groups)
    assert res.accuracy > 0.7 and res.uar > 0.7 and res.macro_f1 > 0.7  # chance is 1/3
    assert res.classes == (0, 1, 2)
    X, _ = fusion_features(x_eeg, x_face)
    assert res.model.predict_proba(X[:3]).shape == (3, 3)
    assert res.importances is None  # shap is not installed here


def test_face_only_noise_stays_near_chance():
    x_eeg, x_face, y, groups = _dataset(seed=1)
    res = fit_fusion(None, x_face, y, groups, FusionConfig(classifier=Classifier.LOGISTIC, n_splits=4, refit=False))
    assert res.accuracy < 0.5 and res.model is None


def test_smote_on_training_folds_and_leave_one_group_out():
    x_eeg, x_face, y, groups = _dataset(participants=5, per=24, imbalance=True, seed=2)
    cfg = FusionConfig(classifier=Classifier.LOGISTIC, smote=True, splitter=Splitter.LEAVE_ONE_GROUP_OUT,
                       summary=Summary.STATS, refit=False)
    res = fit_fusion(x_eeg, x_face, y, groups, cfg)
    assert len(res.folds) == 5 and all(len(f.test_groups) == 1 for f in res.folds)
    assert sum(f.n_test for f in res.folds) == len(y)  # test folds are never oversampled
    assert res.uar > 0.6


@pytest.mark.skipif(Classifier.XGBOOST not in available_classifiers(), reason="xgboost is not installed")
def test_xgboost_with_string_labels():
    x_eeg, x_face, y, groups = _dataset(participants=4, per=24)
    names = np.array(["low", "mid", "high"])[y]
    res = fit_fusion(x_eeg, x_face, names, groups,
                     FusionConfig(classifier=Classifier.XGBOOST, strategy=Strategy.INTERMEDIATE, n_splits=2, refit=False))
    assert set(res.classes) == {"low", "mid", "high"} and res.accuracy > 0.6


def test_feature_layout_matches_a_flattened_window():
    x_eeg, x_face, *_ = _dataset(participants=2, per=3, steps=3, eeg=2, face=1)
    X, cols = fusion_features(x_eeg, x_face)
    window = np.concatenate([x_eeg[0], x_face[0]], axis=1)  # (steps, eeg + face)
    assert np.array_equal(X[0], window.reshape(-1))
    assert cols == {"eeg": [0, 1, 3, 4, 6, 7], "face": [2, 5, 8]}
    Xs, cols_s = fusion_features(x_eeg, x_face, Summary.STATS)
    assert Xs.shape == (len(x_eeg), 12) and len(cols_s["eeg"]) == 8


def test_bad_inputs_are_reported():
    x_eeg, x_face, y, groups = _dataset(participants=2, per=6)
    with pytest.raises(DataError):
        fit_fusion(x_eeg, x_face[:-1], y, groups)
    with pytest.raises(DataError):
        fit_fusion(x_eeg, None, y, np.zeros(len(y)))  # one participant only
    with pytest.raises(ConfigError):
        FusionConfig(classifier="svm")


@pytest.mark.parametrize("strategy", list(Strategy))
def test_refit_model_converts_to_onnx(strategy):
    """Each strategy is one scikit-learn estimator that skl2onnx converts (the export path)."""
    skl2onnx = pytest.importorskip("skl2onnx")
    ort = pytest.importorskip("onnxruntime")
    from skl2onnx.common.data_types import FloatTensorType

    x_eeg, x_face, y, groups = _dataset(participants=4, per=15)
    res = fit_fusion(x_eeg, x_face, y, groups, FusionConfig(strategy=strategy, classifier=Classifier.LOGISTIC, n_splits=2))
    X, _ = fusion_features(x_eeg, x_face)
    proto = skl2onnx.convert_sklearn(res.model, initial_types=[("input", FloatTensorType([None, X.shape[1]]))],
                                     options={id(res.model): {"zipmap": False}}, target_opset={"": 17, "ai.onnx.ml": 3})
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    probs = sess.run(None, {"input": X[:6]})[-1]
    assert np.abs(probs - res.model.predict_proba(X[:6])).max() < 1e-4
