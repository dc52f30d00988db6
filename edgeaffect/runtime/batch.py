"""Batch analysis of a corpus: ``edgeaffect run BUNDLE --source DIR_OR_LIST --out OUTDIR``.

A corpus is a folder of videos (and/or of sub-folders of images, one clip each), searched
recursively, or a list file (``.txt``/``.lst``: one path per line, ``#`` comments, relative to
the list).  Every item runs through :func:`process_video` — ``run`` itself on that one source
— to ``OUTDIR/<name>.jsonl`` and ``OUTDIR/<name>.summary.json``, ``<name>`` being the item's
path inside the corpus with ``/`` as ``__``.

State lives on disk, per item, so any number of processes, shards or machines can share an
OUTDIR: an item is *finished* when its summary says the source ended under the same settings
(it is then skipped), *failed* when ``<name>.error.json`` names its error (it is tried again
next time); a killed run leaves neither and is redone.  The corpus table (``corpus.csv``,
``corpus.json``) is rebuilt from those files after every batch, so the last shard to finish
writes the whole table.  Parallelism: ``--jobs N`` processes (``batch_local``), ``--shard I/N``
(every N-th item, for Slurm/Kubernetes array jobs), or Ray (``batch_ray.py``) — all call the
same :func:`process_video`, so their results are identical.  Torch-free.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from edgeaffect.errors import ConfigError, EdgeAffectError
from edgeaffect.io import IMAGE_SUFFIXES, atomic_write_json, atomic_write_text, dumps_json
from edgeaffect.plain import to_plain

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".avi", ".mp4", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv")
LIST_SUFFIXES = (".txt", ".lst")
FINISHED = ("end", "max_frames", "max_seconds")  # stop reasons of a complete result
# what does not change a result: where it is written, the source (named by the item), and how many threads
# compute it (so a corpus started serially resumes under --jobs or Ray)
NOT_SETTINGS = ("source", "out", "summary", "csv", "save_crops", "save_video", "headless", "rss_interval_s", "threads")


@dataclass(frozen=True)
class Item:
    """One video (or image folder) of the corpus and the name of its outputs."""

    name: str
    source: str


@dataclass(frozen=True)
class VideoOutcome:
    """What became of one item; the corpus table has one per item."""

    name: str
    source: str
    status: str  # done | skipped (finished earlier) | failed | pending (another shard's, not run yet)
    frames: int = 0
    faces: int = 0
    tracks: int = 0
    seconds: float = 0.0
    share: Mapping[str, float] = field(default_factory=dict)  # label -> share of face-frames
    mean_heart_rate: float | None = None
    digest: str = ""  # sha256 of the result lines without their timings: equal results, equal digest
    error: str = ""


def _has_images(folder: Path) -> bool:
    return any(p.suffix.lower() in IMAGE_SUFFIXES for p in folder.iterdir() if p.is_file())


def is_corpus(source: str) -> bool:
    """A list file, or a folder holding videos or image sub-folders (a folder of images is one source)."""
    if not source.strip():  # Path("") is the current folder; run refuses an empty --source by name
        return False
    path = Path(source)
    if path.is_file():
        return path.suffix.lower() in LIST_SUFFIXES
    if not path.is_dir() or _has_images(path):
        return False
    return any(p.suffix.lower() in VIDEO_SUFFIXES or (p.is_dir() and _has_images(p)) for p in path.rglob("*"))


def corpus_items(source: str) -> list[Item]:
    """Every item of the corpus, sorted by name (the order shards split)."""
    root = Path(source)
    if root.is_file():
        paths = []
        for line in root.read_text(encoding="utf-8").splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                p = Path(os.path.expandvars(os.path.expanduser(line)))
                paths.append(p if p.is_absolute() else root.parent / p)
        names = [p.name if len({q.name for q in paths}) == len(paths) else p.as_posix() for p in paths]
    else:
        paths = sorted(p for p in root.rglob("*")
                       if (p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES) or (p.is_dir() and _has_images(p)))
        names = [p.relative_to(root).as_posix() for p in paths]
    items = [Item(n.strip("/").replace("/", "__").replace(":", "_"), str(p)) for n, p in zip(names, paths)]
    if not items:
        raise ConfigError(f"corpus {source} holds no video or image folder",
                          f"pass a folder of videos ({', '.join(VIDEO_SUFFIXES[:4])}, ...) or a list file")
    if len({i.name for i in items}) < len(items):
        raise ConfigError(f"corpus {source} names two items alike", "give every video its own file name")
    return sorted(items, key=lambda i: i.name)


def shard(items: Sequence[Item], spec: str | None) -> list[Item]:
    """``I/N`` (1-based): every N-th item starting at the I-th; None = all."""
    if not spec:
        return list(items)
    try:
        i, n = (int(v) for v in spec.split("/"))
    except ValueError:
        i = n = 0
    if not 1 <= i <= n:
        raise ConfigError(f"--shard {spec} is not I/N with 1 <= I <= N", "e.g. --shard 1/4 ... --shard 4/4")
    return list(items[i - 1::n])


def _paths(outdir: Path, name: str) -> tuple[Path, Path, Path]:
    return outdir / f"{name}.jsonl", outdir / f"{name}.summary.json", outdir / f"{name}.error.json"


def _settings(config_dict: Mapping[str, Any]) -> str:
    kept = {k: v for k, v in config_dict.items() if k not in NOT_SETTINGS}
    # the summary holds its config written by the one serialiser, rounded to 4 decimals: compare in that form
    return dumps_json(kept, digits=4, sort_keys=True)


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def finished(config, item: Item, outdir: Path) -> dict | None:
    """The item's summary when it finished earlier under these settings, else None."""
    results, summary_path, _ = _paths(outdir, item.name)
    summary = _read_json(summary_path)
    if summary is None or not results.is_file() or summary.get("stop_reason") not in FINISHED:
        return None
    return summary if _settings(summary.get("config", {})) == _settings(config.to_dict()) else None


