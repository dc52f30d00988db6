"""A small IoU tracker: stable face ids across frames, and boxes between detections.

Detection is the costliest stage of the loop, so the pipeline runs it every
``detect_every`` frames.  On detection frames, new boxes are matched greedily to
live tracks by IoU (best pairs first); unmatched boxes start new tracks and a
track that stays unmatched for ``max_missed`` detection rounds expires.  On the
frames in between, each track's box moves with its last observed velocity —
enough for faces in front of a camera, and it costs microseconds where an
OpenCV correlation tracker costs milliseconds per face.

Hand-written on purpose: SORT-style trackers add a Kalman filter and a
Hungarian solver for crowds; a handful of faces needs neither.  Torch-free.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from edgeaffect.detectors.base import Face, iou


@dataclass(frozen=True)
class Track:
    """One tracked face in one frame; ``detected`` is False when the box was extrapolated."""

    id: int
    face: Face
    detected: bool


def shifted(face: Face, dx: float, dy: float) -> Face:
    marks = None if face.landmarks is None else tuple((x + dx, y + dy) for x, y in face.landmarks)
    return replace(face, x=face.x + dx, y=face.y + dy, landmarks=marks)


@dataclass
class _State:
    id: int
    face: Face
    frame: int
    vx: float = 0.0
    vy: float = 0.0
    missed: int = 0


class IouTracker:
    """Assigns ids; ``update`` after a detection, ``predict`` on frames without one."""

    def __init__(self, *, iou_threshold: float = 0.3, max_missed: int = 5, velocity_gain: float = 0.5) -> None:
        self.iou_threshold = iou_threshold
        self.max_missed = max_missed
        self.velocity_gain = velocity_gain
        self._tracks: list[_State] = []
        self._next_id = 1
        self.expired: list[int] = []  # ids that expired at the last update (the pipeline drops their state)

    def _moved(self, state: _State, frame: int) -> Face:
        dt = frame - state.frame
        return shifted(state.face, state.vx * dt, state.vy * dt) if dt else state.face

    def update(self, faces: tuple[Face, ...], frame: int) -> tuple[Track, ...]:
        predicted = [self._moved(t, frame) for t in self._tracks]
        pairs = sorted(((iou(p, f), ti, fi) for ti, p in enumerate(predicted) for fi, f in enumerate(faces)),
                       reverse=True)
        used_t: set[int] = set()
        used_f: set[int] = set()
        for score, ti, fi in pairs:
            if score < self.iou_threshold:
                break
            if ti in used_t or fi in used_f:
                continue
            used_t.add(ti)
            used_f.add(fi)
            self._observe(self._tracks[ti], faces[fi], frame)
        for ti, state in enumerate(self._tracks):
            if ti not in used_t:
                state.missed += 1
        self.expired = [t.id for t in self._tracks if t.missed > self.max_missed]
        self._tracks = [t for t in self._tracks if t.missed <= self.max_missed]
        for fi, face in enumerate(faces):
            if fi not in used_f:
                self._tracks.append(_State(self._next_id, face, frame))
                self._next_id += 1
        return tuple(Track(t.id, t.face, True) for t in self._tracks if t.missed == 0 and t.frame == frame)

    def _observe(self, state: _State, face: Face, frame: int) -> None:
        dt = frame - state.frame
        if dt > 0:
            g = self.velocity_gain
            vx = (face.x + face.w / 2 - state.face.x - state.face.w / 2) / dt
            vy = (face.y + face.h / 2 - state.face.y - state.face.h / 2) / dt
            state.vx, state.vy = g * vx + (1 - g) * state.vx, g * vy + (1 - g) * state.vy
        state.face, state.frame, state.missed = face, frame, 0

    def predict(self, frame: int) -> tuple[Track, ...]:
        """Boxes of the tracks seen at the last detection, moved to ``frame``."""
        self.expired = []
        return tuple(Track(t.id, self._moved(t, frame), False) for t in self._tracks if t.missed == 0)

    def live(self, frame: int) -> tuple[tuple[Face, bool], ...]:
        """Every live track's box moved to ``frame``, and whether it was found at the last round."""
        return tuple((self._moved(t, frame), t.missed == 0) for t in self._tracks)

    def end_all(self) -> list[int]:
        """End every track (the next frame is another scene); their ids, also left in ``expired``."""
        self.expired = [t.id for t in self._tracks]
        self._tracks = []
        return self.expired

    @property
    def next_id(self) -> int:
        return self._next_id

    @property
    def live_ids(self) -> tuple[int, ...]:
        return tuple(t.id for t in self._tracks)
