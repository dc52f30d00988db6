"""Heart rate from face video against a contact sensor: ``edgeaffect eval --pulse pos --data RECORDING``.

For every recording (any layout ``edgeaffect.data.recording`` reads) the face
is detected in every frame, its skin reduced to one mean colour
(``pulse.skin``), and each estimator's heart rate read over windows of
``window_s`` seconds every ``hop_s`` seconds and over the whole clip, beside
the heart rate of the sensor's pulse wave in the same span, read the same way.
Windows where the face or the sensor is missing for too long get "no
estimate" and are counted, not scored.  Trained video models plug in through
:func:`score` with a per-window rate function (see ``train/pulse_eval.py``).
Torch-free.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from tqdm import tqdm

from edgeaffect.errors import ConfigError
from edgeaffect.metrics import hr_report
from edgeaffect.plain import to_plain
from edgeaffect.pulse.spectrum import snr_db
from edgeaffect.pulse.trace import PulseEstimate, estimate, wave_rate, windows

log = logging.getLogger(__name__)

RateFn = Callable[[float, float], PulseEstimate]  # (start s, end s) -> the estimate for that span


@dataclass(frozen=True, kw_only=True)
class PulseEvalOptions:
    estimators: tuple[str, ...]
    data: str
    format: str | None = None
    split: str = "test"
    window_s: float = 10.0
    hop_s: float = 5.0
    detector: str = "yunet"
    detector_options: Mapping[str, Any] = field(default_factory=dict)
    progress: bool = True

    def __post_init__(self) -> None:
        if self.window_s <= 0 or self.hop_s <= 0:
            raise ConfigError(f"window {self.window_s} s, hop {self.hop_s} s", "use positive --window and --hop")


@dataclass(frozen=True)
class WindowResult:
    recording: str
    start_s: float
    end_s: float
    reference_bpm: float  # NaN: the sensor does not cover the window
    estimate_bpm: float  # NaN: no estimate
    # the estimate's wave at the sensor's heart rate (de Haan & Jeanne 2013): how much of the wave is the
    # true pulse, which reads low when the estimator locked onto something else; NaN without both
    snr_db: float


@dataclass(frozen=True)
class EstimatorReport:
    estimator: str
    windows: tuple[WindowResult, ...]
    clips: tuple[WindowResult, ...]  # one per recording: the whole clip as one window
    metrics: Mapping[str, float]  # hr_report over the windows


@dataclass(frozen=True)
class PulseEvalReport:
    data: str
    format: str
    window_s: float
    hop_s: float
    detector: str
    recordings: int
    faces_found: Mapping[str, float]  # recording -> share of frames with a face
    estimators: tuple[EstimatorReport, ...]

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)  # strict JSON: a window without an estimate is null, not NaN


def face_pass(record: Any, detector: Any, per_face: Callable[[np.ndarray, tuple], Any]) -> tuple[list, float]:
    """``per_face(frame, box)`` of the largest face of every frame (None where there is none), share found."""
    from edgeaffect.detectors import largest

    out: list[Any] = [None] * len(record.frame_times)
    found = 0
    for i, frame in enumerate(record.frames()):
        face = largest(detector.detect(frame))
        if face is not None:
            found += 1
            out[i] = per_face(frame, face.box)
    return out, found / max(len(out), 1)


def colour_trace(record: Any, detector: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(frame times, (n, 3) skin RGB and (n, 3) its change made by the picture, NaN rows where no face, share of
    frames with a face).  The runtime's sampler (``skin.HeldSkin``): the box held as each track's is, and the
    still-picture gate reads the same change, so eval and run refuse a frozen face alike."""
    from edgeaffect.pulse.skin import HeldSkin

    held = HeldSkin()
    pairs, share = face_pass(record, detector, held)
    nan = np.full(3, np.nan)
    rgb = np.stack([nan if p is None else p[0] for p in pairs]) if pairs else np.zeros((0, 3))
    change = np.stack([nan if p is None else p[1] for p in pairs]) if pairs else np.zeros((0, 3))
    return np.asarray(record.frame_times, dtype=np.float64), rgb, change, share


