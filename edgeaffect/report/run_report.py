"""``edgeaffect report RUN.jsonl ...``: a picture of every run, several runs side by side.

Same layout as the bench report (``build.py``)::

    report.html          standalone (figures embedded), opens offline
    report.md            tables + links to figures/ and csv/
    figures/*.png        coverage, latency, share of time; per run and track the expression
                         timeline and, where --pulse ran, heart rate with its SNR
    csv/*.csv            every table with full-precision values
"""
from __future__ import annotations

import html
import logging
from pathlib import Path
from string import Template
from typing import Sequence

from edgeaffect import __version__
from edgeaffect.io import check_writable
from edgeaffect.report.build import ReportFiles, write_report

log = logging.getLogger(__name__)

SECTIONS = (  # (anchor, heading, table keys by prefix, figure keys by prefix)
    ("runs", "Runs and detection coverage", ("runs",), ("coverage",)),
    ("expressions", "Expressions over time", ("share", "transitions"), ("share", "timeline-")),
    ("pulse", "Heart rate", ("heart-rate",), ("heart-rate-",)),
    ("latency", "Latency per stage", ("latency",), ("latency",)),
)


def is_run_file(path: str | Path) -> bool:
    """A run's results (JSONL) rather than a bench result (JSON)."""
    return Path(path).suffix.lower() in (".jsonl", ".ndjson")


def _page(runs, tables, figures, title: str, sources: str) -> str:
    from edgeaffect.report.html import _template, sections

    parts, nav = sections(SECTIONS, tables, figures)
    subtitle = f"{len(runs)} run(s): " + ", ".join(f"{r.name} ({len(r.frames)} frames)" for r in runs)
    return Template(_template("page.html")).substitute(  # the bench report's page, without its devices section
        title=html.escape(title), subtitle=html.escape(subtitle), style=_template("style.css"), nav="\n".join(nav),
        sections="\n".join(parts), devices="", version=html.escape(__version__), sources=html.escape(sources or "run results"))


def _markdown(runs, tables, figures, title: str) -> str:
    from edgeaffect.report.markdown import table_md

    out = [f"# {title}", "", ", ".join(f"{r.name}: {len(r.frames)} frames" for r in runs), ""]
    out += [f"![{f.title}](figures/{f.key}.png)\n" for f in figures]
    for t in tables:
        out += [table_md(t), f"CSV: [{t.key}.csv](csv/{t.key}.csv)", ""]
    return "\n".join(out)


def build_run_report(paths: Sequence[str | Path], out: str | Path, *, title: str = "edgeaffect run report") -> ReportFiles:
    from edgeaffect.report import run_plots, run_tables
    from edgeaffect.report.run_data import load_runs

    out = check_writable(out, folder=True)
    runs = load_runs(paths)
    tracks = {r.name: r.tracks() for r in runs}
    for run in runs:  # a folder of three photos has no track of 5 frames: say why its tables stay empty
        if not tracks[run.name] and any(fr.faces for fr in run.frames):
            log.warning("%s: no track lasts 5 frames or 5 %% of the run, so it has no per-track table or timeline "
                        "(a photo folder gives one short track per photo); its per-frame results are in the file itself",
                        run.name)
    tables = run_tables.all_tables(runs, tracks)
    figures = run_plots.all_figures(runs, tracks)
    files = write_report(out, tables, figures, markdown=_markdown(runs, tables, figures, title),
                         html=_page(runs, tables, figures, title, ", ".join(Path(p).name for p in paths)))
    log.info("run report: %d runs, %d tables, %d figures in %s", len(runs), len(tables), len(figures), out)
    return files
