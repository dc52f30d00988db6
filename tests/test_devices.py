"""Device profiles and detect_device() on fake /proc and /etc trees."""
import pytest

from edgeaffect.cli import main
from edgeaffect.devices import detect_device, get_profile, list_profiles
from edgeaffect.errors import DeviceError


def _tree(tmp_path, files):
    for rel, content in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content if isinstance(content, bytes) else content.encode())
    return tmp_path


@pytest.mark.parametrize("files,machine,expected", [
    ({"etc/nv_tegra_release": "# R36 (release), REVISION: 4.0, GCID: 1, BOARD: generic\n",
      "proc/device-tree/model": b"NVIDIA Jetson Orin Nano Developer Kit\x00"}, "aarch64", "jetson-orin-nano"),
    ({"etc/nv_tegra_release": "# R32 (release), REVISION: 7.1, GCID: 1, BOARD: t210ref\n",
      "proc/device-tree/model": b"NVIDIA Jetson Nano Developer Kit\x00"}, "aarch64", "jetson-nano"),
    ({"proc/device-tree/model": b"Raspberry Pi 4 Model B Rev 1.4\x00"}, "aarch64", "rpi4"),
    ({"proc/device-tree/model": b"Raspberry Pi 5 Model B Rev 1.0\x00"}, "aarch64", "rpi5"),
    ({"proc/cpuinfo": "processor\t: 0\nmodel name\t: Intel(R) Core(TM) i7\nprocessor\t: 1\n",
      "proc/meminfo": "MemTotal:       16384000 kB\n"}, "x86_64", "laptop-x86"),
    ({"proc/device-tree/model": b"Raspberry Pi 3 Model B\x00"}, "aarch64", None),
    ({}, "riscv64", None),
])
def test_detect_device(tmp_path, files, machine, expected):
    found = detect_device(_tree(tmp_path, files), machine=machine)
    assert found.profile == expected
    if expected is not None:
        get_profile(expected)  # every detected name is a real profile


def test_detect_reads_facts(tmp_path):
    root = _tree(tmp_path, {"etc/nv_tegra_release": "# R36 (release), REVISION: 4.0\n",
                            "proc/device-tree/model": b"NVIDIA Jetson Orin Nano\x00",
                            "proc/meminfo": "MemTotal: 7800000 kB\n"})
    found = detect_device(root, machine="aarch64")
    assert found.facts["l4t"] == "36.4.0" and found.facts["memory_mb"] == str(7800000 // 1024)


def test_profiles_are_consistent():
    names = {p.name for p in list_profiles()}
    assert {"jetson-nano", "jetson-orin-nano", "rpi4", "rpi5", "laptop-x86", "laptop-intel-gpu"} <= names
    for p in list_profiles():
        assert p.formats and p.precisions and p.detector
        p.check(p.default_format, p.default_precision)
    assert get_profile("jetson").name == "jetson-orin-nano"  # the alias users type
    assert not get_profile("jetson-nano").runtime_supported and "3.6" in get_profile("jetson-nano").notes


def test_unknown_profile_suggests(capsys):
    with pytest.raises(DeviceError, match="rpi4"):
        get_profile("rpi-4")
    with pytest.raises(DeviceError, match="does not run"):
        get_profile("rpi4").check("openvino", "fp32")


def test_devices_cli_marks_this_machine(tmp_path, capsys):
    root = _tree(tmp_path, {"proc/device-tree/model": b"Raspberry Pi 4 Model B Rev 1.4\x00"})
    assert main(["devices", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "* rpi4" in out and "Raspberry Pi 4 Model B" in out


def test_the_declared_runtime_options_are_what_the_backends_take():
    """The option table profiles are checked against must match the constructors it feeds."""
    import importlib
    import inspect

    from edgeaffect.runtime.backends.base import BACKEND_MODULES, BACKENDS
    from edgeaffect.backend_options import BACKEND_OPTIONS

    assert set(BACKEND_OPTIONS) == set(BACKEND_MODULES)
    for backend, keys in BACKEND_OPTIONS.items():
        try:
            importlib.import_module(BACKEND_MODULES[backend])
        except ImportError:  # TensorRT is device-only
            continue
        params = set(inspect.signature(BACKENDS[backend]).parameters)
        assert set(keys.runtime) <= params, f"{backend} does not take {set(keys.runtime) - params}"
        assert set(keys.placement) <= set(keys.runtime)
    for p in list_profiles():
        for backend, options in p.backend_options.items():
            assert set(options) <= set(BACKEND_OPTIONS[backend].runtime + BACKEND_OPTIONS[backend].export)
