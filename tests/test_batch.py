"""Batch analysis of a corpus: serial, ``--jobs 2``, ``--shard 1/2`` + ``2/2`` and Ray give the same results.

The corpus is five short generated videos in sub-folders (the face of ``runtime_support`` drifting at
different lengths) and one file that is not a video.  Results are compared by each video's digest
(its result lines without timings) and by the result lines themselves.  All runs use one inference
thread, so float reductions happen in the same order everywhere.
"""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgeaffect.cli import main
from runtime_support import make_video

ROOT = Path(__file__).resolve().parents[1]
LENGTHS = {"a/one.avi": 6, "a/two.avi": 8, "b/three.avi": 10, "four.avi": 12, "five.avi": 14}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus") / "videos"
    for rel, frames in LENGTHS.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        make_video(root / rel, frames=frames)
    return root


def batch(corpus: Path, out: Path, *flags: str) -> int:
    return main(["run", "default", "--source", str(corpus), "--out", str(out), "--threads", "1", *flags])


def table(out: Path) -> dict[str, dict[str, str]]:
    return {r["video"]: r for r in csv.DictReader((out / "corpus.csv").open())}


def results(out: Path) -> dict[str, list[dict]]:
    """Every video's result lines without their timings."""
    found = {}
    for path in sorted(out.glob("*.jsonl")):
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        found[path.stem] = [{k: v for k, v in line.items() if k != "stage_ms"} for line in lines]
    return found


@pytest.fixture(scope="module")
def serial(corpus, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("serial")
    assert batch(corpus, out) == 0
    return out


def test_serial_writes_one_result_per_video_and_the_corpus_table(serial):
    rows = table(serial)
    assert set(rows) == {"a__one.avi", "a__two.avi", "b__three.avi", "four.avi", "five.avi"}
    assert all(r["status"] == "done" and r["digest"] for r in rows.values())
    assert {k: int(r["frames"]) for k, r in rows.items()} == {
        rel.replace("/", "__"): n for rel, n in LENGTHS.items()}
    assert all(abs(sum(float(r[c]) for c in ("neutral", "happiness", "surprise", "sadness", "anger", "disgust",
                                               "fear", "contempt")) - 1) < 1e-4 for r in rows.values())
    assert (serial / "five.avi.summary.json").is_file()


def test_jobs_2_gives_identical_results(corpus, serial, tmp_path):
    assert batch(corpus, tmp_path, "--jobs", "2") == 0
    assert {k: r["digest"] for k, r in table(tmp_path).items()} == {k: r["digest"] for k, r in table(serial).items()}
    assert results(tmp_path) == results(serial)


def test_shards_split_the_corpus_and_add_up(corpus, serial, tmp_path):
    assert batch(corpus, tmp_path, "--shard", "1/2") == 0
    first = table(tmp_path)
    assert sorted(r["status"] for r in first.values()) == ["done"] * 3 + ["pending"] * 2
    assert batch(corpus, tmp_path, "--shard", "2/2") == 0
    assert all(r["status"] == "done" for r in table(tmp_path).values())  # the last shard writes the whole table
    assert results(tmp_path) == results(serial)
    assert batch(corpus, tmp_path, "--shard", "3/2") == 2


def test_ray_gives_identical_results(corpus, serial, tmp_path):
    pytest.importorskip("ray")
    assert batch(corpus, tmp_path, "--ray") == 0
    assert results(tmp_path) == results(serial)


def test_killed_batch_resumes_and_skips_finished_videos(corpus, serial, tmp_path):
    listing = tmp_path / "videos.txt"
    listing.write_text("# the corpus as a list file\n" + "".join(f"{corpus / rel}\n" for rel in LENGTHS))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "edgeaffect", "run", "default", "--source", str(listing), "--out", str(out),
           "--threads", "1"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob("*.summary.json")) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)  # no chance to tidy up
        proc.wait()
    done_before = {p.name for p in out.glob("*.summary.json")}
    assert 1 <= len(done_before) < len(LENGTHS), "the batch was not caught in the middle"
    assert main(["run", "default", "--source", str(listing), "--out", str(out), "--threads", "1"]) == 0
    rows = table(out)
    skipped = {f"{k}.summary.json" for k, r in rows.items() if r["status"] == "skipped"}
    assert skipped == done_before and all(r["status"] in ("done", "skipped") for r in rows.values())
    by_name = {Path(rel).name: rel.replace("/", "__") for rel in LENGTHS}  # list items are named by file name
    assert {k: v for k, v in results(out).items()} == {k: results(serial)[by_name[k]] for k in results(out)}
    from edgeaffect.runtime.batch_run import run_batch
    from edgeaffect.runtime.runflags import run_config

    again = run_batch(run_config("default", threads=1), str(listing), out)
    assert again.count("skipped") == len(LENGTHS) and again.count("done") == 0


def test_a_failed_video_is_listed_and_the_others_go_on(corpus, tmp_path, capsys):
    broken = tmp_path / "corpus"
    broken.mkdir()
    (broken / "bad.avi").write_bytes(b"not a video" * 100)
    (broken / "good.avi").symlink_to(corpus / "four.avi")
    assert batch(broken, tmp_path / "out") == 2
    rows = table(tmp_path / "out")
    assert rows["good.avi"]["status"] == "done" and rows["bad.avi"]["status"] == "failed"
    assert "bad.avi" in rows["bad.avi"]["error"] and "fix:" in rows["bad.avi"]["error"]
    assert "Traceback" not in capsys.readouterr().err


def test_batch_flags_need_a_corpus_and_a_folder(corpus, tmp_path, capsys):
    single = corpus / "four.avi"
    assert main(["run", "default", "--source", str(single), "--headless", "--jobs", "2"]) == 2
    assert main(["run", "default", "--source", str(corpus), "--out", str(tmp_path / "r.jsonl")]) == 2
    assert main(["run", "default", "--source", str(corpus), "--out", str(tmp_path / "o"), "--jobs", "2",
                 "--threads", "64"]) == 2
    assert "fix:" in capsys.readouterr().err
