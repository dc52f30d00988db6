"""``edgeaffect report``: bench result files, or run result files, into HTML, Markdown, CSV and PNG."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report(
        results: List[Path] = typer.Argument(..., help="results.json files from 'edgeaffect bench' (any devices), or "
                                                       "RUN.jsonl files from 'edgeaffect run --out' (side by side)."),
        out: Path = typer.Option(Path("report"), "--out", "-o", help="Folder for report.html, report.md, csv/, figures/."),
        title: Optional[str] = typer.Option(None, help="Page title."),
    ) -> None:
        """Bench: the resize table, accuracy-vs-resolution curves, the Pareto front and latency charts.
        Runs: per track the expressions over time, share of time, transitions, heart rate; coverage and latency."""
        from edgeaffect.errors import ConfigError
        from edgeaffect.io import check_writable
        from edgeaffect.report.run_report import build_run_report, is_run_file

        check_writable(out, folder=True)  # before reading: a wrong -o is named first
        kinds = {is_run_file(p) for p in results}
        if len(kinds) > 1:
            raise ConfigError("bench results (.json) and run results (.jsonl) given together",
                              "make one report of bench files and another of run files")
        if kinds == {True}:
            files = build_run_report(results, out, title=title or "edgeaffect run report")
        else:
            from edgeaffect.report.build import build_report, load_results

            files = build_report(load_results(results), out, title=title or "edgeaffect benchmark report",
                                 sources=", ".join(p.name for p in results))
        typer.echo(f"wrote {files.html} ({len(files.figures)} figures, {len(files.csv)} tables) and {files.markdown}")
