"""Grad-CAM for image and video models, written as overlay PNGs (``edgeaffect explain``).

Hand-written on purpose: Grad-CAM is forward hooks, one ``autograd.grad`` and a
weighted sum — about thirty lines — and the maintained packages for it assume
single-output classifiers with NCHW inputs, while our models return tuples of
heads, take NCTHW clips and extra signal inputs.

The explained layer is ``model.cam_layer`` when a family names one, otherwise the last
convolution, in the order the forward pass runs them, whose output is still a 2-D map (height
and width both above 1): a GDConv that pools to 1x1, a coordinate-attention conv over one row
or column and PhysNet's final per-frame 1x1x1 conv carry no "where", and a CAM taken there
comes out constant or striped.  The target is the predicted class logit for classifiers and
the mean predicted value for signal and regression heads.  For clips the map is averaged over
time (``per_frame`` keeps one map per frame).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from edgeaffect.errors import ModelError
from edgeaffect.meta import HeadKind, ModelMeta

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CamResult:
    cam: np.ndarray  # (H, W) in [0, 1] at the input size; (T, H, W) for clips with per_frame
    target: str  # what was explained: a class name or "<head> mean"
    score: float
    map_size: tuple[int, int] = (0, 0)  # (h, w) of the activation map explained, before resizing


_CONVS = (torch.nn.Conv2d, torch.nn.Conv3d)


def _is_map(t: torch.Tensor) -> bool:
    return t.dim() >= 4 and t.shape[-1] > 1 and t.shape[-2] > 1


def _record_activations(model: torch.nn.Module) -> tuple[list[torch.Tensor], list[Any]]:
    """Forward hooks that collect, in call order, the outputs of the layers a CAM may use."""
    named = getattr(model, "cam_layer", None)
    layers = [named] if isinstance(named, torch.nn.Module) else [m for m in model.modules() if isinstance(m, _CONVS)]
    if not layers:
        raise ModelError(f"model '{getattr(model, 'model_name', '?')}' has no convolution to explain",
                         "Grad-CAM needs a convolutional model")
    seen: list[torch.Tensor] = []
    handles = [m.register_forward_hook(lambda _m, _i, out: seen.append(out)) for m in layers]
    return seen, handles


def _target(outputs: Sequence[torch.Tensor], meta: ModelMeta) -> tuple[torch.Tensor, str]:
    head, out = meta.heads[0], outputs[0]
    if head.kind is HeadKind.LOGITS:
        idx = out.argmax(dim=1)
        name = meta.labels[int(idx[0])] if meta.labels else f"class{int(idx[0])}"
        return out.gather(1, idx[:, None]).sum(), name
    return out.float().mean(), f"{head.name} mean"


def grad_cam(model: torch.nn.Module, meta: ModelMeta, x: torch.Tensor, *extra: torch.Tensor,
             per_frame: bool = False) -> CamResult:
    """Grad-CAM of one input (batch of 1) w.r.t. the model's first head."""
    seen, handles = _record_activations(model)
    try:
        model.eval()
        with torch.enable_grad():
            x = x.clone().requires_grad_(True)  # a gradient path even where early layers are frozen
            outputs = model(x, *extra)
            outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
            target, name = _target(outputs, meta)
            maps = [t for t in seen if _is_map(t)]
            if not maps:
                raise ModelError("no convolution of this model keeps a 2-D map to explain",
                                 "name one with model.cam_layer = <module>")
            act = maps[-1]
            grad, = torch.autograd.grad(target, act)
    finally:
        for handle in handles:
            handle.remove()
    act, grad = act.detach(), grad.detach()
    if act.dim() == 4 and x.dim() == 5:  # per-frame 2-D encoder on (N*T, C, h, w)
        t = x.shape[2]
        act, grad = (a.reshape(-1, t, *a.shape[1:]).transpose(1, 2) for a in (act, grad))
    spatial = tuple(range(2, act.dim()))
    weights = grad.mean(dim=spatial, keepdim=True)
    cam = torch.relu((weights * act).sum(dim=1))[0]  # (h, w) or (t, h, w)
    cam = cam.float().cpu().numpy()
    if cam.ndim == 3 and not per_frame:
        cam = cam.mean(axis=0)
    return CamResult(_resize_norm(cam, meta.input_size), name, float(target.detach()), tuple(act.shape[-2:]))


