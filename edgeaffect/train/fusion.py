"""EEG + face fusion baselines with participant-independent cross-validation (scikit-learn).

``fit_fusion(X_eeg, X_face, y, groups, config)`` turns the two modalities into one feature
matrix, cross-validates the chosen strategy (early / late / intermediate, see
:mod:`edgeaffect.train.fusion_models`) with folds that never share a participant
(GroupKFold or LeaveOneGroupOut), optionally oversamples the TRAINING folds with SMOTE, and
reports accuracy, macro-F1 and UAR per fold.  The returned ``model`` is refit on all data and
takes windows flattened exactly as :func:`fusion_features` builds them (the layout the
calibration and export side expect: a (steps, eeg + face) window, row-major).

Windows (N, steps, F) are flattened, or summarised per feature (mean, std, min, max over the
steps) with ``summary=Summary.STATS``.  SHAP importances are computed only when ``shap`` is
installed; otherwise ``importances`` is None.  Torch-free.
"""
from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgeaffect._optional import available, require
from edgeaffect.errors import ConfigError, DataError
from edgeaffect.train.fusion_models import Classifier, Strategy, build_estimator

log = logging.getLogger(__name__)


class Summary(str, enum.Enum):
    FLATTEN = "flatten"  # every step's features, row-major (steps x features)
    STATS = "stats"  # mean, std, min, max of each feature over the steps


class Splitter(str, enum.Enum):
    GROUP_KFOLD = "group_kfold"
    LEAVE_ONE_GROUP_OUT = "leave_one_group_out"


@dataclass(frozen=True, kw_only=True)
class FusionConfig:
    strategy: Strategy = Strategy.EARLY
    classifier: Classifier = Classifier.RANDOM_FOREST
    summary: Summary = Summary.FLATTEN
    splitter: Splitter = Splitter.GROUP_KFOLD
    n_splits: int = 5
    smote: bool = False
    pca_components: float | int = 0.95  # intermediate fusion: variance kept (float) or components (int)
    refit: bool = True  # fit the returned model on all data after cross-validation
    seed: int = 0

    def __post_init__(self) -> None:
        for name, kind in (("strategy", Strategy), ("classifier", Classifier), ("summary", Summary), ("splitter", Splitter)):
            try:
                object.__setattr__(self, name, kind(getattr(self, name)))
            except ValueError:
                raise ConfigError(f"fusion {name} '{getattr(self, name)}' is unknown",
                                  f"choose from {[k.value for k in kind]}") from None


@dataclass(frozen=True, kw_only=True)
class FoldMetrics:
    fold: int
    test_groups: tuple[str, ...]
    n_train: int
    n_test: int
    accuracy: float
    macro_f1: float
    uar: float  # unweighted average recall = macro recall


@dataclass(frozen=True)
class FusionResult:
    config: FusionConfig
    classes: tuple[Any, ...]
    folds: tuple[FoldMetrics, ...]
    n_features: int
    model: Any = field(default=None, repr=False, compare=False)  # refit on all data; takes fusion_features(...)
    importances: tuple[float, ...] | None = None  # mean |SHAP| per feature, when shap is installed

    def mean(self, metric: str) -> float:
        return float(np.mean([getattr(f, metric) for f in self.folds]))

    @property
    def accuracy(self) -> float:
        return self.mean("accuracy")

    @property
    def macro_f1(self) -> float:
        return self.mean("macro_f1")

    @property
    def uar(self) -> float:
        return self.mean("uar")


def _summarise(x: np.ndarray, summary: Summary) -> np.ndarray:
    if summary is Summary.STATS:
        return np.concatenate([x.mean(1), x.std(1), x.min(1), x.max(1)], axis=1)
    return x.reshape(len(x), -1)


