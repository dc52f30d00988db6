"""YuNet on a downscaled copy of the frame vs full resolution, side by side in one run: face recall, box
agreement and detection time per input side, on a real face video.

    python benchmarks/bench_detect_side.py [--video $EDGEAFFECT_DATA/physrecorder_v01/video_ZIP_H264.avi]
                                           [--sides 0,480,320,240,160,128] [--frames 602] [--rounds 3]
                                           [--shrink 1.0]

Side 0 is full resolution, the reference.  For every frame the full-resolution detections are the
ground truth; a face counts as recalled at a side when a detection there overlaps it with IoU >= 0.5.
Box error is the mean |Δ| of the matched box corners in full-frame pixels (boxes are mapped back by
the detector).  Timing runs the sides interleaved per frame (every side once per frame, ``--rounds``
passes) so other load on the machine hits every side alike; the median per side is printed.
``--shrink F`` pastes each frame scaled by F into the middle of a grey frame of the original size: the
same face, smaller in the frame (a person further from the camera).
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from edgeaffect.detectors import create_detector
from edgeaffect.io import video_frames
from edgeaffect.detectors.base import iou


def _frames(video: Path, limit: int, shrink: float) -> list[np.ndarray]:
    import cv2

    frames = []
    for frame in video_frames(video, limit):
        if shrink != 1.0:
            h, w = frame.shape[:2]
            small = cv2.resize(frame, (round(w * shrink), round(h * shrink)), interpolation=cv2.INTER_AREA)
            canvas = np.full_like(frame, 114)
            y, x = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
            canvas[y:y + small.shape[0], x:x + small.shape[1]] = small
            frame = canvas
        frames.append(frame)
    if not frames:
        raise SystemExit(f"cannot decode {video}")
    return frames


def main() -> None:
    default_video = Path(os.environ.get("EDGEAFFECT_DATA", "")) / "physrecorder_v01" / "video_ZIP_H264.avi"
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, default=default_video)
    ap.add_argument("--sides", default="0,480,320,240,160,128")
    ap.add_argument("--frames", type=int, default=602)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--shrink", type=float, default=1.0)
    args = ap.parse_args()

    import cv2

    cv2.setNumThreads(args.threads)
    frames = _frames(args.video, args.frames, args.shrink)
    sides = [int(s) for s in args.sides.split(",")]
    detectors = {s: create_detector("yunet", max_side=s or None) for s in sides}
    found = {s: [d.detect(f) for f in frames] for s, d in detectors.items()}
    times: dict[int, list[float]] = {s: [] for s in sides}
    for _ in range(args.rounds):
        for frame in frames:
            for s, det in detectors.items():
                t = time.perf_counter()
                det.detect(frame)
                times[s].append((time.perf_counter() - t) * 1e3)
    reference = found[sides[0]]
    truth = sum(len(r) for r in reference)
    h, w = frames[0].shape[:2]
    heights = [f.h for faces in reference for f in faces]
    print(f"{args.video.name} (shrink {args.shrink:g}): {len(frames)} frames {w}x{h}, {truth} faces at full resolution "
          f"(median height {np.median(heights) if heights else 0:.0f} px), "
          f"{args.rounds} timing passes, {args.threads} OpenCV thread(s)")
    print(f"{'side':>6} {'input':>9} {'recall':>8} {'extra':>6} {'box err px':>10} {'median ms':>10} {'speed-up':>9}")
    base_ms = float(np.median(times[sides[0]]))
    for s in sides:
        hits, errors, extra = 0, [], 0
        for ref, got in zip(reference, found[s]):
            matched = set()
            for face in ref:
                best = max(range(len(got)), key=lambda k: iou(face, got[k]), default=None)
                if best is not None and iou(face, got[best]) >= 0.5:
                    hits += 1
                    matched.add(best)
                    g = got[best]
                    errors.append(np.mean(np.abs(np.subtract((g.x, g.y, g.x + g.w, g.y + g.h),
                                                             (face.x, face.y, face.x + face.w, face.y + face.h)))))
            extra += len(got) - len(matched)
        ms = float(np.median(times[s]))
        scale = max(h, w) / s if s and max(h, w) > s else 1.0
        size = f"{round(w / scale)}x{round(h / scale)}"
        print(f"{s or 'full':>6} {size:>9} {hits / max(truth, 1):>8.3f} {extra:>6} "
              f"{np.mean(errors) if errors else float('nan'):>10.2f} {ms:>10.2f} {base_ms / ms:>8.2f}x")


if __name__ == "__main__":
    main()
