"""The training engine end to end on a tiny CNN: run folder, checkpoints, resume, divergence, DDP, CLI.

A tiny model (train_support.py, through the real registry) keeps these tests to seconds; the
learning tests with the shipped models are in test_train_learning.py.
"""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch

from edgeaffect.errors import ConfigError, ModelError
from edgeaffect.meta import ModelMeta
from train_support import TINY

@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


def config(cache: Path, out: Path, *extra: str):
    from edgeaffect.train.recipes import resolve_config

    return resolve_config("ddamfn-synthetic", [
        f"model={TINY}", "model.options={}", f"data.cache={cache}", "data.synthetic_options={per_class: 5, size: 48, seed: 1}",
        "batch=8", "epochs=3", "optim.lr=0.05", f"out={out}", "progress=false", "threads=1", "augment=true",
        "loss.aux_weight=0.1", *extra])


def _test_size(cache: Path) -> int:
    from edgeaffect.data import open_dataset
    from edgeaffect.train.recipes import data_path

    return len(open_dataset(data_path(config(cache, cache / "unused"))).split("test"))


def test_fit_writes_a_complete_run_folder_and_loadable_checkpoints(cache, tmp_path):
    from edgeaffect.train.checkpoint import load_model
    from edgeaffect.train.engine import fit

    result = fit(config(cache, tmp_path / "run"))
    run = result.run_dir
    for name in ("config.yaml", "meta.json", "metrics.csv", "metrics.json", "best.pt", "last.pt",
                 "learning_curve.png", "confusion.png", "model_card.md"):
        assert (run / name).is_file(), name
    doc = json.loads((run / "metrics.json").read_text())
    assert [r["epoch"] for r in doc["epochs"]] == [1, 2, 3]
    assert {"train_loss", "valid_loss", "valid_accuracy", "valid_macro_f1", "valid_uar"} <= set(doc["epochs"][0])
    assert doc["test"]["samples"] == _test_size(cache) and 0.0 <= doc["test"]["accuracy"] <= 1.0
    assert set(doc["reports"]["emotion"]["per_class"]) == set(ModelMeta.load(run).labels)
    ckpt = torch.load(run / "last.pt", map_location="cpu", weights_only=True)  # no pickled objects
    assert ckpt["epoch"] == 3 and ckpt["model_name"] == TINY and "rng" in ckpt and ckpt["optimizer"]["state"]
    model, meta = load_model(run)
    assert not model.training and meta.labels[1] == "happiness"
    assert model(torch.zeros(meta.input_shape(2)))[0].shape == (2, 8)
    card = (run / "model_card.md").read_text()
    assert "parameters" in card and "macs" in card.lower() and "accuracy" in card


def test_resume_after_a_stop_equals_the_uninterrupted_run(cache, tmp_path):
    from edgeaffect.train.engine import fit
    from edgeaffect.train.recipes import resume_config

    full = fit(config(cache, tmp_path / "full"))
    first = fit(config(cache, tmp_path / "split", "runtime.stop_after_epoch=1"))
    assert first.interrupted and first.epochs_run == 1 and not (tmp_path / "split" / "model_card.md").exists()
    second = fit(resume_config(tmp_path / "split"))
    assert second.epochs_run == 3 and second.weights_digest == full.weights_digest
    a = torch.load(tmp_path / "full" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "split" / "last.pt", weights_only=True)
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    rows = lambda p: [{k: v for k, v in r.items() if k != "seconds"} for r in json.loads((p / "metrics.json").read_text())["epochs"]]  # noqa: E731
    assert rows(tmp_path / "full") == rows(tmp_path / "split")
    assert second.test == full.test


def test_a_diverging_loss_stops_with_the_batch_saved(cache, tmp_path):
    from edgeaffect.train.engine import fit
    from edgeaffect.train.loop import DivergedError

    with pytest.raises(DivergedError, match="bad_batch.pt"):
        fit(config(cache, tmp_path / "nan", "optim.lr=1e30", "momentum=0", "weight_decay=0", "epochs=1"))
    saved = torch.load(tmp_path / "nan" / "bad_batch.pt", weights_only=True)
    assert saved["batch"]["x"].shape[1:] == (3, 32, 32) and not np.isfinite(saved["loss"])


