"""SeqCNN: a small per-frame CNN + LSTM predicting one EDA value per frame.

Sizes (chosen for edge devices): four 3x3 conv blocks (16, 32, 64, 64 channels; BatchNorm,
ReLU, 2x2 max pool after each of the first three) and a global mean give 64 features per
frame; a one-layer unidirectional LSTM (hidden 64, causal, so it can run on a stream) and a
linear layer give the value of each frame.  94,033 parameters (``seqcnn``).

``seqcnn_bvp`` also takes the blood-volume-pulse signal, shape (N, T), one sample per frame
(resampled to the video rate by the data side): it is standardised per clip inside ``forward``
and concatenated to the frame features (65 LSTM inputs, 94,289 parameters).
Input clips: raw RGB (N, 3, T, H, W) in [0, 1], standardised per clip inside ``forward``;
default 64 frames of 64x64, any T >= 1 and H, W >= 8.
"""
from __future__ import annotations

import torch
from torch import nn

from edgeaffect.errors import ModelError
from edgeaffect.meta import Task
from edgeaffect.train.models.common import DEFAULT_FPS, check_signal_args, signal_meta, size2, standardize
from edgeaffect.train.registry import register_model

WIDTHS = (16, 32, 64, 64)
HIDDEN = 64


def _frame_encoder() -> nn.Sequential:
    layers: list[nn.Module] = []
    cin = 3
    for i, cout in enumerate(WIDTHS):
        layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
        if i < len(WIDTHS) - 1:
            layers.append(nn.MaxPool2d(2))
        cin = cout
    return nn.Sequential(*layers)


class SeqCNN(nn.Module):
    def __init__(self, with_bvp: bool = False) -> None:
        super().__init__()
        self.with_bvp = with_bvp
        self.encoder = _frame_encoder()
        self.lstm = nn.LSTM(WIDTHS[-1] + int(with_bvp), HIDDEN, batch_first=True)
        self.head = nn.Linear(HIDDEN, 1)

    def forward(self, clip: torch.Tensor, *extra: torch.Tensor) -> tuple[torch.Tensor]:
        n, t = clip.shape[0], clip.shape[2]
        x = standardize(clip, (1, 2, 3, 4)).transpose(1, 2).flatten(0, 1)  # (N*T, 3, H, W)
        feats = self.encoder(x).mean(dim=(2, 3)).reshape(n, t, WIDTHS[-1])
        if self.with_bvp:
            if len(extra) != 1:
                raise ModelError("seqcnn_bvp needs the BVP signal as a second input", "call model(clip, bvp)")
            bvp = standardize(extra[0], (1,)).unsqueeze(-1)
            feats = torch.cat([feats, bvp], dim=2)
        y, _ = self.lstm(feats)
        return (self.head(y).squeeze(-1),)


def _builder(with_bvp: bool):
    def build(*, num_classes=None, in_chans=None, input_size=None, frames=None, pretrained=False, fps: float = DEFAULT_FPS):
        check_signal_args("seqcnn", num_classes=num_classes, in_chans=in_chans, pretrained=pretrained)
        size = size2(input_size, (64, 64))
        if min(size) < 8:
            raise ModelError(f"seqcnn needs frames of at least 8x8, not {size}", "use a larger input_size")
        t = 64 if frames is None else int(frames)
        model = SeqCNN(with_bvp)
        model.meta = signal_meta(input_size=size, frames=t, fps=float(fps), extra_inputs=("bvp",) if with_bvp else ())
        return model

    return build


register_model("seqcnn", family="seqcnn", task=Task.SIGNAL, default_input=(3, 64, 64, 64),
               description="per-frame CNN + LSTM, clips -> EDA per frame (94 k params)")(_builder(False))
register_model("seqcnn_bvp", family="seqcnn", task=Task.SIGNAL, default_input=(3, 64, 64, 64),
               description="per-frame CNN + LSTM with the BVP signal as second input -> EDA per frame")(_builder(True))
