"""Fault suite, fuzzed loaders under a memory cap: Hypothesis writes meta.json and manifest.json into an otherwise
good, re-hashed bundle and results files for ``report``, and the real CLI runs each with the address space capped
(``resource.setrlimit``) a little above what the process already uses.  Every case must end in exit 0 or 2 —
never 1 (a bug), never a MemoryError: sizes are bounded before anything is allocated from them."""
from __future__ import annotations

import hashlib
import json
import resource
import shutil
import tempfile
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from edgeaffect.cli import main  # noqa: E402
from runtime_support import make_bundle, make_video  # noqa: E402

FUZZ = settings(max_examples=40, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
HEADROOM = 1 << 30  # the cap: what the process maps now plus 1 GiB (a 100000x100000 input needs 40 GB)
NUMBER = st.one_of(st.integers(-10, 10), st.integers(-(10**12), 10**12), st.floats(allow_nan=True, allow_infinity=True))
LEAF = st.one_of(st.none(), st.booleans(), NUMBER, st.text(max_size=12))
JSON = st.recursive(LEAF, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=4), max_leaves=10)
SIZE = st.lists(NUMBER, min_size=0, max_size=3)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    return {"bundle": make_bundle(root / "b"), "video": make_video(root / "clip.avi", frames=2)}


@pytest.fixture
def memory_cap():
    """Cap the soft address-space limit for the test's duration (the hard limit stays, so it can be restored)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    mapped = sum(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
                 if line.startswith("VmSize:")) * 1024
    cap = mapped + HEADROOM if hard == resource.RLIM_INFINITY else min(hard, mapped + HEADROOM)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield cap
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _bundle_copy(world) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="edgeaffect-fuzz-")) / "b"
    shutil.copytree(world["bundle"], folder)
    return folder


def _rehash(folder: Path) -> None:
    man = json.loads((folder / "manifest.json").read_text())
    man["files"] = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())
                    if p.is_file() and p.name != "manifest.json"}
    (folder / "manifest.json").write_text(json.dumps(man))


def _run(folder: Path, world, capsys) -> int:
    code = main(["run", str(folder), "--source", str(world["video"]), "--headless", "--detector", "none",
                 "--max-frames", "1"])
    err = capsys.readouterr().err
    assert code in (0, 2), err
    assert "MemoryError" not in err and "Traceback" not in err, err
    return code


META_FIELDS = st.fixed_dictionaries({}, optional={
    "input_size": SIZE, "mean": SIZE, "std": SIZE, "labels": st.lists(st.text(max_size=6), max_size=12) | JSON,
    "color": st.sampled_from(["gray", "rgb", "cmyk"]) | JSON, "task": st.sampled_from(["classification", "signal"]) | JSON,
    "temporal": st.fixed_dictionaries({"frames": NUMBER, "fps": NUMBER}) | JSON, "heads": JSON, "version": JSON,
    "framing": JSON, "interpolation": JSON})


@FUZZ
@given(META_FIELDS)
def test_fuzzed_meta_ends_in_exit_0_or_2_within_the_cap(world, memory_cap, capsys, changes):
    folder = _bundle_copy(world)
    try:
        meta = json.loads((folder / "meta.json").read_text())
        (folder / "meta.json").write_text(json.dumps({**meta, **changes}))
        _rehash(folder)  # a forger re-hashes: only the bounds stand between the meta and the allocator
        _run(folder, world, capsys)
    finally:
        shutil.rmtree(folder.parent)


RUNTIME_FIELDS = st.fixed_dictionaries({}, optional={
    k: JSON | NUMBER for k in ("backend", "backend_options", "threads", "detector", "detector_model", "detect_every",
                               "detect_side", "camera", "smoothing")})


@FUZZ
@given(RUNTIME_FIELDS, st.dictionaries(st.sampled_from(["format", "precision", "model_files", "version", "files"]),
                                       JSON, max_size=2))
def test_fuzzed_manifest_ends_in_exit_0_or_2_within_the_cap(world, memory_cap, capsys, runtime, top):
    folder = _bundle_copy(world)
    try:
        man = json.loads((folder / "manifest.json").read_text())
        man["runtime"] = {**man["runtime"], **runtime}
        (folder / "manifest.json").write_text(json.dumps({**man, **top}))
        _run(folder, world, capsys)
    finally:
        shutil.rmtree(folder.parent)


ROW = st.fixed_dictionaries({}, optional={k: JSON for k in ("bundle", "n", "fps", "stages", "end_to_end",
                                                                "model_size_bytes", "rss_mb", "metrics", "key")})
RESULT = st.fixed_dictionaries({"schema": st.just("edgeaffect.bench") | JSON}, optional={
    "created": JSON, "device": JSON, "tools": JSON, "data": JSON, "bundles": st.lists(ROW, max_size=2) | JSON,
    "accuracy": st.lists(ROW, max_size=2), "latency": st.lists(ROW, max_size=2), "capture": st.lists(ROW, max_size=2),
    "version": JSON})


@FUZZ
@given(RESULT)
def test_fuzzed_results_end_in_exit_0_or_2_within_the_cap(memory_cap, capsys, tmp_path_factory, data):
    from edgeaffect.bench.results import SCHEMA

    root = tmp_path_factory.mktemp("res")
    if data.get("schema") == "edgeaffect.bench":
        data["schema"] = SCHEMA
    (root / "results.json").write_text(json.dumps(data))
    code = main(["report", str(root / "results.json"), "-o", str(root / "rep")])
    err = capsys.readouterr().err
    assert code in (0, 2) and "MemoryError" not in err and "Traceback" not in err, err


def test_the_cap_is_real(memory_cap):
    import numpy as np

    with pytest.raises(MemoryError):
        np.ones(2 * HEADROOM, dtype=np.uint8)  # what a 100000 x 100000 meta would have asked for, and less
