"""The one face cut: padding at the frame edges, framing (scale, shift, aligned), and crop identity
between the training path (the face cache the dataset readers use) and the runtime path, for a
classification model and a video model built the way ``fit`` builds them."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeaffect.data.base import DatasetIndex
from edgeaffect.data.facecache import CropOptions as CacheOptions
from edgeaffect.data.facecache import crop_frame
from edgeaffect.detectors import Face
from edgeaffect.facecrop import DEFAULT_FRAMING, cut, square
from edgeaffect.meta import Framing, Head, ModelMeta
from edgeaffect.preprocess import prepare_clip, prepare_image, resize_to
from edgeaffect.runtime.crop import CropOptions, crop_face


def _gradient(h: int = 120, w: int = 160) -> np.ndarray:
    """A frame whose every pixel differs from its neighbours, so any misplaced pixel shows."""
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx % 256, yy % 256, (xx * 7 + yy * 3) % 256], axis=-1).astype(np.uint8)


# boxes reaching past each of the four edges, one past a corner, and one well inside
EDGE_BOXES = {"left": (-20, 40, 50, 50), "right": (130, 30, 50, 50), "top": (50, -25, 50, 50),
              "bottom": (60, 90, 50, 50), "corner": (-10, -10, 40, 60), "inside": (50, 30, 40, 50)}


@pytest.mark.parametrize("where", sorted(EDGE_BOXES))
def test_the_cut_pads_at_the_edges_instead_of_stretching(where):
    frame = _gradient()
    box = EDGE_BOXES[where]
    framing = Framing(scale=1.0)
    x0, y0, side = square(box, framing)
    crop = cut(frame, box, framing, side)  # at its own size: no resize, so pixels compare exactly
    assert crop.shape == (side, side, 3)
    ys = np.clip(np.arange(y0, y0 + side), 0, frame.shape[0] - 1)
    xs = np.clip(np.arange(x0, x0 + side), 0, frame.shape[1] - 1)
    # inside the frame: the frame's own pixels at their own place; outside: the nearest edge pixel repeated
    assert np.array_equal(crop, frame[ys][:, xs])


def test_the_cut_frames_by_scale_and_shift_and_misses_nothing_inside():
    frame = _gradient(400, 400)
    face = Face(100, 100, 100, 100)
    assert square(face.box, Framing(scale=1.0, shift_y=-0.1)) == (100, 90, 100)  # FER+-style: the box, moved up
    assert square(face.box, DEFAULT_FRAMING) == (85, 85, 130)  # the default for models that record none
    assert square((100, 100, 60, 100), Framing(scale=1.2)) == (70, 90, 120)  # square on the longer side
    assert cut(frame, (500, 500, 30, 30), DEFAULT_FRAMING, 64) is None  # wholly outside: nothing to show
    assert cut(frame, face, None, (48, 64)).shape == (48, 64, 3)  # (height, width) of the model input


def test_runtime_options_follow_the_models_framing_unless_the_user_sets_a_margin():
    meta = ModelMeta(model="m", task="classification", input_size=(64, 64), color="gray",
                     heads=(Head("emotion", "logits", 8),), framing={"scale": 1.0, "shift_y": -0.1})
    assert CropOptions().for_model(meta).framing == meta.framing
    user = CropOptions(margin=0.25).for_model(meta).framing  # --margin wins over the model's framing
    assert (user.scale, user.shift_y) == (1.5, 0.0)
    assert CropOptions().for_model(meta.evolve(framing=None)).framing == DEFAULT_FRAMING
    assert CropOptions(align=True).for_model(meta).framing.aligned
    with pytest.raises(ValueError):
        CropOptions(margin=-0.5)


def test_aligned_cut_uses_the_landmarks_and_honours_the_shift():
    frame = np.zeros((200, 200, 3), np.uint8)
    frame[70:80, 60:70] = 255  # a bright "right eye"
    marks = ((65, 75), (115, 75), (90, 100), (70, 125), (110, 125))
    face = Face(50, 50, 80, 100, 1.0, marks)

    def eye(framing: Framing) -> tuple[float, float]:
        crop = cut(frame, face, framing, 112)
        assert crop.shape == (112, 112, 3)
        ys, xs = np.nonzero(crop[:, :, 0] > 128)
        return float(xs.mean()), float(ys.mean())

    x, y = eye(Framing(scale=1.0, aligned=True))
    assert abs(x - 38.3) < 6 and abs(y - 51.7) < 6  # lands on the template's eye
    x2, y2 = eye(Framing(scale=1.0, shift_y=-0.1, aligned=True))  # the crop moves up, so the face moves down
    assert abs((y2 - y) - 11.2) < 2 and abs(x2 - x) < 1
    bare = Face(50, 50, 80, 100)  # no landmarks: the box cut
    assert np.array_equal(cut(frame, bare, Framing(aligned=True), 64), cut(frame, bare, Framing(), 64))


def _trained_meta(model: str, index_info: dict, **kwargs) -> ModelMeta:
    """The ModelMeta ``fit`` writes for ``model`` trained on data whose reader recorded ``index_info``."""
    from edgeaffect.train.builders import record_framing
    from edgeaffect.train.registry import create_model

    index = DatasetIndex(format="x", root=Path("."), task="x", classes=(), splits={}, info=index_info)
    return record_framing(create_model(model, **kwargs), index).meta


@pytest.mark.parametrize("where", sorted(EDGE_BOXES))
def test_a_video_model_sees_live_the_crop_it_was_trained_on(where):
    from edgeaffect.data.ubfc_phys import UbfcPhysOptions

    cache = UbfcPhysOptions().crop_options()  # what the UBFC-Phys reader cuts its training clips with
    meta = _trained_meta("physnet", cache.info())
    assert meta.framing == cache.framing and meta.interpolation == "area"
    frame, box = _gradient(), EDGE_BOXES[where]
    trained = crop_frame(frame, np.asarray(box, np.float64), cache)
    live = crop_face(frame, Face(*box), CropOptions().for_model(meta))
    assert np.array_equal(trained, live)
    clip = prepare_clip([trained] * meta.temporal.frames, meta)
    assert np.array_equal(clip, prepare_clip([live] * meta.temporal.frames, meta))


@pytest.mark.parametrize("where", sorted(EDGE_BOXES))
def test_a_classification_model_sees_live_the_crop_it_was_trained_on(where):
    cache = CacheOptions(crop_size=64, scale=1.0, detector="yunet", interpolation="linear")
    meta = _trained_meta("resnet18", cache.info(), labels=list("abcdefgh"))
    assert meta.framing == cache.framing
    frame, box = _gradient(), EDGE_BOXES[where]
    trained = crop_frame(frame, np.asarray(box, np.float64), cache)
    live = crop_face(frame, Face(*box), CropOptions().for_model(meta))
    assert np.array_equal(prepare_image(trained, meta), prepare_image(live, meta))


def test_every_face_model_records_a_framing():
    meta = _trained_meta("resnet18", {}, labels=list("abcdefgh"))  # data that records no framing
    assert meta.framing == DEFAULT_FRAMING  # the default made explicit, not left to the runtime


def test_shrinking_averages_instead_of_sampling_a_few_pixels():
    noise = np.random.default_rng(0).integers(0, 256, (200, 200), dtype=np.uint8)  # sensor noise, fine texture
    small = resize_to(noise, (64, 64), "linear")  # "linear" is how the model's faces were enlarged
    assert np.array_equal(small, cv2.resize(noise, (64, 64), interpolation=cv2.INTER_AREA))
    aliased = cv2.resize(noise, (64, 64), interpolation=cv2.INTER_LINEAR)
    assert small.std() < 0.6 * aliased.std()  # ~9.8 pixels averaged per output pixel against 4 or fewer
    assert np.array_equal(resize_to(noise[:40, :40], (64, 64), "cubic"),  # enlarging keeps the model's method
                          cv2.resize(noise[:40, :40], (64, 64), interpolation=cv2.INTER_CUBIC))


def test_a_large_live_face_is_averaged_down_and_a_dataset_face_enlarged_as_before():
    meta = ModelMeta(model="m", task="classification", input_size=(64, 64), color="gray",
                     heads=(Head("emotion", "logits", 8),), framing={"scale": 1.0})
    face = np.random.default_rng(1).integers(0, 256, (200, 200), dtype=np.uint8)
    frame = np.zeros((400, 400, 3), np.uint8)
    frame[100:300, 150:350] = face[:, :, None]
    live = crop_face(frame, Face(150, 100, 200, 200), CropOptions().for_model(meta))  # the runtime's cut
    assert np.array_equal(live[:, :, 0], cv2.resize(face, (64, 64), interpolation=cv2.INTER_AREA))
    fer = face[:48, :48]  # a FER+ face: enlarged with the model's method, so training and eval inputs are unchanged
    assert np.array_equal(resize_to(fer, (64, 64), meta.interpolation),
                          cv2.resize(fer, (64, 64), interpolation=cv2.INTER_LINEAR))


def test_the_aligned_cut_of_a_large_face_averages_too():
    noise = np.random.default_rng(2).integers(0, 256, (600, 600, 3), dtype=np.uint8)
    marks = ((200, 250), (400, 250), (300, 330), (220, 420), (380, 420))  # a face ~400 px wide
    face = Face(100, 100, 400, 400, 1.0, marks)
    crop = cut(noise, face, Framing(scale=1.0, aligned=True), 64)
    sampled = cut(noise, face, Framing(scale=1.0, aligned=True), 512)  # a warp near the face's own size
    assert crop.shape == (64, 64, 3) and crop.std() < 0.35 * sampled.std()
