"""``edgeaffect run BUNDLE --pulse pos``: expression and heart rate per track from one loop, real ONNX Runtime."""
from __future__ import annotations

import json

import numpy as np
import pytest

from edgeaffect.errors import ConfigError
from edgeaffect.runtime.pipeline import RunConfig, run
from edgeaffect.runtime.pulse import PulseOptions
from tests.pulse_support import face_frames, write_video
from tests.runtime_support import make_bundle

HR, FPS, SECONDS, WINDOW = 72.0, 30.0, 11.0, 8.0


def test_lines_carry_expression_and_heart_rate_once_the_window_is_full(tmp_path):
    bundle = make_bundle(tmp_path / "bundle", kind="multitask")
    times = np.arange(int(SECONDS * FPS)) / FPS
    video = write_video(tmp_path / "face.avi", face_frames(times, HR), FPS)
    out, table = tmp_path / "r.jsonl", tmp_path / "r.csv"
    summary = run(RunConfig(bundle=bundle, source=str(video), out=out, csv=table, detector="haar",
                            pulse=PulseOptions(estimator="pos", window_s=WINDOW)))
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    faces = [(line["timestamp"], line["faces"][0]) for line in lines if line["faces"]]
    assert len(faces) > 0.9 * len(lines) == 0.9 * summary.frames
    assert all(f["label"] and len(f["scores"]) == 8 for _, f in faces)  # the expression model ran on every face
    early = [f for t, f in faces if t < 0.9 * WINDOW]
    late = [f for t, f in faces if t >= WINDOW + 0.5]
    assert early and all(f["heart_rate"] is None for f in early)  # nothing from a half-full window
    assert late and all(abs(f["heart_rate"] - HR) < 2.0 for f in late), [f["heart_rate"] for f in late]
    assert all(f["pulse_snr"] is not None for f in late)
    pulse = summary.stage("pulse")
    assert pulse.count == summary.frames and pulse.mean_ms > 0
    saved = json.loads(out.with_name("r.summary.json").read_text())
    assert saved["config"]["pulse"]["estimator"] == "pos"
    import csv

    rows = list(csv.DictReader(table.open()))  # the CSV carries the heart rate too, empty until the window fills
    assert rows[0]["heart_rate"] == "" and abs(float(rows[-1]["heart_rate"]) - HR) < 2.0 and rows[-1]["pulse_snr"]


def test_pulse_options_reject_unknown_estimator_and_short_window():
    with pytest.raises(ConfigError, match="unknown pulse estimator"):
        PulseOptions(estimator="ica")
    with pytest.raises(ConfigError, match="at least"):
        PulseOptions(estimator="pos", window_s=2.0)
