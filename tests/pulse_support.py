"""Writers of small video + pulse recordings in the published layouts, and a synthetic face with a known pulse."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from edgeaffect.data.facedraw import FaceParams, render_face


def pulse(t: np.ndarray, hr_bpm: float) -> np.ndarray:
    """A pulse wave at a fixed rate: fundamental plus a smaller first harmonic (a dicrotic shape)."""
    phase = 2 * np.pi * hr_bpm / 60.0 * np.asarray(t)
    return np.sin(phase) + 0.35 * np.sin(2 * phase + 0.8)


def face_frames(times: np.ndarray, hr_bpm: float, *, size: int = 128, seed: int = 0,
                lost: tuple[float, float] | None = None) -> list[np.ndarray]:
    """A drawn face whose skin darkens with the pulse (green most, as blood absorbs), swaying a little.

    Between ``lost`` = (start, end) seconds the face is gone (an empty background).
    """
    rng = np.random.default_rng(seed)
    p = pulse(times, hr_bpm) / 1.2
    base = FaceParams(cx=size * 0.5, cy=size * 0.46, scale=size * 0.22, ambient=0.5)
    frames = []
    for t, v in zip(times, p):
        canvas = np.full((size, size, 3), (70, 90, 60), dtype=np.uint8)
        if lost is None or not lost[0] <= t < lost[1]:
            sway = 0.01 * size * np.sin(2 * np.pi * 0.2 * t)
            gain = (1 - 0.004 * v, 1 - 0.012 * v, 1 - 0.006 * v)  # B, G, R
            params = FaceParams(**{**base.__dict__, "cx": base.cx + sway, "skin_gain": gain})
            render_face(canvas, params, body=False, landmarks=False)
        noise = rng.standard_normal(canvas.shape).astype(np.float32) * 1.5
        frames.append(np.clip(canvas + noise, 0, 255).astype(np.uint8))
    return frames


def jittered_times(seconds: float, fps: float = 30.0, seed: int = 0) -> np.ndarray:
    """Frame times of a webcam: mostly 1/fps apart, with every ~10th frame late by half a period."""
    rng = np.random.default_rng(seed)
    gaps = np.full(int(seconds * fps), 1.0 / fps)
    gaps[rng.random(len(gaps)) < 0.1] *= 1.5
    return np.concatenate([[0.0], np.cumsum(gaps)])[: int(seconds * fps)]


def write_video(path: Path, frames: Sequence[np.ndarray], fps: float = 30.0, fourcc: str = "MJPG") -> Path:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    for f in frames:
        writer.write(f)
    writer.release()
    return path


def write_physrecorder(folder: Path, frames, times, sig_times, sig, *, start: float = 1_685_590_249.95) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_video(folder / "video_ZIP_H264.avi", frames)
    (folder / "frames_timestamp.csv").write_text(
        "frame,timestamp\n" + "".join(f"{i},{start + t:.6f}\n" for i, t in enumerate(times)))
    (folder / "BVP.csv").write_text("timestamp,bvp\n" + "".join(f"{start + t:.6f},{v:.4f}\n"
                                                               for t, v in zip(sig_times, sig)))
    (folder / "missed_frames.csv").write_text("timestamp\n")
    return folder


def write_ubfc_rppg(folder: Path, frames, sig_times, sig, *, fps: float = 30.0, dataset1: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_video(folder / "vid.avi", frames, fps)
    if dataset1:  # time (ms), HR, SpO2, PPG
        (folder / "gtdump.xmp").write_text("".join(f"{t * 1000:.1f},72,98,{v:.4f}\n" for t, v in zip(sig_times, sig)))
    else:  # PPG line, HR line, time line
        (folder / "ground_truth.txt").write_text(" ".join(f"{v:.6e}" for v in sig) + "\n"
                                                 + " ".join("7.2e+01" for _ in sig) + "\n"
                                                 + " ".join(f"{t:.6e}" for t in sig_times) + "\n")
    return folder


def write_pure(folder: Path, frames, times, sig_times, sig, *, start_ns: int = 1_392_643_993_642_815_000) -> Path:
    images = folder / folder.name
    images.mkdir(parents=True, exist_ok=True)
    frame_ns = [start_ns + int(round(t * 1e9)) for t in times]
    for ns, f in zip(frame_ns, frames):
        cv2.imwrite(str(images / f"Image{ns}.png"), f)
    doc = {"/FullPackage": [{"Timestamp": start_ns + int(round(t * 1e9)),
                             "Value": {"waveform": float(v), "pulseRate": 72, "o2saturation": 98, "signalStrength": 4}}
                            for t, v in zip(sig_times, sig)],
           "/Image": [{"Timestamp": ns} for ns in frame_ns]}
    (folder / f"{folder.name}.json").write_text(json.dumps(doc))
    return folder
