"""Which data calibrates and verifies an export when the user names none.

``edgeaffect export RUN --target DEVICE`` with no ``--calib-data`` /
``--verify-data`` uses the dataset the run folder recorded (its config.yaml:
a dataset folder, or the built-in synthetic data, regenerated from its seed):
its train split calibrates INT8 and its held-out split verifies.  When that
folder is not reachable here (a model trained elsewhere on FER+), an image
model is verified on the built-in synthetic faces — enough to measure
float-vs-export agreement, not accuracy on real faces — and INT8 is left out
for want of calibration data.  What was used is said in ``verification.json``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from edgeaffect.meta import ModelMeta

log = logging.getLogger(__name__)

# Small on purpose: agreement between the float model and its export needs faces, not a benchmark.
# 24 per class gives 6 held-out faces per class (48) to verify on: more than a handful, a few seconds to draw
SYNTHETIC_VERIFY = {"per_class": 24, "seed": 7, "aligned": True, "per_subject": 1}


@dataclass(frozen=True)
class ExportData:
    calibration: Any  # a CalibrationSource, a dataset path, or None
    verification: Any
    provenance: Mapping[str, str] = field(default_factory=dict)  # goes into verification.json as "data"


def _run_folder(run: str | Path) -> Path | None:
    from edgeaffect.assets import resolve

    path = resolve(Path(run).expanduser(), "run")  # "default": the shipped model's run folder
    folder = path if path.is_dir() else path.parent
    return folder if (folder / "config.yaml").is_file() else None


def recorded_data(run: str | Path) -> tuple[Path | None, str]:
    """The dataset folder the run trained on, when reachable here, and how the run names it."""
    import yaml

    from edgeaffect.errors import EdgeAffectError
    from edgeaffect.train.config import TrainConfig, loaded_config
    from edgeaffect.train.recipes import data_path

    folder = _run_folder(run)
    if folder is None:
        return None, "the run folder holds no config.yaml"
    saved = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8"))
    config = TrainConfig.from_dict(loaded_config(saved, folder))
    if config.data.path:
        try:
            path = data_path(config)
        except EdgeAffectError:  # "$EDGEAFFECT_DATA/..." with the variable unset: not on this machine
            return None, _named(config.data.path)
        return (path if path.is_dir() else None), _named(config.data.path)
    try:
        # synthetic data is regenerated from its recorded options when the cache lost it
        return data_path(config), f"built-in synthetic {config.data.synthetic} {dict(config.data.synthetic_options)}"
    except EdgeAffectError as exc:
        log.debug("recorded data not reachable: %s", exc.what)
        return None, str(config.data.synthetic or "?")


def _named(data: Any) -> str:
    """How verification.json names a dataset: a path portably (never this machine's absolute path)."""
    from edgeaffect.portable import portable

    if data is None:
        return ""
    return portable(data) if isinstance(data, (str, Path)) else str(data)


def choose_data(run: str | Path, meta: ModelMeta, calibration: Any, verify_data: Any) -> ExportData:
    """The user's data when given; else the run's recorded dataset; else synthetic faces to verify on."""
    if calibration is not None or verify_data is not None:
        return ExportData(calibration, verify_data, {"calibration": _named(calibration) or "none (not given)",
                                                     "verification": _named(verify_data or calibration)})
    path, named = recorded_data(run)
    if path is not None:
        log.info("no --calib-data/--verify-data: using the run's own dataset %s (train split calibrates, "
                 "held-out split verifies)", path)
        return ExportData(path, None, {"calibration": f"{_named(path)} (the run's dataset, train split)",
                                       "verification": f"{_named(path)} (the run's dataset, held-out split)",
                                       "source": "recorded by the run (config.yaml)"})
    if meta.is_temporal or meta.task.value not in ("classification", "multitask"):
        return ExportData(None, None, {"recorded": named})
    from edgeaffect.train.recipes import synthetic_data

    size = max(int(meta.input_size[0]), 48)
    faces = synthetic_data("faces", {**SYNTHETIC_VERIFY, "size": size})
    log.warning("the run's dataset (%s) is not reachable here: verifying on built-in synthetic faces (float-vs-export "
                "agreement only) and leaving INT8 out (pass --calib-data for a calibrated INT8)", named)
    return ExportData(None, faces, {
        "calibration": f"none: the run's dataset ({named}) is not on this machine",
        "verification": f"built-in synthetic faces {dict(SYNTHETIC_VERIFY, size=size)}: float-vs-export agreement "
                        "only, not accuracy on real faces",
        "int8": f"pass --calib-data (the run's dataset: {named}) for a calibrated INT8 bundle",
    })
