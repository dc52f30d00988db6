"""The option keys every backend accepts, declared once, and the one shape of ``backend_options``.

``backend_options`` is ``{backend name: {key: value}}`` everywhere: in a device
profile, in ``ExportOptions``, in a bundle's runtime settings and on the
command line (``--backend-option KEY=VALUE`` for the bundle's backend).  Each
backend's keys are either *runtime* keys (what the backend's constructor takes
on the device: device, providers, threads) or *export* keys (knobs of the
exporter that writes its format: NNCF preset, calibration subset size).  A
profile naming an unknown backend or key fails when it loads; a bundle carries
only the runtime keys.  *Placement* keys pick hardware (an OpenVINO device, ONNX
Runtime providers): the export machine verifies on its CPU when that hardware
is not present there.  Torch-free and import-light.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping

from edgeaffect.errors import ConfigError, unknown_name


@dataclass(frozen=True)
class OptionKeys:
    runtime: tuple[str, ...]
    export: tuple[str, ...] = ()
    placement: tuple[str, ...] = ()  # runtime keys that choose hardware


BACKEND_OPTIONS: dict[str, OptionKeys] = {
    "onnxruntime": OptionKeys(runtime=("providers", "threads"), placement=("providers",)),
    "openvino": OptionKeys(runtime=("device", "threads", "inference_precision"), export=("preset", "subset_size", "fast_bias_correction"),
                           placement=("device",)),
    "litert": OptionKeys(runtime=("threads",), export=("subset_size",)),
    "tensorrt": OptionKeys(runtime=()),
}
# The declared type of every key, whichever backend takes it: the command line's text is read as this.
OPTION_TYPES: dict[str, Any] = {"providers": list[str], "threads": int, "device": str, "inference_precision": str,
                                "preset": str, "subset_size": int, "fast_bias_correction": bool}


def _unknown(what: str, name: str, known: list[str], where: str) -> ConfigError:
    return unknown_name(what, name, known, where=where, fix=f"use one of: {', '.join(known) or '(none)'}")


def check_backend_options(options: Mapping[str, Any], where: str) -> dict[str, dict[str, Any]]:
    """Validate ``{backend: {key: value}}``; ``where`` names the file or flag in the error."""
    if not isinstance(options, Mapping):
        raise ConfigError(f"{where}: backend_options must map backend names to options", "e.g. openvino: {device: CPU}")
    out: dict[str, dict[str, Any]] = {}
    for backend, opts in options.items():
        if backend not in BACKEND_OPTIONS:
            raise _unknown("backend", str(backend), sorted(BACKEND_OPTIONS), f"{where} backend_options")
        if not isinstance(opts, Mapping):
            raise ConfigError(f"{where}: backend_options.{backend} must be a mapping of options",
                              "e.g. {threads: 4}")
        keys = BACKEND_OPTIONS[backend]
        for key in opts:
            if key not in keys.runtime + keys.export:
                raise _unknown(f"{backend} option", str(key), list(keys.runtime + keys.export),
                               f"{where} backend_options.{backend}")
        out[str(backend)] = dict(opts)
    return out


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. under ``taskset``), else the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def max_threads() -> int:
    """The most threads a backend may be asked for: 4 x this machine's cores (more only costs memory)."""
    return 4 * (os.cpu_count() or 1)


def check_runtime_value(key: str, value: Any, where: str) -> Any:
    """A runtime option's value typed and bounded (a bare provider name = a list of one); ConfigError otherwise.

    ``threads`` a whole number in 1..4 x cores; ``providers`` 1..16 names; ``device`` and
    ``inference_precision`` one short name.  Checked before a backend (and its thread pool) is built.
    """
    if key == "threads":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= max_threads():
            raise ConfigError(f"{where} threads={value!r} is outside the allowed range: a whole number in "
                              f"1..{max_threads()} (4 x the {os.cpu_count() or 1} cores here)",
                              "give a thread count such as 1, 2 or 4")
        return value
    if key == "providers":
        value = [value] if isinstance(value, str) else value
        if not isinstance(value, list) or not 1 <= len(value) <= 16 or \
                not all(isinstance(v, str) and 0 < len(v) <= 64 for v in value):
            raise ConfigError(f"{where} providers={value!r} is not a list of 1..16 provider names",
                              "e.g. providers=[CPUExecutionProvider] or providers=CPUExecutionProvider")
        return value
    if not isinstance(value, str) or not 0 < len(value) <= 64:
        raise ConfigError(f"{where} {key}={value!r} is not a name (1..64 characters)", f"e.g. {key}=CPU")
    return value


def runtime_options(backend: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of ``options`` (one backend's) that its constructor takes on the device."""
    keys = BACKEND_OPTIONS.get(backend, OptionKeys(runtime=()))
    return {k: v for k, v in options.items() if k in keys.runtime}


def without_placement(backend: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` with the hardware choice removed (the backend's default device, the CPU)."""
    keys = BACKEND_OPTIONS.get(backend, OptionKeys(runtime=()))
    return {k: v for k, v in options.items() if k not in keys.placement}


def parse_option(text: str, backend: str) -> tuple[str, Any]:
    """``KEY=VALUE`` from the command line, checked against ``backend``; VALUE typed by the key's declared type."""
    from edgeaffect.keyvalue import coerce, split_pairs

    ((key, value),) = split_pairs([text], "--backend-option").items()
    check_backend_options({backend: {key: None}}, "--backend-option")
    if key not in BACKEND_OPTIONS[backend].runtime:
        raise ConfigError(f"--backend-option {key} is an export knob of {backend}, not a runtime option",
                          f"runtime options: {', '.join(BACKEND_OPTIONS[backend].runtime) or '(none)'}")
    return key, check_runtime_value(key, coerce(OPTION_TYPES.get(key), value, f"--backend-option {key}"),
                                    "--backend-option")  # typed by the one parser, then bounded
