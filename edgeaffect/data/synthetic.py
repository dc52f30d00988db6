"""The toolkit's built-in default data: procedurally drawn expressive faces.

Each face belongs to a synthetic *subject* (fixed skin tone, hair, face shape)
and shows one of the 8 expressions in ``EXPRESSIONS_8`` through its brows,
eyes and mouth, with a valence/arousal target at the expression's place on
Russell's circumplex scaled by the drawn intensity, and the 68 landmarks that
were drawn.  Pose, size, lighting, background and sensor noise vary, so it is
an easy but real learning task.  Everything is deterministic from a seed.

``write_synthetic_faces`` writes the AffectNet layout (``train_set``,
``val_set``, ``test_set`` with ``images/`` and ``annotations/``) plus
``subjects.csv``; splits are subject-disjoint.  Torch-free.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from edgeaffect.data.base import EXPRESSIONS_8, mark_synthetic
from edgeaffect.data.facedraw import FaceParams, render_face
from edgeaffect.errors import check_range
from edgeaffect.io import atomic_write, atomic_write_text

log = logging.getLogger(__name__)

# (valence, arousal) of each expression on the circumplex, EXPRESSIONS_8 order.
CIRCUMPLEX = {
    "neutral": (0.0, 0.0), "happiness": (0.8, 0.4), "surprise": (0.3, 0.8), "sadness": (-0.7, -0.4),
    "anger": (-0.6, 0.7), "disgust": (-0.7, 0.3), "fear": (-0.5, 0.85), "contempt": (-0.5, 0.2),
}
# The face movements of each expression at full intensity (FaceParams fields).
EXPRESSION_FACE = {
    "neutral": {},
    "happiness": dict(mouth_curve=1.0, mouth_open=0.45, eye_open=0.75, brow_raise=0.1, mouth_stretch=1.1),
    "surprise": dict(brow_raise=1.0, eye_open=1.6, mouth_open=1.0, mouth_stretch=0.75),
    "sadness": dict(brow_tilt=1.0, eye_open=0.75, mouth_curve=-0.8, brow_raise=-0.1),
    "anger": dict(brow_raise=-1.0, brow_tilt=-1.2, eye_open=1.15, mouth_curve=-0.4, mouth_stretch=0.8),
    "disgust": dict(brow_raise=-0.4, brow_tilt=-0.3, eye_open=0.6, upper_lip=1.2, mouth_curve=-0.6, mouth_open=0.15),
    "fear": dict(brow_raise=0.8, brow_tilt=1.2, eye_open=1.6, mouth_open=0.35, mouth_stretch=1.35, mouth_curve=-0.4),
    "contempt": dict(asym=1.3, eye_open=0.85, brow_raise=0.15),
}
_NEUTRAL = FaceParams()
# Skin tones from light to deep (BGR), interpolated per subject.
_SKIN = np.array([[167, 194, 241], [138, 172, 224], [98, 134, 198], [68, 102, 161], [48, 70, 120], [38, 50, 85]], float)


@dataclass(frozen=True)
class Subject:
    """A synthetic identity: what stays the same across one person's faces."""

    id: str
    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    aspect: float
    eye_gap: float
    eye_size: float
    mouth_width: float

    @classmethod
    def sample(cls, id: str, rng: np.random.Generator) -> "Subject":
        t = rng.uniform(0, len(_SKIN) - 1)
        i = min(int(t), len(_SKIN) - 2)
        skin = _SKIN[i] * (1 - (t - i)) + _SKIN[i + 1] * (t - i)
        hair = rng.choice([[20, 22, 28], [30, 45, 70], [40, 70, 110], [90, 140, 180], [120, 120, 125]]) * rng.uniform(
            0.8, 1.1)
        return cls(id, tuple(skin.tolist()), tuple(np.asarray(hair, float).tolist()), rng.uniform(1.22, 1.42),
                   rng.uniform(0.34, 0.42), rng.uniform(0.15, 0.19), rng.uniform(0.26, 0.33))


