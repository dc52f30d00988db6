"""The README's "What you can do" block, run as printed.

Each ``edgeaffect ...`` line of the block runs through the CLI entry point (in this process, so the
suite does not pay torch's import per command) in a scratch folder where ``EDGEAFFECT_DATA`` holds a
small FER+-layout copy — a few faces of each split of the real FER+ when ``EDGEAFFECT_DATA``
has it, else synthetic faces written in the FER+ layout — and ``my_faces/``, seven renamed class
folders of faces from the same source.
Shell globs (``bundles/*``) and ``$VARS`` are expanded as a shell would.  A README command that
fails, fails here.
"""
from __future__ import annotations

import csv
import glob
import os
import re
import shlex
import time
from pathlib import Path

import cv2
import pytest

pytest.importorskip("torch")

from edgeaffect.cli import main  # noqa: E402
from xeval_support import SEVEN_FOLDERS, write_class_folders  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SPLITS = {"FER2013Train": 24, "FER2013Valid": 8, "FER2013Test": 8}


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## What you can do", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line.strip() for line in block.splitlines() if line.strip().startswith("edgeaffect")]


def _real_rows(real: Path, split: str, n: int) -> list[list[str]]:
    with open(real / split / "label.csv", newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.reader(fh) if len(r) == 12]
    # one face per class first (where the split has them), then in file order: every class present
    by_class: dict[int, list[list[str]]] = {}
    for r in rows:
        by_class.setdefault(max(range(8), key=lambda k: int(r[2 + k])), []).append(r)
    picked = [rs[0] for rs in by_class.values()]
    picked += [r for r in rows if r not in picked][: max(n - len(picked), 0)]
    return picked[:n]


def tiny_ferplus(dest: Path) -> Path:
    """A FER+-layout folder with a few faces per split (real FER+ faces when available)."""
    real = Path(os.environ.get("EDGEAFFECT_DATA", "")) / "ferplus"
    if not real.is_dir():
        from edgeaffect.data import open_dataset
        from edgeaffect.train.recipes import synthetic_data

        faces = open_dataset(synthetic_data("faces", {"per_class": 20, "size": 48, "seed": 5, "aligned": True,
                                                      "per_subject": 1}, str(dest.parent / "cache")))
    for split, n in SPLITS.items():
        folder = dest / split
        folder.mkdir(parents=True)
        with open(folder / "label.csv", "w", newline="", encoding="utf-8") as fh:
            out = csv.writer(fh)
            if real.is_dir():
                for row in _real_rows(real, split, n):
                    (folder / row[0]).write_bytes((real / split / row[0]).read_bytes())
                    out.writerow(row)
                continue
            ours = {"FER2013Train": "train", "FER2013Valid": "valid", "FER2013Test": "test"}[split]
            for i, rec in enumerate(faces.split(ours)[:n]):
                image = rec.read_image()
                gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
                name = f"fer{i:07d}.png"
                cv2.imwrite(str(folder / name), cv2.resize(gray, (48, 48), interpolation=cv2.INTER_AREA))
                votes = [0] * 10
                votes[rec.label] = 10  # synthetic classes are the 8 FER+ expressions, in FER+ order
                out.writerow([name, "(0, 0, 48, 48)", *votes])
    return dest


def tiny_recording(dest: Path) -> Path:
    """The real PhysRecorder recording when ``EDGEAFFECT_DATA`` has it, else 12 s of a synthetic face with a pulse
    written in its layout."""
    real = Path(os.environ.get("EDGEAFFECT_DATA", "")) / "physrecorder_v01"
    if real.is_dir():
        dest.symlink_to(real, target_is_directory=True)
        return dest
    import numpy as np
    from pulse_support import face_frames, pulse, write_physrecorder

    times = np.arange(0, 12.0, 1 / 30.0)
    sig_times = np.arange(0, 12.0, 1 / 20.0)
    return write_physrecorder(dest, face_frames(times, 72.0), times, sig_times, pulse(sig_times, 72.0))


