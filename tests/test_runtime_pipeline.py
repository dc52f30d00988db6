"""The runtime loop end to end with real OpenCV decoding and a tiny real ONNX bundle."""
from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edgeaffect.cli import main
from edgeaffect.errors import BundleError, SourceError
from edgeaffect.runtime.loader import open_model
from edgeaffect.runtime.pipeline import RunConfig, run
from edgeaffect.runtime.smoothing import SmoothingSpec
from edgeaffect.runtime.sources import SourceOptions, open_source
from runtime_support import make_bundle, make_folder, make_video

FAST_RETRY = SourceOptions(max_retries=2, backoff_s=0.01, backoff_max_s=0.02)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return make_bundle(tmp_path_factory.mktemp("bundle") / "b")


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    return make_video(tmp_path_factory.mktemp("video") / "clip.avi", 40)


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _detector_args() -> list[str]:
    """YuNet, the default detector, from the package: the file users get."""
    return ["--detector", "yunet"]


def test_run_cli_writes_one_line_per_frame(bundle, video, tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    rc = main(["run", str(bundle), "--source", str(video), "--headless", "--out", str(out), "--csv", str(tmp_path / "r.csv"),
               *_detector_args(), "--detect-every", "3", "--smoothing", "ema:0.6"])
    assert rc == 0
    lines = _lines(out)
    assert [r["index"] for r in lines] == list(range(40))
    assert lines[1]["timestamp"] == pytest.approx(0.1, abs=1e-3)
    faces = [f for r in lines for f in r["faces"]]
    assert len(faces) >= 38 and {f["track_id"] for f in faces} == {1}
    f = faces[0]
    assert set(f) >= {"track_id", "box", "label", "scores", "valence", "arousal", "eda", "raw_label"}
    assert f["label"] in ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")
    assert sum(f["scores"]) == pytest.approx(1.0, abs=1e-3) and -1 <= f["valence"] <= 1
    assert sum(1 for r in lines if "detect" in r["stage_ms"]) == 14  # frames 0, 3, 6, ... 39
    assert {"decode", "crop", "preprocess", "infer", "smooth"} <= set(lines[0]["stage_ms"])
    summary = json.loads((tmp_path / "r.summary.json").read_text())
    assert summary["frames"] == 40 and summary["last_index"] == 39 and summary["stop_reason"] == "end"
    assert summary["smoothing"] == "ema" and summary["smoothing_params"] == {"alpha": 0.6}
    assert {s["stage"] for s in summary["stages"]} >= {"detect", "infer", "total"}
    assert len((tmp_path / "r.csv").read_text().splitlines()) == 41
    assert "FPS" in capsys.readouterr().err


def test_batches_faces_and_static_batch_chunks(tmp_path):
    from edgeaffect.runtime.inference import Predictor
    from edgeaffect.runtime.stats import RunStats

    crops = [np.full((60, 50, 3), v, np.uint8) for v in (10, 120, 250)]
    results = []
    for batch in (None, 2):
        loaded = open_model(make_bundle(tmp_path / f"b{batch}", batch=batch))
        assert loaded.backend.batch_size == batch
        pred = Predictor(loaded.backend, loaded.bundle.meta, RunStats())
        results.append(pred.predict([1, 2, 3], crops, 0.0))
        assert pred.calls == (1 if batch is None else 2)  # one call per frame, or two padded chunks of 2
    for a, b in zip(*results):
        assert np.allclose(a.prediction.probs, b.prediction.probs, atol=1e-5)


def test_corrupted_video_is_processed_to_the_end(bundle, tmp_path):
    src = make_video(tmp_path / "ok.avi", 40)
    data = bytearray(src.read_bytes())
    mid = len(data) // 2
    data[mid - 3000:mid + 3000] = np.random.default_rng(0).integers(0, 256, 6000, dtype=np.uint8).tobytes()
    bad = tmp_path / "bad.avi"
    bad.write_bytes(bytes(data))
    summary = run(RunConfig(bundle=bundle, source=str(bad), out=tmp_path / "r.jsonl", detector="none"))
    lines = _lines(tmp_path / "r.jsonl")
    assert summary.bad_frames > 0 and summary.frames + summary.bad_frames == 40
    assert len(lines) == summary.frames and summary.stop_reason == "end"


def test_image_folder_skips_undecodable_files(bundle, tmp_path):
    folder = make_folder(tmp_path / "frames", 12)
    (folder / "frame_00005.jpg").write_bytes(b"not a jpeg")
    summary = run(RunConfig(bundle=bundle, source=str(folder), out=tmp_path / "r.jsonl", detector="haar",
                            csv=tmp_path / "r.csv", source_options=SourceOptions(folder_fps=25.0)))
    lines = _lines(tmp_path / "r.jsonl")
    assert summary.bad_frames == 1 and [r["index"] for r in lines] == [i for i in range(12) if i != 5]
    assert lines[-1]["timestamp"] == pytest.approx(11 / 25.0)
    assert sum(1 for r in lines if r["faces"]) >= 9
    # each line names its image, so a photo set is read by file, not by counting lines past a skipped one
    names = sorted(p.name for p in folder.iterdir() if p.name != "frame_00005.jpg")
    assert [r["file"] for r in lines] == names
    with open(tmp_path / "r.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["file"] for r in rows} == set(names) and list(rows[0])[-1] == "file"


def test_a_photo_of_another_size_is_another_scene(bundle, tmp_path):
    """The next photo of a folder of photos: no track (so no smoothing) carries over from the last one,
    and it is detected at once even between scheduled detection rounds."""
    import cv2

    from edgeaffect.runtime.smoothing import SmoothingSpec

    folder = make_folder(tmp_path / "photos", 8)
    for i in (3, 4, 6):  # 3 and 4 share a size: the same scene goes on between them
        path = folder / f"frame_{i:05d}.jpg"
        cv2.imwrite(str(path), cv2.resize(cv2.imread(str(path)), (400, 300)))
    run(RunConfig(bundle=bundle, source=str(folder), out=tmp_path / "r.jsonl", detector="haar", detect_every=4,
                  smoothing=SmoothingSpec.parse("ema:0.5")))
    lines = _lines(tmp_path / "r.jsonl")
    ids = [r["faces"][0]["track_id"] if r["faces"] else None for r in lines]
    assert None not in ids, ids  # frames 3, 5 and 6 are off the every-4 schedule: detected at once anyway
    assert ids[0] == ids[1] == ids[2] and ids[3] == ids[4] and len({ids[2], ids[3], ids[5], ids[6]}) == 4, ids
    assert all(r["faces"][0]["detected"] for r in lines[3:7])


def test_another_photo_of_the_same_size_is_another_scene(bundle, tmp_path):
    """Unrelated photos of one size (a photo set resized alike): the face sits where the last photo's did,
    but no track or smoothing carries over; a sequence of frames in a folder still tracks."""
    import cv2

    from edgeaffect.runtime.smoothing import SmoothingSpec

    folder = make_folder(tmp_path / "photos", 6)
    for i in (3, 4):  # another photo: same place and size of face, another room (a sequence of two frames)
        path = folder / f"frame_{i:05d}.jpg"
        image = cv2.imread(str(path))
        face = image[56:184, 60 + i:188 + i].copy()  # where face_frame pastes the 128 px face of frame i
        image[:] = (210, 180, 40)
        image[56:184, 60 + i:188 + i] = face
        cv2.imwrite(str(path), image)
    run(RunConfig(bundle=bundle, source=str(folder), out=tmp_path / "r.jsonl", detector="haar", detect_every=4,
                  smoothing=SmoothingSpec.parse("ema:0.5")))
    lines = _lines(tmp_path / "r.jsonl")
    ids = [r["faces"][0]["track_id"] if r["faces"] else None for r in lines]
    assert None not in ids, ids
    assert ids[0] == ids[1] == ids[2] and ids[3] == ids[4] and len({ids[2], ids[3], ids[5]}) == 3, ids
    assert lines[3]["faces"][0]["detected"] and lines[5]["faces"][0]["detected"]  # off the every-4 schedule


def test_failing_camera_is_retried_then_reported(bundle, tmp_path):
    source = open_source("camera:97", FAST_RETRY)  # a real OpenCV capture on a device that does not exist
    with pytest.raises(SourceError, match="gave up after 2 retries") as failed:
        list(source.frames())
    assert source.counters.retries == 3 and source.counters.frames == 0
    if sys.platform.startswith("linux") and not Path("/dev/video97").exists():
        assert "/dev/video97 does not exist" in str(failed.value)  # why, not only that


def test_dropped_stream_reconnects_and_vanished_stream_ends_the_run(bundle, video, tmp_path):
    copy = tmp_path / "live.avi"
    shutil.copy(video, copy)
    source = open_source(f"stream:{copy}", FAST_RETRY)  # end of file = a dropped stream for a live source
    indices = []
    with pytest.raises(SourceError):
        for frame in source.frames():
            indices.append(frame.index)
            if source.counters.reconnects >= 1 and copy.exists():
                copy.unlink()  # the stream comes back once, then disappears for good
            time.sleep(0.1 if len(indices) == 1 else 0.002)  # a slow consumer: stale frames are dropped, not queued
    assert source.counters.reconnects >= 1 and source.counters.retries == 3
    assert source.counters.dropped > 0 and indices == sorted(set(indices)) and indices[1] > 1
    # the same through the pipeline: a run that got no frame writes nothing (no results, summary or lock)
    with pytest.raises(SourceError):
        run(RunConfig(bundle=bundle, source=f"stream:{tmp_path / 'gone.avi'}", out=tmp_path / "r.jsonl",
                      detector="none", source_options=FAST_RETRY))
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_sigterm_leaves_complete_results(bundle, tmp_path):
    folder = make_folder(tmp_path / "frames", 400)
    out = tmp_path / "r.jsonl"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-m", "edgeaffect", "run", str(bundle), "--source", str(folder),
                             "--headless", "--out", str(out), "--detector", "haar", "--smoothing", "majority:5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.time() + 60
    partial = out.with_name(out.name + ".partial")  # results stream there until the run ends cleanly
    while time.time() < deadline and (not partial.exists() or len(partial.read_text().splitlines()) < 5):
        time.sleep(0.05)
    proc.send_signal(signal.SIGUSR1)  # statistics on demand, the run goes on
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "interrupted (SIGTERM)" in err.decode(), err.decode()  # stopped, not done
    assert not partial.exists()  # a signal is a clean end: the results were renamed into place
    assert err.decode().count("frames in") == 2  # the SIGUSR1 report and the final one
    lines = _lines(out)  # every line parses
    summary = json.loads((tmp_path / "r.summary.json").read_text())
    assert summary["stop_reason"] == "signal SIGTERM"
    assert 5 <= len(lines) == summary["frames"] < 400
    assert lines[-1]["index"] == summary["last_index"] == len(lines) - 1


def test_signal_model_writes_an_eda_trace(tmp_path, video):
    bundle = make_bundle(tmp_path / "eda", kind="signal", frames=8, fps=5.0, stride=4)
    summary = run(RunConfig(bundle=bundle, source=str(video), out=tmp_path / "r.jsonl", detector="none",
                            smoothing=SmoothingSpec.parse("oneeuro")))
    lines = _lines(tmp_path / "r.jsonl")
    faces = [r["faces"][0] for r in lines]
    # 10 fps video, 5 fps model: samples every 2nd frame, window of 8 full at frame 14, then every 4 samples
    assert [i for i, f in enumerate(faces) if f["inferred"]] == [14, 22, 30, 38]
    assert all(f["eda"] is None for f in faces[:14]) and all(f["eda"] is not None for f in faces[14:])
    assert summary.frames == 40


def test_bundle_checks_and_tool_versions(tmp_path):
    folder = make_bundle(tmp_path / "b", tools={"onnxruntime": "1.20.0"})
    open_model(folder)  # older builder than installed: fine
    trt = make_bundle(tmp_path / "trt", tools={"tensorrt": "8.2.1"})
    manifest = json.loads((trt / "manifest.json").read_text())
    from edgeaffect.bundle import Bundle, Manifest
    from edgeaffect.meta import ModelMeta
    from edgeaffect.runtime import loader

    engine = Bundle(trt, ModelMeta.load(trt), Manifest.from_dict({**manifest, "format": "tensorrt"}))
    # the device's TensorRT is given explicitly: CI machines have none installed
    with pytest.raises(BundleError, match="build_engine.sh"):
        loader.check_tool_versions(engine, "tensorrt", installed="10.3.0")
    loader.check_tool_versions(engine, "tensorrt", installed="8.2.5")  # same major.minor: the engine loads
    ov = Bundle(trt, engine.meta, Manifest.from_dict({**manifest, "format": "openvino", "tools": {"openvino": "2027.1.0"}}))
    with pytest.raises(BundleError, match="openvino 2027.1.0"):
        loader.check_tool_versions(ov, "openvino", installed="2026.4.0")
    (folder / "model.onnx").write_bytes(b"tampered")
    with pytest.raises(BundleError, match="checksum"):
        open_model(folder)


def test_privacy_nothing_saved_unless_asked(bundle, video, tmp_path):
    before = set(tmp_path.rglob("*"))
    run(RunConfig(bundle=bundle, source=str(video), detector="none", max_frames=5))
    assert set(tmp_path.rglob("*")) == before
    summary = run(RunConfig(bundle=bundle, source=str(video), detector="none", max_frames=5,
                            save_crops=tmp_path / "crops", save_video=tmp_path / "v.avi"))
    assert summary.stop_reason == "max_frames" and summary.frames == 5
    assert len(list((tmp_path / "crops").rglob("*.png"))) == 5 and (tmp_path / "v.avi").stat().st_size > 0


def test_vanished_folder_is_waited_for(tmp_path):
    import threading

    folder = make_folder(tmp_path / "frames", 6)
    source = open_source(str(folder), SourceOptions(max_retries=6, backoff_s=0.05, backoff_max_s=0.1))
    frames = source.frames()
    assert next(frames).index == 0
    folder.rename(tmp_path / "away")  # e.g. a network share dropping out
    threading.Timer(0.12, lambda: (tmp_path / "away").rename(folder)).start()
    rest = [f.index for f in frames]
    assert rest == [1, 2, 3, 4, 5] and source.counters.reconnects == 1 and source.counters.retries >= 1


def test_missing_backend_library_names_the_extra(bundle, video, tmp_path):
    code = ("import sys; sys.modules['openvino'] = None\n"
            "from edgeaffect.cli import main\n"
            f"sys.exit(main(['run', {str(bundle)!r}, '--source', {str(video)!r}, '--headless', '--detector', 'none',"
            " '--backend', 'openvino']))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "pip install 'edgeaffect[openvino]'" in done.stderr and "Traceback" not in done.stderr


def test_looped_video_keeps_counting(bundle, video, tmp_path):
    summary = run(RunConfig(bundle=bundle, source=str(video), out=tmp_path / "r.jsonl", detector="none", max_frames=100,
                            source_options=SourceOptions(loop=True)))
    lines = _lines(tmp_path / "r.jsonl")
    assert summary.stop_reason == "max_frames" and [r["index"] for r in lines] == list(range(100))
    stamps = [r["timestamp"] for r in lines]
    assert all(b - a == pytest.approx(0.1, abs=1e-3) for a, b in zip(stamps, stamps[1:]))  # 10 fps across the seams


def test_jsonl_to_stdout_for_pipes(bundle, video, capsys):
    assert main(["run", str(bundle), "--source", str(video), "--headless", "--out", "-", "--detector", "none",
                 "--max-frames", "3"]) == 0
    out = capsys.readouterr().out
    assert [json.loads(line)["index"] for line in out.splitlines()] == [0, 1, 2]  # nothing else on stdout
