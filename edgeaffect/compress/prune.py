"""Structured channel pruning with Torch-Pruning: whole filters go, so the speedup is real on any runtime.

Torch-Pruning's dependency graph groups coupled channels (residual adds,
depthwise convs, attention products that multiply branch outputs with the
features), so a group is removed everywhere at once.  The layers that produce
the model's outputs must keep their channels — their out-channels ARE the head
sizes in ModelMeta — so they are found from the autograd graph (the last
Conv/Linear on every path to an output) and ignored, together with any layer
the caller names.  Pruning goes by channel ratio, or step by step until the
MACs fall under a target.

``prune_run`` (a pruned copy of a training run, optional fine-tuning and a
measured before/after report) lives in :mod:`edgeaffect.compress.prune_run`.
"""
from __future__ import annotations

import copy
import enum
import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from edgeaffect._optional import require
from edgeaffect.errors import ConfigError

log = logging.getLogger(__name__)

MAX_STEPS = 20  # iterative steps of the MAC-target search (each removes ~max_ratio/steps of the channels)


class Importance(str, enum.Enum):
    """How a channel group's importance is scored."""

    L1 = "l1"  # mean |w| of the group (magnitude)
    L2 = "l2"  # mean w^2 of the group (Torch-Pruning's default)
    TAYLOR = "taylor"  # |w * dL/dw|: needs a loss on real data (``loss_fn``)


@dataclass(frozen=True)
class PruneResult:
    """A pruned copy of the model and what it costs before and after (MACs at the example input)."""

    model: Any
    params_before: int
    params_after: int
    macs_before: int
    macs_after: int
    ratio: float  # the channel ratio asked for (or reached, for a MAC target)
    ignored: tuple[str, ...]  # module names whose out-channels were kept

    @property
    def param_ratio(self) -> float:
        return self.params_after / self.params_before

    @property
    def mac_ratio(self) -> float:
        return self.macs_after / self.macs_before

    def summary(self) -> dict[str, Any]:
        return {"ratio": self.ratio, "params_before": self.params_before, "params_after": self.params_after,
                "macs_before": self.macs_before, "macs_after": self.macs_after,
                "param_ratio": round(self.param_ratio, 4), "mac_ratio": round(self.mac_ratio, 4),
                "ignored": list(self.ignored)}


def _flatten(outputs: Any) -> list[Any]:
    if isinstance(outputs, (tuple, list)):
        return [t for o in outputs for t in _flatten(o)]
    if isinstance(outputs, dict):
        return [t for o in outputs.values() for t in _flatten(o)]
    return [outputs]


def output_layers(model: Any, example: Any) -> list[str]:
    """Names of the last Conv/Linear layer on every autograd path to a model output.

    Pruning their out-channels would change an output's shape (class count,
    valence/arousal pair, signal length), whatever parameter-free ops
    (tanh, view, pooling, ...) follow them.
    """
    torch = require("torch", "train")
    roots = {m: n for n, m in model.named_modules() if isinstance(m, (torch.nn.modules.conv._ConvNd, torch.nn.Linear))}
    node_owner: dict[Any, str] = {}

    def record(mod: Any, _inputs: Any, out: Any) -> None:  # must return None: a value would replace the output
        node_owner.setdefault(out.grad_fn, roots[mod])

    hooks = [m.register_forward_hook(record) for m in roots]
    try:
        with torch.enable_grad():  # inputs that need grad give every op a grad_fn, even with frozen weights
            outputs = model(*(t.detach().requires_grad_(True) if torch.is_floating_point(t) else t for t in example))
    finally:
        for h in hooks:
            h.remove()
    found, seen = set(), set()
    stack = [t.grad_fn for t in _flatten(outputs) if getattr(t, "grad_fn", None) is not None]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        if node in node_owner:
            found.add(node_owner[node])
            continue
        stack.extend(nxt for nxt, _ in node.next_functions)
    return sorted(found)


def _dim(node: Any) -> int | None:
    return getattr(node.grad_fn, "_saved_dim", None)


def channel_split_consumers(model: Any, graph: Any) -> list[str]:
    """Layers fed by a CHANNEL split (e.g. MixConv kernel groups).

    The split sizes live in the model's Python code, which pruning cannot
    rewrite; ignoring the layers after the split keeps those sizes valid.
    """
    tp = require("torch_pruning", "train")
    names = {m: n for n, m in model.named_modules()}
    roots = (tp.ops.OPTYPE.CONV, tp.ops.OPTYPE.DEPTHWISE_CONV, tp.ops.OPTYPE.LINEAR)
    found, seen = set(), set()
    stack = [o for node in graph.module2node.values()
             if node.type == tp.ops.OPTYPE.SPLIT and _dim(node) in (1, -3) for o in node.outputs]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if node.type in roots and node.module in names:
            found.add(names[node.module])
        else:
            stack.extend(node.outputs)
    return sorted(found)


