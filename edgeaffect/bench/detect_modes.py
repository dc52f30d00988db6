"""Detection settings side by side on one video: what each costs per stage and what it loses.

Three settings of the same runtime loop (``DETECT_MODES``): full-frame
detection on every frame (the reference), full-frame every 5th frame with the
tracker extrapolating in between, and track-guided region detection
(``runtime/region.py``).  Each runs headless through
:func:`edgeaffect.runtime.pipeline.run`, round-robin when ``repeats`` > 1 (so
machine noise lands on all of them; the fastest run of each counts), and is
scored against the reference run frame by frame: face recall (a reference box
matched at IoU >= 0.5), the mean IoU of the matched boxes (how well the crops
sit) and top-1 agreement of the matched faces' raw labels.  The table prints
the ratio of the fastest runs and, with several rounds, the median of the
ratios round by round: a region frame is 2-3 ms on one core, so a few hundred
microseconds of interference in one run swing the best-of ratio by 10-20 %, and
the median of same-round ratios is the figure that holds.  Besides wall-clock
FPS each row has ``cpu_fps``, frames per second of this process's CPU time from
the first frame on (opening the model and the detectors excluded): on a machine
shared with other work it is what the loop would do with the cores to itself
(the loop is CPU-bound), and it is far steadier than wall time.
Torch-free.
"""
from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from edgeaffect.bench.results import DetectModeRow, StageLatency, round_ratio
from edgeaffect.runtime.region import DEFAULT_FULL_EVERY

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetectMode:
    name: str
    detect_every: int
    detect_region: int
    description: str


DETECT_MODES = {m.name: m for m in (
    DetectMode("full", 1, 0, "full-frame detection every frame"),
    DetectMode("every5", 5, 0, "full-frame detection every 5th frame, the tracker extrapolates between"),
    DetectMode("region", 1, DEFAULT_FULL_EVERY,
               f"every frame: full frame every {DEFAULT_FULL_EVERY}th, regions around the tracks between"),
)}
REFERENCE = "full"


def _boxes_iou(a: Sequence[float], b: Sequence[float]) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(x1 - x0, 0.0) * max(y1 - y0, 0.0)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def match_faces(reference: Iterable[Mapping[str, Any]], other: Iterable[Mapping[str, Any]],
                min_iou: float = 0.5) -> tuple[int, int, int, float | None]:
    """(reference faces, of them found in ``other``, found with the same raw label, mean IoU of the found boxes).

    Both are run records as the JSONL sink writes them (``index``, ``faces`` with ``box`` and ``raw_label``).
    """
    by_index = {r["index"]: r["faces"] for r in other}
    total = found = same = 0
    overlap = 0.0
    for rec in reference:
        candidates = by_index.get(rec["index"], [])
        for face in rec["faces"]:
            total += 1
            best = max(candidates, key=lambda c: _boxes_iou(face["box"], c["box"]), default=None)
            if best is not None and _boxes_iou(face["box"], best["box"]) >= min_iou:
                found += 1
                overlap += _boxes_iou(face["box"], best["box"])
                same += best.get("raw_label") == face.get("raw_label")
    return total, found, same, overlap / found if found else None  # nothing matched: no IoU to report


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def compare_modes(bundle: Path, video: Path, *, key: str = "", modes: Sequence[str] = tuple(DETECT_MODES),
                  detector: str = "yunet", detector_options: Mapping[str, Any] | None = None,
                  threads: int | None = None, max_frames: int | None = None,
                  repeats: int = 1) -> tuple[DetectModeRow, ...]:
    """One row per mode; recall and agreement against ``full`` (run too when not listed).

    ``detector_options`` go to the detector of every mode (e.g. ``{"engine": "opencv"}``).
    """
    from edgeaffect.runtime.pipeline import RunConfig, run

    names = [REFERENCE] + [m for m in modes if m != REFERENCE]
    best: dict[str, Any] = {}
    rounds: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, float] = {}
    records: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="edgeaffect-modes-") as tmp:
        for rep in range(max(repeats, 1)):
            for name in names:
                mode = DETECT_MODES[name]
                out = Path(tmp) / f"{name}.jsonl"
                summary = run(RunConfig(bundle=Path(bundle), source=str(video), out=out, detector=detector,
                                        detector_options=dict(detector_options or {}),
                                        detect_every=mode.detect_every, detect_region=mode.detect_region,
                                        threads=threads, max_frames=max_frames))
                cpu_s = summary.cpu_seconds  # from the first frame: opening the bundle and detectors is not the loop
                cpu[name] = min(cpu.get(name, float("inf")), cpu_s)
                log.info("%s run %d: %.1f FPS, %.2f CPU s", name, rep + 1, summary.fps, cpu_s)
                rounds[name].append(summary.fps)
                if name not in best or summary.fps > best[name].fps:
                    best[name] = summary
                if rep == 0:
                    records[name] = _read(out)
    rows = []
    for name in names:
        if name not in modes:
            continue
        s = best[name]
        total, found, same, box_iou = match_faces(records[REFERENCE], records[name])
        stages = tuple(StageLatency(stage=x.stage, n=x.count, mean_ms=x.mean_ms, p50_ms=x.p50_ms, p95_ms=x.p95_ms)
                       for x in s.stages)
        rows.append(DetectModeRow(bundle=key or Path(bundle).name, video=Path(video).name, mode=name,
                                  detect_every=s.detect_every, detect_region=DETECT_MODES[name].detect_region,
                                  frames=s.frames, faces=s.faces, fps=s.fps, cpu_fps=s.frames / cpu[name],
                                  box_iou=box_iou,
                                  # no reference face (a video without one): no recall or agreement, not a perfect 1
                                  recall=found / total if total else None, top1_agreement=same / found if found else None,
                                  detect_passes=dict(s.detect_passes), stages=stages,
                                  round_fps=tuple(rounds[name])))
    return tuple(rows)


def _cell(value: float | None) -> str:
    return f"{'-':>8}" if value is None else f"{value:>8.4f}"


def modes_table(rows: Sequence[DetectModeRow]) -> str:
    """FPS, ratio to the reference (fastest runs, and median of the rounds), recall, agreement, and
    the mean ms of every stage per setting."""
    stages = list(dict.fromkeys(s.stage for r in rows for s in r.stages))
    head = (f"{'video':<20}{'setting':<8}{'FPS':>7}{'ratio':>7}{'median':>7}{'cpuFPS':>8}{'ratio':>7}{'recall':>8}"
            f"{'boxIoU':>8}{'top-1':>8}  " + "".join(f"{s[:8]:>9}" for s in stages) + "  (ms per frame, amortised)")
    lines = [head]
    for r in rows:
        ref = next((x for x in rows if x.video == r.video and x.bundle == r.bundle and x.mode == REFERENCE), None)
        ratio = r.fps / ref.fps if ref is not None and ref.fps else float("nan")
        cpu_ratio = r.cpu_fps / ref.cpu_fps if ref is not None and ref.cpu_fps else float("nan")
        ms = {s.stage: s.mean_ms * s.n / max(r.frames, 1) for s in r.stages}
        median = round_ratio(r, ref) if ref is not None else float("nan")
        lines.append(f"{r.video[:19]:<20}{r.mode:<8}{r.fps:>7.1f}{ratio:>6.2f}x{median:>6.2f}x"
                     f"{r.cpu_fps:>8.1f}{cpu_ratio:>6.2f}x{_cell(r.recall)}{_cell(r.box_iou)}{_cell(r.top1_agreement)}  "
                     + "".join(f"{ms.get(s, 0.0):>9.2f}" for s in stages))
    return "\n".join(lines)
