"""A trained video model's output read as a pulse wave and scored against a recording's contact sensor.

``edgeaffect eval RUN --pulse model --data RECORDING`` for a run of PhysNet, DeepPhys or any
clip model with one per-frame signal head: faces are detected in every frame
and cut as the run cuts them (``runtime.crop``: the model's recorded framing and
interpolation through the one ``facecrop.cut`` the training crops came from), sampled at the model's frame rate by
the frames' own timestamps, fed in consecutive clips of the model's length,
and the stitched output trace is scored per window like an estimator's wave
(``bench.pulse.score``).  The report names the head: a model trained to
predict EDA is scored too, so its figures say in numbers that it gives no
heart rate; a model fed the sensor's BVP as an input (SeqCNN-BVP) is refused,
as its output would not come from the video alone.  A head trained on the
derivative is integrated to its level first, as every consumer does.
"""
from __future__ import annotations

import numpy as np

from edgeaffect.errors import ConfigError
from edgeaffect.signal_level import levels


def _model_trace(model, meta, times: np.ndarray, crops: list) -> tuple[np.ndarray, np.ndarray]:
    """(times, output) of the model over the recording: clips of ``frames`` crops at ``fps``, end to end."""
    import torch

    from edgeaffect.preprocess import prepare_clip
    from edgeaffect.pulse.trace import MAX_GAP_S

    ok = np.isfinite(times) & np.array([c is not None for c in crops])
    t_ok = times[ok]
    idx_ok = np.flatnonzero(ok)
    if len(t_ok) < 2:
        return np.zeros(0), np.zeros(0)
    frames, fps = meta.temporal.frames, meta.temporal.fps
    grid = t_ok[0] + np.arange(int((t_ok[-1] - t_ok[0]) * fps) + 1) / fps
    nearest = np.clip(np.searchsorted(t_ok, grid), 1, len(t_ok) - 1)
    nearest = np.where(np.abs(t_ok[nearest - 1] - grid) <= np.abs(t_ok[nearest] - grid), nearest - 1, nearest)
    out_t, out_v = [], []
    with torch.no_grad():
        for start in range(0, len(grid) - frames + 1, frames):
            sel = nearest[start:start + frames]
            gap = np.abs(t_ok[sel] - grid[start:start + frames]).max()
            values = np.full(frames, np.nan)
            if gap <= MAX_GAP_S:  # a clip spanning a lost face gives no output rather than a made-up one
                clip = prepare_clip([crops[idx_ok[i]] for i in sel], meta)
                values = model(torch.from_numpy(clip)[None])[0][0].numpy().astype(np.float64)
            out_t.append(grid[start:start + frames])
            out_v.append(values)
    if not out_t:
        return np.zeros(0), np.zeros(0)
    # the model's first output, as a level: a derivative head's is integrated along the recording
    trace = levels(meta.heads[0].target, np.stack(out_v), fps, continuous=True)
    return np.concatenate(out_t), trace.ravel()


def evaluate_run_pulse(run, opts):
    """PulseEvalReport of a run's video model on the recordings of ``opts.data``."""
    from tqdm import tqdm

    from edgeaffect.bench.pulse import PulseEvalReport, face_pass, open_recordings, score
    from edgeaffect.meta import HeadKind
    from edgeaffect.runtime.crop import CropOptions, crop_face
    from edgeaffect.pulse.trace import wave_rate
    from edgeaffect.train.checkpoint import load_model

    model, meta = load_model(run)
    heads = [h for h in meta.heads if h.kind is HeadKind.SIGNAL]
    if meta.temporal is None or not heads:
        raise ConfigError(f"{run} holds '{meta.model}', which outputs no per-frame signal",
                          "score a video model (PhysNet, DeepPhys), or name an estimator: eval --pulse pos --data ...")
    if meta.extra_inputs:
        raise ConfigError(f"'{meta.model}' also takes {list(meta.extra_inputs)} as input, so its output does not "
                          "come from the video alone", "score a video-only model, or an estimator (eval --pulse pos)")
    index, detector = open_recordings(opts)
    crop = CropOptions().for_model(meta)
    spans, found = [], {}
    for record in tqdm(index.split(opts.split), desc="face crops", unit="recording", disable=not opts.progress):
        crops, found[record.key] = face_pass(record, detector, lambda f, box: crop_face(f, box, crop))
        t, v = _model_trace(model, meta, np.asarray(record.frame_times, dtype=np.float64), crops)

        def rate(a: float, b: float, t=t, v=v):
            inside = (t >= a) & (t <= b)
            return wave_rate(t[inside], v[inside], span=(a, b), keep_wave=True)

        spans.append((record.key, np.asarray(record.frame_times, dtype=np.float64), record.bvp, rate))
    name = f"{meta.model} ({heads[0].name} head, {meta.temporal.frames} frames at {meta.temporal.fps:g} fps)"
    report = score(name, spans, opts.window_s, opts.hop_s)
    return PulseEvalReport(data=str(index.root), format=index.format, window_s=opts.window_s, hop_s=opts.hop_s,
                           detector=opts.detector, recordings=len(spans), faces_found=found, estimators=(report,))
