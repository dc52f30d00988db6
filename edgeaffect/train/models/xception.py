"""Xception expression classifier on timm's ``legacy_xception``.

Entry flow, 8 middle-flow blocks, exit flow, global average pooling and one dense layer:
20,823,344 parameters for 8 classes.  Default input 224x224 RGB scaled to [-1, 1]
(mean = std = 0.5, the statistics of the ImageNet Xception weights); grayscale faces (FER) are
replicated to RGB by the preprocessing.  ``in_chans=1`` builds a gray model instead
(20,822,768 parameters: the first conv shrinks).
"""
from __future__ import annotations


from edgeaffect.errors import ModelError
from edgeaffect.meta import Task
from edgeaffect.train.models.common import SingleHead, classifier_meta, color_for, size2, timm_backbone
from edgeaffect.train.registry import register_model

ARCH = "legacy_xception"
MEAN = STD = (0.5, 0.5, 0.5)


@register_model(
    "xception",
    family="xception",
    description="Xception (timm legacy_xception), 224x224 RGB (20.8 M params)",
    task=Task.CLASSIFICATION,
    default_input=(3, 224, 224),
)
def build(*, num_classes=None, in_chans=None, input_size=None, frames=None, pretrained=False,
          pretrained_file=None, drop_rate: float = 0.0):
    if frames is not None:
        raise ModelError("xception is an image model", "leave frames unset")
    chans, _ = color_for(in_chans)
    n = 8 if num_classes is None else int(num_classes)
    size = size2(input_size, (224, 224))
    if min(size) < 71:  # the entry flow's valid convs and four stride-2 stages need this much
        raise ModelError(f"xception needs inputs of at least 71x71, not {size}", "use a larger input_size")
    net = timm_backbone(ARCH, pretrained=pretrained, pretrained_file=pretrained_file,
                        num_classes=n, in_chans=chans, drop_rate=drop_rate)
    model = SingleHead(net)
    model.meta = classifier_meta(num_classes=n, chans=chans, input_size=size, mean=MEAN, std=STD, backbone=ARCH)
    return model
