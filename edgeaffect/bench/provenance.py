"""Where bench numbers come from: the device, the installed tool versions, the bundle's identity.

Recorded in every result so numbers from different machines and builds can be
merged without guessing which is which.  Torch-free: tool versions are read
from package metadata, never by importing the (heavy) packages.
"""
from __future__ import annotations

import hashlib
import json
import platform
from importlib import metadata

from edgeaffect.bench.results import BundleInfo, DeviceInfo

# distributions whose versions change bench numbers
TOOLS = ("edgeaffect", "numpy", "opencv-python-headless", "onnxruntime", "openvino", "ai-edge-litert", "tensorrt")


def tool_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in TOOLS:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def device_info(profile: str | None = None) -> DeviceInfo:
    """This machine as :func:`edgeaffect.devices.detect_device` sees it; ``profile`` overrides the match."""
    from edgeaffect.devices import detect_device

    found = detect_device()
    facts = dict(found.facts)
    accel = tuple(k for k in ("intel_gpu", "l4t") if k in facts)
    return DeviceInfo(
        profile=profile or found.profile or "unknown",
        cpu_model=facts.get("cpu", found.model),
        cores=int(facts.get("cores", 0) or 0),
        ram_mb=int(facts.get("memory_mb", 0) or 0),
        machine=found.arch,
        system=f"{platform.system()} {platform.release()}",
        accelerators=accel,
    )


def bundle_digest(files: dict[str, str]) -> str:
    """One sha256 over the manifest's (path, sha256) list: identical bundles match on every device."""
    canon = json.dumps(sorted(files.items()), separators=(",", ":"))
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()


def bundle_info(loaded) -> BundleInfo:
    """Describe a :class:`edgeaffect.runtime.loader.LoadedModel`."""
    from edgeaffect.assets import DEFAULT, is_shipped

    b, m = loaded.bundle, loaded.bundle.manifest
    return BundleInfo(
        # the shipped bundle's folder is just "bundle": name it by the word that opens it
        name=DEFAULT if is_shipped(b.root) else b.root.name, sha256=bundle_digest(dict(m.files)),
        model_sha256=m.files.get(m.model_files[0], ""),
        format=m.format, precision=m.precision, target=m.target, model=b.meta.model, task=b.meta.task.value,
        input_size=tuple(b.meta.input_size), labels=tuple(b.meta.labels), size_bytes=b.size_bytes,
        backend=loaded.backend_name, ran_precision=str(getattr(loaded.backend, "precision", m.precision)))
