"""Reader for per-subject EEG band powers + facial features (the fusion study layout).

Layout::

    root/
      classes.txt           optional: class names in label order, one per line
                            (default: the sorted trial labels)
      subject_01/
        eeg.csv             timestamp,<channel>_<band>,...  band powers, band in delta|theta|alpha|beta|gamma
        face.csv            timestamp,<feature>,...         emotion probabilities (p_happiness, ...)
                                                            and/or action-unit intensities (AU04, AU12, ...)
        trials.csv          trial,start,end,label            start/end in timestamp units; label = class name

All three files of a subject share one clock (seconds).  Rows are aligned on a
reference grid (the EEG timestamps, or a regular grid at ``rate_hz``): each
grid time takes the latest row of each stream at or before it, within
``tolerance`` seconds (the merge-as-of rule, done with ``np.searchsorted``).
Inside each trial the aligned rows are cut into windows of ``steps`` rows,
each a :class:`TabularRecord` with the trial's label.  Splits are
participant-independent.  Torch-free.
"""
from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from edgeaffect.data.base import DatasetIndex, Skipped, TabularRecord, register_reader
from edgeaffect.data.subjects import assign_subjects, parse_options
from edgeaffect.errors import DataError
from edgeaffect.metrics import softmax

log = logging.getLogger(__name__)

STREAMS = ("eeg.csv", "face.csv", "trials.csv")


@dataclass(frozen=True)
class TabularOptions:
    steps: int = 8  # aligned rows per window
    stride: int | None = None  # rows between window starts; None = steps
    rate_hz: float | None = None  # None: the EEG timestamps are the grid
    tolerance: float = 0.5  # seconds a face row may lag a grid time
    seed: int = 0
    valid: float = 0.2
    test: float = 0.2
    folds: int | None = None
    fold: int = 0
    splits: Mapping[str, Sequence[str]] | None = None


def detect(root: Path) -> bool:
    return root.is_dir() and any(all((d / f).is_file() for f in STREAMS) for d in root.iterdir() if d.is_dir())


def read_table(path: Path) -> tuple[tuple[str, ...], np.ndarray]:
    """A numeric CSV with a header row -> (column names, float64 rows); errors name file and line."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = [r for r in csv.reader(fh) if r]
    if len(rows) < 2:
        raise DataError(f"{path} has no data rows", "write a header row and at least one sample")
    header = tuple(h.strip() for h in rows[0])
    data = np.empty((len(rows) - 1, len(header)))
    for i, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise DataError(f"{path}:{i}: {len(row)} values under {len(header)} column names", "fix the line")
        try:
            data[i - 2] = [float(v) for v in row]
        except ValueError:
            raise DataError(f"{path}:{i}: not a number in {row[:4]}...", "fix the line") from None
    if header[0].lower() != "timestamp" or np.any(np.diff(data[:, 0]) < 0):
        raise DataError(f"{path}: the first column must be 'timestamp', increasing", "sort the rows by time")
    return header, data


def read_trials(path: Path) -> list[tuple[str, float, float, str, int]]:
    """(trial, start, end, label, line) rows of trials.csv."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    out = []
    for line, r in enumerate(rows, start=2):
        try:
            out.append((r["trial"].strip(), float(r["start"]), float(r["end"]), r["label"].strip(), line))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise DataError(f"{path}:{line}: need trial,start,end,label", "fix the line or the header") from None
    return out


