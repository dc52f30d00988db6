"""DeepPhys: a two-branch convolutional attention network, one EDA value (change) per frame.

The motion branch sees normalised frame differences, the appearance branch the standardised
frames; sigmoid 1x1 masks from the appearance branch (scaled to mean 0.5 over the image) gate
the motion features twice, then two dense layers give one value per frame.
72x72 frames: 2,228,643 parameters (the first dense layer depends on the frame size:
36 -> 3136 inputs, 72 -> 16384, 96 -> 30976).

Clip in, signal out: the model takes the same raw (N, 3, T, H, W) clip in [0, 1] as every video
model and builds both inputs inside ``forward`` with plain tensor ops (sub/add/div/mean/sqrt),
so exports need no preprocessing step of their own:
  motion[t] = (x[t+1] - x[t]) / (x[t+1] + x[t] + 1e-7), divided by its standard deviation over
  the clip, with a zero frame appended so the output keeps T values (the last one sees no motion);
  appearance = the clip standardised over all its pixels.
Frames are then folded into the batch: the network itself is per-frame 2D.

What it is trained on: the motion input is divided by the clip's own spread, so the
network sees how the skin changes, never its level; trained on the EDA level it stays
near chance.  By default its head is therefore a derivative head (``target="derivative"``
in ModelMeta): output t is trained on the level's change from frame t to t+1, and every
consumer integrates it back to the level (``edgeaffect.signal_level``).  ``target="level"``
keeps the old behaviour, for comparison.
"""
from __future__ import annotations

import torch
from torch import nn

from edgeaffect.errors import ModelError
from edgeaffect.meta import Task
from edgeaffect.train.models.common import DEFAULT_FPS, check_signal_args, signal_meta, size2, standardize
from edgeaffect.train.registry import register_model

DENSE_INPUTS = {36: 3136, 72: 16384, 96: 30976}


def _convs(c1: int, c2: int) -> nn.ModuleList:
    # 3x3 convs, alternately padded ("same") and unpadded ("valid"), as in the original network.
    return nn.ModuleList([nn.Conv2d(3, c1, 3, padding=1), nn.Conv2d(c1, c1, 3),
                          nn.Conv2d(c1, c2, 3, padding=1), nn.Conv2d(c2, c2, 3)])


def attention_mask(g: torch.Tensor) -> torch.Tensor:
    """Scale a sigmoid mask so it averages 0.5 over the image."""
    h, w = g.shape[2], g.shape[3]
    return g / g.sum(dim=(2, 3), keepdim=True) * (h * w * 0.5)


def motion_and_appearance(clip: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 3, T, H, W) raw clip -> normalised differences and standardised frames, same shape."""
    a, b = clip[:, :, 1:], clip[:, :, :-1]
    diff = (a - b) / (a + b + 1e-7)
    dims = (1, 2, 3, 4)
    centred = diff - diff.mean(dim=dims, keepdim=True)
    scale = torch.sqrt((centred * centred).mean(dim=dims, keepdim=True) + 1e-12)
    diff = torch.cat([diff / scale, torch.zeros_like(clip[:, :, :1])], dim=2)
    return diff, standardize(clip, dims)


def _frames(x: torch.Tensor) -> torch.Tensor:
    """(N, C, T, H, W) -> (N*T, C, H, W)."""
    return x.transpose(1, 2).flatten(0, 1)


class DeepPhys(nn.Module):
    def __init__(self, side: int = 72, filters=(32, 64), dense: int = 128, dropout=(0.25, 0.5)) -> None:
        super().__init__()
        if side not in DENSE_INPUTS:
            raise ModelError(f"deepphys takes {sorted(DENSE_INPUTS)} pixel frames, not {side}", "use input_size=72")
        c1, c2 = filters
        self.motion = _convs(c1, c2)
        self.appearance = _convs(c1, c2)
        self.att1 = nn.Conv2d(c1, 1, 1)
        self.att2 = nn.Conv2d(c2, 1, 1)
        self.pool = nn.AvgPool2d(2)
        self.drop = nn.Dropout(dropout[0])
        self.dense1 = nn.Linear(DENSE_INPUTS[side], dense)
        self.drop_dense = nn.Dropout(dropout[1])
        self.dense2 = nn.Linear(dense, 1)

    def forward(self, clip: torch.Tensor) -> tuple[torch.Tensor]:
        diff, raw = motion_and_appearance(clip)
        d, r = _frames(diff), _frames(raw)
        m, a = self.motion, self.appearance
        d = torch.tanh(m[1](torch.tanh(m[0](d))))
        r = torch.tanh(a[1](torch.tanh(a[0](r))))
        d = self.drop(self.pool(d * attention_mask(torch.sigmoid(self.att1(r)))))
        r = self.drop(self.pool(r))
        d = torch.tanh(m[3](torch.tanh(m[2](d))))
        r = torch.tanh(a[3](torch.tanh(a[2](r))))
        d = self.drop(self.pool(d * attention_mask(torch.sigmoid(self.att2(r)))))
        y = self.dense2(self.drop_dense(torch.tanh(self.dense1(d.flatten(1)))))
        return (y.reshape(clip.shape[0], clip.shape[2]),)


@register_model(
    "deepphys",
    family="deepphys",
    description="DeepPhys motion/appearance attention CNN, 72x72 frames -> EDA change per frame, "
                "integrated to the level (2.2 M params)",
    task=Task.SIGNAL,
    default_input=(3, 128, 72, 72),
)
def build(*, num_classes=None, in_chans=None, input_size=None, frames=None, pretrained=False, fps: float = DEFAULT_FPS,
          target: str = "derivative"):
    check_signal_args("deepphys", num_classes=num_classes, in_chans=in_chans, pretrained=pretrained)
    size = size2(input_size, (72, 72))
    if size[0] != size[1]:
        raise ModelError(f"deepphys takes square frames, not {size}", "use input_size=72")
    t = 128 if frames is None else int(frames)
    if t < 2:
        raise ModelError("deepphys needs at least 2 frames (it looks at frame differences)", "use frames >= 2")
    model = DeepPhys(size[0])
    model.meta = signal_meta(input_size=size, frames=t, fps=float(fps), target=target)
    return model
