"""The Markdown report: GitHub-flavoured tables and links to the PNG files written beside it."""
from __future__ import annotations

from typing import Sequence

from edgeaffect.bench.results import BenchResult
from edgeaffect.report.plots import Figure
from edgeaffect.report.tables import Table, cell, is_percent


def _escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def table_md(table: Table) -> str:
    lines = [f"**{_escape(table.title)}**", "", "| " + " | ".join(_escape(h) for h in table.headers) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(table.headers) - 1)) + "|"]
    for row in table.rows:
        lines.append("| " + " | ".join(_escape(cell(v, percent=is_percent(table, i))) for i, v in enumerate(row)) + " |")
    if table.note:
        lines += ["", f"_{_escape(table.note)}_"]
    return "\n".join(lines) + "\n"


def render(results: Sequence[BenchResult], tables: Sequence[Table], figures: Sequence[Figure], *,
           title: str = "edgeaffect benchmark report", image_dir: str = "figures") -> str:
    out = [f"# {title}", ""]
    out.append("| device | CPU | cores | RAM MiB | data | when |")
    out.append("|---|---|---:|---:|---|---|")
    for r in results:
        d = r.device
        out.append(f"| {_escape(d.profile)} | {_escape(d.cpu_model)} | {d.cores} | {d.ram_mb} | {_escape(r.data)} | {r.created} |")
    out.append("")
    out.append("Scores are percentages where marked accuracy/UAR/macro-F1; latency in milliseconds.")
    out.append("")
    for fig in figures:
        out += [f"![{_escape(fig.title)}]({image_dir}/{fig.key}.png)", ""]
    for table in tables:
        out += [table_md(table), f"CSV: [{table.key}.csv](csv/{table.key}.csv)", ""]
    return "\n".join(out)
