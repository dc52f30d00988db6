"""``edgeaffect bench``: accuracy x resolution x interpolation and latency of bundles, on this device."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from edgeaffect.errors import ConfigError
from edgeaffect.keyvalue import split_pairs  # typed by the dataset reader that receives them


def _csv(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(",") if s.strip())


def _ints(text: str, flag: str) -> tuple[int, ...]:
    try:
        return tuple(int(s) for s in _csv(text))
    except ValueError:
        raise ConfigError(f"{flag} '{text}' is not a comma-separated list of integers",
                          f"write e.g. {flag} 112,64,32,16") from None


def _modes(text: str) -> tuple[str, ...]:
    from edgeaffect.bench.detect_modes import DETECT_MODES

    names = _csv(text) if text.strip() else ()
    for name in names:
        if name not in DETECT_MODES:
            raise ConfigError(f"--detect-modes: unknown setting '{name}'", f"use some of: {', '.join(DETECT_MODES)}")
    return tuple(names)


def register(app: typer.Typer) -> None:
    @app.command("bench")
    def bench(
        bundles: List[Path] = typer.Argument(..., help="Bundle folders written by 'edgeaffect export'."),
        data: Optional[Path] = typer.Option(None, help="Labelled dataset (any layout 'edgeaffect data inspect' reads)."),
        split: str = typer.Option("test", help="Dataset split to score."),
        data_format: Optional[str] = typer.Option(None, "--format", help="Dataset layout; default: detected."),
        data_option: List[str] = typer.Option([], "--data-option", help="Reader option KEY=VALUE (e.g. mode=majority)."),
        class_map: List[str] = typer.Option([], "--class-map", help="DATA_CLASS=MODEL_CLASS (or =skip) for a class "
                                                                    "no alias names (repeatable)."),
        limit: Optional[int] = typer.Option(None, min=1, help="Score at most N samples, spread over the split."),
        resolutions: str = typer.Option("112,96,84,64,56,48,32,28,16,14", help="Face sides to degrade to."),
        interp: str = typer.Option("cubic,linear,lanczos4,area",
                                   help="Interpolation pairs: NAME (same down and up) or DOWN:UP."),
        group_by: Optional[str] = typer.Option(None, "--group-by", help="Record attribute naming subgroups (e.g. subject)."),
        batch: int = typer.Option(32, min=1, max=4096, help="Batch for the accuracy passes (static-batch models use theirs)."),
        latency_runs: int = typer.Option(50, min=1, max=100_000, help="Timed single-face runs per bundle."),
        video: Optional[Path] = typer.Option(None, help="Video for the full-pipeline capture-resolution sweep."),
        capture: str = typer.Option("640x480,1280x720", help="Capture resolutions WxH for the sweep."),
        detector: str = typer.Option("haar", help="Face detector for the capture sweep."),
        smoothing: Optional[str] = typer.Option(None, help="Runtime smoothing for the capture sweep."),
        capture_frames: Optional[int] = typer.Option(None, min=1, help="Frames per capture run (default: whole video)."),
        detect_modes: str = typer.Option("", help="Detection settings to run side by side on --video with YuNet: "
                                                  "full,every5,region (per-stage cost, recall, labels vs full)."),
        profile: Optional[str] = typer.Option(None, help="Device profile name to record (default: detected)."),
        out: Path = typer.Option(Path("results.json"), "--out", "-o", help="Where to write the result JSON."),
        no_progress: bool = typer.Option(False, "--no-progress", help="No progress bars."),
    ) -> None:
        """Benchmark bundles: task metrics per resolution x interpolation, per-stage latency, FPS, memory."""
        from edgeaffect.bench.run import BenchConfig, run_bench
        from edgeaffect.data.classes import parse_class_map

        config = BenchConfig(
            bundles=tuple(bundles), data=data, split=split, data_format=data_format, data_options=split_pairs(data_option, "--data-option"),
            class_map=parse_class_map(class_map),
            limit=limit, resolutions=_ints(resolutions, "--resolutions"), interpolations=_csv(interp),
            group_by=group_by, batch=batch, latency_runs=latency_runs, video=video, captures=_csv(capture),
            detector=detector, smoothing=smoothing, capture_frames=capture_frames,
            detect_modes=_modes(detect_modes), profile=profile, out=out,
            progress=not no_progress)
        result = run_bench(config)
        for row in result.latency:
            acc = next((a for a in result.accuracy if a.bundle == row.bundle and a.resolution is None), None)
            score = f"{acc.headline:.4f}" if acc is not None and acc.headline is not None else "-"
            if acc is not None and acc.restricted_accuracy is not None:
                score += (f" (accuracy over all the model's classes; over the set's {len(acc.set_classes)}: "
                          f"{acc.restricted_accuracy:.4f}, UAR {acc.uar:.4f} / {acc.restricted_uar:.4f})")
            typer.echo(f"{row.bundle}: native score {score}, end-to-end p50 {row.end_to_end.p50_ms:.2f} ms "
                       f"p95 {row.end_to_end.p95_ms:.2f} ms, {row.fps:.1f} FPS, peak RSS {row.peak_rss_mb:.0f} MiB")
        for row in result.capture:
            typer.echo(f"{row.bundle} @ {row.capture}: {row.faces_found}/{row.frames} faces, "
                       f"detect p50 {row.detect_p50_ms:.2f} ms, {row.fps:.1f} FPS end to end")
        if result.detect_modes:
            from edgeaffect.bench.detect_modes import modes_table

            typer.echo(modes_table(result.detect_modes))
        typer.echo(f"wrote {out}")
