"""MixedFeatureNet: the MobileFaceNet-style trunk of DDAMFN (112x112 RGB -> [B, 512, 7, 7]).

Inverted bottlenecks whose depthwise stage mixes kernel sizes (MixConv: channel groups with
3/5/7/9 kernels), each followed by coordinate attention, PReLU activations, linear 1x1
projections and residual connections where shapes allow.

The mixed depthwise stage applies no BatchNorm/PReLU of its own, as in the published network
(whose definition builds a BatchNorm and a PReLU there that its forward pass never calls; they
are left out here, 3 parameters per expanded channel: 29,184 for the whole trunk).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


class ConvBNPReLU(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel: int = 1, stride: int = 1, groups: int = 1) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
            nn.PReLU(cout),
        )


class ConvBN(nn.Sequential):
    """Linear conv (no activation); with ``groups == channels`` and a full-size kernel it is a GDConv."""

    def __init__(self, cin: int, cout: int, kernel=1, groups: int = 1) -> None:
        super().__init__(nn.Conv2d(cin, cout, kernel, 1, 0, groups=groups, bias=False), nn.BatchNorm2d(cout))


class HSwish(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # relu6(x + 3) / 6 lowers to Clip/Relu6 everywhere (no HardSwish op needed).
        return x * torch.clamp(x + 3.0, 0.0, 6.0) / 6.0


class CoordAttention(nn.Module):
    """Coordinate attention: channel attention factorised into a row map and a column map.

    ``pool_h``/``pool_w`` summarise each row/column; the DDAMFN head swaps them for linear
    GDConvs.  Mean reductions are written as ``mean`` (ReduceMean) instead of adaptive pooling
    so every exporter takes them.
    """

    def __init__(self, channels: int, reduction: int = 32, *, pool_h: nn.Module | None = None, pool_w: nn.Module | None = None) -> None:
        super().__init__()
        mid = max(8, channels // reduction)
        self.pool_h = pool_h
        self.pool_w = pool_w
        self.reduce = nn.Sequential(nn.Conv2d(channels, mid, 1), nn.BatchNorm2d(mid), HSwish())
        self.attn_h = nn.Conv2d(mid, channels, 1)
        self.attn_w = nn.Conv2d(mid, channels, 1)

    def maps(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(row map [B,C,H,1], column map [B,C,1,W]), both sigmoid-activated."""
        h, w = x.shape[2], x.shape[3]
        rows = self.pool_h(x) if self.pool_h is not None else x.mean(dim=3, keepdim=True)
        cols = self.pool_w(x) if self.pool_w is not None else x.mean(dim=2, keepdim=True)
        y = self.reduce(torch.cat([rows, cols.transpose(2, 3)], dim=2))
        y_h, y_w = torch.split(y, [h, w], dim=2)
        return torch.sigmoid(self.attn_h(y_h)), torch.sigmoid(self.attn_w(y_w.transpose(2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a_h, a_w = self.maps(x)
        return x * a_h * a_w  # broadcasting replaces the explicit expand


class MixDepthwise(nn.Module):
    """Depthwise conv whose channel groups use different kernel sizes (MixConv)."""

    def __init__(self, splits: Sequence[int], kernels: Sequence[int], stride: int) -> None:
        super().__init__()
        self.splits = [int(s) for s in splits]
        self.convs = nn.ModuleList(
            nn.Conv2d(c, c, k, stride, k // 2, groups=c, bias=False) for c, k in zip(self.splits, kernels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(self.convs) == 1:
            return self.convs[0](x)
        parts = torch.split(x, self.splits, dim=1)
        return torch.cat([conv(p) for conv, p in zip(self.convs, parts)], dim=1)


class MixBottleneck(nn.Module):
    """1x1 expand (PReLU) -> mixed depthwise -> coordinate attention -> 1x1 linear projection."""

    def __init__(self, cin: int, cout: int, expand: int, kernels, splits, stride: int = 1, residual: bool = False) -> None:
        super().__init__()
        if sum(splits) != expand:
            raise ValueError(f"kernel groups {splits} do not add up to {expand} channels")
        self.expand = ConvBNPReLU(cin, expand)
        self.depthwise = MixDepthwise(splits, kernels, stride)
        self.attention = CoordAttention(expand)
        self.project = ConvBN(expand, cout)
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.attention(self.depthwise(self.expand(x))))
        return x + y if self.residual else y


def _stage(channels: int, blocks: int, expand: int, kernels, splits) -> nn.Sequential:
    return nn.Sequential(*(MixBottleneck(channels, channels, expand, kernels, splits, residual=True) for _ in range(blocks)))


class MixedFeatureNet(nn.Module):
    """The trunk up to the 512-channel 1x1 conv: [B, in_chans, 112, 112] -> [B, 512, 7, 7]."""

    out_channels = 512

    def __init__(self, in_chans: int = 3) -> None:
        super().__init__()
        self.body = nn.Sequential(
            ConvBNPReLU(in_chans, 64, 3, stride=2),  # 56x56
            ConvBNPReLU(64, 64, 3, groups=64),
            MixBottleneck(64, 64, 128, (3, 5, 7), (64, 32, 32), stride=2),  # 28x28
            _stage(64, 9, 128, (3, 5), (96, 32)),
            MixBottleneck(64, 128, 256, (3, 5, 7), (128, 64, 64), stride=2),  # 14x14
            _stage(128, 16, 256, (3, 5), (192, 64)),
            MixBottleneck(128, 256, 1024, (3, 5, 7, 9), (256, 256, 256, 256), stride=2),  # 7x7
            _stage(256, 6, 512, (3, 5, 7), (172, 170, 170)),
            ConvBNPReLU(256, 512),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)
