"""Recognise the machine we run on and map it to a device profile.

Reads the files the platforms themselves publish — ``/etc/nv_tegra_release``
and the device-tree model on a Jetson, ``/proc/device-tree/model`` on a
Raspberry Pi, ``/proc/cpuinfo`` / ``/proc/meminfo`` elsewhere — under a ``root``
folder, so tests point it at fake files.  Which profile fits is decided by the
profiles' own ``arch`` and ``match`` fields (a device-tree model regex, an L4T
release range, or ``fallback`` for any machine of the arch), so a new device is
one YAML file and no code here.  Torch-free.
"""
from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping


@dataclass(frozen=True)
class DetectedDevice:
    profile: str | None  # the matching profile name, None when no profile fits
    model: str  # what the hardware calls itself
    arch: str
    facts: Mapping[str, str] = field(default_factory=dict)  # cpu, cores, memory, l4t release...


def _read(path: Path) -> str:
    try:
        # device-tree strings end with NUL
        return path.read_bytes().decode("utf-8", "replace").replace("\x00", "").strip()
    except OSError:
        return ""


def _cpu_facts(root: Path) -> dict[str, str]:
    facts: dict[str, str] = {}
    cpuinfo = _read(root / "proc/cpuinfo")
    m = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    if m:
        facts["cpu"] = m.group(1).strip()
    cores = len(re.findall(r"^processor\s*:", cpuinfo, re.M))
    if cores:
        facts["cores"] = str(cores)
    m = re.search(r"^MemTotal:\s*(\d+) kB", _read(root / "proc/meminfo"), re.M)
    if m:
        facts["memory_mb"] = str(int(m.group(1)) // 1024)
    return facts


ARCH_ALIASES = {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64"}


def _matches(rule: Mapping[str, object], model: str, l4t_major: int | None) -> bool:
    pattern = rule.get("model")
    if pattern and model and re.search(str(pattern), model):
        return True
    span = rule.get("l4t")
    return bool(span) and l4t_major is not None and int(span[0]) <= l4t_major <= int(span[1])


def match_profile(arch: str, model: str, l4t_major: int | None) -> str | None:
    """The first profile whose ``match`` rule names this hardware, else the ``fallback`` profile of ``arch``.

    A model or L4T rule identifies the board by itself (the arch follows from it); a board whose
    device-tree model no profile names (a Raspberry Pi 3) gets no profile rather than the fallback.
    """
    from edgeaffect.devices.profiles import list_profiles

    ruled = [p for p in list_profiles() if p.match]
    for profile in ruled:
        if _matches(profile.match, model, l4t_major):
            return profile.name
    if model or l4t_major is not None:
        return None
    return next((p.name for p in ruled if p.arch == arch and p.match.get("fallback")), None)


def detect_device(root: str | Path = "/", *, machine: str | None = None) -> DetectedDevice:
    """Identify this machine; ``root`` and ``machine`` exist so tests can fake both."""
    root = Path(root)
    arch = machine or platform.machine()
    facts = _cpu_facts(root)
    if "cores" not in facts and str(root) == "/":
        facts["cores"] = str(os.cpu_count() or 0)
    model = _read(root / "proc/device-tree/model")
    m = re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", _read(root / "etc/nv_tegra_release"))
    if m:
        facts["l4t"] = f"{m.group(1)}.{m.group(2)}"
    if arch.lower() in ("x86_64", "amd64", "x64"):
        # an Intel GPU is reported as a fact; the CPU profile stays the default because the GPU
        # plugin also needs the compute runtime, which we cannot see from here
        if _read(root / "sys/class/drm/card0/device/vendor") == "0x8086":
            facts["intel_gpu"] = "yes"
    profile = match_profile(ARCH_ALIASES.get(arch.lower(), arch.lower()), model, int(m.group(1)) if m else None)
    return DetectedDevice(profile, model or facts.get("cpu", "unknown machine"), arch, facts)