def _jsonl(path: Path) -> list[dict]:
    import json

    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# What each README command must leave behind or print, beyond exiting 0: (words of the command, check(work, stdout)).
EXPECT = [
    ("data inspect", lambda w, out: "ferplus" in out and "test" in out),
    ("eval default", lambda w, out: "accuracy" in out and "uar" in out.lower()),
    ("data synth videos clips", lambda w, out: (w / "clips" / "s1" / "vid_s1_T1.avi").stat().st_size > 0),
    ("run default --source", lambda w, out: all(r["faces"] == [] or r["faces"][0]["label"] for r in _jsonl(w / "results.jsonl"))),
    ("train --list", lambda w, out: "ferplus-default" in out and "resnet18" in out),
    ("train ferplus-default", lambda w, out: (w / "runs" / "mine" / "best.pt").is_file()
     and "framing" in (w / "runs" / "mine" / "meta.json").read_text()),
    ("eval runs/mine --", lambda w, out: "112" in out and "cubic" in out),
    ("train ferplus-balanced", lambda w, out: (w / "runs" / "mine-bal" / "best.pt").is_file()),
    ("tune runs/mine-bal", lambda w, out: '"adjust"' in (w / "runs" / "mine-tuned" / "meta.json").read_text()
     and "framing" in out),
    ("eval runs/mine-tuned", lambda w, out: "recall" in out and "[" in out and "valid+test" in out),
    ("compress runs/mine", lambda w, out: (w / "runs" / "mine-p30" / "best.pt").is_file()),
    ("devices", lambda w, out: "rpi4" in out),
    ("eval --pulse pos", lambda w, out: "MAE" in out and "pos" in out),
    ("--pulse pos --source", lambda w, out: any("heart_rate" in f for r in _jsonl(w / "r.jsonl") for f in r["faces"])),
    ("bench bundles", lambda w, out: (w / "bench.json").stat().st_size > 0),
    ("report bench.json", lambda w, out: any((w / "report").iterdir())),
]


@pytest.mark.slow
def test_the_readme_commands_run_as_printed(tmp_path, monkeypatch, capsys):
    data = tmp_path / "data"
    tiny_ferplus(data / "ferplus")
    tiny_recording(data / "physrecorder_v01")
    write_class_folders(data / "my_faces", SEVEN_FOLDERS, per_class=2)  # the cross-data-set eval line
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("EDGEAFFECT_DATA", str(data))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # nothing from the user's cache
    commands = readme_commands()
    assert len(commands) >= 10 and any(" export " in c and "--target rpi4" in c for c in commands)
    timings = []
    for line in commands:
        words = shlex.split(line, comments=True)[1:]
        args = [a for w in words for a in (sorted(glob.glob(os.path.expandvars(w))) or [os.path.expandvars(w)])]
        t, cpu = time.perf_counter(), time.process_time()
        code = main(args)
        # CPU seconds beside wall seconds: on a shared machine the wall clock says more about the neighbours
        timings.append(f"{time.perf_counter() - t:6.1f} s wall {time.process_time() - cpu:6.1f} s CPU  "
                       f"{line.split('#')[0].strip()}")
        captured = capsys.readouterr()
        assert code == 0, f"README command failed: {line}\n{captured.err[-2000:]}"
        for words_, check in EXPECT:  # a command that exits 0 without doing its job fails too
            if words_ in line.split("#")[0]:
                assert check(work, captured.out), f"README command did not do its job: {line}\n{captured.out[-2000:]}"
    print("\n".join(timings))
    assert (work / "bundles" / "default-rpi4" / "manifest.json").is_file()
    assert (work / "bundles" / "mine-rpi4" / "manifest.json").is_file()
    assert (work / "results.jsonl").read_text().count("\n") >= 5
    assert (work / "report").is_dir()
