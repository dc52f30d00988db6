"""Atomic file writes, checksums, which files count as images and reading a video's frames, shared by training, export and the runtime.

Outputs are written to a temporary file in the same folder and renamed into
place, so a crash or a kill never leaves a truncated checkpoint, bundle file or
report behind.  ``check_writable`` proves an output path can be written before
any work starts, so a wrong ``--out`` fails in a second, not after the work;
it also refuses an output that is a symbolic link (written through, it would
overwrite whatever it points at) or that lies inside the installed edgeaffect
package (its shipped model is checksummed and must never be overwritten).
:class:`StagedFile` streams a result file to ``<name>.partial`` and renames it
onto the target only when the work ends cleanly, under an advisory lock that
stops a second writer of the same output.  Torch-free.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

from edgeaffect.errors import ConfigError, DataError
from edgeaffect.plain import to_plain

PACKAGE_ROOT = Path(__file__).resolve().parent  # the installed package: never an output
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


def dumps_json(data: Any, *, digits: int | None = None, **kwargs: Any) -> str:
    """The one JSON serialiser for what edgeaffect writes: strict JSON (``plain.to_plain``: NaN/Infinity -> null),
    floats rounded to ``digits`` when given."""
    return json.dumps(to_plain(data, digits), allow_nan=False, default=str, **kwargs)


def atomic_write_json(path: Path, data: Any) -> Path:
    """``data`` as strict JSON through the one serialiser (``plain.to_plain``: no NaN, no Infinity)."""
    return atomic_write_text(path, dumps_json(data, indent=2, sort_keys=True) + "\n")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def video_frames(path: str | Path, limit: int | None = None) -> Iterator[Any]:
    """The frames of a video file as BGR uint8 arrays, in order, at most ``limit`` of them.

    For reading a whole file offline (recordings, benchmarks, tests); the runtime's sources add
    timestamps, reconnects and drop policies on top of their own capture.
    """
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise DataError(f"OpenCV cannot open {path}", "check the file is a complete video")
        count = 0
        while limit is None or count < limit:
            ok, image = cap.read()
            if not ok:
                return
            count += 1
            yield image
    finally:
        cap.release()


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
    refuse_unsafe_output(path, flag)
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


_PACKAGING = False  # True only inside packaging_the_default()


@contextlib.contextmanager
def packaging_the_default():
    """Let ``tools/ship_default.py`` write the shipped model inside the package (no user command can)."""
    global _PACKAGING
    _PACKAGING = True
    try:
        yield
    finally:
        _PACKAGING = False


def refuse_unsafe_output(path: Path, flag: str = "--out") -> None:
    """Raise :class:`ConfigError` for an output that is a symlink or lies inside the installed package."""
    path = Path(path).expanduser()
    if path.is_symlink():
        raise ConfigError(f"{flag} {path} is a symbolic link (to {os.readlink(path)}); edgeaffect never writes "
                          "through one", f"give {flag} the real path, or remove the link")
    try:
        path.resolve().relative_to(PACKAGE_ROOT)
    except ValueError:
        return
    if _PACKAGING:
        return
    raise ConfigError(f"{flag} {path} is inside the installed edgeaffect package ({PACKAGE_ROOT}), whose files "
                      "(the shipped default model among them) are checksummed and must not be overwritten",
                      f"choose a {flag} outside {PACKAGE_ROOT}")


class OutputLock:
    """An advisory lock (``fcntl.flock``) on ``.<name>.lock`` beside an output, holding the writer's pid.

    A second process that wants the same output fails at once, naming the first; the
    lock file is removed on release.  Where ``fcntl`` does not exist (Windows) there is no lock.
    """

    def __init__(self, target: Path, flag: str = "--out") -> None:
        self.path = Path(target).with_name(f".{Path(target).name}.lock")
        self.fd: int | None = None
        try:
            import fcntl
        except ImportError:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                other = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
                os.close(fd)
                raise ConfigError(f"{flag} {target} is being written by another edgeaffect process (pid {other})",
                                  f"wait for it to finish, or choose another {flag}") from None
            try:  # the holder before us may have removed the file after we opened it: lock the file that is there
                same = os.stat(self.path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            self.path.unlink(missing_ok=True)  # unlinked while still locked, so no one else removes a live lock
            os.close(self.fd)
            self.fd = None


class StagedFile:
    """A text output written to ``<name>.partial`` and renamed onto ``<name>`` by :meth:`commit`.

    The file is checked writable and locked when built, opened only at the first
    :meth:`file` call.  :meth:`fail` keeps what was written as ``.partial`` (and
    removes an empty one); :meth:`discard` removes it.  Either way the earlier
    file at the target stays byte-identical.
    """

    def __init__(self, target: Path, flag: str = "--out") -> None:
        self.path = check_writable(target, flag=flag)
        self.partial = self.path.with_name(self.path.name + ".partial")
        refuse_unsafe_output(self.partial, flag)
        self.lock = OutputLock(self.path, flag)
        self.fh = None
        self.written = False

    def file(self):
        if self.fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o666)
            self.fh = os.fdopen(fd, "w", encoding="utf-8", newline="")
        self.written = True
        return self.fh

    def _close(self) -> None:
        if self.fh is not None and not self.fh.closed:
            self.fh.flush()
            os.fsync(self.fh.fileno())
            self.fh.close()

    def commit(self) -> bool:
        """Replace the target with what was written; False (target untouched) when nothing was."""
        try:
            self._close()
            if not self.written:
                return False
            os.replace(self.partial, self.path)
            return True
        finally:
            self.lock.release()

    def fail(self) -> Path | None:
        """Keep a non-empty ``.partial`` for the user to inspect; its path, or None."""
        try:
            self._close()
            if self.written and self.partial.exists():
                return self.partial
            self.partial.unlink(missing_ok=True)
            return None
        finally:
            self.lock.release()

    def discard(self) -> None:
        try:
            self._close()
        finally:
            self.partial.unlink(missing_ok=True)
            self.lock.release()
