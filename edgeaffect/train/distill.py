"""Knowledge distillation: a trained classifier (the teacher) guides a student's logits head.

``loss.teacher=RUN`` with ``loss.distill=alpha`` trains the student on
``(1 - alpha) * its usual loss + alpha * T^2 * KL(teacher || student)`` at temperature ``T``
(``loss.temperature``; Hinton et al. 2015), on the same augmented batch the student sees
(the teacher runs in eval mode, without gradients).  Written here because the loss sits
inside edgeaffect's own multi-task loss and prior handling; no maintained library plugs in.

Both sides are compared as estimates of p(class | face) on the *training* distribution:
each side's raw logits plus its own training ``logit_adjust * log(prior)``.  So a teacher
trained with the logit-adjusted loss teaches a plain student, or the reverse, without
either inheriting the other's prior; and a tuned teacher's in-graph correction
(``ModelMeta.adjust``, chosen for inference) is left out, as it is not part of what it learnt.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from edgeaffect.errors import ConfigError
from edgeaffect.meta import HeadKind, ModelMeta


def _logits_index(meta: ModelMeta) -> int | None:
    return next((i for i, h in enumerate(meta.heads) if h.kind is HeadKind.LOGITS), None)


class Teacher:
    """A frozen classifier from a run folder or checkpoint, giving train-prior-space logits for a batch."""

    def __init__(self, path: str | Path, student: ModelMeta, *, device: torch.device, which: str = "best") -> None:
        from edgeaffect.train.checkpoint import load_checkpoint, raw_model_from_checkpoint

        ckpt = load_checkpoint(path, which=which)
        model = raw_model_from_checkpoint(ckpt)
        meta = ModelMeta.from_dict(ckpt["meta"])
        self.head, mine = _logits_index(meta), _logits_index(student)
        if self.head is None or mine is None:
            raise ConfigError(f"loss.teacher {path} and the student must both have a classification head",
                              "distil from a classifier run into a classifier")
        if tuple(meta.labels) != tuple(student.labels):
            raise ConfigError(f"loss.teacher {path} has classes {list(meta.labels)}, the student {list(student.labels)}",
                              "use a teacher trained on the same classes")
        ours, theirs = student.input_shape(), meta.input_shape()
        if len(ours) != len(theirs) or ours[1] != theirs[1]:
            raise ConfigError(f"loss.teacher {path} takes inputs {list(theirs)}, the student {list(ours)}",
                              "use a teacher with the student's channels (the side may differ: it is resized)")
        if (meta.mean, meta.std) != (student.mean, student.std):
            raise ConfigError(f"loss.teacher {path} normalises its input differently from the student",
                              "use a teacher trained with the student's preprocessing")
        self.size = tuple(theirs[2:])
        self.model = model.to(device).eval().requires_grad_(False)
        self.logit_adjust = float(((ckpt.get("config") or {}).get("loss") or {}).get("logit_adjust", 0.0))

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[2:]) != self.size:
            x = F.interpolate(x.float(), size=self.size, mode="bilinear", align_corners=False, antialias=True)
        out = self.model(x)
        out = out[self.head] if isinstance(out, (tuple, list)) else out
        return out.float()


def kd_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """T^2 * KL(softmax(teacher / T) || softmax(student / T)), mean over the batch."""
    t = float(temperature)
    return F.kl_div(F.log_softmax(student.float() / t, dim=1), F.log_softmax(teacher.float() / t, dim=1),
                    reduction="batchmean", log_target=True) * (t * t)
