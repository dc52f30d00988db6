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

A bundle is untrusted input (it may be a folder someone sent you): :func:`load_bundle`
reads the manifest with a size limit, checks the runtime block against its declared
bounds (:data:`RUNTIME_SCHEMA`) before anything is built from it, and with ``check``
seals the folder: every file there is listed and hashed (meta.json, the model files, the
embedded detector), none is a symbolic link or outside the folder, nothing unlisted lies
beside them, and meta.json is parsed from the very bytes whose hash was checked.

Torch-free: the runtime imports this module.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping

from edgeaffect.errors import BundleError
from edgeaffect.io import atomic_write_json, sha256_file
from edgeaffect.meta import ModelMeta
from edgeaffect.plain import from_plain, to_plain

MANIFEST = "manifest.json"
META = "meta.json"
LABELS = "labels.txt"
MANIFEST_VERSION = 1
MAX_MANIFEST_BYTES = MAX_META_BYTES = 1 << 20  # both are a few kB; a bigger one is not ours
MAX_FILES = 256  # a bundle holds about ten


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
    """Read a bundle; with ``check`` seal it (see the module doc) and verify every file's sha256."""
    import json

    from edgeaffect.assets import resolve

    root = resolve(folder, "bundle")  # the word "default" names the shipped model's bundle
    if not root.is_dir():
        raise BundleError(f"{root} is a file, not a bundle folder" if root.exists() else
                          f"bundle folder {root} does not exist", "pass the folder written by 'edgeaffect export'"
                          + (f" (the folder holding {root.name}, perhaps)" if root.exists() else ""))
    mpath = root / MANIFEST
    if not mpath.is_file():
        raise BundleError(f"{root} has no {MANIFEST}: the export did not finish or this is not a bundle",
                          "re-run 'edgeaffect export' for this model")
    try:
        data = json.loads(_read_limited(mpath, MAX_MANIFEST_BYTES))
        if not isinstance(data, dict):
            raise TypeError(f"it holds a JSON {type(data).__name__}, not an object")
        if isinstance(data.get("runtime"), Mapping):
            check_runtime_block(data["runtime"], mpath)
        manifest = Manifest.from_dict(data)
        _check_manifest(manifest)
    except (ValueError, TypeError, RecursionError) as exc:  # not UTF-8, not JSON, or not a manifest's shape
        raise BundleError(f"{mpath} is not a valid manifest: {exc}", "re-run 'edgeaffect export' for this model") from None
    if manifest.version > MANIFEST_VERSION:
        raise BundleError(f"bundle format {manifest.version} is newer than this edgeaffect reads",
                          "upgrade edgeaffect on this device: pip install -U edgeaffect")
    if not check:
        return Bundle(root=root, meta=ModelMeta.load(root / META), manifest=manifest)
    seal(root, manifest)
    try:
        verify_checksums(root, manifest)
    except BundleError as exc:
        from edgeaffect.assets import REINSTALL, is_default

        if is_default(folder):  # the shipped model damaged: the package, not a copied bundle, needs replacing
            raise BundleError(exc.what, REINSTALL) from None
        raise
    meta_bytes = _read_limited(root / META, MAX_META_BYTES, binary=True)
    if hashlib.sha256(meta_bytes).hexdigest() != manifest.files[META]:  # changed since its checksum was read
        raise BundleError(f"bundle file {root / META} does not match its checksum (edited while loading)",
                          "copy the bundle again or re-run 'edgeaffect export'")
    try:
        text = meta_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BundleError(f"{root / META} is not UTF-8 text: {exc}", "re-export the model") from None
    meta = ModelMeta.from_json(text)
    if LABELS in manifest.files:  # hashed with the rest, so it differs from meta.json only in an edited bundle
        listed = _read_limited(root / LABELS, MAX_META_BYTES, binary=True).decode("utf-8", "replace").splitlines()
        if listed != list(meta.labels):
            raise BundleError(f"{root / LABELS} lists {len(listed)} classes {listed[:8]}, meta.json "
                              f"{len(meta.labels)} {list(meta.labels)[:8]}: the bundle was edited",
                              "copy the bundle again or re-run 'edgeaffect export'")
    return Bundle(root=root, meta=meta, manifest=manifest)


def _read_limited(path: Path, limit: int, *, binary: bool = False) -> Any:
    """A small file's content, refused past ``limit`` bytes (a huge manifest is not ours, and not read)."""
    with open(path, "rb") as fh:
        content = fh.read(limit + 1)
    if len(content) > limit:
        raise BundleError(f"{path} is over {limit // 1024} kB, far larger than any edgeaffect writes",
                          "re-run 'edgeaffect export' for this model")
    return content if binary else content.decode("utf-8")