def expression_params(label: int, intensity: float, rng: np.random.Generator) -> dict[str, float]:
    """FaceParams fields for expression ``label`` at ``intensity`` (0..1), with small jitter."""
    target = EXPRESSION_FACE[EXPRESSIONS_8[label]]
    out = {}
    for name in ("brow_raise", "brow_tilt", "eye_open", "mouth_curve", "mouth_open", "mouth_stretch", "asym",
                 "upper_lip"):
        base = getattr(_NEUTRAL, name)
        out[name] = base + intensity * (target.get(name, base) - base) + rng.normal(0, 0.06)
    out["mouth_open"] = max(out["mouth_open"], 0.0)
    out["upper_lip"] = max(out["upper_lip"], 0.0)
    return out


# An aligned crop: the face centred, upright, frontal and filling the square (chin, forehead
# and hair cut, little background left), the way FER2013/FER+ ship their crops.  Why 0.48 and
# not a looser 0.40: with brows, eyes and mouth larger in the 112 px crop DDAMFN from scratch
# passes 4x chance after two epochs instead of three (measured, ddamfn-synthetic.yaml).
# Drawing differently for the same options? Bump edgeaffect.train.recipes.SYNTHETIC_VERSION, the
# cache key that keeps older generated data from being read as today's.
ALIGNED_CENTRE, ALIGNED_SCALE = (0.5, 0.51), 0.48


def face_params(label: int, rng: np.random.Generator, size: int, subject: Subject, *,
                aligned: bool = False) -> tuple[FaceParams, float]:
    """A random pose/light/expression for ``subject`` in a ``size`` square; returns (params, intensity).

    ``aligned`` fixes position and size (ALIGNED_CENTRE, ALIGNED_SCALE) and pose (light,
    identity, background and expression still vary) and draws the same random numbers,
    so a seed gives the same people and expressions either way.
    """
    intensity = rng.uniform(0.7, 1.0)
    params = FaceParams(
        skin=subject.skin, hair=subject.hair, clothes=tuple(rng.uniform(30, 220, 3).tolist()), aspect=subject.aspect,
        eye_gap=subject.eye_gap, eye_size=subject.eye_size, mouth_width=subject.mouth_width,
        cx=size * rng.uniform(0.45, 0.55), cy=size * rng.uniform(0.47, 0.55), scale=size * rng.uniform(0.27, 0.34),
        angle=rng.uniform(-12, 12), yaw=rng.uniform(-0.12, 0.12),
        light=(rng.uniform(-0.6, 0.6), rng.uniform(-0.6, 0.1)), ambient=rng.uniform(0.35, 0.6),
        **expression_params(label, intensity, rng))
    if aligned:
        params = replace(params, cx=size * ALIGNED_CENTRE[0], cy=size * ALIGNED_CENTRE[1], scale=size * ALIGNED_SCALE,
                         angle=0.0, yaw=0.0)
    return params, intensity


