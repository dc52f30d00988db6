"""The shipped default model: ``default`` names it wherever a run folder or bundle is read, it runs with the
runtime alone, a broken install is named as one, and on FER+ it is the accurate model its card says."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import edgeaffect.assets as assets
from edgeaffect.cli import main
from runtime_support import make_video


def test_default_is_a_checked_run_folder_and_bundle():
    run, bundle = assets.resolve("default", "run"), assets.resolve("default", "bundle")
    assert (run / "best.pt").is_file() and (bundle / "manifest.json").is_file()
    assert sum(p.stat().st_size for p in assets.DEFAULT_DIR.rglob("*") if p.is_file()) < 10_000_000
    meta = json.loads((bundle / "meta.json").read_text())
    assert meta["input_size"] == [64, 64] and meta["color"] == "gray" and meta["framing"]["scale"] == 0.95
    assert meta["adjust"]["tau"] == 0.5 and len(meta["adjust"]["prior"]) == 8  # the prior correction v5 and v7 carry
    assert meta["adjust"]["hflip"]  # and the mirror averaging its control chose
    assert (assets.DEFAULT_DIR / "MODEL_CARD.md").is_file()
    # the bundle run opens is the INT8 file, verified on real valid faces against the float run within the gate
    verification = json.loads((bundle / "verification.json").read_text())
    chosen = verification["candidates"][0]
    assert verification["chosen"] == "int8" and chosen["passed"] and chosen["samples"] >= 500 and not chosen["proxy"]
    metrics = chosen["heads"][0]["metrics"]
    assert abs(metrics["accuracy"]["delta"]) <= 0.005 and abs(metrics["uar"]["delta"]) <= 0.005


def test_a_folder_named_default_is_the_users(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "default").mkdir()
    assert assets.resolve("default", "bundle") == assets.Path("default")


@pytest.mark.parametrize("damage", ["truncate", "delete"])
def test_a_broken_install_says_reinstall(tmp_path, monkeypatch, capsys, damage):
    copy = tmp_path / "default"
    shutil.copytree(assets.DEFAULT_DIR, copy)
    target = copy / "bundle" / "model.onnx"
    target.write_bytes(target.read_bytes()[:1000]) if damage == "truncate" else target.unlink()
    monkeypatch.setattr(assets, "DEFAULT_DIR", copy)
    assets._check_install.cache_clear()
    try:
        code = main(["run", "default", "--source", str(tmp_path / "none.avi"), "--headless"])
    finally:
        assets._check_install.cache_clear()
    err = capsys.readouterr().err
    assert code == 2 and "model.onnx" in err and "pip install --force-reinstall edgeaffect" in err
    assert "Traceback" not in err


def test_run_default_on_a_video(tmp_path, capsys):
    video = make_video(tmp_path / "clip.avi", frames=12)
    out = tmp_path / "r.jsonl"
    assert main(["run", "default", "--source", str(video), "--headless", "--out", str(out)]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 12 and sum(bool(r["faces"]) for r in lines) >= 10
    summary = json.loads((tmp_path / "r.summary.json").read_text())
    assert summary["faces"] >= 10


def test_default_with_data_it_does_not_fit_says_so(tmp_path, capsys):
    pytest.importorskip("torch")
    from edgeaffect.data.tabular import write_synthetic_tabular

    windows = write_synthetic_tabular(tmp_path / "eeg", subjects=2)  # EEG + face feature windows, not faces
    assert main(["eval", "default", "--data", str(windows)]) == 2
    err = capsys.readouterr().err
    assert "does not fit" in err and "tabular" in err and "Traceback" not in err


def test_default_on_ferplus_test(ferplus_root, tmp_path, capsys):
    """A seeded third of the test split (the card's 0.862 / UAR 0.737 is on all of it): well above the 0.81 of the
    study, and balanced: the rare classes are recognised, which the previous default (UAR 0.617) barely did."""
    pytest.importorskip("torch")
    assert main(["eval", "default", "--data", str(ferplus_root), "--split", "test", "--limit", "1000",
                 "--out", str(tmp_path)]) == 0
    metrics = json.loads((tmp_path / "eval-test.json").read_text())["metrics"]
    assert metrics["accuracy"] >= 0.82 and metrics["uar"] >= 0.6
    meta = json.loads((Path(__file__).parents[1] / "edgeaffect/assets/default/bundle/meta.json").read_text())
    assert meta["adjust"]["tau"] > 0 and meta["framing"]["scale"] < 1  # the correction and framing tune chose


def test_export_default_without_data_verifies_on_synthetic_faces_and_says_so(tmp_path, monkeypatch, capsys):
    """A user with no FER+ on disk: the shipped model's recorded $EDGEAFFECT_DATA/ferplus is not there, so the
    bundle is verified on built-in synthetic faces (float vs export), INT8 is left out, and the bundle says so."""
    pytest.importorskip("torch")
    monkeypatch.delenv("EDGEAFFECT_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["export", "default", "--target", "rpi4", "--format", "onnx"]) == 0
    verification = json.loads((tmp_path / "bundles" / "default-rpi4" / "verification.json").read_text())
    assert "synthetic faces" in verification["data"]["verification"] and "--calib-data" in verification["data"]["int8"]
    assert verification["chosen"] == "fp32" and verification["candidates"][0]["samples"] >= 40