def test_classes_that_do_not_fit_the_head_fail_before_training(cache, tmp_path):
    import cv2

    from edgeaffect.train.engine import fit

    fit(config(cache, tmp_path / "base", "epochs=1"))
    for split in ("train", "valid", "test"):  # a class-folder dataset with other classes
        for cls in ("happy", "sad"):
            (tmp_path / "folders" / split / cls).mkdir(parents=True)
            for i in range(2):
                cv2.imwrite(str(tmp_path / "folders" / split / cls / f"{i}.png"), np.full((40, 40, 3), 60 * i, np.uint8))
    with pytest.raises(ModelError) as err:
        fit(config(cache, tmp_path / "ft", f"data={tmp_path / 'folders'}", f"model.init={tmp_path / 'base'}"))
    assert "['happiness', 'sadness']" in str(err.value) and "contempt" in str(err.value)
    assert not (tmp_path / "ft" / "last.pt").exists()


def test_a_fine_tune_can_change_the_input_size_of_a_pooled_image_model(cache, tmp_path):
    from edgeaffect.train.engine import fit

    fit(config(cache, tmp_path / "base", "epochs=1"))
    kept = fit(config(cache, tmp_path / "kept", "epochs=1", f"model.init={tmp_path / 'base'}"))
    assert ModelMeta.load(kept.run_dir).input_size == (32, 32)
    grown = fit(config(cache, tmp_path / "grown", "epochs=1", f"model.init={tmp_path / 'base'}", "size=40"))
    assert ModelMeta.load(grown.run_dir).input_size == (40, 40)
    saved = torch.load(tmp_path / "grown" / "last.pt", map_location="cpu", weights_only=True)
    assert saved["meta"]["input_size"] in ([40, 40], (40, 40))


def test_a_fine_tune_can_dilate_the_init_network_but_not_reshape_it(cache, tmp_path):
    from edgeaffect.train.engine import fit

    small = ("model=resnet18", "model.options={}", "size=32", "epochs=1")
    fit(config(cache, tmp_path / "base", *small))
    dilated = fit(config(cache, tmp_path / "os16", *small, f"model.init={tmp_path / 'base'}",
                         "model.init_options.output_stride=16"))
    saved = torch.load(dilated.run_dir / "last.pt", map_location="cpu", weights_only=True)
    assert saved["build_kwargs"]["output_stride"] == 16 and "channels" not in saved["build_kwargs"]
    with pytest.raises(ModelError, match="init_options") as err:
        fit(config(cache, tmp_path / "wide", *small, f"model.init={tmp_path / 'base'}",
                   "model.init_options.channels=[8, 8, 8, 32]"))
    assert "output_stride" in err.value.fix and not (tmp_path / "wide" / "last.pt").exists()
    with pytest.raises(ConfigError, match="model.init"):  # without an init there is nothing to change
        fit(config(cache, tmp_path / "none", *small, "model.init_options.output_stride=16"))


def test_a_fine_tune_at_a_size_the_graph_cannot_take_is_refused():
    from edgeaffect.train.builders import resized
    from edgeaffect.train.registry import create_model

    fixed = create_model(TINY)
    meta = fixed.meta
    fixed = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 8))  # no global pooling
    fixed.meta = meta
    with pytest.raises(ModelError, match="cannot take 40x40 inputs"):
        resized(fixed, 40, source="checkpoint X")
    assert fixed.meta.input_size == (32, 32) and fixed.training


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, cache: str, out: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    from edgeaffect.train.engine import fit

    result = fit(config(Path(cache), Path(out) / "run", "epochs=2", "device=cpu"))
    (Path(out) / f"rank{rank}.json").write_text(json.dumps({"digest": result.weights_digest, "test": result.test}))


def test_two_process_gloo_ddp_ranks_agree(cache, tmp_path):
    import torch.multiprocessing as mp

    from edgeaffect.train.recipes import data_path

    data_path(config(cache, tmp_path / "x"))  # generate the data before the ranks start
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(cache), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0["digest"] == r1["digest"] and r0["test"] == r1["test"]
    assert (tmp_path / "run" / "best.pt").is_file() and not list(tmp_path.glob("run/bad_batch*"))
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["test"]["samples"] == _test_size(cache)