def _resize_norm(cam: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    import cv2

    frames = cam if cam.ndim == 3 else cam[None]
    out = np.stack([cv2.resize(f, (size_hw[1], size_hw[0]), interpolation=cv2.INTER_LINEAR) for f in frames])
    lo, hi = out.min(), out.max()
    out = (out - lo) / (hi - lo) if hi > lo else np.zeros_like(out)
    return out if cam.ndim == 3 else out[0]


def overlay(face_rgb_or_gray: np.ndarray, cam: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """BGR uint8 image: the face with the CAM as a JET heat map on top."""
    import cv2

    face = face_rgb_or_gray
    face = cv2.cvtColor(face, cv2.COLOR_GRAY2BGR) if face.ndim == 2 else cv2.cvtColor(face, cv2.COLOR_RGB2BGR)
    heat = cv2.applyColorMap(np.uint8(np.clip(cam, 0, 1) * 255), cv2.COLORMAP_JET)
    return cv2.addWeighted(face, 1.0 - alpha, heat, alpha, 0.0)


def display_image(x: np.ndarray, meta: ModelMeta) -> np.ndarray:
    """Undo the normalisation of one CxHxW model input -> uint8 HxW(x3) in the model's colour."""
    mean = np.asarray(meta.mean, np.float32)[:, None, None]
    std = np.asarray(meta.std, np.float32)[:, None, None]
    img = np.clip((x * std + mean) * 255.0, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    return img[:, :, 0] if img.shape[2] == 1 else img


def run_explain(opts: Any, *, n: int = 8, out: str | Path, per_frame: bool = False) -> list[Path]:
    """Overlay PNGs for the first ``n`` (seeded) samples of ``opts.split``; returns their paths."""
    import cv2

    from edgeaffect.io import atomic_write
    from edgeaffect.train import builders
    from edgeaffect.train import distributed as dist
    from edgeaffect.train.evaluate import load_for_eval

    model, meta, config, index = load_for_eval(opts)
    records = builders.limited(index.split(opts.split), n, config.runtime.seed)
    env = dist.Env(device=torch.device("cpu"), precision=config.runtime.precision, channels_last=False)
    dataset = builders.eval_loader(records, meta, config, env).dataset
    out = Path(out)
    written: list[Path] = []
    for i in range(len(dataset)):
        item = dataset[i]
        if item is None:
            log.warning("sample %s could not be decoded; skipped", records[i].key)
            continue
        x = item["x"][None]
        extra = [item[k][None] for k in meta.extra_inputs]
        result = grad_cam(model, meta, x, *extra, per_frame=per_frame)
        x0 = item["x"].numpy()
        if x0.ndim == 4:  # C, T, H, W: show the middle frame (or every frame with per_frame)
            frames = range(x0.shape[1]) if per_frame else [x0.shape[1] // 2]
            tiles = [overlay(display_image(x0[:, t], meta), result.cam[t] if result.cam.ndim == 3 else result.cam)
                     for t in frames]
            image = np.concatenate(tiles, axis=1)
        else:
            image = overlay(display_image(x0, meta), result.cam)
        truth = ""
        if "label" in item and int(item["label"]) >= 0 and meta.labels:
            truth = f"-true-{meta.labels[int(item['label'])]}"
        ok, png = cv2.imencode(".png", image)
        path = out / f"{i:03d}{truth}-pred-{result.target.replace(' ', '_')}.png"
        written.append(atomic_write(path, lambda fh, png=png: fh.write(png.tobytes())))
    return written
