"""Training augmentation: shapes, dtype, ranges, identity and reproducibility on real torchvision v2 transforms."""
from __future__ import annotations

import pytest

from edgeaffect.data.augment import NO_AUGMENT, AugmentConfig, build_augment
from edgeaffect.errors import ConfigError

torch = pytest.importorskip("torch")


def crop(channels: int) -> "torch.Tensor":
    g = torch.Generator().manual_seed(channels)
    x = torch.zeros(channels, 48, 48, dtype=torch.uint8)
    x[:, 12:36, 8:20] = torch.randint(100, 255, (channels, 24, 12), generator=g, dtype=torch.uint8)
    return x


@pytest.mark.parametrize("channels", [1, 3])
def test_augment_keeps_shape_and_dtype(channels):
    x = crop(channels)
    for config in (AugmentConfig(), AugmentConfig(saturation=0.2, hue=0.05)):
        y = build_augment(config)(x)
        assert y.shape == x.shape and y.dtype == torch.uint8
    assert torch.equal(build_augment(NO_AUGMENT)(x), x) and NO_AUGMENT.is_identity


def test_augment_is_random_but_seeded():
    x, aug = crop(3), build_augment(AugmentConfig())
    torch.manual_seed(0)
    a = [aug(x) for _ in range(4)]
    torch.manual_seed(0)
    b = [aug(x) for _ in range(4)]
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    assert not torch.equal(a[0], a[1])


def test_flip_only_mirrors():
    x = crop(1)
    aug = build_augment(AugmentConfig(rotation=0, zoom=0, shift=0, brightness=0, contrast=0, flip=True))
    outs = [aug(x) for _ in range(20)]
    assert all(torch.equal(o, x) or torch.equal(o, x.flip(-1)) for o in outs)
    assert any(torch.equal(o, x.flip(-1)) for o in outs)


def test_brightness_stays_within_range():
    x = torch.full((1, 16, 16), 100, dtype=torch.uint8)
    aug = build_augment(AugmentConfig(rotation=0, zoom=0, shift=0, flip=False, contrast=0, brightness=0.1))
    values = torch.stack([aug(x) for _ in range(30)]).float()
    assert values.min() >= 90 and values.max() <= 110 and values.std() > 0


@pytest.mark.parametrize("kwargs", [dict(rotation=-1), dict(zoom=1.5), dict(hue=0.7)])
def test_bad_config(kwargs):
    with pytest.raises(ConfigError):
        AugmentConfig(**kwargs)
