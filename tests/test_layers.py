"""The import layers: a package imports only from its own layer or the ones below it.

Lowest first: the shared core (meta, errors, io, preprocess, the one face cut, the one KEY=VALUE
parser, portable paths, metrics, the export-format table, face detectors, bundle, the shipped
models, the pulse estimators, signal levels) -> data
and runtime (which never import each other) -> calibration, bench, report, device profiles ->
train -> compress -> the CLI and demo.
Every ``import`` statement counts, also those inside functions, since a lazy import
still ties the layers together.  The torch-free layers must not reach torch at all,
neither by ``import`` nor through ``_optional.require``.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import edgeaffect

PACKAGE = Path(edgeaffect.__file__).parent
CORE = ("__init__", "_optional", "_telemetry", "errors", "plain", "meta", "io", "portable", "keyvalue", "preprocess", "facecrop", "metrics", "formats",
        "backend_options",
        "modelcache", "detectors", "bundle", "assets", "pulse", "signal_level")
LAYERS: dict[str, int] = {
    **dict.fromkeys(CORE, 0),
    "data": 1, "runtime": 1,
    "calibration": 2, "bench": 2, "report": 2,
    "devices": 2,  # profiles check their runtime settings (smoothing, detectors) against the runtime's registries
    "train": 3,
    "compress": 4,
    "cli": 5, "__main__": 5, "demo": 5, "demo_steps": 5,
}
APART = {frozenset({"data", "runtime"})}  # same layer, yet neither may import the other
TORCH_FREE = {name for name, rank in LAYERS.items() if rank == 0} | {"runtime"}
TORCH_MODULES = ("torch", "torchvision", "torchaudio", "timm", "torch_pruning", "kornia")


def _part(path: Path, root: Path) -> str:
    """The top-level part of the package a file belongs to (``runtime`` for runtime/backends/x.py)."""
    rel = path.relative_to(root)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imports(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, dotted name) of every absolute import, ``from a import b`` counted as ``a.b``."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
        elif (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "require" and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            out.append((node.lineno, node.args[0].value))  # edgeaffect._optional.require("torch", ...)
    return out


def violations(root: Path = PACKAGE) -> list[str]:
    """Every import in the package under ``root`` that reaches a higher layer or torch from a torch-free one."""
    found = []
    for path in sorted(root.rglob("*.py")):
        part = _part(path, root)
        if part not in LAYERS:
            found.append(f"{path.relative_to(root)}: '{part}' has no layer; add it to LAYERS")
            continue
        for line, name in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            where = f"{path.relative_to(root)}:{line}"
            head, _, rest = name.partition(".")
            if head == "edgeaffect":
                target = rest.split(".")[0]
                if target == part or target not in LAYERS:  # own package, or a name such as __version__
                    continue
                if LAYERS[target] > LAYERS[part] or frozenset({part, target}) in APART:
                    found.append(f"{where}: {part} imports {name} ({target} is not below {part})")
            elif part in TORCH_FREE and head in TORCH_MODULES:
                found.append(f"{where}: {part} is torch-free but imports {name}")
    return found


def test_no_module_imports_a_higher_layer():
    assert violations() == []


def test_every_package_part_has_a_layer():
    parts = {_part(p, PACKAGE) for p in PACKAGE.rglob("*.py")}
    assert parts <= set(LAYERS), sorted(parts - set(LAYERS))


@pytest.mark.parametrize("part,source,reason", [
    ("runtime/loader.py", "from edgeaffect.compress import formats\n", "compress is not below runtime"),
    ("runtime/loader.py", "def f():\n    import edgeaffect.train.engine\n", "train is not below runtime"),
    ("data/facecache.py", "from edgeaffect.runtime.sources import open_source\n", "runtime is not below data"),
    ("meta.py", "from edgeaffect.runtime import pipeline\n", "runtime is not below meta"),
    ("runtime/pipeline.py", "import torch\n", "torch-free but imports torch"),
    ("runtime/pipeline.py", "x = require('torch', 'train')\n", "torch-free but imports torch"),
])
def test_the_check_catches_a_planted_import(tmp_path, part, source, reason):
    root = tmp_path / "edgeaffect"
    (root / part).parent.mkdir(parents=True)
    (root / part).write_text(source)
    (root / "compress").mkdir(exist_ok=True)
    (root / "compress" / "export.py").write_text("from edgeaffect.runtime import loader\nimport torch\n")  # allowed
    found = violations(root)
    assert len(found) == 1 and reason in found[0], found
