"""The procedural face renderer behind the built-in synthetic data.

One face is described by :class:`FaceParams` (who: skin, hair, face shape;
what: brows, eyes, mouth; where: position, size, rotation; light) and drawn
with OpenCV onto a BGR canvas by :func:`render_face`, which also returns the
68-point landmarks (iBUG order) it drew, so the annotations are exact.

The face is shaded as a lit ellipsoid with dark eye sockets, a lit nose bridge
and a shadow under the nose, because OpenCV's Haar cascade and YuNet key on
exactly those light/dark patterns: flat cartoon faces are not detected.
Torch-free (numpy + OpenCV).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Canonical face frame: origin at the face centre, x to the image right, y down,
# face half-width 1 and half-height ``aspect``.  Vertical positions are
# fractions of ``aspect`` so long and round faces keep their proportions.
EYE_Y, BROW_DY, NOSE_Y, MOUTH_Y, HAIRLINE_Y = -0.12, -0.24, 0.30, 0.60, -0.62


@dataclass(frozen=True)
class FaceParams:
    """Everything that decides how one face looks (canonical units, see module doc)."""

    # identity
    skin: tuple[float, float, float] = (120.0, 150.0, 200.0)  # BGR
    hair: tuple[float, float, float] = (30.0, 35.0, 45.0)
    clothes: tuple[float, float, float] = (120.0, 80.0, 60.0)
    aspect: float = 1.32
    eye_gap: float = 0.38
    eye_size: float = 0.17
    mouth_width: float = 0.30
    # expression
    brow_raise: float = 0.0  # + raised
    brow_tilt: float = 0.0  # + inner ends up (sad, fear), - inner ends down (anger)
    eye_open: float = 1.0
    mouth_curve: float = 0.0  # + corners up
    mouth_open: float = 0.0
    mouth_stretch: float = 1.0
    asym: float = 0.0  # + raises the image-right mouth corner only (contempt)
    upper_lip: float = 0.0  # + raised upper lip, wrinkled nose (disgust)
    # pose and light
    cx: float = 56.0
    cy: float = 56.0
    scale: float = 34.0  # face half-width in pixels
    angle: float = 0.0  # degrees, in-plane
    yaw: float = 0.0  # -0.2..0.2: features shift sideways
    light: tuple[float, float] = (0.3, -0.4)  # light direction (x, y) in the face plane
    ambient: float = 0.45
    skin_gain: tuple[float, float, float] = (1.0, 1.0, 1.0)  # per-channel skin multiplier (pulse, flush)


def _affine(p: FaceParams) -> np.ndarray:
    """2x3 matrix canonical -> image."""
    c, s = np.cos(np.radians(p.angle)) * p.scale, np.sin(np.radians(p.angle)) * p.scale
    return np.array([[c, -s, p.cx], [s, c, p.cy]], dtype=np.float64)


def _to_image(p: FaceParams, pts: np.ndarray) -> np.ndarray:
    m = _affine(p)
    return pts @ m[:, :2].T + m[:, 2]


def _lids(cx: float, cy: float, half_w: float, up: float, low: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    t = np.linspace(-1.0, 1.0, n)
    x = cx + half_w * t
    bulge = 1.0 - t ** 2
    return np.stack([x, cy - up * bulge], 1), np.stack([x, cy + low * bulge], 1)


def _eye_points(p: FaceParams, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Upper and lower lid curves (left to right) of one eye; side -1 = image left."""
    ex = side * p.eye_gap + p.yaw * 0.25
    ey = EYE_Y * p.aspect - 0.03 * max(p.mouth_curve, 0.0)  # cheeks push the eyes up in a smile
    open_ = np.clip(p.eye_open, 0.2, 1.8)
    return _lids(ex, ey, p.eye_size, 0.075 * open_, 0.045 * open_, 21)


def _brow_points(p: FaceParams, side: int) -> np.ndarray:
    """Five points of one brow, left to right."""
    ex = side * p.eye_gap + p.yaw * 0.25
    base = EYE_Y * p.aspect + BROW_DY - 0.09 * p.brow_raise
    t = np.linspace(-1.0, 1.0, 5)
    x = ex + t * 0.24
    inner = t * -side  # +1 at the end nearest the nose
    y = base - 0.05 * (1 - t ** 2) - 0.07 * p.brow_tilt * (inner + 1) / 2 + 0.02 * p.brow_tilt
    return np.stack([x, y], 1)


