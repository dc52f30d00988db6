"""A trained video model's output scored as a pulse wave against a recording (real PhysNet, real checkpoint)."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgeaffect.bench.pulse import PulseEvalOptions  # noqa: E402
from edgeaffect.errors import ConfigError  # noqa: E402
from edgeaffect.train.checkpoint import save_checkpoint  # noqa: E402
from edgeaffect.train.pulse_eval import evaluate_run_pulse  # noqa: E402
from edgeaffect.train.registry import create_model  # noqa: E402
from tests.pulse_support import face_frames, jittered_times, pulse, write_physrecorder  # noqa: E402


def _checkpoint(path, name: str, **kwargs):
    torch.manual_seed(0)
    model = create_model(name, **kwargs)
    return save_checkpoint(path, model=model, epoch=0, best=None, config={})


def test_video_model_output_is_scored_per_window_and_names_its_head(tmp_path):
    times = jittered_times(11.0, fps=15.0, seed=5)
    sig_t = np.arange(0, 11.0, 0.05)
    rec = write_physrecorder(tmp_path / "rec", face_frames(times, 75.0, size=96), times, sig_t, pulse(sig_t, 75.0))
    ckpt = _checkpoint(tmp_path / "physnet.pt", "physnet", frames=16, input_size=32, fps=8.0)
    report = evaluate_run_pulse(ckpt, PulseEvalOptions(estimators=(), data=str(rec), detector="haar",
                                                       progress=False))
    (est,) = report.estimators
    assert est.estimator.startswith("physnet (eda head, 16 frames at 8 fps)")
    assert report.faces_found["rec"] > 0.9
    (window,) = est.windows  # one full 10 s window in 11 s
    assert abs(window.reference_bpm - 75.0) < 1.5
    assert est.metrics["scored"] + est.metrics["no_estimate"] == 1
    if est.metrics["scored"]:  # an untrained model's trace still gives a number in the pulse band
        assert 42.0 <= window.estimate_bpm <= 210.0


def test_model_fed_the_sensor_signal_is_refused(tmp_path):
    ckpt = _checkpoint(tmp_path / "seqcnn.pt", "seqcnn_bvp", frames=16, input_size=32)
    with pytest.raises(ConfigError, match="not come from the video alone"):
        evaluate_run_pulse(ckpt, PulseEvalOptions(estimators=(), data=str(tmp_path), progress=False))
