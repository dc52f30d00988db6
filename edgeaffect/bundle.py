"""The edge bundle: a self-describing, checksummed folder a device can run.

Layout (written by ``edgeaffect export``, read by ``edgeaffect run``/``bench``)::

    bundle/
      meta.json            ModelMeta
      manifest.json        Manifest: format, precision, model files, sha256 of every
                           file, tool versions, target profile, verification summary,
                           and the profile's runtime settings (RuntimeSettings)
      labels.txt           one label per line (for humans and other tools)
      verification.json    per-precision numbers against the float torch model
      calibration.json     what the INT8 calibration saw (count, classes, source)
      README.md            how to install the runtime and run this bundle on the device
      model files          e.g. model.onnx | model.xml + model.bin | model.tflite | model.engine
      detector/            optional: the face-detector model, so the device needs nothing else

Torch-free: the runtime imports this module.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from edgeaffect.errors import BundleError
from edgeaffect.io import atomic_write_json, sha256_file
from edgeaffect.meta import ModelMeta
from edgeaffect.plain import from_plain, to_plain

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class RuntimeSettings:
    """How the device profile meant the bundle to run; ``edgeaffect run`` applies them, flags override.

    ``backend_options`` are the backend's runtime keys only (``{key: value}`` for ``backend``);
    ``threads`` 0 = the runtime's default (all cores); ``detector_model`` is a bundle-relative
    path when the bundle embeds its face detector, empty otherwise.
    """

    backend: str = ""
    backend_options: Mapping[str, Any] = field(default_factory=dict)
    threads: int = 0
    detector: str = "yunet"
    detector_model: str = ""
    detect_every: int = 1
    detect_side: int = 0  # YuNet input side; 0 = the detector's default
    detect_region: int | None = None  # full-frame pass every N rounds, regions between; 0 off; None = runtime default
    camera: str = "usb"
    smoothing: str = "none"


@dataclass(frozen=True)
class Manifest:
    """What a bundle holds and what built it."""

    format: str  # a key of the export-format table: "onnx", "openvino", "tflite", "tensorrt"
    precision: str  # "fp32", "fp16", "int8"
    model_files: tuple[str, ...]  # the first is the file a backend opens
    files: Mapping[str, str] = field(default_factory=dict)  # relative path -> sha256
    tools: Mapping[str, str] = field(default_factory=dict)  # package -> version used to build
    target: str = ""  # device profile name
    created: str = ""
    verification: Mapping[str, Any] = field(default_factory=dict)  # summary; details in verification.json
    runtime: RuntimeSettings = field(default_factory=RuntimeSettings)  # empty in bundles from before it existed
    version: int = MANIFEST_VERSION

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Manifest":
        return from_plain(cls, data)  # fields a newer edgeaffect added are ignored


def write_manifest(folder: Path, manifest: Manifest) -> Manifest:
    """Hash every file in ``folder`` (except the manifest) and write ``manifest.json`` last.

    Writing it last means a bundle with a manifest is a complete bundle.
    """
    folder = Path(folder)
    files = {rel: sha256_file(folder / rel) for rel in _listed_files(folder)}
    missing = [f for f in manifest.model_files if f not in files]
    if missing:
        raise BundleError(f"model files {missing} are not in {folder}", "this is a bug in the exporter; please report it")
    created = manifest.created or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    final = replace(manifest, files=files, created=created)
    atomic_write_json(folder / MANIFEST, final.to_dict())
    return final


def _listed_files(folder: Path) -> list[str]:
    """The files a manifest lists: every file below ``folder`` except the manifest and hidden files."""
    return [p.relative_to(folder).as_posix() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != MANIFEST and not p.name.startswith(".")]


def is_bundle_folder(folder: str | Path) -> bool:
    """True only when ``folder`` is provably a bundle: its manifest parses and lists exactly the files there.

    Export replaces such a folder whole; a folder that merely holds a file
    named manifest.json (beside the user's own files) is not one.
    """
    import json

    folder = Path(folder)
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        manifest = Manifest.from_dict(data)
        files = manifest.files
        ok = isinstance(files, Mapping) and isinstance(manifest.format, str) and bool(manifest.model_files)
        return ok and sorted(files) == _listed_files(folder)
    except (OSError, ValueError, TypeError, AttributeError):  # unreadable, not JSON, not a manifest's shape
        return False


@dataclass(frozen=True)
class Bundle:
    """A bundle read from disk and checked."""

    root: Path
    meta: ModelMeta
    manifest: Manifest

    @property
    def model_path(self) -> Path:
        return self.root / self.manifest.model_files[0]

    @property
    def size_bytes(self) -> int:
        return sum((self.root / f).stat().st_size for f in self.manifest.model_files)


def load_bundle(folder: str | Path, *, check: bool = True) -> Bundle:
    """Read a bundle; with ``check`` verify every file's sha256 and name the first bad one."""
    import json

    from edgeaffect.assets import resolve

    root = resolve(folder, "bundle")  # the word "default" names the shipped model's bundle
    if not root.is_dir():
        raise BundleError(f"bundle folder {root} does not exist", "pass the folder written by 'edgeaffect export'")
    mpath = root / MANIFEST
    if not mpath.is_file():
        raise BundleError(f"{root} has no {MANIFEST}: the export did not finish or this is not a bundle",
                          "re-run 'edgeaffect export' for this model")
    try:
        data = json.loads(mpath.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise TypeError(f"it holds a JSON {type(data).__name__}, not an object")
        manifest = Manifest.from_dict(data)
        _check_manifest(manifest)
    except (ValueError, TypeError) as exc:  # not UTF-8, not JSON, or not a manifest's shape
        raise BundleError(f"{mpath} is not a valid manifest: {exc}", "re-run 'edgeaffect export' for this model") from None
    if manifest.version > MANIFEST_VERSION:
        raise BundleError(f"bundle format {manifest.version} is newer than this edgeaffect reads",
                          "upgrade edgeaffect on this device: pip install -U edgeaffect")
    if check:
        verify_checksums(root, manifest)
    return Bundle(root=root, meta=ModelMeta.load(root / "meta.json"), manifest=manifest)


def _inside(rel: object) -> bool:
    """A relative path that stays inside the bundle folder."""
    return isinstance(rel, str) and bool(rel) and not Path(rel).is_absolute() and ".." not in Path(rel).parts


def _check_manifest(m: Manifest) -> None:
    """Raise TypeError/ValueError unless every field has the type and bounds the writer gives it.

    A manifest is read from a folder copied between machines: a wrong type must
    be a clear bundle error, and a model file outside the bundle or left out of
    the checksums must never be opened.
    """
    strings = isinstance(m.format, str) and isinstance(m.precision, str) and isinstance(m.target, str)
    if not strings or not isinstance(m.version, int) or isinstance(m.version, bool):
        raise TypeError("format, precision and target must be text and version a whole number")
    for name in ("files", "tools", "verification"):
        if not isinstance(getattr(m, name), Mapping):
            raise TypeError(f"'{name}' must be an object")
    if not m.model_files or not all(_inside(f) for f in m.model_files):
        raise ValueError("'model_files' must name files inside the bundle")
    if not all(_inside(k) and isinstance(v, str) for k, v in m.files.items()):
        raise ValueError("'files' must map paths inside the bundle to sha256 digests")
    unlisted = [f for f in m.model_files if f not in m.files]
    if unlisted:
        raise ValueError(f"model files {unlisted} have no checksum")


def verify_checksums(root: Path, manifest: Manifest) -> None:
    for rel, digest in manifest.files.items():
        path = root / rel
        if not path.is_file():
            raise BundleError(f"bundle file {path} is missing", "copy the whole bundle folder again")
        if sha256_file(path) != digest:
            raise BundleError(f"bundle file {path} does not match its checksum (edited or corrupted in transfer)",
                              "copy the bundle again or re-run 'edgeaffect export'")
