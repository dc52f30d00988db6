"""Image training data held decoded in memory and augmented a batch at a time.

Why: a small model on 48-64 px faces trains at 100+ images/s on two CPU cores, and
then decoding a PNG and running a per-image torchvision pipeline in Python costs as
much as the training step.  FER+ decoded at 64x64 gray is ~100 MB of uint8, so each
split is decoded ONCE through the shared preprocessing (``to_color`` + ``resize_to``
per ModelMeta, the same calls ``prepare_image`` makes) and kept as a uint8 tensor.

Augmentation then runs on the whole batch with kornia, which draws parameters per
sample (torchvision's v2 transforms draw one set per call, so a batch would share
one warp).  Its random numbers come from torch's generator, which the engine seeds
per (seed, epoch): a resumed run sees the same augmented batches.  With
augmentation off an item equals ``prepare_image`` of the record.

The DataLoader fetches a batch with one ``__getitems__`` call (torch's batched
fetch), so no per-sample Python work runs in the training loop.
"""
from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from edgeaffect.errors import ConfigError, DataError
from edgeaffect.meta import ModelMeta
from edgeaffect.preprocess import resize_to, to_color

log = logging.getLogger(__name__)


# The blend factor range of ``sharpness`` (0 blurs with a 3x3 box-like kernel, 1 is the face, above 1
# sharpens).  Why up to 4: a FER+ face enlarged 48 -> 64 px keeps 3 % of its spectral power between 12
# and 24 cycles per face and 0.2 % above 24; run's 64 px crops of a real webcam clip keep 6 % and 1.7 %,
# of a real photo 10 % and 2.9 %, which factors 2-4 (and beyond) reproduce on FER+ faces.  A network
# that never saw that detail loses 2-6 pt of valid UAR when shown it (issue 19, session 14 notes).
SHARPNESS_RANGE = (0.0, 4.0)
BLUR_SIGMA = (0.5, 1.5)  # a soft webcam or a face out of focus


def build_batch_augment(options: dict[str, Any]) -> torch.nn.Module:
    """kornia augmentation of a float NCHW batch in [0, 1], from AugmentConfig fields plus three more.

    ``erasing`` is the probability of blanking one random rectangle (2-25 % of the face, the
    random-erasing defaults), which makes the model use more than one facial region.
    ``sharpness`` is the probability of changing a face's fine detail (``SHARPNESS_RANGE``) and ``blur``
    that of a Gaussian blur (``BLUR_SIGMA``): camera faces cut to the input are sharper than enlarged
    48 px training faces, or softer, and a network trained on one spectrum misreads the others.
    """
    from edgeaffect._optional import require
    from edgeaffect.data.augment import AugmentConfig

    K = require("kornia.augmentation", "train", purpose="batch augmentation")
    opts = dict(options)
    chance = {name: float(opts.pop(name, 0.0)) for name in ("erasing", "sharpness", "blur")}
    for name, value in chance.items():
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"augmentation {name}={value} must be a probability in [0, 1]", "e.g. 0.25")
    erasing = chance["erasing"]
    c = AugmentConfig(**opts)
    steps: list[torch.nn.Module] = []
    if c.rotation or c.zoom or c.shift:  # one warp, not three resamplings
        steps.append(K.RandomAffine(degrees=c.rotation, translate=(c.shift, c.shift) if c.shift else None,
                                    scale=(1.0 - c.zoom, 1.0 + c.zoom) if c.zoom else None,
                                    padding_mode="border", p=1.0))
    if c.flip:
        steps.append(K.RandomHorizontalFlip(p=0.5))
    if c.brightness or c.contrast:
        steps.append(K.ColorJitter(brightness=c.brightness, contrast=c.contrast, p=1.0))
    if chance["sharpness"]:
        steps.append(K.RandomSharpness(sharpness=SHARPNESS_RANGE, p=chance["sharpness"]))
    if chance["blur"]:
        steps.append(K.RandomGaussianBlur((7, 7), BLUR_SIGMA, p=chance["blur"]))
    if erasing:
        steps.append(K.RandomErasing(scale=(0.02, 0.25), ratio=(0.3, 3.3), value=0.0, p=erasing))
    return torch.nn.Sequential(*steps)


class MemoryImageDataset(Dataset):
    """Face images decoded once -> batches {"x", "label", "target", "valence", "arousal", "dropped"}."""

    def __init__(self, records: Sequence[Any], meta: ModelMeta, *, num_classes: int,
                 augment: torch.nn.Module | None = None) -> None:
        self.meta, self.augment = meta, augment
        h, w = meta.input_size
        chans = 1 if meta.color.value == "gray" else 3
        pixels = np.empty((len(records), h, w, chans), dtype=np.uint8)
        keep: list[int] = []
        for i, rec in enumerate(records):
            try:
                img = resize_to(to_color(rec.read_image(), meta.color), meta.input_size, meta.interpolation)
            except (DataError, ValueError) as exc:
                log.debug("skipping %s: %s", rec.key, exc)
                continue
            pixels[len(keep)] = img.reshape(h, w, chans)
            keep.append(i)
        self.dropped = len(records) - len(keep)
        if self.dropped:
            log.warning("%d of %d images could not be decoded and are left out", self.dropped, len(records))
        kept = [records[i] for i in keep]
        self.pixels = torch.from_numpy(pixels[: len(keep)]).permute(0, 3, 1, 2).contiguous()  # N,C,H,W uint8
        self.labels = torch.tensor([-100 if r.label is None else int(r.label) for r in kept], dtype=torch.long)
        eye = np.eye(max(num_classes, 1), dtype=np.float32)
        self.targets = torch.from_numpy(np.stack([
            np.asarray(r.target, np.float32) if r.target is not None
            else (eye[r.label] if r.label is not None and 0 <= r.label < num_classes else np.zeros(len(eye), np.float32))
            for r in kept]) if kept else np.zeros((0, len(eye)), np.float32))
        nan = float("nan")
        self.valence = torch.tensor([nan if r.valence is None else float(r.valence) for r in kept])
        self.arousal = torch.tensor([nan if r.arousal is None else float(r.arousal) for r in kept])
        self.mean = torch.tensor(meta.mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(meta.std, dtype=torch.float32).view(1, -1, 1, 1)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitems__(self, indices: Sequence[int]) -> dict[str, Any]:
        idx = torch.as_tensor(list(indices), dtype=torch.long)
        x = self.pixels[idx].float().mul_(1.0 / 255.0)
        if self.augment is not None and len(idx):
            x = self.augment(x).clamp_(0.0, 1.0)
        x = (x - self.mean) / self.std
        return {"x": x, "label": self.labels[idx], "target": self.targets[idx],
                "valence": self.valence[idx], "arousal": self.arousal[idx], "dropped": 0}

    def __getitem__(self, i: int) -> dict[str, Any]:
        batch = self.__getitems__([i])
        return {k: (v[0] if isinstance(v, torch.Tensor) else v) for k, v in batch.items() if k != "dropped"}

    @staticmethod
    def collate(batch: dict[str, Any]) -> dict[str, Any]:
        """The batch ``__getitems__`` made is already collated."""
        return batch
