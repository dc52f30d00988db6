"""PhysNet: a spatio-temporal 3D-CNN encoder-decoder predicting one EDA value per frame.

The encoder-decoder with max pooling: a 1x5x5 stem, eight 3x3x3 conv blocks (BatchNorm +
ReLU) with spatial and spatio-temporal max pooling (T -> T/4), two temporal transposed convs
(kernel 4, stride 2: T/4 -> T) with BatchNorm + ELU, spatial mean and a 1x1x1 conv ->
(N, T).  768,577 parameters; any T divisible by 4, any H, W >= 8.

Export-friendly equivalents (same parameters, same maths): the pools and the temporal
transposed convs run as 2D ops on reshaped tensors (MaxPool2d, ConvTranspose2d with a (4, 1)
kernel, BatchNorm2d), because TFLite has no 3D pooling or 3D transposed convolution; the
adaptive spatial pooling is a mean.  Conv3d remains (ONNX, OpenVINO and TFLite CONV_3D take it;
some TFLite GPU/NPU delegates do not).

Input: raw RGB clips scaled to [0, 1]; each clip is standardised inside ``forward`` (zero mean,
unit variance over the clip), so the runtime feeds every video model the same way.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from edgeaffect.errors import ModelError
from edgeaffect.meta import Task
from edgeaffect.train.models.common import DEFAULT_FPS, check_signal_args, signal_meta, size2, standardize
from edgeaffect.train.registry import register_model


def _block(cin: int, cout: int, kernel=(3, 3, 3), padding=(1, 1, 1)) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(cin, cout, kernel, padding=padding), nn.BatchNorm3d(cout), nn.ReLU(inplace=True))


def pool_space(x: torch.Tensor) -> torch.Tensor:
    """Max pool 1x2x2 over (T, H, W) as a 2D pool over (H, W)."""
    n, c, t, h, w = x.shape
    y = F.max_pool2d(x.reshape(n, c * t, h, w), 2)
    return y.reshape(n, c, t, h // 2, w // 2)


def pool_space_time(x: torch.Tensor) -> torch.Tensor:
    """Max pool 2x2x2 as a spatial 2D pool, then a (2, 1) pool over (T, H*W)."""
    x = pool_space(x)
    n, c, t, h, w = x.shape
    y = F.max_pool2d(x.reshape(n, c, t, h * w), (2, 1))
    return y.reshape(n, c, t // 2, h, w)


class TemporalUpsample(nn.Module):
    """ConvTranspose over T only (kernel 4, stride 2, pad 1) + BatchNorm + ELU, doubling T."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.deconv = nn.ConvTranspose2d(channels, channels, (4, 1), (2, 1), (1, 0))
        self.bn = nn.BatchNorm2d(channels)
        self.act = nn.ELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, t, h, w = x.shape
        y = self.act(self.bn(self.deconv(x.reshape(n, c, t, h * w))))
        return y.reshape(n, c, 2 * t, h, w)


class PhysNet(nn.Module):
    def __init__(self, standardize_input: bool = True) -> None:
        super().__init__()
        self.standardize_input = standardize_input
        self.stem = _block(3, 16, (1, 5, 5), (0, 2, 2))
        self.enc1 = nn.Sequential(_block(16, 32), _block(32, 64))
        self.enc2 = nn.Sequential(_block(64, 64), _block(64, 64))
        self.enc3 = nn.Sequential(_block(64, 64), _block(64, 64))
        self.enc4 = nn.Sequential(_block(64, 64), _block(64, 64))
        self.up1 = TemporalUpsample(64)
        self.up2 = TemporalUpsample(64)
        self.out = nn.Conv3d(64, 1, 1)

    def forward(self, clip: torch.Tensor) -> tuple[torch.Tensor]:
        x = standardize(clip, (1, 2, 3, 4)) if self.standardize_input else clip
        x = pool_space(self.stem(x))
        x = pool_space_time(self.enc1(x))
        x = pool_space_time(self.enc2(x))
        x = pool_space(self.enc3(x))
        x = self.up2(self.up1(self.enc4(x)))
        x = self.out(x.mean(dim=(3, 4), keepdim=True))
        return (x.reshape(x.shape[0], x.shape[2]),)


@register_model(
    "physnet",
    family="physnet",
    description="PhysNet 3D-CNN encoder-decoder, 128-frame 72x72 clips -> EDA per frame (0.77 M params)",
    task=Task.SIGNAL,
    default_input=(3, 128, 72, 72),
)
def build(*, num_classes=None, in_chans=None, input_size=None, frames=None, pretrained=False,
          fps: float = DEFAULT_FPS, standardize_input: bool = True):
    check_signal_args("physnet", num_classes=num_classes, in_chans=in_chans, pretrained=pretrained)
    t = 128 if frames is None else int(frames)
    if t % 4 or t < 4:
        raise ModelError(f"physnet needs a clip length divisible by 4, not {t}", "choose frames = 4k (e.g. 64, 128)")
    size = size2(input_size, (72, 72))
    if min(size) < 8:
        raise ModelError(f"physnet needs frames of at least 8x8, not {size}", "use a larger input_size")
    model = PhysNet(standardize_input)
    model.meta = signal_meta(input_size=size, frames=t, fps=float(fps), standardize_input=standardize_input)
    return model
