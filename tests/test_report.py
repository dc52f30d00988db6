"""edgeaffect report from real bench runs, rendered in a real headless Chromium.

Bench results come from running the tiny ONNX bundles of test_bench.py on its
brightness-coded faces on two "devices" (profiles), so the report merges two
result files as it would for a Pi and a laptop.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from browser_support import CHROMIUM, chromium, lay_out  # tests/ is on sys.path (pytest rootdir insertion)
from test_bench import bench, make_bundle, write_faces  # tests/ is on sys.path (pytest rootdir insertion)

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("report")
    faces = write_faces(root / "faces")
    good, const = make_bundle(root / "b" / "good"), make_bundle(root / "b" / "const<&>", constant=True)
    kw = dict(resolutions=(48, 24, 12, 6), interpolations=("linear", "area", "cubic"))
    bench([good, const], faces, profile="laptop-x86", out=root / "laptop.json", group_by="split", **kw)
    bench([good], faces, profile="rpi4", out=root / "pi.json", **kw)
    return root / "laptop.json", root / "pi.json"


@pytest.fixture(scope="module")
def report(results, tmp_path_factory):
    from edgeaffect.report.build import build_report, load_results

    out = tmp_path_factory.mktemp("out")
    return build_report(load_results(results), out), out


def test_report_files_and_resize_table(report):
    files, out = report
    assert files.html.is_file() and files.markdown.is_file()
    names = {p.name for p in files.csv}
    assert {"summary.csv", "latency.csv", "per-class.csv", "subgroups.csv", "resize-laptop-x86-good.csv",
            "resize-rpi4-good.csv"} <= names
    rows = list(csv.reader((out / "csv" / "resize-laptop-x86-good.csv").open()))
    pairs = [f"{m}/{m}" for m in ("linear", "area", "cubic")]
    assert rows[0] == ["resolution", *pairs]
    assert [r[0] for r in rows[1:]] == ["48", "24", "12", "6"]  # largest face first, as in the study
    assert all(float(v) == 1.0 for r in rows[1:] for v in r[1:])
    const = list(csv.reader((out / "csv" / "resize-laptop-x86-const.csv").open()))
    assert all(float(v) == 0.25 for r in const[1:] for v in r[1:])
    summary = list(csv.DictReader((out / "csv" / "summary.csv").open()))
    assert sorted(r["device"] for r in summary) == ["laptop-x86", "laptop-x86", "rpi4"]
    md = files.markdown.read_text()
    assert "| 48 | 100.0 |" in md and "](figures/pareto.png)" in md


def test_pareto_merges_devices(results):
    from edgeaffect.bench.results import BenchResult
    from edgeaffect.report import plots, tables

    merged = [BenchResult.load(p) for p in results]
    items = tables.entries(merged)
    assert sorted(e.device for e in items) == ["laptop-x86", "laptop-x86", "rpi4"]
    fig = plots.pareto(items)
    assert fig is not None and fig.png.startswith(b"\x89PNG")
    # the front keeps what is faster-or-better: a slow chance-level model is dominated
    assert plots.pareto_front([(1.0, 0.9), (2.0, 0.25), (0.5, 0.5), (3.0, 0.95)]) == [2, 0, 3]


def test_report_cli_refuses_a_foreign_json(tmp_path, results):
    from edgeaffect.cli import main

    bad = tmp_path / "x.json"
    bad.write_text(json.dumps({"hello": 1}))
    assert main(["report", str(bad), "-o", str(tmp_path / "r")]) == 2
    assert main(["report", *map(str, results), "-o", str(tmp_path / "r")]) == 0
    assert (tmp_path / "r" / "report.html").is_file()


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_html_renders_in_headless_chromium(report, tmp_path):
    files, _ = report
    page = files.html.read_text()
    assert "http://" not in page and "https://" not in page  # standalone: nothing to fetch
    assert "const&lt;&amp;&gt;" in page and "const<&>" not in page  # names are escaped
    laid_out, stderr = lay_out(files.html, tmp_path, images="[]", collect="""d.querySelectorAll('img').forEach(function (i) {
    out.images.push([i.src.slice(0, 21), i.complete, i.naturalWidth, i.getBoundingClientRect().width]); });""")
    assert laid_out["tables"]["resize-laptop-x86-good"] == 4 and laid_out["tables"]["summary"] == 3
    assert len(laid_out["images"]) >= 6
    for src, complete, natural, shown in laid_out["images"]:
        assert src == "data:image/png;base64" and complete and natural > 100 and shown > 50
    bad = [ln for ln in stderr.splitlines() if "CONSOLE" in ln or "ERR_FILE_NOT_FOUND" in ln or "Uncaught" in ln]
    assert not bad, bad

    shot = tmp_path / "shot.png"
    run = chromium("--window-size=1200,1600", f"--screenshot={shot}", files.html.as_uri(), profile=tmp_path / "p2")
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    import cv2

    img = cv2.imread(str(shot), cv2.IMREAD_GRAYSCALE)
    assert img is not None and img.shape[0] >= 1000
    assert float(np.std(img)) > 10  # text, tables and plots, not a blank page
