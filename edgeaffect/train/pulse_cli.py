"""The heart-rate side of ``edgeaffect eval``: pulse estimators (or a trained video model) on a recording.

``eval --pulse pos --data REC`` scores the named estimators; ``eval RUN --pulse model --data
REC`` scores a run whose model outputs a pulse wave the same way (see ``train/pulse_eval.py``).
Which job runs is what the command line says, never what happens to exist on disk.  Results
print as a table (or JSON) and, with ``--out``, are written to ``eval-pulse.json``.
"""
from __future__ import annotations

import json
from pathlib import Path

from edgeaffect.errors import ConfigError
from edgeaffect.io import atomic_write_json

MODEL = "model"  # --pulse model: RUN's own video model, not an estimator


def check_model_run(run: Path | None) -> Path:
    """RUN for a model evaluation; a missing RUN or an estimator's name gets the command that was meant."""
    from edgeaffect.pulse.base import estimator_names

    if run is None:
        raise ConfigError("eval needs RUN (a run folder or checkpoint), or --pulse ESTIMATORS for heart rate",
                          "e.g. edgeaffect eval runs/mine --data DATA, or edgeaffect eval --pulse pos --data REC")
    if not run.exists() and estimator_names(str(run)) is not None:
        raise ConfigError(f"'{run}' is not a run folder or checkpoint but names pulse estimators",
                          f"score them with: edgeaffect eval --pulse {run} --data RECORDING")
    return run


def run_pulse_eval(pulse: str, run: Path | None, *, data: str, format: str | None, split: str, window: float,
                   hop: float, detector: str, detector_model: Path | None, as_json: bool, out: Path | None,
                   detect_side: int | None = None) -> str:
    """``--pulse ESTIMATORS`` (RUN must not be given) or ``RUN --pulse model`` on the recording ``data``."""
    from edgeaffect.bench.pulse import PulseEvalOptions, evaluate_pulse, format_pulse_report
    from edgeaffect.errors import unknown_name
    from edgeaffect.pulse.base import ESTIMATORS, estimator_names

    names = () if pulse == MODEL else estimator_names(pulse)
    if names is None:
        bad = next((n for n in pulse.split(",") if n.strip() not in ESTIMATORS), pulse)
        raise unknown_name("pulse estimator", bad.strip(), [*ESTIMATORS, "all", MODEL])
    if pulse == MODEL and run is None:
        raise ConfigError("--pulse model scores RUN's video model, and no RUN was given",
                          "e.g. edgeaffect eval runs/physnet --pulse model --data REC")
    if pulse != MODEL and run is not None:
        raise ConfigError(f"--pulse {pulse} scores estimators, not the run {run}",
                          f"drop RUN, or score the run's own video model with: edgeaffect eval {run} --pulse model")
    if not data:
        raise ConfigError("heart-rate evaluation needs a recording",
                          "pass --data with a video + pulse recording folder")
    options: dict = {"model": str(detector_model)} if detector_model else {}
    if detect_side is not None:  # the colour of a box one detector pixel off is another colour: the side matters
        options["max_side"] = detect_side or None
    opts = PulseEvalOptions(estimators=names, data=data, format=format, split=split,
                            window_s=window, hop_s=hop, detector=detector, detector_options=options)
    if pulse == MODEL:
        from edgeaffect.train.pulse_eval import evaluate_run_pulse

        report = evaluate_run_pulse(run, opts)
    else:
        report = evaluate_pulse(opts)
    text = json.dumps(report.to_dict(), indent=2, allow_nan=False) if as_json else format_pulse_report(report)
    if out is not None:
        path = atomic_write_json(out / 'eval-pulse.json', report.to_dict())
        if as_json:  # standard output holds exactly one JSON document; the path goes to stderr
            import sys

            print(f"wrote {path}", file=sys.stderr)
        else:
            text += f"\nwrote {path}"
    return text
