"""Heart rate from face video: recording readers (PhysRecorder, UBFC-rPPG, PURE), GREEN/CHROM/POS, metrics, eval."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from edgeaffect.bench.pulse import PulseEvalOptions, evaluate_pulse, format_pulse_report
from edgeaffect.data import open_dataset
from edgeaffect.errors import ConfigError, DataError
from edgeaffect.metrics import hr_report
from edgeaffect.pulse import heart_rate, snr_db
from edgeaffect.pulse.trace import PulseWindow, uniform
from tests.pulse_support import (face_frames, jittered_times, pulse, write_physrecorder, write_pure,
                                 write_ubfc_rppg)

HR = 78.0


def _tiny(n: int = 12, size: int = 24) -> list[np.ndarray]:
    return [np.full((size, size, 3), (10 * i) % 250, dtype=np.uint8) for i in range(n)]


# ---- readers 

def test_physrecorder_reads_signal_at_each_frames_own_time(tmp_path):
    times = jittered_times(0.4, seed=1)  # 12 uneven frames
    sig_t = np.arange(0, 0.3, 0.05)  # a 20 Hz oximeter that stops before the video does
    write_physrecorder(tmp_path / "v01", _tiny(len(times)), times, sig_t, 100 * sig_t)
    index = open_dataset(tmp_path)  # found one level down
    (rec,) = index.split("test")
    assert index.format == "physrecorder" and index.task == "recording" and rec.key == "v01"
    assert np.allclose(rec.frame_times, times - times[0], atol=1e-5)
    covered = rec.frame_times <= sig_t[-1]
    assert np.allclose(rec.bvp[covered], 100 * rec.frame_times[covered], atol=1e-3)  # linear signal, exact
    assert np.isnan(rec.bvp[~covered]).all() and (~covered).any()  # not extrapolated past the sensor's end
    frames = list(rec.frames())
    assert len(frames) == len(times) and frames[3].shape == (24, 24, 3)


def test_non_increasing_frame_times_are_marked_not_used(tmp_path):
    times = np.arange(10) / 30.0
    times[5] = times[3]  # a timestamp that goes back
    write_physrecorder(tmp_path, _tiny(10), times, np.arange(0, 0.4, 0.05), np.ones(8))
    (rec,) = open_dataset(tmp_path).split("test")
    assert rec.bad_timestamps == 1 and np.isnan(rec.frame_times[5]) and np.isnan(rec.bvp[5])
    assert np.isfinite(rec.frame_times[[4, 6]]).all()


def test_malformed_csv_row_is_named_by_file_and_line(tmp_path):
    folder = write_physrecorder(tmp_path / "a", _tiny(4), np.arange(4) / 30, np.arange(4) / 20, np.ones(4))
    (folder / "BVP.csv").write_text("timestamp,bvp\n1.0,2\n1.05,3\n1.1,x7\n")
    with pytest.raises(DataError, match=r"BVP\.csv:4"):
        open_dataset(folder)
    (folder / "BVP.csv").unlink()
    with pytest.raises(DataError, match=r"BVP\.csv is missing"):
        open_dataset(folder)
    (folder / "BVP.csv").write_text("timestamp,bvp\n1.0,2\n1.05,3\n1.1,x7\n")
    write_physrecorder(tmp_path / "b", _tiny(4), np.arange(4) / 30, np.arange(4) / 20, np.ones(4))
    index = open_dataset(tmp_path)  # two recordings: the broken one is skipped and named
    assert [r.key for r in index.split("test")] == ["b"]
    assert len(index.skipped) == 1 and "BVP.csv:4" in index.skipped[0].reason


def test_sensor_dropouts_are_left_out_not_bridged_and_a_signal_on_another_clock_is_refused(tmp_path, caplog):
    times = np.arange(60) / 30.0  # 2 s of video
    sig_t = np.arange(0, 2.0, 0.05)  # a 20 Hz oximeter
    folder = write_physrecorder(tmp_path / "v", _tiny(len(times)), times, sig_t, 100 * sig_t)
    start = 1_685_590_249.95
    rows = [f"{start + t:.6f},{100 * t:.4f}" for t in sig_t]
    for k in range(10, 20):  # half a second the logger wrote as missing
        rows[k] = f"{start + sig_t[k]:.6f}," + ("nan" if k % 2 else "")
    (folder / "BVP.csv").write_text("timestamp,bvp\n" + "\n".join(rows) + "\n")
    with caplog.at_level("WARNING"):
        (rec,) = open_dataset(folder).split("test")
    assert "10 of 40 pulse samples are missing" in caplog.text
    dropout = (rec.frame_times > sig_t[9]) & (rec.frame_times < sig_t[20])
    assert dropout.sum() >= 15 and np.isnan(rec.bvp[dropout]).all()  # no straight line across the hole
    kept = (rec.frame_times <= sig_t[9]) | ((rec.frame_times >= sig_t[20]) & (rec.frame_times <= sig_t[-1]))
    assert np.allclose(rec.bvp[kept], 100 * rec.frame_times[kept], atol=1e-3)
    (folder / "BVP.csv").write_text("timestamp,bvp\n1.0,2\n1.05,inf\n")  # inf is not a missing marker
    with pytest.raises(DataError, match=r"BVP\.csv:3"):
        open_dataset(folder)
    (folder / "BVP.csv").write_text("timestamp,bvp\n1.0,nan\n1.05,\n")
    with pytest.raises(DataError, match="0 usable samples"):
        open_dataset(folder)
    (folder / "BVP.csv").write_text("timestamp,bvp\n,2\n")  # nor is a missing time
    with pytest.raises(DataError, match=r"BVP\.csv:2"):
        open_dataset(folder)
    (folder / "BVP.csv").write_text("timestamp,bvp\n" + "".join(f"{start + 1e4 + t:.6f},1\n" for t in sig_t))
    with pytest.raises(DataError, match="no frame has a pulse value"):
        open_dataset(folder)


def test_frame_times_that_do_not_match_the_video_and_a_clip_shorter_than_a_window_are_said(tmp_path, caplog):
    times = np.arange(30) / 30.0
    folder = write_physrecorder(tmp_path / "v", _tiny(30), times, np.arange(0, 1.0, 0.05), np.ones(20))
    lines = (folder / "frames_timestamp.csv").read_text().splitlines()
    (folder / "frames_timestamp.csv").write_text("\n".join(lines[:21]) + "\n")  # 20 of 30 frames timed
    with caplog.at_level("WARNING"):
        report = evaluate_pulse(PulseEvalOptions(data=str(folder), estimators=("green",), window_s=5.0,
                                                 detector="none", progress=False))
    assert "times 20 frames, the video holds 30" in caplog.text and "less than one 5 s window" in caplog.text
    assert "none: every recording is shorter than 5 s" in format_pulse_report(report)


@pytest.mark.parametrize("dataset1", [False, True])
def test_ubfc_rppg_places_frames_at_k_over_fps(tmp_path, dataset1):
    sig_t = np.arange(0, 0.5, 1 / 30)
    write_ubfc_rppg(tmp_path / "subject1", _tiny(12), sig_t, 2 * sig_t + 1, dataset1=dataset1)
    index = open_dataset(tmp_path)
    (rec,) = index.split("test")
    assert index.format == "ubfc_rppg" and rec.subject == "subject1"
    assert np.allclose(rec.frame_times, np.arange(12) / 30, atol=1e-6)
    assert np.allclose(rec.bvp, 2 * rec.frame_times + 1, atol=1e-4)


def test_pure_reads_png_frames_and_nanosecond_times(tmp_path):
    times = jittered_times(0.3, seed=2)
    sig_t = np.arange(-0.05, 0.4, 1 / 60)  # the oximeter starts first, at 60 Hz
    write_pure(tmp_path / "01-01", _tiny(len(times)), times, sig_t, 3 * sig_t)
    index = open_dataset(tmp_path)
    (rec,) = index.split("test")
    assert index.format == "pure" and rec.subject == "01" and len(rec.frame_files) == len(times)
    assert np.allclose(rec.frame_times, times, atol=1e-6)
    assert np.allclose(rec.bvp, 3 * rec.frame_times, atol=1e-4)
    assert [int(f[0, 0, 0]) for f in rec.frames()] == [10 * i for i in range(len(times))]


# ---- spectrum, windows, metrics 

def test_heart_rate_snr_and_no_estimate_from_too_little():
    fs = 30.0
    t = np.arange(0, 10, 1 / fs)
    clean = pulse(t, 66.0)
    noisy = clean + np.random.default_rng(0).normal(0, 2.0, len(t))
    assert abs(heart_rate(clean, fs) - 66.0) < 0.5
    assert snr_db(clean, fs, 66.0) > 10 > snr_db(noisy, fs, 66.0)
    assert np.isnan(heart_rate(clean[: int(3 * fs)], fs))  # 3 s: no number from too little signal
    grid, values, rate = uniform(np.array([0.0, 0.1, 0.2, 1.0, 1.1]), np.arange(5.0), fs=10.0)
    assert rate == 10.0 and np.isnan(values[5]) and values[1] == 1.0  # a 0.8 s hole is not bridged


def test_hr_report_counts_no_estimate_and_scores_the_rest():
    report = hr_report([70, 72, 74, np.nan], [71, np.nan, 70, 80])
    assert report["scored"] == 2 and report["no_estimate"] == 1 and report["no_reference"] == 1
    assert report["mae"] == pytest.approx(2.5) and report["rmse"] == pytest.approx(np.sqrt(8.5))
    assert report["mape"] == pytest.approx((1 / 70 + 4 / 74) / 2 * 100)


def test_live_window_waits_until_full_then_estimates():
    t = np.arange(0, 12, 1 / 30)
    rgb = np.stack([150 + 0 * t, 120 - 1.5 * pulse(t, 84.0), 100 + 0 * t], axis=1)
    window = PulseWindow("green", window_s=8.0, every_s=1.0)
    first = next(i for i, ti in enumerate(t) if window.update(ti, rgb[i]).ok)
    assert 7.5 <= t[first] <= 8.0
    for i in range(first + 1, len(t)):
        est = window.update(t[i], rgb[i])
    assert abs(est.hr_bpm - 84.0) < 1.5 and est.snr_db > 5


def _skin_under_changing_light(seconds: float = 12.0, fps: float = 30.0, seed: int = 0):
    """(times, RGB) of skin whose pulse is faint beside light changes that hit every channel alike: a lamp
    flickering at 1.9 Hz (114 bpm, inside the heart-rate band and 8x the pulse), a head nodding at 0.5 Hz
    and a step in brightness (a door opening) - the common-mode changes POS and CHROM are built to cancel."""
    rng = np.random.default_rng(seed)
    t = np.arange(0, seconds, 1 / fps)
    skin = np.array([180.0, 120.0, 100.0])  # R, G, B
    blood = np.array([0.33, 0.77, 0.53])  # how a volume pulse tints skin: green most
    colour = skin * (1 + 0.004 * pulse(t, HR)[:, None] * blood)
    light = (1 + 0.03 * np.sin(2 * np.pi * 1.9 * t) + 0.04 * np.sin(2 * np.pi * 0.5 * t)
             + 0.05 * (t > seconds / 2))
    return t, colour * light[:, None] + rng.normal(0, 0.05, colour.shape)


def test_pos_and_chrom_cancel_common_mode_light_and_motion_where_green_cannot():
    from edgeaffect.pulse.trace import estimate

    t, rgb = _skin_under_changing_light()
    got = {name: estimate(name, t, rgb).hr_bpm for name in ("green", "pos", "chrom")}
    assert abs(got["green"] - 114.0) < 2.0, got  # green follows the lamp: the test can tell the methods apart
    assert abs(got["pos"] - HR) < 2.0, got
    assert abs(got["chrom"] - HR) < 2.0, got


def test_eval_reads_the_snr_at_the_sensors_heart_rate():
    from edgeaffect.bench.pulse import colour_rate, score

    t, rgb = _skin_under_changing_light()
    snr = {name: score(name, [("rec", t, pulse(t, HR), colour_rate(name, t, rgb))], 12.0, 12.0).clips[0].snr_db
           for name in ("green", "pos")}
    # green's wave peaks at the lamp: at its own peak it would read clean, at the sensor's rate it reads as noise
    assert snr["green"] < -3.0 < 3.0 < snr["pos"], snr


# ---- estimators on a synthetic face with a known pulse 

@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    times = jittered_times(12.0, seed=3)
    sig_t = np.arange(0, 12.0, 0.05)
    root = tmp_path_factory.mktemp("pulse")
    write_physrecorder(root / "face", face_frames(times, HR), times, sig_t, pulse(sig_t, HR))
    lost = jittered_times(16.0, seed=4)
    write_physrecorder(root / "lost", face_frames(lost, HR, lost=(2.0, 8.0)), lost, np.arange(0, 16, 0.05),
                       pulse(np.arange(0, 16, 0.05), HR))
    return root


def test_green_chrom_pos_find_the_known_pulse(synthetic):
    report = evaluate_pulse(PulseEvalOptions(estimators=("green", "chrom", "pos"), data=str(synthetic / "face"),
                                             detector="haar", progress=False))
    assert report.faces_found["face"] > 0.95
    for est in report.estimators:
        (clip,) = est.clips
        assert abs(clip.reference_bpm - HR) < 1.0
        assert abs(clip.estimate_bpm - HR) < 2.0, (est.estimator, clip)
        assert est.metrics["scored"] == 1 and est.metrics["mae"] < 2.0
    assert "MAE" in format_pulse_report(report)


def test_a_lost_face_gives_no_estimate_counted(synthetic):
    report = evaluate_pulse(PulseEvalOptions(estimators=("pos",), data=str(synthetic / "lost"), detector="haar",
                                             progress=False))
    (est,) = report.estimators
    assert [(w.start_s, np.isnan(w.estimate_bpm)) for w in est.windows] == [(0.0, True), (5.0, True)]
    assert est.metrics["no_estimate"] == 2 and est.metrics["scored"] == 0 and np.isnan(est.clips[0].estimate_bpm)


def test_eval_cli_prints_heart_rate_metrics_and_rejects_other_data(synthetic, tmp_path):
    (tmp_path / "pos").mkdir()  # a folder named like an estimator changes nothing: the flag decides
    cmd = [sys.executable, "-m", "edgeaffect", "eval", "--pulse", "chrom,pos", "--data", str(synthetic / "face"),
           "--detector", "haar", "--out", str(tmp_path)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "MAE" in done.stdout and "pos" in done.stdout
    saved = (tmp_path / "eval-pulse.json").read_text()
    assert "NaN" not in saved and json.loads(saved)["estimators"]  # strict JSON: no estimate is null
    side = subprocess.run(cmd[:8] + ["--detector", "yunet", "--detect-side", "0"], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert side.returncode == 0 and "MAE" in side.stdout, side.stderr
    (tmp_path / "imgs" / "happy").mkdir(parents=True)
    bad = subprocess.run([sys.executable, "-m", "edgeaffect", "eval", "--pulse", "pos", "--data", str(tmp_path / "imgs")],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "error:" in bad.stderr and "Traceback" not in bad.stderr


def test_eval_takes_its_job_from_the_command_line_not_the_disk(tmp_path, monkeypatch):
    from edgeaffect.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "rec").mkdir()
    assert main(["eval", "pos", "--data", "rec"]) == 2  # an estimator's name without --pulse: told the command
    assert main(["eval", "--pulse", "posx", "--data", "rec"]) == 2  # unknown estimator: did you mean
    assert main(["eval", "--pulse", "model", "--data", "rec"]) == 2  # the run's model needs RUN
    (tmp_path / "pos").mkdir()
    assert main(["eval", "pos", "--pulse", "pos", "--data", "rec"]) == 2  # RUN beside estimators: ambiguous, refused


def test_unknown_estimator_and_bad_window_are_config_errors():
    with pytest.raises(ConfigError, match="did you mean 'pos'"):
        from edgeaffect.pulse import get_estimator

        get_estimator("poss")
    with pytest.raises(ConfigError):
        PulseEvalOptions(estimators=("pos",), data="x", window_s=0)


# ---- the real check: a webcam video against a finger oximeter --------------------------------------------------------

@pytest.mark.data
def test_real_recording_within_target(physrecorder_root, yunet_model):
    folder = physrecorder_root
    report = evaluate_pulse(PulseEvalOptions(estimators=("green", "chrom", "pos"), data=str(folder),
                                             detector_options={"model": str(yunet_model)}, progress=False))
    for est in report.estimators:
        (clip,) = est.clips
        assert 70.0 < clip.reference_bpm < 72.5  # the oximeter: about 71 bpm
        assert abs(clip.estimate_bpm - clip.reference_bpm) <= 3.0, est.estimator
        assert est.metrics["scored"] == 3 and est.metrics["mae"] <= 5.0, est.estimator


def test_ubfc_phys_videos_read_as_recordings_when_named(tmp_path):
    from edgeaffect.data.inspection import detect_format
    from edgeaffect.data.synthetic_video import write_synthetic_videos

    root = write_synthetic_videos(tmp_path, subjects=1, seconds=2.0, fps=10.0, size=48, use_e4=False)
    assert detect_format(root) == "ubfc_phys"  # the EDA-window reader keeps the folder by default
    index = open_dataset(root, format="ubfc_phys_rppg")
    recs = index.split("test")
    assert [r.key for r in recs] == ["vid_s1_T1", "vid_s1_T2", "vid_s1_T3"]
    bvp = np.loadtxt(root / "s1" / "bvp_s1_T1.csv")
    assert np.allclose(recs[0].frame_times, np.arange(20) / 10.0)
    assert np.allclose(recs[0].bvp[:19], np.interp(np.arange(19) / 10.0, np.arange(len(bvp)) / 64.0, bvp))


def test_steady_box_damps_a_wobble_follows_motion_and_jumps_to_another_face():
    from edgeaffect.pulse.skin import SteadyBox

    steady = SteadyBox()
    wobble = [steady((100 + (2 if k % 2 else -2), 80, 120, 150)) for k in range(40)]
    xs = np.array([b[0] for b in wobble[10:]])
    assert xs.max() - xs.min() < 2.0  # a +-2 px detector wobble (4 px peak to peak) is held to under 2
    moving = SteadyBox()
    for k in range(60):  # a head moving 2 px per frame
        held = moving((100 + 2 * k, 80, 120, 150))
    assert 100 + 2 * 59 - held[0] < 6  # followed with a lag of a few frames
    assert moving((400, 300, 120, 150)) == (400.0, 300.0, 120.0, 150.0)  # no overlap: another face, taken as is
