"""``build_report(results, out)``: tables, figures, CSV, Markdown and one standalone HTML page.

Layout of ``out``::

    report.html          standalone (figures embedded), opens offline
    report.md            tables + links to figures/ and csv/
    figures/*.png        the same figures as files
    csv/*.csv            every table with full-precision values
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from edgeaffect.bench.results import BenchResult, merge
from edgeaffect.io import atomic_write, atomic_write_text, check_writable

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class ReportFiles:
    html: Path
    markdown: Path
    figures: tuple[Path, ...]
    csv: tuple[Path, ...]


def load_results(paths: Sequence[str | Path]) -> tuple[BenchResult, ...]:
    return merge([BenchResult.load(p) for p in paths])


def build_report(results: Sequence[BenchResult], out: str | Path, *, title: str = "edgeaffect benchmark report",
                 sources: str = "") -> ReportFiles:
    from edgeaffect.report import html, markdown, plots, tables

    out = check_writable(out, folder=True)
    results = merge(list(results))
    items = tables.entries(results)
    all_tables = list(tables.all_tables(items))
    figures = plots.all_figures(items)
    files = write_report(out, all_tables, figures, markdown=markdown.render(results, all_tables, figures, title=title),
                         html=html.render(results, all_tables, figures, title=title, sources=sources))
    log.info("report: %d tables, %d figures in %s", len(all_tables), len(figures), out)
    return files


def write_report(out: Path, tables: Sequence[Any], figures: Sequence[Any], *, markdown: str, html: str) -> ReportFiles:
    """A report folder as every report writes it: figures/KEY.png, csv/KEY.csv, report.md, report.html."""
    from edgeaffect.report.tables import to_csv

    fig_paths = tuple(atomic_write(out / "figures" / f"{f.key}.png", lambda fh, f=f: fh.write(f.png)) for f in figures)
    csv_paths = tuple(atomic_write_text(out / "csv" / f"{t.key}.csv", to_csv(t)) for t in tables)
    return ReportFiles(html=atomic_write_text(out / "report.html", html),
                       markdown=atomic_write_text(out / "report.md", markdown), figures=fig_paths, csv=csv_paths)
