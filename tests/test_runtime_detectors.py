"""Face detectors on generated frames with a face pasted in, and the pinned model download."""
from __future__ import annotations

import functools
import http.server
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from edgeaffect import modelcache
from edgeaffect._optional import available
from edgeaffect.cli import main
from edgeaffect.detectors import DETECTORS, Face, create_detector
from edgeaffect.errors import ConfigError
from edgeaffect.io import sha256_file
from runtime_support import face_frame, face_image


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    return face_frame(0, face_image())


def _inside(face, x0: float, x1: float, y0: float, y1: float) -> bool:
    cx, cy = face.x + face.w / 2, face.y + face.h / 2
    return x0 < cx < x1 and y0 < cy < y1


def test_yunet_finds_the_face_with_landmarks(yunet_model, frame):
    det = create_detector("yunet", model=yunet_model)
    faces = det.detect(frame)
    assert len(faces) == 1
    f = faces[0]
    assert _inside(f, 60, 188, 56, 184) and 60 < f.w < 180 and f.score > 0.6
    assert f.landmarks[0][0] < f.landmarks[1][0]  # subject's right eye is on the image left
    assert det.detect(np.full((240, 320, 3), 100, np.uint8)) == ()
    small = create_detector("yunet", model=yunet_model, max_side=160).detect(frame)
    assert small and abs(small[0].x - f.x) < 12  # boxes scaled back to the full frame


def test_haar_finds_the_face(frame):
    faces = create_detector("haar").detect(frame)
    assert faces and _inside(faces[0], 60, 188, 56, 184)


@pytest.mark.skipif(not available("dlib"), reason="dlib (face extra) not installed")
def test_dlib_hog_finds_the_face(frame):
    import cv2

    faces = create_detector("dlib", upsample=1).detect(cv2.resize(frame, (640, 480)))
    assert faces and _inside(faces[0], 120, 376, 112, 368)


# Every registered detector, with the options its test builds it with: a detector added to the
# registry without a row here fails test_every_registered_detector_is_tested.
DETECTOR_CASES = {"yunet": {}, "haar": {}, "dlib": {"upsample": 1}, "none": {}}


def test_every_registered_detector_is_tested():
    assert set(DETECTOR_CASES) == set(DETECTORS)


@pytest.mark.parametrize("name", sorted(DETECTOR_CASES))
def test_detector_contract(name, frame, request):
    """Any detector: its registered name, a tuple of Face best first, BGR and gray frames, nothing in a blank frame."""
    import cv2

    options = dict(DETECTOR_CASES[name])
    if name == "yunet":
        options["model"] = request.getfixturevalue("yunet_model")
    if name == "dlib" and not available("dlib"):
        pytest.skip("dlib (face extra) not installed")
    det = create_detector(name, **options)
    assert det.name == name
    for image in (frame, cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)):
        faces = det.detect(image)
        assert isinstance(faces, tuple) and all(isinstance(f, Face) for f in faces)
        assert [f.score for f in faces] == sorted((f.score for f in faces), reverse=True)
    blank = det.detect(np.full((240, 320, 3), 100, np.uint8))
    assert blank == ((Face(0.0, 0.0, 320.0, 240.0, 1.0),) if name == "none" else ())


def test_yunet_ships_with_the_package_and_matches_the_model_table(tmp_path, frame):
    path = modelcache.packaged_path("yunet")
    entry = modelcache.MODELS["yunet"]
    assert path is not None and sha256_file(path) == entry.sha256 and path.stat().st_size == entry.size
    assert (path.parent / "LICENSE-yunet.txt").is_file()  # MIT: the licence travels with the copy
    shared = os.environ.get("EDGEAFFECT_TEST_MODELS")
    if shared and (Path(shared) / entry.filename).is_file():
        assert sha256_file(Path(shared) / entry.filename) == entry.sha256
    # an empty cache falls back to the shipped copy: no download needed
    det = create_detector("yunet", cache_dir=tmp_path)
    assert det.path == path and det.detect(frame)


def test_yunet_with_a_missing_model_file_says_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match="not at .*missing.onnx"):
        create_detector("yunet", model=tmp_path / "missing.onnx")


def test_models_fetch_of_a_shipped_model_needs_no_network(tmp_path, capsys):
    assert main(["models", "fetch", "yunet", "--dest", str(tmp_path)]) == 2
    assert "nothing to download" in capsys.readouterr().err