def background(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A plain-ish backdrop: a colour gradient with a few soft blobs."""
    c0, c1 = rng.uniform(20, 235, 3), rng.uniform(20, 235, 3)
    ramp = np.linspace(0, 1, height)[:, None, None] * np.ones((1, width, 1))
    img = c0 * (1 - ramp) + c1 * ramp
    for _ in range(rng.integers(0, 4)):
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(0.1, 0.4) * max(height, width)
        yy, xx = np.mgrid[:height, :width]
        img += (rng.uniform(-40, 40, 3) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / r ** 2)[..., None])
    return np.clip(img, 0, 255).astype(np.uint8)


def finish(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Camera effects: slight blur, overall gain, sensor noise."""
    if rng.uniform() < 0.5:
        img = cv2.GaussianBlur(img, (3, 3), rng.uniform(0.3, 1.0))
    out = img.astype(np.float32) * rng.uniform(0.85, 1.15) + rng.normal(0, rng.uniform(1, 6), img.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def draw_face(label: int, rng: np.random.Generator, size: int = 112, *, subject: Subject | None = None,
              aligned: bool = False) -> tuple[np.ndarray, float, float, np.ndarray]:
    """One face crop: (uint8 BGR size x size x 3, valence, arousal, landmarks 68x2 float32 in pixels)."""
    if not 0 <= label < len(EXPRESSIONS_8):
        raise ValueError(f"label {label} is not one of the {len(EXPRESSIONS_8)} expressions")
    subject = subject or Subject.sample("s0", rng)
    params, intensity = face_params(label, rng, size, subject, aligned=aligned)
    img = background(size, size, rng)
    landmarks = render_face(img, params)
    v0, a0 = CIRCUMPLEX[EXPRESSIONS_8[label]]
    valence = float(np.clip(v0 * intensity + rng.normal(0, 0.05), -1, 1))
    arousal = float(np.clip(a0 * intensity + rng.normal(0, 0.05), -1, 1))
    return finish(img, rng), valence, arousal, landmarks


@dataclass(frozen=True)
class FaceBatch:
    """In-memory synthetic faces: images (n,S,S,3) uint8 BGR, labels int64, V/A float32, landmarks (n,68,2)."""

    images: np.ndarray
    labels: np.ndarray
    valence: np.ndarray
    arousal: np.ndarray
    landmarks: np.ndarray
    subjects: tuple[str, ...]


def synth_face_batch(n: int, *, size: int = 112, seed: int = 0, subjects: int | None = None) -> FaceBatch:
    """``n`` faces with balanced labels from ``subjects`` identities (default n // 8, at least 1)."""
    rng = np.random.default_rng(seed)
    people = [Subject.sample(f"s{i:04d}", rng) for i in range(subjects or max(n // 8, 1))]
    labels = rng.permutation(np.arange(n) % len(EXPRESSIONS_8))
    faces = [draw_face(int(lab), rng, size, subject=people[i % len(people)]) for i, lab in enumerate(labels)]
    return FaceBatch(np.stack([f[0] for f in faces]) if faces else np.zeros((0, size, size, 3), np.uint8),
                     labels.astype(np.int64), np.array([f[1] for f in faces], np.float32),
                     np.array([f[2] for f in faces], np.float32),
                     np.stack([f[3] for f in faces]) if faces else np.zeros((0, 68, 2), np.float32),
                     tuple(people[i % len(people)].id for i in range(n)))


def _save_npy(path: Path, value: np.ndarray) -> None:
    atomic_write(path, lambda fh: np.save(fh, value))


SPLIT_DIRS = {"train": "train_set", "valid": "val_set", "test": "test_set"}


def write_synthetic_faces(out: str | Path, *, per_class: int = 40, size: int = 112, seed: int = 0,
                          aligned: bool = False, per_subject: int = 4) -> Path:
    """Write the AffectNet layout: ``per_class`` train faces per class, a quarter of that in val and test.

    ``aligned`` writes aligned crops (see :func:`face_params`) instead of loosely
    framed faces with pose; from-scratch expression models learn those in minutes.

    ``*_exp.npy`` holds AffectNet's expression code (its own class order, see
    ``edgeaffect.data.affectnet.CLASSES``), not the EXPRESSIONS_8 index.  Each
    split gets its own subjects (``per_subject`` faces per subject per class at most),
    listed in ``subjects.csv`` as ``id,subject``.
    """
    from edgeaffect.data.affectnet import CLASSES as AFFECTNET_CODES

    # 0 or -1 per class would quietly write 2 faces per class (the valid/test minimum), NaN or 0 px would crash
    check_range("per_class", per_class, 1, 100_000, whole=True)
    check_range("per_subject", per_subject, 1, 100_000, whole=True)
    check_range("size", size, 16, 4_096, whole=True)  # below 16 px brows, eyes and mouth merge
    out = Path(out)
    rng = np.random.default_rng(seed)
    code = [AFFECTNET_CODES.index(name) for name in EXPRESSIONS_8]  # the layout stores AffectNet's own codes
    counts = {"train": per_class, "valid": max(per_class // 4, 1), "test": max(per_class // 4, 1)}
    rows, next_id = ["id,subject"], 0
    total = sum(counts.values()) * len(EXPRESSIONS_8)
    with tqdm(total=total, desc="synthetic faces", unit="img", disable=total < 200) as bar:
        for split, per in counts.items():
            people = [Subject.sample(f"{split}{i:03d}", rng) for i in range(max(-(-per // max(per_subject, 1)), 2))]
            labels = rng.permutation(np.arange(per * len(EXPRESSIONS_8)) % len(EXPRESSIONS_8))
            folder = out / SPLIT_DIRS[split]
            for i, label in enumerate(labels):
                person = people[i % len(people)]
                img, val, aro, lnd = draw_face(int(label), rng, size, subject=person, aligned=aligned)
                key = str(next_id)
                next_id += 1
                ok, png = cv2.imencode(".png", img)
                atomic_write(folder / "images" / f"{key}.png", lambda fh: fh.write(png.tobytes()))
                ann = folder / "annotations"
                _save_npy(ann / f"{key}_exp.npy", np.array(code[int(label)], np.int64))
                _save_npy(ann / f"{key}_val.npy", np.array(val, np.float32))
                _save_npy(ann / f"{key}_aro.npy", np.array(aro, np.float32))
                _save_npy(ann / f"{key}_lnd.npy", lnd.reshape(-1).astype(np.float32))
                rows.append(f"{key},{person.id}")
                bar.update()
    atomic_write_text(out / "subjects.csv", "\n".join(rows) + "\n")
    mark_synthetic(out, "faces", seed=seed, per_class=per_class, size=size, aligned=aligned)
    log.info("wrote %d synthetic faces to %s", next_id, out)
    return out


def paste_face(frame: np.ndarray, face: np.ndarray, x: int, y: int, *, feather: float = 0.12) -> tuple[int, ...]:
    """Blend ``face`` into ``frame`` (in place) with its top-left corner at (x, y).

    The edges fade out over ``feather`` of the face size so no hard square shows.
    Returns the pasted box (x, y, w, h) clipped to the frame.
    """
    fh, fw = face.shape[:2]
    h, w = frame.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + fw, w), min(y + fh, h)
    if x1 <= x0 or y1 <= y0:
        return (x0, y0, 0, 0)
    ramp = lambda n: np.clip(np.minimum(np.arange(n) + 0.5, n - np.arange(n) - 0.5) / max(feather * n, 1e-6), 0, 1)
    alpha = (ramp(fh)[:, None] * ramp(fw)[None, :])[y0 - y:y1 - y, x0 - x:x1 - x, None]
    patch = face[y0 - y:y1 - y, x0 - x:x1 - x]
    if patch.ndim == 2 and frame.ndim == 3:
        patch = cv2.cvtColor(patch, cv2.COLOR_GRAY2BGR)
    region = frame[y0:y1, x0:x1].astype(np.float32)
    frame[y0:y1, x0:x1] = (patch * alpha + region * (1 - alpha)).astype(np.uint8)
    return (x0, y0, x1 - x0, y1 - y0)


def synth_frame(height: int = 240, width: int = 320, *, face_px: int = 120, seed: int = 0,
                label: int | None = None) -> tuple[np.ndarray, tuple[float, float, float, float], int]:
    """A camera-like frame with one face about ``face_px`` wide: (frame, face box x,y,w,h, label)."""
    rng = np.random.default_rng(seed)
    label = int(rng.integers(len(EXPRESSIONS_8))) if label is None else label
    frame = background(height, width, rng)
    params, _ = face_params(label, rng, face_px * 2, Subject.sample("s", rng))
    half = face_px / 2
    params = replace(params, scale=half, angle=params.angle * 0.5, cx=rng.uniform(half * 1.3, width - half * 1.3),
                     cy=rng.uniform(half * 1.6, max(height - half * 1.6, half * 1.6 + 1)))
    render_face(frame, params)
    box = (params.cx - half, params.cy - half * params.aspect, 2 * half, 2 * half * params.aspect)
    return finish(frame, rng), box, label
