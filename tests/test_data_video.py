"""Physiological signals, the E4 reader, synthetic face videos and the UBFC-Phys reader (real AVIs)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgeaffect.data import open_dataset
from edgeaffect.data.signals import (check_covers, read_e4_csv, read_e4_ibi, read_values, resample, synth_bvp,
                                     synth_eda, values_at)
from edgeaffect.data.synthetic_video import write_synthetic_videos
from edgeaffect.errors import ConfigError, DataError

SECONDS, FPS, WINDOW = 8.0, 8.0, 8  # videos at 8 fps read at 4 fps -> 32 clip frames -> 4 windows each


def e4_sample() -> Path:
    root = os.environ.get("EDGEAFFECT_DATA")
    path = Path(root) / "empatica_e4_sample" if root else None
    if path is None or not (path / "EDA.csv").exists():
        pytest.skip("EDGEAFFECT_DATA/empatica_e4_sample is not available")
    return path


def write_e4_session(folder: Path, *, start: float = 1_600_000_000.0, seconds: float = 30.0, seed: int = 0) -> None:
    folder.mkdir(parents=True)
    eda, bvp = synth_eda(seconds, 4, seed), synth_bvp(seconds, 64, seed)
    (folder / "EDA.csv").write_text(f"{start:.6f}\n4.000000\n" + "".join(f"{v:.6f}\n" for v in eda.values))
    (folder / "BVP.csv").write_text(f"{start:.2f}\n64.000000\n" + "".join(f"{v:.2f}\n" for v in bvp.values))
    (folder / "ACC.csv").write_text(f"{start}, {start}, {start}\n32.0, 32.0, 32.0\n-61,25,6\n-62,24,11\n")


@pytest.fixture(scope="module")
def ubfc(tmp_path_factory) -> Path:
    return write_synthetic_videos(tmp_path_factory.mktemp("ubfc"), subjects=3, seconds=SECONDS, fps=FPS, size=80,
                                  seed=1, use_e4=False)


# ---- signals -------------------------------------------------------------------------------------------------------

def test_synthetic_signals_are_plausible():
    eda = synth_eda(120, 4, seed=3, level=2.0, responses_per_min=6)
    assert eda.rate_hz == 4 and len(eda.values) == 480 and eda.values.min() > 0
    rises = np.diff(eda.values)
    assert rises.max() > 1.5 * -rises.min()  # responses rise faster than they decay
    bvp = synth_bvp(60, 64, seed=3, hr_bpm=72)
    spectrum = np.abs(np.fft.rfft(bvp.values - bvp.values.mean()))
    freqs = np.fft.rfftfreq(len(bvp.values), 1 / 64)
    band = (freqs >= 0.7) & (freqs <= 3.5)  # 42-210 bpm, where a heart-rate estimator looks
    peak_hz = freqs[band][np.argmax(spectrum[band])]
    assert 1.0 <= peak_hz <= 1.5  # ~72 bpm


def test_resample_keeps_samples_and_filters_when_downsampling():
    x = np.arange(16, dtype=float)
    assert np.allclose(resample(x, 4, 8)[::2], x)  # up-sampling keeps every original sample
    assert len(resample(x, 4, 8)) == 32 and np.allclose(resample(x, 4, 4), x)
    t = np.arange(640) / 64
    tone = np.sin(2 * np.pi * 3.0 * t)  # 3 Hz: above the 2 Hz Nyquist limit of a 4 Hz trace
    assert np.abs(resample(tone, 64, 4)[4:-4]).max() < 0.2  # filtered, not aliased
    slow = np.sin(2 * np.pi * 0.2 * t)
    assert np.allclose(resample(slow, 64, 4)[4:-4], values_at(slow, 64, np.arange(40) / 4)[4:-4], atol=0.05)


def test_check_covers_names_both_durations(tmp_path):
    with pytest.raises(DataError, match=r"lasts 5.00 s but vid.avi lasts 8.00 s"):
        check_covers(5.0, 8.0, signal=tmp_path / "eda.csv", video=tmp_path / "vid.avi")
    check_covers(7.8, 8.0, signal=tmp_path / "eda.csv", video=tmp_path / "vid.avi")


def test_read_e4_fixture_and_bad_lines(tmp_path):
    write_e4_session(tmp_path / "sess", seconds=10)
    eda = read_e4_csv(tmp_path / "sess" / "EDA.csv")
    assert (eda.rate_hz, eda.seconds, eda.start_unix) == (4.0, 10.0, 1_600_000_000.0)
    acc = read_e4_csv(tmp_path / "sess" / "ACC.csv")
    assert acc.values.shape == (2, 3) and acc.rate_hz == 32.0
    bad = tmp_path / "bad.csv"
    bad.write_text("1600000000\n4.0\n0.5\nnan?\n")
    with pytest.raises(DataError, match=r"bad.csv:4"):
        read_e4_csv(bad)
    for token in ("nan", "inf", "-Infinity"):  # float() reads them; an EDA target must not be one
        bad.write_text(f"1600000000\n4.0\n0.5\n{token}\n0.6\n")
        with pytest.raises(DataError, match=r"bad.csv:4: not a finite number"):
            read_e4_csv(bad)
        bad.write_text(f"0.5\n{token}\n")
        with pytest.raises(DataError, match=r"bad.csv:2"):
            read_values(bad)
    ibi = tmp_path / "IBI.csv"
    ibi.write_text("1600000000.0, IBI\n1.5,0.8\n2.3,0.8\n")
    with pytest.raises(DataError, match="inter-beat"):
        read_e4_csv(ibi)
    beats = read_e4_ibi(ibi)
    assert np.allclose(beats.times, [1.5, 2.3]) and np.allclose(beats.intervals, 0.8)


# ---- E4 reader -----------------------------------------------------------------------------------------------------

@pytest.mark.data
def test_real_e4_sample_rates_and_durations():
    root = e4_sample()
    eda, bvp = read_e4_csv(root / "EDA.csv"), read_e4_csv(root / "BVP.csv")
    assert (eda.rate_hz, bvp.rate_hz) == (4.0, 64.0)
    assert eda.seconds == pytest.approx(2499.5) and bvp.seconds == pytest.approx(156.22, abs=0.01)
    index = open_dataset(root)
    assert index.format == "e4" and index.task == "signal"
    assert index.info["eda_hz"] == 4.0 and index.info["bvp_hz"] == 64.0
    assert index.info["seconds"]["empatica_e4_sample"] == pytest.approx(156.22, abs=0.01)  # BVP is the shorter
    windows = [w for s in index.splits.values() for w in s]
    assert len(windows) == 15 and all(w.eda.shape == (40,) and w.bvp.shape == (640,) for w in windows)
    assert [len(index.splits[s]) for s in ("train", "valid", "test")] == [9, 3, 3]


def test_e4_reader_on_sessions_is_subject_disjoint(tmp_path):
    for i in range(4):
        write_e4_session(tmp_path / f"p{i}", seconds=30, seed=i, start=1_600_000_000.0 + i)
    # a session whose BVP starts 2 s after its EDA: aligned on the later start
    write_e4_session(tmp_path / "p4", seconds=30, seed=9)
    text = (tmp_path / "p4" / "BVP.csv").read_text().split("\n", 1)
    (tmp_path / "p4" / "BVP.csv").write_text("1600000002.00\n" + text[1])
    index = open_dataset(tmp_path, window=5.0)
    assert index.format == "e4" and index.info["split_by"] == "subject"
    assert index.info["seconds"]["p4"] == pytest.approx(28.0)
    owners = {}
    for split, windows in index.splits.items():
        for w in windows:
            owners.setdefault(w.subject, set()).add(split)
            assert w.eda.shape == (20,) and w.bvp.shape == (320,)
    assert all(len(s) == 1 for s in owners.values()) and len(owners) == 5
    p4 = read_e4_csv(tmp_path / "p4" / "EDA.csv").values
    first = min((w for s in index.splits.values() for w in s if w.subject == "p4"), key=lambda w: w.start)
    assert np.allclose(first.eda, p4[8:28], atol=1e-6)  # EDA trimmed by the 2 s (8 samples) BVP starts later


# ---- UBFC-Phys layout and reader -----------------------------------------------------------------------------------

def test_synthetic_videos_follow_the_ubfc_phys_layout(ubfc):
    import cv2

    for s in (1, 2, 3):
        for task in ("T1", "T2", "T3"):
            cap = cv2.VideoCapture(str(ubfc / f"s{s}" / f"vid_s{s}_{task}.avi"))
            assert cap.isOpened() and cap.get(cv2.CAP_PROP_FPS) == FPS
            assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == SECONDS * FPS
            cap.release()
            assert len(read_values(ubfc / f"s{s}" / f"bvp_s{s}_{task}.csv")) == SECONDS * 64
            assert len(read_values(ubfc / f"s{s}" / f"eda_s{s}_{task}.csv")) == SECONDS * 4
    first = (ubfc / "s1" / "eda_s1_T1.csv").read_text().splitlines()[0]
    float(first)  # no header row
    mean = {t: np.mean([read_values(ubfc / f"s{s}" / f"eda_s{s}_{t}.csv").mean() for s in (1, 2, 3)])
            for t in ("T1", "T3")}
    assert mean["T3"] > mean["T1"]  # the arithmetic task raises the EDA level


@pytest.mark.data
def test_synthetic_videos_carry_windows_of_the_real_e4_recording(tmp_path):
    root = e4_sample()
    out = write_synthetic_videos(tmp_path / "v", subjects=1, seconds=4, fps=5, size=64, seed=0, e4_root=root)
    real_eda, real_bvp = read_e4_csv(root / "EDA.csv").values, read_e4_csv(root / "BVP.csv").values
    eda, bvp = read_values(out / "s1" / "eda_s1_T1.csv"), read_values(out / "s1" / "bvp_s1_T1.csv")
    assert len(eda) == 16 and len(bvp) == 256
    match = lambda w, x: any(np.allclose(w, x[i:i + len(w)], atol=1e-4) for i in range(len(x) - len(w) + 1))
    assert match(eda, real_eda) and match(bvp, real_bvp)  # T1 (rest) keeps the recorded level


def test_ubfc_reader_windows_splits_alignment_and_cache(ubfc):
    index = open_dataset(ubfc, window=WINDOW, fps=4.0)
    assert index.format == "ubfc_phys" and index.task == "signal" and not index.skipped
    assert index.info["crops_computed"] == 9
    clips = [c for s in index.splits.values() for c in s]
    assert len(clips) == 9 * 4  # 8 s at 4 fps = 32 frames = 4 windows of 8
    per_split = {s: {c.subject for c in v} for s, v in index.splits.items()}
    assert all(len(v) == 1 for v in per_split.values())  # 3 subjects -> one per split
    assert len(set.union(*per_split.values())) == 3
    clip = next(c for c in clips if c.subject == "s2" and c.task == "T3" and c.start == 16)
    eda = read_values(ubfc / "s2" / "eda_s2_T3.csv")
    times = (clip.start + np.arange(clip.length)) / clip.fps
    assert np.allclose(clip.eda, values_at(eda, 4.0, times), atol=1e-6)
    assert np.allclose(clip.eda, eda[16:24], atol=1e-6)  # 4 fps clips on a 4 Hz trace: the samples themselves
    assert clip.bvp is not None and clip.bvp.shape == (WINDOW,)
    frames = clip.read_clip()
    assert len(frames) == WINDOW and frames[0].shape == (72, 72, 3) and frames[0].dtype == np.uint8
    cache = Path(index.info["cache_dir"])
    files = sorted(cache.glob("*.npy"))
    assert len(files) == 9
    mtimes = [f.stat().st_mtime_ns for f in files]
    again = open_dataset(ubfc, window=WINDOW, fps=4.0)
    assert again.info["crops_computed"] == 0 and again.info["crops_cached"] == 9  # no video decoded
    assert [f.stat().st_mtime_ns for f in files] == mtimes
    same = next(c for c in again.splits[clip.split] if c.key == clip.key)
    assert np.array_equal(np.stack(same.read_clip()), np.stack(frames))


def test_ubfc_face_crops_show_the_face(ubfc, tmp_path):
    """The Haar-tracked crop is centred on the face: it differs from a crop of the whole frame (detector 'none')."""
    tracked = open_dataset(ubfc, window=WINDOW, tasks=("T1",), cache_dir=tmp_path / "a")
    whole = open_dataset(ubfc, window=WINDOW, tasks=("T1",), detector="none", cache_dir=tmp_path / "b")
    a = np.stack(tracked.splits["train"][0].read_clip()).astype(float)
    b = np.stack(whole.splits["train"][0].read_clip()).astype(float)
    assert np.abs(a - b).mean() > 10
    assert len(list((tmp_path / "a").glob("*.npy"))) == 3


def test_ubfc_reads_with_yunet(ubfc, tmp_path):
    index = open_dataset(ubfc, window=WINDOW, tasks=("T2",), detector="yunet", cache_dir=tmp_path)  # the shipped YuNet
    assert not index.skipped and sum(len(v) for v in index.splits.values()) == 3 * 4


def test_ubfc_options_folds_and_no_cache(ubfc, tmp_path):
    index = open_dataset(ubfc, window=16, stride=8, tasks="T2", folds=3, fold=1, cache=False)
    assert index.info["cache_dir"] is None
    assert {c.task for s in index.splits.values() for c in s} == {"T2"}
    assert all(len(index.splits[s]) == 3 for s in ("train", "valid", "test"))  # (32 - 16) / 8 + 1 windows
    with pytest.raises(ConfigError, match="windw"):
        open_dataset(ubfc, windw=8)
    chosen = open_dataset(ubfc, window=WINDOW, tasks=("T1",), cache_dir=tmp_path,
                          splits={"train": ["s1", "s2"], "test": ["s3"]})
    assert chosen.subjects("train") == {"s1", "s2"} and chosen.subjects("test") == {"s3"}


def test_ubfc_bad_files_are_skipped_and_named(ubfc, tmp_path):
    root = tmp_path / "broken"
    shutil.copytree(ubfc, root, ignore=shutil.ignore_patterns(".edgeaffect-cache"))
    (root / "s1" / "vid_s1_T1.avi").write_bytes(os.urandom(4000))  # will not decode
    avi = root / "s2" / "vid_s2_T2.avi"
    avi.write_bytes(avi.read_bytes()[: avi.stat().st_size // 2])  # frames stop early
    eda = root / "s3" / "eda_s3_T3.csv"
    eda.write_text("".join(eda.read_text().splitlines(keepends=True)[:12]))  # 3 s of EDA for an 8 s video
    (root / "s3" / "eda_s3_T1.csv").unlink()
    index = open_dataset(root, window=WINDOW)
    reasons = {Path(s.source).name: s.reason for s in index.skipped}
    assert set(reasons) == {"vid_s1_T1.avi", "vid_s2_T2.avi", "vid_s3_T3.avi", "vid_s3_T1.avi"}
    assert "vid_s1_T1.avi" in reasons["vid_s1_T1.avi"]
    assert "stops after" in reasons["vid_s2_T2.avi"]
    assert "eda_s3_T3.csv lasts 3.00 s" in reasons["vid_s3_T3.avi"] and "8.00 s" in reasons["vid_s3_T3.avi"]
    assert "eda_s3_T1.csv is missing" in reasons["vid_s3_T1.avi"]
    assert len([c for s in index.splits.values() for c in s]) == 5 * 4
    for name in ("s1", "s2", "s3"):
        shutil.rmtree(root / name)
    (root / "s9").mkdir()
    (root / "s9" / "vid_s9_T1.avi").write_bytes(b"not a video")
    with pytest.raises(DataError, match="no usable clip"):
        open_dataset(root, window=WINDOW)


def test_synthetic_video_cache_tells_e4_traces_from_generated_ones(tmp_path, monkeypatch):
    """The same options draw other EDA traces once $EDGEAFFECT_DATA holds an E4 recording: the cache must not
    serve the data drawn without it (nor the other way round), and a changed recording is new data too."""
    from edgeaffect.train.recipes import synthetic_data

    options = {"subjects": 1, "seconds": 40.0, "fps": 2.0, "size": 48, "seed": 0}
    monkeypatch.delenv("EDGEAFFECT_DATA", raising=False)
    generated = synthetic_data("videos", options, str(tmp_path / "cache"))
    write_e4_session(tmp_path / "data" / "empatica_e4_sample", seconds=120.0, seed=3)
    monkeypatch.setenv("EDGEAFFECT_DATA", str(tmp_path / "data"))
    from_e4 = synthetic_data("videos", options, str(tmp_path / "cache"))
    assert from_e4 != generated
    eda = [(p / "s1" / "eda_s1_T1.csv").read_text() for p in (generated, from_e4)]
    assert eda[0] != eda[1]
    assert synthetic_data("videos", options, str(tmp_path / "cache")) == from_e4  # still one render per source
    write_e4_session(tmp_path / "other" / "empatica_e4_sample", seconds=120.0, seed=4)
    monkeypatch.setenv("EDGEAFFECT_DATA", str(tmp_path / "other"))
    assert synthetic_data("videos", options, str(tmp_path / "cache")) not in (generated, from_e4)


def test_two_swapped_timestamps_cost_two_samples_not_the_span_between():
    """Rows 200 and 400 swapped: every row between was 'not above the maximum so far' and 200 good frames
    (10 s of a 20 s clip) were dropped; the fewest rows whose removal restores the order are the two."""
    import numpy as np

    from edgeaffect.data.recording import increasing

    times = np.arange(600) / 30.0
    times[[200, 400]] = times[[400, 200]]
    kept, dropped = increasing(times)
    assert dropped == 2 and list(np.flatnonzero(np.isnan(kept))) == [200, 400]
    assert increasing(np.arange(5.0))[1] == 0 and increasing(np.arange(5.0)[::-1])[1] == 4
    assert increasing(np.array([0.0, np.nan, 1.0, 1.0, 2.0]))[1] == 1  # a repeat is one too many; NaN stays uncounted
