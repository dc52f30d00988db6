"""Shared fixtures (where the real data and test models are; tests needing them skip cleanly) and how the
suite splits over pytest-xdist workers (``make test`` runs ``-n 2 --dist loadfile``)."""
import os
from pathlib import Path

import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):
    # One thread per worker: two workers on two cores each spinning two torch/OpenMP threads would
    # oversubscribe the machine. Set before any test module imports torch.
    os.environ.setdefault("OMP_NUM_THREADS", "1")

# How `make test` (pytest -n 2 --dist loadfile) splits the suite: a file's tests run on one worker, so its
# module fixtures are built once, with two refinements. The files in QUIET assert wall-clock bounds, race
# two threads or trace subprocesses with strace: they form one group, so no two of them run at once. In
# the files in SPLIT each test function is a group of its own (its parametrisations together), so two
# trainings can run on the two workers. And the groups holding slow tests are queued first, so that a
# long training does not start last and finish alone.
QUIET = frozenset({"tests/test_privacy_network.py", "tests/test_fault_outputs.py", "tests/test_runtime_reader.py"})
SPLIT = frozenset({"tests/test_train_learning.py"})


def group_of(nodeid: str) -> str:
    path, _, rest = nodeid.partition("::")
    if path in QUIET:
        return "quiet"
    return f"{path}::{rest.partition('[')[0]}" if path in SPLIT else path


@pytest.hookimpl(optionalhook=True)  # an xdist hook: without xdist installed pytest would reject it
def pytest_xdist_make_scheduler(config, log):
    """loadfile's scheduler with the groups above, taking them in collection order (slow first, below)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    config.option.loadscopereorder = False  # by default it queues the groups with most tests first
    return GroupScheduling(config, log)


def pytest_collection_modifyitems(config, items):
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    slow = {group_of(item.nodeid) for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: group_of(item.nodeid) not in slow)  # stable: file order kept within


def _env_dir(var: str) -> Path | None:
    value = os.environ.get(var)
    return Path(value) if value and Path(value).is_dir() else None


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = _env_dir("EDGEAFFECT_DATA")
    if root is None:
        pytest.skip("EDGEAFFECT_DATA is not set to the real data folder")
    return root


def _data_folder(data_root: Path, name: str) -> Path:
    root = data_root / name
    if not root.is_dir():
        pytest.skip(f"no {name}/ under EDGEAFFECT_DATA")
    return root


@pytest.fixture(scope="session")
def ferplus_root(data_root) -> Path:
    return _data_folder(data_root, "ferplus")


@pytest.fixture(scope="session")
def physrecorder_root(data_root) -> Path:
    """The real webcam recording with its finger-oximeter wave."""
    return _data_folder(data_root, "physrecorder_v01")


@pytest.fixture(scope="session")
def yunet_model() -> Path:
    """The YuNet file shipped inside the package: the tests use the file users get."""
    from edgeaffect.modelcache import packaged_path

    path = packaged_path("yunet")
    assert path is not None, "the package lost its YuNet model (edgeaffect/assets/yunet/)"
    return path