def _mouth_curves(p: FaceParams) -> tuple[np.ndarray, ...]:
    """Outer upper, outer lower, inner upper, inner lower lip curves, left to right (13 points)."""
    w = p.mouth_width * p.mouth_stretch * (1 + 0.15 * max(p.mouth_curve, 0.0))
    my = MOUTH_Y * p.aspect
    t = np.linspace(-1.0, 1.0, 13)
    left = -0.14 * p.mouth_curve + 0.02 * p.upper_lip
    right = -0.14 * p.mouth_curve - 0.15 * p.asym + 0.02 * p.upper_lip
    x = p.yaw * 0.2 + w * t + 0.05 * p.asym * np.maximum(t, 0)
    mid = my + (left * (1 - t) / 2 + right * (1 + t) / 2) * t ** 2
    bulge = np.sqrt(np.clip(1 - t ** 2, 0, 1))
    gap_up = 0.05 * p.mouth_open + 0.03 * p.upper_lip
    gap_low = 0.13 * p.mouth_open
    curves = (mid - (0.06 + gap_up) * bulge, mid + (0.08 + gap_low) * bulge,
              mid - gap_up * (1 - t ** 2), mid + gap_low * (1 - t ** 2))
    return tuple(np.stack([x, c], 1) for c in curves)


def landmarks68(p: FaceParams) -> np.ndarray:
    """The 68 iBUG points (canonical units) of the face ``p`` describes."""
    b = p.aspect
    th = np.radians(np.linspace(190.0, -10.0, 17))
    jaw = np.stack([np.cos(th), b * np.sin(th)], 1)
    brows = np.concatenate([_brow_points(p, -1), _brow_points(p, 1)])
    ey, ny, nx = EYE_Y * b, NOSE_Y * b, p.yaw * 0.3
    bridge = np.stack([np.linspace(nx * 0.5, nx, 4), np.linspace(ey, ny - 0.02, 4)], 1)
    nose = np.stack([nx + np.array([-0.13, -0.06, 0.0, 0.06, 0.13]), ny + np.array([0.03, 0.05, 0.06, 0.05, 0.03])], 1)
    eyes = []
    for side in (-1, 1):
        up, low = _eye_points(p, side)
        eyes.append(np.array([up[0], up[7], up[13], up[20], low[13], low[7]]))
    ou, ol, iu, il = _mouth_curves(p)
    k = [0, 2, 4, 6, 8, 10, 12]
    outer = np.concatenate([ou[k], ol[k[1:-1]][::-1]])  # 48 corner, 49-53 upper, 54 corner, 55-59 lower
    inner = np.concatenate([iu[[1, 4, 6, 8, 11]], il[[8, 6, 4]]])
    return np.concatenate([jaw, brows, bridge, nose, eyes[0], eyes[1], outer, inner]).astype(np.float64)


def _gauss(u: np.ndarray, v: np.ndarray, cu: float, cv: float, su: float, sv: float) -> np.ndarray:
    return np.exp(-(((u - cu) / su) ** 2 + ((v - cv) / sv) ** 2))


def _region(canvas: np.ndarray, p: FaceParams, u0: float, u1: float, v0: float, v1: float):
    """The canvas box covering canonical [u0,u1] x [v0,v1]: (slice, u, v) or None when off-canvas."""
    h, w = canvas.shape[:2]
    corners = _to_image(p, np.array([[u0, v0], [u1, v0], [u0, v1], [u1, v1]]))
    x0, y0 = np.floor(corners.min(0)).astype(int)
    x1, y1 = np.ceil(corners.max(0)).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 <= x0 or y1 <= y0:
        return None
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    inv = cv2.invertAffineTransform(_affine(p)).astype(np.float32)
    u = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]
    v = inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
    return (slice(y0, y1), slice(x0, x1)), u, v


def _over(roi: np.ndarray, alpha: np.ndarray, color: np.ndarray) -> np.ndarray:
    a = np.clip(alpha, 0, 1)[..., None].astype(np.float32)
    return roi * (1 - a) + color * a


def render_body(canvas: np.ndarray, p: FaceParams) -> None:
    """Neck and shoulders below the face ``p``, in place (drawn once per video: the torso sways less)."""
    region = _region(canvas, p, -2.4, 2.4, 0.3 * p.aspect, 2.4 * p.aspect)
    if region is None:
        return
    box, u, v = region
    b, edge = p.aspect, 1.5 / p.scale
    skin = np.array(p.skin, np.float32) * np.array(p.skin_gain, np.float32)
    roi = canvas[box].astype(np.float32)
    neck = np.clip((0.52 - np.abs(u)) / edge, 0, 1) * (v > 0.3 * b)
    roi = _over(roi, neck, skin[None, None] * (0.55 + 0.2 * np.clip(1 - np.abs(u) / 0.52, 0, 1))[..., None])
    body = np.clip((1 - (u / 2.2) ** 2 - ((v - 2.75 * b) / (1.2 * b)) ** 2) / (edge * 4), 0, 1)
    roi = _over(roi, body, np.array(p.clothes, np.float32) * (0.8 + 0.2 * np.clip(1 - np.abs(u) / 2.2, 0, 1))[..., None])
    canvas[box] = np.clip(roi, 0, 255).astype(np.uint8)


