"""``edgeaffect export`` and ``edgeaffect compress``: one typed config each, one call each.

Format and precision choices come from the export-format table
(:data:`edgeaffect.formats.FORMATS`), so a new format appears here
without touching this file.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import typer

from edgeaffect.formats import FORMATS, PRECISIONS, CalibrationMethod

FormatChoice = enum.Enum("FormatChoice", {name: name for name in FORMATS}, type=str)
PrecisionChoice = enum.Enum("PrecisionChoice", {p: p for p in (*PRECISIONS, "auto")}, type=str)


@dataclass(frozen=True)
class ExportConfig:
    run: Path
    target: str
    out: Optional[Path] = None
    format: Optional[str] = None
    precision: Optional[str] = None
    calib_data: Optional[Path] = None
    n_calib: int = 300
    calib_method: str = "minmax"
    verify_data: Optional[Path] = None
    verify_split: Optional[str] = None
    n_verify: int = 500
    accept_drop: bool = False
    opset: int = 17
    fp16_weights: bool = False
    embed_detector: bool = False


def run_export(cfg: ExportConfig) -> Path:
    from edgeaffect.compress.export import export_bundle
    from edgeaffect.formats import ExportOptions

    return export_bundle(cfg.run, target=cfg.target, out=cfg.out, format=cfg.format, precision=cfg.precision,
                         calibration=cfg.calib_data, verify_data=cfg.verify_data, n_verify=cfg.n_verify,
                         accept_drop=cfg.accept_drop, n_calib=cfg.n_calib, verify_split=cfg.verify_split,
                         embed_detector=cfg.embed_detector,
                         options=ExportOptions(opset=cfg.opset, calibration_method=cfg.calib_method,
                                               fp16_weights=cfg.fp16_weights))


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export(
        run: Path = typer.Argument(..., help="Run folder (or checkpoint .pt) written by 'edgeaffect train'."),
        target: str = typer.Option(..., "--target", "-t", help="Device profile (see 'edgeaffect devices')."),
        format: Optional[FormatChoice] = typer.Option(None, "--format", "-f", help="Default: the profile's first format."),
        precision: Optional[PrecisionChoice] = typer.Option(
            None, "--precision", "-p", help="Default: the profile's first precision; auto = fastest that passes here."),
        calib_data: Optional[Path] = typer.Option(None, "--calib-data", help="Dataset or image folder for INT8 (train split)."),
        n_calib: int = typer.Option(300, "--n-calib", help="Calibration samples (class-balanced)."),
        calib_method: CalibrationMethod = typer.Option(CalibrationMethod.MINMAX, "--calib-method"),
        verify_data: Optional[Path] = typer.Option(None, "--verify-data",
                                                   help="Held-out data to verify on (default: --calib-data's valid split)."),
        verify_split: Optional[str] = typer.Option(None, "--verify-split", help="Split of --verify-data (default valid)."),
        n_verify: int = typer.Option(500, "--n-verify", help="Verification samples."),
        accept_drop: bool = typer.Option(False, "--accept-drop", help="Write the bundle even past the thresholds."),
        opset: int = typer.Option(17, "--opset", help="ONNX opset (ONNX and TensorRT formats)."),
        fp16_weights: bool = typer.Option(False, "--fp16-weights",
                                          help="ONNX FP32: store the weights as float16 (half the file, float32 compute)."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Bundle folder (default bundles/<model>-<target>)."),
        embed_detector: bool = typer.Option(False, "--embed-detector",
                                            help="Copy the profile's face-detector model into the bundle."),
    ) -> None:
        """Export a trained run as a verified bundle for a device.

        Without --calib-data/--verify-data the run's own dataset is used (train split calibrates,
        held-out split verifies); the bundle records the profile's runtime settings for 'edgeaffect run'.
        """
        cfg = ExportConfig(run=run, target=target, out=out, format=format.value if format else None,
                           precision=precision.value if precision else None, calib_data=calib_data, n_calib=n_calib,
                           calib_method=calib_method.value, verify_data=verify_data, verify_split=verify_split,
                           n_verify=n_verify, accept_drop=accept_drop, opset=opset, fp16_weights=fp16_weights,
                           embed_detector=embed_detector)
        bundle = run_export(cfg)
        from edgeaffect.bundle import load_bundle

        b = load_bundle(bundle)
        typer.echo(f"wrote {bundle} ({b.manifest.format}/{b.manifest.precision}, {b.size_bytes / 1e6:.2f} MB)")
        for key, value in b.manifest.verification.items():
            typer.echo(f"  {key}: {value}")

    @app.command("compress")
    def compress(
        run: Path = typer.Argument(..., help="Run folder written by 'edgeaffect train'."),
        prune: float = typer.Option(..., "--prune", help="Share of channels to remove (structured), e.g. 0.3."),
        finetune_epochs: int = typer.Option(0, "--finetune-epochs", help="Epochs of fine-tuning after pruning."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder of the pruned run."),
    ) -> None:
        """Prune a trained run (structured channels) into a new run folder, measured before/after."""
        from edgeaffect.compress.prune_run import prune_run

        pruned = prune_run(run, ratio=prune, finetune_epochs=finetune_epochs, out=out)
        typer.echo(f"wrote {pruned}")
        report = Path(pruned) / "prune_report.json"
        if report.is_file():
            typer.echo(report.read_text(encoding="utf-8"))
