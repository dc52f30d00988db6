"""Synthetic face videos with physiological ground truth, in the UBFC-Phys layout.

Each subject gets three task videos (T1 rest, T2 speech, T3 arithmetic) with a
BVP trace (64 Hz) and an EDA trace (4 Hz) beside them, as in UBFC-Phys:
``s{N}/vid_s{N}_T{k}.avi`` (MJPG), ``s{N}/bvp_s{N}_T{k}.csv`` and
``s{N}/eda_s{N}_T{k}.csv`` (headerless, one value per line).

The face carries the signals the way a camera sees them: the skin colour
follows the BVP trace (a ~1% mostly-green modulation, as in remote PPG), and
the normalised EDA drives a slow flush and facial tension (lowered, knit brows,
pressed mouth).  Stressful tasks raise the EDA level.  Head sway, blinks,
talking and sensor noise make it a learning task rather than a lookup.  The
traces are windows of a real Empatica E4 recording when one is available
(``e4_root`` or ``$EDGEAFFECT_DATA/empatica_e4_sample``), else generated.
Torch-free.
"""
from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from edgeaffect.data.facedraw import FaceParams, render_body, render_face
from edgeaffect.data.signals import Signal, read_e4_csv, synth_bvp, synth_eda, values_at
from edgeaffect.data.synthetic import Subject, background
from edgeaffect.errors import DataError, check_range
from edgeaffect.io import atomic_write_text, sha256_file

log = logging.getLogger(__name__)

EDA_HZ, BVP_HZ = 4.0, 64.0
# Task -> (EDA level factor, skin-conductance responses per minute, talking amount).
TASKS = {"T1": (1.0, 2.0, 0.0), "T2": (1.35, 5.0, 0.35), "T3": (1.6, 6.0, 0.2)}
_E4_WARMUP_S = 30.0  # the wristband reads ~0 while the electrodes settle


def default_e4_root() -> Path | None:
    root = os.environ.get("EDGEAFFECT_DATA")
    path = Path(root) / "empatica_e4_sample" if root else None
    return path if path is not None and (path / "EDA.csv").exists() else None


def trace_source(e4_root: str | Path | None = None, use_e4: bool = True) -> str:
    """What the EDA/BVP traces of ``write_synthetic_videos`` would be drawn from: ``"generated"``, or a digest
    of the E4 recording's EDA and BVP files.  Part of the synthetic-data cache key, because the same options
    draw other traces once ``$EDGEAFFECT_DATA`` holds the recording."""
    root = _e4_source(e4_root, use_e4)
    if root is None or not (root / "EDA.csv").exists():
        return "generated"
    return "e4:" + ",".join(sha256_file(root / name)[:12] for name in ("EDA.csv", "BVP.csv"))


def _e4_source(e4_root: str | Path | None, use_e4: bool) -> Path | None:
    """The E4 recording the traces come from (the writer and the cache key ask the same question)."""
    root = Path(e4_root) if e4_root is not None else default_e4_root()
    return root if use_e4 else None


def _window(sig: Signal, seconds: float, skip: float, rng: np.random.Generator) -> np.ndarray | None:
    """A random ``seconds``-long piece of a real recording, or None when it is too short."""
    n = int(round(seconds * sig.rate_hz))
    lo, hi = int(skip * sig.rate_hz), len(sig.values) - n
    if hi < lo:
        return None
    start = int(rng.integers(lo, hi + 1))
    return np.asarray(sig.values[start:start + n], dtype=np.float64)


def task_signals(seconds: float, task: str, rng: np.random.Generator,
                 e4: tuple[Signal, Signal] | None) -> tuple[np.ndarray, np.ndarray]:
    """(EDA at 4 Hz in microsiemens, BVP at 64 Hz) for one task video."""
    factor, scr_rate, _ = TASKS[task]
    eda = bvp = None
    if e4 is not None:
        eda = _window(e4[0], seconds, _E4_WARMUP_S, rng)
        bvp = _window(e4[1], seconds, 2.0, rng)
        eda = None if eda is None else eda * factor
    seed = int(rng.integers(2 ** 31))
    if eda is None:
        eda = synth_eda(seconds, EDA_HZ, seed, level=rng.uniform(1.0, 6.0) * factor, responses_per_min=scr_rate).values
    if bvp is None:
        bvp = synth_bvp(seconds, BVP_HZ, seed + 1).values
    return eda, bvp


def _frame_params(base: FaceParams, t: float, pulse: float, tension: float, talk: float,
                  motion: np.ndarray, size: int) -> FaceParams:
    sway = np.sin(2 * np.pi * motion[:3] * t + motion[3:6])
    # pulse darkens the skin a little, green the most (haemoglobin absorbs green best)
    gain = (1 - 0.004 * pulse, 1 - 0.014 * pulse + 0.02 * tension, 1 - 0.006 * pulse + 0.1 * tension)
    blink = 0.2 if (t % motion[6]) < 0.15 else 1.0
    return replace(
        base, cx=base.cx + 0.03 * size * sway[0], cy=base.cy + 0.02 * size * sway[1], angle=4.0 * sway[2],
        brow_raise=-0.5 * tension, brow_tilt=-0.4 * tension, mouth_curve=-0.35 * tension,
        mouth_stretch=1.0 - 0.15 * tension, eye_open=(1.0 + 0.2 * tension) * blink,
        mouth_open=max(0.0, talk * np.sin(2 * np.pi * 3.7 * t) * (np.sin(2 * np.pi * 0.3 * t) > 0)),
        skin_gain=tuple(float(g) for g in gain))


