"""Runtime building blocks on synthetic inputs: smoothing, tracker, stats, clip buffers, heads (the crop: test_crop.py)."""
from __future__ import annotations


import numpy as np
import pytest

from edgeaffect.detectors import Face
from edgeaffect.errors import ConfigError
from edgeaffect.meta import Head, ModelMeta, Temporal
from edgeaffect.runtime.postprocess import decode
from edgeaffect.runtime.smoothing import SmoothingSpec
from edgeaffect.runtime.stats import LatencyHistogram
from edgeaffect.runtime.temporal import ClipBuffer
from edgeaffect.runtime.tracker import IouTracker


def _onehot(i: int, n: int = 3) -> np.ndarray:
    p = np.full(n, 0.05)
    p[i] = 0.9
    return p / p.sum()


def test_smoothing_spec_parses_and_rejects():
    assert SmoothingSpec.parse("ema:0.6").params == {"alpha": 0.6}
    assert str(SmoothingSpec.parse("majority:5")) == "majority:5"
    assert SmoothingSpec.parse("oneeuro").params == {}
    for bad in ("kalman", "ema:x", "majority:1,2", "ema:1.5"):
        with pytest.raises(ConfigError):
            SmoothingSpec.parse(bad).build()


def test_ema_follows_the_formula():
    ema = SmoothingSpec.parse("ema:0.25").build()
    out = [ema.update(i / 30, None, np.array([v, -v])).va[0] for i, v in enumerate([1.0, 0.0, 0.0])]
    assert out == pytest.approx([1.0, 0.75, 0.5625])


def test_none_passes_through_and_ema_delays_a_label_flip():
    raw = SmoothingSpec.parse("none").build()
    ema = SmoothingSpec.parse("ema:0.3").build()
    seq = [0] * 5 + [1] * 5
    raw_labels = [raw.update(i / 30, _onehot(k), None).label for i, k in enumerate(seq)]
    ema_labels = [ema.update(i / 30, _onehot(k), None).label for i, k in enumerate(seq)]
    assert raw_labels == seq
    assert ema_labels[5] == 0 and ema_labels[-1] == 1  # one frame of the new class is not enough


def test_majority_ignores_a_single_outlier():
    maj = SmoothingSpec.parse("majority:5").build()
    seq = [0, 0, 2, 0, 0, 1, 1, 1, 1]
    labels = [maj.update(i / 30, _onehot(k), np.array([k, 0.0])).label for i, k in enumerate(seq)]
    assert labels[2] == 0  # the lone 2 is voted down
    assert labels[5] == 0  # one vote for the new class is not enough
    assert labels[6] == 1  # a 2-2 tie goes to the most recent
    out = maj.update(1.0, _onehot(1), np.array([1.0, 0.0]))
    assert out.va[0] == pytest.approx(1.0)  # median of the window


def test_one_euro_steadies_noise_but_follows_a_step():
    rng = np.random.default_rng(0)
    f = SmoothingSpec.parse("oneeuro:1.0,0.5").build()
    t = np.arange(300) / 30.0
    noisy = 0.3 + rng.normal(0, 0.1, 150)
    out = np.array([f.update(ti, None, np.array([v, v])).va[0] for ti, v in zip(t[:150], noisy)])
    assert out[30:].std() < 0.5 * noisy[30:].std()
    stepped = [f.update(ti, None, np.array([0.9, 0.9])).va[0] for ti in t[150:]]
    assert stepped[-1] == pytest.approx(0.9, abs=0.02)


# -- tracker ------------------------------------------------------------------------------
def test_tracker_keeps_ids_and_expires_tracks():
    tr = IouTracker(iou_threshold=0.3, max_missed=2)
    a, b = Face(10, 10, 50, 50), Face(200, 10, 50, 50)
    first = tr.update((a, b), 0)
    ids = {t.face.x: t.id for t in first}
    moved = tr.update((Face(214, 12, 50, 50), Face(18, 11, 50, 50)), 2)  # order swapped, both moved
    assert {t.id for t in moved} == set(ids.values())
    assert next(t.id for t in moved if t.face.x == 18) == ids[10]
    predicted = tr.predict(3)  # between detections the boxes keep moving with their velocity
    assert next(t.face.x for t in predicted if t.id == ids[10]) > 18
    for k in range(3):
        tr.update((Face(214, 12, 50, 50),), 4 + k)
    assert ids[10] not in tr.live_ids and ids[10] in tr.expired + [ids[10]]
    new = tr.update((Face(18, 11, 50, 50),), 10)
    assert new[0].id not in ids.values()  # an expired track does not come back under its old id


