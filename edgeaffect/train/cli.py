"""``edgeaffect train | eval | explain``: the training engine's verbs.

``train [RECIPE] [key=value ...]`` resolves a TrainConfig (defaults < recipe <
overrides) and calls ``fit``; ``--list`` shows every model and recipe;
``--resume`` continues a run from its last.pt.  ``eval`` scores a run on a
dataset split (optionally the resize study), ``explain`` writes Grad-CAM
overlays.  Each verb builds one options object and makes one call.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer


def split_args(args: list[str]) -> tuple[str | None, list[str]]:
    """``["ddamfn-ferplus", "epochs=1"]`` -> ("ddamfn-ferplus", ["epochs=1"])."""
    from edgeaffect.errors import ConfigError

    names = [a for a in args if "=" not in a]
    if len(names) > 1:
        raise ConfigError(f"more than one recipe given: {names}", "name one recipe; write options as key=value")
    return (names[0] if names else None), [a for a in args if "=" in a]


def listing() -> str:
    from edgeaffect.train.recipes import list_recipes, recipe_description
    from edgeaffect.train.registry import list_models

    lines = ["models:"]
    lines += [f"  {m.name:<22} {m.task.value:<15} input {'x'.join(map(str, m.default_input)):<14} {m.description}"
              for m in list_models()]
    lines += ["", "recipes:"]
    lines += [f"  {r:<28} {recipe_description(r)}" for r in list_recipes()]
    return "\n".join(lines)


def run_train(args: list[str], *, resume: bool = False) -> str:
    from edgeaffect.train.engine import fit
    from edgeaffect.train.recipes import resolve_config, resume_config
    from edgeaffect.train.runfolder import latest_run

    recipe, overrides = split_args(args)
    config = resolve_config(recipe, overrides)
    if resume:
        run_dir = config.runtime.out or str(latest_run(config.runtime.runs_dir, config.recipe))
        config = resume_config(run_dir, overrides)
    result = fit(config)
    lines = [f"run folder: {result.run_dir}",
             f"epochs: {result.epochs_run}, best epoch {result.best_epoch} (valid {result.monitor} {result.best_metric:.4f})"
             + (" — stopped early" if result.stopped_early else "") + (" — interrupted" if result.interrupted else "")]
    if result.test:
        lines.append("test: " + ", ".join(f"{k} {v:.4f}" for k, v in result.test.items() if isinstance(v, float)))
    elif not config.data.test_split:
        lines.append("test: not scored (data.test_split is empty; read it once with 'edgeaffect eval' after choosing on valid)")
    return "\n".join(lines)


def parse_options(items: list[str] | None) -> dict:
    """``--option KEY=VALUE`` pairs as text: the dataset reader that receives them types them."""
    from edgeaffect.keyvalue import split_pairs

    return split_pairs(items, "--option")


def register(app: typer.Typer) -> None:
    @app.command("train", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def train(
        args: Optional[List[str]] = typer.Argument(None, metavar="[RECIPE] [KEY=VALUE]...",
                                                   help="A recipe name (see --list) and config overrides, e.g. "
                                                        "data=PATH epochs=1 batch=32 optim.lr=0.001 limit_train=512."),
        list_all: bool = typer.Option(False, "--list", help="List every model and recipe, then exit."),
        resume: bool = typer.Option(False, "--resume", help="Continue the run in out= (or the recipe's latest) from last.pt."),
    ) -> None:
        """Train a model from a recipe; writes a run folder (checkpoints, metrics, plots, model card)."""
        if list_all:
            typer.echo(listing())
            return
        typer.echo(run_train(list(args or []), resume=resume))

    @app.command("eval")
    def evaluate(
        run: Optional[Path] = typer.Argument(None, help="Run folder, checkpoint (.pt) or bundle folder (scored by its runtime); not needed for --pulse ESTIMATORS."),
        data: str = typer.Option("", "--data", help="Dataset folder (default: the data the run was trained on)."),
        pulse: Optional[str] = typer.Option(None, "--pulse", help="Score heart rate from the face video of a recording "
                                            "(--data) against its contact sensor: pos, chrom, green, a comma list or "
                                            "all; or 'model' for RUN's own video model."),
        split: str = typer.Option("test", "--split"),
        format: Optional[str] = typer.Option(None, "--format", help="Dataset layout (default: detected)."),
        option: Optional[List[str]] = typer.Option(None, "--option", help="Reader option key=value (repeatable)."),
        class_map: Optional[List[str]] = typer.Option(
            None, "--class-map", help="DATA_CLASS=MODEL_CLASS for a class no alias names, or DATA_CLASS=skip "
                                      "(repeatable); e.g. --class-map bored=neutral."),
        limit: int = typer.Option(0, "--limit", min=0, help="Score only N samples (seeded choice); 0 = all."),
        batch: int = typer.Option(64, "--batch", min=1, max=4096),
        which: str = typer.Option("best", "--which", help="best or last checkpoint of a run folder."),
        resize: str = typer.Option("", "--resize", help="Resize study resolutions, e.g. 112,96,64,48,32,24,14."),
        interp: str = typer.Option("cubic,linear,lanczos4", "--interp", help="Interpolations for the resize study."),
        out: Optional[Path] = typer.Option(None, "--out", help="Folder for eval.json / resize_study.csv+json."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
        window: float = typer.Option(10.0, "--window", help="Heart-rate window in seconds (video + pulse recordings)."),
        hop: float = typer.Option(5.0, "--hop", help="Seconds between heart-rate windows."),
        detector: str = typer.Option("yunet", "--detector", help="Face detector for heart rate from video."),
        detector_model: Optional[Path] = typer.Option(None, "--detector-model", help="YuNet model file."),
        detect_side: Optional[int] = typer.Option(None, "--detect-side", min=0, max=8192,
                                                  help="YuNet on a copy of the frame at most this long (0 = full "
                                                       "resolution); default: the runtime's, 320."),
    ) -> None:
        """Score a trained run on a dataset split (accuracy, macro-F1, UAR, CCC, Pearson, ...).

        Any labelled set whose classes are a subset of the model's is scored (happy/ angry/ ... folders,
        RAF-DB, FER2013): classes are matched by name, and scores come over all the model's classes and
        restricted to the set's.

        With --pulse: heart rate from the face video of a recording (--data) scored against its contact
        sensor, by pulse estimators (--pulse pos) or by RUN's video model (RUN --pulse model).
        """
        from edgeaffect.train.pulse_cli import check_model_run, run_pulse_eval

        if pulse is not None:
            from edgeaffect.errors import check_range
            from edgeaffect.pulse.spectrum import MIN_SECONDS

            check_range("--window", window, MIN_SECONDS, 600)  # NaN/inf would score no window and say nothing
            check_range("--hop", hop, 0.1, 600)
            typer.echo(run_pulse_eval(pulse, run, data=data, format=format, split=split, window=window, hop=hop,
                                      detector=detector, detector_model=detector_model, detect_side=detect_side,
                                      as_json=as_json, out=out))
            return
        run = check_model_run(run)
        from edgeaffect.io import atomic_write_json, check_writable
        from edgeaffect.train.evaluate import EvalOptions, evaluate_checkpoint, format_report
        from edgeaffect.train.resize_study import parse_list, run_resize_study, table, write_results

        if out is not None:
            from edgeaffect.io import refuse_writing_into_inputs
            from edgeaffect.train.evaluate import is_bundle

            # a run folder may hold its own evaluations; a bundle's manifest lists exactly its files
            refuse_writing_into_inputs({"--out": out}, [run] if is_bundle(run) else [])
            check_writable(out, folder=True)  # before the evaluation, which may take minutes
        from edgeaffect.data.classes import parse_class_map

        opts = EvalOptions(checkpoint=str(run), data=data, split=split, format=format, options=parse_options(option),
                           class_map=parse_class_map(class_map), limit=limit, batch=batch, which=which)
        if resize:
            from edgeaffect.errors import ConfigError
            from edgeaffect.train.evaluate import is_bundle

            if is_bundle(run):
                raise ConfigError(f"{run} is a bundle; the resize study here needs a run folder or checkpoint",
                                  f"bench the bundle instead: edgeaffect bench {run} --data DATASET --resolutions "
                                  f"{resize}")
            rows = run_resize_study(opts, parse_list(resize, int), parse_list(interp))
            typer.echo(table(rows))
            for path in write_results(rows, out or (run if run.is_dir() else run.parent)):
                typer.echo(f"wrote {path}")
            return
        report = evaluate_checkpoint(opts)
        typer.echo(json.dumps(report.to_dict(), indent=2, default=str) if as_json else format_report(report))
        if out is not None:
            # on stderr: with --json, standard output holds exactly one JSON document
            typer.echo(f"wrote {atomic_write_json(out / f'eval-{split}.json', report.to_dict())}", err=True)

    @app.command("explain")
    def explain(
        run: Path = typer.Argument(..., help="Run folder or checkpoint (.pt)."),
        data: str = typer.Option("", "--data", help="Dataset folder (default: the run's data)."),
        split: str = typer.Option("test", "--split"),
        n: int = typer.Option(8, "--n", min=1, max=10_000, help="How many samples to explain."),
        out: Path = typer.Option(..., "--out", help="Folder for the overlay PNGs."),
        per_frame: bool = typer.Option(False, "--per-frame", help="Video models: one map per frame instead of the mean."),
    ) -> None:
        """Write Grad-CAM overlays of the model's decision on N samples."""
        from edgeaffect.io import check_writable
        from edgeaffect.train.evaluate import EvalOptions
        from edgeaffect.train.gradcam import run_explain

        check_writable(out, folder=True)
        paths = run_explain(EvalOptions(checkpoint=str(run), data=data, split=split), n=n, out=out, per_frame=per_frame)
        typer.echo(f"wrote {len(paths)} overlays to {out}")
