"""``model(image)`` against ``edgeaffect run``'s per-frame time, on one 640x480 frame, side by side.

The frame is the first of the PhysRecorder clip when ``EDGEAFFECT_DATA`` has it (a synthetic face
otherwise).  ``run`` processes a video made of that frame repeated (MJPG, so its decode is in its
figure, as it is for any video); its per-frame time is the run's own end-to-end ``total`` stage mean.
``model(frame)`` is timed around the call.  Rounds alternate so both see the same neighbours on a
shared machine.  Prints the medians and the ratio model/run (the issue's target: <= 1.1).

    OMP_NUM_THREADS=1 taskset -c 1 python benchmarks/bench_api.py --frames 60 --rounds 3
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np


def frame_640x480() -> tuple[np.ndarray, str]:
    clip = Path(os.environ.get("EDGEAFFECT_DATA", "")) / "physrecorder_v01" / "video_ZIP_H264.avi"
    if clip.is_file():
        ok, frame = cv2.VideoCapture(str(clip)).read()
        if ok:
            return cv2.resize(frame, (640, 480)), f"first frame of {clip.name}"
    from edgeaffect.data.synthetic import synth_frame

    frame, _, _ = synth_frame(height=480, width=640, face_px=180, seed=3)
    return frame, "synthetic face"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", default="default")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import edgeaffect
    from edgeaffect.runtime.pipeline import run

    frame, what = frame_640x480()
    tmp = Path(tempfile.mkdtemp(prefix="bench-api-"))
    video = tmp / "same_frame.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (640, 480))
    for _ in range(args.frames):
        writer.write(frame)
    writer.release()

    model = edgeaffect.load(args.bundle, threads=args.threads)
    faces = model(frame)  # warm-up (and the answer, printed below)
    config = edgeaffect.run_config(args.bundle, video, threads=args.threads, out=tmp / "r.jsonl")
    api_ms, run_ms = [], []
    for _ in range(args.rounds):
        times = []
        for _ in range(args.frames):
            t = time.perf_counter()
            model(frame)
            times.append((time.perf_counter() - t) * 1e3)
        api_ms.append(statistics.median(times))
        summary = run(config)
        run_ms.append(summary.stage("total").mean_ms)
    api, per_frame = statistics.median(api_ms), statistics.median(run_ms)
    print(f"frame: {what}, 640x480; bundle {args.bundle}; {args.frames} frames x {args.rounds} rounds; "
          f"threads {args.threads}; faces found: {[f.label for f in faces]}")
    print(f"model(image)      median {api:7.2f} ms   rounds {[round(v, 2) for v in api_ms]}")
    print(f"run per frame     mean   {per_frame:7.2f} ms   rounds {[round(v, 2) for v in run_ms]}  (run's 'total')")
    print(f"ratio model/run   {api / per_frame:.3f}  (target <= 1.1)")


if __name__ == "__main__":
    main()