def write_video(path: Path, frames_fn, n: int, fps: float, size: int) -> None:
    """Write ``n`` frames from ``frames_fn(i)`` as an MJPG AVI, renamed into place when complete."""
    tmp = path.with_name(f".{path.stem}.partial.avi")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"MJPG"), float(fps), (size, size))
    if not writer.isOpened():
        raise DataError(f"OpenCV cannot write MJPG video {path}", "install opencv-python-headless with video I/O")
    try:
        for i in range(n):
            writer.write(frames_fn(i))
    finally:
        writer.release()
    os.replace(tmp, path)


def _check_sizes(*, subjects: int, seconds: float, fps: float, size: int) -> None:
    """Refuse sizes that write nothing (0 subjects), empty traces (0 s: a mean of nothing) or crash (NaN)."""
    check_range("subjects", subjects, 1, 10_000, whole=True)
    check_range("seconds", seconds, 1.0, 3_600.0)  # at least 4 EDA samples (4 Hz) per video
    check_range("fps", fps, 1.0, 240.0)
    check_range("size", size, 32, 4_096, whole=True)  # below 32 px the drawn face is a few pixels


def write_synthetic_videos(out: str | Path, *, subjects: int = 3, seconds: float = 30.0, fps: float = 35.0,
                           size: int = 128, seed: int = 0, e4_root: str | Path | None = None,
                           use_e4: bool = True) -> Path:
    """Write ``subjects`` x 3 task videos with BVP/EDA CSVs in the UBFC-Phys layout; returns ``out``.

    ``e4_root`` (default ``$EDGEAFFECT_DATA/empatica_e4_sample`` when present)
    supplies real EDA/BVP windows; ``use_e4=False`` always generates them.
    """
    _check_sizes(subjects=subjects, seconds=seconds, fps=fps, size=size)
    out = Path(out)
    rng = np.random.default_rng(seed)
    root = _e4_source(e4_root, use_e4)
    e4 = None
    if root is not None:
        e4 = (read_e4_csv(root / "EDA.csv"), read_e4_csv(root / "BVP.csv"))
        # task_signals generates a trace the recording is too short for: say so rather than claim the recording
        short = [name for name, sig, skip in (("EDA", e4[0], _E4_WARMUP_S), ("BVP", e4[1], 2.0))
                 if sig.seconds - skip < seconds]
        if short:
            log.warning("the E4 recording in %s is shorter than one %g s video past its warm-up: its %s traces are "
                        "generated instead", root, seconds, " and ".join(short))
        else:
            log.info("synthetic videos carry windows of the E4 recording in %s", root)
    n_frames = int(round(seconds * fps))
    bar = tqdm(total=subjects * len(TASKS), desc="synthetic videos", unit="video", disable=subjects * seconds < 60)
    for s in range(1, subjects + 1):
        person = Subject.sample(f"s{s}", rng)
        signals = {task: task_signals(seconds, task, rng, e4) for task in TASKS}
        lo = min(float(e.min()) for e, _ in signals.values())
        hi = max(float(e.max()) for e, _ in signals.values())
        folder = out / f"s{s}"
        folder.mkdir(parents=True, exist_ok=True)
        base = FaceParams(skin=person.skin, hair=person.hair, aspect=person.aspect, eye_gap=person.eye_gap,
                          eye_size=person.eye_size, mouth_width=person.mouth_width, cx=size * rng.uniform(0.45, 0.55),
                          cy=size * rng.uniform(0.42, 0.5), scale=size * rng.uniform(0.19, 0.23),
                          clothes=tuple(rng.uniform(30, 220, 3).tolist()),
                          light=(rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.0)), ambient=rng.uniform(0.4, 0.55))
        backdrop = background(size, size, rng)
        render_body(backdrop, base)  # the torso stays put while the head sways
        for task, (eda, bvp) in signals.items():
            t = np.arange(n_frames) / fps
            pulse = values_at(bvp, BVP_HZ, t)
            pulse = np.clip((pulse - pulse.mean()) / (pulse.std() + 1e-9), -2.5, 2.5)
            tension = (values_at(eda, EDA_HZ, t) - lo) / max(hi - lo, 1e-9)
            talk = TASKS[task][2]
            motion = np.concatenate([rng.uniform(0.05, 0.3, 3), rng.uniform(0, 6.3, 3), [rng.uniform(3, 5)]])
            noise_rng = np.random.default_rng(rng.integers(2 ** 31))

            def frame(i: int) -> np.ndarray:
                canvas = backdrop.copy()
                render_face(canvas, _frame_params(base, t[i], pulse[i], tension[i], talk, motion, size), body=False,
                            landmarks=False)
                noise = noise_rng.standard_normal(canvas.shape, dtype=np.float32) * 2.0
                return np.clip(canvas + noise, 0, 255).astype(np.uint8)

            write_video(folder / f"vid_s{s}_{task}.avi", frame, n_frames, fps, size)
            atomic_write_text(folder / f"bvp_s{s}_{task}.csv", "".join(f"{v:.4f}\n" for v in bvp))
            atomic_write_text(folder / f"eda_s{s}_{task}.csv", "".join(f"{v:.6f}\n" for v in eda))
            bar.update()
    bar.close()
    from edgeaffect.data.base import mark_synthetic

    mark_synthetic(out, "videos", seed=seed, subjects=subjects, fps=fps, size=size)
    return out