def _importance(kind: Importance) -> Any:
    tp = require("torch_pruning", "train", purpose="structured pruning")
    return {Importance.L1: lambda: tp.importance.GroupMagnitudeImportance(p=1),
            Importance.L2: lambda: tp.importance.GroupMagnitudeImportance(p=2),
            Importance.TAYLOR: lambda: tp.importance.GroupTaylorImportance()}[kind]()


def count(model: Any, example: tuple) -> tuple[int, int]:
    """(MACs, parameters) of ``model`` at ``example``, by the same counter as the training run's model card."""
    from edgeaffect.train.complexity import count_macs, count_parameters

    return count_macs(model, example), count_parameters(model)


def prune_model(model: Any, example: Any, *, ratio: float | None = None, mac_target: float | None = None,
                ignored: Iterable[str] = (), importance: Importance | str = Importance.L2,
                round_to: int | None = None, loss_fn: Callable[[Any], Any] | None = None) -> PruneResult:
    """Prune a COPY of ``model``: ``ratio`` of the channels of every prunable layer, or iteratively until
    the MACs are at most ``mac_target`` (absolute MACs, or a fraction of the original when <= 1).

    ``ignored`` adds module names (e.g. attention output layers) to the output layers found automatically.
    ``round_to`` keeps channel counts multiples of it (8 suits SIMD/Tensor cores).  ``loss_fn(model)``
    returns a loss on real data; it is required by Taylor importance.
    """
    torch = require("torch", "train")
    tp = require("torch_pruning", "train", purpose="structured pruning")
    if (ratio is None) == (mac_target is None):
        raise ConfigError("give exactly one of a pruning ratio or a MAC target", "e.g. --ratio 0.3")
    if ratio is not None and not 0.0 < ratio < 1.0:
        raise ConfigError(f"pruning ratio {ratio} is outside (0, 1)", "use e.g. 0.3 to remove 30 % of the channels")
    importance = Importance(importance)
    if importance is Importance.TAYLOR and loss_fn is None:
        raise ConfigError("Taylor importance needs gradients of a loss on real data", "pass loss_fn or use --importance l2")
    example = example if isinstance(example, tuple) else (example,)
    model = copy.deepcopy(model).eval()
    macs_before, params_before = count(model, example)
    names = dict(model.named_modules())
    unknown = [n for n in ignored if n not in names]
    if unknown:
        raise ConfigError(f"layers {unknown} are not in the model", "name modules as model.named_modules() lists them")
    keep = set(output_layers(model, example)) | set(ignored)
    target = None
    if mac_target is not None:
        target = mac_target * macs_before if mac_target <= 1.0 else mac_target
    steps = 1 if target is None else MAX_STEPS
    pruner = tp.pruner.MetaPruner(
        model, example, importance=_importance(importance), pruning_ratio=ratio if ratio is not None else 0.9,
        iterative_steps=steps, ignored_layers=[names[n] for n in sorted(keep)], round_to=round_to)
    # split guards need the dependency graph: reuse the pruner's (groups are collected lazily at each step)
    split_guards = set(channel_split_consumers(model, pruner.DG)) - keep
    pruner.ignored_layers.extend(m for n in sorted(split_guards) for m in names[n].modules())
    keep = sorted(keep | split_guards)
    reached = 0.0
    for step in range(steps):
        if loss_fn is not None:
            model.zero_grad()
            loss_fn(model).backward()
        pruner.step()
        reached = (ratio if ratio is not None else 0.9) * (step + 1) / steps
        macs, _ = count(model, example)
        log.info("pruning step %d/%d: channel ratio %.2f, %.1f MMACs", step + 1, steps, reached, macs / 1e6)
        if target is not None and macs <= target:
            break
    else:
        if target is not None:
            log.warning("MAC target %.1f M not reached (%.1f M at channel ratio %.2f)", target / 1e6, macs / 1e6, reached)
    model.zero_grad(set_to_none=True)
    with torch.no_grad():
        model(*example)  # a pruned graph that no longer runs fails here, not on the device
    macs_after, params_after = count(model, example)
    _annotate_meta(model, {"ratio": reached, "importance": importance.value, "macs": macs_after, "params": params_after})
    return PruneResult(model=model, params_before=params_before, params_after=params_after, macs_before=macs_before,
                       macs_after=macs_after, ratio=reached, ignored=tuple(keep))


def _annotate_meta(model: Any, info: dict[str, Any]) -> None:
    """Record the pruning in the model's ModelMeta provenance (heads and inputs are unchanged)."""
    meta = getattr(model, "meta", None)
    if meta is not None and hasattr(meta, "evolve"):
        model.meta = meta.evolve(info={**dict(meta.info), "pruned": info})
