"""What ``edgeaffect run`` uses, and where each setting came from.

A bundle carries its device profile's runtime settings (``Manifest.runtime``:
backend and its options, threads, detector, detection interval and input side,
camera kind, smoothing).  :func:`resolve_settings` applies them under the
precedence *command-line flag > bundle > built-in default* and records the
origin of every value, so the run summary says, e.g., that OpenVINO's
``device: GPU`` came from the bundle and ``threads`` from a flag.  Torch-free.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from edgeaffect.bundle import Bundle
from edgeaffect.errors import BundleError
from edgeaffect.backend_options import BACKEND_OPTIONS, runtime_options
from edgeaffect.runtime.region import DEFAULT_FULL_EVERY
from edgeaffect.runtime.smoothing import SmoothingSpec

FLAG, BUNDLE, DEFAULT = "flag", "bundle", "default"

# detect_region: 0 = full-frame detection every round; N = a full-frame pass every N rounds and
# region passes around confident tracks in between (runtime/region.py).  Bounded here because a
# bundle is untrusted input; the built-in default is on for the detectors it was measured with.
DETECT_REGION_MAX = 10_000
DETECT_REGION_DEFAULTS = {"yunet": DEFAULT_FULL_EVERY}  # other detectors: 0 (not measured)

# A bare camera index means the camera kind the device profile names.
CAMERA_SOURCES = {
    "usb": "camera:{index}",
    "picamera2": "picamera:",
    # Jetson CSI cameras go through NVIDIA's Argus GStreamer element into BGR frames for OpenCV
    "csi": "stream:nvarguscamerasrc sensor-id={index} ! video/x-raw(memory:NVMM) ! nvvidconv ! "
           "video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! appsink drop=1",
}


@dataclass(frozen=True)
class ResolvedSettings:
    """The values a run uses; ``origin`` maps each setting name to flag | bundle | default."""

    backend: str
    backend_options: Mapping[str, Any]
    detector: str
    detector_options: Mapping[str, Any]
    detect_every: int
    smoothing: SmoothingSpec
    source: str
    origin: Mapping[str, str] = field(default_factory=dict)
    detect_region: int = 0  # 0 = off; N = full-frame pass every N detection rounds, regions in between

    def describe(self) -> dict[str, dict[str, Any]]:
        """``{setting: {"value": ..., "from": ...}}`` for the summary (JSON-ready)."""
        values: dict[str, Any] = {"backend": self.backend, "detector": self.detector, "detect_every": self.detect_every,
                                  "detect_region": self.detect_region,
                                  "smoothing": str(self.smoothing), "source": self.source,
                                  **{f"detector.{k}": str(v) for k, v in self.detector_options.items()},
                                  **{f"{self.backend}.{k}": v for k, v in self.backend_options.items()}}
        return {k: {"value": v, "from": self.origin.get(k, DEFAULT)} for k, v in values.items()}

    def line(self) -> str:
        return settings_line(self.describe())


def settings_line(described: Mapping[str, Mapping[str, Any]]) -> str:
    """One line for people: ``backend openvino (bundle), openvino.device GPU (bundle), ...``."""
    return ", ".join(f"{k} {v['value']} ({v['from']})" for k, v in described.items() if k != "source")


def _pick(origin: dict[str, str], name: str, flag: Any, bundled: Any, default: Any) -> Any:
    """Flag when given, else the bundle's value when it has one, else the default."""
    if flag is not None:
        origin[name] = FLAG
        return flag
    if bundled not in (None, "", {}):
        origin[name] = BUNDLE
        return bundled
    origin[name] = DEFAULT
    return default


def camera_source(source: str, camera: str) -> str:
    """A bare camera index opened as the profile's camera kind; anything else as given."""
    if not source.strip().isdigit() or camera not in CAMERA_SOURCES:
        return source
    return CAMERA_SOURCES[camera].format(index=source.strip())


def resolve_settings(config: Any, bundle: Bundle, default_backend: str) -> ResolvedSettings:
    """Merge a :class:`~edgeaffect.runtime.pipeline.RunConfig` (None = not given) with the bundle's settings."""
    rt = bundle.manifest.runtime
    carried = bool(rt.backend)  # False: a bundle written before bundles carried settings; defaults apply
    origin: dict[str, str] = {}
    backend = _pick(origin, "backend", config.backend, rt.backend, default_backend)
    options: dict[str, Any] = {}
    if backend == rt.backend:  # another backend does not take this one's options
        for key, value in runtime_options(backend, rt.backend_options).items():
            options[key] = value
            origin[f"{backend}.{key}"] = BUNDLE
        if rt.threads and "threads" not in options and "threads" in BACKEND_OPTIONS[backend].runtime:
            options["threads"] = rt.threads
            origin[f"{backend}.threads"] = BUNDLE
    flags = dict(config.backend_options)
    if config.threads is not None:
        flags["threads"] = config.threads
    for key, value in flags.items():
        options[key] = value
        origin[f"{backend}.{key}"] = FLAG
    detector = _pick(origin, "detector", config.detector, rt.detector if carried else None, "yunet")
    detector_options = dict(config.detector_options)
    for key in detector_options:
        origin[f"detector.{key}"] = FLAG
    if carried and detector == rt.detector == "yunet":
        if "model" not in detector_options and rt.detector_model:
            embedded = Path(bundle.root) / rt.detector_model
            if not embedded.is_file():
                raise BundleError(f"the bundle's face detector {embedded} is missing", "copy the whole bundle folder again")
            detector_options["model"] = embedded
            origin["detector.model"] = BUNDLE
        if "max_side" not in detector_options and rt.detect_side:
            detector_options["max_side"] = rt.detect_side
            origin["detector.max_side"] = BUNDLE
    detect_every = _pick(origin, "detect_every", config.detect_every, rt.detect_every if carried else None, 1)
    detect_region = _pick(origin, "detect_region", config.detect_region, rt.detect_region if carried else None,
                          DETECT_REGION_DEFAULTS.get(detector, 0))
    if not isinstance(detect_region, int) or not 0 <= detect_region <= DETECT_REGION_MAX:
        raise BundleError(f"detect_region {detect_region!r} is outside 0..{DETECT_REGION_MAX}",
                          "give 0 (off) or the number of detection rounds between full-frame passes")
    smoothing = _pick(origin, "smoothing", config.smoothing, SmoothingSpec.parse(rt.smoothing) if carried else None,
                      SmoothingSpec())
    source = camera_source(str(config.source), rt.camera) if carried else str(config.source)
    origin["source"] = FLAG if source == str(config.source) else BUNDLE
    return ResolvedSettings(backend, options, detector, detector_options, detect_every, smoothing, source, origin,
                            detect_region=detect_region)
