"""Auxiliary models (face detectors): the ones shipped inside the package and the user's cache.

The YuNet detector ships as package data (``edgeaffect/assets/yunet/``, MIT,
its licence beside it), so the runtime starts with nothing to download;
:func:`model_path` finds a model in the cache first (a user's own build) and in
the package second.  ``edgeaffect models fetch NAME`` (optional models, or
another build of a shipped one via ``--url``) is the only command of the
product that uses the network.  The file is streamed to a temporary file next to its destination
while hashing, and renamed into place only when its sha256 is the pinned one, so
the cache never holds a partial or unexpected file.  The cache folder is
``$XDG_CACHE_HOME/edgeaffect/models`` (``~/.cache/edgeaffect/models``) unless a
folder is passed.  Torch-free.
"""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from edgeaffect.errors import ConfigError, ModelError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelFile:
    """An auxiliary model: its file, the sha256 it must have, and where it comes from.

    ``packaged`` is the folder under ``edgeaffect/assets`` holding the shipped copy (empty: download
    only); ``url`` is the upstream address ``models fetch`` downloads from (empty: nothing to fetch).
    """

    name: str
    filename: str
    url: str
    sha256: str
    size: int
    licence: str
    description: str
    packaged: str = ""


MODELS: dict[str, ModelFile] = {
    m.name: m
    for m in (
        ModelFile(
            "yunet", "face_detection_yunet_2026may.onnx", "",
            "ebafce4e3c118d6554634be5c27ab333b4c047a9a8c3faf1d7cf93101c22f0f0", 229_738, "MIT",
            "YuNet face detector with 5 landmarks, for cv2.FaceDetectorYN (--detector yunet); ships with edgeaffect",
            packaged="yunet",
        ),
        ModelFile(
            "yunet-2023mar", "face_detection_yunet_2023mar.onnx",
            # Git LFS object of the OpenCV model zoo; github.com/.../raw/ resolves LFS to the real file
            "https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/face_detection_yunet_2023mar.onnx",
            "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4", 232_589, "MIT",
            "the OpenCV model zoo's 2023 YuNet build (optional; pass it with --detector-model)",
        ),
    )
}


def cache_dir(folder: str | Path | None = None) -> Path:
    """The folder models are cached in (``folder`` when given)."""
    if folder is not None:
        return Path(folder).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edgeaffect" / "models"


def model_file(name: str) -> ModelFile:
    if name not in MODELS:
        raise ConfigError(f"unknown model '{name}'", f"choose one of: {', '.join(MODELS)}")
    return MODELS[name]


def cached_path(name: str, folder: str | Path | None = None) -> Path | None:
    """The cached file of model ``name``, or None when it has not been fetched."""
    path = cache_dir(folder) / model_file(name).filename
    return path if path.is_file() else None


def packaged_path(name: str) -> Path | None:
    """The copy of model ``name`` shipped inside the package, or None when it ships none."""
    entry = model_file(name)
    if not entry.packaged:
        return None
    path = Path(str(resources.files("edgeaffect") / "assets" / entry.packaged / entry.filename))
    return path if path.is_file() else None


def model_path(name: str, folder: str | Path | None = None) -> Path | None:
    """Where model ``name`` is on this machine: the cache first (a user's own build), then the package."""
    return cached_path(name, folder) or packaged_path(name)


def fetch(name: str, *, url: str | None = None, sha256: str | None = None, dest: str | Path | None = None,
          timeout: float = 60.0) -> Path:
    """Download model ``name`` into the cache (or ``dest``) and check its sha256.

    ``url`` overrides the upstream address (a mirror); ``sha256`` overrides the pinned
    hash (for a mirror holding another build).  A file whose hash differs is refused.
    """
    entry = model_file(name)
    url = url or entry.url
    if not url:
        raise ConfigError(f"'{name}' ships with edgeaffect ({packaged_path(name)}); there is nothing to download",
                          "pass --url (and --sha256) to cache another build of it")
    expected = (sha256 or entry.sha256).lower()
    folder = cache_dir(dest)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / entry.filename
    fd, tmp = tempfile.mkstemp(prefix=f".{entry.filename}.", suffix=".part", dir=folder)
    digest, size = hashlib.sha256(), 0
    try:
        log.info("downloading %s from %s", entry.filename, url)
        with os.fdopen(fd, "wb") as fh, urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            while block := response.read(1 << 16):
                digest.update(block)
                fh.write(block)
                size += len(block)
        got = digest.hexdigest()
        if got != expected:
            raise ModelError(f"the file downloaded from {url} has sha256 {got} ({size} bytes), expected {expected}; "
                             "it was not saved",
                             "check the URL (a Git LFS pointer or an error page is not the model) or pin its hash with --sha256")
        os.replace(tmp, target)
    except (urllib.error.URLError, OSError) as exc:
        raise ModelError(f"cannot download {url}: {exc}", "check the network connection or pass a mirror with --url") from exc
    finally:
        Path(tmp).unlink(missing_ok=True)
    log.info("saved %s (%d bytes, sha256 %s)", target, size, expected)
    return target
