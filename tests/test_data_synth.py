"""Built-in synthetic faces: determinism, labels/targets, AffectNet layout, detectability."""
from __future__ import annotations

import csv

import cv2
import numpy as np

from edgeaffect.data import EXPRESSIONS_8
from edgeaffect.data.synthetic import (CIRCUMPLEX, Subject, background, draw_face, face_params, paste_face,
                                       synth_face_batch, synth_frame, write_synthetic_faces)
from edgeaffect.detectors import create_detector


def _yunet():
    from edgeaffect.modelcache import packaged_path

    return cv2.FaceDetectorYN.create(str(packaged_path("yunet")), "", (320, 240), 0.6)  # the shipped file


def _hit(box, boxes) -> bool:
    x, y, w, h = box
    return any(abs(b[0] + b[2] / 2 - (x + w / 2)) < 0.3 * w and abs(b[1] + b[3] / 2 - (y + h / 2)) < 0.3 * h
               for b in boxes)


def test_draw_face_is_deterministic_per_seed():
    a = draw_face(3, np.random.default_rng(7), 96)
    b = draw_face(3, np.random.default_rng(7), 96)
    c = draw_face(3, np.random.default_rng(8), 96)
    assert np.array_equal(a[0], b[0]) and a[1:3] == b[1:3] and np.array_equal(a[3], b[3])
    assert not np.array_equal(a[0], c[0])
    assert a[0].dtype == np.uint8 and a[0].shape == (96, 96, 3) and a[3].shape == (68, 2)


def test_batch_covers_all_classes_with_circumplex_targets():
    batch = synth_face_batch(64, size=64, seed=0)
    assert batch.images.shape == (64, 64, 64, 3) and batch.landmarks.shape == (64, 68, 2)
    assert set(batch.labels.tolist()) == set(range(len(EXPRESSIONS_8)))
    assert np.all(np.abs(batch.valence) <= 1) and np.all(np.abs(batch.arousal) <= 1)
    for k, name in enumerate(EXPRESSIONS_8):
        v0, a0 = CIRCUMPLEX[name]
        sel = batch.labels == k
        if abs(v0) >= 0.3:  # the drawn targets sit on the expression's side of the circumplex
            assert np.all(np.sign(batch.valence[sel]) == np.sign(v0)), name
        if abs(a0) >= 0.3:
            assert np.all(np.sign(batch.arousal[sel]) == np.sign(a0)), name
    assert np.array_equal(synth_face_batch(8, size=32, seed=5).images, synth_face_batch(8, size=32, seed=5).images)


def test_landmarks_match_the_drawing():
    """The pupils (mean of each eye's 6 points) are darker than the lit nose bridge they were drawn beside."""
    batch = synth_face_batch(40, size=112, seed=3)
    darker = 0
    for img, lnd in zip(batch.images, batch.landmarks):
        gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(float)
        assert np.all((lnd > -5) & (lnd < 117)), "landmarks leave the image"
        assert lnd[36:42, 0].mean() < lnd[42:48, 0].mean() < lnd[16, 0] + 1  # image-left eye first, jaw ends right
        eyes = [lnd[36:42].mean(0), lnd[42:48].mean(0)]
        bridge = gray[int(lnd[28, 1]), int(lnd[28, 0])]
        darker += all(gray[int(round(y)), int(round(x))] < bridge for x, y in eyes)
    assert darker >= 36


def test_expressions_change_the_mouth_and_brows():
    """Same identity, pose and light: a smile lifts the mouth corners, surprise lifts and anger lowers the brows."""
    def face(label):
        return draw_face(label, np.random.default_rng(11), 112)[3]
    neutral, happy, surprise, anger = face(0), face(1), face(2), face(4)
    corner_lift = lambda l: (l[51, 1] - (l[48, 1] + l[54, 1]) / 2)  # positive when corners are above the lip centre
    assert corner_lift(happy) > corner_lift(neutral) + 2
    brow = lambda l: (l[[36, 39, 42, 45], 1].mean() - l[17:27, 1].mean()) / (l[8, 1] - l[27, 1])
    assert brow(surprise) > brow(neutral) + 0.03
    assert brow(anger) < brow(neutral) - 0.02


