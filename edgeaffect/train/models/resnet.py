"""Compact expression classifiers on timm ResNets, sized for native FER-resolution faces.

``resnet18``: timm's ResNet-18 (ImageNet layout: 7x7 stride-2 stem, max-pool, four stages,
global average pooling, one linear layer) with ``in_chans`` input channels and any input
side of at least 32 px.  The default is 64x64 gray: FER2013/FER+ faces are 48x48 gray, so
an RGB 112-224 px input only spends compute re-learning an upsampled copy of them (the
resize study shows nothing is lost at 48-64 px).  11,174,344 parameters for 8 classes gray
(11,180,616 RGB), 0.15 GMACs at 64x64.  ``channels`` sets the four stages' widths (timm's
``channels``): the shipped default uses (48, 96, 128, 192), 2,203,624 parameters, because most
of ResNet-18's weights sit in its 256/512-wide last stages, where a 64 px face has 4x4 and 2x2
maps left, and the package ships the model within 10 MB.  ``output_stride`` (timm's: 32, 16 or 8) keeps the
last stages at a larger map by dilating instead of striding: 16 leaves a 64 px face 4x4 in the last stage
instead of 2x2, for the same parameters at ~1.2x the inference cost.  Dropout before the classifier is an option; ``adjust``
(``meta.LogitAdjust``) builds a prior correction and mirror averaging into the graph.
Inputs are scaled to [-1, 1] (mean = std = 0.5); these models are trained from scratch.
"""
from __future__ import annotations


from edgeaffect.errors import ModelError
from edgeaffect.meta import LogitAdjust, Task
from edgeaffect.train.models.common import SingleHead, classifier_meta, color_for, size2, timm_backbone
from edgeaffect.train.registry import register_model

MEAN = STD = (0.5, 0.5, 0.5)
MIN_SIDE = 32  # five stride-2 steps leave a 1x1 map at 32 px


def _builder(arch: str, default_side: int):
    def build(*, num_classes=None, in_chans=1, input_size=None, frames=None, pretrained=False,
              pretrained_file=None, drop_rate: float = 0.0, channels=None, output_stride: int = 32, adjust=None):
        if frames is not None:
            raise ModelError(f"{arch} is an image model", "leave frames unset")
        chans, _ = color_for(in_chans)
        n = 8 if num_classes is None else int(num_classes)
        size = size2(input_size, (default_side, default_side))
        if min(size) < MIN_SIDE:
            raise ModelError(f"{arch} needs inputs of at least {MIN_SIDE}x{MIN_SIDE}, not {size}",
                             f"use input_size >= {MIN_SIDE}")
        extra = {} if channels is None else {"channels": tuple(int(c) for c in channels)}
        if output_stride not in (8, 16, 32):
            raise ModelError(f"output_stride must be 8, 16 or 32, not {output_stride}", "use 32 (timm's default) or 16")
        if output_stride != 32:  # timm's default left out, so a checkpoint's build arguments stay as before
            extra["output_stride"] = int(output_stride)
        net = timm_backbone(arch, pretrained=pretrained, pretrained_file=pretrained_file,
                            num_classes=n, in_chans=chans, drop_rate=drop_rate, **extra)
        adjust = LogitAdjust(**adjust) if isinstance(adjust, dict) else adjust
        if adjust is not None and adjust.prior and len(adjust.prior) != n:
            raise ModelError(f"the logit adjustment's prior has {len(adjust.prior)} classes, the model {n}",
                             "give one prior value per class")
        model = SingleHead(net, adjust)
        model.meta = classifier_meta(num_classes=n, chans=chans, input_size=size, mean=MEAN, std=STD, backbone=arch)
        if adjust is not None:
            model.meta = model.meta.evolve(adjust=adjust)
        return model

    return build


register_model("resnet18", family="resnet", task=Task.CLASSIFICATION, default_input=(1, 64, 64),
               description="ResNet-18 (timm), 64x64 gray: the compact FER-resolution classifier (11.2 M params; widths are an option)",
               )(_builder("resnet18", 64))