def fusion_features(X_eeg, X_face, summary: Summary = Summary.FLATTEN) -> tuple[np.ndarray, dict[str, list[int]]]:
    """(combined matrix (N, D), {modality: its column indices}).

    2D inputs (N, F) are used as they are; 3D windows (N, steps, F) of both modalities are
    joined per step first, so a flattened row equals a (steps, eeg + face) window flattened.
    """
    mods = {k: np.asarray(v, dtype=np.float32) for k, v in (("eeg", X_eeg), ("face", X_face)) if v is not None}
    if not mods:
        raise DataError("no EEG or face features given", "pass X_eeg and/or X_face")
    lengths = {len(v) for v in mods.values()}
    if len(lengths) != 1:
        raise DataError(f"EEG and face features have different sample counts {sorted(lengths)}", "align the windows first")
    for name, v in mods.items():
        if v.ndim not in (2, 3):
            raise DataError(f"{name} features must be (N, F) or (N, steps, F), not {v.shape}", "reshape the feature array")
    summary = Summary(summary)
    if all(v.ndim == 3 for v in mods.values()) and len({v.shape[1] for v in mods.values()}) == 1:
        joined = np.concatenate(list(mods.values()), axis=2)
        tag = np.concatenate([np.full(v.shape[2], i) for i, v in enumerate(mods.values())])
        X = _summarise(joined, summary)
        tags = np.tile(tag, 4 if summary is Summary.STATS else joined.shape[1])
    else:
        parts = [_summarise(v, summary) if v.ndim == 3 else v for v in mods.values()]
        X = np.concatenate(parts, axis=1)
        tags = np.concatenate([np.full(p.shape[1], i) for i, p in enumerate(parts)])
    if not np.isfinite(X).all():
        raise DataError(f"{int((~np.isfinite(X)).sum())} feature values are NaN/inf", "impute or drop those windows")
    columns = {name: [int(c) for c in np.flatnonzero(tags == i)] for i, name in enumerate(mods)}
    return X, columns


def _splits(config: FusionConfig, groups: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import GroupKFold, LeaveOneGroupOut

    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise DataError("participant-independent evaluation needs at least 2 participants", "add participants")
    if config.splitter is Splitter.LEAVE_ONE_GROUP_OUT:
        splitter = LeaveOneGroupOut()
    else:
        splitter = GroupKFold(n_splits=min(config.n_splits, n_groups))
    return list(splitter.split(np.zeros(len(groups)), groups=groups))


def _oversample(X: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    over = require("imblearn.over_sampling", "fusion", purpose="SMOTE oversampling")
    smallest = min(c for c in np.bincount(y) if c > 0)
    if smallest < 2:
        log.warning("SMOTE skipped on a fold: a class has a single training sample")
        return X, y
    return over.SMOTE(k_neighbors=min(5, smallest - 1), random_state=seed).fit_resample(X, y)


def _fit(config: FusionConfig, columns, X: np.ndarray, y: np.ndarray) -> Any:
    est = build_estimator(config.strategy, config.classifier, columns, seed=config.seed,
                          pca_components=config.pca_components)
    if config.smote:
        X, y = _oversample(X, y, config.seed)
    return est.fit(X, y)


def fit_fusion(X_eeg, X_face, y, groups, config: FusionConfig | None = None) -> FusionResult:
    """Participant-independent CV of one fusion baseline; see the module docstring."""
    require("sklearn", "fusion", purpose="the fusion baselines")
    from sklearn.metrics import accuracy_score, f1_score, recall_score
    from sklearn.preprocessing import LabelEncoder

    config = config or FusionConfig()
    X, columns = fusion_features(X_eeg, X_face, config.summary)
    groups = np.asarray([str(g) for g in groups])
    if len(y) != len(X) or len(groups) != len(X):
        raise DataError(f"{len(X)} windows but {len(y)} labels and {len(groups)} participant ids",
                        "give one label and one participant per window")
    encoder = LabelEncoder().fit(np.asarray(y))
    y_enc = encoder.transform(np.asarray(y))
    folds = []
    for i, (train, test) in enumerate(_splits(config, groups)):
        # a fold may miss a class; classifiers like XGBoost insist on labels 0..k-1
        present, y_train = np.unique(y_enc[train], return_inverse=True)
        model = _fit(config, columns, X[train], y_train)
        pred = present[model.predict(X[test])]
        folds.append(FoldMetrics(
            fold=i, test_groups=tuple(sorted(set(groups[test]))), n_train=len(train), n_test=len(test),
            accuracy=float(accuracy_score(y_enc[test], pred)),
            macro_f1=float(f1_score(y_enc[test], pred, average="macro", zero_division=0)),
            uar=float(recall_score(y_enc[test], pred, average="macro", zero_division=0)),
        ))
        log.info("fold %d (%s): acc %.3f, UAR %.3f", i, ",".join(folds[-1].test_groups), folds[-1].accuracy, folds[-1].uar)
    final = _fit(config, columns, X, y_enc) if config.refit else None
    return FusionResult(config=config, classes=tuple(encoder.classes_.tolist()), folds=tuple(folds),
                        n_features=X.shape[1], model=final, importances=_shap(final, X))


def _shap(model: Any, X: np.ndarray) -> tuple[float, ...] | None:
    if model is None or not available("shap"):
        log.info("SHAP importances skipped: shap is not installed")
        return None
    import shap

    sample = X[: min(len(X), 200)]
    explainer = shap.Explainer(model.predict_proba, sample)
    values = np.abs(explainer(sample).values)  # (n, features, classes)
    return tuple(float(v) for v in values.reshape(len(sample), X.shape[1], -1).mean(axis=(0, 2)))
