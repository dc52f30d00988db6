"""Fault suite, hostile bundles: a bundle is a folder someone else sent you.  Each row forges one from a real
ONNX bundle (meta.json left out of the checksums and edited, a model that is a symlink, a detector path that
climbs out of the folder, absurd sizes, NaN normalisation, a runtime block of wrong types) and runs it with the
real CLI: every one exits 2 naming the field or path, before any allocation, and an earlier results file stays
byte-identical.  The shipped default bundle still loads under the same seal."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable

import pytest

from edgeaffect.bundle import load_bundle
from edgeaffect.cli import main
from runtime_support import make_bundle, make_video


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hostile")
    return {"root": root, "bundle": make_bundle(root / "base"), "video": make_video(root / "clip.avi", frames=3)}


def _rehash(folder: Path, manifest: dict[str, Any]) -> None:
    manifest["files"] = {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                         for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "manifest.json"}


def forge(world, name: str, *, meta: Callable[[dict], None] | None = None,
          runtime: dict[str, Any] | None = None, manifest: Callable[[dict], None] | None = None,
          folder_edit: Callable[[Path], None] | None = None) -> Path:
    """A copy of the good bundle with meta.json and the manifest edited as a forger would, then re-hashed
    (so the checksums alone do not catch it); ``manifest`` runs after the re-hash."""
    folder = world["root"] / name
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(world["bundle"], folder)
    data = json.loads((folder / "meta.json").read_text())
    if meta is not None:
        meta(data)
        (folder / "meta.json").write_text(json.dumps(data))  # json.dumps writes NaN as the forger wants
    if folder_edit is not None:
        folder_edit(folder)
    man = json.loads((folder / "manifest.json").read_text())
    if runtime is not None:
        man["runtime"] = {**man["runtime"], **runtime}
    _rehash(folder, man)
    if manifest is not None:
        manifest(man)
    (folder / "manifest.json").write_text(json.dumps(man))
    return folder


def _set(key: str, value: Any) -> Callable[[dict], None]:
    return lambda d: d.__setitem__(key, value)


def _symlink_model(folder: Path) -> None:
    outside = folder.parent / f"{folder.name}-outside.onnx"
    shutil.copyfile(folder / "model.onnx", outside)
    (folder / "model.onnx").unlink()
    os.symlink(outside, folder / "model.onnx")


def _drop_meta(man: dict) -> None:
    man["files"].pop("meta.json")


def _extra_file(folder: Path) -> None:
    (folder / "notes.txt").write_text("added after the export\n")


def _detector_file(folder: Path) -> None:
    (folder / "detector").mkdir()
    (folder / "detector" / "face.onnx").write_bytes(b"not a detector")


def _unlist_detector(man: dict) -> None:
    man["runtime"]["detector_model"] = "detector/face.onnx"
    man["files"].pop("detector/face.onnx")


HUGE = 100_000
# (case, how to forge, fragment the error must hold)
CASES: list[tuple[str, dict[str, Any], str]] = [
    ("meta-unlisted-then-edited", {"meta": lambda d: d.__setitem__("labels", ["forged"] * 7), "manifest": _drop_meta},
     "meta.json not listed"),
    ("model-is-a-symlink-outside", {"folder_edit": _symlink_model}, "is a symbolic link"),
    ("unlisted-extra-file", {"folder_edit": _extra_file, "manifest": lambda m: m["files"].pop("notes.txt")},
     "notes.txt is not listed"),
    ("detector-unlisted", {"folder_edit": _detector_file, "manifest": _unlist_detector}, "not listed"),
    ("detector-climbs-out", {"runtime": {"detector_model": "../../../../etc/passwd"}}, "runtime.detector_model"),
    ("detector-absolute", {"runtime": {"detector_model": "/etc/passwd"}}, "runtime.detector_model"),
    ("input-size-huge", {"meta": _set("input_size", [HUGE, HUGE])}, "input_size"),
    ("input-size-zero", {"meta": _set("input_size", [0, 48])}, "input_size"),
    ("input-size-fraction", {"meta": _set("input_size", [48.5, 48])}, "not whole pixels"),
    ("input-size-infinite", {"meta": _set("input_size", [float("inf"), 48])}, "model metadata is not valid"),
    ("std-zero", {"meta": _set("std", [0])}, "std"),
    ("std-negative", {"meta": _set("std", [-1])}, "std"),
    ("std-nan", {"meta": _set("std", [float("nan")])}, "std"),
    ("mean-infinite", {"meta": _set("mean", [float("inf")])}, "mean"),
    ("normalisation-missing", {"meta": lambda d: (d.pop("mean"), d.pop("std"))}, "normalisation (mean and std) is missing"),
    ("labels-too-many", {"meta": _set("labels", ["x"] * 5000)}, "labels"),
    ("labels-duplicated", {"meta": lambda d: d.__setitem__("labels", [d["labels"][0]] * len(d["labels"]))},
     "distinct class names"),
    ("labels-reversed-in-meta", {"meta": lambda d: d.__setitem__("labels", d["labels"][::-1])},
     "exported with other labels"),  # re-sealed, it named every face confidently wrong
    ("normalisation-changed", {"meta": _set("mean", [0.0])}, "exported with other mean"),
    ("labels-txt-edited", {"folder_edit": lambda f: (f / "labels.txt").write_text("a\nb\n")}, "the bundle was edited"),
    ("meta-not-an-object", {"folder_edit": lambda f: (f / "meta.json").write_text("[1, 2]")}, "not an object of fields"),
    ("head-size-zero", {"meta": lambda d: d["heads"][0].__setitem__("size", 0)}, "size"),
    ("head-size-huge", {"meta": lambda d: d["heads"][0].__setitem__("size", 10**9)}, "size"),
    ("value-range-nan", {"meta": lambda d: d["heads"][1].__setitem__("value_range", [float("nan"), 1])}, "value_range"),
    ("meta-version-text", {"meta": _set("version", "one")}, "version"),
    ("meta-unknown-field", {"meta": _set("backdoor", 1)}, "unknown model metadata field 'backdoor'"),
    ("detect-every-zero", {"runtime": {"detect_every": 0}}, "runtime.detect_every = 0"),
    ("detect-every-text", {"runtime": {"detect_every": "often"}}, "runtime.detect_every"),
    ("threads-text", {"runtime": {"threads": "lots"}}, "runtime.threads = 'lots'"),
    ("threads-huge", {"runtime": {"threads": 999_999}}, "runtime.threads = 999999"),
    ("threads-negative", {"runtime": {"threads": -3}}, "runtime.threads"),
    ("threads-bool", {"runtime": {"threads": True}}, "runtime.threads"),
    ("detect-side-huge", {"runtime": {"detect_side": 10**9}}, "runtime.detect_side"),
    ("detect-region-negative", {"runtime": {"detect_region": -1}}, "runtime.detect_region"),
    ("smoothing-empty", {"runtime": {"smoothing": ""}}, "runtime.smoothing"),
    ("backend-unknown", {"runtime": {"backend": "cuda-magic"}}, "runtime.backend"),
    ("backend-options-list", {"runtime": {"backend_options": ["threads"]}}, "runtime.backend_options"),
    ("backend-option-threads-negative", {"runtime": {"backend": "onnxruntime", "backend_options": {"threads": -3}}}, "threads=-3"),
    ("backend-option-threads-text", {"runtime": {"backend": "onnxruntime", "backend_options": {"threads": "lots"}}}, "threads='lots'"),
    ("backend-option-providers-number", {"runtime": {"backend": "onnxruntime", "backend_options": {"providers": 5}}}, "providers=5"),
    ("backend-option-unknown", {"runtime": {"backend_options": {"gpu_mem": 9}}}, "not a runtime option"),
    ("runtime-unknown-field", {"runtime": {"thraeds": 2}}, "unknown runtime field"),
    ("runtime-every-field-invalid", {"runtime": {"backend": 1, "threads": "lots", "detector": 7, "detect_every": 0,
                                                 "detect_side": -1, "camera": "", "smoothing": None}}, "runtime."),
    ("manifest-huge", {"manifest": lambda m: m.__setitem__("padding", "x" * (2 << 20))}, "far larger than"),
    ("model-files-outside", {"manifest": lambda m: m.__setitem__("model_files", ["../base/model.onnx"])},
     "inside the bundle"),
]


@pytest.mark.parametrize("case, how, fragment", CASES, ids=[c[0] for c in CASES])
def test_hostile_bundle_is_refused(case, how, fragment, world, capsys):
    folder = forge(world, case, **how)
    out = world["root"] / f"{case}.jsonl"
    out.write_text('{"index": 0, "earlier": true}\n')
    before = out.read_bytes()
    code = main(["run", str(folder), "--source", str(world["video"]), "--headless", "--detector", "none",
                 "--out", str(out)])
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err, err
    assert code == 2 and "error:" in err and fragment in err, err
    assert "forged" not in err and "loaded" not in err  # refused before a backend was built
    assert out.read_bytes() == before
    assert sorted(p.name for p in world["root"].glob(f"{case}.jsonl*")) == [out.name]  # no .partial, no lock


def test_onnx_declaring_a_huge_input_is_refused_before_it_runs(world, capsys):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    folder = forge(world, "onnx-huge-input")
    graph = helper.make_graph(
        [helper.make_node("Identity", ["input"], ["logits"]), helper.make_node("Identity", ["input"], ["va"])], "huge",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, HUGE, HUGE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1, HUGE, HUGE]),
         helper.make_tensor_value_info("va", TensorProto.FLOAT, [1, 1, HUGE, HUGE])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # what the installed ONNX Runtime reads
    onnx.save(model, str(folder / "model.onnx"))
    man = json.loads((folder / "manifest.json").read_text())
    _rehash(folder, man)
    (folder / "manifest.json").write_text(json.dumps(man))
    code = main(["run", str(folder), "--source", str(world["video"]), "--headless", "--detector", "none"])
    err = capsys.readouterr().err
    assert code == 2 and "declares input shape" in err and "Traceback" not in err, err


def test_the_runtime_schema_declares_every_runtime_field():
    from edgeaffect.bundle import RUNTIME_SCHEMA, RuntimeSettings

    assert set(RUNTIME_SCHEMA) == set(RuntimeSettings.__dataclass_fields__)  # a new field needs its bounds


def test_the_sealed_check_accepts_what_export_writes_and_the_shipped_default(world):
    assert load_bundle(world["bundle"]).meta.labels  # a bundle as written passes every rule above
    shipped = load_bundle("default")
    assert "meta.json" in shipped.manifest.files and shipped.manifest.runtime.backend == "onnxruntime"


def test_a_bundle_folder_that_is_itself_a_link_still_loads(world):
    link = world["root"] / "linked-bundle"
    if not link.exists():
        os.symlink(world["bundle"], link)  # users link their bundles; only links inside one are refused
    assert load_bundle(link).manifest.format == "onnx"


def test_a_model_that_outputs_nan_gives_no_label_and_no_score(world, capsys):
    """FP16 overflow, a broken file: its NaN scores named the first class; eval and bench stopped with an
    internal error from the metrics."""
    onnx = pytest.importorskip("onnx")
    from onnx import helper, numpy_helper

    import numpy as np

    import edgeaffect

    folder = forge(world, "onnx-nan-output")
    model = onnx.load(str(folder / "model.onnx"))
    graph = model.graph
    graph.initializer.append(numpy_helper.from_array(np.array(np.nan, np.float32), "nan_constant"))
    for out in graph.output:  # every output times NaN, under its own name
        inner = f"{out.name}_before_nan"
        for node in graph.node:
            node.output[:] = [inner if o == out.name else o for o in node.output]
        graph.node.append(helper.make_node("Mul", [inner, "nan_constant"], [out.name]))
    onnx.save(model, str(folder / "model.onnx"))
    man = json.loads((folder / "manifest.json").read_text())
    _rehash(folder, man)
    (folder / "manifest.json").write_text(json.dumps(man))
    faces = edgeaffect.load(folder, detector="none")(np.full((48, 48), 128, np.uint8))
    assert faces and faces[0].label is None and faces[0].scores == ()
    data = world["root"] / "nan-data"
    for name in ("happy", "sad"):
        (data / "test" / name).mkdir(parents=True, exist_ok=True)
        for i in range(2):
            import cv2

            cv2.imwrite(str(data / "test" / name / f"{i}.png"), np.full((48, 48), 60 * i + 40, np.uint8))
    code = main(["eval", str(folder), "--data", str(data), "--split", "test"])
    err = capsys.readouterr().err
    assert code == 2 and "NaN or infinite outputs for 4 of 4" in err and "internal error" not in err, err
