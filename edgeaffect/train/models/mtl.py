"""Multi-task expression + valence/arousal models on timm backbones.

backbone (global pooled features) -> shared Linear 512 + ReLU + dropout, then three heads:
emotion (Linear 256 + ReLU -> classes), valence and arousal (each Linear 128 + ReLU -> 1 -> tanh).
ResNet-50: 24,822,090 parameters, EfficientNet-B1: 7,434,026 (8 classes).
Outputs, in ``meta.heads`` order: emotion logits (N, classes), valence (N, 1), arousal (N, 1),
both in (-1, 1).  Input 224x224 RGB (ResNet-50) / 240x240 (EfficientNet-B1), ImageNet mean/std.
ImageNet weights load only from a local file (``pretrained_file`` or the timm/HF cache).
"""
from __future__ import annotations

import torch
from torch import nn

from edgeaffect.errors import ModelError
from edgeaffect.meta import Head, HeadKind, Task
from edgeaffect.train.models.common import IMAGENET_MEAN, IMAGENET_STD, classifier_meta, color_for, size2, timm_backbone
from edgeaffect.train.registry import register_model


def _regressor(width: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(512, width), nn.ReLU(inplace=True), nn.Linear(width, 1), nn.Tanh())


class MultiTaskNet(nn.Module):
    def __init__(self, backbone: nn.Module, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.backbone = backbone
        self.shared = nn.Sequential(nn.Linear(backbone.num_features, 512), nn.ReLU(inplace=True), nn.Dropout(dropout))
        self.emotion = nn.Sequential(nn.Linear(512, 256), nn.ReLU(inplace=True), nn.Linear(256, num_classes))
        self.valence = _regressor(128)
        self.arousal = _regressor(128)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        z = self.shared(self.backbone(x))
        return self.emotion(z), self.valence(z), self.arousal(z)


def _builder(arch: str, default_side: int):
    def build(*, num_classes=None, in_chans=None, input_size=None, frames=None, pretrained=False,
              pretrained_file=None, dropout: float = 0.3):
        if frames is not None:
            raise ModelError(f"{arch} multi-task model is an image model", "leave frames unset")
        chans, _ = color_for(in_chans)
        n = 8 if num_classes is None else int(num_classes)
        size = size2(input_size, (default_side, default_side))
        backbone = timm_backbone(arch, pretrained=pretrained, pretrained_file=pretrained_file,
                                 num_classes=0, in_chans=chans)
        model = MultiTaskNet(backbone, n, dropout)
        meta = classifier_meta(num_classes=n, chans=chans, input_size=size, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                               backbone=arch)
        model.meta = meta.evolve(task=Task.MULTITASK, heads=meta.heads + (
            Head("valence", HeadKind.REGRESSION, 1, (-1.0, 1.0)),
            Head("arousal", HeadKind.REGRESSION, 1, (-1.0, 1.0)),
        ))
        return model

    return build


register_model("mtl_resnet50", family="mtl", task=Task.MULTITASK, default_input=(3, 224, 224),
               description="ResNet-50 + emotion/valence/arousal heads (24.8 M params)")(_builder("resnet50", 224))
register_model("mtl_efficientnet_b1", family="mtl", task=Task.MULTITASK, default_input=(3, 240, 240),
               description="EfficientNet-B1 + emotion/valence/arousal heads (7.4 M params)")(_builder("efficientnet_b1", 240))
