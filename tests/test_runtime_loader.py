"""The bundle loader's tool-version rules, read as PEP 440 versions."""
from __future__ import annotations

import pytest

from edgeaffect.runtime.loader import VERSION_RULES


@pytest.mark.parametrize("backend,built,installed,ok", [
    ("tensorrt", "8.2.1.8", "8.2.5", True),  # the same major.minor builds and runs the engine
    ("tensorrt", "8.2", "8.6.1", False),
    ("tensorrt", "10.3.0.26", "10.3.0", True),
    ("openvino", "2024.4.0", "2024.10.1", True),  # minor 10 is newer than 4: numbers, not strings
    ("openvino", "2024.10.0", "2024.4.0", False),
    ("onnxruntime", "1.17.0+cpu", "1.17.1", True),  # local version labels
    ("onnxruntime", "1.20.0rc1", "1.19.2", False),
    ("litert", "not-a-version", "1.2.0", True),  # unreadable: not checked (a warning says so)
])
def test_version_rules(backend, built, installed, ok):
    assert VERSION_RULES[backend].compatible(built, installed) is ok
