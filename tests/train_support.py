"""A tiny CNN registered in the real model registry, for tests that need a trained run in seconds."""
from __future__ import annotations

from torch import nn

from edgeaffect.meta import Head, HeadKind, ModelMeta, Task
from edgeaffect.train.registry import register_model

TINY = "tiny_test_cnn"


class TinyCNN(nn.Module):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 16, 3, 2, 1), nn.ReLU())
        self.drop = nn.Dropout(0.2)  # randomness that resume must reproduce
        self.fc = nn.Linear(16, n)

    def features(self, x):
        return self.body(x).mean(dim=(2, 3))

    def forward(self, x):
        return (self.fc(self.drop(self.features(x))),)

    def forward_with_aux(self, x):
        f = self.features(x)
        return (self.fc(self.drop(f)),), f.pow(2).mean()


@register_model(TINY, family="test", description="tiny test CNN", task=Task.CLASSIFICATION, default_input=(3, 32, 32))
def _build(*, num_classes=None, in_chans=None, input_size=None, frames=None, pretrained=False):
    n = num_classes or 8
    model = TinyCNN(n)
    model.meta = ModelMeta(model="", task=Task.CLASSIFICATION, input_size=(32, 32), color="rgb",
                           heads=(Head("emotion", HeadKind.LOGITS, n),), labels=tuple(f"c{i}" for i in range(n)),
                           mean=(0.5,), std=(0.25,))
    return model