def _outcome(item: Item, outdir: Path, summary: Mapping[str, Any], status: str) -> VideoOutcome:
    """Counts, shares and digest read back from the item's result file."""
    results = _paths(outdir, item.name)[0]
    digest, counts, hr, faces = hashlib.sha256(), {}, [], 0
    with open(results, encoding="utf-8") as fh:
        for line in fh:
            try:
                frame = json.loads(line)
            except ValueError:
                continue
            frame.pop("stage_ms", None)  # timings differ run to run; the results must not
            digest.update(json.dumps(frame, sort_keys=True).encode())
            for face in frame["faces"]:
                faces += 1
                if face.get("label") is not None:
                    counts[face["label"]] = counts.get(face["label"], 0) + 1
                if face.get("heart_rate") is not None:
                    hr.append(face["heart_rate"])
    labelled = sum(counts.values())
    share = {k: counts.get(k, 0) / labelled for k in summary.get("labels", sorted(counts))} if labelled else {}
    return VideoOutcome(item.name, item.source, status, int(summary.get("frames", 0)), faces,
                        int(summary.get("tracks", 0)), float(summary.get("seconds", 0.0)), share,
                        sum(hr) / len(hr) if hr else None, digest.hexdigest()[:16])


def process_video(config, item: Item, outdir: str | Path) -> VideoOutcome:
    """Run one item (unless it finished earlier) and say what became of it; errors are recorded, not raised."""
    from edgeaffect.runtime.pipeline import run

    outdir = Path(outdir)
    done = finished(config, item, outdir)
    if done is not None:
        return _outcome(item, outdir, done, "skipped")
    results, summary_path, error_path = _paths(outdir, item.name)
    try:
        # run's end-of-run latency table would interleave with the progress bar; the summary file holds it
        with contextlib.redirect_stderr(io.StringIO()):
            summary = run(replace(config, source=item.source, out=results, summary=summary_path))
    except (EdgeAffectError, OSError, ValueError, RuntimeError) as exc:  # one bad video must not stop a corpus
        text = f"{exc.what}; fix: {exc.fix}" if isinstance(exc, EdgeAffectError) else f"{type(exc).__name__}: {exc}"
        atomic_write_json(error_path, {"source": item.source, "error": text})
        return VideoOutcome(item.name, item.source, "failed", error=text)
    error_path.unlink(missing_ok=True)
    status = "done" if summary.stop_reason in FINISHED else summary.stop_reason
    return replace(_outcome(item, outdir, summary.to_dict(), "done"), status=status)


def corpus_table(config, items: Sequence[Item], outdir: Path, fresh: Mapping[str, VideoOutcome]) -> list[VideoOutcome]:
    """One outcome per item of the whole corpus, from this batch's outcomes and the files other shards left."""
    rows = []
    for item in items:
        if item.name in fresh:
            rows.append(fresh[item.name])
            continue
        summary, error = finished(config, item, outdir), _read_json(_paths(outdir, item.name)[2])
        if summary is not None:
            rows.append(_outcome(item, outdir, summary, "done"))
        elif error is not None:
            rows.append(VideoOutcome(item.name, item.source, "failed", error=str(error.get("error", ""))))
        else:
            rows.append(VideoOutcome(item.name, item.source, "pending"))
    return rows


def write_corpus(rows: Sequence[VideoOutcome], outdir: Path) -> Path:
    """``corpus.json`` (every field) and ``corpus.csv`` (one row per item, a column per expression)."""
    import csv

    atomic_write_json(outdir / "corpus.json", [to_plain(r) for r in rows])
    labels = list(dict.fromkeys(k for r in rows for k in r.share))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["video", "status", "frames", "faces", "tracks", "seconds", *labels, "mean_heart_rate",
                     "digest", "error", "source"])
    for r in rows:
        writer.writerow([r.name, r.status, r.frames, r.faces, r.tracks, round(r.seconds, 3),
                         *(round(r.share.get(k, 0.0), 5) for k in labels),
                         "" if r.mean_heart_rate is None else round(r.mean_heart_rate, 2), r.digest, r.error, r.source])
    return atomic_write_text(outdir / "corpus.csv", buf.getvalue())
