"""How artifacts name paths: never an absolute path of the machine that wrote them.

Bundles, run folders and the shipped assets are copied to devices and shared, and a path
such as ``/home/ana/affect-study/...`` says more than it should.  :func:`portable` turns a
path into what an artifact records: relative to the artifact's own folder when it lies
inside (or near) it, ``$EDGEAFFECT_DATA/...`` under the data folder, ``~/...`` under the
home folder.  :func:`resolved` reads such a record back against the artifact's folder
(``$EDGEAFFECT_DATA`` stays for the reader that expands it, so a run moved to another
machine finds its data there).  :func:`scrubbed` does the same for free text that may
quote paths (provenance notes).  Torch-free.
"""
from __future__ import annotations

import os
from pathlib import Path

DATA_VAR = "EDGEAFFECT_DATA"


def _inside(path: Path, root: Path) -> str | None:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return None


def _roots() -> list[tuple[Path, str]]:
    """(folder, how it is written) in the order they are tried: the data folder, then home."""
    roots = []
    data = os.environ.get(DATA_VAR)
    if data:
        roots.append((Path(data).expanduser().absolute(), f"${DATA_VAR}"))
    roots.append((Path.home().absolute(), "~"))
    return roots


def portable(path: str | os.PathLike | None, base: str | os.PathLike | None = None) -> str:
    """How an artifact in folder ``base`` records ``path`` (relative paths are taken from the working folder).

    Inside ``base``: relative to it.  Else under ``$EDGEAFFECT_DATA`` or the home folder: from
    there.  Else relative to ``base`` (``../...``).  Text that is already portable (``$VAR/...``,
    ``~/...``) or empty is kept.
    """
    if path is None:
        return ""
    text = os.fspath(path)
    if not text or text.startswith(("$", "~")):
        return text
    where = Path(text).absolute()
    if base is not None:
        own = _inside(where, Path(base).absolute())
        if own is not None:
            return own or "."
    for root, name in _roots():
        rel = _inside(where, root)
        if rel is not None:
            return f"{name}/{rel}" if rel else name
    if base is not None:
        return Path(os.path.relpath(where, Path(base).absolute())).as_posix()
    return where.name


def resolved(text: str | None, base: str | os.PathLike | None) -> str:
    """A recorded path read back: ``~`` expanded, relative ones joined to ``base``; ``$EDGEAFFECT_DATA`` kept."""
    if not text or text.startswith("$"):
        return text or ""
    path = Path(text).expanduser()
    if not path.is_absolute() and base is not None:
        path = Path(os.path.normpath(Path(base).absolute() / path))
    return str(path)


def scrubbed(text: str, base: str | os.PathLike | None = None) -> str:
    """Free text with the absolute folders it may quote (``base``, the data folder, home) written portably."""
    pairs = [(Path(base).absolute(), ".")] if base is not None else []
    for root, name in pairs + _roots():
        text = text.replace(str(root) + os.sep, name + "/").replace(str(root), name)
    return text
