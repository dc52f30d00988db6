"""Packaging contracts: the declared Python range is the one the code needs, and package data ships."""
from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _min_python() -> tuple[int, int]:
    m = re.fullmatch(r">=\s*3\.(\d+)", PYPROJECT["requires-python"].strip())
    assert m, f"requires-python should be a plain lower bound, not {PYPROJECT['requires-python']!r}"
    return (3, int(m.group(1)))


def test_classifiers_agree_with_requires_python():
    listed = sorted((3, int(c.rsplit(".", 1)[1])) for c in PYPROJECT["classifiers"]
                    if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c))
    assert listed and listed[0] == _min_python()


@pytest.mark.parametrize("path", sorted((ROOT / "edgeaffect").rglob("*.py")), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_sources_parse_at_the_lowest_declared_python(path):
    # feature_version rejects syntax newer than the declared minimum (match, except*, PEP 695 generics...)
    ast.parse(path.read_text(encoding="utf-8"), feature_version=_min_python())


def test_kw_only_dataclasses_need_310():
    uses = [p for p in (ROOT / "edgeaffect").rglob("*.py") if "kw_only=True" in p.read_text(encoding="utf-8")]
    assert not uses or _min_python() >= (3, 10)


def test_package_data_covers_the_shipped_files():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["package-data"]
    globs = data["edgeaffect"]
    pkg = ROOT / "edgeaffect"
    for shipped in ("assets/yunet/face_detection_yunet_2026may.onnx", "assets/yunet/LICENSE-yunet.txt",
                    "devices/profiles/rpi4.yaml", "train/recipes/ferplus-default.yaml"):
        assert (pkg / shipped).is_file()
        assert any((pkg / shipped) in set(pkg.glob(g)) for g in globs), f"{shipped} is not in package-data"
