"""Damaged dataset files: E4 values and rate headers no sensor writes, byte-order marks, duplicated FER+ rows,
E4 error messages that name the file and keep the advice in the fix, and ``data synth`` sizes out of range.

Every file is written in its real format (E4 CSV: unix start, rate, one sample per row; FER+ label.csv beside
real PNGs) at a few seconds / a few faces, and read through the public readers or the CLI.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeaffect.cli import main
from edgeaffect.data import open_dataset
from edgeaffect.data.base import csv_rows
from edgeaffect.data.signals import read_e4_csv, read_values, synth_bvp, synth_eda
from edgeaffect.data.synthetic import write_synthetic_faces
from edgeaffect.data.synthetic_video import write_synthetic_videos
from edgeaffect.errors import ConfigError, DataError

START = 1_600_000_000.0
BOM = b"\xef\xbb\xbf"


def e4_text(start: float, rate: float, values) -> str:
    return f"{start:.6f}\n{rate:.6f}\n" + "".join(f"{v}\n" for v in values)


def write_session(folder: Path, *, seconds: float = 40.0, eda_rate: float = 4.0, bvp_start: float = START,
                  eda: list | None = None, bvp: list | None = None) -> Path:
    """An E4 session folder (EDA.csv 4 Hz, BVP.csv 64 Hz) with plausible traces unless given."""
    folder.mkdir(parents=True, exist_ok=True)
    eda = [f"{v:.6f}" for v in synth_eda(seconds, 4, 0).values] if eda is None else eda
    bvp = [f"{v:.2f}" for v in synth_bvp(seconds, 64, 0).values] if bvp is None else bvp
    (folder / "EDA.csv").write_text(e4_text(START, eda_rate, eda))
    (folder / "BVP.csv").write_text(e4_text(bvp_start, 64.0, bvp))
    return folder


def cli(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


# ---- 1. values and rates no sensor writes ----------------------------------------------------------------------

@pytest.mark.parametrize("stream, bad, needle", [
    ("EDA", "1e39", "beyond the 32-bit float range"),  # finite in float64, inf after the float32 cast
    ("BVP", "1e300", "beyond the 32-bit float range"),
    ("EDA", "-5", "EDA value -5 is outside 0..100"),  # a conductance is never negative
    ("EDA", "1e30", "EDA value 1e+30 is outside 0..100"),
    ("BVP", "2e6", "BVP value 2e+06 is outside -100000..100000"),
])
def test_e4_impossible_value_is_refused_with_file_and_line(tmp_path, stream, bad, needle):
    root = write_session(tmp_path / "sess")
    lines = (root / f"{stream}.csv").read_text().splitlines()
    lines[6] = bad  # line 7 of the file
    (root / f"{stream}.csv").write_text("\n".join(lines) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the old code let numpy print "overflow encountered in cast"
        with pytest.raises(DataError) as err:
            open_dataset(root)
    assert f"{stream}.csv:7" in err.value.what and needle in err.value.what
    assert "remove" in err.value.fix


@pytest.mark.parametrize("rate", ["0.001", "0", "-4", "4000000"])
def test_e4_rate_header_outside_plausible_range_is_refused(tmp_path, rate):
    root = write_session(tmp_path / "sess")
    text = (root / "EDA.csv").read_text().splitlines()
    text[1] = rate
    (root / "EDA.csv").write_text("\n".join(text) + "\n")
    with pytest.raises(DataError, match=r"EDA.csv:2: sample rate .* Hz is outside the plausible") as err:
        read_e4_csv(root / "EDA.csv")
    assert "row 2" in err.value.fix
    with pytest.raises(DataError, match="sample rate"):  # before: 0.001 Hz gave windows holding no EDA sample
        open_dataset(root)


def test_e4_plausible_rates_and_values_still_read(tmp_path):
    root = write_session(tmp_path / "sess", eda=["0.000000"] * 160 + ["99.5"])
    index = open_dataset(root)
    assert index.info["eda_hz"] == 4.0 and all(w.eda.shape == (40,) for w in index.split("train"))


def test_e4_header_with_no_samples_is_a_data_error(tmp_path):
    path = tmp_path / "EDA.csv"
    path.write_text(f"{START}\n4.0\n\n\n")  # before: IndexError on an empty array
    with pytest.raises(DataError, match="no samples"):
        read_e4_csv(path)


def test_synth_videos_from_e4_with_tiny_rate_exits_2(tmp_path, capsys):
    root = write_session(tmp_path / "sess")
    (root / "EDA.csv").write_text((root / "EDA.csv").read_text().replace("\n4.000000\n", "\n0.001000\n", 1))
    code, text = cli(capsys, "data", "synth", "videos", str(tmp_path / "out"), "--subjects", "1", "--seconds", "2",
                     "--size", "32", "--e4-root", str(root))
    assert code == 2 and "sample rate 0.001 Hz" in text and "EDA.csv" in text and "internal error" not in text


# ---- 2. byte-order marks ----------------------------------------------------------------------------------------

def test_e4_csv_with_bom_reads_like_without(tmp_path):
    root = write_session(tmp_path / "sess")
    plain = open_dataset(root)
    for name in ("EDA.csv", "BVP.csv"):
        (root / name).write_bytes(BOM + (root / name).read_bytes())
    with_bom = open_dataset(root)
    assert read_e4_csv(root / "EDA.csv").start_unix == START
    assert len(with_bom.split("train")) == len(plain.split("train")) > 0
    values = tmp_path / "bvp_s1_T1.csv"  # UBFC-Phys one-value-per-line file
    values.write_bytes(BOM + b"0.5\n0.6\n")
    assert read_values(values).tolist() == [0.5, 0.6]


def write_ferplus_test(root: Path, rows: list[str], *, bom: bool = False) -> Path:
    folder = root / "FER2013Test"
    folder.mkdir(parents=True)
    for row in rows:
        name = row.split(",")[0]
        cv2.imwrite(str(folder / name), np.full((48, 48), 128, np.uint8))
    (folder / "label.csv").write_bytes((BOM if bom else b"") + "".join(r + "\n" for r in rows).encode())
    return root


def ferplus_row(n: int, votes: str = "10,0,0,0,0,0,0,0,0,0") -> str:
    return f'fer{n:07d}.png,"(0, 0, 48, 48)",{votes}'


def test_ferplus_label_csv_with_bom_keeps_first_face(tmp_path):
    root = write_ferplus_test(tmp_path / "fp", [ferplus_row(i) for i in range(3)], bom=True)
    index = open_dataset(root)
    assert len(index.split("test")) == 3 and not index.skipped  # before: row 1 "image file missing"
    (tmp_path / "x.csv").write_bytes(BOM + b"a,b\n")
    assert list(csv_rows(tmp_path / "x.csv")) == [(1, ["a", "b"])]


# ---- 4. E4 error messages ---------------------------------------------------------------------------------------

def test_e4_half_session_names_the_missing_file(tmp_path, capsys):
    root = write_session(tmp_path / "sess")
    (root / "BVP.csv").unlink()
    code, text = cli(capsys, "data", "inspect", str(root), "--format", "e4")
    assert code == 2 and "holds EDA.csv but no BVP.csv" in text and "fix: copy BVP.csv" in text


def test_e4_folder_without_sessions_has_a_fix(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no E4 session") as err:
        open_dataset(tmp_path / "empty", format="e4")
    assert err.value.fix


def test_e4_no_overlap_keeps_cause_in_what_and_advice_in_fix(tmp_path):
    root = write_session(tmp_path / "sess", bvp_start=START * 1000)  # BVP start written in milliseconds
    with pytest.raises(DataError) as err:
        open_dataset(root)
    assert "do not overlap in time" in err.value.what and str(root) in err.value.what
    assert "same session" in err.value.fix and "milliseconds" in err.value.fix
    assert "overlap" not in err.value.fix


def test_e4_unreadable_session_fix_is_the_cause_fix(tmp_path):
    root = write_session(tmp_path / "sess")
    lines = (root / "EDA.csv").read_text().splitlines()
    lines[9] = "nan?"
    (root / "EDA.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as err:
        open_dataset(root)
    assert "EDA.csv:10: not a finite number" in err.value.what
    assert err.value.fix.startswith("fix or remove the line")


def test_e4_no_readable_session_among_several_keeps_the_first_cause_fix(tmp_path):
    for name in ("a", "b"):
        write_session(tmp_path / "all" / name, eda_rate=0.001)
    with pytest.raises(DataError) as err:
        open_dataset(tmp_path / "all")
    assert err.value.what.startswith(f"no readable E4 session under {tmp_path / 'all'}: ")
    assert "a/EDA.csv:2: sample rate 0.001 Hz" in err.value.what and "(and 1 more session(s))" in err.value.what
    assert "row 2 must hold" in err.value.fix


def test_e4_short_session_skip_names_the_real_folder(tmp_path):
    root = write_session(tmp_path / "sess", seconds=3)
    index = open_dataset(root)
    assert [s.source for s in index.skipped] == [str(root)]  # before: sess/sess
    assert Path(index.skipped[0].source).is_dir()


def test_e4_zero_window_option_is_a_config_error(tmp_path):
    root = write_session(tmp_path / "sess")
    with pytest.raises(ConfigError, match="window"):
        open_dataset(root, window=0)


# ---- 3. synth sizes ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, needle", [
    (["--seconds", "nan"], "seconds = nan"),
    (["--seconds", "0"], "seconds = 0.0"),
    (["--subjects", "-1"], "subjects = -1"),
    (["--fps", "0"], "fps = 0.0"),
    (["--size", "1"], "size = 1"),
])
def test_synth_videos_out_of_range_exits_2_and_writes_nothing(tmp_path, capsys, argv, needle):
    out = tmp_path / "out"
    code, text = cli(capsys, "data", "synth", "videos", str(out), "--subjects", "1", "--seconds", "2",
                     "--size", "32", *argv)
    assert code == 2 and needle in text and "allowed range" in text and "fix:" in text
    assert not out.exists()


def test_synth_faces_and_tabular_out_of_range(tmp_path, capsys):
    with pytest.raises(ConfigError, match="per_class = 0"):
        write_synthetic_faces(tmp_path / "f", per_class=0, size=32)
    with pytest.raises(ConfigError, match="size = 0"):
        write_synthetic_faces(tmp_path / "f", per_class=1, size=0)
    code, text = cli(capsys, "data", "synth", "tabular", str(tmp_path / "t"), "--subjects", "0")
    assert code == 2 and "subjects = 0" in text and not (tmp_path / "t").exists()


def test_synth_videos_in_range_still_writes(tmp_path):
    out = write_synthetic_videos(tmp_path / "v", subjects=1, seconds=1.0, fps=4.0, size=32, use_e4=False)
    assert len((out / "s1" / "eda_s1_T1.csv").read_text().split()) == 4


# ---- 5. duplicated FER+ rows ------------------------------------------------------------------------------------

def test_ferplus_duplicate_rows_are_counted_once_and_reported(tmp_path):
    rows = [ferplus_row(i) for i in range(4)]
    root = write_ferplus_test(tmp_path / "fp", rows + rows[:2])
    index = open_dataset(root)
    assert len(index.split("test")) == 4 and len({r.key for r in index.split("test")}) == 4
    assert [s.source.rsplit(":", 1)[1] for s in index.skipped] == ["5", "6"]
    assert all(s.reason.startswith("duplicate row") for s in index.skipped)


def test_synth_videos_says_when_the_e4_recording_is_too_short(tmp_path, caplog):
    root = write_session(tmp_path / "sess", seconds=20)  # under the 30 s the E4 electrodes take to settle
    with caplog.at_level("WARNING", logger="edgeaffect.data.synthetic_video"):
        write_synthetic_videos(tmp_path / "v", subjects=1, seconds=1.0, fps=4.0, size=32, e4_root=root)
    assert "its EDA traces are generated instead" in caplog.text and "BVP" not in caplog.text
