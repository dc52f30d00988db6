"""``edgeaffect report``: merge bench result files into HTML, Markdown, CSV and PNG."""
from __future__ import annotations

from pathlib import Path
from typing import List

import typer


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report(
        results: List[Path] = typer.Argument(..., help="results.json files from 'edgeaffect bench' (any devices)."),
        out: Path = typer.Option(Path("report"), "--out", "-o", help="Folder for report.html, report.md, csv/, figures/."),
        title: str = typer.Option("edgeaffect benchmark report", help="Page title."),
    ) -> None:
        """Write the resize table, accuracy-vs-resolution curves, the Pareto front and latency charts."""
        from edgeaffect.io import check_writable
        from edgeaffect.report.build import build_report, load_results

        check_writable(out, folder=True)  # before reading: a wrong -o is named first
        files = build_report(load_results(results), out, title=title,
                             sources=", ".join(p.name for p in results))
        typer.echo(f"wrote {files.html} ({len(files.figures)} figures, {len(files.csv)} tables) and {files.markdown}")
