"""Expression class names: the one alias table, and matching a data set's classes to a model's.

Every published face set spells the expressions its own way (``happy/``, ``Angry``, ``scared``).
:data:`CLASS_ALIASES` maps each known spelling to the project's canonical name (the FER+
names in :data:`EXPRESSIONS_8`); the class-folder reader names its classes through it, and
evaluation (``eval``, ``bench``) matches a data set's classes to a model's labels through it,
so a spelling learnt once is understood everywhere.  Matching is case-insensitive and also
accepts ``0_angry`` style numbered prefixes.

A model is scored on any data set whose classes are a *subset* of its own; a class that
matches none of the model's labels is an error naming it, unless the user says what it is
with a class map (``--class-map bored=neutral``, or ``bored=skip`` to leave it out).
Training still needs the model's exact classes (``train.builders.check_fit``).  Torch-free.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import numpy as np

from edgeaffect.errors import ConfigError, DataError

if TYPE_CHECKING:
    from edgeaffect.data.base import DatasetIndex

# FER+ vote-column order of the 8 basic expressions (AffectNet codes them in another order: see affectnet.py).
EXPRESSIONS_8 = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")

# Spellings seen in published releases (folder names, label files, model label lists) -> canonical name.
CLASS_ALIASES: Mapping[str, str] = {
    **{name: name for name in EXPRESSIONS_8},
    "angry": "anger", "mad": "anger",
    "happy": "happiness", "joy": "happiness",
    "sad": "sadness",
    "surprised": "surprise", "suprise": "surprise",
    "fearful": "fear", "scared": "fear", "afraid": "fear",
    "disgusted": "disgust",
    "contemptuous": "contempt",
    "calm": "neutral",
}

SKIP = "skip"  # the class-map target that leaves a class out of the evaluation


def _key(name: str) -> str:
    return str(name).strip().lower().replace("-", "_").replace(" ", "_")


def canonical_class(name: str, class_map: Mapping[str, str] | None = None) -> str | None:
    """The canonical expression name of ``name`` (a class map entry first), or None when nothing covers it."""
    key = _key(name)
    extra = {_key(k): _key(v) for k, v in (class_map or {}).items()}
    for candidate in (key, key.split("_", 1)[-1]):  # "0_angry" style prefixes
        if candidate in extra:
            target = extra[candidate]
            return SKIP if target == SKIP else CLASS_ALIASES.get(target, target)
        if candidate in CLASS_ALIASES:
            return CLASS_ALIASES[candidate]
    return None


def parse_class_map(items: Iterable[str] | None) -> dict[str, str]:
    """``["bored=neutral", "Joy=happy"]`` -> ``{"bored": "neutral", "Joy": "happy"}`` (``--class-map``)."""
    out: dict[str, str] = {}
    for item in items or ():
        name, sep, target = str(item).partition("=")
        if not sep or not name.strip() or not target.strip():
            raise ConfigError(f"--class-map '{item}' is not DATA_CLASS=MODEL_CLASS",
                              f"write e.g. --class-map bored=neutral (or bored={SKIP} to leave it out)")
        out[name.strip()] = target.strip()
    return out


@dataclass(frozen=True)
class ClassMatch:
    """How a data set's classes map onto a model's labels.

    ``to_model[i]`` is the model-label index of data class ``i`` (None: left out by the class map).
    ``classes`` are the model-label indices the data set covers, in model order: the set the
    restricted scoring takes its argmax over.
    """

    data_classes: tuple[str, ...]
    model_labels: tuple[str, ...]
    to_model: tuple[int | None, ...]

    @property
    def classes(self) -> tuple[int, ...]:
        return tuple(sorted({m for m in self.to_model if m is not None}))

    @property
    def identity(self) -> bool:
        """Data labels already are model-label indices (the same classes in the same order)."""
        return self.to_model == tuple(range(len(self.model_labels)))

    @property
    def subset(self) -> bool:
        """The data covers fewer classes than the model has (so two scorings differ)."""
        return len(self.classes) < len(self.model_labels)

    def named(self) -> dict[str, str]:
        """``{data class: model label}`` for reports (``skip`` for a class left out)."""
        return {d: (SKIP if m is None else self.model_labels[m]) for d, m in zip(self.data_classes, self.to_model)}


def match_classes(data_classes: Sequence[str], model_labels: Sequence[str], *,
                  class_map: Mapping[str, str] | None = None, data: str = "the data",
                  model: str = "the model") -> ClassMatch:
    """Match data classes to model labels by name through the alias table (and ``class_map``).

    Raises DataError (exit 2) naming every data class that matches no model label, with the
    model's classes and the ``--class-map`` that would say what it is.
    """
    labels = tuple(str(m) for m in model_labels)
    by_name: dict[str, int] = {}
    for i, label in enumerate(labels):
        by_name.setdefault(_key(label), i)
        by_name.setdefault(canonical_class(label) or _key(label), i)
    to_model: list[int | None] = []
    unmatched: list[str] = []
    for name in data_classes:
        canon = canonical_class(name, class_map)
        if canon == SKIP:
            to_model.append(None)
            continue
        # canonical first; then the name itself, for a model with labels of its own ("positive", "negative")
        index = by_name.get(canon or "", by_name.get(_key(name)))
        if index is None:
            unmatched.append(str(name))
        to_model.append(index)
    bad_targets = [f"{k}={v}" for k, v in (class_map or {}).items()
                   if _key(v) != SKIP and CLASS_ALIASES.get(_key(v), _key(v)) not in by_name]
    if bad_targets:
        raise ConfigError(f"--class-map {', '.join(bad_targets)} names no class of {model} ({', '.join(labels)})",
                          f"map to one of: {', '.join(labels)} (or {SKIP})")
    if unmatched:
        many = len(unmatched) > 1
        raise DataError(f"class{'es' if many else ''} {', '.join(repr(u) for u in unmatched)} of {data} "
                        f"match{'' if many else 'es'} none of the classes of {model}: {', '.join(labels)}",
                        "say what each is with --class-map " + " ".join(f"{u}=CLASS" for u in unmatched)
                        + f" (repeatable; CLASS={SKIP} leaves it out), or score a model that has "
                        f"{'those classes' if many else 'that class'}")
    return ClassMatch(data_classes=tuple(str(c) for c in data_classes), model_labels=labels,
                      to_model=tuple(to_model))


def remap_records(records: Sequence[Any], match: ClassMatch) -> tuple[Any, ...]:
    """Records relabelled to model-label indices (soft targets spread to the model's size); records of a
    class the class map leaves out are dropped."""
    n = len(match.model_labels)
    out = []
    for rec in records:
        label = getattr(rec, "label", None)
        target = getattr(rec, "target", None)
        if label is None and target is None:
            out.append(rec)
            continue
        new_label = None if label is None else match.to_model[label]
        if label is not None and new_label is None:
            continue
        if target is not None:
            spread = np.zeros(n, dtype=np.float32)
            for i, value in enumerate(np.asarray(target, dtype=np.float32)):
                if match.to_model[i] is not None:
                    spread[match.to_model[i]] += value
            target = spread
        out.append(replace(rec, label=new_label, **({} if target is None else {"target": target})))
    return tuple(out)


def model_view(index: "DatasetIndex", model_labels: Sequence[str], *, split: str,
               class_map: Mapping[str, str] | None = None, model: str = "the model") -> tuple["DatasetIndex", ClassMatch]:
    """``index`` with its labels as indices of ``model_labels``, and the match that made it.

    Open the data with the same ``class_map`` (``open_dataset(..., class_map=...)``).  A reader that left
    classes out because no alias names them lists them per split in ``info["unknown_classes"]``: such a
    class in ``split`` is an error naming it (a silently shrunk test set reads as a better model).  The
    view's ``info["class_match"]`` holds the match (its ``classes``: the set's, for the restricted scoring).
    """
    unknown = [str(c) for part in split.split("+") for c in dict(index.info.get("unknown_classes", {})).get(part, ())]
    match = match_classes(list(index.classes) + unknown, model_labels, class_map=class_map, data=str(index.root),
                          model=model)
    if unknown:  # named by the class map, yet the reader did not get it
        raise DataError(f"{index.root} has class folder(s) {', '.join(unknown)} its reader left out",
                        "open the data with the same class map (open_dataset(..., class_map=...))")
    info = {**dict(index.info), "class_match": match}
    if match.identity:
        return replace(index, info=info), match
    splits = {name: remap_records(records, match) for name, records in index.splits.items()}
    return replace(index, classes=tuple(model_labels), splits=splits, info=info), match