def _shade_head(canvas: np.ndarray, p: FaceParams) -> None:
    """Per-pixel shading of the hair and the lit face oval, in place."""
    b = p.aspect
    region = _region(canvas, p, -1.25, 1.25, -1.25 * b, 1.05 * b)
    if region is None:
        return
    box, u, v = region
    roi = canvas[box].astype(np.float32)
    skin = np.array(p.skin, np.float32) * np.array(p.skin_gain, np.float32)
    lx, ly = p.light
    lz = np.sqrt(max(1e-3, 1.0 - min(lx * lx + ly * ly, 0.9)))
    edge = 1.5 / p.scale  # about one pixel of anti-aliasing, in canonical units

    def over(alpha: np.ndarray, color: np.ndarray) -> None:
        nonlocal roi
        roi = _over(roi, alpha, color)

    # hair: a slightly larger ellipse above the hairline
    hr = (u / 1.1) ** 2 + ((v + 0.12 * b) / (1.08 * b)) ** 2
    hairline = HAIRLINE_Y * b + 0.25 * u ** 2
    hair_a = np.clip((1 - hr) / (edge * 2), 0, 1) * np.clip((hairline - v) / edge + 0.5, 0, 1)
    hair_a = np.maximum(hair_a, np.clip((1 - hr) / (edge * 2), 0, 1) * (np.abs(u) > 0.9) * (v < 0.1 * b))
    strands = 1 + 0.12 * np.sin(u * 40 + v * 7)
    over(hair_a, np.array(p.hair, np.float32) * strands[..., None])
    # face: ellipsoid normals lit from ``light``, then socket/nose/cheek maps
    r2 = u ** 2 + (v / b) ** 2
    nz = np.sqrt(np.clip(1 - r2, 0, 1))
    diffuse = np.clip((u * lx + v / b * ly + nz * lz) / np.sqrt(r2 + nz ** 2 + 1e-9), 0, 1)
    shade = p.ambient + (1 - p.ambient) * diffuse
    ey, ny = EYE_Y * b, NOSE_Y * b
    nx = p.yaw * 0.3
    for side in (-1, 1):
        ex = side * p.eye_gap + p.yaw * 0.25
        shade = shade * (1 - 0.45 * _gauss(u, v, ex, ey - 0.02, 0.24, 0.15))
    shade = shade * (1 + 0.18 * _gauss(u, v, nx * 0.8, (ey + ny) / 2, 0.06, 0.25))  # lit nose bridge
    shade = shade * (1 - 0.25 * _gauss(u, v, nx - 0.11 * np.sign(lx or 1.0), ny - 0.05, 0.05, 0.14))  # nose side
    shade = shade * (1 - 0.35 * _gauss(u, v, nx, ny + 0.09, 0.16, 0.035))  # under the nose
    shade = shade * (1 - 0.25 * _gauss(u, v, 0.0, MOUTH_Y * b + 0.17, 0.2, 0.05))  # under the lower lip
    if p.upper_lip > 0:  # wrinkles across the nose bridge
        shade = shade * (1 - 0.25 * p.upper_lip * _gauss(u, v, nx, ey + 0.05, 0.12, 0.03))
    blush = 0.12 * (_gauss(u, v, -0.52, 0.22 * b, 0.2, 0.15) + _gauss(u, v, 0.52, 0.22 * b, 0.2, 0.15))
    tint = np.stack([1 - blush * 0.6, 1 - blush * 0.4, 1 + blush * 0.2], -1)
    face_col = skin[None, None] * shade[..., None] * tint
    over(np.clip((1 - r2) / (2 * edge), 0, 1), face_col)
    canvas[box] = np.clip(roi, 0, 255).astype(np.uint8)


def _poly(canvas: np.ndarray, p: FaceParams, pts: np.ndarray, color, *, closed: bool = True,
          thickness: float | None = None) -> None:
    img = np.round(_to_image(p, pts) * 16).astype(np.int32)  # 4 fractional bits: sub-pixel accuracy
    col = tuple(float(c) for c in color)
    if thickness is None:
        cv2.fillPoly(canvas, [img], col, cv2.LINE_AA, shift=4)
    else:
        cv2.polylines(canvas, [img], closed, col, max(1, int(round(thickness * p.scale))), cv2.LINE_AA, shift=4)


