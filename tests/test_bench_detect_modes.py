"""``edgeaffect bench --detect-modes`` and the report's table of detection settings, end to end on a real video."""
from __future__ import annotations

from edgeaffect.bench.results import BenchResult
from edgeaffect.cli import main
from runtime_support import make_bundle, two_face_video


def test_bench_runs_detection_settings_and_the_report_shows_their_stage_cost(tmp_path, capsys):
    bundle = make_bundle(tmp_path / "b", kind="classification")
    video = two_face_video(tmp_path / "two.avi", 20)
    assert main(["bench", str(bundle), "--video", str(video), "--capture", "320x240", "--no-progress",
                 "--detect-modes", "full,every5,region", "--out", str(tmp_path / "r.json")]) == 0
    printed = capsys.readouterr().out
    assert "region" in printed and "every5" in printed
    result = BenchResult.load(tmp_path / "r.json")
    rows = {r.mode: r for r in result.detect_modes}
    assert set(rows) == {"full", "every5", "region"}
    assert rows["full"].recall == 1.0 and rows["region"].recall == 1.0 and rows["region"].detect_passes["region"] > 0
    assert rows["every5"].detect_passes == {"full": 4}
    assert main(["report", str(tmp_path / "r.json"), "--out", str(tmp_path / "rep")]) == 0
    csv = (tmp_path / "rep" / "csv" / "latency-detection.csv").read_text()
    assert csv.splitlines()[0].startswith(
        "device,bundle,video,setting,FPS,x full,x full (median round),CPU FPS,CPU x full,face recall")
    assert len(csv.splitlines()) == 4 and "detect" in (tmp_path / "rep" / "report.md").read_text()
    capsys.readouterr()
    assert main(["bench", str(bundle), "--video", str(video), "--detect-modes", "fast"]) == 2
    assert "unknown setting 'fast'" in capsys.readouterr().err
