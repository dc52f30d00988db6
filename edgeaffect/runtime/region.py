"""Track-guided region detection: look for each face where its track says it is.

Full-frame detection is most of a frame's cost, yet 33 ms after the last frame
a face is, almost always, a few pixels from where it was.  When every live
track was found at the last detection round with a confident score, the
detector runs only on a square region around each track's predicted box (the
box grown by ``margin`` of its side on every side) resized to ``side`` pixels,
and the boxes and landmarks it finds are mapped back to frame pixels.  A full-
frame pass still runs

* every ``full_every`` detection rounds, so faces that enter are found;
* sooner when the frame away from the tracked people has changed since the last full pass
  (``change`` of an 80 px thumbnail moved by over ``change_level`` grey levels; each face masks
  its person: a box to either side, half above, four below): a person walking in, a scene cut,
  the next unrelated photo of a folder.  On the real PhysRecorder clip and on two drawn people
  moving at up to 24 px per frame it never fires; a face stepping into view is found on its
  first frame instead of 15 frames later.  A busy background (or a camera's exposure step)
  costs full passes, not missed faces; the check costs ~40 us per round;
* whenever a track is unconfident (its last score) or was missed at the last round;
* at once, on the same frame, when a region pass loses its face (no box in the
  region overlaps the predicted one), so a lost face costs one full pass, not a
  frame without it.

The region's side is fixed (one input size for the detector, so YuNet keeps its
priors) and small: the region is the box grown by 0.35 of its side on every side
(1.7 boxes), resized to 48 px, so the face spans ~28 px, still well above YuNet's
smallest findable face.  YuNet pads its input to a multiple of 32, so one 48 px
tile costs what a 64 px one does, but the tiles of two faces side by side (96x48)
cost three quarters of two 64 px ones (128x64).  Measured with
``benchmarks/bench_runtime.py --cores 1 --only-modes --repeats 5`` (2026-12-04, one
core): 64 px regions with margin 0.5 gave region/full 2.02x on the real PhysRecorder
clip and 1.56x on two moving faces; 48 px with margin 0.35 gave 2.04x and 1.75x, and
1.75-2.44x and 1.68-2.04x over ten runs once a region pass decoded all strides at once
and the frame record was serialised in one walk (whole runs on this shared host differ by
up to 0.3x), with recall and top-1 1.000 and no region lost in any.  32 px tiles lose the face
(327 of 602 region passes fell back).  A face that moves more than a third of its
width between two detection rounds leaves its region: that costs one full pass on
the same frame, not a frame without it.  With detection this cheap, a region frame
at one core is mostly decode and the model (two faces: decode 0.7, model 1.0,
detection 0.8 of 2.9 ms per frame), which is what bounds the two-face ratio.  Each region pass uses its own detector
instance, so the full-frame one keeps its input size too.  Torch-free.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from edgeaffect.detectors.base import Face, FaceDetector, iou

# Measured with benchmarks/bench_runtime.py --modes (see the module docstring): tracked faces are found on
# every round; a face that enters where nothing moved before is found within 20 rounds (2/3 s at 30 FPS),
# one that walks in (the frame changes away from the tracked people) on its first frame.
DEFAULT_FULL_EVERY = 20


@dataclass(frozen=True, kw_only=True)
class RegionOptions:
    """How a region pass looks; ``full_every`` full-frame passes are the schedule for new faces."""

    full_every: int = DEFAULT_FULL_EVERY
    margin: float = 0.35  # the region is the box grown by this fraction of its longer side, per side
    side: int = 48  # the region is resized to side x side pixels before detection
    min_score: float = 0.75  # a track whose last detector score is below this gets full-frame passes
    min_iou: float = 0.3  # a region box matches its track at this IoU with the predicted box
    change: float = 0.03  # share of the thumbnail outside the faces that, once changed, asks for a full pass
    change_level: int = 24  # grey levels a thumbnail pixel moves to count as changed (camera noise stays below)

    def __post_init__(self) -> None:
        if self.full_every < 1 or self.side < 16 or self.margin < 0 or not 0 < self.change <= 1:
            raise ValueError("full_every must be >= 1, side >= 16, margin >= 0 and change in (0, 1]")


THUMB = 80  # longer side of the change thumbnail: a face of ~50 px in 640x480 still covers a few dozen of its pixels


def thumbnail(image: np.ndarray) -> tuple[np.ndarray, int]:
    """(gray thumbnail by sampling every ``step``-th pixel, step): a few microseconds, no resize."""
    step = max(1, round(max(image.shape[:2]) / THUMB))
    small = np.ascontiguousarray(image[::step, ::step])
    if small.ndim == 3:
        small = cv2.cvtColor(small, cv2.COLOR_BGRA2GRAY if small.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
    return small.astype(np.int16), step


# A scene cut: the share of the whole thumbnail that moved by over SCENE_LEVEL.  Measured: consecutive frames of
# the real PhysRecorder clip change at most 0.006 of it (0.05 half a second apart); 3,578 pairs of unrelated
# same-size face photos (FER+ valid, in file order, at 48 and 256 px) at least 0.41, median 0.78.
SCENE_LEVEL, SCENE_SHARE = 24, 0.3


def scene_cut(now: np.ndarray, before: np.ndarray | None) -> bool:
    """True when thumbnail ``now`` shows another scene than ``before`` (another photo, a cut, another size)."""
    if before is None:
        return False
    if now.shape != before.shape:
        return True
    return float(np.mean(np.abs(now - before) > SCENE_LEVEL)) > SCENE_SHARE


def changed_share(now: np.ndarray, before: np.ndarray, step: int, faces: Sequence[Face], level: int) -> float:
    """Share of the thumbnail pixels away from ``faces`` that moved by over ``level``.

    Around a face is its person: a head that moves moves the hair, the shoulders and the chest below
    it, so each face masks one box width to either side, half a box above and four boxes down.
    """
    if now.shape != before.shape:
        return 1.0
    moved = np.abs(now - before) > level
    keep = np.ones(moved.shape, bool)
    for face in faces:
        x0, x1, y0, y1 = face.x - face.w, face.x + 2 * face.w, face.y - 0.5 * face.h, face.y + 5 * face.h
        keep[max(int(y0 // step), 0):max(int(y1 // step) + 1, 0), max(int(x0 // step), 0):max(int(x1 // step) + 1, 0)] = False
    outside = int(keep.sum())
    return float(moved[keep].sum()) / outside if outside else 0.0


def region_of(face: Face, margin: float) -> tuple[float, float, float]:
    """(x0, y0, side) in frame pixels of the square region around ``face``."""
    side = max(face.w, face.h) * (1.0 + 2.0 * margin)
    cx, cy = face.x + face.w / 2, face.y + face.h / 2
    return cx - side / 2, cy - side / 2, side


def cut_region(image: np.ndarray, x0: float, y0: float, side: float, out: int) -> np.ndarray:
    """The square region resized to ``out`` x ``out``; parts outside the frame are black."""
    s = out / side
    m = np.array([[s, 0.0, -x0 * s], [0.0, s, -y0 * s]], dtype=np.float64)
    return cv2.warpAffine(image, m, (out, out), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def to_frame(face: Face, x0: float, y0: float, scale: float) -> Face:
    """A box found in a region, in frame pixels (``scale`` = region pixels per detector pixel)."""
    marks = None if face.landmarks is None else tuple((x0 + x * scale, y0 + y * scale) for x, y in face.landmarks)
    return Face(x0 + face.x * scale, y0 + face.y * scale, face.w * scale, face.h * scale, face.score, marks)


class RegionDetector:
    """Full-frame detection on a schedule, region passes around confident tracks in between."""

    def __init__(self, full: FaceDetector, region: FaceDetector, options: RegionOptions | None = None) -> None:
        self.full, self.region, self.options = full, region, options or RegionOptions()
        self.since_full = 0
        # passes of each kind; fallback = a region lost its face, change = the frame outside the faces changed
        self.counts = {"full": 0, "region": 0, "fallback": 0, "change": 0}
        self.reference: tuple[np.ndarray, int, tuple[Face, ...]] | None = None  # thumbnail, step, faces at the last full pass

    def detect(self, image: np.ndarray, predicted: Sequence[tuple[Face, bool]],
               thumb: tuple[np.ndarray, int] | None = None) -> tuple[Face, ...]:
        """This round's faces, best first.

        ``predicted``: (box moved to this frame, found at the last round) for every live track
        (``IouTracker.live``); a track missed at the last round needs a full pass to be found again.
        ``thumb``: the image's ``thumbnail`` when the caller already made it (the pipeline does, every frame).
        """
        o = self.options
        self.since_full += 1
        usable = (predicted and self.since_full < o.full_every
                  and all(steady and face.score >= o.min_score for face, steady in predicted))
        thumb = thumb if thumb is not None else thumbnail(image)
        boxes = [face for face, _ in predicted]
        if usable and self.reference is not None:
            old, step, then = self.reference
            if changed_share(thumb[0], old, step, [*boxes, *then], o.change_level) > o.change:
                self.counts["change"] += 1
                usable = False
        if usable:
            faces = self._regions(image, boxes)
            if faces is not None:
                self.counts["region"] += 1
                return faces
            self.counts["fallback"] += 1
        self.since_full = 0
        self.counts["full"] += 1
        faces = self.full.detect(image)
        self.reference = (*thumb, tuple(faces))
        return faces

    def _regions(self, image: np.ndarray, boxes: Sequence[Face]) -> tuple[Face, ...] | None:
        """One detector call on the regions side by side; None when a region loses its face.

        Tiling the regions into one ``n*side x side`` input pays the detector's per-call cost
        once for all faces; a face found in a region is centred in it, so the tile holding a
        box's centre is the region it belongs to.
        """
        o = self.options
        regions = [region_of(box, o.margin) for box in boxes]
        tiles = [cut_region(image, x0, y0, side, o.side) for x0, y0, side in regions]
        faces = self.region.detect(tiles[0] if len(tiles) == 1 else np.hstack(tiles))
        per_tile: list[list[Face]] = [[] for _ in boxes]
        for f in faces:
            k = int((f.x + f.w / 2) // o.side)
            if 0 <= k < len(boxes):
                x0, y0, side = regions[k]
                scale = side / o.side
                # tile k starts k * o.side detector pixels to the right: one mapping moves the box and its landmarks
                per_tile[k].append(to_frame(f, x0 - k * o.side * scale, y0, scale))
        found: list[Face] = []
        for box, mapped in zip(boxes, per_tile):
            best = max(mapped, key=lambda f: iou(f, box), default=None)
            if best is None or iou(best, box) < o.min_iou:
                return None
            # two tracks that converge find the same face: keep it once (the tracker would start a new track)
            if all(iou(best, f) < 0.5 for f in found):
                found.append(best)
        return tuple(sorted(found, key=lambda f: f.score, reverse=True))

