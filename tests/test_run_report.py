"""``edgeaffect report RUN.jsonl``: a picture of a real run, rendered in headless Chromium.

The run is ``edgeaffect run default --pulse pos`` on the PhysRecorder clip (its first 12 s, enough
for the 10 s heart-rate window) when ``EDGEAFFECT_DATA`` has it, else on 12 s of a synthetic face
with a 72 bpm pulse; a second, shorter run of the same video with another smoothing sits beside it.
"""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest

from edgeaffect.cli import main
from browser_support import CHROMIUM, lay_out  # tests/ is on sys.path

pytest.importorskip("matplotlib")
pytest.importorskip("scipy")
CLIP = Path(os.environ.get("EDGEAFFECT_DATA", "")) / "physrecorder_v01" / "video_ZIP_H264.avi"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("runs")
    video = CLIP
    if not video.is_file():
        from pulse_support import face_frames, write_video

        times = np.arange(0, 12.0, 1 / 30.0)
        video = write_video(root / "pulse.avi", face_frames(times, 72.0, size=160))
    pulse, other = root / "pulse.jsonl", root / "majority.jsonl"
    common = ["run", "default", "--source", str(video), "--headless"]
    assert main([*common, "--pulse", "pos", "--max-frames", "360", "--out", str(pulse)]) == 0
    assert main([*common, "--smoothing", "majority:9", "--max-frames", "90", "--out", str(other)]) == 0
    return pulse, other


@pytest.fixture(scope="module")
def report(runs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    assert main(["report", *map(str, runs), "-o", str(out)]) == 0
    return out


def test_report_files_tables_and_figures(report, runs):
    figures = {p.name for p in (report / "figures").glob("*.png")}
    assert {"coverage.png", "latency.png", "share.png", "timeline-pulse-t1.png", "heart-rate-pulse-t1.png",
            "timeline-majority-t1.png"} <= figures
    assert "heart-rate-majority-t1.png" not in figures  # no --pulse, no heart-rate figure
    rows = {r["run"]: r for r in csv.DictReader((report / "csv" / "runs.csv").open())}
    assert rows["pulse"]["frames"] == "360" and rows["majority"]["frames"] == "90"
    assert float(rows["pulse"]["frames with a face"]) > 0.9
    assert 40 < float(rows["pulse"]["mean heart rate (bpm)"]) < 120
    shares = [r for r in csv.DictReader((report / "csv" / "share.csv").open()) if r["of"] == "label"]
    labels = json.loads(runs[0].with_name("pulse.summary.json").read_text())["labels"]
    assert all(abs(sum(float(r[c]) for c in labels) - 1) < 1e-6 for r in shares)
    stages = {r["stage"] for r in csv.DictReader((report / "csv" / "latency.csv").open()) if r["run"] == "pulse"}
    assert {"detect", "infer", "pulse", "end to end"} <= stages
    md = (report / "report.md").read_text()
    assert "](figures/timeline-pulse-t1.png)" in md and "| pulse | 1 |" in md


def test_a_bench_and_a_run_file_together_are_refused(runs, tmp_path, capsys):
    bench = tmp_path / "bench.json"
    bench.write_text("{}")
    assert main(["report", str(runs[0]), str(bench), "-o", str(tmp_path / "r")]) == 2
    assert "fix:" in capsys.readouterr().err
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"index": 0}\n{"index": 1, "timestamp": 0.1, "faces": []}\n')
    assert main(["report", str(broken), "-o", str(tmp_path / "r")]) == 2  # a bad line that is not the last
    err = capsys.readouterr().err
    assert "broken.jsonl line 1" in err and "(no field 'faces')" in err and "Traceback" not in err
    broken.write_text('not json\n{"index": 1, "timestamp": 0.1, "faces": []}\n')
    assert main(["report", str(broken), "-o", str(tmp_path / "r")]) == 2
    assert "line 1 is not a result line of 'edgeaffect run' (not JSON): 'not json'" in capsys.readouterr().err


def test_a_killed_runs_cut_last_line_is_left_out(runs, tmp_path):
    from edgeaffect.report.run_data import load_run

    cut = tmp_path / "cut.jsonl"
    text = runs[1].read_text()
    cut.write_text(text + text.splitlines()[-1][:40])
    assert len(load_run(cut).frames) == 90


def test_a_run_whose_tracks_are_all_short_says_why_its_tables_are_empty(runs, tmp_path, caplog):
    short = tmp_path / "photos.jsonl"  # three frames, as a folder of three photos gives
    short.write_text("\n".join(runs[1].read_text().splitlines()[:3]) + "\n")
    assert main(["report", str(short), "-o", str(tmp_path / "rep")]) == 0
    assert "no track lasts 5 frames" in caplog.text


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_run_report_renders_in_headless_chromium(report, tmp_path):
    page = report / "report.html"
    assert "http://" not in page.read_text() and "https://" not in page.read_text()
    laid_out, _ = lay_out(page, tmp_path, images="{}", collect="""d.querySelectorAll('figure').forEach(function (f) {
    var i = f.querySelector('img'); out.images[f.id] = [i.complete, i.naturalWidth, i.getBoundingClientRect().width]; });""")
    assert laid_out["tables"]["runs"] == 2 and laid_out["tables"]["heart-rate"] == 1
    for key in ("fig-timeline-pulse-t1", "fig-heart-rate-pulse-t1", "fig-coverage", "fig-latency"):
        complete, width, shown = laid_out["images"][key]
        assert complete and width > 300 and shown > 100, (key, laid_out["images"][key])