def test_training_threads_follow_the_cores_the_process_may_use(tmp_path):
    """A training pinned to one core runs one torch thread (two on one core ran DDAMFN 2.3x slower);
    OMP_NUM_THREADS and runtime.threads still decide when given."""
    import subprocess
    import sys

    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("no CPU affinity on this platform")
    probe = """
import logging, os, torch
logging.basicConfig(level=logging.INFO)
from edgeaffect.train.config import RuntimeConfig
from edgeaffect.train.distributed import setup
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
seen = []
for threads, omp in ((0, None), (0, "3"), (2, None)):
    if omp:
        os.environ["OMP_NUM_THREADS"] = omp
    else:
        os.environ.pop("OMP_NUM_THREADS", None)
    setup(RuntimeConfig(threads=threads))
    seen.append(torch.get_num_threads())
print(*seen)
"""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-c", probe], env=env, cwd=tmp_path, capture_output=True, text=True,
                          check=True)
    # pinned to one core: one thread whatever the machine has; OMP_NUM_THREADS and runtime.threads decide when given
    assert done.stdout.split() == ["1", "3", "2"], done.stdout
    # and the log says so, since the saved config keeps threads: 0
    assert "with 1 torch thread\n" in done.stderr and "with 3 torch threads" in done.stderr, done.stderr


def test_config_errors_name_the_key_and_the_nearest_one(cache, tmp_path):
    with pytest.raises(ConfigError, match="did you mean 'optim.lr'"):
        config(cache, tmp_path, "optim.lrr=0.1")
    with pytest.raises(ConfigError, match="schedule.name"):
        config(cache, tmp_path, "schedule=sometimes")
    with pytest.raises(ModelError, match="did you mean 'ddamfn'"):
        from edgeaffect.train.engine import fit

        fit(config(cache, tmp_path / "m", "model=ddamfm", "model.options={}"))


@pytest.fixture(scope="module")
def tiny_run(cache, tmp_path_factory) -> Path:
    from edgeaffect.train.engine import fit

    return fit(config(cache, tmp_path_factory.mktemp("tiny") / "run", "epochs=1")).run_dir


def test_cli_lists_models_and_recipes_and_rejects_unknown_names(capsys):
    from edgeaffect.cli import main

    assert main(["train", "--list"]) == 0
    out = capsys.readouterr().out
    for name in ("ddamfn", "physnet", "seqcnn_bvp", "bilstm_attention", "ddamfn-ferplus", "physnet-synthetic"):
        assert name in out
    assert main(["train", "ddamfn-synthetik"]) == 2
    assert "did you mean 'ddamfn-synthetic'" in capsys.readouterr().err
    assert main(["train", "ddamfn-synthetic", "epochz=1"]) == 2
    assert "did you mean 'epochs'" in capsys.readouterr().err


def test_cli_eval_scores_a_run_and_runs_the_resize_study(tiny_run, tmp_path, capsys):
    from edgeaffect.cli import main

    assert main(["eval", str(tiny_run), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["samples"] == _test_size_from_run(tiny_run) and {"accuracy", "macro_f1", "uar"} <= set(report["metrics"])
    assert main(["eval", str(tiny_run), "--resize", "32,8", "--interp", "cubic,nearest", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "cubic->nearest" in out and "nearest->cubic" in out
    rows = json.loads((tmp_path / "resize_study.json").read_text())
    assert len(rows) == 8 and {r["resolution"] for r in rows} == {32, 8}
    assert (tmp_path / "resize_study.csv").read_text().startswith("resolution,down,up,samples,")
    assert main(["eval", str(tiny_run), "--resize", "32", "--interp", "bicubic"]) == 2
    assert "unknown interpolation" in capsys.readouterr().err


def _test_size_from_run(run: Path) -> int:
    from edgeaffect.data import open_dataset
    from edgeaffect.train.checkpoint import load_checkpoint
    from edgeaffect.train.config import TrainConfig
    from edgeaffect.train.recipes import data_path

    cfg = TrainConfig.from_dict(load_checkpoint(run)["config"])
    return len(open_dataset(data_path(cfg)).split("test"))


def test_cli_explain_writes_gradcam_overlays(tiny_run, tmp_path):
    import cv2

    from edgeaffect.cli import main

    assert main(["explain", str(tiny_run), "--n", "3", "--out", str(tmp_path)]) == 0
    pngs = sorted(tmp_path.glob("*.png"))
    assert len(pngs) == 3 and all("-pred-" in p.name and "-true-" in p.name for p in pngs)
    assert cv2.imread(str(pngs[0])).shape == (32, 32, 3)
