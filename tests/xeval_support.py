"""Small labelled face sets in other data sets' layouts, for the cross-data-set evaluation tests.

Faces are real FER+ faces (majority label, test split) when ``EDGEAFFECT_DATA`` holds ``ferplus/``,
else synthetic aligned faces (``edgeaffect.data.synthetic.draw_face``) of the same class.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

import cv2
import numpy as np

from edgeaffect.data.classes import EXPRESSIONS_8

# Folder names as the class-folder releases spell them (7 of the 8 classes: no neutral).
SEVEN_FOLDERS = {"happy": "happiness", "angry": "anger", "sad": "sadness", "surprised": "surprise",
                 "disgusted": "disgust", "fearful": "fear", "contempt": "contempt"}


def faces(cls: str, n: int, *, seed: int = 0) -> list[np.ndarray]:
    """``n`` gray 48x48 faces of canonical class ``cls`` (fewer when real FER+ test has fewer)."""
    label = EXPRESSIONS_8.index(cls)
    real = Path(os.environ.get("EDGEAFFECT_DATA", "")) / "ferplus" / "FER2013Test"
    if real.is_dir():
        out = []
        with open(real / "label.csv", newline="", encoding="utf-8") as fh:
            for row in csv.reader(fh):
                votes = [int(v) for v in row[2:10]]
                if len(row) == 12 and max(votes) > 0 and int(np.argmax(votes)) == label and votes.count(max(votes)) == 1:
                    out.append(cv2.imread(str(real / row[0]), cv2.IMREAD_GRAYSCALE))
                    if len(out) == n:
                        break
        return out
    from edgeaffect.data.synthetic import draw_face

    rng = np.random.default_rng(seed + label)
    return [cv2.resize(cv2.cvtColor(draw_face(label, rng, 96, aligned=True)[0], cv2.COLOR_BGR2GRAY), (48, 48),
                       interpolation=cv2.INTER_AREA) for _ in range(n)]


def write_class_folders(root: Path, folders: dict[str, str], *, per_class: int = 3, split: str = "test") -> Path:
    """``root/<split>/<folder>/*.png`` with faces of each folder's canonical class."""
    for folder, cls in folders.items():
        (root / split / folder).mkdir(parents=True, exist_ok=True)
        for i, img in enumerate(faces(cls, per_class)):
            cv2.imwrite(str(root / split / folder / f"{folder}_{i}.png"), img)
    return root


def write_rafdb(root: Path, *, per_class: int = 2) -> Path:
    """RAF-DB 'basic' layout: EmoLabel/list_patition_label.txt (labels 1-7) + Image/aligned/*_aligned.jpg (100x100
    colour); test faces only, the train split one face so both splits exist."""
    from edgeaffect.data.rafdb import CLASSES

    (root / "EmoLabel").mkdir(parents=True)
    (root / "Image" / "aligned").mkdir(parents=True)
    lines = []
    for code, cls in enumerate(CLASSES, start=1):
        for i, img in enumerate(faces(cls, per_class)):
            name = f"test_{code * 100 + i:04d}"
            colour = cv2.cvtColor(cv2.resize(img, (100, 100), interpolation=cv2.INTER_CUBIC), cv2.COLOR_GRAY2BGR)
            cv2.imwrite(str(root / "Image" / "aligned" / f"{name}_aligned.jpg"), colour)
            lines.append(f"{name}.jpg {code}")
    cv2.imwrite(str(root / "Image" / "aligned" / "train_00001_aligned.jpg"),
                np.full((100, 100, 3), 128, np.uint8))
    lines.append("train_00001.jpg 7")
    (root / "EmoLabel" / "list_patition_label.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root
