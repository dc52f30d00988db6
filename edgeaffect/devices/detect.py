"""Recognise the machine we run on and map it to a device profile.

Reads the files the platforms themselves publish — ``/etc/nv_tegra_release``
and the device-tree model on a Jetson, ``/proc/device-tree/model`` on a
Raspberry Pi, ``/proc/cpuinfo`` / ``/proc/meminfo`` elsewhere — under a ``root``
folder, so tests point it at fake files.  Torch-free.
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


def detect_device(root: str | Path = "/", *, machine: str | None = None) -> DetectedDevice:
    """Identify this machine; ``root`` and ``machine`` exist so tests can fake both."""
    root = Path(root)
    arch = machine or platform.machine()
    facts = _cpu_facts(root)
    if "cores" not in facts and str(root) == "/":
        facts["cores"] = str(os.cpu_count() or 0)
    model = _read(root / "proc/device-tree/model")
    tegra = _read(root / "etc/nv_tegra_release")
    if tegra or "jetson" in model.lower():
        m = re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", tegra)
        if m:
            facts["l4t"] = f"{m.group(1)}.{m.group(2)}"
        # L4T 32.x is JetPack 4 (the original Nano's last release); 35/36 are JetPack 5/6 (Orin).
        old = m is not None and int(m.group(1)) < 34
        if "orin" in model.lower() or (m is not None and not old):
            profile = "jetson-orin-nano"
        elif "nano" in model.lower() or old:
            profile = "jetson-nano"
        else:
            profile = None
        return DetectedDevice(profile, model or "NVIDIA Jetson", arch, facts)
    if model.startswith("Raspberry Pi"):
        m = re.match(r"Raspberry Pi (\d+)", model)
        gen = int(m.group(1)) if m else 0
        profile = {4: "rpi4", 5: "rpi5"}.get(gen)
        return DetectedDevice(profile, model, arch, facts)
    if arch.lower() in ("x86_64", "amd64", "x64"):
        # an Intel GPU is reported as a fact; the CPU profile stays the default because the GPU
        # plugin also needs the compute runtime, which we cannot see from here
        vendor = _read(root / "sys/class/drm/card0/device/vendor")
        if vendor == "0x8086":
            facts["intel_gpu"] = "yes"
        return DetectedDevice("laptop-x86", facts.get("cpu", "x86-64 machine"), arch, facts)
    return DetectedDevice(None, model or facts.get("cpu", "unknown machine"), arch, facts)
