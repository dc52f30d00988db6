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


# Library features newer than their syntax (which feature_version does not see), by the Python that added them.
NEEDS = {("import", "tomllib"): (3, 11), ("name", "ExceptionGroup"): (3, 11), ("name", "Self"): (3, 11),
         ("name", "LiteralString"): (3, 11), ("name", "Never"): (3, 11), ("name", "TypeAlias"): (3, 10),
         ("keyword", "kw_only"): (3, 10), ("keyword", "slots"): (3, 10), ("name", "zip_strict"): (3, 10)}


def _needed(tree: ast.AST) -> list[tuple[tuple[int, int], str]]:
    found = []
    for node in ast.walk(tree):
        keys = []
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            keys += [("import", (getattr(node, "module", None) or a.name).split(".")[0]) for a in node.names]
            keys += [("name", a.name) for a in node.names]
        elif isinstance(node, ast.Name):
            keys.append(("name", node.id))
        elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "dataclass":
            keys += [("keyword", k.arg) for k in node.keywords]
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "zip":
            keys += [("name", "zip_strict") for k in node.keywords if k.arg == "strict"]
        found += [(NEEDS[k], f"{k[1]} (line {node.lineno})") for k in keys if k in NEEDS]
    return found


@pytest.mark.parametrize("path", sorted((ROOT / "edgeaffect").rglob("*.py")), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_library_features_exist_at_the_lowest_declared_python(path):
    needed = _needed(ast.parse(path.read_text(encoding="utf-8")))
    too_new = [what for version, what in needed if version > _min_python()]
    assert not too_new, f"needs a newer Python than requires-python {_min_python()}: {too_new}"


def test_the_feature_check_catches_what_it_is_for():
    assert _needed(ast.parse("import tomllib\nfrom typing import Self")) == [((3, 11), "tomllib (line 1)"),
                                                                           ((3, 11), "Self (line 2)")]
    assert [v for v, _ in _needed(ast.parse("@dataclass(frozen=True, kw_only=True)\nclass A: pass"))] == [(3, 10)]


def test_package_data_covers_the_shipped_files():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["package-data"]
    globs = data["edgeaffect"]
    pkg = ROOT / "edgeaffect"
    for shipped in ("assets/yunet/face_detection_yunet_2026may.onnx", "assets/yunet/LICENSE-yunet.txt",
                    "devices/profiles/rpi4.yaml", "train/recipes/ferplus-default.yaml"):
        assert (pkg / shipped).is_file()
        assert any((pkg / shipped) in set(pkg.glob(g)) for g in globs), f"{shipped} is not in package-data"
