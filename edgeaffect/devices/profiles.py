"""Device profiles: one YAML data file per device under ``profiles/``.

A profile says which export formats and precisions a device runs (in order of
preference), which ``export --target`` follows; the backend options and tool
versions the export applies (verification runs with those options, TensorRT
build scripts follow those versions, the manifest records them).  ``threads``,
``memory_mb``, ``camera`` and ``detector`` describe the device for
``edgeaffect devices`` and the reader; ``edgeaffect run`` takes its own flags
and does not read them.  Adding a device = one YAML file (and its row in
tests/test_registries.py).  Torch-free.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Mapping

import yaml

from edgeaffect.errors import DeviceError
from edgeaffect.formats import PRECISIONS


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
    python: str = ""
    runtime_supported: bool = True  # False: the edgeaffect loop cannot run on the stock OS (see notes)
    tools: Mapping[str, str] = field(default_factory=dict)
    notes: str = ""

    @property
    def default_format(self) -> str:
        return self.formats[0]

    @property
    def default_precision(self) -> str:
        return self.precisions[0]

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


def _from_yaml(text: str, source: str) -> DeviceProfile:
    data = yaml.safe_load(text)
    try:
        data["formats"] = tuple(data["formats"])
        data["precisions"] = tuple(data["precisions"])
        profile = DeviceProfile(**data)
    except (KeyError, TypeError) as exc:
        raise DeviceError(f"device profile {source} is malformed: {exc}", "fix the YAML file") from exc
    bad = [p for p in profile.precisions if p not in PRECISIONS]
    if bad:
        raise DeviceError(f"device profile {source} names unknown precisions {bad}", f"use {PRECISIONS}")
    return profile


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
        near = difflib.get_close_matches(name, list(profiles) + list(ALIASES), n=1)
        hint = f"did you mean '{near[0]}'? " if near else ""
        raise DeviceError(f"unknown device '{name}'", f"{hint}choose one of: {', '.join(profiles)} ('edgeaffect devices')")
    return profiles[name]
