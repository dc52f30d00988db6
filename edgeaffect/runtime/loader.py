"""Open a bundle for running: checksums, tool-version check, backend choice.

``open_model(bundle_dir)`` reads the bundle through :func:`edgeaffect.bundle.load_bundle`
(sha256 of every file), checks that the runtime library installed here can run
what the exporter built (a TensorRT engine only runs under the TensorRT that
built it; an OpenVINO IR from a newer OpenVINO may use operations the installed
runtime lacks) and opens the backend that runs the bundle's format.

Which backend runs a format comes from the export-format table
(:data:`edgeaffect.formats.FORMATS`, a torch-free data table).  Torch-free.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable

import numpy as np
from packaging.version import InvalidVersion, Version

from edgeaffect.bundle import Bundle, load_bundle
from edgeaffect.errors import BundleError
from edgeaffect.formats import FORMATS
from edgeaffect.meta import HeadKind
from edgeaffect.runtime.backends.base import Backend, create_backend

log = logging.getLogger(__name__)

# backend -> the distribution whose installed version decides what it can load
BACKEND_DISTRIBUTIONS = {
    "onnxruntime": "onnxruntime",
    "openvino": "openvino",
    "litert": "ai-edge-litert",
    "tensorrt": "tensorrt",
}


def _minor(version: str) -> tuple[int, int] | None:
    """(major, minor) of a version string, None when it is not a PEP 440 version (the check is then skipped)."""
    try:
        release = Version(version).release
    except InvalidVersion:
        log.warning("cannot read version '%s'; its compatibility is not checked", version)
        return None
    return (release + (0,))[:2]


def _same_minor(built: str, installed: str) -> bool:
    """TensorRT engines are tied to the exact TensorRT major.minor that serialised them."""
    b, i = _minor(built), _minor(installed)
    return b is None or i is None or b == i


def _not_newer(built: str, installed: str) -> bool:
    """An IR/model from a newer major.minor may use operations an older runtime lacks."""
    b, i = _minor(built), _minor(installed)
    return b is None or i is None or b <= i


@dataclass(frozen=True)
class VersionRule:
    """When a bundle built with one library version runs under another, and what to do if not."""

    compatible: Callable[[str, str], bool]  # (built, installed) -> ok
    fatal: bool
    fix: str  # {dist}, {built}, {fmt} are filled in


VERSION_RULES: dict[str, VersionRule] = {
    "tensorrt": VersionRule(_same_minor, True, "re-export for this device's TensorRT ('edgeaffect export --format {fmt} "
                            "--target <this device>') and run ./build_engine.sh in the bundle here"),
    "openvino": VersionRule(_not_newer, True, "re-export with this device's OpenVINO ('edgeaffect export --format {fmt}') "
                            "or install {dist}>={built}"),
    "onnxruntime": VersionRule(_not_newer, False, "upgrade: pip install '{dist}>={built}'"),
    "litert": VersionRule(_not_newer, False, "upgrade: pip install '{dist}>={built}'"),
}


def installed_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def check_tool_versions(bundle: Bundle, backend: str, *, installed: str | None = None) -> None:
    """Raise :class:`BundleError` when this device cannot run what the bundle's tools built.

    ``installed`` is the backend library's version here (default: read from the installed package).
    """
    dist = BACKEND_DISTRIBUTIONS.get(backend, backend)
    built = bundle.manifest.tools.get(dist) or bundle.manifest.tools.get(backend)
    installed = installed or installed_version(dist)
    if not built or not installed or backend not in VERSION_RULES:
        return
    rule = VERSION_RULES[backend]
    if rule.compatible(built, installed):
        return
    what = f"bundle {bundle.root} was built with {dist} {built} but this device has {dist} {installed}"
    fix = rule.fix.format(dist=dist, built=built, fmt=bundle.manifest.format)
    if rule.fatal:
        raise BundleError(what, fix)
    log.warning("%s; if it fails to load: %s", what, fix)


def backend_for(bundle: Bundle) -> str:
    fmt = bundle.manifest.format
    if fmt not in FORMATS:
        raise BundleError(f"bundle {bundle.root} has format '{fmt}' that no runtime backend runs",
                          f"export to one of: {', '.join(sorted(FORMATS))}")
    return FORMATS[fmt].backend


@dataclass(frozen=True)
class LoadedModel:
    """A checked bundle and the backend running it."""

    bundle: Bundle
    backend: Backend
    backend_name: str


def open_model(folder: str | Path | Bundle, *, backend: str | None = None, check: bool = True,
               **backend_options: object) -> LoadedModel:
    """Load and check a bundle (or take one already loaded), then open its backend.

    ``backend`` overrides the format's default.
    """
    bundle = folder if isinstance(folder, Bundle) else load_bundle(folder, check=check)
    name = backend or backend_for(bundle)
    check_tool_versions(bundle, name)
    options = {k: v for k, v in backend_options.items() if v is not None}
    opened = create_backend(name, bundle.model_path, bundle.meta, **options)
    _probe(opened, bundle)
    log.info("loaded %s (%s, %s) with %s [%s]", bundle.root, bundle.manifest.format,
             bundle.manifest.precision, name, getattr(opened, "precision", "?"))
    return LoadedModel(bundle=bundle, backend=opened, backend_name=name)


def _probe(backend: Backend, bundle: Bundle) -> None:
    """One inference on zeros of the input ModelMeta describes, its outputs held against ModelMeta's heads.

    Checksums prove the files are the ones exported, not that they belong together: a meta.json edited and
    re-hashed to an 8-class head with 7 labels, or a clip window on an image model, loaded and ran, and the
    mismatch showed only as wrong names or a backend error at the first face.  A model fed other inputs too
    (``extra_inputs``) is left to its first real call: their length is not in ModelMeta.
    """
    meta = bundle.meta
    if meta.extra_inputs:
        return
    fix = "re-export the model: its file and meta.json do not belong together"
    shape = meta.input_shape(backend.batch_size or 1)
    try:
        outputs = backend.infer(np.zeros(shape, dtype=np.float32))
    except Exception as exc:  # each backend raises its own types for a wrong input
        raise BundleError(f"{bundle.model_path.name} does not run on the input ModelMeta describes "
                          f"{list(shape)}: {str(exc).strip().splitlines()[0][:200]}", fix) from None
    if len(outputs) != len(meta.heads):
        raise BundleError(f"{bundle.model_path.name} returns {len(outputs)} outputs, ModelMeta lists "
                          f"{len(meta.heads)} heads", fix)
    for head, out in zip(meta.heads, outputs):
        size = int(np.asarray(out).size) // shape[0]
        if head.kind is not HeadKind.SIGNAL and size != head.size:
            raise BundleError(f"{bundle.model_path.name} gives {size} values for the '{head.name}' head, "
                              f"ModelMeta says {head.size}", fix)
