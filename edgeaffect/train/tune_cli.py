"""``edgeaffect tune``: a classifier's prior correction, mirror averaging, centre zoom and framing, chosen on held-out data."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


# what each list option's error shows as an example (each has its own range of sensible values)
_EXAMPLES = {"--taus": "-0.5,-0.25,0", "--zooms": "1,0.9,0.8", "--scales": "0.9,1,1.1", "--shifts": "-0.05,0,0.05"}


def _floats(text: str, name: str) -> tuple[float, ...]:
    import math

    from edgeaffect.errors import ConfigError

    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        values = ()
    if not values or not all(math.isfinite(v) for v in values):
        raise ConfigError(f"{name} {text!r} is not a comma list of numbers", f"e.g. {name} {_EXAMPLES[name]}")
    return values


def register(app: typer.Typer) -> None:
    @app.command("tune")
    def tune_cmd(
        runs: list[Path] = typer.Argument(..., metavar="RUN", help="Run folder (or checkpoint) of an expression "
                                          "classifier; two or more are tuned as one ensemble (the mean of their logits)."),
        out: Path = typer.Option(..., "--out", help="The tuned run folder to write (export and run take it)."),
        data: str = typer.Option("", "--data", help="Dataset with the model's classes (default: the run's data)."),
        split: str = typer.Option("valid", "--split", help="Held-out split the choices are measured on (not test)."),
        which: str = typer.Option("best", "--which", help="best or last checkpoint of the run folder."),
        taus: str = typer.Option("-1,-0.75,-0.5,-0.375,-0.25,-0.125,0,0.25", "--taus",
                                 help="Prior-correction strengths to try (logits + tau*log prior; < 0 favours rare classes)."),
        hflip: str = typer.Option("auto", "--hflip", help="Mirror averaging: auto (kept if it helps), on, off."),
        zooms: str = typer.Option("1", "--zooms", help="Centre zooms to try averaged in (e.g. 1,0.8: the face's "
                                  "centre 0.8 of its side, enlarged; 1 = the input alone)."),
        max_accuracy_drop: float = typer.Option(0.005, "--max-accuracy-drop", min=0.0, max=1.0,
                                                help="Top-1 the prior correction may cost against the best of the grid."),
        min_accuracy: Optional[float] = typer.Option(None, "--min-accuracy", min=0.0, max=1.0,
                                                     help="Instead of the budget: keep at least this accuracy "
                                                          "(e.g. the valid accuracy of the model it replaces)."),
        framing: bool = typer.Option(True, "--framing/--no-framing", help="Choose the crop framing through the detector."),
        framing_faces: int = typer.Option(800, "--framing-faces", min=10, max=20000),
        scales: str = typer.Option("0.8,0.9,1,1.1,1.2,1.3", "--scales", help="Crop sides to try, in detector boxes."),
        shifts: str = typer.Option("-0.05,0,0.05", "--shifts", help="Vertical crop-centre shifts to try, in boxes."),
    ) -> None:
        """Choose the prior correction, mirror averaging, centre zoom and face framing of a classifier (or an ensemble of several)
        on a held-out split; write a tuned run."""
        from edgeaffect.io import check_writable, refuse_writing_into_inputs
        from edgeaffect.train.tune import TuneOptions, format_result, tune

        refuse_writing_into_inputs({"--out": out}, list(runs))  # a tuned run never replaces the run it was cut from
        check_writable(out, folder=True)
        opts = TuneOptions(run=str(runs[0]), members=tuple(str(r) for r in runs[1:]), out=str(out), data=data,
                           split=split, which=which, taus=_floats(taus, "--taus"),
                           hflip=hflip, zooms=_floats(zooms, "--zooms"), max_accuracy_drop=max_accuracy_drop,
                           min_accuracy=min_accuracy, framing=framing,
                           framing_faces=framing_faces, scales=_floats(scales, "--scales"),
                           shifts_y=_floats(shifts, "--shifts"))
        typer.echo(format_result(tune(opts)))
