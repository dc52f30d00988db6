"""Pieces shared by the model families: default labels, ModelMeta builders, local timm weights.

Torch-only by nature (imported only through the model registry).
"""
from __future__ import annotations

import functools
import logging
import os
import warnings
from pathlib import Path
from typing import Sequence

import torch

from edgeaffect.data.base import EXPRESSIONS_8
from edgeaffect.errors import ModelError
from edgeaffect.meta import Color, Head, HeadKind, LogitAdjust, ModelMeta, SignalTarget, Task, Temporal

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_FPS = 30.0


def default_labels(num_classes: int) -> tuple[str, ...]:
    if num_classes == len(EXPRESSIONS_8):
        return EXPRESSIONS_8
    return tuple(f"class{i}" for i in range(num_classes))


def size2(value: int | Sequence[int] | None, default: tuple[int, int]) -> tuple[int, int]:
    if value is None:
        return default
    if isinstance(value, int):
        return (value, value)
    h, w = (int(v) for v in value)
    return (h, w)


def color_for(in_chans: int | None, *, allowed: Sequence[int] = (1, 3)) -> tuple[int, Color]:
    chans = 3 if in_chans is None else int(in_chans)
    if chans not in allowed:
        raise ModelError(f"in_chans={chans} is not supported here", f"use one of {tuple(allowed)}")
    return chans, (Color.GRAY if chans == 1 else Color.RGB)


def classifier_meta(
    *, num_classes: int, chans: int, input_size: tuple[int, int], mean: Sequence[float], std: Sequence[float], **info
) -> ModelMeta:
    """Meta of a single-head expression classifier (head 'emotion')."""
    color = Color.GRAY if chans == 1 else Color.RGB
    if chans == 1:  # a gray model keeps one channel's statistics
        mean, std = mean[:1], std[:1]
    return ModelMeta(
        model="",
        task=Task.CLASSIFICATION,
        input_size=input_size,
        color=color,
        heads=(Head("emotion", HeadKind.LOGITS, num_classes),),
        labels=default_labels(num_classes),
        mean=tuple(mean),
        std=tuple(std),
        info=dict(info),
    )


def check_signal_args(name: str, *, num_classes: int | None, in_chans: int | None, pretrained: bool) -> None:
    """What every video -> EDA builder refuses: other than one output, other than RGB, pretrained weights."""
    if num_classes not in (None, 1) or in_chans not in (None, 3):
        raise ModelError(f"{name} predicts one signal from RGB clips", "leave num_classes and in_chans unset")
    if pretrained:
        raise ModelError(f"no pretrained {name} weights are shipped with edgeaffect", "train with pretrained=False")


def signal_meta(*, input_size: tuple[int, int], frames: int, fps: float, extra_inputs=(),
                target: SignalTarget | str = SignalTarget.LEVEL, **info) -> ModelMeta:
    """Meta of a video -> per-frame EDA model: raw RGB clips scaled to [0, 1] (mean 0, std 1);
    ``target`` says whether the head is trained on the EDA level or its derivative."""
    return ModelMeta(
        model="",
        task=Task.SIGNAL,
        input_size=input_size,
        color=Color.RGB,
        heads=(Head("eda", HeadKind.SIGNAL, frames, target=_signal_target(target)),),
        mean=(0.0,),
        std=(1.0,),
        temporal=Temporal(frames=frames, fps=fps),
        extra_inputs=tuple(extra_inputs),
        info=dict(info),
    )


def _signal_target(value: SignalTarget | str) -> SignalTarget:
    try:
        return SignalTarget(value)
    except ValueError:
        raise ModelError(f"unknown signal target '{value}'", f"use one of {[t.value for t in SignalTarget]}") from None


def standardize(x: torch.Tensor, dims: Sequence[int], eps: float = 1e-6) -> torch.Tensor:
    """Zero-mean unit-variance over ``dims`` per sample, written with export-friendly ops
    (ReduceMean/Mul/Sqrt) rather than torch.std or ``** 2``, which TFLite cannot lower."""
    centred = x - x.mean(dim=tuple(dims), keepdim=True)
    var = (centred * centred).mean(dim=tuple(dims), keepdim=True)  # not ** 2: TFLite rejects Pow
    return centred / torch.sqrt(var + eps)