@pytest.fixture
def model_server(yunet_model):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(yunet_model.parent))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{yunet_model.name}"
    server.shutdown()
    server.server_close()


def test_models_fetch_checks_the_hash(model_server, yunet_model, tmp_path, frame):
    digest = sha256_file(yunet_model)
    assert main(["models", "fetch", "yunet", "--url", model_server, "--sha256", digest, "--dest", str(tmp_path)]) == 0
    cached = modelcache.cached_path("yunet", tmp_path)
    assert cached is not None and sha256_file(cached) == digest
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
    assert create_detector("yunet", cache_dir=tmp_path).detect(frame)  # the cache feeds the detector


def test_models_fetch_refuses_a_wrong_hash(model_server, tmp_path, capsys):
    # without --sha256 the pinned upstream hash of the 2023 build applies, which the shipped 2026 file does not have
    assert main(["models", "fetch", "yunet-2023mar", "--url", model_server, "--dest", str(tmp_path)]) == 2
    assert "sha256" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nothing kept, not even the partial download


def test_models_list_shows_the_cache(tmp_path, capsys):
    assert main(["models", "list", "--dest", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "ships with edgeaffect" in out and "not fetched" in out and str(tmp_path) in out
    assert modelcache.MODELS["yunet-2023mar"].sha256 == "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"


def test_yunet_detects_on_a_downscaled_copy_by_default_and_maps_back(yunet_model):
    import cv2

    # a face of 200 px in a 640x480 frame, 100 px on the copy YuNet sees (a tightly cropped FER+ face of
    # 128 px shrinks to 64 px there, at the edge of what YuNet finds without forehead and chin around it)
    big = face_frame(0, cv2.resize(face_image(), (200, 200)), (640, 480))
    default = create_detector("yunet", model=yunet_model)
    full = create_detector("yunet", model=yunet_model, max_side=None).detect(big)
    small = default.detect(big)
    assert default.max_side == 320 and default._size == (320, 240)  # the network ran on the half-size copy
    assert len(small) == len(full) == 1
    a, b = small[0], full[0]
    # in full-frame pixels: the box of a face cut at brow and chin moves most (its top and bottom are guesses)
    assert max(abs(a.x - b.x), abs(a.w - b.w)) < 0.1 * b.w and max(abs(a.y - b.y), abs(a.h - b.h)) < 0.15 * b.h
    assert abs(a.landmarks[2][0] - b.landmarks[2][0]) < 0.1 * b.w  # the nose tip


@pytest.mark.skipif(not available("onnxruntime"), reason="onnxruntime not installed")
def test_yunet_engines_find_the_same_faces(yunet_model, frame, tmp_path):
    """ONNX Runtime with edgeaffect's decoding gives FaceDetectorYN's boxes, landmarks and scores."""
    import cv2

    from runtime_support import two_face_video

    cap = cv2.VideoCapture(str(two_face_video(tmp_path / "two.avi", 12)))
    frames = [frame, np.full((240, 320, 3), 100, np.uint8), cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)]
    while (got := cap.read())[0]:
        frames.append(got[1])
    frames.append(cv2.resize(frames[-1], (150, 70)))  # neither side a multiple of 32: both engines pad
    frames.append(cv2.resize(frames[-2], (96, 48)))  # a two-face region tile: the one-thread session's size
    threads = cv2.getNumThreads()
    cv2.setNumThreads(2)  # the ONNX Runtime engine opens a one-thread session for tiles beside its two-thread one
    try:
        cv_det, ort_det = (create_detector("yunet", model=yunet_model, engine=e) for e in ("opencv", "onnxruntime"))
    finally:
        cv2.setNumThreads(threads)
    assert (cv_det.engine, ort_det.engine) == ("opencv", "onnxruntime")
    found = 0
    for image in frames:
        a, b = cv_det.detect(image), ort_det.detect(image)
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert np.allclose(x.box, y.box, atol=1e-2) and abs(x.score - y.score) < 1e-4
            assert np.allclose(x.landmarks, y.landmarks, atol=1e-2)
        found += len(a)
    assert found >= 2 * 12 + 2  # both faces of every video frame, the pasted face in colour and gray
    with pytest.raises(ConfigError, match="engine"):
        create_detector("yunet", model=yunet_model, engine="tpu")
