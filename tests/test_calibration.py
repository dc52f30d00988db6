"""Calibration sources: seeded class-balanced subsets, no test data, ModelMeta preprocessing, toolkit adapters."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from edgeaffect.calibration.adapters import ort_reader, representative_dataset
from edgeaffect.calibration.sampling import balanced_subset
from edgeaffect.calibration.sources import from_arrays, from_dataset, from_image_folder, for_verification, from_path
from edgeaffect.data.base import DatasetIndex, Record
from edgeaffect.errors import DataError
from edgeaffect.meta import ModelMeta
from edgeaffect.preprocess import prepare_image

CLASSES = ("neutral", "happiness", "surprise")
META = ModelMeta(model="t", task="classification", input_size=(16, 16), color="rgb", labels=CLASSES,
                 heads=[{"name": "logits", "kind": "logits", "size": 3}], mean=(0.5, 0.4, 0.3), std=(0.2, 0.2, 0.2))


def index(counts=(60, 10, 5)):
    """An imbalanced in-memory dataset: pixels inline, label = class, value = key number."""
    rng = np.random.default_rng(0)
    recs = {split: tuple(Record(key=f"{split}{c}_{i}", split=split, label=c,
                                pixels=rng.integers(0, 255, (20, 20, 3), dtype=np.uint8))
                         for c, n in enumerate(counts) for i in range(n)) for split in ("train", "valid", "test")}
    return DatasetIndex(format="memory", root=__import__("pathlib").Path("/mem"), task="classification",
                        classes=CLASSES, splits=recs)


@pytest.mark.parametrize("split", ["test", "Test", "private_test"])
def test_calibration_refuses_test_split(split):
    with pytest.raises(DataError, match="never see test data"):
        from_dataset(index(), META, split=split)


def test_verification_may_read_test():
    assert len(for_verification(index(), META, split="test", n=20)) == 20


def test_class_balanced_and_seeded():
    src = from_dataset(index(), META, split="train", n=15, seed=3)
    assert src.summary()["per_class"] == {"neutral": 5, "happiness": 5, "surprise": 5}
    assert [s.key for s in src.samples] == [s.key for s in from_dataset(index(), META, split="train", n=15, seed=3).samples]
    assert [s.key for s in src.samples] != [s.key for s in from_dataset(index(), META, split="train", n=15, seed=4).samples]
    # a small class runs out: its turns go to the others, still as even as possible
    counts = from_dataset(index(), META, split="train", n=30).summary()["per_class"]
    assert counts == {"neutral": 15, "happiness": 10, "surprise": 5}


def test_balanced_subset_uses_unlabelled_last():
    picked = balanced_subset([0, 0, None, 1, None], 4, seed=0)
    assert set(picked[:3]) == {0, 1, 3} and picked[3] in (2, 4)


def test_iteration_applies_model_preprocessing_and_is_reiterable():
    src = from_dataset(index(), META, split="train", n=6)
    first, second = list(src), list(src)
    assert len(first) == 6 and all(a.shape == (3, 16, 16) and a.dtype == np.float32 for a in first)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[0], prepare_image(src.samples[0].load(), META))
    assert src.summary()["preprocessing"]["mean"] == [0.5, 0.4, 0.3]


def test_image_folder_balanced_by_subfolder_and_skips_corrupt(tmp_path):
    for cls, n in (("a", 8), ("b", 3)):
        (tmp_path / cls).mkdir()
        for i in range(n):
            cv2.imwrite(str(tmp_path / cls / f"{i}.png"), np.full((12, 12), i * 20, np.uint8))
    (tmp_path / "b" / "broken.png").write_bytes(b"not a png")
    src = from_image_folder(tmp_path, META, n=8, seed=0)
    assert src.summary()["per_class"] == {"a": 4, "b": 4}
    items = list(src)
    assert len(items) == 7 and src.summary()["skipped"] == [str(tmp_path / "b" / "broken.png")]
    assert len(list(src)) == 7 and len(src.skipped) == 1  # counted once over re-iterations


def test_from_path_falls_back_to_image_folder(tmp_path):
    cv2.imwrite(str(tmp_path / "x.png"), np.zeros((8, 8), np.uint8))
    cv2.imwrite(str(tmp_path / "y.tif"), np.zeros((8, 8), np.uint8))  # the image types the runtime's folder source reads
    assert len(from_path(tmp_path, META)) == 2
    with pytest.raises(DataError):
        from_path(tmp_path / "missing", META)


def test_ort_reader_batches_and_rewinds():
    src = from_arrays([np.full((10, 10), v, np.uint8) for v in range(5)], META)
    reader = ort_reader(src, ["input"], batch_size=2)
    shapes = [b["input"].shape for b in iter(reader.get_next, None)]
    assert shapes == [(2, 3, 16, 16), (2, 3, 16, 16), (1, 3, 16, 16)]
    assert reader.get_next() is None
    reader.rewind()
    assert reader.get_next()["input"].shape == (2, 3, 16, 16)


def test_representative_dataset_layouts():
    src = from_arrays([np.zeros((10, 10), np.uint8)] * 3, META)
    assert [b[0].shape for b in representative_dataset(src)()] == [(1, 3, 16, 16)] * 3
    assert next(representative_dataset(src, layout="nhwc")())[0].shape == (1, 16, 16, 3)


def test_nncf_dataset_adapter():
    nncf = pytest.importorskip("nncf")
    from edgeaffect.calibration.adapters import nncf_dataset

    src = from_arrays([np.zeros((10, 10), np.uint8)] * 4, META)
    ds = nncf_dataset(src)
    assert isinstance(ds, nncf.Dataset)
    items = list(ds.get_inference_data())
    assert len(items) == 4 and items[0].shape == (1, 3, 16, 16)


def test_unbound_source_says_how_to_bind():
    with pytest.raises(DataError, match="with_meta"):
        list(from_arrays([np.zeros((4, 4), np.uint8)]))


def test_ferplus_calibration_is_train_only_and_balanced(ferplus_root):
    from edgeaffect.data import open_dataset

    idx = open_dataset(ferplus_root)
    meta = META.evolve(labels=tuple(idx.classes), heads=({"name": "logits", "kind": "logits", "size": len(idx.classes)},),
                       color="gray", mean=(0.5,), std=(0.5,))
    src = from_dataset(idx, meta, split="train", n=64)
    per_class = src.summary()["per_class"]
    assert sum(per_class.values()) == 64 and max(per_class.values()) - min(per_class.values()) <= 1
    assert next(iter(src)).shape == (1, 16, 16)
    with pytest.raises(DataError):
        from_dataset(idx, meta, split="test")


def test_ort_reader_ranges_hand_out_consecutive_chunks_once():
    src = from_arrays([np.full((10, 10), v * 40, np.uint8) for v in range(5)], META)
    reader = ort_reader(src, ["input"], batch_size=1)
    seen = []
    for start, end in ((0, 2), (2, 4), (4, 5)):  # how ORT's strided calibration asks for them
        reader.set_range(start_index=start, end_index=end)
        seen.append([float(b["input"].mean()) for b in iter(reader.get_next, None)])
    assert [len(chunk) for chunk in seen] == [2, 2, 1]
    flat = [v for chunk in seen for v in chunk]
    assert flat == sorted(flat) and len(set(flat)) == 5  # each sample once, in order
    reader.set_range(start_index=1, end_index=2)  # a jump back re-reads from the start
    assert [float(b["input"].mean()) for b in iter(reader.get_next, None)] == [flat[1]]
