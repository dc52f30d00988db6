"""``edgeaffect data``: inspect a dataset, make subject-disjoint splits, write synthetic data.

Each command parses its flags into one config dataclass and makes one call
(``run_inspect`` / ``run_split`` / ``run_synth``), so the same runs work from
Python without the CLI.  Expected failures are EdgeAffectErrors (exit 2).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Optional

import typer

from edgeaffect.data.ferplus import LabelMode
from edgeaffect.data.split import SplitBy


@dataclass(frozen=True)
class InspectConfig:
    path: Path
    format: str | None = None
    mode: LabelMode | None = None
    decode: int = 200
    as_json: bool = False


@dataclass(frozen=True)
class SplitConfig:
    path: Path
    out: Path
    by: SplitBy = SplitBy.SUBJECT
    ratios: str = "0.7,0.15,0.15"
    seed: int = 0
    format: str | None = None


@dataclass(frozen=True)
class SynthConfig:
    """What every generator takes: the folder to write and a seed; None = the generator's own default."""

    out: Path
    seed: int | None = None


@dataclass(frozen=True)
class SynthFacesConfig(SynthConfig):
    per_class: int | None = None
    size: int | None = None


@dataclass(frozen=True)
class SynthVideosConfig(SynthConfig):
    subjects: int | None = None
    seconds: float | None = None
    fps: float | None = None
    size: int | None = None
    e4_root: Path | None = None


@dataclass(frozen=True)
class SynthTabularConfig(SynthConfig):
    subjects: int | None = None


def run_inspect(config: InspectConfig) -> str:
    """The text ``data inspect`` prints (a table, or JSON)."""
    from edgeaffect.data.inspection import format_report, inspect_dataset

    report = inspect_dataset(config.path, format=config.format, decode=config.decode,
                             mode=config.mode.value if config.mode is not None else None)
    return json.dumps(report.to_dict(), indent=2, default=str) if config.as_json else format_report(report)


def run_split(config: SplitConfig) -> str:
    """Make, check and write the split file; returns the summary to print."""
    from edgeaffect.data.inspection import load_index
    from edgeaffect.data.split import check_no_leak, make_splits, write_split_file

    index = make_splits(load_index(config.path, format=config.format), ratios=config.ratios, seed=config.seed,
                        by=config.by)
    check_no_leak(index)  # refuse to write a split that shares people between splits
    write_split_file(index, config.out)
    made = index.info["split"]
    lines = [f"warning: {made['warning']}"] if made.get("warning") else []
    lines += [f"{name:6} {len(records):>9,} samples  {len(index.subjects(name)):>6,} subjects"
              for name, records in index.splits.items()]
    lines.append(f"split by {made['by']} (seed {config.seed}) written to {config.out}")
    return "\n".join(lines)


def _given(config: object) -> dict:
    """Options the user set; the rest keep the generator's own defaults."""
    given = {f.name: getattr(config, f.name) for f in fields(config)}
    return {k: v for k, v in given.items() if k != "out" and v is not None}


SEED = typer.Option(None, help="Random seed (default: the generator's).")  # every generator takes one

# config kind -> (module, generator): one table rather than one near-identical function per kind
GENERATORS = {SynthFacesConfig: ("edgeaffect.data.synthetic", "write_synthetic_faces"),
              SynthVideosConfig: ("edgeaffect.data.synthetic_video", "write_synthetic_videos"),
              SynthTabularConfig: ("edgeaffect.data.tabular", "write_synthetic_tabular")}


def run_synth(config: SynthConfig) -> object:
    """Write the synthetic data ``config`` describes (the generator's imports load only here)."""
    import importlib

    module, name = GENERATORS[type(config)]
    return getattr(importlib.import_module(module), name)(config.out, **_given(config))


def _written(out: Path, result: object) -> str:
    return f"wrote {out}" + (f" ({result})" if result is not None and not isinstance(result, Path) else "")


def register(app: typer.Typer) -> None:
    data = typer.Typer(help="Inspect datasets, make subject-disjoint splits, write synthetic data.",
                       no_args_is_help=True)
    synth = typer.Typer(help="Write the built-in synthetic datasets (no download needed).", no_args_is_help=True)
    data.add_typer(synth, name="synth")
    app.add_typer(data, name="data")

    @data.command("inspect")
    def inspect_cmd(
        path: Path = typer.Argument(..., help="Dataset folder (or FER2013 CSV file)."),
        format: Optional[str] = typer.Option(None, "--format", "-f", help="Reader name; detected when omitted."),
        mode: Optional[LabelMode] = typer.Option(None, help="FER+ label mode (default majority)."),
        decode: int = typer.Option(200, help="Images decoded per split to check sizes (-1 = all, 0 = none)."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    ) -> None:
        """Counts per split and class, subjects, image sizes, skipped entries and label facts."""
        typer.echo(run_inspect(InspectConfig(path=path, format=format, mode=mode, decode=decode, as_json=as_json)))

    @data.command("split")
    def split_cmd(
        path: Path = typer.Argument(..., help="Dataset folder."),
        out: Path = typer.Option(..., "--out", "-o", help="Split file to write (JSON: sample key -> split)."),
        by: SplitBy = typer.Option(SplitBy.SUBJECT, help="Keep each subject in one split, or split by sample."),
        ratios: str = typer.Option("0.7,0.15,0.15", help="train,valid[,test] fractions."),
        seed: int = typer.Option(0, help="Seed of the shuffle."),
        format: Optional[str] = typer.Option(None, "--format", "-f", help="Reader name; detected when omitted."),
    ) -> None:
        """Make subject-disjoint train/valid/test splits and save them (refuses a subject leak)."""
        typer.echo(run_split(SplitConfig(path=path, out=out, by=by, ratios=ratios, seed=seed, format=format)))

    @synth.command("faces")
    def synth_faces(
        out: Path = typer.Argument(..., help="Folder to write (AffectNet-style layout)."),
        per_class: Optional[int] = typer.Option(None, help="Images per expression class."),
        size: Optional[int] = typer.Option(None, help="Image side in pixels."),
        seed: Optional[int] = SEED,
    ) -> None:
        """Synthetic faces with expression, valence/arousal and landmarks."""
        typer.echo(_written(out, run_synth(SynthFacesConfig(out=out, per_class=per_class, size=size,
                                                                  seed=seed))))

    @synth.command("videos")
    def synth_videos(
        out: Path = typer.Argument(..., help="Folder to write (UBFC-Phys-style layout)."),
        subjects: Optional[int] = typer.Option(None, help="Number of subjects."),
        seconds: Optional[float] = typer.Option(None, help="Length of each video."),
        fps: Optional[float] = typer.Option(None, help="Video frame rate."),
        size: Optional[int] = typer.Option(None, help="Frame side in pixels."),
        seed: Optional[int] = SEED,
        e4_root: Optional[Path] = typer.Option(None, help="Real Empatica E4 recording to draw EDA/BVP from."),
    ) -> None:
        """Synthetic face videos with EDA / BVP signals."""
        typer.echo(_written(out, run_synth(SynthVideosConfig(
            out=out, subjects=subjects, seconds=seconds, fps=fps, size=size, seed=seed, e4_root=e4_root))))

    @synth.command("tabular")
    def synth_tabular(
        out: Path = typer.Argument(..., help="Folder to write."),
        subjects: Optional[int] = typer.Option(None, help="Number of subjects."),
        seed: Optional[int] = SEED,
    ) -> None:
        """Synthetic EEG band-power + facial-feature windows."""
        typer.echo(_written(out, run_synth(SynthTabularConfig(out=out, subjects=subjects, seed=seed))))
