"""Track-guided region detection with the real YuNet on real and synthetic frames.

The contract: between scheduled full-frame passes the detector looks only around confident
tracks, finds the same faces as full-frame detection every frame (recall, boxes, labels), and
a face lost in its region costs a full pass on the same frame.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from edgeaffect.bench.detect_modes import compare_modes, match_faces, modes_table, round_ratio
from edgeaffect.bundle import RuntimeSettings
from edgeaffect.detectors import create_detector
from edgeaffect.detectors.base import Face, iou
from edgeaffect.errors import EdgeAffectError
from edgeaffect.io import video_frames
from edgeaffect.runtime.pipeline import RunConfig, run
from edgeaffect.runtime.region import (RegionDetector, RegionOptions, changed_share, cut_region, region_of, thumbnail,
                                       to_frame)
from edgeaffect.runtime.tracker import IouTracker
from runtime_support import make_bundle, two_face_video

PHYS = Path(os.environ.get("EDGEAFFECT_DATA", "/nonexistent")) / "physrecorder_v01" / "video_ZIP_H264.avi"


@pytest.fixture(scope="module")
def two_faces(tmp_path_factory) -> Path:
    return two_face_video(tmp_path_factory.mktemp("two") / "two.avi", 60)


def _frames(path: Path, n: int) -> list[np.ndarray]:
    return list(video_frames(path, n))


def test_a_face_found_in_its_region_maps_back_onto_the_full_frame_box(two_faces):
    image = _frames(two_faces, 1)[0]
    yunet = create_detector("yunet")
    full = yunet.detect(image)
    assert len(full) == 2
    for face in full:
        x0, y0, side = region_of(face, 0.5)
        tile = cut_region(image, x0, y0, side, 96)
        assert tile.shape[:2] == (96, 96)
        found = [to_frame(f, x0, y0, side / 96) for f in create_detector("yunet").detect(tile)]
        assert max(iou(f, face) for f in found) > 0.7
        near = max(found, key=lambda f: iou(f, face))
        assert np.abs(np.subtract(near.landmarks, face.landmarks)).max() < 0.08 * face.w


def _track_and_compare(frames: list[np.ndarray], options: RegionOptions) -> tuple[RegionDetector, int, int]:
    """Region detection driving a tracker vs full-frame detection every frame: (detector, faces, found)."""
    reference = create_detector("yunet")
    region = RegionDetector(create_detector("yunet"), create_detector("yunet"), options)
    tracker = IouTracker()
    total = found = 0
    for index, image in enumerate(frames):
        faces = region.detect(image, tracker.live(index))
        tracker.update(faces, index)
        for ref in reference.detect(image):
            total += 1
            found += any(iou(ref, f) >= 0.5 for f in faces)
    return region, total, found


def test_two_moving_faces_are_found_in_their_regions(two_faces):
    region, total, found = _track_and_compare(_frames(two_faces, 60), RegionOptions(full_every=10))
    assert total == 120 and found == total
    assert region.counts["region"] >= 50 and region.counts["full"] <= 8
    assert region.counts["fallback"] == 0 and region.counts["change"] == 0  # moving people are not a change


def test_a_face_that_enters_is_found_on_its_first_frame(tmp_path):
    """Someone stepping into view changes the frame away from the tracked faces: a full pass at once,
    not at the next scheduled one (20 rounds later)."""
    frames = _frames(two_face_video(tmp_path / "enter.avi", 45, enter_at=25), 45)
    for options, first in ((RegionOptions(full_every=20), 25), (RegionOptions(full_every=20, change=1.0), 40)):
        region, tracker = RegionDetector(create_detector("yunet"), create_detector("yunet"), options), IouTracker()
        seen = []
        for index, image in enumerate(frames):
            faces = region.detect(image, tracker.live(index))
            tracker.update(faces, index)
            seen.append(len(faces))
        assert seen[:25] == [1] * 25 and seen.index(2) == first
        assert region.counts["change"] == (1 if options.change < 1 else 0) and region.counts["region"] >= 38


def test_a_changed_frame_is_measured_away_from_the_faces():
    still = np.full((480, 640, 3), 90, np.uint8)
    face = Face(300.0, 100.0, 60.0, 80.0, 0.9)
    before, step = thumbnail(still)
    moved = still.copy()
    moved[60:460, 240:420] = 200  # the person under the face moved: head, shoulders, chest
    assert changed_share(thumbnail(moved)[0], before, step, [face], 24) == 0.0
    moved[300:420, 20:140] = 200  # something else changed (a person entering at the left)
    assert 0.05 < changed_share(thumbnail(moved)[0], before, step, [face], 24) < 0.08  # 4.7 % of the frame
    noisy = np.clip(still + np.random.default_rng(0).normal(0, 6, still.shape), 0, 255).astype(np.uint8)
    assert changed_share(thumbnail(noisy)[0], before, step, [face], 24) < 0.001  # camera noise is no change
    assert changed_share(thumbnail(still[:400])[0], before, step, [face], 24) == 1.0  # another size: another photo


def test_fast_faces_stay_in_their_regions(tmp_path):
    """At 4x speed (up to ~24 px per frame) extrapolated boxes miss; the regions, from velocity, do not."""
    frames = _frames(two_face_video(tmp_path / "fast.avi", 40, speed=4.0), 40)
    region, total, found = _track_and_compare(frames, RegionOptions(full_every=20))
    assert total == 80 and found == total and region.counts["region"] >= 36


@pytest.mark.skipif(not PHYS.is_file(), reason="needs EDGEAFFECT_DATA with physrecorder_v01")
def test_real_webcam_face_is_found_in_its_region():
    region, total, found = _track_and_compare(_frames(PHYS, 120), RegionOptions(full_every=10))
    assert total >= 119 and found / total >= 0.99
    assert region.counts["region"] >= 100


def test_a_face_lost_in_its_region_gets_a_full_pass_on_the_same_frame(two_faces):
    image = _frames(two_faces, 1)[0]
    full = create_detector("yunet").detect(image)
    region = RegionDetector(create_detector("yunet"), create_detector("yunet"), RegionOptions(full_every=10))
    region.since_full = 1
    away = Face(5.0, 5.0, full[0].w * 0.4, full[0].h * 0.4, 0.95)  # a confident track where there is no face
    faces = region.detect(image, [(away, True), (full[1], True)])
    assert region.counts == {"full": 1, "region": 0, "fallback": 1, "change": 0}
    assert len(faces) == 2  # the full pass found both faces
    # a track missed at the last round, or a weak one, needs a full pass without trying its region
    for predicted in ([(full[0], False)], [(Face(*full[0].box, score=0.3), True)]):
        region.detect(image, predicted)
    assert region.counts == {"full": 3, "region": 0, "fallback": 1, "change": 0}


def test_run_with_region_detection_matches_full_frame_detection(two_faces, tmp_path):
    from edgeaffect.assets import resolve

    # the shipped model: a random tiny one flips labels on a pixel of box jitter, a trained one does not
    rows = compare_modes(resolve("default", "bundle"), two_faces, modes=("full", "region"), threads=1)
    full, region = rows
    assert (full.mode, region.mode) == ("full", "region")
    assert full.faces == 120 and region.recall == 1.0 and region.top1_agreement >= 0.99
    assert region.detect_passes["region"] >= 50 and full.detect_passes == {"full": 60}
    assert "detect" in modes_table(rows) and "region" in modes_table(rows)
    assert region.round_fps == (region.fps,) and full.round_fps == (full.fps,)  # one round: its FPS is the best


def test_the_median_ratio_pairs_runs_of_the_same_round():
    from edgeaffect.bench.results import DetectModeRow

    def row(mode, fps):
        return DetectModeRow(bundle="b", video="v.avi", mode=mode, detect_every=1, detect_region=0, frames=10,
                             faces=10, fps=max(fps, default=0.0), recall=1.0, top1_agreement=1.0, round_fps=tuple(fps))

    full, region = row("full", [100.0, 120.0, 100.0]), row("region", [150.0, 300.0, 190.0])
    # fastest runs: 300 / 120 = 2.5x; round by round 1.5x, 2.5x, 1.9x -> median 1.9x
    assert round_ratio(region, full) == pytest.approx(1.9)
    table = modes_table([full, region])
    assert "2.50x" in table and "1.90x" in table
    assert math.isnan(round_ratio(row("region", []), full))


@pytest.mark.skipif(not PHYS.is_file(), reason="needs EDGEAFFECT_DATA with physrecorder_v01")
def test_shipped_model_labels_agree_on_the_real_clip(tmp_path):
    from edgeaffect.assets import resolve

    outs = {}
    for mode in (0, 10):
        outs[mode] = tmp_path / f"{mode}.jsonl"
        run(RunConfig(bundle=resolve("default", "bundle"), source=str(PHYS), out=outs[mode], detect_region=mode,
                      max_frames=150, threads=1))
    records = {m: [json.loads(line) for line in p.read_text().splitlines()] for m, p in outs.items()}
    total, found, same, box_iou = match_faces(records[0], records[10])
    assert total >= 149 and found / total >= 0.99 and same / found >= 0.99 and box_iou > 0.85


def test_region_setting_comes_from_flag_bundle_or_detector_default(two_faces, tmp_path):
    plain = make_bundle(tmp_path / "plain", kind="classification", runtime=RuntimeSettings(backend="onnxruntime"))
    off = make_bundle(tmp_path / "off", kind="classification",
                      runtime=RuntimeSettings(backend="onnxruntime", detect_region=0))
    s = run(RunConfig(bundle=plain, source=str(two_faces), max_frames=12))
    assert s.settings["detect_region"] == {"value": 20, "from": "default"} and s.detect_passes["region"] > 0
    assert s.detect_engine == "onnxruntime" and s.to_dict()["detect_engine"] == "onnxruntime"  # what auto picked
    s = run(RunConfig(bundle=off, source=str(two_faces), max_frames=12))
    assert s.settings["detect_region"] == {"value": 0, "from": "bundle"} and s.detect_passes == {"full": 12}
    s = run(RunConfig(bundle=off, source=str(two_faces), max_frames=12, detect_region=4))
    assert s.settings["detect_region"] == {"value": 4, "from": "flag"} and s.detect_passes["full"] == 3
    s = run(RunConfig(bundle=plain, source=str(two_faces), max_frames=3, detector="haar"))
    assert s.settings["detect_region"]["value"] == 0  # measured for YuNet only
    assert s.detect_engine == ""  # Haar names no engine
    s = run(RunConfig(bundle=off, source=str(two_faces), max_frames=3, detector_options={"engine": "opencv"}))
    assert s.detect_engine == "opencv"
    bad = make_bundle(tmp_path / "bad", kind="classification",
                      runtime=RuntimeSettings(backend="onnxruntime", detect_region=10 ** 9))
    with pytest.raises(EdgeAffectError, match="detect_region"):
        run(RunConfig(bundle=bad, source=str(two_faces), max_frames=3))
