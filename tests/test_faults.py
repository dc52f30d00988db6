"""Fault suite, the table: (command, corrupted input or environment) -> exit code and message fragment, for every
verb.  Each case runs the real CLI in-process; none may print a traceback, every user-made fault exits 2 with
``error:`` (a bare ``edgeaffect`` prints the help and exits 2), and the message names what is wrong.  The inputs
are real files at tiny sizes: a real ONNX bundle, a real OpenVINO IR damaged and re-hashed, an undecodable MP4,
a checkpoint carrying pickled code, JSON that is not a bench result."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edgeaffect.bundle import Manifest, load_bundle, write_manifest
from edgeaffect.cli import main
from runtime_support import make_bundle, make_video


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    """Every corrupted input the table names, built once."""
    root = tmp_path_factory.mktemp("faults")
    w = {"root": root, "bundle": make_bundle(root / "bundle"), "video": make_video(root / "clip.avi", frames=3)}
    (root / "a-file").write_text("not a folder\n")
    (root / "empty").mkdir()
    edited = shutil.copytree(w["bundle"], root / "edited")
    with open(edited / "model.onnx", "ab") as fh:
        fh.write(b"\0")  # one byte appended in transfer: the checksum names it
    rehashed = shutil.copytree(w["bundle"], root / "rehashed-onnx")
    (rehashed / "model.onnx").write_bytes((rehashed / "model.onnx").read_bytes()[:60])
    write_manifest(rehashed, load_bundle(rehashed, check=False).manifest)  # damaged, then hashed again
    for name, edit in {"head-size": _one_class_less, "clip-window": _clip_window}.items():
        forged = shutil.copytree(w["bundle"], root / name)  # a meta.json edited, then hashed again
        meta = json.loads((forged / "meta.json").read_text())
        edit(meta)
        (forged / "meta.json").write_text(json.dumps(meta))
        write_manifest(forged, load_bundle(forged, check=False).manifest)
    (root / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    for name, text in {"list.json": "[]", "null.json": "null", "text.json": "{not json"}.items():
        (root / name).write_text(text)
    (root / "binary.json").write_bytes(bytes(range(256)))
    (root / "dir.json").mkdir()
    (root / "truncated.pt").write_bytes(b"PK\x03\x04 cut short")
    for rel in ("proc/cpuinfo", "proc/meminfo", "proc/device-tree/model", "etc/nv_tegra_release"):
        (root / "garbage-root" / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / "garbage-root" / rel).write_bytes(bytes(range(256)) * 4)  # unreadable system facts
    return w


def _one_class_less(meta: dict) -> None:
    head = next(h for h in meta["heads"] if h["kind"] == "logits")
    head["size"] -= 1
    meta["labels"] = meta["labels"][:head["size"]]
    if meta.get("adjust") and meta["adjust"].get("prior"):
        meta["adjust"]["prior"] = meta["adjust"]["prior"][:head["size"]]


def _clip_window(meta: dict) -> None:
    meta["temporal"] = {"frames": 8, "fps": 4.0}


@pytest.fixture(scope="module")
def openvino_damaged(world) -> Path:
    pytest.importorskip("openvino")
    from runtime_support import make_openvino_bundle

    folder = make_openvino_bundle(world["root"] / "ov", world["bundle"])
    xml = folder / "model.xml"
    xml.write_text(xml.read_text()[: len(xml.read_text()) // 2])  # cut in half, then the manifest re-hashed
    write_manifest(folder, Manifest(format="openvino", precision="fp32", model_files=("model.xml", "model.bin")))
    return folder


@pytest.fixture(scope="module")
def evil_checkpoint(world) -> Path:
    torch = pytest.importorskip("torch")

    class Payload:
        def __reduce__(self):
            return (print, ("this ran on load",))

    path = world["root"] / "evil.pt"
    torch.save({"model_name": "ddamfn", "payload": Payload()}, path)
    return path


B, V, R = "{bundle}", "{video}", "{root}"
# (case id, argv, exit code, fragment of the output that must appear)
TABLE = [
    # the command line itself
    ("no-verb", [], 2, "Usage"),
    ("typo-verb", ["rnu"], 2, "Did you mean 'run'"),
    ("bad-choice", ["export", R, "--precision", "fp8"], 2, "'fp8' is not one of"),
    ("bad-int", ["run", B, "--source", V, "--max-frames", "abc"], 2, "--max-frames"),
    ("missing-argument", ["run"], 2, "Missing argument 'bundle'"),
    ("unknown-option", ["devices", "--bogus"], 2, "No such option: --bogus"),
    ("no-sub-verb", ["models"], 2, "Usage"),
    # run
    ("run/missing-bundle", ["run", f"{R}/nowhere", "--source", V, "--headless"], 2, "does not exist"),
    ("run/not-a-bundle", ["run", f"{R}/empty", "--source", V, "--headless"], 2, "has no manifest.json"),
    ("run/edited-bundle", ["run", f"{R}/edited", "--source", V, "--headless"], 2, "does not match its checksum"),
    ("run/damaged-onnx-rehashed", ["run", f"{R}/rehashed-onnx", "--source", V, "--headless"], 2, "cannot load"),
    ("run/meta-head-size-rehashed", ["run", f"{R}/head-size", "--source", V, "--headless"], 2,
     "exported with other labels"),  # the file embeds its own meta (as export writes it), compared first
    ("run/meta-clip-on-image-model", ["run", f"{R}/clip-window", "--source", V, "--headless"], 2,
     "does not run on the input ModelMeta describes"),
    ("run/broken-video", ["run", B, "--source", f"{R}/broken.mp4", "--headless", "--detector", "none"], 2,
     "cannot open video"),
    ("run/missing-source", ["run", B, "--source", f"{R}/nope.mp4", "--headless", "--detector", "none"], 2,
     "cannot open source"),
    ("run/out-under-a-file", ["run", B, "--source", V, "--headless", "--out", f"{R}/a-file/r.jsonl"], 2,
     "is a file, not a folder"),
    ("run/out-is-a-folder", ["run", B, "--source", V, "--headless", "--out", f"{R}/empty"], 2, "is a folder"),
    ("run/out-under-proc", ["run", B, "--source", V, "--headless", "--out", "/proc/edgeaffect.jsonl"], 2,
     "cannot be written"),
    ("run/csv-under-a-file", ["run", B, "--source", V, "--headless", "--csv", f"{R}/a-file/r.csv"], 2, "--csv"),
    ("run/unknown-detector", ["run", B, "--source", V, "--headless", "--detector", "yolo"], 2, "yolo"),
    ("run/bad-smoothing", ["run", B, "--source", V, "--headless", "--smoothing", "ema:7"], 2, "outside (0, 1]"),
    ("run/unknown-backend", ["run", B, "--source", V, "--headless", "--backend", "onnxrutime"], 2,
     "did you mean 'onnxruntime'"),
    # bench and report
    ("bench/out-under-a-file", ["bench", B, "--video", V, "--out", f"{R}/a-file/r.json"], 2, "is a file, not a folder"),
    ("bench/nothing-to-measure", ["bench", B], 2, "nothing to measure"),
    ("report/json-array", ["report", f"{R}/list.json", "-o", f"{R}/rep"], 2, "holds an array"),
    ("report/json-null", ["report", f"{R}/null.json", "-o", f"{R}/rep"], 2, "holds null"),
    ("report/not-json", ["report", f"{R}/text.json", "-o", f"{R}/rep"], 2, "is not valid JSON"),
    ("report/binary", ["report", f"{R}/binary.json", "-o", f"{R}/rep"], 2, "not UTF-8"),
    ("report/a-folder", ["report", f"{R}/dir.json", "-o", f"{R}/rep"], 2, "is a folder"),
    ("report/missing", ["report", f"{R}/none.json", "-o", f"{R}/rep"], 2, "does not exist"),
    ("report/out-under-a-file", ["report", f"{R}/list.json", "-o", f"{R}/a-file/rep"], 2, "is a file, not a folder"),
    # data
    ("data/inspect-empty", ["data", "inspect", f"{R}/empty"], 2, "error:"),
    ("data/inspect-missing", ["data", "inspect", f"{R}/nowhere"], 2, "error:"),
    ("data/split-missing", ["data", "split", f"{R}/nowhere", "--out", f"{R}/s.json"], 2, "error:"),
    ("data/synth-unknown-kind", ["data", "synth", "dragons"], 2, "error:"),
    # train, eval, explain, compress, export
    ("train/unknown-recipe", ["train", "ddamfn-synthetik"], 2, "did you mean"),
    ("train/epochs-negative", ["train", "ddamfn-synthetic", "epochs=-1", f"out={R}/run"], 2, "schedule.epochs"),
    ("train/batch-zero", ["train", "ddamfn-synthetic", "batch=0", f"out={R}/run"], 2, "optim.batch"),
    ("train/lr-nan", ["train", "ddamfn-synthetic", "lr=.nan", f"out={R}/run"], 2, "optim.lr"),
    ("train/typo-key", ["train", "ddamfn-synthetic", "epochz=1"], 2, "did you mean"),
    ("train/not-key-value", ["train", "ddamfn-synthetic", "epochs"], 2, "write options as key=value"),
    ("eval/missing-run", ["eval", f"{R}/nowhere"], 2, "no checkpoint"),
    ("eval/truncated-checkpoint", ["eval", f"{R}/truncated.pt"], 2, "cannot read checkpoint"),
    ("eval/out-under-a-file", ["eval", f"{R}/truncated.pt", "--out", f"{R}/a-file/ev"], 2, "is a file, not a folder"),
    ("explain/missing-run", ["explain", f"{R}/nowhere", "--out", f"{R}/cam"], 2, "no checkpoint"),
    ("explain/out-under-a-file", ["explain", f"{R}/truncated.pt", "--out", f"{R}/a-file/cam"], 2,
     "is a file, not a folder"),
    ("compress/missing-run", ["compress", f"{R}/nowhere", "--prune", "0.3"], 2, "no checkpoint"),
    ("export/missing-run", ["export", f"{R}/nowhere", "--target", "laptop-x86"], 2, "no checkpoint"),
    ("export/unknown-target", ["export", f"{R}/truncated.pt", "--target", "rpi9"], 2, "rpi9"),
    ("export/format-typo", ["export", f"{R}/truncated.pt", "--target", "laptop-x86", "--format", "onxx"], 2, "onxx"),
    ("export/format-the-device-cannot-run", ["export", f"{R}/truncated.pt", "--target", "rpi4", "--format",
                                             "openvino"], 2, "openvino"),
    ("export/out-is-a-file", ["export", f"{R}/truncated.pt", "--target", "laptop-x86", "--out", f"{R}/a-file"], 2,
     "is a file"),
    ("export/out-holds-user-files", ["export", f"{R}/truncated.pt", "--target", "laptop-x86", "--out", B + "-user"], 2,
     "not an edgeaffect bundle"),
    # devices, models, demo
    ("devices/garbage-system-files", ["devices", "--root", f"{R}/garbage-root"], 0, "this machine:"),
    ("models/fetch-unknown", ["models", "fetch", "yolo"], 2, "yolo"),
    ("demo/out-under-a-file", ["demo", "--quick", "--synthetic", "--out", f"{R}/a-file/demo"], 2, "a-file"),
]


def _argv(args: list[str], world: dict[str, Path]) -> list[str]:
    return [a.format(bundle=world["bundle"], video=world["video"], root=world["root"]) for a in args]


@pytest.mark.parametrize("case, args, code, fragment", TABLE, ids=[c[0] for c in TABLE])
def test_fault_table(case, args, code, fragment, world, capsys):
    if case == "export/out-holds-user-files":
        user = Path(str(world["bundle"]) + "-user")
        user.mkdir(exist_ok=True)
        (user / "thesis.txt").write_text("mine\n")
        (user / "manifest.json").write_text("{}\n")
    got = main(_argv(args, world))
    out = capsys.readouterr()
    text = out.err + out.out
    assert "Traceback" not in text and "internal error" not in text, text
    assert got == code, text
    assert fragment in text, text
    if code == 2 and args and args[0] != "models" and "Usage" not in fragment:
        assert "error:" in out.err and "fix:" in out.err, text


def test_damaged_openvino_ir_is_a_bundle_error(world, openvino_damaged, capsys):
    got = main(["run", str(openvino_damaged), "--source", str(world["video"]), "--headless", "--detector", "none"])
    err = capsys.readouterr().err
    assert got == 2 and "OpenVINO cannot read model.xml" in err and "Traceback" not in err, err


def test_checkpoint_with_pickled_code_is_refused_without_unsafe_advice(evil_checkpoint, world, capsys):
    got = main(["export", str(evil_checkpoint), "--target", "laptop-x86", "--out", str(world["root"] / "evil-b")])
    out = capsys.readouterr()
    assert got == 2 and "pickled Python object (print)" in out.err, out.err
    assert "weights_only" not in out.err and "will likely succeed" not in out.err
    assert "this ran on load" not in out.out + out.err


def test_an_internal_error_is_one_line_and_a_traceback_file(world, capsys, monkeypatch):
    import edgeaffect.runtime.pipeline as pipeline

    def boom(config):
        raise RuntimeError("a bug")

    monkeypatch.setattr(pipeline, "run", boom)
    got = main(["run", str(world["bundle"]), "--source", str(world["video"]), "--headless"])
    err = capsys.readouterr().err
    assert got == 1 and "internal error: RuntimeError: a bug" in err and "Traceback" not in err
    log = Path(err.split("traceback in ", 1)[1].split(";", 1)[0].split()[0])
    assert "Traceback" in log.read_text() and "a bug" in log.read_text()
    log.unlink()
    assert main(["--verbose", "run", str(world["bundle"]), "--source", str(world["video"]), "--headless"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err  # --verbose prints it
    Path(err.split("traceback in ", 1)[1].split(";", 1)[0].split()[0]).unlink()
