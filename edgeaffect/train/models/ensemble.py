"""``ensemble``: the mean of the logits of several trained classifiers, as one model with one graph.

Independently trained networks err on different faces, so the mean of their logits is more
accurate than each of them; on FER+ that is also how a teacher stronger than the shipped model is
made without training a larger one for hours.  The members are any registered single-head
classifiers that read the same input (side, colour, normalisation) and predict the same classes;
each is rebuilt from its ``build_kwargs`` without its own prior correction, and the ensemble carries
one ``adjust`` (``meta.LogitAdjust``) of its own, applied after the mean like any classifier's.

An ensemble is made from run folders by ``edgeaffect tune RUN RUN ... --out OUT``
(:func:`ensemble_checkpoint`); it then evaluates, exports, distils and fine-tunes like any run.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch

from edgeaffect.errors import ModelError
from edgeaffect.meta import HeadKind, LogitAdjust, ModelMeta, Task
from edgeaffect.train.checkpoint import without_adjust
from edgeaffect.train.models.common import SingleHead, size2
from edgeaffect.train.registry import create_model, register_model


class MeanLogits(torch.nn.Module):
    """The mean of the first output of every member (each returns the registry's tuple)."""

    def __init__(self, members: Sequence[torch.nn.Module]) -> None:
        super().__init__()
        self.members = torch.nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(x)[0] for m in self.members]).mean(0)


def _same_input(metas: Sequence[ModelMeta]) -> None:
    first = metas[0]
    for i, m in enumerate(metas[1:], start=2):
        theirs, ours = (m.input_size, m.color, m.mean, m.std, m.labels), (first.input_size, first.color, first.mean,
                                                                           first.std, first.labels)
        if theirs != ours:
            raise ModelError(f"ensemble member {i} reads {m.input_size} {m.color.value} faces normalised "
                             f"{m.mean}/{m.std} into {list(m.labels)}, member 1 {first.input_size} {first.color.value} "
                             f"{first.mean}/{first.std} into {list(first.labels)}",
                             "ensemble classifiers trained on the same input and classes")


@register_model("ensemble", family="ensemble", task=Task.CLASSIFICATION, default_input=(1, 64, 64),
                description="the mean logits of several trained classifiers (made by 'edgeaffect tune RUN RUN ...')")
def build(*, members: Sequence[dict[str, Any]] = (), num_classes=None, in_chans=None, input_size=None, frames=None,
          pretrained=False, adjust=None):
    if len(members) < 2:
        raise ModelError("an ensemble needs at least two members", "pass two or more run folders to 'edgeaffect tune'")
    nets = []
    for spec in members:
        net = create_model(str(spec["name"]), **without_adjust(dict(spec.get("build_kwargs") or {})))
        heads = net.meta.heads
        if len(heads) != 1 or heads[0].kind is not HeadKind.LOGITS:
            raise ModelError(f"ensemble member '{spec['name']}' is not a single-head classifier",
                             "ensemble expression classifiers only")
        nets.append(net)
    metas = [n.meta for n in nets]
    _same_input(metas)
    meta = metas[0]
    if num_classes is not None and int(num_classes) != meta.heads[0].size:
        raise ModelError(f"the members predict {meta.heads[0].size} classes, not {num_classes}",
                         "leave num_classes unset for an ensemble")
    if (in_chans is not None and int(in_chans) != meta.input_shape()[1]) or frames is not None or pretrained:
        raise ModelError("an ensemble takes its input from its members", "leave in_chans, frames and pretrained unset")
    if size2(input_size, meta.input_size) != tuple(meta.input_size):
        raise ModelError(f"the members read {meta.input_size} faces, not {input_size}",
                         "leave input_size unset for an ensemble")
    adjust = LogitAdjust(**adjust) if isinstance(adjust, dict) else adjust
    model = SingleHead(MeanLogits(nets), adjust)
    model.meta = meta.evolve(info={**dict(meta.info), "members": [str(s["name"]) for s in members]}, adjust=adjust)
    return model


def ensemble_checkpoint(ckpts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One checkpoint holding the members' weights (each without its prior correction), their build arguments
    and the first member's meta and config: what ``model_from_checkpoint`` rebuilds as an ``ensemble``."""
    for c in ckpts:
        pruned = (c.get("state") or {}).get("pruned")
        why = "it is an ensemble" if c["model_name"] == "ensemble" else "it is pruned" if pruned else ""
        if why:
            raise ModelError(f"'{c['model_name']}' run cannot be an ensemble member: {why}",
                             "ensemble plain trained runs")
    members = [{"name": c["model_name"], "build_kwargs": without_adjust(c["build_kwargs"])} for c in ckpts]
    model = create_model("ensemble", members=members)
    for net, c in zip(model.net.members, ckpts):
        net.load_state_dict(c["model"], strict=True)  # the correction is a non-persistent buffer: not in the weights
    first = ckpts[0]
    meta = ModelMeta.from_dict(first["meta"]).evolve(model="ensemble", adjust=None, info=dict(model.meta.info))
    config = dict(first.get("config") or {})
    if config.get("model"):
        config["model"] = {**config["model"], "name": "ensemble", "init": "",
                           "options": {"members": members}}
    return {**first, "model_name": "ensemble", "build_kwargs": dict(model.build_kwargs),
            "model": {k: v.float() if v.is_floating_point() else v for k, v in model.state_dict().items()},
            "meta": meta.to_dict(), "config": config, "optimizer": None, "scheduler": None, "rng": None,
            "state": {}, "epoch": 0, "best": None}
