"""Atomic file writes, checksums, which files count as images and reading a video's frames, shared by training, export and the runtime.

Outputs are written to a temporary file in the same folder and renamed into
place, so a crash or a kill never leaves a truncated checkpoint, bundle file or
report behind.  ``check_writable`` proves an output path can be written before
any work starts, so a wrong ``--out`` fails in a second, not after the work;
``refuse_writing_into_inputs`` refuses an output that is one of the command's inputs or lies
inside an input folder; ``check_writable`` also refuses an output that is a symbolic link (written through, it would
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
        # backslashreplace: a file name that is not UTF-8 (Python's surrogates) is written as \udcff, not a crash
        text = {"encoding": "utf-8", "errors": "backslashreplace"}
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else text)) as fh:
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


def read_image_file(path: str | Path, flags: int | None = None) -> Any:
    """An image file decoded by OpenCV (BGR, EXIF orientation applied), or None when it cannot be.

    Why not ``cv2.imread``: OpenCV takes the path as UTF-8, and a file name that is not (bytes
    from another system's encoding, which Python carries as surrogates) crashed the process
    inside OpenCV.  Reading the bytes here takes any name; a file too large to decode (a header
    claiming 100000x100000 pixels), unreadable, or cut short (``imdecode`` refuses a JPEG without its end,
    where ``imread`` filled the missing part with gray) is None like any undecodable file.
    """
    import cv2
    import numpy as np

    try:
        data = np.fromfile(Path(path), dtype=np.uint8)
        return cv2.imdecode(data, cv2.IMREAD_COLOR if flags is None else flags) if data.size else None
    except (OSError, ValueError, cv2.error):
        return None


def opencv_path(path: str | Path) -> str:
    """``path`` as OpenCV's video reader takes it; a name that is not UTF-8 (which crashes OpenCV) is refused."""
    text = str(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise DataError(f"the file name {text.encode('utf-8', 'backslashreplace').decode()} is not valid UTF-8, "
                        "and OpenCV cannot open such a name", "rename the file (or its folder)") from None
    return text


def video_frames(path: str | Path, limit: int | None = None) -> Iterator[Any]:
    """The frames of a video file as BGR uint8 arrays, in order, at most ``limit`` of them.

    For reading a whole file offline (recordings, benchmarks, tests); the runtime's sources add
    timestamps, reconnects and drop policies on top of their own capture.
    """
    import cv2

    cap = cv2.VideoCapture(opencv_path(path))
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
    if path.exists() and not (path.is_dir() or path.is_file()):  # renamed over, a device or pipe would be replaced
        raise ConfigError(f"{flag} {path} is not a regular file (a device, pipe or socket)",
                          f"give {flag} a file path" + ("; '-' writes to standard output" if flag in ("--out", "--csv") else ""))
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
    # the mode bits too: root passes every access() check, and a file its owner made read-only is a choice to respect
    if path.is_file() and not (os.access(path, os.W_OK) and path.stat().st_mode & 0o222):
        raise ConfigError(f"{flag} {path} exists and is read-only", f"choose another {flag} path or make it writable")
    return path


def refuse_writing_into_inputs(outputs: dict[str, Path | str | None], inputs: list[Path | str | None]) -> None:
    """Raise :class:`ConfigError` when an output is one of the inputs, or lies inside an input folder.

    Why: an ``--out`` that names the ``--source`` (one tab completion away) replaced the video with
    JSONL and exited 0, and a bench ``--out`` inside the bundle broke the bundle it measured.
    edgeaffect reads its inputs and never writes over or into them.  ``-`` (standard output) and
    inputs that are not paths on disk (camera indices, URLs) pass.
    """
    sources = [Path(p).expanduser().resolve() for p in inputs if p is not None and Path(p).expanduser().exists()]
    for flag, out in outputs.items():
        if out is None or str(out) == "-":
            continue
        target = Path(out).expanduser().resolve()
        for src in sources:
            same = target == src or (target.exists() and os.path.samefile(target, src))
            if same or (src.is_dir() and target.is_relative_to(src)):
                raise ConfigError(f"{flag} {out} {'is' if same else 'lies inside'} the input {src}: edgeaffect "
                                  "never writes over or into what it reads",
                                  f"choose another {flag} path" if same else f"choose a {flag} outside {src}")


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
            self.fh = os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace", newline="")
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