# -- stats, clips, heads -------------------------------------------------------------------
def test_latency_histogram_percentiles():
    h = LatencyHistogram()
    for v in np.linspace(1.0, 100.0, 1000):
        h.add(float(v))
    s = h.summary("x")
    assert s.count == 1000 and s.mean_ms == pytest.approx(50.5, rel=1e-3)
    assert s.p50_ms == pytest.approx(50.5, rel=0.01) and s.p99_ms == pytest.approx(99.0, rel=0.01)



def test_run_stats_count_cpu_from_the_first_frame():
    import time

    from edgeaffect.runtime.stats import RunStats

    stats = RunStats()
    sum(i * i for i in range(200_000))  # work before the first frame (opening the model) is not the loop's
    assert stats.cpu_seconds == 0.0
    stats.begin_frame()
    t = time.process_time()
    sum(i * i for i in range(200_000))
    spent = time.process_time() - t
    stats.frame_done(1.0)
    assert 0.5 * spent <= stats.cpu_seconds <= spent + 0.05


def test_onnxruntime_threads_follow_the_cores_the_process_may_use(monkeypatch, tmp_path):
    """Pinned to one core of two, ONNX Runtime's own default would run two threads there."""
    pytest.importorskip("onnxruntime")
    import edgeaffect.runtime.backends.onnxruntime as ort_backend
    from runtime_support import make_bundle

    bundle = make_bundle(tmp_path / "b", kind="classification")
    meta = ModelMeta.load(bundle / "meta.json")
    monkeypatch.setattr(ort_backend.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(ort_backend, "usable_cores", lambda: 1)
    pinned = ort_backend.OnnxRuntimeBackend(bundle / "model.onnx", meta)
    assert pinned._session.get_session_options().intra_op_num_threads == 1
    asked = ort_backend.OnnxRuntimeBackend(bundle / "model.onnx", meta, threads=2)
    assert asked._session.get_session_options().intra_op_num_threads == 2
    monkeypatch.setattr(ort_backend, "usable_cores", lambda: 2)  # the whole machine: ORT's own default
    whole = ort_backend.OnnxRuntimeBackend(bundle / "model.onnx", meta)
    assert whole._session.get_session_options().intra_op_num_threads == 0

def test_clip_buffer_resamples_camera_rate_to_model_rate():
    meta = ModelMeta(model="m", task="signal", input_size=(4, 4), color="rgb", heads=(Head("eda", "signal", 4),),
                     temporal=Temporal(frames=4, fps=10.0, stride=2))
    buf = ClipBuffer(meta)
    taken, runs = 0, 0
    for i in range(60):  # 2 s of a 30 fps camera -> 20 samples at 10 fps
        t = i / 30.0
        if buf.wants(t):
            buf.push(t, np.zeros((3, 4, 4), np.float32))
            taken += 1
            if buf.ready():
                assert buf.take().shape == (3, 4, 4, 4)
                runs += 1
    assert taken == 20
    assert runs == 1 + (20 - 4) // 2  # first full window, then every stride samples


def test_decode_reads_heads_by_meta():
    meta = ModelMeta(model="m", task="multitask", input_size=(8, 8), color="gray", labels=("a", "b"),
                     heads=(Head("logits", "logits", 2), Head("arousal", "regression", 1)))
    preds = decode(meta, (np.array([[0.0, 2.0], [3.0, 0.0]]), np.array([[0.4], [-0.2]])), 2)
    assert np.argmax(preds[0].probs) == 1 and preds[0].probs.sum() == pytest.approx(1.0)
    assert np.isnan(preds[1].va[0]) and preds[1].va[1] == pytest.approx(-0.2)


def test_open_source_picks_the_kind(tmp_path):
    from edgeaffect._optional import available
    from edgeaffect.errors import MissingExtraError, SourceError
    from edgeaffect.runtime.sources import open_source

    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "v.avi").write_bytes(b"")
    assert open_source("0").kind == "camera"
    assert open_source("rtsp://127.0.0.1:8554/cam").kind == "stream"
    assert open_source("videotestsrc ! videoconvert ! appsink").kind == "stream"
    assert open_source(str(tmp_path)).kind == "folder"
    assert open_source(str(tmp_path / "v.avi")).kind == "video"
    assert open_source(f"stream:{tmp_path / 'v.avi'}").kind == "stream"
    with pytest.raises(SourceError, match="cannot open source"):
        open_source(str(tmp_path / "missing.mp4"))
    if not available("picamera2"):
        with pytest.raises(MissingExtraError, match="edgeaffect\\[picamera\\]"):
            open_source("picamera:")
