"""Shared fixtures: where the real data and test models are (tests needing them skip cleanly)."""
import os
from pathlib import Path

import pytest


def _env_dir(var: str) -> Path | None:
    value = os.environ.get(var)
    return Path(value) if value and Path(value).is_dir() else None


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = _env_dir("EDGEAFFECT_DATA")
    if root is None:
        pytest.skip("EDGEAFFECT_DATA is not set to the real data folder")
    return root


@pytest.fixture(scope="session")
def ferplus_root(data_root) -> Path:
    root = data_root / "ferplus"
    if not root.is_dir():
        pytest.skip("no ferplus/ under EDGEAFFECT_DATA")
    return root


@pytest.fixture(scope="session")
def yunet_model() -> Path:
    """The YuNet file shipped inside the package: the tests use the file users get."""
    from edgeaffect.modelcache import packaged_path

    path = packaged_path("yunet")
    assert path is not None, "the package lost its YuNet model (edgeaffect/assets/yunet/)"
    return path
