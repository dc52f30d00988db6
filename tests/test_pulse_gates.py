"""What a pulse can look like: no heart rate from a still picture, and a contact sensor's glitches left out.

The real checks use the webcam recording ``physrecorder_v01`` under EDGEAFFECT_DATA
(skipped without it): copies of it whose picture is frozen get no estimate in
``run`` and ``eval`` while the recording itself keeps all of its own, and copies
whose oximeter wave carries one glitch, or none at all, get the clean reference
or none, with a warning.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeaffect.pulse.trace import wave_rate, windows
from tests.pulse_support import face_frames, pulse, write_video

CLIP_FILES = ("frames_timestamp.csv", "BVP.csv", "missed_frames.csv", "info.txt")


@pytest.fixture(scope="module")
def clip(physrecorder_root) -> Path:
    return physrecorder_root


def _copy(clip: Path, dest: Path, *, bvp: str | None = None, video: list[np.ndarray] | None = None) -> Path:
    """The recording copied to ``dest`` with its BVP.csv text or its video replaced."""
    dest.mkdir(parents=True)
    for name in CLIP_FILES:
        shutil.copyfile(clip / name, dest / name)  # copyfile: the copies are writable, the originals are not
    if bvp is not None:
        (dest / "BVP.csv").write_text(bvp)
    if video is None:
        os.symlink(clip / "video_ZIP_H264.avi", dest / "video_ZIP_H264.avi")
    else:
        write_video(dest / "video_ZIP_H264.avi", video)  # MJPG, as the tester's frozen copy
    return dest


def _frame(clip: Path, index: int) -> np.ndarray:
    cap = cv2.VideoCapture(str(clip / "video_ZIP_H264.avi"))
    for _ in range(index + 1):
        ok, frame = cap.read()
        assert ok
    cap.release()
    return frame


def _heart_rates(out: Path) -> list[tuple[float, float]]:
    return [(line["timestamp"], face["heart_rate"]) for line in map(json.loads, out.read_text().splitlines())
            for face in line["faces"] if face["heart_rate"] is not None]


# ---- the face's trace: a picture that does not change carries no pulse --------------------------------------------

def test_held_skin_tells_the_pictures_change_from_the_boxs():
    from edgeaffect.pulse.skin import HeldSkin

    frame = face_frames(np.zeros(1), 70.0, size=160)[0]
    sampler = HeldSkin()
    samples = [sampler(frame, (50 + (1.5 if k % 2 else -1.5), 40 + k % 3, 64, 80)) for k in range(12)]
    rgb = np.array([s[0] for s in samples])
    assert np.ptp(rgb, axis=0).max() > 0  # the jittering box moves the skin mean of one picture...
    assert np.all(np.array([s[1] for s in samples[1:]]) == 0)  # ...and the picture's own change is exactly none
    assert np.isnan(samples[0][1]).all()  # the first frame has nothing to compare with
    brighter = np.clip(frame.astype(np.int16) + 3, 0, 255).astype(np.uint8)
    rgb2, change = sampler(brighter, (50, 41, 64, 80))
    assert np.allclose(change, 3.0, atol=0.5)  # a picture 3 levels brighter: its change, whatever the box did


@pytest.mark.data
def test_still_picture_gives_no_heart_rate_in_run_and_the_recording_keeps_its_own(clip, tmp_path, caplog):
    from edgeaffect.cli import main

    frames = tmp_path / "frozen"
    frames.mkdir()
    still = _frame(clip, 50)
    for i in range(360):  # 12 s at the folder's 30 FPS: two seconds past a full 10 s window
        cv2.imwrite(str(frames / f"f{i:04d}.png"), still)
    with caplog.at_level("WARNING"):
        assert main(["run", "default", "--pulse", "pos", "--source", str(frames), "--headless",
                     "--out", str(tmp_path / "still.jsonl")]) == 0
    # the old code read 75-93 bpm here, from YuNet's box wobbling by a pixel or two over one picture
    assert _heart_rates(tmp_path / "still.jsonl") == []
    assert "still picture gives no heart rate" in caplog.text
    assert main(["run", "default", "--pulse", "pos", "--source", str(clip / "video_ZIP_H264.avi"), "--headless",
                 "--out", str(tmp_path / "real.jsonl")]) == 0
    real = _heart_rates(tmp_path / "real.jsonl")
    assert real and min(t for t, _ in real) < 10.0  # every window of the real face is estimated, from the first
    assert len(real) > 300 and abs(np.median([h for _, h in real]) - 71.3) < 3.0  # the oximeter reads ~71 bpm


@pytest.mark.data
def test_frozen_copy_of_the_recording_scores_no_window_in_eval(clip, tmp_path, yunet_model):
    from edgeaffect.bench.pulse import PulseEvalOptions, evaluate_pulse

    frozen = _copy(clip, tmp_path / "frozen", video=[_frame(clip, 0)] * 602)
    detector = {"model": str(yunet_model)}
    report = evaluate_pulse(PulseEvalOptions(estimators=("pos",), data=str(frozen), detector_options=detector,
                                             progress=False))
    (est,) = report.estimators
    # the old code scored the first window (42 bpm) from the re-encoded video's first frames settling
    assert est.metrics["scored"] == 0 and est.metrics["no_estimate"] == 3, est.windows
    real = evaluate_pulse(PulseEvalOptions(estimators=("green", "chrom", "pos"), data=str(clip),
                                           detector_options=detector, progress=False))
    for est in real.estimators:  # the gate passes every window of the real face
        assert est.metrics["scored"] == 3 and est.metrics["mae"] <= 1.5, est.estimator


# ---- the contact sensor's wave: a glitch is left out, a flat line gives no reference -------------------------------

def _references(folder: Path) -> list[float]:
    """The sensor's heart rate of every 10 s window (5 s hop) and of the whole clip, read as ``eval`` reads it."""
    from edgeaffect.data import open_dataset

    (rec,) = open_dataset(folder).split("test")
    t = np.asarray(rec.frame_times, dtype=np.float64)
    spans = windows(float(np.nanmax(t)), 10.0, 5.0) + [(0.0, float(np.nanmax(t)))]
    return [wave_rate(t[(t >= a) & (t <= b)], rec.bvp[(t >= a) & (t <= b)], span=(a, b)).hr_bpm for a, b in spans]


