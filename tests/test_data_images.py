"""Image dataset readers: tiny fixtures in each real layout, read back through open_dataset (auto-detect)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeaffect.data import EXPRESSIONS_8, open_dataset
from edgeaffect.data.ferplus import LabelMode, label_votes
from edgeaffect.errors import ConfigError, DataError

BOX = '"(0, 0, 48, 48)"'


def face(seed: int, size: int = 48, color: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (size, size, 3) if color else (size, size), dtype=np.uint8)


def votes(*v: int) -> str:
    return ",".join(str(x) for x in v)


# FER+ rows (name, box, votes) -> what majority mode must make of them.
FERPLUS_TRAIN = [
    ("fer0000000.png", '"(2, 3, 40, 41)"', votes(0, 8, 1, 1, 0, 0, 0, 0, 0, 0)),  # 1 happiness
    ("fer0000001.png", BOX, votes(0, 5, 1, 1, 1, 1, 1, 0, 0, 0)),  # 2 votes of 1 zeroed -> happiness
    ("fer0000002.png", BOX, votes(0, 4, 4, 0, 0, 0, 0, 0, 2, 0)),  # 3 tie -> no majority, dropped
    ("fer0000003.png", BOX, votes(0, 0, 0, 0, 0, 0, 0, 0, 8, 2)),  # 4 unknown -> dropped
    ("fer0000004.png", BOX, votes(0, 0, 0, 0, 0, 0, 0, 0, 0, 10)),  # 5 not a face -> dropped
    ("fer0000005.png", '"(0, 0, 48)"', votes(10, 0, 0, 0, 0, 0, 0, 0, 0, 0)),  # 6 malformed box
    ("fer0000006.png", BOX, "10,0,0,x,0,0,0,0,0,0"),  # 7 malformed votes
    ("", BOX, votes(10, 0, 0, 0, 0, 0, 0, 0, 0, 0)),  # 8 empty image name
    ("fer0000099.png", BOX, votes(10, 0, 0, 0, 0, 0, 0, 0, 0, 0)),  # 9 image file missing
    ("fer0000008.png", BOX, votes(10, 0, 0, 0, 0, 0, 0, 0, 0, 0)),  # 10 neutral, truncated PNG
    ("fer0000009.png", BOX, votes(0, 6, 4, 0, 0, 0, 0, 0, 0, 0)),  # 11 happiness 6 / surprise 4
]


def write_ferplus(root: Path) -> Path:
    for folder, rows in (("FER2013Train", FERPLUS_TRAIN),
                         ("FER2013Valid", [("fer0028638.png", BOX, votes(0, 0, 0, 9, 1, 0, 0, 0, 0, 0))]),
                         ("FER2013Test", [("fer0032220.png", BOX, votes(0, 0, 0, 0, 0, 0, 0, 7, 3, 0))])):
        d = root / folder
        d.mkdir(parents=True)
        for i, (name, _, _) in enumerate(rows):
            if name and name != "fer0000099.png":
                cv2.imwrite(str(d / name), face(i))
        (d / "label.csv").write_text("".join(f"{n},{b},{v}\n" for n, b, v in rows))
    png = root / "FER2013Train" / "fer0000008.png"
    png.write_bytes(png.read_bytes()[:60])  # truncated mid-stream
    return root


def test_ferplus_majority(tmp_path):
    index = open_dataset(write_ferplus(tmp_path / "fp"))
    assert index.format == "ferplus" and index.classes == EXPRESSIONS_8 and index.task == "classification"
    train = {r.key.split("/")[-1]: r for r in index.split("train")}
    assert set(train) == {"fer0000000.png", "fer0000001.png", "fer0000008.png", "fer0000009.png"}
    assert train["fer0000000.png"].label == EXPRESSIONS_8.index("happiness")
    assert train["fer0000000.png"].box == (2, 3, 40, 41) and train["fer0000000.png"].target is None
    assert train["fer0000001.png"].label == 1  # only after votes of 1 are zeroed does 5 of 5 hold a majority
    assert train["fer0000008.png"].label == 0
    assert [r.label for r in index.split("valid")] == [EXPRESSIONS_8.index("sadness")]
    assert [r.label for r in index.split("test")] == [EXPRESSIONS_8.index("contempt")]
    assert index.info["dropped"]["train"] == {"unknown": 2, "not a face": 1}
    skipped = {s.source.rsplit(":", 1)[1]: s.reason for s in index.skipped}
    assert set(skipped) == {"6", "7", "8", "9"}
    assert "box" in skipped["6"] and "vote" in skipped["7"]
    assert skipped["8"] == "empty image name" and skipped["9"] == "image file missing"
    assert all(s.source.startswith(str(tmp_path / "fp" / "FER2013Train" / "label.csv")) for s in index.skipped)


@pytest.mark.parametrize("mode", ["probability", "crossentropy"])
def test_ferplus_soft_modes_sum_to_one(tmp_path, mode):
    index = open_dataset(write_ferplus(tmp_path / "fp"), mode=mode)
    assert index.info["mode"] == mode and index.info["target"] == "distribution"
    records = [r for split in index.splits.values() for r in split]
    assert all(r.target.shape == (8,) and abs(float(r.target.sum()) - 1.0) < 1e-6 for r in records)
    by_name = {r.key.split("/")[-1]: r for r in records}
    np.testing.assert_allclose(by_name["fer0000009.png"].target[:3], [0, 0.6, 0.4], atol=1e-6)
    np.testing.assert_allclose(by_name["fer0000002.png"].target[:3], [0, 0.5, 0.5], atol=1e-6)  # tie kept
    assert by_name["fer0000002.png"].label == 1  # first of equal peaks
    np.testing.assert_allclose(by_name["fer0032220.png"].target[7], 1.0)  # unknown share left out
    assert "fer0000003.png" not in by_name and "fer0000004.png" not in by_name


def test_ferplus_multitarget(tmp_path):
    index = open_dataset(write_ferplus(tmp_path / "fp"), mode="multitarget")
    by_name = {r.key.split("/")[-1]: r for r in index.split("train")}
    np.testing.assert_array_equal(by_name["fer0000009.png"].target, [0, 1, 1, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(by_name["fer0000002.png"].target, [0, 1, 1, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(by_name["fer0000000.png"].target, [0, 1, 0, 0, 0, 0, 0, 0])


@pytest.mark.parametrize("raw, mode, expected", [
    ((3, 3, 3, 3, 0, 0, 0, 0, 0, 0), "probability", "unknown"),  # four equal peaks: too spread
    ((5, 0, 0, 0, 0, 0, 0, 0, 5, 0), "probability", "unknown"),  # emotion tied with unknown holds only half
    ((6, 0, 0, 0, 0, 0, 0, 0, 2, 2), "probability", 0),  # unknown / NF below the peak are left out
    ((1, 1, 1, 1, 1, 1, 1, 1, 1, 1), "majority", "unknown"),  # every vote is a single one
    ((2, 2, 0, 0, 0, 0, 0, 0, 0, 0), "majority", "unknown"),  # exactly half is not more than half
    ((3, 2, 0, 0, 0, 0, 0, 0, 0, 0), "majority", 0),
    ((0, 0, 0, 0, 0, 0, 0, 0, 2, 8), "multitarget", "not a face"),
    ((0, 4, 0, 3, 3, 2, 0, 0, 0, 0), "multitarget", "unknown"),  # the one 30 % class holds 4 of 12
])
def test_ferplus_label_rules(raw, mode, expected):
    result = label_votes(np.array(raw, dtype=float), LabelMode(mode))
    assert (result if isinstance(result, str) else result[0]) == expected


def test_ferplus_bad_mode_and_empty_root(tmp_path):
    root = write_ferplus(tmp_path / "fp")
    with pytest.raises(ConfigError, match="label mode"):
        open_dataset(root, mode="vote")
    with pytest.raises(DataError, match="FER2013Train"):
        open_dataset(tmp_path / "fp" / "FER2013Train", format="ferplus")


def test_fer2013_csv(tmp_path):
    pixels = " ".join(str(v) for v in face(1).ravel())
    rows = ["emotion,pixels,Usage", f"3,{pixels},Training", f"6,{pixels},PublicTest", f"0,{pixels},PrivateTest",
            f"2,1 2 3,Training", f"9,{pixels},Training", f"x,{pixels},Training", f"1,{pixels},Elsewhere"]
    path = tmp_path / "fer" / "fer2013.csv"
    path.parent.mkdir()
    path.write_text("\n".join(rows) + "\n")
    for root in (path, path.parent):
        index = open_dataset(root)
        assert index.format == "fer2013csv" and list(index.splits) == ["train", "valid", "test"]
        (train,) = index.split("train")
        assert index.classes[train.label] == "happiness"
        assert index.classes[index.split("valid")[0].label] == "neutral"
        assert train.pixels.shape == (48, 48) and train.pixels.dtype == np.uint8
        np.testing.assert_array_equal(train.read_image(), face(1))
        lines = {s.source.rsplit(":", 1)[1]: s.reason for s in index.skipped}
        assert set(lines) == {"5", "6", "7", "8"} and "pixel count" in lines["5"] and "0-6" in lines["6"]


def write_rafdb(root: Path) -> Path:
    (root / "EmoLabel").mkdir(parents=True)
    aligned = root / "Image" / "aligned"
    aligned.mkdir(parents=True)
    for i, stem in enumerate(("train_00001", "test_0001", "train_00002")):
        cv2.imwrite(str(aligned / f"{stem}_aligned.jpg"), face(i, 100, color=True))
    (root / "EmoLabel" / "list_patition_label.txt").write_text(
        "train_00001.jpg 5\ntest_0001.jpg 1\ntrain_00002.jpg 9\ntrain_00003.jpg 7\nbroken line here\n"
        "other_0001.jpg 2\n")
    return root


def test_rafdb(tmp_path):
    index = open_dataset(write_rafdb(tmp_path / "basic"))
    assert index.format == "rafdb" and index.classes[6] == "neutral"
    (train,) = index.split("train")
    (test,) = index.split("test")
    assert index.classes[train.label] == "sadness" and index.classes[test.label] == "surprise"
    assert train.read_image().shape == (100, 100, 3)
    reasons = {int(s.source.rsplit(":", 1)[1]): s.reason for s in index.skipped}
    assert reasons == {3: "label outside 1-7", 4: "image file missing",
                       5: reasons[5], 6: "image name does not start with train_ or test_"}
    assert "malformed" in reasons[5]


def write_affectnet(folder: Path, rows: list[tuple], subjects: dict[str, str] | None = None,
                    as_strings: bool = True) -> Path:
    """rows: (id, expression, valence, arousal, write_image)."""
    (folder / "images").mkdir(parents=True)
    (folder / "annotations").mkdir()
    for n, (image_id, exp, val, aro, image) in enumerate(rows):
        if image:
            cv2.imwrite(str(folder / "images" / f"{image_id}.jpg"), face(n, 64, color=True))
        for kind, value in (("exp", exp), ("val", val), ("aro", aro)):
            np.save(folder / "annotations" / f"{image_id}_{kind}.npy", np.array(str(value) if as_strings else value))
        np.save(folder / "annotations" / f"{image_id}_lnd.npy", np.linspace(0, 63, 136))
    if subjects:
        (folder / "subjects.csv").write_text("id,subject\n" + "".join(f"{k},{v}\n" for k, v in subjects.items()))
    return folder


def test_affectnet_single_folder(tmp_path):
    root = write_affectnet(tmp_path / "an", [("0", 1, 0.5, -0.25, True), ("1", 9, 0.1, 0.1, True),
                                             ("2", 3, -2, -2, True), ("3", 2, 0.0, 0.0, False),
                                             ("10", 7, -1.0, 1.0, True)], subjects={"0": "s1", "10": "s2"})
    index = open_dataset(root)
    assert index.format == "affectnet" and index.task == "multitask" and list(index.splits) == ["train"]
    assert index.classes == ("neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger", "contempt")
    r0, r10 = index.split("train")
    assert (r0.key, index.classes[r0.label], r0.valence, r0.arousal, r0.subject) == ("0", "happiness", 0.5, -0.25, "s1")
    assert index.classes[r10.label] == "contempt" and r10.subject == "s2"
    assert r0.landmarks.shape == (68, 2) and r0.read_image().shape == (64, 64, 3)
    reasons = {Path(s.source).name: s.reason for s in index.skipped}
    assert "8-10" in reasons["1_exp.npy"] and "-2" in reasons["2_exp.npy"]
    assert reasons["3_exp.npy"] == "image file missing"


def test_affectnet_distribution_layout_numeric(tmp_path):
    write_affectnet(tmp_path / "an" / "train_set", [("5", 0, 0.2, 0.3, True)], as_strings=False)
    write_affectnet(tmp_path / "an" / "val_set", [("6", 6, -0.2, 0.4, True)], as_strings=False)
    index = open_dataset(tmp_path / "an")
    assert list(index.splits) == ["train", "valid"] and index.split("valid")[0].key == "val_set/6"
    assert index.classes[index.split("valid")[0].label] == "anger"  # AffectNet code 6, not the FER+ order
    assert index.classes[index.split("train")[0].label] == "neutral"


def write_folders(root: Path) -> Path:
    for rel, img in (("train/angry/a.png", face(1)), ("train/happy/b.jpg", face(2, color=True)),
                     ("train/happy/c.png", face(3)), ("validation/surprised/d.png", face(4)),
                     ("train/bored/e.png", face(5)), ("test/sad/f.png", face(6))):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / rel), img)
    (root / "test" / "sad" / "corrupt.png").write_bytes(b"not a png")
    (root / "train" / "angry" / "notes.txt").write_text("x")
    return root


def test_class_folders(tmp_path):
    index = open_dataset(write_folders(tmp_path / "kaggle"))
    assert index.format == "folders"
    assert index.classes == ("anger", "happiness", "sadness", "surprise")  # sorted folder names, canonical
    assert {s: len(r) for s, r in index.splits.items()} == {"test": 2, "train": 3, "valid": 1}
    assert index.class_counts("train") == {"anger": 1, "happiness": 2, "sadness": 0, "surprise": 0}
    reasons = {Path(s.source).name: s.reason for s in index.skipped}
    assert "unknown class folder" in reasons["bored"] and reasons["notes.txt"] == "not an image file"
    corrupt = next(r for r in index.split("test") if r.path.name == "corrupt.png")
    with pytest.raises(DataError, match="corrupt.png"):
        corrupt.read_image()


def test_class_folders_need_a_split(tmp_path):
    (tmp_path / "x" / "happy").mkdir(parents=True)
    with pytest.raises(DataError, match="train/validation/test"):
        open_dataset(tmp_path / "x", format="folders")


@pytest.mark.data
def test_real_ferplus_all_modes(ferplus_root):
    expected = {"majority": (25045, 3191, 3137)}
    for mode in ("majority", "probability", "multitarget"):  # crossentropy reads as probability
        index = open_dataset(ferplus_root, mode=mode)
        counts = tuple(len(index.split(s)) for s in ("train", "valid", "test"))
        assert counts == expected.get(mode, counts) and not index.skipped
        if mode == "probability":
            sums = np.array([r.target.sum() for s in index.splits.values() for r in s])
            assert np.allclose(sums, 1.0, atol=1e-5)
            assert counts[0] > 25045  # soft modes keep images without a clear majority