def asof(times: np.ndarray, values: np.ndarray, grid: np.ndarray, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``values`` at the latest ``times`` <= each grid time; mask of grid times within ``tolerance``."""
    idx = np.searchsorted(times, grid, side="right") - 1
    ok = idx >= 0
    safe = np.clip(idx, 0, len(times) - 1)
    ok &= (grid - times[safe]) <= tolerance
    return values[safe], ok


def align_subject(folder: Path, opts: TabularOptions) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray]:
    """(feature names, grid times, aligned features (n, F), valid mask) of one subject."""
    eeg_names, eeg = read_table(folder / "eeg.csv")
    face_names, face = read_table(folder / "face.csv")
    if opts.rate_hz:
        lo, hi = max(eeg[0, 0], face[0, 0]), min(eeg[-1, 0], face[-1, 0])
        grid = np.arange(lo, hi + 1e-9, 1.0 / opts.rate_hz)
        eeg_v, eeg_ok = asof(eeg[:, 0], eeg[:, 1:], grid, opts.tolerance)
    else:
        grid, eeg_v, eeg_ok = eeg[:, 0], eeg[:, 1:], np.ones(len(eeg), bool)
    face_v, face_ok = asof(face[:, 0], face[:, 1:], grid, opts.tolerance)
    return eeg_names[1:] + face_names[1:], grid, np.concatenate([eeg_v, face_v], 1), eeg_ok & face_ok


@register_reader("tabular", detect=detect, description="per-subject eeg.csv + face.csv + trials.csv (fusion)")
def read(root: Path, **options) -> DatasetIndex:
    opts = parse_options(TabularOptions, options)
    folders = sorted(d for d in root.iterdir() if d.is_dir() and all((d / f).is_file() for f in STREAMS))
    if not folders:
        raise DataError(f"no subject folder with {', '.join(STREAMS)} under {root}", "see the layout in --help")
    skipped: list[Skipped] = []
    subjects: dict[str, tuple] = {}
    for d in folders:
        try:
            subjects[d.name] = (*align_subject(d, opts), read_trials(d / "trials.csv"))
        except DataError as exc:
            skipped.append(Skipped(str(d), exc.what))
    names_file = root / "classes.txt"
    labels = sorted({t[3] for s in subjects.values() for t in s[4]})
    classes = tuple(n.strip() for n in names_file.read_text().splitlines() if n.strip()) if names_file.exists() \
        else tuple(labels)
    reference = next((s[0] for s in subjects.values()), ())
    owner = assign_subjects(subjects, seed=opts.seed, valid=opts.valid, test=opts.test, folds=opts.folds,
                            fold=opts.fold, splits=opts.splits)
    splits: dict[str, list[TabularRecord]] = {n: [] for n in dict.fromkeys(("train", "valid", "test",
                                                                            *owner.values()))}
    stride = opts.stride or opts.steps
    for name, (feat_names, grid, values, ok, trials) in subjects.items():
        if feat_names != reference:
            skipped.append(Skipped(str(root / name), f"its columns differ from the first subject's ({len(feat_names)} "
                                                     f"vs {len(reference)} features)"))
            continue
        if name not in owner:
            continue
        for trial, start, end, label, line in trials:
            where = f"{root / name / 'trials.csv'}:{line}"
            if label not in classes:
                skipped.append(Skipped(where, f"label '{label}' is not in classes.txt"))
                continue
            rows = np.nonzero((grid >= start) & (grid < end))[0]
            good = rows[ok[rows]]
            made = 0
            # windows never bridge a gap in either stream: no silent fill-in
            for run in np.split(good, np.nonzero(np.diff(good) != 1)[0] + 1):
                for i in range(0, len(run) - opts.steps + 1, stride):
                    win = run[i:i + opts.steps]
                    splits[owner[name]].append(TabularRecord(
                        key=f"{name}_{trial}_{win[0] - rows[0]:04d}", split=owner[name],
                        features=values[win].astype(np.float32), label=classes.index(label), subject=name,
                        feature_names=feat_names))
                    made += 1
            if not made:
                skipped.append(Skipped(where, f"trial {trial} has {len(rows)} aligned rows, fewer than "
                                              f"{opts.steps} without gaps"))
    if not any(splits.values()):
        raise DataError(f"no trial window could be built under {root}",
                        "; ".join(f"{s.source}: {s.reason}" for s in skipped[:3]) or "check trials.csv")
    return DatasetIndex(format="tabular", root=root, task="tabular", classes=classes,
                        splits={k: tuple(v) for k, v in splits.items()}, skipped=tuple(skipped),
                        info={"steps": opts.steps, "stride": stride, "feature_names": reference,
                              "subjects": dict(owner), "rate_hz": opts.rate_hz, "tolerance": opts.tolerance})


SYNTH_CLASSES = ("negative", "neutral", "positive")
_CHANNELS, _BANDS = ("Fp1", "Fp2", "F3", "F4"), ("delta", "theta", "alpha", "beta", "gamma")
_FACE = ("p_neutral", "p_happiness", "p_sadness", "p_anger", "AU04", "AU06", "AU12")


def write_synthetic_tabular(out: str | Path, *, subjects: int = 6, seed: int = 0, trials_per_class: int = 3,
                            trial_seconds: float = 12.0) -> Path:
    """Write the fusion layout with a learnable feature-label relation; returns ``out``.

    Positive trials raise right-frontal alpha (the frontal-asymmetry finding),
    AU06/AU12 and p_happiness; negative trials raise beta, AU04, p_sadness and
    p_anger.  Each subject has its own baselines, so a participant-independent
    model has to learn the relation, not the person.  EEG rows come at 4 Hz,
    face rows at ~10 Hz on a jittered clock, so reading needs real alignment.
    """
    from edgeaffect.errors import check_range
    from edgeaffect.io import atomic_write_text

    check_range("subjects", subjects, 1, 10_000, whole=True)  # 0 or -1 wrote only classes.txt and exited 0
    out = Path(out)
    rng = np.random.default_rng(seed)
    atomic_write_text(out / "classes.txt", "\n".join(SYNTH_CLASSES) + "\n")
    for s in range(1, subjects + 1):
        labels = rng.permutation(np.repeat(np.arange(len(SYNTH_CLASSES)), trials_per_class))
        gap = 3.0
        total = len(labels) * (trial_seconds + gap) + gap
        starts = gap + np.arange(len(labels)) * (trial_seconds + gap)

        def valence_at(t: np.ndarray) -> np.ndarray:
            v = np.zeros_like(t)
            for st, lab in zip(starts, labels):
                v[(t >= st) & (t < st + trial_seconds)] = lab - 1.0
            return v

        t_eeg = np.arange(0.0, total, 0.25)
        v = valence_at(t_eeg)
        base = rng.normal(1.0, 0.15, (len(_CHANNELS), len(_BANDS)))
        logp = base[None] + rng.normal(0, 0.08, (len(t_eeg), len(_CHANNELS), len(_BANDS)))
        logp[:, [1, 3], 2] += 0.25 * v[:, None]  # right-frontal alpha with valence
        logp[:, :, 3] += 0.2 * np.clip(-v, 0, None)[:, None]  # beta with negative affect
        eeg = np.concatenate([t_eeg[:, None], (10 ** logp).reshape(len(t_eeg), -1)], 1)
        t_face = np.cumsum(rng.uniform(0.08, 0.12, int(total * 10) + 5)) + rng.uniform(0, 0.1)
        t_face = t_face[t_face < total]
        vf = valence_at(t_face)
        pos, neg = np.clip(vf, 0, None), np.clip(-vf, 0, None)
        logits = np.stack([1 - 0.8 * np.abs(vf), 1.6 * pos, 1.2 * neg, 0.9 * neg], 1) + rng.normal(0, 0.5, (len(vf), 4))
        probs = softmax(logits, axis=1)
        aus = np.clip(np.stack([1.8 * neg, 1.5 * pos, 2.0 * pos], 1) + rng.normal(0.3, 0.4, (len(vf), 3))
                      + rng.normal(0, 0.3, 3), 0, 5)
        face = np.concatenate([t_face[:, None], probs, aus], 1)
        folder = out / f"subject_{s:02d}"
        head = ["timestamp"] + [f"{c}_{b}" for c in _CHANNELS for b in _BANDS]
        atomic_write_text(folder / "eeg.csv", _csv(head, eeg))
        atomic_write_text(folder / "face.csv", _csv(["timestamp", *_FACE], face))
        rows = ["trial,start,end,label"] + [f"t{i + 1:02d},{st:.3f},{st + trial_seconds:.3f},{SYNTH_CLASSES[lab]}"
                                            for i, (st, lab) in enumerate(zip(starts, labels))]
        atomic_write_text(folder / "trials.csv", "\n".join(rows) + "\n")
    return out


def _csv(header: Sequence[str], rows: np.ndarray) -> str:
    return ",".join(header) + "\n" + "".join(",".join(f"{x:.5f}" for x in r) + "\n" for r in rows)
