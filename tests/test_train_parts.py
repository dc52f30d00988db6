"""Training building blocks: config precedence, recipes, the shared preprocessing in the datasets,
skip-and-count of broken files, epoch sampling, losses and metric naming."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from edgeaffect.errors import ConfigError
from edgeaffect.meta import Head, HeadKind, ModelMeta, Task


def test_precedence_defaults_recipe_overrides_and_aliases():
    from edgeaffect.train.config import Optimizer, Schedule, TrainConfig
    from edgeaffect.train.recipes import resolve_config

    default = TrainConfig()
    cfg = resolve_config("ddamfn-ferplus", ["epochs=2", "optim.lr=0.001", "batch=16", "limit_train=512",
                                            "data=/x/ferplus", "model.options.num_heads=4"])
    assert default.optim.lr == 0.01 and default.schedule.name is Schedule.NONE
    assert cfg.schedule.name is Schedule.STEP and cfg.optim.name is Optimizer.SGD and cfg.loss.aux_weight == 0.1
    assert (cfg.schedule.epochs, cfg.optim.lr, cfg.optim.batch, cfg.data.limit_train) == (2, 0.001, 16, 512)
    assert cfg.data.path == "/x/ferplus" and cfg.data.options == {"mode": "majority"}
    assert cfg.model.options == {"num_heads": 4} and cfg.optim.momentum == 0.9 and cfg.recipe == "ddamfn-ferplus"
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg  # what config.yaml stores reads back the same


def test_bad_keys_and_values_raise_config_errors_with_a_suggestion():
    from edgeaffect.train.recipes import resolve_config

    with pytest.raises(ConfigError, match="did you mean 'schedule.epochs'"):
        resolve_config(None, ["schedule.epoch=3"])
    with pytest.raises(ConfigError, match="optim.name"):
        resolve_config(None, ["optim.name=lion"])
    with pytest.raises(ConfigError, match="did you mean 'ddamfn-ferplus'"):
        resolve_config("ddamfn-ferplu")
    with pytest.raises(ConfigError, match="key=value"):
        resolve_config(None, ["epochs"])


def test_every_recipe_resolves_and_names_a_registered_model():
    from edgeaffect.train.recipes import list_recipes, resolve_config
    from edgeaffect.train.registry import list_models

    models = {m.name for m in list_models()}
    recipes = list_recipes()
    for needed in ("ddamfn-ferplus", "xception-fer", "mtl-resnet50-affect", "mtl-efficientnet-b1-affect", "physnet-ubfc",
                   "deepphys-ubfc", "seqcnn-ubfc", "seqcnn-bvp-ubfc", "bilstm-fusion", "ddamfn-synthetic",
                   "physnet-synthetic", "seqcnn-bvp-synthetic", "mtl-synthetic", "deepphys-synthetic"):
        assert needed in recipes
    for name in recipes:
        cfg = resolve_config(name)
        assert cfg.model.name in models, name
        assert bool(cfg.data.synthetic) == name.endswith("-synthetic"), name


def _meta(color="rgb") -> ModelMeta:
    return ModelMeta(model="t", task=Task.CLASSIFICATION, input_size=(40, 40), color=color,
                     heads=(Head("emotion", HeadKind.LOGITS, 3),), labels=("a", "b", "c"),
                     mean=(0.485, 0.456, 0.406) if color == "rgb" else (0.5,), std=(0.229, 0.224, 0.225) if color == "rgb" else (0.2,))


def _write_faces(tmp_path, n=4, broken=1):
    import cv2

    from edgeaffect.data.base import Record

    rng = np.random.default_rng(0)
    records = []
    for i in range(n):
        path = tmp_path / f"{i}.png"
        cv2.imwrite(str(path), rng.integers(0, 255, (48, 56, 3), dtype=np.uint8))
        records.append(Record(key=str(i), split="train", path=path, label=i % 3))
    for j in range(broken):
        path = tmp_path / f"broken{j}.png"
        path.write_bytes(b"not a png at all")
        records.append(Record(key=f"broken{j}", split="train", path=path, label=0))
    return records


@pytest.mark.parametrize("color", ["rgb", "gray"])
def test_dataset_items_equal_prepare_image_without_augmentation(tmp_path, color):
    from edgeaffect.preprocess import prepare_image
    from edgeaffect.train.torch_data import ImageDataset

    records = _write_faces(tmp_path, broken=0)
    ds = ImageDataset(records, _meta(color), num_classes=3)
    for i, rec in enumerate(records):
        item = ds[i]
        np.testing.assert_array_equal(item["x"].numpy(), prepare_image(rec.read_image(), _meta(color)))
        assert int(item["label"]) == rec.label and item["target"].argmax() == rec.label


def test_augmented_items_keep_the_shape_and_normalisation(tmp_path):
    from edgeaffect.data.augment import AugmentConfig, build_augment
    from edgeaffect.train.torch_data import ImageDataset

    records = _write_faces(tmp_path, broken=0)
    plain = ImageDataset(records, _meta(), num_classes=3)
    aug = ImageDataset(records, _meta(), num_classes=3, augment=build_augment(AugmentConfig()))
    torch.manual_seed(0)
    a, p = aug[0]["x"], plain[0]["x"]
    assert a.shape == p.shape == (3, 40, 40) and not torch.equal(a, p)
    lo = (0 - np.array(_meta().mean)) / np.array(_meta().std)
    assert (a.amin(dim=(1, 2)).numpy() >= lo - 1e-5).all()  # pixels normalised with the meta mean/std


def test_broken_files_are_skipped_and_counted_not_fatal(tmp_path):
    from edgeaffect.train.torch_data import ImageDataset, collate

    records = _write_faces(tmp_path, n=3, broken=2)
    ds = ImageDataset(records, _meta(), num_classes=3)
    loader = torch.utils.data.DataLoader(ds, batch_size=5, collate_fn=collate)
    batch = next(iter(loader))
    assert batch["dropped"] == 2 and batch["x"].shape == (3, 3, 40, 40)
    all_bad = collate([None, None])
    assert all_bad["dropped"] == 2 and "x" not in all_bad


def test_epoch_sampler_is_seeded_by_epoch_and_shards_cover_everything():
    from edgeaffect.train.torch_data import EpochSampler

    s = EpochSampler(10, seed=3)
    s.set_epoch(1)
    e1 = list(s)
    s.set_epoch(2)
    assert list(s) != e1 and sorted(e1) == list(range(10))
    s.set_epoch(1)
    assert list(s) == e1
    shards = [EpochSampler(10, seed=3, rank=r, world=3) for r in range(3)]
    for sh in shards:
        sh.set_epoch(1)
    assert all(len(list(sh)) == 4 for sh in shards) and set().union(*map(set, shards)) == set(range(10))
    evals = [list(EpochSampler(10, seed=0, shuffle=False, rank=r, world=3, pad=False)) for r in range(3)]
    assert sorted(sum(evals, [])) == list(range(10))
    w = EpochSampler(100, seed=0, weights=np.r_[np.zeros(50), np.ones(50)])
    assert min(w) >= 50  # zero-weight samples are never drawn


def test_losses():
    from edgeaffect.train.config import LossConfig
    from edgeaffect.train.losses import MultiTaskLoss, cross_entropy, masked_mse, neg_pearson, soft_cross_entropy

    t = torch.randn(4, 16)
    assert neg_pearson(t, t).abs() < 1e-5 and (neg_pearson(-t, t) - 2).abs() < 1e-5
    assert neg_pearson(3 * t + 1, t).abs() < 1e-5  # scale/offset free
    logits, labels = torch.randn(5, 3), torch.tensor([0, 1, 2, 1, 0])
    onehot = torch.nn.functional.one_hot(labels, 3).float()
    assert torch.allclose(soft_cross_entropy(logits, onehot), cross_entropy(logits, labels))
    assert masked_mse(torch.tensor([1.0, 5.0]), torch.tensor([0.0, float("nan")])) == 1.0
    meta = ModelMeta(model="m", task=Task.MULTITASK, input_size=(8, 8), color="rgb", labels=("a", "b", "c"),
                     heads=(Head("emotion", "logits", 3), Head("valence", "regression", 1), Head("arousal", "regression", 1)))
    loss = MultiTaskLoss(meta, LossConfig(task_weights={"valence": 0.0, "arousal": 2.0}))
    batch = {"label": labels, "valence": torch.full((5,), float("nan")), "arousal": torch.zeros(5)}
    total, parts = loss((logits, torch.ones(5, 1), torch.ones(5, 1)), batch)
    assert parts["valence"] == 0.0 and parts["arousal"] == 1.0
    assert torch.isclose(total, cross_entropy(logits, labels) + 2.0)
    with pytest.raises(ConfigError, match="valance"):
        MultiTaskLoss(meta, LossConfig(task_weights={"valance": 1.0}))


def test_scoring_names_and_trace_pearson():
    from edgeaffect.train.scoring import lower_is_better, score

    meta = ModelMeta(model="p", task=Task.SIGNAL, input_size=(8, 8), color="rgb", heads=(Head("eda", "signal", 4),))
    truth = np.arange(12, dtype=np.float32).reshape(3, 4)
    pred = truth * 2
    pred[0] = pred[0][::-1]  # window 0 reversed: per-window r = -1 there, traces still mostly agree
    flat, _ = score(meta, {"eda": pred}, {"signal": truth, "video": np.array([1.0, 0, 0]), "start": np.array([0.0, 0, 4]),
                                          "subject": np.zeros(3, np.float32)})
    assert flat["eda_pearson"] == pytest.approx(1 / 3) and flat["eda_mse"] > 0
    assert flat["eda_trace_pearson"] == pytest.approx(0.0)  # video 1 (one reversed window) r=-1, video 0 r=+1
    assert flat["eda_session_pearson"] > 0.9
    assert lower_is_better("eda_mse") and lower_is_better("loss") and not lower_is_better("accuracy")


@pytest.mark.parametrize("name", ["physnet", "seqcnn_bvp"])
def test_gradcam_maps_video_models_over_time_and_per_frame(name):
    from edgeaffect.train.gradcam import grad_cam
    from edgeaffect.train.registry import create_model

    torch.manual_seed(0)
    model = create_model(name, frames=8, input_size=16)
    x = torch.rand(1, 3, 8, 16, 16)
    extra = [torch.randn(1, 8)] if model.meta.extra_inputs else []
    mean = grad_cam(model, model.meta, x, *extra)
    frames = grad_cam(model, model.meta, x, *extra, per_frame=True)
    assert mean.cam.shape == (16, 16) and 0 <= mean.cam.min() and mean.cam.max() <= 1
    assert frames.cam.shape[1:] == (16, 16) and frames.cam.shape[0] >= 2 and mean.target == "eda mean"
    # PhysNet's last conv is a per-frame 1x1x1 one after spatial pooling: explain the last 2-D map instead.
    assert mean.map_size == (2, 2) and frames.map_size == (2, 2)


def test_gradcam_of_ddamfn_explains_the_trunk_map_not_its_pooled_or_row_column_layers():
    from edgeaffect.train.gradcam import grad_cam
    from edgeaffect.train.registry import create_model

    torch.manual_seed(0)
    model = create_model("ddamfn")
    # The last convs DDAMFN runs are its 7x7 GDConv (a 1x1 output: a constant map) and the attention
    # heads' row/column convs (7x1 and 1x7: stripes); the map must come from the 7x7 trunk output.
    result = grad_cam(model, model.meta, torch.rand(1, 3, 112, 112))
    assert result.cam.shape == (112, 112) and result.target in model.meta.labels and result.map_size == (7, 7)
    assert result.cam.std(axis=0).max() > 1e-3 and result.cam.std(axis=1).max() > 1e-3  # neither flat nor striped


def test_bn_recalibration_replaces_lagging_running_statistics():
    import torch

    from edgeaffect.meta import ModelMeta
    from edgeaffect.train import distributed as dist
    from edgeaffect.train.loop import recalibrate_bn

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bn = torch.nn.BatchNorm2d(3)

        def forward(self, x):
            return (self.bn(x).mean((2, 3)),)

    gen = torch.Generator().manual_seed(0)
    batches = [{"x": torch.randn(4, 3, 5, 5, generator=gen) * 3 + 7, "y": torch.zeros(4)} for _ in range(5)]
    batches.insert(1, {"dropped": 4})  # a batch whose every sample failed to decode is passed over
    net = Net().eval()
    env = dist.Env(device=torch.device("cpu"), precision=dist.Precision.FP32, channels_last=False)
    meta = ModelMeta(model="net", task="classification", input_size=(5, 5), color="rgb",
                     heads=({"name": "emotion", "kind": "logits", "size": 3},))
    recalibrate_bn(net, batches, env, meta=meta, batches=0)
    assert torch.equal(net.bn.running_mean, torch.zeros(3))  # 0 = off
    recalibrate_bn(net, batches, env, meta=meta, batches=3)
    used = torch.cat([b["x"] for b in (batches[0], batches[2])])  # the first 3 batches, one of them empty
    assert torch.allclose(net.bn.running_mean, used.mean((0, 2, 3)), atol=1e-4)
    assert not net.training and net.bn.momentum == 0.1  # mode and momentum are restored
