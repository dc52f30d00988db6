"""The standalone HTML report: one file, figures embedded as base64 PNG, no external resources.

Built from ``templates/page.html`` and ``templates/style.css`` with
:class:`string.Template`; every piece of text from the results goes through
:func:`html.escape` (bundle names and labels come from files a user edited).
"""
from __future__ import annotations

import base64
import html
from importlib import resources
from string import Template
from typing import Sequence

from edgeaffect import __version__
from edgeaffect.bench.results import BenchResult
from edgeaffect.report.plots import Figure
from edgeaffect.report.tables import Table, cell, is_percent


def _template(name: str) -> str:
    return resources.files("edgeaffect.report").joinpath("templates", name).read_text(encoding="utf-8")


def _num(value) -> str:
    return ' class="num"' if isinstance(value, (int, float)) and not isinstance(value, bool) else ""


def table_html(table: Table) -> str:
    e = html.escape
    head = "".join(f"<th scope=\"col\">{e(h)}</th>" for h in table.headers)
    body = "\n".join(
        "<tr>" + "".join(f"<td{_num(v)}>{e(cell(v, percent=is_percent(table, i)))}</td>" for i, v in enumerate(row))
        + "</tr>"
        for row in table.rows)
    note = f'<p class="note">{e(table.note)}</p>' if table.note else ""
    return (f'<table id="{e(table.key)}"><caption>{e(table.title)}</caption>\n<thead><tr>{head}</tr></thead>\n'
            f"<tbody>\n{body}\n</tbody></table>\n{note}")


def figure_html(fig: Figure) -> str:
    data = base64.b64encode(fig.png).decode("ascii")
    alt = html.escape(fig.title)
    return (f'<figure id="fig-{html.escape(fig.key)}"><img src="data:image/png;base64,{data}" alt="{alt}">'
            f"<figcaption>{alt}</figcaption></figure>")


def devices_html(results: Sequence[BenchResult]) -> str:
    rows = [(r.device.profile, r.device.cpu_model, r.device.cores, r.device.ram_mb, r.device.machine, r.device.system,
             ", ".join(f"{k} {v}" for k, v in sorted(r.tools.items())), r.data, r.created) for r in results]
    return table_html(Table("devices", "where the numbers were measured",
                            ("profile", "CPU", "cores", "RAM MiB", "arch", "system", "tools", "data", "when"),
                            tuple(rows)))


SECTIONS = (  # (anchor, heading, which tables, which figures) by key prefix
    ("summary", "Summary", ("summary",), ("pareto",)),
    ("resize", "Accuracy by face resolution", ("resize-",), ("resolution-",)),
    ("classes", "Per class and per subgroup", ("per-class", "subgroups"), ("confusion-",)),
    ("latency", "Latency", ("latency", "capture"), ("stages",)),
)


def sections(layout, tables: Sequence[Table], figures: Sequence[Figure]) -> tuple[list[str], list[str]]:
    """(section HTML, navigation items) of a page: each (anchor, heading, table prefixes, figure prefixes) of
    ``layout`` that has something to show, figures first.  The bench and the run page share it."""
    parts, nav = [], []
    for anchor, heading, tprefixes, fprefixes in layout:
        body = [figure_html(f) for f in figures if f.key.startswith(fprefixes)]
        body += [table_html(t) for t in tables if t.key.startswith(tprefixes)]
        if body:
            nav.append(f'<li><a href="#{anchor}">{html.escape(heading)}</a></li>')
            parts.append(f'<section id="{anchor}">\n<h2>{html.escape(heading)}</h2>\n' + "\n".join(body) + "\n</section>")
    return parts, nav


def render(results: Sequence[BenchResult], tables: Sequence[Table], figures: Sequence[Figure], *,
           title: str = "edgeaffect benchmark report", sources: str = "") -> str:
    parts, nav = sections(SECTIONS, tables, figures)
    devices = sorted({r.device.profile for r in results})
    subtitle = f"{len(results)} result file(s); devices: {', '.join(devices)}"
    return Template(_template("page.html")).substitute(
        title=html.escape(title), subtitle=html.escape(subtitle), style=_template("style.css"),
        nav="\n".join(nav), sections="\n".join(parts),
        devices=f'<section id="devices">\n<h2>Devices and tools</h2>\n{devices_html(results)}\n</section>',
        version=html.escape(__version__), sources=html.escape(sources or "bench results"))