def score(name: str, spans: Sequence[tuple[str, np.ndarray, np.ndarray, RateFn]], window_s: float,
          hop_s: float) -> EstimatorReport:
    """Score one estimator: ``spans`` = (recording, frame times, sensor wave, rate function) per recording."""
    rows, clips = [], []
    for key, times, bvp, rate in spans:
        t_end = float(np.nanmax(times)) if np.isfinite(times).any() else 0.0

        def row(a: float, b: float) -> WindowResult:
            inside = (times >= a) & (times <= b)
            ref = wave_rate(times[inside], bvp[inside], span=(a, b))
            est = rate(a, b)
            snr = snr_db(est.wave, est.fs, ref.hr_bpm) if est.wave is not None and ref.ok else float("nan")
            return WindowResult(key, a, b, ref.hr_bpm, est.hr_bpm, snr)

        rows += [row(a, b) for a, b in windows(t_end, window_s, hop_s)]
        clips.append(row(0.0, t_end))
    metrics = hr_report([r.reference_bpm for r in rows], [r.estimate_bpm for r in rows])
    return EstimatorReport(name, tuple(rows), tuple(clips), metrics)


def colour_rate(name: str, times: np.ndarray, rgb: np.ndarray, change: np.ndarray | None = None) -> RateFn:
    def rate(a: float, b: float) -> PulseEstimate:
        inside = (times >= a) & (times <= b)
        return estimate(name, times[inside], rgb[inside], span=(a, b), keep_wave=True,
                        change=None if change is None else change[inside])

    return rate


def open_recordings(opts: PulseEvalOptions) -> tuple[Any, Any]:
    """(the recordings' DatasetIndex, the face detector); ConfigError when the data holds no recording."""
    from edgeaffect.data import open_dataset
    from edgeaffect.detectors import create_detector

    index = open_dataset(opts.data, format=opts.format)
    if index.task != "recording":
        raise ConfigError(f"{index.root} is a {index.format} dataset, not a video + pulse recording",
                          "point --data at a PhysRecorder, UBFC-rPPG or PURE folder")
    return index, create_detector(opts.detector, **dict(opts.detector_options))


def evaluate_pulse(opts: PulseEvalOptions) -> PulseEvalReport:
    from edgeaffect.pulse import get_estimator

    for name in opts.estimators:
        get_estimator(name)  # unknown names fail before minutes of video are read
    index, detector = open_recordings(opts)
    traces, found = [], {}
    for record in tqdm(index.split(opts.split), desc="face colour", unit="recording", disable=not opts.progress):
        times, rgb, change, share = colour_trace(record, detector)
        traces.append((record, times, rgb, change))
        found[record.key] = share
        if record.seconds < opts.window_s:
            log.warning("%s lasts %.1f s, less than one %g s window: it gives no window to score (--window sets it)",
                        record.key, record.seconds, opts.window_s)
    reports = tuple(score(name, [(r.key, t, r.bvp, colour_rate(name, t, c, d)) for r, t, c, d in traces],
                          opts.window_s, opts.hop_s) for name in opts.estimators)
    return PulseEvalReport(data=str(index.root), format=index.format, window_s=opts.window_s, hop_s=opts.hop_s,
                           detector=opts.detector, recordings=len(traces), faces_found=found, estimators=reports)


def _bpm(v: float) -> str:
    return f"{v:6.1f}" if np.isfinite(v) else "     -"


def format_pulse_report(report: PulseEvalReport, *, per_window: bool = True) -> str:
    lines = [f"{report.data} ({report.format}): {report.recordings} recording(s), {report.window_s:g} s windows "
             f"every {report.hop_s:g} s, detector {report.detector}, face found in "
             + ", ".join(f"{k} {v:.0%}" for k, v in report.faces_found.items()),
             f"{'estimator':<12}{'scored':>7}{'none':>6}{'no ref':>7}{'MAE':>7}{'RMSE':>7}{'MAPE%':>7}{'r':>7}"
             f"   whole clip: estimate / sensor (bpm)"]
    for est in report.estimators:
        m = est.metrics
        clips = "; ".join(f"{c.recording} {_bpm(c.estimate_bpm).strip()} / {_bpm(c.reference_bpm).strip()}"
                          for c in est.clips)
        name = est.estimator if len(est.estimator) < 12 else f"{est.estimator}\n{'':<12}"  # long model names
        lines.append(f"{name:<12}{m['scored']:>7}{m['no_estimate']:>6}{m['no_reference']:>7}"
                     f"{_num(m['mae'])}{_num(m['rmse'])}"
                     f"{_num(m['mape'])}{_num(m['pearson'], 2)}   {clips}")
    if per_window:
        lines.append("per window (estimate / sensor bpm):")
        for est in report.estimators:
            lines.append(f"  {est.estimator:<10} " + ("  ".join(
                f"{w.start_s:g}-{w.end_s:g}s {_bpm(w.estimate_bpm).strip()}/{_bpm(w.reference_bpm).strip()}"
                for w in est.windows) or f"none: every recording is shorter than {report.window_s:g} s (--window)"))
    return "\n".join(lines)


def _num(v: float, digits: int = 2) -> str:
    return f"{v:7.{digits}f}" if np.isfinite(v) else "      -"
