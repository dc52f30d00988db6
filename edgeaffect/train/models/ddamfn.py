"""DDAMFN: MixedFeatureNet trunk + dual-direction attention (DDAN) expression classifier.

Each attention head computes a row map and a column map of the 7x7 trunk features with
linear GDConvs (depthwise convs spanning one whole spatial axis) inside a coordinate-attention
block; the head's map is their product.  Heads are merged by element-wise max, multiply the
features, and a 7x7 linear GDConv plus a fully connected layer give the logits.

The auxiliary attention loss keeps heads apart: ``pairs / (sum of pairwise MSE + eps)``
(0 with one head).  ``forward_with_aux`` returns it unweighted; the original training used
weight 0.1 (``meta.info["aux_loss_weight"]``).

Parameters (8 classes, 2 heads): 4,106,512 - every one used by the forward pass.  The published
definition counts 4,187,936 because it also builds layers its forward never calls, left out
here: a 7x7 GDConv + BatchNorm inside each attention head (26,112 each), a BatchNorm1d over the
logits (2 x classes) and the trunk's unused per-block BatchNorm/PReLU (29,184, see mixfacenet).
The trunk's embedding layers (GDConv, linear 512->256, BatchNorm1d) are not part of DDAMFN.
Input: 112x112 RGB, ImageNet mean/std; the 7x7 GDConvs tie the network to that size.
"""
from __future__ import annotations

import itertools

import torch
from torch import nn
from torch.nn import functional as F

from edgeaffect.errors import ModelError
from edgeaffect.meta import Task
from edgeaffect.train.models.common import IMAGENET_MEAN, IMAGENET_STD, classifier_meta, color_for, size2
from edgeaffect.train.models.mixfacenet import ConvBN, CoordAttention, MixedFeatureNet
from edgeaffect.train.registry import register_model

INPUT_SIDE = 112
FEATURE_SIDE = 7
AUX_LOSS_WEIGHT = 0.1
# Guards the division when heads coincide; the loss is then large, as intended.
AUX_EPS = 1e-8

# Layers of the published definition that its forward never uses (see module docstring).
UNUSED_PER_HEAD = 512 * FEATURE_SIDE * FEATURE_SIDE + 2 * 512
UNUSED_TRUNK = 29_184


def published_parameter_count(model: "DDAMFN") -> int:
    """Our parameter count plus the never-used layers of the published definition."""
    own = sum(p.numel() for p in model.parameters())
    return own + model.num_heads * UNUSED_PER_HEAD + 2 * model.num_classes + UNUSED_TRUNK


class DualDirectionHead(nn.Module):
    """One attention head: product of a row map and a column map from linear GDConvs."""

    def __init__(self, channels: int = 512, side: int = FEATURE_SIDE) -> None:
        super().__init__()
        self.ca = CoordAttention(
            channels,
            pool_h=ConvBN(channels, channels, (1, side), groups=channels),
            pool_w=ConvBN(channels, channels, (side, 1), groups=channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a_h, a_w = self.ca.maps(x)
        return a_h * a_w


class DDAMFN(nn.Module):
    def __init__(self, num_classes: int = 8, num_heads: int = 2, in_chans: int = 3) -> None:
        super().__init__()
        if num_heads < 1:
            raise ModelError(f"num_heads={num_heads}", "DDAMFN needs at least one attention head")
        self.num_classes = num_classes
        self.num_heads = num_heads
        self.features = MixedFeatureNet(in_chans)
        c = MixedFeatureNet.out_channels
        self.heads = nn.ModuleList(DualDirectionHead(c) for _ in range(num_heads))
        self.gdconv = ConvBN(c, c, FEATURE_SIDE, groups=c)
        self.fc = nn.Linear(c, num_classes)

    def _forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        feats = self.features(x)
        maps = [head(feats) for head in self.heads]
        merged = maps[0]
        for m in maps[1:]:
            merged = torch.maximum(merged, m)
        y = self.gdconv(feats * merged).flatten(1)
        return self.fc(y), maps

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        return (self._forward(x)[0],)

    def forward_with_aux(self, x: torch.Tensor) -> tuple[tuple[torch.Tensor], torch.Tensor]:
        logits, maps = self._forward(x)
        return (logits,), attention_loss(maps)


def attention_loss(maps: list[torch.Tensor]) -> torch.Tensor:
    """``pairs / (sum of pairwise MSE + eps)``: small when the heads attend to different places."""
    if len(maps) < 2:
        return maps[0].new_zeros(())
    pairs = list(itertools.combinations(maps, 2))
    total = sum(F.mse_loss(a, b) for a, b in pairs)
    return len(pairs) / (total + AUX_EPS)


@register_model(
    "ddamfn",
    family="ddamfn",
    description="MixedFeatureNet + dual-direction attention heads, 112x112 RGB (4.1 M params)",
    task=Task.CLASSIFICATION,
    default_input=(3, INPUT_SIDE, INPUT_SIDE),
)
def build(*, num_classes=None, in_chans=None, input_size=None, frames=None, pretrained=False, num_heads: int = 2):
    if size2(input_size, (INPUT_SIDE, INPUT_SIDE)) != (INPUT_SIDE, INPUT_SIDE):
        raise ModelError(f"ddamfn takes {INPUT_SIDE}x{INPUT_SIDE} faces only, not {input_size}",
                         "leave input_size unset; faces are resized to 112x112 by the preprocessing")
    if frames is not None:
        raise ModelError("ddamfn is an image model", "leave frames unset")
    if pretrained:
        raise ModelError("no pretrained DDAMFN weights are shipped with edgeaffect",
                         "train from scratch (pretrained=False) or start from one of your checkpoints")
    chans, _ = color_for(in_chans)
    n = 8 if num_classes is None else int(num_classes)
    model = DDAMFN(num_classes=n, num_heads=int(num_heads), in_chans=chans)
    model.meta = classifier_meta(
        num_classes=n, chans=chans, input_size=(INPUT_SIDE, INPUT_SIDE), mean=IMAGENET_MEAN, std=IMAGENET_STD,
        aux_loss="attention_separation", aux_loss_weight=AUX_LOSS_WEIGHT, num_heads=int(num_heads),
    )
    return model