def _whole(lo: int, hi: Callable[[], int] | int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and lo <= v <= (hi() if callable(hi) else hi)


def _name(limit: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, str) and 0 < len(v) <= limit and v.isprintable()


def _backends() -> tuple[str, ...]:
    from edgeaffect.backend_options import BACKEND_OPTIONS

    return tuple(BACKEND_OPTIONS)


def _max_threads() -> int:
    from edgeaffect.backend_options import max_threads

    return max_threads()


# The runtime block's declared schema: field -> (allowed values in words, check).  Every field a
# bundle may carry is here; an unknown one is refused, never ignored.
RUNTIME_SCHEMA: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "backend": ("'' or one of the runtime backends", lambda v: v == "" or v in _backends()),
    "backend_options": ("an object of the backend's runtime options", lambda v: isinstance(v, Mapping)),
    "threads": ("a whole number in 0..4 x cores (0 = the runtime's default)", _whole(0, _max_threads)),
    "detector": ("a detector name of 1..32 characters", _name(32)),
    "detector_model": ("'' or a relative path inside the bundle", lambda v: v == "" or _inside(v)),
    "detect_every": ("a whole number in 1..1000", _whole(1, 1000)),
    "detect_side": ("a whole number in 0..8192 (0 = the detector's default)", _whole(0, 8192)),
    "detect_region": ("null or a whole number in 0..10000 (0 = full frame every round)",
                      lambda v: v is None or _whole(0, 10_000)(v)),
    "camera": ("a camera kind of 1..32 characters", _name(32)),
    "smoothing": ("a smoothing spec of 1..64 characters", _name(64)),
}


def check_runtime_block(block: Mapping[str, Any], where: Path | str) -> None:
    """Raise :class:`BundleError` naming the field, its value and the allowed range for any field out of bounds."""
    from edgeaffect.backend_options import BACKEND_OPTIONS, check_runtime_value
    from edgeaffect.errors import ConfigError

    fix = "re-export the bundle with 'edgeaffect export' (or correct that value in its manifest.json)"
    unknown = sorted(str(k) for k in block if k not in RUNTIME_SCHEMA)
    if unknown:
        raise BundleError(f"{where}: unknown runtime field(s) {unknown[:5]}; allowed: {', '.join(RUNTIME_SCHEMA)}", fix)
    for key, value in block.items():
        allowed, ok = RUNTIME_SCHEMA[key]
        if not ok(value):
            raise BundleError(f"{where}: runtime.{key} = {_short(value)} is outside the allowed range: {allowed}", fix)
    options = block.get("backend_options") or {}
    keys = BACKEND_OPTIONS.get(block.get("backend", ""), None)
    for key, value in options.items():
        if keys is None or key not in keys.runtime:
            raise BundleError(f"{where}: runtime.backend_options.{_short(key)} is not a runtime option of backend "
                              f"'{block.get('backend', '')}'", fix)
        try:
            check_runtime_value(key, value, f"{where}: runtime.backend_options")
        except ConfigError as exc:
            raise BundleError(exc.what, fix) from None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


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


def seal(root: Path, manifest: Manifest) -> None:
    """Raise :class:`BundleError` unless the folder holds exactly the listed files, all real files inside it.

    meta.json, the model files and the embedded detector must be listed (so hashed); a symbolic
    link anywhere, or a file nobody listed, means the folder is not what export wrote.
    """
    needed = [META, *manifest.model_files] + ([manifest.runtime.detector_model] if manifest.runtime.detector_model else [])
    unlisted = [f for f in needed if f not in manifest.files]
    if unlisted:
        raise BundleError(f"bundle {root}: {', '.join(unlisted)} not listed with a checksum in {MANIFEST}; a bundle "
                          "must list and hash every file run reads", "re-run 'edgeaffect export' for this model")
    if len(manifest.files) > MAX_FILES:
        raise BundleError(f"bundle {root} lists {len(manifest.files)} files (at most {MAX_FILES})",
                          "re-run 'edgeaffect export' for this model")
    found = 0
    for dirpath, dirnames, filenames in os.walk(root):  # os.walk does not follow links into other folders
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                raise BundleError(f"bundle file {path} is a symbolic link (to {os.readlink(path)}); a bundle holds "
                                  "only real files", "copy the bundle with its files, not links (cp -rL)")
            if name in filenames and rel != MANIFEST and rel not in manifest.files:
                raise BundleError(f"bundle file {path} is not listed in {MANIFEST} (added after the export)",
                                  "remove it, or re-run 'edgeaffect export' for this model")
            found += 1
            if found > 4 * MAX_FILES:
                raise BundleError(f"bundle {root} holds more than {4 * MAX_FILES} entries", "re-run 'edgeaffect export'")


def verify_checksums(root: Path, manifest: Manifest) -> None:
    for rel, digest in manifest.files.items():
        path = root / rel
        if path.is_symlink() or not path.is_file():
            raise BundleError(f"bundle file {path} is missing", "copy the whole bundle folder again")
        if sha256_file(path) != digest:
            raise BundleError(f"bundle file {path} does not match its checksum (edited or corrupted in transfer)",
                              "copy the bundle again or re-run 'edgeaffect export'")