def _draw_eye(canvas: np.ndarray, p: FaceParams, side: int) -> None:
    up, low = _eye_points(p, side)
    almond = np.concatenate([up, low[::-1]])
    x0, y0 = np.floor(_to_image(p, almond).min(0)).astype(int) - 2
    x1, y1 = np.ceil(_to_image(p, almond).max(0)).astype(int) + 3
    h, w = canvas.shape[:2]
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 <= x0 or y1 <= y0:
        return
    # sclera and iris drawn on a copy, then kept only inside the lids
    layer = canvas.copy()
    _poly(layer, p, almond, (215, 220, 225))
    iris_c = np.array([[up[10, 0] + p.yaw * 0.05, (up[10, 1] + low[10, 1]) / 2 + 0.005]])
    center = np.round(_to_image(p, iris_c)[0] * 16).astype(int)
    cv2.circle(layer, tuple(int(c) for c in center), int(0.075 * p.scale * 16), (40, 45, 60), -1, cv2.LINE_AA, shift=4)
    cv2.circle(layer, tuple(int(c) for c in center), int(0.035 * p.scale * 16), (10, 10, 10), -1, cv2.LINE_AA, shift=4)
    mask = np.zeros((h, w), np.uint8)
    _poly(mask, p, almond, (255,))
    a = (mask[y0:y1, x0:x1].astype(np.float32) / 255.0)[..., None]
    canvas[y0:y1, x0:x1] = (layer[y0:y1, x0:x1] * a + canvas[y0:y1, x0:x1] * (1 - a)).astype(np.uint8)
    _poly(canvas, p, up, (25, 25, 30), closed=False, thickness=0.035)  # upper lid and lashes
    _poly(canvas, p, low, np.array(p.skin) * 0.55, closed=False, thickness=0.015)


def _draw_brow(canvas: np.ndarray, p: FaceParams, side: int) -> None:
    pts = _brow_points(p, side)
    t = np.linspace(-1, 1, 5)
    thick = 0.035 + 0.02 * (t * -side + 1) / 2  # thicker at the inner end
    outline = np.concatenate([pts - [0, 1] * thick[:, None], (pts + [0, 1] * thick[:, None])[::-1]])
    _poly(canvas, p, outline, np.array(p.hair) * 0.9 + 10)


def _draw_mouth(canvas: np.ndarray, p: FaceParams) -> None:
    ou, ol, iu, il = _mouth_curves(p)
    skin = np.array(p.skin) * np.array(p.skin_gain)
    lip = np.clip(skin * np.array([0.62, 0.55, 0.85]), 0, 255)
    _poly(canvas, p, np.concatenate([ou, ol[::-1]]), lip)
    if p.mouth_open > 0.05 or p.upper_lip > 0.1:
        _poly(canvas, p, np.concatenate([iu, il[::-1]]), (25, 20, 45))
        if p.mouth_curve > 0.3 or p.upper_lip > 0.3:  # teeth show in a smile and a snarl
            teeth = np.concatenate([iu, np.minimum(iu + [0, 0.05], il)[::-1]])
            _poly(canvas, p, teeth, (200, 210, 215))
    _poly(canvas, p, (iu + il) / 2, lip * 0.5, closed=False, thickness=0.018)


def _draw_nose(canvas: np.ndarray, p: FaceParams) -> None:
    ny, nx = NOSE_Y * p.aspect, p.yaw * 0.3
    dark = np.array(p.skin) * 0.35
    for side in (-1, 1):
        c = _to_image(p, np.array([[nx + side * 0.06, ny + 0.045]]))[0]
        axes = (max(1, int(0.04 * p.scale)), max(1, int(0.022 * p.scale)))
        cv2.ellipse(canvas, (int(round(c[0])), int(round(c[1]))), axes, p.angle, 0, 360, tuple(dark.tolist()), -1,
                    cv2.LINE_AA)


def render_face(canvas: np.ndarray, p: FaceParams, *, body: bool = True, landmarks: bool = True) -> np.ndarray | None:
    """Draw the face ``p`` (with neck and shoulders unless ``body=False``) onto the BGR ``canvas`` in place.

    Returns its 68 landmarks (68x2 float32, pixels), or None with ``landmarks=False`` (video
    frames, which store none: computing them was a sixth of a frame's drawing time).
    """
    if body:
        render_body(canvas, p)
    _shade_head(canvas, p)
    for side in (-1, 1):
        _draw_eye(canvas, p, side)
        _draw_brow(canvas, p, side)
    _draw_nose(canvas, p)
    _draw_mouth(canvas, p)
    return _to_image(p, landmarks68(p)).astype(np.float32) if landmarks else None
