"""Training losses, one per head kind, combined as a weighted multi-task sum.

Logits heads take cross-entropy (class-weighted, label-smoothed, or against
FER+ soft targets); regression heads MSE on the samples that carry a value
(valence/arousal may be missing: NaN targets are masked out); signal heads a
mix of MSE and negative Pearson, each with its own weight, against the level or,
for a derivative head, the level's change per second.  Which loss a head gets
follows from its ``HeadKind`` and ``SignalTarget`` in ModelMeta — tables, not
branch chains.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import torch
import torch.nn.functional as F

from edgeaffect.meta import Head, HeadKind, ModelMeta, SignalTarget
from edgeaffect.train.config import LossConfig


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor, *, weight: torch.Tensor | None = None,
                  smoothing: float = 0.0) -> torch.Tensor:
    return F.cross_entropy(logits.float(), labels, weight=weight, label_smoothing=smoothing, ignore_index=-100)


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor, *, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy against a probability target (FER+ probability / cross-entropy modes)."""
    target = target / target.sum(dim=1, keepdim=True).clamp_min(1e-8)
    logp = F.log_softmax(logits.float(), dim=1)
    if weight is not None:
        logp = logp * weight
    return -(target * logp).sum(dim=1).mean()


def masked_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE over finite targets only; zero (with a gradient path) when none are present."""
    pred = pred.float().reshape(target.shape)
    mask = torch.isfinite(target)
    if not mask.any():
        return pred.sum() * 0.0
    return F.mse_loss(pred[mask], target[mask])


def neg_pearson(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """1 - Pearson r per sequence (N, T), averaged: 0 for a perfect shape match, 2 for inverted."""
    p = pred.float().reshape(target.shape)
    p = p - p.mean(dim=-1, keepdim=True)
    t = target - target.mean(dim=-1, keepdim=True)
    r = (p * t).sum(-1) / (p.norm(dim=-1) * t.norm(dim=-1) + eps)
    return (1.0 - r).mean()


def signal_loss(pred: torch.Tensor, target: torch.Tensor, *, mse: float = 1.0, pearson: float = 0.0) -> torch.Tensor:
    loss = pred.sum() * 0.0
    if mse:
        loss = loss + mse * F.mse_loss(pred.float().reshape(target.shape), target)
    if pearson:
        loss = loss + pearson * neg_pearson(pred, target)
    return loss


def derivative_target(level: torch.Tensor, fps: float) -> torch.Tensor:
    """(N, T) levels -> the change per second from each frame to the next; 0 at the last frame.

    The last frame's change lies after the clip, where a model that looks at frame differences
    sees nothing (DeepPhys appends a zero motion frame); 0 there is what it can know.  The
    inverse is ``edgeaffect.signal_level.levels`` (integration up to a constant).
    """
    out = torch.zeros_like(level)
    out[..., :-1] = (level[..., 1:] - level[..., :-1]) * float(fps)
    return out


# What a signal head is trained on, from the (normalised) level the data gives and the model's fps.
SIGNAL_TARGETS: dict[SignalTarget, Callable[[torch.Tensor, float], torch.Tensor]] = {
    SignalTarget.LEVEL: lambda level, fps: level,
    SignalTarget.DERIVATIVE: derivative_target,
}


def signal_target(head: Head, level: torch.Tensor, meta: ModelMeta) -> torch.Tensor:
    fps = meta.temporal.fps if meta.temporal is not None else 1.0  # a level head needs no rate
    return SIGNAL_TARGETS[head.target](level, fps)


def regression_target(head: Head, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """The batch values a regression head is trained on: by head name, or (valence, arousal) for a 2-value head."""
    if head.name in batch:
        return batch[head.name]
    if head.size == 2 and "valence" in batch and "arousal" in batch:
        return torch.stack([batch["valence"], batch["arousal"]], dim=1)
    raise KeyError(f"the data gives no target for regression head '{head.name}'")


@dataclass
class HeadLoss:
    """The loss of one head on one batch."""

    config: LossConfig
    class_weight: torch.Tensor | None = None
    meta: ModelMeta | None = None  # signal heads read their target kind and fps here
    log_prior: torch.Tensor | None = None  # log class frequencies of the training split (logit adjustment)

    def logits(self, head: Head, out: torch.Tensor, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        if self.config.logit_adjust and self.log_prior is not None:
            out = out.float() + self.config.logit_adjust * self.log_prior
        if self.config.soft_targets:
            return soft_cross_entropy(out, batch["target"], weight=self.class_weight)
        return cross_entropy(out, batch["label"], weight=self.class_weight, smoothing=self.config.label_smoothing)

    def regression(self, head: Head, out: torch.Tensor, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return masked_mse(out, regression_target(head, batch))

    def signal(self, head: Head, out: torch.Tensor, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        target = batch["signal"] if self.meta is None else signal_target(head, batch["signal"], self.meta)
        return signal_loss(out, target, mse=self.config.mse, pearson=self.config.pearson)

    def table(self) -> dict[HeadKind, Callable]:
        return {HeadKind.LOGITS: self.logits, HeadKind.REGRESSION: self.regression, HeadKind.SIGNAL: self.signal}


class MultiTaskLoss:
    """sum_h weight_h * loss_h over the model's heads, plus ``aux_weight`` * the model's auxiliary loss."""

    def __init__(self, meta: ModelMeta, config: LossConfig, class_weight: torch.Tensor | None = None,
                 prior: torch.Tensor | None = None, teacher: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        self.meta, self.config, self.teacher = meta, config, teacher
        self.log_prior = None if prior is None else prior.float().clamp_min(1e-6).log()
        self.per_kind = HeadLoss(config, class_weight, meta, self.log_prior).table()
        unknown = set(config.task_weights) - {h.name for h in meta.heads}
        if unknown:
            from edgeaffect.errors import ConfigError

            raise ConfigError(f"loss.task_weights names heads {sorted(unknown)} that model '{meta.model}' lacks",
                              f"use head names from {[h.name for h in meta.heads]}")

    def to(self, device: torch.device) -> "MultiTaskLoss":
        cw = self.per_kind[HeadKind.LOGITS].__self__.class_weight
        lp = self.log_prior
        self.per_kind = HeadLoss(self.config, None if cw is None else cw.to(device), self.meta,
                                 None if lp is None else lp.to(device)).table()
        self.log_prior = None if lp is None else lp.to(device)
        return self

    def _distil(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        from edgeaffect.train.distill import kd_loss

        student, teacher = out.float(), self.teacher(x)
        if self.log_prior is not None:  # both as p(class | face) on the training distribution (see distill.py)
            student = student + self.config.logit_adjust * self.log_prior
            teacher = teacher + getattr(self.teacher, "logit_adjust", 0.0) * self.log_prior
        return kd_loss(student, teacher, self.config.temperature)

    def __call__(self, outputs: tuple[torch.Tensor, ...], batch: Mapping[str, torch.Tensor],
                 aux: torch.Tensor | None = None, *, train: bool = False) -> tuple[torch.Tensor, dict[str, float]]:
        """The weighted loss and its parts; ``train`` adds the distillation term (validation losses stay comparable)."""
        total = outputs[0].sum() * 0.0
        parts: dict[str, float] = {}
        distil = train and self.teacher is not None
        for head, out in zip(self.meta.heads, outputs):
            part = self.per_kind[head.kind](head, out, batch)
            parts[head.name] = float(part.detach())
            if distil and head.kind is HeadKind.LOGITS:
                part = (1.0 - self.config.distill) * part + self.config.distill * self._distil(out, batch["x"])
                parts["distill"] = float(part.detach())
                distil = False  # the first logits head only: the teacher has one
            total = total + float(self.config.task_weights.get(head.name, 1.0)) * part
        if aux is not None and self.config.aux_weight:
            parts["aux"] = float(aux.detach())
            total = total + self.config.aux_weight * aux.float()
        return total, parts
