"""The fast CPU training path: FER+ votes as soft targets, in-memory batches, per-sample batch augmentation,
the per-batch one-cycle schedule, ResNet-18 widths, and the framing a FER+ model carries."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("kornia")

from edgeaffect.data import open_dataset  # noqa: E402
from edgeaffect.errors import ConfigError, DataError  # noqa: E402
from edgeaffect.preprocess import prepare_image  # noqa: E402
from edgeaffect.train.config import TrainConfig  # noqa: E402
from edgeaffect.train.memory_data import MemoryImageDataset, build_batch_augment  # noqa: E402
from edgeaffect.train.registry import create_model  # noqa: E402
from test_data_images import write_ferplus  # noqa: E402


def test_ferplus_votes_keep_majority_labels_with_vote_targets(tmp_path):
    root = write_ferplus(tmp_path / "fp")
    plain, voted = open_dataset(root), open_dataset(root, votes=True)
    for split in ("train", "valid", "test"):  # same images, same labels: only the target differs
        assert [(r.key, r.label) for r in plain.split(split)] == [(r.key, r.label) for r in voted.split(split)]
    rec = {r.key.split("/")[-1]: r for r in voted.split("train")}["fer0000009.png"]
    assert rec.label == 1 and np.allclose(rec.target[[1, 2]], [0.6, 0.4]) and rec.target.sum() == pytest.approx(1.0)
    assert voted.info["target"] == "distribution" and voted.info["framing"]["scale"] == 1.0
    with pytest.raises(ConfigError, match="majority"):
        open_dataset(root, mode="crossentropy", votes=True)


def test_ferplus_ambiguous_faces_train_in_splits_of_their_own(tmp_path):
    root = write_ferplus(tmp_path / "fp")
    voted, kept = open_dataset(root, votes=True), open_dataset(root, votes=True, ambiguous=True)
    for split in ("train", "valid", "test"):  # the scored splits do not change
        assert [r.key for r in kept.split(split)] == [r.key for r in voted.split(split)]
    (tie,) = kept.split("train_ambiguous")  # 4 happiness, 4 surprise, 2 unknown: no majority, mostly expression
    assert tie.key.endswith("fer0000002.png") and tie.split == "train_ambiguous" and tie.label == 1
    assert np.allclose(tie.target[[1, 2]], [0.5, 0.5]) and tie.target.sum() == pytest.approx(1.0)
    assert kept.split("valid_ambiguous") == () and kept.split("test_ambiguous") == ()  # 8 unknown of 10: not kept
    assert kept.info["dropped"]["train"] == {"unknown (kept as ambiguous)": 1, "unknown": 1, "not a face": 1}
    assert len(kept.split("train+train_ambiguous")) == len(voted.split("train")) + 1
    with pytest.raises(ConfigError, match="votes=true"):
        open_dataset(root, ambiguous=True)
    with pytest.raises(DataError) as err:  # asked for without the option: the error names it
        voted.split("train+train_ambiguous")
    assert "data.options.ambiguous=true" in err.value.fix


def test_memory_dataset_equals_the_shared_preprocessing(tmp_path):
    index = open_dataset(write_ferplus(tmp_path / "fp"), votes=True)
    meta = create_model("resnet18", input_size=32).meta
    records = index.split("train")  # one of them is a truncated PNG
    data = MemoryImageDataset(records, meta, num_classes=8)
    assert data.dropped == 1 and len(data) == len(records) - 1
    batch = data.__getitems__([0, 1])
    good = [r for r in records if not r.key.endswith("fer0000008.png")]
    for i in range(2):
        assert np.allclose(batch["x"][i].numpy(), prepare_image(good[i].read_image(), meta), atol=1e-6)
    assert batch["x"].shape == (2, 1, 32, 32) and batch["target"].shape == (2, 8)


def test_batch_augment_draws_per_sample_and_repeats_under_a_seed():
    aug = build_batch_augment({"rotation": 10.0, "zoom": 0.1, "shift": 0.1, "flip": True, "brightness": 0.2,
                               "contrast": 0.2, "erasing": 0.5})
    x = torch.rand(1, 1, 32, 32).repeat(6, 1, 1, 1)
    torch.manual_seed(3)
    a = aug(x)
    torch.manual_seed(3)
    b = aug(x)
    assert torch.equal(a, b)  # seeded per epoch by the engine: a resumed run sees the same batches
    assert len({tuple(np.round(s.flatten()[:64].numpy(), 4)) for s in a}) == 6  # one transform per sample
    with pytest.raises(ConfigError):
        build_batch_augment({"erasing": 1.5})


def _detail(x: torch.Tensor) -> float:
    """Share of a batch's power in its finest detail: the 4-neighbour Laplacian's energy over the image's."""
    lap = 4 * x[..., 1:-1, 1:-1] - x[..., :-2, 1:-1] - x[..., 2:, 1:-1] - x[..., 1:-1, :-2] - x[..., 1:-1, 2:]
    return float(lap.pow(2).mean() / (x - x.mean()).pow(2).mean())


