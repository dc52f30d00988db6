"""Device profiles: one YAML data file per device under ``profiles/``.

A profile says which export formats and precisions a device runs (in order of
preference), the backend options (``{backend: {key: value}}``, see
``edgeaffect.backend_options``), threads, memory, camera kind,
preferred face detector, detection interval and smoothing, the tool versions a
bundle for it must match, and how :func:`edgeaffect.devices.detect_device`
recognises the hardware (``match``).  Adding a device = one YAML file; export,
the CLI and the README derive their choices from these files.  A profile is
checked when it loads: an unknown key, format, precision, backend, backend
option, detector, camera or smoothing is an error naming the file and the key.
Torch-free.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Mapping

import yaml

from edgeaffect.bundle import RuntimeSettings
from edgeaffect.errors import DeviceError, EdgeAffectError, unknown_name
from edgeaffect.formats import PRECISIONS

CAMERAS = ("usb", "csi", "picamera2")
MATCH_KEYS = ("model", "l4t", "fallback")


@dataclass(frozen=True)
class DeviceProfile:
    name: str
    description: str
    arch: str
    formats: tuple[str, ...]  # preference order; keys of edgeaffect.formats.FORMATS
    precisions: tuple[str, ...]  # preference order among PRECISIONS
    backend_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    threads: int = 0  # 0 = all cores
    memory_mb: int = 0
    camera: str = "usb"  # usb | csi | picamera2
    detector: str = "yunet"
    detect_every: int = 1  # run the detector every N frames; the tracker fills in
    detect_side: int = 0  # YuNet input side (longer side of the downscaled frame); 0 = the detector's default
    detect_region: int | None = None  # full-frame pass every N rounds, track regions between; 0 off; None = default
    smoothing: str = "none"  # a SmoothingSpec: none | ema:A | majority:N | oneeuro[...]
    python: str = ""
    runtime_supported: bool = True  # False: the edgeaffect loop cannot run on the stock OS (see notes)
    tools: Mapping[str, str] = field(default_factory=dict)
    notes: str = ""
    # how detect_device() recognises the device: ``model`` a regex on the device-tree model,
    # ``l4t`` [first, last] L4T major releases, ``fallback`` any machine of ``arch`` nothing else matched
    match: Mapping[str, Any] = field(default_factory=dict)

    @property
    def default_format(self) -> str:
        return self.formats[0]

    @property
    def default_precision(self) -> str:
        return self.precisions[0]

    def runtime_settings(self, backend: str, *, detector_model: str = "") -> RuntimeSettings:
        """What a bundle for this device carries for ``edgeaffect run`` (runtime keys of ``backend`` only)."""
        from edgeaffect.backend_options import runtime_options

        return RuntimeSettings(backend=backend, backend_options=runtime_options(backend, self.backend_options.get(backend, {})),
                               threads=self.threads, detector=self.detector, detector_model=detector_model,
                               detect_every=self.detect_every, detect_side=self.detect_side,
                               detect_region=self.detect_region, camera=self.camera, smoothing=self.smoothing)

    def supports(self, fmt: str, precision: str | None = None) -> bool:
        return fmt in self.formats and (precision is None or precision in self.precisions)

    def check(self, fmt: str, precision: str) -> None:
        """Raise DeviceError naming what the device does run."""
        if fmt not in self.formats:
            raise DeviceError(f"device '{self.name}' does not run the '{fmt}' format",
                              f"use one of: {', '.join(self.formats)}")
        if precision not in self.precisions:
            raise DeviceError(f"device '{self.name}' does not run {precision} models",
                              f"use one of: {', '.join(self.precisions)}")


def _bad(source: str, key: str, value: Any, choices: Any) -> DeviceError:
    return unknown_name(key, value, choices, error=DeviceError, where=f"device profile {source}")


def _check(data: Mapping[str, Any], source: str) -> None:
    """Name the file and key of anything a profile says that edgeaffect would otherwise ignore."""
    from edgeaffect.formats import FORMATS
    from edgeaffect.backend_options import check_backend_options
    from edgeaffect.detectors import DETECTORS
    from edgeaffect.runtime.smoothing import SmoothingSpec

    for key in data:
        if key not in DeviceProfile.__dataclass_fields__:
            raise _bad(source, "key", key, DeviceProfile.__dataclass_fields__)
    for fmt in data.get("formats", ()):
        if fmt not in FORMATS:
            raise _bad(source, "formats entry", fmt, FORMATS)
    for precision in data.get("precisions", ()):
        if precision not in PRECISIONS:
            raise _bad(source, "precisions entry", precision, PRECISIONS)
    check_backend_options(data.get("backend_options") or {}, f"device profile {source}")
    if data.get("detector", "yunet") not in DETECTORS:
        raise _bad(source, "detector", data["detector"], DETECTORS)
    if data.get("camera", "usb") not in CAMERAS:
        raise _bad(source, "camera", data["camera"], CAMERAS)
    for key in data.get("match") or {}:
        if key not in MATCH_KEYS:
            raise _bad(source, "match key", key, MATCH_KEYS)
    try:
        SmoothingSpec.parse(str(data.get("smoothing", "none")))
    except EdgeAffectError as exc:
        raise DeviceError(f"device profile {source}: smoothing: {exc.what}", exc.fix) from exc


def _from_yaml(text: str, source: str) -> DeviceProfile:
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise DeviceError(f"device profile {source} is not a YAML mapping", "fix the YAML file")
    _check(data, source)
    try:
        data["formats"] = tuple(data["formats"])
        data["precisions"] = tuple(data["precisions"])
        return DeviceProfile(**data)
    except (KeyError, TypeError) as exc:
        raise DeviceError(f"device profile {source} is malformed: {exc}", "fix the YAML file") from exc


@lru_cache(maxsize=1)
def _profiles() -> dict[str, DeviceProfile]:
    folder = resources.files("edgeaffect.devices") / "profiles"
    out = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            profile = _from_yaml(entry.read_text(encoding="utf-8"), entry.name)
            out[profile.name] = profile
    return out


def list_profiles() -> list[DeviceProfile]:
    return list(_profiles().values())


# Short names users type: ``--target jetson`` means the current Jetson generation.
ALIASES = {"jetson": "jetson-orin-nano", "pi": "rpi5", "raspberrypi": "rpi5", "laptop": "laptop-x86", "x86": "laptop-x86"}


def get_profile(name: str) -> DeviceProfile:
    profiles = _profiles()
    name = ALIASES.get(name, name)
    if name not in profiles:
        raise unknown_name("device", name, list(profiles) + list(ALIASES), error=DeviceError,
                           fix=f"choose one of: {', '.join(profiles)} ('edgeaffect devices')")
    return profiles[name]
