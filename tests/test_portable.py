"""Artifacts carry no absolute path of the machine that built them: a run folder, its bundle, a bundle
of the shipped model and a shipped-default package, all made in a scratch folder, hold neither that
folder's path nor the home folder's; paths recorded relative to a run folder read back to the same place."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from edgeaffect.portable import portable, resolved

ROOT = Path(__file__).resolve().parents[1]


def test_paths_are_recorded_relative_to_the_artifact_the_data_folder_or_home(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEAFFECT_DATA", str(tmp_path / "data"))
    run = tmp_path / "runs" / "a"
    assert portable(run / "best.pt", run) == "best.pt" and portable(run, run) == "."
    assert portable(tmp_path / "data" / "ferplus", run) == "$EDGEAFFECT_DATA/ferplus"
    assert portable(Path.home() / "study" / "x", run) == "~/study/x"
    assert portable(tmp_path / "cache", run) == "../../cache"
    assert portable(tmp_path / "elsewhere" / "faces") == "faces"  # free text with no folder to be relative to
    assert portable("$EDGEAFFECT_DATA/ferplus", run) == "$EDGEAFFECT_DATA/ferplus"
    for recorded in ("best.pt", "../../cache"):
        assert Path(resolved(recorded, run)) == (run / recorded).resolve()
    assert resolved("$EDGEAFFECT_DATA/ferplus", run) == "$EDGEAFFECT_DATA/ferplus"  # expanded where it is used
    assert resolved("~/x", run) == str(Path.home() / "x")


def _leaks(folder: Path, needles: list[str]) -> list[str]:
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and "cache" not in p.relative_to(folder).parts):
        blob = path.read_bytes()
        found += [f"{path.relative_to(folder)}: {n}" for n in needles if n.encode() in blob]
    return found


def test_train_export_and_ship_leave_no_absolute_path(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from edgeaffect.cli import main
    from edgeaffect.train.engine import fit
    from edgeaffect.train.recipes import resolve_config, resume_config
    from train_support import TINY

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EDGEAFFECT_DATA", raising=False)
    config = resolve_config("ddamfn-synthetic", [
        f"model={TINY}", "model.options={}", f"data.cache={tmp_path / 'cache'}",
        "data.synthetic_options={per_class: 3, size: 48, seed: 3}", "batch=8", "epochs=1", f"out={tmp_path / 'run'}",
        "progress=false", "threads=1"])
    run = fit(config).run_dir
    assert main(["export", str(run), "--target", "laptop-x86", "--format", "onnx", "--out", str(tmp_path / "b")]) == 0
    assert main(["export", "default", "--target", "laptop-x86", "--format", "onnx", "--n-verify", "40",
                 "--out", str(tmp_path / "d")]) == 0
    spec = importlib.util.spec_from_file_location("ship_default", ROOT / "tools" / "ship_default.py")
    ship = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ship)
    data = resume_config(run).data.cache  # the recorded cache reads back to where it is
    assert Path(data) == tmp_path / "cache"
    faces = next((tmp_path / "cache" / "synthetic").iterdir())
    ship.main([str(run), "--data", str(faces), "--n-verify", "40", "--data-as", "$EDGEAFFECT_DATA/faces",
               "--dest", str(tmp_path / "shipped" / "default")])
    needles = [str(tmp_path), str(Path.home())] if str(Path.home()) not in ("/", "") else [str(tmp_path)]
    assert _leaks(tmp_path, needles) == []
