"""BiLSTM with attention over aligned EEG + face feature windows -> class logits.

Input (N, steps, features): per window, ``steps`` time steps of the concatenated, per-feature
standardised EEG and face features (the tabular reader aligns them).  ``meta.input_size``
holds (steps, features) for this TABULAR model, not (height, width); ``meta.color`` is gray
(one "channel") and mean/std are identity, as standardisation belongs to the data side.

A 2-layer bidirectional LSTM (hidden 64 per direction, dropout between layers) encodes the
steps; additive attention (tanh projection, one score per step, softmax over steps) pools them
into one context vector; dropout + a linear layer give the logits.
"""
from __future__ import annotations

import torch
from torch import nn

from edgeaffect.errors import ModelError
from edgeaffect.meta import Color, Head, HeadKind, ModelMeta, Task
from edgeaffect.train.models.common import default_labels
from edgeaffect.train.registry import register_model

DEFAULT_STEPS, DEFAULT_FEATURES = 8, 64


class BiLSTMAttention(nn.Module):
    def __init__(self, features: int, num_classes: int, hidden: int = 64, layers: int = 2, dropout: float = 0.3) -> None:
        super().__init__()
        self.lstm = nn.LSTM(features, hidden, num_layers=layers, batch_first=True, bidirectional=True,
                            dropout=dropout if layers > 1 else 0.0)
        self.score = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.Tanh(), nn.Linear(hidden, 1, bias=False))
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(2 * hidden, num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        h, _ = self.lstm(x)  # (N, steps, 2*hidden)
        weights = torch.softmax(self.score(h), dim=1)  # (N, steps, 1)
        context = (weights * h).sum(dim=1)
        return (self.fc(self.drop(context)),)


@register_model(
    "bilstm_attention",
    family="bilstm",
    description="BiLSTM + attention over EEG + face feature windows (N, steps, features) -> classes",
    task=Task.TABULAR,
    default_input=(DEFAULT_STEPS, DEFAULT_FEATURES),
)
def build(*, num_classes=None, in_chans=None, input_size=None, frames=None, pretrained=False,
          hidden: int = 64, layers: int = 2, dropout: float = 0.3):
    """``input_size=(steps, features)``; default (8, 64).  ``num_classes`` defaults to 2."""
    if in_chans is not None or frames is not None or pretrained:
        raise ModelError("bilstm_attention takes feature windows only",
                         "leave in_chans/frames/pretrained unset; give input_size=(steps, features)")
    steps, features = (DEFAULT_STEPS, DEFAULT_FEATURES) if input_size is None else (int(v) for v in input_size)
    n = 2 if num_classes is None else int(num_classes)
    model = BiLSTMAttention(features, n, hidden=int(hidden), layers=int(layers), dropout=float(dropout))
    model.meta = ModelMeta(
        model="", task=Task.TABULAR, input_size=(steps, features), color=Color.GRAY,
        heads=(Head("logits", HeadKind.LOGITS, n),), labels=default_labels(n),
        info={"input_layout": "(N, steps, features)"},
    )
    return model