def test_detail_augmentation_sharpens_and_blurs_faces_both_ways():
    """sharpness/blur change a face's fine detail per sample, in both directions, and are validated."""
    faces = torch.nn.functional.interpolate(torch.rand(64, 1, 48, 48), size=(64, 64), mode="bilinear")
    base = _detail(faces)
    torch.manual_seed(0)
    sharp = build_batch_augment({"rotation": 0, "zoom": 0, "shift": 0, "flip": False, "brightness": 0,
                                 "contrast": 0, "sharpness": 1.0})(faces)
    per_face = [_detail(sharp[i:i + 1]) / _detail(faces[i:i + 1]) for i in range(len(faces))]
    assert min(per_face) < 0.8 and max(per_face) > 1.5  # factors drawn per face, below and above 1
    assert _detail(sharp) > 1.2 * base  # up to 4: mostly sharper, as camera faces are
    torch.manual_seed(0)
    soft = build_batch_augment({"rotation": 0, "zoom": 0, "shift": 0, "flip": False, "brightness": 0,
                                "contrast": 0, "blur": 1.0})(faces)
    assert _detail(soft) < 0.5 * base
    for bad in ({"sharpness": -0.1}, {"blur": 2}):
        with pytest.raises(ConfigError, match="probability"):
            build_batch_augment(bad)


def test_resnet18_widths_and_native_input():
    slim = create_model("resnet18", channels=[48, 96, 128, 192])
    assert sum(p.numel() for p in slim.parameters()) == 2_203_624
    assert slim.meta.input_size == (64, 64) and slim.meta.color.value == "gray"
    assert slim(torch.zeros(2, 1, 64, 64))[0].shape == (2, 8)
    assert sum(p.numel() for p in create_model("resnet18").parameters()) == 11_174_344


@pytest.mark.parametrize("epochs,steps,warmup", [(1, 5, 0.2), (1, 2, 0.25), (2, 3, 1.0), (1, 10, 0.1), (3, 7, 0.5)])
def test_onecycle_builds_and_steps_on_short_runs(epochs, steps, warmup):
    from edgeaffect.train.builders import build_scheduler

    config = TrainConfig.from_dict({"optim": {"name": "adamw", "lr": 0.01},
                                    "schedule": {"name": "onecycle", "epochs": epochs, "warmup": warmup}})
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))], lr=0.01)
    sched = build_scheduler(opt, config, maximize=True, steps_per_epoch=steps)  # crashed with ZeroDivisionError
    rates = [opt.param_groups[0]["lr"]]
    for _ in range(epochs * steps - 1):
        opt.step()
        sched.step()
        rates.append(opt.param_groups[0]["lr"])
    assert all(np.isfinite(rates)) and max(rates) <= 0.01 + 1e-9 and rates[-1] < max(rates)


def test_onecycle_steps_every_batch():
    from edgeaffect.train.builders import PER_BATCH, build_scheduler

    config = TrainConfig.from_dict({"optim": {"name": "adamw", "lr": 0.01}, "schedule": {"name": "onecycle", "epochs": 2}})
    opt = torch.optim.AdamW(torch.nn.Linear(2, 2).parameters(), lr=0.01)
    sched = build_scheduler(opt, config, maximize=True, steps_per_epoch=5)
    assert config.schedule.name in PER_BATCH
    lrs = []
    for _ in range(10):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    assert max(lrs) == pytest.approx(0.01, rel=0.05) and lrs[-1] < 0.05 * max(lrs)  # warm up to lr, anneal within 10 steps
    assert lrs.index(max(lrs)) in (1, 2)  # the peak comes after warmup (25 % of the steps), not per epoch
