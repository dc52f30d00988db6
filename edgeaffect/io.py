"""Atomic file writes, checksums, and which files count as images, shared by training, export and the runtime.

Outputs are written to a temporary file in the same folder and renamed into
place, so a crash or a kill never leaves a truncated checkpoint, bundle file or
report behind.  ``check_writable`` proves an output path can be written before
any work starts, so a wrong ``--out`` fails in a second, not after the work.
Torch-free.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from edgeaffect.errors import ConfigError
# Image files every reader of folders takes (datasets, calibration folders, the runtime's image-folder
# source): the still-image formats OpenCV decodes in every build edgeaffect installs.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def atomic_write(path: Path, write: Callable[[Any], None], *, binary: bool = True) -> Path:
    """Call ``write(fileobj)`` on a temp file next to ``path``, fsync, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp creates 0600 files; give outputs the permissions a plain open() would (umask applied),
        # so reports and bundles can be served or copied by other users
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: Path, text: str) -> Path:
    return atomic_write(path, lambda fh: fh.write(text), binary=False)


def atomic_write_json(path: Path, data: Any) -> Path:
    """``data`` as strict JSON through the one serialiser (``plain.to_plain``: no NaN, no Infinity)."""
    from edgeaffect.plain import to_plain

    text = json.dumps(to_plain(data), indent=2, sort_keys=True, default=str, allow_nan=False)
    return atomic_write_text(path, text + "\n")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _existing_ancestor(path: Path) -> Path:
    for parent in path.parents:
        if parent.exists():
            return parent
    return Path(".")


def check_writable(path: str | Path, *, folder: bool = False, flag: str = "--out") -> Path:
    """Raise :class:`ConfigError` unless ``path`` (a file, or a folder with ``folder``) can be written.

    Nothing is created or truncated: the nearest existing folder on the way is
    probed with a temporary file that is removed at once.  Permission bits
    alone do not tell (root passes every ``access`` check, /proc refuses new
    files), so only a real create proves it.
    """
    path = Path(path).expanduser()
    if path.exists() and path.is_dir() != folder:
        kind = "a folder" if path.is_dir() else "a file"
        raise ConfigError(f"{flag} {path} is {kind}", f"give {flag} a {'folder' if folder else 'file'} path")
    probe_dir = path if folder and path.is_dir() else path.parent if path.parent.exists() else _existing_ancestor(path)
    if not probe_dir.is_dir():
        raise ConfigError(f"{flag} {path} cannot be created: {probe_dir} is a file, not a folder",
                          f"choose a {flag} path inside a folder")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".edgeaffect-probe-", dir=probe_dir)
    except OSError as exc:
        raise ConfigError(f"{flag} {path} cannot be written: {exc.strerror} ({probe_dir})",
                          f"choose a {flag} path in a folder you can write to") from None
    os.close(fd)
    os.unlink(tmp)
    if path.is_file() and not os.access(path, os.W_OK):
        raise ConfigError(f"{flag} {path} exists and is read-only", f"choose another {flag} path or make it writable")
    return path
