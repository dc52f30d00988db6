"""Files shipped inside the package, and the word ``default`` that names the shipped model.

``assets/default/`` holds the trained default expression model (see its MODEL_CARD.md):

* ``run/``     its checkpoint (weights stored as float16), ``meta.json`` and ``config.yaml`` —
  a run folder, which ``eval``, ``export``, ``compress`` and ``explain`` accept;
* ``bundle/``  its verified ONNX Runtime bundle, which ``run`` and ``bench`` open with the
  runtime core alone (no torch, no download);
* ``checksums.json`` the sha256 of every file above, so a broken install is named as such.

Wherever a run folder or a bundle is accepted, the word ``default`` stands for these
(unless a file or folder of that name exists where the command runs: the user's own wins).
Torch-free: the runtime imports this module.
"""
from __future__ import annotations

import json
import logging
from functools import lru_cache
from pathlib import Path

from edgeaffect.errors import BundleError

log = logging.getLogger(__name__)

DEFAULT = "default"
ROOT = Path(__file__).resolve().parent
DEFAULT_DIR = ROOT / "default"
CHECKSUMS = "checksums.json"
KINDS = ("run", "bundle")  # what a verb expects = the sub-folder that holds it
BUNDLE_MANIFEST = "bundle/manifest.json"
REINSTALL = "reinstall the package: pip install --force-reinstall edgeaffect"


def is_default(path: str | Path) -> bool:
    """True when ``path`` is the word ``default`` and nothing of that name exists here."""
    return str(path) == DEFAULT and not Path(path).exists()


def is_shipped(path: str | Path) -> bool:
    """True for a path inside the package's shipped model (never a place to write results)."""
    try:
        Path(path).resolve().relative_to(DEFAULT_DIR)
    except ValueError:
        return False
    return True


def resolve(path: str | Path, kind: str) -> Path:
    """``path`` itself, or for ``default`` the shipped model's ``kind`` folder ("run" or "bundle"), checked."""
    if not is_default(path):
        return Path(path)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}")
    _check_install()
    return DEFAULT_DIR / kind


@lru_cache(maxsize=1)
def _check_install() -> None:
    """Every shipped file present and matching its sha256 (once per process)."""
    from edgeaffect.io import sha256_file

    listing = DEFAULT_DIR / CHECKSUMS
    if not listing.is_file():
        raise BundleError(f"the shipped default model is missing ({listing} not found): a broken install", REINSTALL)
    try:
        expected = json.loads(listing.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BundleError(f"{listing} is unreadable ({exc}): a broken install", REINSTALL) from None
    covered: set[str] = set()  # files the bundle's own manifest hashes when the bundle is opened
    for rel, digest in sorted(expected.items(), key=lambda kv: kv[0] != BUNDLE_MANIFEST):  # the manifest first
        file = DEFAULT_DIR / rel
        if not file.is_file():
            raise BundleError(f"shipped model file {file} is missing: a broken install", REINSTALL)
        if rel in covered:
            continue  # one checksum path: load_bundle checks it against the (already checked) manifest
        if sha256_file(file) != digest:
            raise BundleError(f"shipped model file {file} does not match its checksum (damaged)", REINSTALL)
        if rel == BUNDLE_MANIFEST:
            covered = _manifest_files(file)


def _manifest_files(manifest: Path) -> set[str]:
    """The shipped bundle's files its manifest lists (paths relative to the default folder)."""
    try:
        files = json.loads(manifest.read_text(encoding="utf-8")).get("files", {})
    except (OSError, ValueError, AttributeError):
        return set()
    return {f"bundle/{rel}" for rel in files} if isinstance(files, dict) else set()


def write_checksums(folder: Path = DEFAULT_DIR) -> Path:
    """Record the sha256 of every file under ``folder`` (run when the default model is packaged)."""
    from edgeaffect.io import atomic_write_json, sha256_file

    files = {p.relative_to(folder).as_posix(): sha256_file(p) for p in sorted(folder.rglob("*"))
             if p.is_file() and p.name != CHECKSUMS and p.suffix != ".md" and "__pycache__" not in p.parts}
    return atomic_write_json(folder / CHECKSUMS, files)
