"""The estimators of the EEG + face fusion baselines, and how each fusion strategy wires them.

Every strategy becomes ONE scikit-learn estimator over the combined feature vector (EEG and
face columns side by side), so cross-validation, refitting and ONNX export (skl2onnx) handle
all strategies alike:

* early: scale -> classifier on all columns;
* late: one scale -> classifier pipeline per modality (each sees only its columns), class
  probabilities averaged (soft voting);
* intermediate: per-modality scale -> PCA (reduced representation), concatenated,
  then one joint classifier.

Adding a classifier = one factory in :data:`CLASSIFIERS`.
"""
from __future__ import annotations

import enum
from typing import Any, Callable, Sequence

from edgeaffect._optional import available, require
from edgeaffect.errors import ConfigError


class Classifier(str, enum.Enum):
    RANDOM_FOREST = "random_forest"
    XGBOOST = "xgboost"
    LOGISTIC = "logistic"
    MLP = "mlp"


class Strategy(str, enum.Enum):
    EARLY = "early"
    LATE = "late"
    INTERMEDIATE = "intermediate"


def _random_forest(seed: int) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=200, class_weight="balanced", random_state=seed, n_jobs=1)


def _xgboost(seed: int) -> Any:
    xgb = require("xgboost", "fusion", purpose="the XGBoost fusion baseline")
    return xgb.XGBClassifier(n_estimators=200, max_depth=4, learning_rate=0.1, subsample=0.9,
                             random_state=seed, n_jobs=1, verbosity=0)


def _logistic(seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=2000, class_weight="balanced", random_state=seed)


def _mlp(seed: int) -> Any:
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(hidden_layer_sizes=(64,), alpha=1e-2, max_iter=500, random_state=seed)


CLASSIFIERS: dict[Classifier, Callable[[int], Any]] = {
    Classifier.RANDOM_FOREST: _random_forest,
    Classifier.XGBOOST: _xgboost,
    Classifier.LOGISTIC: _logistic,
    Classifier.MLP: _mlp,
}


def available_classifiers() -> list[Classifier]:
    """Classifiers whose library is installed (XGBoost is optional)."""
    return [c for c in Classifier if c is not Classifier.XGBOOST or available("xgboost")]


def make_classifier(name: Classifier | str, seed: int) -> Any:
    try:
        key = Classifier(name)
    except ValueError:
        raise ConfigError(f"unknown fusion classifier '{name}'", f"choose from {[c.value for c in Classifier]}") from None
    return CLASSIFIERS[key](seed)


def build_estimator(
    strategy: Strategy | str,
    classifier: Classifier | str,
    modalities: dict[str, Sequence[int]],
    *,
    seed: int = 0,
    pca_components: float | int = 0.95,
) -> Any:
    """One unfitted estimator taking the combined feature matrix (columns per ``modalities``)."""
    require("sklearn", "fusion", purpose="the fusion baselines")  # a clear error before the imports below
    from sklearn.compose import ColumnTransformer
    from sklearn.decomposition import PCA
    from sklearn.ensemble import VotingClassifier
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import StandardScaler

    strategy = Strategy(strategy)
    mods = {name: list(cols) for name, cols in modalities.items() if len(cols)}
    if not mods:
        raise ConfigError("no feature columns to fit", "give at least one modality with features")
    if strategy is Strategy.EARLY or len(mods) == 1 and strategy is Strategy.LATE:
        return make_pipeline(StandardScaler(), make_classifier(classifier, seed))
    if strategy is Strategy.LATE:
        members = [
            (name, Pipeline([("select", ColumnTransformer([(name, "passthrough", cols)])),
                             ("scale", StandardScaler()), ("clf", make_classifier(classifier, seed))]))
            for name, cols in mods.items()
        ]
        return VotingClassifier(members, voting="soft", flatten_transform=False)  # skl2onnx needs False
    reduce = ColumnTransformer([
        (name, make_pipeline(StandardScaler(), PCA(n_components=_components(pca_components, len(cols)),
                                                   random_state=seed)), cols)
        for name, cols in mods.items()
    ])
    return Pipeline([("reduce", reduce), ("scale", StandardScaler()), ("clf", make_classifier(classifier, seed))])


def _components(wanted: float | int, n_cols: int) -> float | int:
    # A variance fraction adapts to each modality; a count cannot exceed its columns.
    return wanted if isinstance(wanted, float) else max(1, min(int(wanted), n_cols))
