"""``edgeaffect run default`` against the ``fer`` package on one real video, side by side.

``fer`` (Haar cascade + a Keras FER2013 classifier, its default ``FER(mtcnn=False)``) is what a user
compares us with first.  It pulls TensorFlow, so it lives in its own virtual environment and runs
in a subprocess of that environment's Python (``--fer-python``); edgeaffect runs in this process with its
default settings.  Both read the same video with OpenCV, both include decoding in their time and
exclude loading their models.  Rounds alternate the two so both see the same neighbours on a shared
machine.  Printed: frames per wall second and per CPU second of each, their ratios (issue 23's target:
>= 5x with the default settings), how often each found a face, and how often the two agree on the
top expression of the largest face (fer's seven FER2013 names mapped to ours through the project's class alias
table; agreement, not accuracy:
no labels here).

    python3 -m venv /tmp/fer-env && /tmp/fer-env/bin/pip install fer --no-deps && \\
        /tmp/fer-env/bin/pip install tensorflow-cpu opencv-python-headless pandas pillow requests setuptools
    OMP_NUM_THREADS=1 taskset -c 1 python benchmarks/bench_fer.py --fer-python /tmp/fer-env/bin/python
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

FER_WORKER = r"""
import json, os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import cv2
from fer.fer import FER  # the package root does not re-export it
video, frames = sys.argv[1], int(sys.argv[2])
detector = FER(mtcnn=False)
cap = cv2.VideoCapture(video)
ok, first = cap.read()
detector.detect_emotions(first)  # warm-up: graph building is not per-frame cost
cap.release()
cap = cv2.VideoCapture(video)
tops, n = [], 0
t0, c0 = time.perf_counter(), time.process_time()
while n < frames:
    ok, frame = cap.read()
    if not ok:
        break
    found = detector.detect_emotions(frame)
    if found:
        face = max(found, key=lambda f: f["box"][2] * f["box"][3])
        tops.append(max(face["emotions"], key=face["emotions"].get))
    else:
        tops.append(None)
    n += 1
print(json.dumps({"frames": n, "seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0, "tops": tops}))
"""


def run_fer(python: str, video: Path, frames: int) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([python, "-c", FER_WORKER, str(video), str(frames)], capture_output=True, text=True,
                          env=env, timeout=3600)
    if proc.returncode != 0:
        raise SystemExit(f"fer failed (is it installed in {python}?):\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_ours(bundle: str, video: Path, frames: int, out: Path) -> dict:
    from edgeaffect.runtime.pipeline import run
    import edgeaffect

    summary = run(edgeaffect.run_config(bundle, video, out=out, max_frames=frames))
    tops = []
    for line in out.read_text().splitlines():
        faces = json.loads(line)["faces"]
        if faces:
            face = max(faces, key=lambda f: f["box"][2] * f["box"][3])
            tops.append(face["label"])
        else:
            tops.append(None)
    return {"frames": summary.frames, "seconds": summary.seconds, "cpu": summary.cpu_seconds, "tops": tops}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fer-python", required=True, help="the Python of an environment with fer installed")
    ap.add_argument("--video", default=str(Path(os.environ.get("EDGEAFFECT_DATA", "")) / "physrecorder_v01"
                                           / "video_ZIP_H264.avi"))
    ap.add_argument("--bundle", default="default")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    video = Path(args.video)
    if not video.is_file():
        raise SystemExit(f"no video at {video}: set EDGEAFFECT_DATA or pass --video")
    tmp = Path(tempfile.mkdtemp(prefix="bench-fer-"))
    ours, theirs = [], []
    for r in range(args.rounds):
        ours.append(run_ours(args.bundle, video, args.frames, tmp / f"r{r}.jsonl"))
        theirs.append(run_fer(args.fer_python, video, args.frames))
    print(f"video {video.name}; {args.rounds} rounds of up to {args.frames} frames; bundle {args.bundle} "
          "(default settings) vs fer FER(mtcnn=False)")
    rows = {}
    for name, runs in (("edgeaffect", ours), ("fer", theirs)):
        fps = statistics.median(r["frames"] / r["seconds"] for r in runs)
        cpu_fps = statistics.median(r["frames"] / r["cpu"] for r in runs if r["cpu"] > 0)
        found = sum(t is not None for t in runs[-1]["tops"]) / max(len(runs[-1]["tops"]), 1)
        rows[name] = (fps, cpu_fps)
        print(f"{name:10s}  {fps:7.1f} FPS  {cpu_fps:7.1f} frames/CPU-s  face found in {found:.3f} of frames  "
              f"rounds {[round(r['frames'] / r['seconds'], 1) for r in runs]}")
    print(f"ratio edgeaffect/fer: {rows['edgeaffect'][0] / rows['fer'][0]:.2f}x FPS, "
          f"{rows['edgeaffect'][1] / rows['fer'][1]:.2f}x frames per CPU second (target >= 5x)")
    from edgeaffect.data.classes import canonical_class  # fer's names (angry, happy, sad...) -> ours

    pairs = [(a, canonical_class(b)) for a, b in zip(ours[-1]["tops"], theirs[-1]["tops"]) if a and b]
    if pairs:
        agree = sum(a == b for a, b in pairs) / len(pairs)
        print(f"top expression agreement on the {len(pairs)} frames where both found a face: {agree:.3f}")
        from collections import Counter

        print(f"edgeaffect labels {dict(Counter(a for a, _ in pairs))}; fer labels {dict(Counter(b for _, b in pairs))}")


if __name__ == "__main__":
    main()
