"""``edgeaffect demo``: the whole job on the built-in default, with no download.

data (built-in synthetic faces, or FER+ when EDGEAFFECT_DATA holds it) ->
the shipped default model (or, with ``--train``, a small DDAMFN trained briefly) ->
export bundles for laptop-x86 (OpenVINO, ONNX Runtime) and rpi4 (TFLite INT8) ->
run the runtime headless on a generated video -> bench at several face
resolutions -> report.  Each step's time and
the total are printed, and where the report is.  The steps live in
``demo_steps.py``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import typer


@dataclass(frozen=True, kw_only=True)
class DemoConfig:
    out: Path = Path("demo-out")
    quick: bool = False  # fewer faces, one epoch, a smaller grid: a smoke run
    synthetic: bool = False  # force the built-in synthetic faces even when FER+ is available
    epochs: int | None = None  # default: 1 quick; else the synthetic recipe's own, or 2 on FER+
    exports: tuple[tuple[str, str, str], ...] | None = None  # (target, format, precision); None = all three
    train: bool = False  # train a small model instead of using the shipped default


@dataclass(frozen=True, kw_only=True)
class DemoResult:
    out: Path
    report: Path
    results: Path
    bundles: tuple[Path, ...]
    seconds: dict  # step -> wall seconds, plus "total"


def run_demo(config: DemoConfig, *, echo=print) -> DemoResult:
    from tqdm import tqdm

    from edgeaffect.demo_steps import STEPS, DemoState, check_source

    state = DemoState(out=Path(config.out), quick=config.quick, synthetic=check_source(config.synthetic), train=config.train,
                      epochs=config.epochs or (1 if config.quick else None),
                      **({"exports": config.exports} if config.exports else {}))
    state.out.mkdir(parents=True, exist_ok=True)
    echo(f"edgeaffect demo -> {state.out} ({'synthetic faces' if state.synthetic else 'FER+'}, "
         f"{'training a small model' if state.train else 'the shipped default model'}"
         f"{', quick' if config.quick else ''})")
    seconds: dict[str, float] = {}
    t_all = time.perf_counter()
    with tqdm(total=len(STEPS), desc="demo", unit="step", position=0) as bar:
        for name, step in STEPS:
            bar.set_postfix_str(name)
            t0 = time.perf_counter()
            try:
                what = step(state)
            except BaseException:
                tqdm.write(f"[{name:6}] FAILED after {time.perf_counter() - t0:.1f} s (outputs so far in {state.out})")
                raise
            seconds[name] = time.perf_counter() - t0
            bar.update()
            tqdm.write(f"[{name:6}] {seconds[name]:7.1f} s  {what}")
    seconds["total"] = time.perf_counter() - t_all
    echo(f"demo finished in {seconds['total']:.1f} s; report: {state.report}")
    return DemoResult(out=state.out, report=state.report, results=state.results, bundles=tuple(state.bundles),
                      seconds=seconds)


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        out: Path = typer.Option(Path("demo-out"), "--out", "-o", help="Folder for data, run, bundles, results, report."),
        quick: bool = typer.Option(False, "--quick", help="A smoke run: fewer faces, one epoch, a smaller grid."),
        synthetic: bool = typer.Option(False, "--synthetic", help="Use the built-in synthetic faces even if FER+ is there."),
        train: bool = typer.Option(False, "--train", help="Train a small DDAMFN first instead of using the shipped default."),
        epochs: int = typer.Option(0, help="With --train: epochs (0 = 1 with --quick, else the recipe's: 2 synthetic, 2 on FER+)."),
        exports: str = typer.Option("", help="Bundles as target:format:precision,... (default: laptop-x86 "
                                               "OpenVINO and ONNX fp32, rpi4 TFLite int8)."),
    ) -> None:
        """Run the whole job on the built-in default: data -> model -> export -> run -> bench -> report."""
        from edgeaffect.demo_steps import parse_exports

        run_demo(DemoConfig(out=out, quick=quick, synthetic=synthetic, epochs=epochs or None, train=train,
                            exports=parse_exports(exports) if exports else None), echo=typer.echo)
