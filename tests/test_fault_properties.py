"""Fault suite, property-based: the label CSV readers, the training-config override parser and the bundle manifest
loader meet arbitrary input.  Whatever Hypothesis writes, each either reads what is valid or raises the project's
own error — never another exception — and a broken line never costs a good one."""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from edgeaffect.bundle import load_bundle  # noqa: E402
from edgeaffect.data import fer2013csv, ferplus  # noqa: E402
from edgeaffect.errors import BundleError, ConfigError, EdgeAffectError  # noqa: E402
from edgeaffect.io import sha256_file  # noqa: E402
from edgeaffect.train.config import ALIASES, RANGES, all_keys  # noqa: E402
from edgeaffect.train.recipes import resolve_config  # noqa: E402
from runtime_support import make_bundle  # noqa: E402

FAST = settings(max_examples=60, deadline=None, database=None,  # nothing written into the checkout
                suppress_health_check=[HealthCheck.function_scoped_fixture])
# one line of anything a damaged text file can hold: no line breaks, no unencodable surrogates
LINE = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"),
               max_size=60)
GOOD_ROW = 'fer{i:07d}.png,"(0, 0, 48, 48)",{votes}'


@st.composite
def damaged_row(draw):
    """A FER+ row as a damaged file holds it: its box's closing quote lost, or cut short after a comma."""
    row = GOOD_ROW.format(i=9_999_999, votes="6,0,1,1,0,0,0,0,2,0")
    if draw(st.booleans()):
        return row.replace(')"', ")", 1)
    commas = [i for i, c in enumerate(row) if c == ","][:10]
    return row[:draw(st.sampled_from(commas)) + 1]


# at most 10 commas: never the 12 cells of a FER+ row, so every such line is malformed (or blank)
GARBAGE = st.one_of(LINE.filter(lambda s: s.count(",") <= 10), damaged_row(),
                    LINE.filter(lambda s: s.count(",") <= 10).map(lambda s: '"' + s))


def _scratch() -> Path:
    return Path(tempfile.mkdtemp(prefix="edgeaffect-prop-"))


@st.composite
def ferplus_lines(draw):
    """(lines, {line number: expected label} of the good rows, line numbers of the garbage)."""
    n = draw(st.integers(1, 12))
    lines, good, bad = [], {}, []
    for i in range(n):
        if draw(st.booleans()):
            label = draw(st.integers(0, 7))
            votes = [0] * 10
            votes[label] = 6 + draw(st.integers(0, 4))  # a clear majority, whatever the rest holds
            lines.append(GOOD_ROW.format(i=i, votes=",".join(map(str, votes))))
            good[i + 1] = label
        else:
            lines.append(draw(GARBAGE))
            bad.append(i + 1)
    return lines, good, bad


@FAST
@given(ferplus_lines())
def test_ferplus_reader_keeps_every_good_row_and_names_every_bad_line(case):
    lines, good, bad = case
    root = _scratch()
    try:
        folder = root / "FER2013Train"
        folder.mkdir()
        for number in good:
            (folder / f"fer{number - 1:07d}.png").write_bytes(b"")  # the reader only checks the file is there
        (folder / "label.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        index = ferplus.read(root)
        got = {int(r.path.stem[3:]) + 1: r.label for r in index.splits.get("train", ())}
        assert got == good  # no good row lost to the broken one before it
        skipped = {int(s.source.rsplit(":", 1)[1]) for s in index.skipped}
        assert skipped <= set(bad)  # every skipped line is a broken one, numbered exactly
        blank = {n for n in bad if not lines[n - 1].replace(",", "").strip()}
        assert set(bad) - blank - {1} <= skipped  # and every broken line past a possible header is reported
    finally:
        shutil.rmtree(root)


@FAST
@given(st.lists(st.one_of(st.integers(0, 6).map(lambda e: ("good", e)), GARBAGE.map(lambda s: ("bad", s))),
                min_size=1, max_size=8))
def test_fer2013_csv_reader_keeps_every_good_row(rows):
    root = _scratch()
    try:
        pixels = " ".join(["128"] * 48 * 48)
        text = ["emotion,pixels,Usage"] + [f"{v},{pixels},Training" if kind == "good" else v for kind, v in rows]
        path = root / "fer2013.csv"
        path.write_text("\n".join(text) + "\n", encoding="utf-8")
        want = [v for kind, v in rows if kind == "good"]
        try:
            index = fer2013csv.read(path)
        except EdgeAffectError:
            assert not want  # only a file without one good row may be refused
            return
        assert sorted(r.label for r in index.splits["train"]) == sorted(want)
        good_lines = {i + 2 for i, (kind, _) in enumerate(rows) if kind == "good"}
        assert not {int(s.source.rsplit(":", 1)[1]) for s in index.skipped} & good_lines
    finally:
        shutil.rmtree(root)


KEYS = st.one_of(st.sampled_from(sorted(set(all_keys()) | set(ALIASES))), st.sampled_from(sorted(RANGES)))
VALUES = st.one_of(LINE, st.integers().map(str), st.floats().map(str), st.sampled_from(
    [".nan", ".inf", "-.inf", "[1, 2]", "{a: 1}", "null", "true", "0", "-1", "1e400", "2024-01-01", "'", "!!python/name:os.system"]))


@FAST
@given(st.lists(st.one_of(st.tuples(KEYS, VALUES).map("=".join), LINE), max_size=6))
def test_config_overrides_resolve_or_raise_config_error(items):
    try:
        config = resolve_config(None, items)
    except ConfigError:
        return
    assert config.optim.batch >= 1 and config.schedule.epochs >= 1 and config.optim.lr > 0


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                    max_leaves=12)
FIELDS = st.fixed_dictionaries({}, optional={k: JSON for k in ("format", "precision", "model_files", "files", "tools",
                                                                "target", "verification", "version")})


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return make_bundle(tmp_path_factory.mktemp("prop") / "b")


@FAST
@given(st.one_of(JSON.map(json.dumps), FIELDS.map(json.dumps), st.binary(max_size=64).map(bytes)))
def test_manifest_loader_reads_or_raises_bundle_error(bundle, manifest):
    root = _scratch()
    try:
        folder = root / "b"
        shutil.copytree(bundle, folder)
        payload = manifest if isinstance(manifest, bytes) else manifest.encode()
        (folder / "manifest.json").write_bytes(payload)
        try:
            loaded = load_bundle(folder)
        except BundleError:
            return
        # whatever loads has its model inside the folder, and every file it will read checksummed as listed
        assert loaded.model_path.resolve().parent == folder.resolve() and loaded.model_path.is_file()
        files = dict(loaded.manifest.files)
        assert set(loaded.manifest.model_files) <= set(files)
        assert all(sha256_file(folder / rel) == digest for rel, digest in files.items())
    finally:
        shutil.rmtree(root)
