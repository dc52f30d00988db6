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


def test_a_video_without_faces_has_no_recall_rather_than_a_perfect_one(tmp_path, capsys):
    import cv2
    import numpy as np

    bundle = make_bundle(tmp_path / "b", kind="classification")
    video = tmp_path / "black.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    for _ in range(10):
        writer.write(np.zeros((240, 320, 3), np.uint8))
    writer.release()
    assert main(["bench", str(bundle), "--video", str(video), "--capture", "320x240", "--no-progress",
                 "--detect-modes", "full,region", "--out", str(tmp_path / "r.json")]) == 0
    capsys.readouterr()
    rows = {r.mode: r for r in BenchResult.load(tmp_path / "r.json").detect_modes}
    assert rows["region"].faces == 0  # it scored recall, box IoU and agreement 1.0 on no face at all
    assert rows["region"].recall is None and rows["region"].box_iou is None and rows["region"].top1_agreement is None
    assert main(["report", str(tmp_path / "r.json"), "--out", str(tmp_path / "rep")]) == 0
