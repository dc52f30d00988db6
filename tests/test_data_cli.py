"""``edgeaffect data`` inspect / split / synth, inspect_dataset on every record type, subject-disjoint splits."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeaffect.cli import main
from edgeaffect.data import READERS, ClipRecord, DatasetIndex, TabularRecord, open_dataset, register_reader
from edgeaffect.data.inspection import inspect_dataset
from edgeaffect.data.split import apply_split_file, check_no_leak, make_splits, write_split_file
from edgeaffect.errors import ConfigError, DataError


def write_affectnet(root: Path, subjects: int = 6, per_subject: int = 4, with_subjects: bool = True) -> Path:
    """Distribution layout, subjects.csv in the root (as the synthetic generator writes it)."""
    rng = np.random.default_rng(0)
    rows, n = ["id,subject"], 0
    for s in range(subjects):
        folder = root / ("val_set" if s == subjects - 1 else "train_set")
        (folder / "images").mkdir(parents=True, exist_ok=True)
        (folder / "annotations").mkdir(exist_ok=True)
        for _ in range(per_subject):
            cv2.imwrite(str(folder / "images" / f"{n}.png"), rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
            for kind, value in (("exp", n % 8), ("val", 0.1), ("aro", -0.1)):
                np.save(folder / "annotations" / f"{n}_{kind}.npy", np.array(value))
            rows.append(f"{n},p{s}")
            n += 1
    if with_subjects:
        (root / "subjects.csv").write_text("\n".join(rows) + "\n")
    return root


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_inspect_cli_table_and_json(tmp_path, capsys):
    root = write_affectnet(tmp_path / "an")
    code, out, _ = run(capsys, "data", "inspect", str(root))
    assert code == 0 and "format: affectnet" in out and "32x32x3 (20)" in out and "skipped: none" in out
    code, out, _ = run(capsys, "data", "inspect", str(root), "--json", "--decode", "0")
    report = json.loads(out)
    assert code == 0 and report["total"] == 24 and [s["count"] for s in report["splits"]] == [20, 4]
    assert report["splits"][0]["subjects"] == 5 and report["splits"][0]["decoded"] == 0


@pytest.mark.parametrize("argv, needle", [
    (["data", "inspect", "/no/such/folder"], "does not exist"),
    (["data", "inspect", "{tmp}", "--format", "ferplsu"], "unknown dataset format 'ferplsu'"),
    (["data", "inspect", "{tmp}"], "cannot tell which dataset layout"),
    (["data", "inspect", "{an}", "--mode", "probability"], "--mode does not apply"),
    (["data", "split", "{an}", "--out", "{tmp}/s.json", "--ratios", "0.5,0.2"], "ratios"),
])
def test_cli_errors_exit_2_without_traceback(tmp_path, capsys, argv, needle):
    an = write_affectnet(tmp_path / "an", subjects=3, per_subject=1)
    argv = [a.format(tmp=tmp_path, an=an) for a in argv]
    code, _, err = run(capsys, *argv)
    assert code == 2 and needle in err and "Traceback" not in err
    assert err.splitlines()[0].startswith("error: ")


def test_inspect_decode_all_counts_undecodable(tmp_path):
    root = tmp_path / "k"
    for rel in ("train/happy/a.png", "train/sad/b.png", "test/sad/c.png"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / rel), np.zeros((40, 30), np.uint8))
    (root / "train" / "sad" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (root / "train" / "boredom").mkdir()
    report = inspect_dataset(root, decode=-1)
    train = report.splits[[s.name for s in report.splits].index("train")]
    assert train.count == 3 and train.decoded == 2 and train.undecodable == 1 and train.image_sizes == {"40x30": 2}
    reasons = {g.reason: g for g in report.skipped}
    assert reasons["cannot decode image"].examples[0].endswith("broken.png") and report.skipped_total == 2
    assert inspect_dataset(root, decode=1).splits[0].decoded == 1
    with pytest.raises(ConfigError):
        inspect_dataset(root, decode=-5)


@pytest.fixture()
def clip_reader():
    """A reader yielding clip and tabular records, as the video / tabular readers do."""

    @register_reader("_test_mixed", detect=lambda root: False)
    def read(root):
        clips = tuple(ClipRecord(key=f"v{i}:{s}", split="train", video=root / f"v{i}.avi", start=s, length=30,
                                 fps=15.0, eda=np.linspace(0.5, 2.0, 30), subject=f"s{i}")
                      for i in range(3) for s in (0, 30))
        rows = tuple(TabularRecord(key=f"t{i}", split="test", features=np.zeros((4, 6)), label=i % 2,
                                   subject=f"s{i}", feature_names=tuple("abcdef")) for i in range(5))
        return DatasetIndex(format="_test_mixed", root=root, task="signal", classes=("low", "high"),
                            splits={"train": clips, "test": rows}, info={"fps": 15.0})

    yield "_test_mixed"
    READERS.pop("_test_mixed")


def test_inspect_describes_clips_and_tabular(tmp_path, clip_reader):
    report = inspect_dataset(tmp_path, format=clip_reader)
    train, test = report.splits
    assert (train.count, train.subjects, train.decoded) == (6, 3, 0)
    assert train.facts["fps"] == [15.0] and train.facts["length"] == [30] and train.facts["videos"] == 3
    assert train.facts["eda_range"] == [0.5, 2.0] and train.facts["eda_shape"] == [(30,)] and not train.class_counts
    assert test.class_counts == {"low": 3, "high": 2} and test.facts["features_shape"] == [(4, 6)]
    assert report.info["fps"] == 15.0


def test_subject_split_is_disjoint_and_reproducible(tmp_path):
    index = open_dataset(write_affectnet(tmp_path / "an", subjects=10, per_subject=3))
    made = make_splits(index, seed=3)
    check_no_leak(made)
    assert sum(len(r) for r in made.splits.values()) == 30 and all(made.splits.values())
    assert sum(len(made.subjects(s)) for s in made.splits) == 10
    assert all(r.split == name for name, recs in made.splits.items() for r in recs)
    assert made.info["split"]["by"] == "subject"
    again = make_splits(index, seed=3)
    assert {n: [r.key for r in rs] for n, rs in again.splits.items()} == \
           {n: [r.key for r in rs] for n, rs in made.splits.items()}
    path = write_split_file(made, tmp_path / "split.json")
    applied = apply_split_file(index, path)
    assert {n: sorted(r.key for r in rs) for n, rs in applied.splits.items()} == \
           {n: sorted(r.key for r in rs) for n, rs in made.splits.items()}


def test_leak_is_detected_and_refused(tmp_path, capsys):
    root = write_affectnet(tmp_path / "an", subjects=4, per_subject=8)
    leaky = make_splits(open_dataset(root), by="sample", seed=0)
    with pytest.raises(DataError, match=r"subject\(s\) appear in more than one split: p\d"):
        check_no_leak(leaky)
    code, _, err = run(capsys, "data", "split", str(root), "--out", str(tmp_path / "s.json"), "--by", "sample")
    assert code == 2 and "more than one split" in err and not (tmp_path / "s.json").exists()
    code, out, _ = run(capsys, "data", "split", str(root), "--out", str(tmp_path / "s.json"),
                       "--ratios", "0.5,0.25,0.25")
    assert code == 0 and (tmp_path / "s.json").is_file() and "split by subject" in out
    payload = json.loads((tmp_path / "s.json").read_text())
    assert len(payload["assignments"]) == 32 and sum(payload["counts"].values()) == 32


def test_split_without_subjects_warns_and_splits_by_sample(tmp_path, capsys):
    root = write_affectnet(tmp_path / "an", subjects=4, per_subject=5, with_subjects=False)
    code, out, _ = run(capsys, "data", "split", str(root), "--out", str(tmp_path / "s.json"))
    assert code == 0 and "warning: the dataset names no subjects" in out and "split by sample" in out
    with pytest.raises(DataError, match="too few"):
        make_splits(open_dataset(write_affectnet(tmp_path / "tiny", subjects=2, per_subject=1)))


def test_synth_faces_read_back_with_meaningful_labels(tmp_path, capsys):
    pytest.importorskip("edgeaffect.data.synthetic")
    code, out, _ = run(capsys, "data", "synth", "faces", str(tmp_path / "syn"), "--per-class", "4", "--size", "48")
    assert code == 0 and "wrote" in out
    index = open_dataset(tmp_path / "syn")
    assert index.format == "affectnet" and index.subjects("train") and not index.skipped
    check_no_leak(index)
    # the generator writes AffectNet codes, so class names and circumplex valence agree
    records = [r for s in index.splits.values() for r in s]
    mean_valence = {c: np.mean([r.valence for r in records if r.label == i]) for i, c in enumerate(index.classes)}
    assert mean_valence["happiness"] > 0.2 and mean_valence["sadness"] < -0.2


@pytest.mark.data
def test_real_ferplus_inspect_cli(ferplus_root, capsys):
    code, out, _ = run(capsys, "data", "inspect", str(ferplus_root), "--decode", "50")
    assert code == 0
    assert "count        25,045  3,191  3,137  31,373" in out
    for line in ("neutral     8,733  1,180  1,083  10,996", "happiness   7,284    862    892   9,038",
                 "disgust       116     25     16     157", "contempt      120     16     15     151"):
        assert line in out
    code, out, _ = run(capsys, "data", "inspect", str(ferplus_root), "--mode", "probability", "--json",
                       "--decode", "0")
    report = json.loads(out)
    assert code == 0 and all(s["facts"]["target_sum"] == [1.0, 1.0] for s in report["splits"])
