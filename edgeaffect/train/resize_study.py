"""The resize study: how accuracy falls as faces arrive at lower resolution.

Every test face is first brought to the model's input size, then downscaled to
``r`` pixels with one interpolation and upscaled back with another
(``edgeaffect.preprocess.degrade``), for every resolution and every
(down, up) pair of the methods given.  The table has one row per resolution
and one column per down->up pair; the full rows go to CSV and JSON.
"""
from __future__ import annotations

import csv
import io
import itertools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from edgeaffect.errors import ConfigError
from edgeaffect.plain import to_plain
from edgeaffect.preprocess import INTERPOLATIONS, degrade, resize_to

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class ResizeRow:
    resolution: int
    down: str
    up: str
    samples: int
    metrics: dict[str, float]


def parse_list(text: str, kind: type = str) -> tuple[Any, ...]:
    try:
        return tuple(kind(v.strip()) for v in text.split(",") if v.strip())
    except ValueError as exc:
        raise ConfigError(f"cannot read the list '{text}': {exc}", "write comma-separated values, e.g. 112,96,64") from exc


def check_interpolations(names: Sequence[str]) -> None:
    unknown = [n for n in names if n not in INTERPOLATIONS]
    if unknown:
        raise ConfigError(f"unknown interpolation(s) {unknown}", f"choose from {sorted(INTERPOLATIONS)}")


def run_resize_study(opts: Any, resolutions: Sequence[int], interps: Sequence[str]) -> list[ResizeRow]:
    """Score ``opts`` (EvalOptions) once per (resolution, down, up)."""
    from edgeaffect.train import builders
    from edgeaffect.train.evaluate import load_for_eval, score_records, set_classes

    check_interpolations(interps)
    if not resolutions or min(resolutions) < 2:
        raise ConfigError(f"resolutions {list(resolutions)} must be >= 2 pixels", "e.g. --resize 112,96,64,48,32,24,14")
    model, meta, config, index = load_for_eval(opts)
    records = builders.limited(index.split(opts.split), opts.limit, config.runtime.seed)
    rows: list[ResizeRow] = []
    for r, (down, up) in itertools.product(resolutions, itertools.product(interps, interps)):
        def degrade_face(image, r=r, down=down, up=up):  # defaults bind this loop's values
            return degrade(resize_to(image, meta.input_size, meta.interpolation), r, down, up)

        result = score_records(model, meta, config, records, degrade=degrade_face, desc=f"{r}px {down}->{up}",
                               classes=set_classes(index))  # a set with fewer classes: restricted_* columns too
        rows.append(ResizeRow(resolution=r, down=down, up=up, samples=result.samples, metrics=dict(result.metrics)))
        log.info("%dpx %s->%s: %s", r, down, up, {k: round(v, 4) for k, v in result.metrics.items() if k == "accuracy"})
    return rows


def table(rows: Sequence[ResizeRow], metric: str = "accuracy") -> str:
    pairs = list(dict.fromkeys(f"{r.down}->{r.up}" for r in rows))
    res = list(dict.fromkeys(r.resolution for r in rows))
    cell = {(r.resolution, f"{r.down}->{r.up}"): r.metrics.get(metric, float("nan")) for r in rows}
    width = max(12, *(len(p) + 2 for p in pairs))
    lines = [f"{metric} by resolution (rows) and down->up interpolation (columns)",
             f"{'px':>5}" + "".join(f"{p:>{width}}" for p in pairs)]
    lines += [f"{x:>5}" + "".join(f"{cell[(x, p)]:>{width}.4f}" for p in pairs) for x in res]
    return "\n".join(lines)


def write_results(rows: Sequence[ResizeRow], out: Path) -> tuple[Path, Path]:
    from edgeaffect.io import atomic_write_json, atomic_write_text

    out = Path(out)
    metric_names = list(dict.fromkeys(k for r in rows for k in r.metrics))
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["resolution", "down", "up", "samples", *metric_names])
    for r in rows:
        writer.writerow([r.resolution, r.down, r.up, r.samples, *(r.metrics.get(k) for k in metric_names)])
    csv_path = atomic_write_text(out / "resize_study.csv", buf.getvalue())
    json_path = atomic_write_json(out / "resize_study.json", to_plain(rows))
    return csv_path, json_path
