"""The model registry: every trainable model family registers a builder here by name.

Adding a model = one file under ``edgeaffect/train/models/`` with a builder decorated by
:func:`register_model` and one import line in ``edgeaffect/train/models/__init__.py``.

Builders have the signature ``build(*, num_classes=None, in_chans=None, input_size=None,
frames=None, pretrained=False, **family_options) -> nn.Module`` and return a module with a
``meta`` (:class:`edgeaffect.meta.ModelMeta`).  :func:`create_model` adds ``model_name`` and
``build_kwargs`` (what a checkpoint stores to rebuild the module).

The forward contract every model keeps (it is what ONNX/OpenVINO/TFLite exports see):

* ``forward(x, *extra)`` returns a TUPLE of tensors in the order of ``meta.heads``
  (a 1-tuple for single-head models): logits ``(N, classes)``, regression ``(N, size)``,
  signal ``(N, T)`` (one value per input frame).
* Images are NCHW float, every video model takes NCTHW ``(N, 3, T, H, W)`` clips,
  tabular models take ``(N, steps, features)``; ``meta.extra_inputs`` names further inputs.
* Models with an auxiliary training loss also define ``forward_with_aux(x, *extra) ->
  (heads_tuple, aux_loss)``; the loss is returned UNWEIGHTED (``meta.info["aux_loss_weight"]``
  carries the weight the original method used; the training engine applies it).

This module does not import torch; the model files do, when :func:`create_model` first
needs them.
"""
from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from typing import Any, Callable

from edgeaffect.errors import ModelError, unknown_name
from edgeaffect.meta import Task

log = logging.getLogger(__name__)

# Keyword arguments that do not shape the module: a checkpoint rebuilds without them
# (its weights replace whatever initialisation they chose).
_NOT_REBUILT = frozenset({"pretrained", "pretrained_file"})


@dataclass(frozen=True)
class ModelInfo:
    """What :func:`list_models` reports about one registered model.

    ``default_input`` is one sample's default shape without the batch axis:
    (C, H, W) for images, (C, T, H, W) for clips, (steps, features) for tabular models.
    """

    name: str
    family: str
    task: Task
    description: str
    default_input: tuple[int, ...]


@dataclass(frozen=True)
class _Entry:
    info: ModelInfo
    build: Callable[..., Any]


_REGISTRY: dict[str, _Entry] = {}


def register_model(
    name: str,
    *,
    family: str,
    description: str,
    task: Task | str,
    default_input: tuple[int, ...] = (),
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering ``build`` under ``name`` (names are unique)."""

    def deco(build: Callable[..., Any]) -> Callable[..., Any]:
        if name in _REGISTRY and _REGISTRY[name].build is not build:
            raise ValueError(f"model '{name}' is registered twice")
        info = ModelInfo(name, family, Task(task), description, tuple(int(v) for v in default_input))
        _REGISTRY[name] = _Entry(info, build)
        return build

    return deco


def _load_families() -> None:
    # Importing the package registers every family; torch loads only here.
    import edgeaffect.train.models  # noqa: F401


def _entry(name: str) -> _Entry:
    _load_families()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise unknown_name("model", name, _REGISTRY, error=ModelError, cutoff=0.4,
                           fix=f"known models: {', '.join(sorted(_REGISTRY))}") from None


def list_models() -> list[ModelInfo]:
    """Every registered model, sorted by name."""
    _load_families()
    return [_REGISTRY[n].info for n in sorted(_REGISTRY)]


def model_info(name: str) -> ModelInfo:
    return _entry(name).info


def create_model(name: str, **kwargs: Any) -> Any:
    """Build model ``name``; the result carries ``meta``, ``model_name`` and ``build_kwargs``.

    ``labels=[...]`` names the classes (and sets ``num_classes`` when that is not given);
    by default 8 classes are the 8 expressions of :data:`edgeaffect.data.base.EXPRESSIONS_8`,
    other counts are named ``class0..``.  Unknown keyword arguments raise :class:`ModelError`.
    """
    entry = _entry(name)
    labels = kwargs.pop("labels", None)
    if labels is not None:
        labels = tuple(str(v) for v in labels)
        kwargs.setdefault("num_classes", len(labels))
    try:
        inspect.signature(entry.build).bind(**kwargs)
    except TypeError as exc:
        accepted = [p for p in inspect.signature(entry.build).parameters]
        raise ModelError(f"model '{name}' does not take these options: {exc}", f"use only: {', '.join(accepted)}") from None
    model = entry.build(**kwargs)
    meta = model.meta
    if labels is not None:
        classes = [h for h in meta.heads if h.kind.value == "logits"]
        if not classes or classes[0].size != len(labels):
            raise ModelError(
                f"{len(labels)} labels given but model '{name}' predicts "
                f"{classes[0].size if classes else 0} classes",
                "pass as many labels as num_classes",
            )
        meta = meta.evolve(labels=labels)
    model.meta = meta.evolve(model=name)
    model.model_name = name
    rebuild = {k: v for k, v in kwargs.items() if k not in _NOT_REBUILT}
    if labels is not None:
        rebuild["labels"] = list(labels)
    model.build_kwargs = rebuild
    log.debug("built %s with %s", name, rebuild)
    return model
