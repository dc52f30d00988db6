"""The heart-rate side of ``edgeaffect eval``: pulse estimators (or a trained video model) on a recording.

``eval pos --data REC`` scores the named estimators; ``eval RUN --data REC``
with a run whose model outputs a pulse wave scores that model the same way
(see ``train/pulse_eval.py``).  Results print as a table (or JSON) and, with
``--out``, are written to ``eval-pulse.json``.
"""
from __future__ import annotations

import json
from pathlib import Path

from edgeaffect.io import atomic_write_json


def _is_recording(data: str) -> bool:
    if not data:
        return False
    from edgeaffect.data.inspection import detect_format
    from edgeaffect.data.recording import RECORDING_FORMATS
    from edgeaffect.errors import DataError

    try:
        return detect_format(Path(data)) in RECORDING_FORMATS
    except DataError:
        return False


def pulse_eval_wanted(run: Path, data: str) -> bool:
    """True when RUN names estimators, or names a run and --data is a video + pulse recording."""
    from edgeaffect.pulse.base import estimator_names

    if not run.exists() and estimator_names(str(run)) is not None:
        return True
    return run.exists() and _is_recording(data)


def run_pulse_eval(run: Path, *, data: str, format: str | None, split: str, window: float, hop: float,
                   detector: str, detector_model: Path | None, as_json: bool, out: Path | None) -> str:
    from edgeaffect.bench.pulse import PulseEvalOptions, evaluate_pulse, format_pulse_report
    from edgeaffect.errors import ConfigError
    from edgeaffect.pulse.base import estimator_names

    if not data:
        raise ConfigError("heart-rate evaluation needs a recording",
                          "pass --data with a video + pulse recording folder")
    opts = PulseEvalOptions(estimators=estimator_names(str(run)) or (), data=data, format=format, split=split,
                            window_s=window, hop_s=hop, detector=detector,
                            detector_options={"model": str(detector_model)} if detector_model else {})
    if run.exists():
        from edgeaffect.train.pulse_eval import evaluate_run_pulse

        report = evaluate_run_pulse(run, opts)
    else:
        report = evaluate_pulse(opts)
    text = json.dumps(report.to_dict(), indent=2, default=str) if as_json else format_pulse_report(report)
    if out is not None:
        text += f"\nwrote {atomic_write_json(out / 'eval-pulse.json', report.to_dict())}"
    return text