def _bvp_with(clip: Path, row: int, value: str) -> str:
    lines = (clip / "BVP.csv").read_text().splitlines(keepends=True)
    lines[row] = lines[row].split(",")[0] + f",{value}\n"
    return "".join(lines)


@pytest.mark.data
@pytest.mark.parametrize("value", ["1000", "1e30"])
def test_one_glitch_of_the_oximeter_is_left_out_and_said(clip, tmp_path, caplog, value):
    clean = _references(clip)
    assert clean[1] == pytest.approx(71.9, abs=0.2)  # the 5-15 s window the glitch lands in
    with caplog.at_level("WARNING"):
        glitched = _references(_copy(clip, tmp_path / "spike", bvp=_bvp_with(clip, 200, value)))
    # the old code read 59.5 bpm (1000) and 42.2 bpm (1e30) for the 5-15 s window
    assert np.allclose(glitched, clean, atol=0.3), (glitched, clean)
    assert "1 of 397 pulse samples lie far outside" in caplog.text


@pytest.mark.data
@pytest.mark.parametrize("value", ["50", "1e30"])
def test_a_flat_oximeter_wave_gives_no_reference(clip, tmp_path, caplog, value):
    rows = (clip / "BVP.csv").read_text().splitlines()
    flat = rows[0] + "\n" + "".join(r.split(",")[0] + f",{value}\n" for r in rows[1:])
    with caplog.at_level("WARNING"):
        refs = _references(_copy(clip, tmp_path / "flat", bvp=flat))
    assert np.isnan(refs).all(), refs  # the old code read 90.2 bpm from the rounding error of a constant 1e30
    assert "throughout" in caplog.text


def test_reference_rate_does_not_depend_on_the_waves_size():
    t = np.arange(0, 10, 1 / 30)
    wave = 50 + 40 * pulse(t, 66.0)
    base = wave_rate(t, wave).hr_bpm
    assert base == pytest.approx(66.0, abs=0.5)
    for scaled in (wave * 1e30, wave * 1e-30, wave + 1e12):
        assert wave_rate(t, scaled).hr_bpm == pytest.approx(base, abs=0.05)