def test_write_synthetic_faces_affectnet_layout(tmp_path):
    out = write_synthetic_faces(tmp_path / "faces", per_class=4, size=48, seed=0)
    counts = {}
    for split in ("train_set", "val_set", "test_set"):
        images = sorted((out / split / "images").glob("*.png"))
        counts[split] = len(images)
        for img in images[:5]:
            key = img.stem
            ann = out / split / "annotations"
            assert cv2.imread(str(img)).shape == (48, 48, 3)
            exp = np.load(ann / f"{key}_exp.npy")
            assert exp.dtype == np.int64 and exp.shape == () and 0 <= int(exp) < 8
            for tag in ("val", "aro"):
                x = np.load(ann / f"{key}_{tag}.npy")
                assert x.dtype == np.float32 and x.shape == () and -1 <= float(x) <= 1
            lnd = np.load(ann / f"{key}_lnd.npy")
            assert lnd.dtype == np.float32 and lnd.shape == (136,)
    assert counts == {"train_set": 32, "val_set": 8, "test_set": 8}
    with open(out / "subjects.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 48 and len({r["id"] for r in rows}) == 48
    split_of = {}
    for split in ("train_set", "val_set", "test_set"):
        for img in (out / split / "images").glob("*.png"):
            split_of[img.stem] = split
    owners = {}
    for r in rows:
        owners.setdefault(r["subject"], set()).add(split_of[r["id"]])
    assert all(len(s) == 1 for s in owners.values()), "a subject appears in two splits"


def test_haar_finds_synthetic_faces_in_frames():
    """Measured 0.875-0.95 per face size on 40 frames each (face 60-200 px); assert 0.8 over 30 mixed frames."""
    haar = create_detector("haar")
    found = 0
    for seed in range(30):
        frame, box, _ = synth_frame(240, 320, face_px=100 + 3 * seed, seed=seed)
        found += _hit(box, [f.box for f in haar.detect(frame)])
    assert found / 30 >= 0.8


def test_pasted_faces_are_detected_by_haar_and_yunet():
    """paste_face makes test frames: measured Haar 0.85, YuNet 1.0 on 40 frames."""
    rng = np.random.default_rng(5)
    haar = create_detector("haar")
    frames = []
    for _ in range(20):
        frame = background(240, 320, rng)
        side = int(rng.integers(100, 200))
        x, y = int(rng.integers(0, 320 - side)), int(rng.integers(0, 241 - side))
        paste_face(frame, draw_face(int(rng.integers(8)), rng, side)[0], x, y)
        frames.append((frame, (x, y, side, side)))
    assert sum(_hit(b, [f.box for f in haar.detect(f)]) for f, b in frames) >= 15
    yunet = _yunet()
    hits = 0
    for frame, box in frames:
        _, dets = yunet.detect(frame)
        hits += _hit(box, [] if dets is None else [d[:4] for d in dets])
    assert hits >= 18


def test_paste_face_clips_at_the_frame_edge():
    frame = np.zeros((50, 60, 3), np.uint8)
    face = np.full((40, 40, 3), 200, np.uint8)
    assert paste_face(frame, face, 40, -10) == (40, 0, 20, 30)
    assert frame[10, 55].max() > 0 and frame[45, 5].max() == 0


def test_written_faces_read_back_through_the_affectnet_reader(tmp_path):
    from edgeaffect.data import open_dataset

    index = open_dataset(write_synthetic_faces(tmp_path / "faces", per_class=4, size=48, seed=2))
    assert index.format == "affectnet" and {k: len(v) for k, v in index.splits.items()} == {
        "train": 32, "valid": 8, "test": 8}
    assert not (index.subjects("train") & index.subjects("valid")) and not (index.subjects("train") &
                                                                           index.subjects("test"))
    seen = set()
    for record in index.split("train"):
        name = index.classes[record.label]
        seen.add(name)
        v0, a0 = CIRCUMPLEX[name]  # the code written maps back to the expression that was drawn
        if abs(v0) >= 0.3:
            assert np.sign(record.valence) == np.sign(v0), name
        if abs(a0) >= 0.3:
            assert np.sign(record.arousal) == np.sign(a0), name
        assert record.landmarks.shape == (68, 2)
    assert seen == set(EXPRESSIONS_8)


def test_aligned_faces_keep_position_size_and_pose_fixed_and_the_same_people(tmp_path):
    def spread(aligned: bool) -> tuple[float, float]:
        rng = np.random.default_rng(3)
        pts = np.stack([draw_face(i % 8, rng, 112, aligned=aligned)[3] for i in range(24)])
        eyes = pts[:, 36:48].mean(1)  # both eyes' centre: moves with position, size and roll
        width = np.linalg.norm(pts[:, 16] - pts[:, 0], axis=1)  # jaw width: the face's size
        return float(eyes.std(0).max()), float(width.std() / width.mean())

    loose, aligned = spread(False), spread(True)
    assert loose[0] > 2.0 and loose[1] > 0.04, loose  # the default faces move and scale
    assert aligned[0] < 1.0 and aligned[1] < 1e-3, aligned  # only the expression moves the eyes
    # the same seed gives the same person, light and expression either way
    person = Subject.sample("p", np.random.default_rng(1))
    a, _ = face_params(5, np.random.default_rng(9), 112, person, aligned=True)
    b, _ = face_params(5, np.random.default_rng(9), 112, person)
    assert (a.light, a.brow_tilt, a.mouth_curve, a.clothes) == (b.light, b.brow_tilt, b.mouth_curve, b.clothes)
    assert (a.angle, a.yaw) == (0.0, 0.0) and (b.angle, b.yaw) != (0.0, 0.0)

    out = write_synthetic_faces(tmp_path / "faces", per_class=4, size=48, seed=0, aligned=True, per_subject=1)
    with open(out / "subjects.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    train = {r["subject"] for r in rows if r["subject"].startswith("train")}
    assert len(train) == 4  # one face per person and class: per_class people in the training split
