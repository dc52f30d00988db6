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
    camera: str = "usb"
    smoothing: str = "none"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RuntimeSettings":
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in dict(data).items() if k in known})


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
        d = asdict(self)
        d["model_files"] = list(self.model_files)
        d["files"], d["tools"], d["verification"] = dict(self.files), dict(self.tools), dict(self.verification)
        d["runtime"] = asdict(self.runtime)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Manifest":
        data = dict(data)
        data["model_files"] = tuple(data.get("model_files", ()))
        data["runtime"] = RuntimeSettings.from_dict(data.get("runtime") or {})
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def write_manifest(folder: Path, manifest: Manifest) -> Manifest:
    """Hash every file in ``folder`` (except the manifest) and write ``manifest.json`` last.

    Writing it last means a bundle with a manifest is a complete bundle.
    """
    folder = Path(folder)
    files = {
        p.relative_to(folder).as_posix(): sha256_file(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST and not p.name.startswith(".")
    }
    missing = [f for f in manifest.model_files if f not in files]
    if missing:
        raise BundleError(f"model files {missing} are not in {folder}", "this is a bug in the exporter; please report it")
    created = manifest.created or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    final = replace(manifest, files=files, created=created)
    atomic_write_json(folder / MANIFEST, final.to_dict())
    return final


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

    root = Path(folder)
    if not root.is_dir():
        raise BundleError(f"bundle folder {root} does not exist", "pass the folder written by 'edgeaffect export'")
    mpath = root / MANIFEST
    if not mpath.is_file():
        raise BundleError(f"{root} has no {MANIFEST}: the export did not finish or this is not a bundle",
                          "re-run 'edgeaffect export' for this model")
    try:
        manifest = Manifest.from_dict(json.loads(mpath.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, TypeError) as exc:
        raise BundleError(f"{mpath} is not valid: {exc}", "re-run 'edgeaffect export' for this model") from exc
    if manifest.version > MANIFEST_VERSION:
        raise BundleError(f"bundle format {manifest.version} is newer than this edgeaffect reads",
                          "upgrade edgeaffect on this device: pip install -U edgeaffect")
    if check:
        verify_checksums(root, manifest)
    return Bundle(root=root, meta=ModelMeta.load(root / "meta.json"), manifest=manifest)


def verify_checksums(root: Path, manifest: Manifest) -> None:
    for rel, digest in manifest.files.items():
        path = root / rel
        if not path.is_file():
            raise BundleError(f"bundle file {path} is missing", "copy the whole bundle folder again")
        if sha256_file(path) != digest:
            raise BundleError(f"bundle file {path} does not match its checksum (edited or corrupted in transfer)",
                              "copy the bundle again or re-run 'edgeaffect export'")
