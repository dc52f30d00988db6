"""The README's compression path through the CLI: train -> compress --prune (+ fine-tune) -> export --target -> run.

A tiny CNN registered in the real registry (tests/train_support.py) keeps it to seconds; every step is the
real one: the engine trains on built-in synthetic faces, Torch-Pruning removes channels, the
engine fine-tunes the pruned run, the exporter writes and verifies an ONNX bundle with ONNX
Runtime, and the torch-free runtime runs it over an image folder.
"""
from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_pruning")

from edgeaffect.cli import main  # noqa: E402
from edgeaffect.meta import ModelMeta  # noqa: E402
from train_support import TINY  # noqa: E402


def test_prune_finetune_export_run(tmp_path, capsys):
    from edgeaffect.train.checkpoint import load_checkpoint, load_model

    common = [f"model={TINY}", "model.options={}", f"data.cache={tmp_path / 'cache'}",
              "data.synthetic_options={per_class: 4, size: 48, seed: 1}", "batch=8", "progress=false", "threads=1"]
    assert main(["train", "ddamfn-synthetic", *common, "epochs=1", f"out={tmp_path / 'run'}"]) == 0
    run = tmp_path / "run"
    params = sum(p.numel() for p in load_model(run)[0].parameters())

    pruned = tmp_path / "pruned"
    assert main(["compress", str(run), "--prune", "0.5", "--finetune-epochs", "1", "--out", str(pruned)]) == 0
    report = json.loads((pruned / "prune_report.json").read_text())
    assert report["params_after"] < 0.6 * report["params_before"] == 0.6 * params
    tuned = load_checkpoint(pruned)
    assert tuned["state"]["pruned"]["params_after"] == report["params_after"]  # the fine-tuned weights, still marked
    assert (pruned / "finetune" / "metrics.json").is_file()
    model, meta = load_model(pruned)
    assert sum(p.numel() for p in model.parameters()) == report["params_after"]
    assert model.body[3].out_channels < 16 and model.fc.out_features == 8

    data = next((tmp_path / "cache" / "synthetic").iterdir())  # the synthetic dataset the run trained on
    bundle = tmp_path / "bundle"
    assert main(["export", str(pruned), "--target", "laptop-x86", "--format", "onnx", "--precision", "fp32",
                 "--verify-data", str(data), "--verify-split", "test", "--out", str(bundle)]) == 0
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["format"] == "onnx" and manifest["verification"]["passed"] is True
    assert ModelMeta.load(bundle / "meta.json").info["pruned"]["params"] == report["params_after"]

    results = tmp_path / "results.jsonl"
    faces = next(p for p in (data / "test_set").iterdir() if p.is_dir())
    assert main(["run", str(bundle), "--source", str(faces), "--headless", "--detector", "none",
                 "--out", str(results)]) == 0
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert len(lines) == len(list(faces.iterdir())) and all(line["faces"] for line in lines)
    assert {line["faces"][0]["label"] for line in lines} <= set(meta.labels)
    capsys.readouterr()


def test_only_a_checkpoint_marked_pruned_is_resized(tmp_path):
    from edgeaffect.errors import ModelError
    from edgeaffect.train.checkpoint import load_model, save_checkpoint
    from edgeaffect.train.registry import create_model

    model = create_model(TINY)
    model.fc = torch.nn.Linear(16, 8, bias=False)  # weights that do not fit the build kwargs' model
    save_checkpoint(tmp_path / "plain" / "best.pt", model=model, epoch=0, best=None, config={})
    with pytest.raises(ModelError, match="do not fit"):
        load_model(tmp_path / "plain")
    model = create_model(TINY)
    model.body[3] = torch.nn.Conv2d(8, 12, 3, 2, 1)
    model.fc = torch.nn.Linear(12, 8)  # thinner layers, as Torch-Pruning leaves them
    model.pruned_info = {"ratio": 0.25}
    save_checkpoint(tmp_path / "pruned" / "best.pt", model=model, epoch=0, best=None, config={})
    loaded, _ = load_model(tmp_path / "pruned")
    assert loaded.body[3].out_channels == 12 and loaded.fc.in_features == 12 and loaded.pruned_info == {"ratio": 0.25}