def centre_zoom(x: torch.Tensor, zoom: float) -> torch.Tensor:
    """The centre ``zoom`` share of each NCHW image's side, enlarged back to its size (bilinear)."""
    with warnings.catch_warnings():  # the side is fixed by ModelMeta.input_size: a trace rightly keeps it constant
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        h, w = int(x.shape[-2]), int(x.shape[-1])
    ch, cw = max(1, round(zoom * h)), max(1, round(zoom * w))
    top, left = (h - ch) // 2, (w - cw) // 2
    return torch.nn.functional.interpolate(x[..., top:top + ch, left:left + cw], size=(h, w), mode="bilinear",
                                           align_corners=False)


class SingleHead(torch.nn.Module):
    """A one-output classifier (a timm network) under the registry's contract: forward returns a 1-tuple.

    ``adjust`` (``meta.LogitAdjust``) puts the prior correction, mirror averaging and centre zoom inside
    the graph, so every export applies them as torch does.  The bias is a non-persistent buffer: the
    weights of a model trained without it load unchanged.
    """

    def __init__(self, net: torch.nn.Module, adjust: LogitAdjust | None = None) -> None:
        super().__init__()
        self.net = net
        self.hflip = bool(adjust and adjust.hflip)
        self.zoom = float(adjust.zoom) if adjust is not None else 1.0
        bias = adjust.bias() if adjust is not None else []
        self.register_buffer("logit_bias", torch.tensor(bias, dtype=torch.float32) if bias else None,
                             persistent=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        views = [x] if self.zoom >= 1.0 else [x, centre_zoom(x, self.zoom)]
        if self.hflip:  # a face and its mirror image are the same expression
            views += [torch.flip(v, dims=[3]) for v in views]
        if len(views) > 1:
            # one call on every view stacked in the batch, not one call per view: PT2E INT8 quantizes a
            # module called twice wrongly (LiteRT agreed with torch on 16 % of faces)
            n, k = x.shape[0], len(views)
            out = self.net(torch.cat(views, dim=0))
            y = functools.reduce(torch.add, [out[i * n:(i + 1) * n] for i in range(k)]) * (1.0 / k)
        else:
            y = self.net(x)
        if self.logit_bias is not None:
            y = y + self.logit_bias.to(y.dtype)
        return (y,)


# -- timm backbones -------------------------------------------------------------------------
def _cached_weights(model_name: str) -> Path | None:
    """A weights file for ``model_name`` already on this machine (HF cache or torch hub dir).

    Nothing is downloaded: the project uses the network only in an explicit fetch command.
    """
    import timm

    cfg = timm.models.get_pretrained_cfg(model_name)
    if cfg is None:
        return None
    cfg = cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg)
    if cfg.get("hf_hub_id"):
        try:
            from huggingface_hub import try_to_load_from_cache

            for fname in ("model.safetensors", "pytorch_model.bin"):
                hit = try_to_load_from_cache(cfg["hf_hub_id"], fname)
                if isinstance(hit, str) and os.path.isfile(hit):
                    return Path(hit)
        except ImportError:
            pass
    if cfg.get("url"):
        local = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(cfg["url"])
        if local.is_file():
            return local
    return None


def timm_backbone(arch: str, *, pretrained: bool, pretrained_file: str | os.PathLike | None, **kwargs):
    """``timm.create_model(arch, ...)``, with ImageNet weights only from a local file."""
    import timm

    if not pretrained:
        return timm.create_model(arch, pretrained=False, **kwargs)
    path = Path(pretrained_file) if pretrained_file else _cached_weights(arch)
    if path is None or not path.is_file():
        raise ModelError(
            f"no local ImageNet weights for '{arch}'" + (f" at {path}" if path else " in the timm/HF cache"),
            "pass pretrained_file=<weights .pth/.safetensors> or train from scratch with pretrained=False",
        )
    log.info("loading %s weights from %s", arch, path)
    return timm.create_model(arch, pretrained=True, pretrained_cfg_overlay=dict(file=str(path)), **kwargs)
