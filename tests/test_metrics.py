"""edgeaffect.metrics against scikit-learn and hand-computed cases."""
import numpy as np
import pytest
from sklearn import metrics as skm

from edgeaffect import metrics as M


@pytest.fixture
def cls_case():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, size=200)
    logits = rng.normal(size=(200, 4))
    logits[np.arange(200), y] += 1.5  # informative but imperfect
    return y, M.softmax(logits)


def test_classification_matches_sklearn(cls_case):
    y, p = cls_case
    yp = p.argmax(1)
    assert M.accuracy(y, p) == pytest.approx(skm.accuracy_score(y, yp))
    assert M.uar(y, p) == pytest.approx(skm.balanced_accuracy_score(y, yp))
    assert M.macro_f1(y, p) == pytest.approx(skm.f1_score(y, yp, average="macro"))
    assert M.cohen_kappa(y, yp) == pytest.approx(skm.cohen_kappa_score(y, yp))
    assert M.roc_auc_ovr(y, p, 4) == pytest.approx(skm.roc_auc_score(y, p, multi_class="ovr", average="macro"))
    assert (M.confusion_matrix(y, yp, 4) == skm.confusion_matrix(y, yp)).all()


def test_hand_computed_classification():
    y = np.array([0, 0, 1, 1, 1, 2])
    yp = np.array([0, 1, 1, 1, 0, 2])
    assert M.accuracy(y, yp) == pytest.approx(4 / 6)
    # recalls: class0 1/2, class1 2/3, class2 1/1
    assert M.uar(y, yp) == pytest.approx((0.5 + 2 / 3 + 1) / 3)
    # a class never present is counted as F1 0 when num_classes says it exists
    assert M.macro_f1(y, yp, num_classes=4) < M.macro_f1(y, yp)


def test_ece_perfectly_calibrated_and_overconfident():
    y = np.array([0, 1, 0, 1])
    assert M.ece(y, np.eye(2)[y]) == pytest.approx(0.0)
    wrong = np.eye(2)[1 - y]  # 100 % confident, always wrong
    assert M.ece(y, wrong) == pytest.approx(1.0)


def test_pr_auc_skips_absent_class(cls_case):
    y, p = cls_case
    y = np.where(y == 3, 0, y)  # class 3 absent
    val = M.pr_auc_ovr(y, p, 4)
    expected = np.mean([skm.average_precision_score(y == c, p[:, c]) for c in range(3)])
    assert val == pytest.approx(expected)


def test_regression_hand_cases():
    t = np.array([1.0, 2.0, 3.0, 4.0])
    assert M.ccc(t, t) == pytest.approx(1.0)
    assert M.pearson(t, 2 * t + 5) == pytest.approx(1.0)
    # shifted prediction: perfect correlation but CCC < 1 (penalises bias)
    assert M.ccc(t, t + 1) == pytest.approx(2 * 1.25 / (1.25 + 1.25 + 1.0))
    assert M.rmse(t, t + 1) == pytest.approx(1.0)
    assert M.mae(t, t - 2) == pytest.approx(2.0)
    assert M.r2(t, t) == pytest.approx(1.0)
    assert M.sagr(np.array([-0.5, 0.2, 0.3]), np.array([-0.1, 0.4, -0.2])) == pytest.approx(2 / 3)
    assert np.isnan(M.pearson(t, np.ones(4)))


def test_signal_metrics():
    x = np.linspace(0, 6, 50)
    trace = np.stack([np.sin(x), np.cos(x)])
    assert M.neg_pearson(trace, 3 * trace + 1) == pytest.approx(0.0, abs=1e-12)
    assert M.neg_pearson(trace, -trace) == pytest.approx(2.0)
    assert M.signal_mse(trace, trace + 0.5) == pytest.approx(0.25)
    rep = M.signal_report(trace, trace)
    assert rep["pearson"] == pytest.approx(1.0) and rep["mse"] == 0


def test_classification_report_shape(cls_case):
    y, p = cls_case
    rep = M.classification_report(y, p, ["a", "b", "c", "d"])
    assert set(rep["per_class"]) == {"a", "b", "c", "d"}
    assert sum(v["support"] for v in rep["per_class"].values()) == 200
    assert np.array(rep["confusion"]).sum() == 200


def test_uar_equals_balanced_accuracy_without_warning_when_a_prediction_names_an_absent_class():
    import warnings

    y, yp = np.array([0, 0, 1, 1, 1]), np.array([0, 3, 1, 1, 2])  # classes 2 and 3 are not in y
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = skm.balanced_accuracy_score(y, yp)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the bench calls this per cell: a warning each time flooded its output
        assert M.uar(y, yp) == pytest.approx(expected) == pytest.approx((0.5 + 2 / 3) / 2)
