"""The runtime loop: source -> detect -> crop -> backend -> smooth -> sink.

``run(RunConfig(...)) -> RunSummary`` is the whole of ``edgeaffect run``.  The
face detector runs every ``detect_every`` frames and the IoU tracker carries
the boxes (and stable ids) in between; with ``detect_region`` a detection round
looks only around confident tracks between scheduled full-frame passes
(``region.py``); with a spare core, frames are decoded ahead in a reader thread
(``reader.py``); all faces of a frame go to the backend in one batch; each
track has its own smoother; each processed frame becomes one
:class:`FrameResult` written to the sinks at once.  Outputs are checked
writable before the model loads, streamed to ``.partial`` files and renamed
into place only when the run ends cleanly; a run that gets no frame is an error.
SIGINT/SIGTERM finish the current frame, flush and close the sinks and save
the summary.  Every stage is timed (see ``stats.py``).  Torch-free.
"""
from __future__ import annotations

import contextlib
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from edgeaffect.errors import ConfigError, SourceError, check_range
from edgeaffect.io import atomic_write_json, check_writable, refuse_writing_into_inputs
from edgeaffect.plain import to_plain
from edgeaffect.pulse.trace import NO_ESTIMATE, PulseEstimate
from edgeaffect.runtime.crop import CropOptions
from edgeaffect.detectors import create_detector
from edgeaffect.runtime.inference import Predictor, TrackPrediction
from edgeaffect.runtime.predictor import FacePredictor, cut_faces
from edgeaffect.runtime.pulse import PulseOptions, PulseStage
from edgeaffect.runtime.reader import ReadAhead, default_depth
from edgeaffect.runtime.region import RegionDetector, RegionOptions, scene_cut, thumbnail
from edgeaffect.runtime.results import FaceResult, FrameResult, RunSummary
from edgeaffect.runtime.settings import ResolvedSettings
from edgeaffect.runtime.signals import finishing, stop_on_signals
from edgeaffect.runtime.sinks import (CropSaver, CsvSink, JsonlSink, Sink, VideoSink, WindowSink,
                                     window_unavailable)
from edgeaffect.runtime.smoothing import Smoothed, Smoother, SmoothingSpec
from edgeaffect.runtime.sources import Frame, SourceOptions, open_source
from edgeaffect.runtime.stats import RunStats
from edgeaffect.runtime.tracker import IouTracker, Track

log = logging.getLogger(__name__)


@dataclass(kw_only=True)
class RunConfig:
    """Everything ``edgeaffect run`` needs; saved with the summary next to the results."""

    bundle: Path
    source: str
    out: Path | None = None  # JSONL, one line per processed frame
    csv: Path | None = None
    summary: Path | None = None  # default: <out stem>.summary.json next to ``out``
    headless: bool = True
    # None = the bundle's runtime setting (its device profile's), else the built-in default
    detector: str | None = None
    detector_options: Mapping[str, Any] = field(default_factory=dict)
    detect_every: int | None = None
    detect_region: int | None = None  # full-frame pass every N detection rounds, track regions between; 0 = off
    max_faces: int | None = None
    smoothing: SmoothingSpec | None = None
    crop: CropOptions = field(default_factory=CropOptions)
    tracker_iou: float = 0.3
    max_missed: int = 5  # detection rounds a track may miss before it expires
    max_frames: int | None = None
    max_seconds: float | None = None  # stop after this much wall time (long-run checks, timed captures)
    save_crops: Path | None = None
    save_video: Path | None = None
    backend: str | None = None  # default: the bundle's, else the one its format names
    threads: int | None = None
    backend_options: Mapping[str, Any] = field(default_factory=dict)  # flags for the backend, e.g. {"device": "CPU"}
    source_options: SourceOptions = field(default_factory=SourceOptions)
    read_ahead: int | None = None  # frames decoded ahead in a reader thread; 0 = in the loop; None = 4 on 2+ cores
    rss_interval_s: float = 5.0
    pulse: PulseOptions | None = None  # heart rate per track beside the model (--pulse pos)

    def __post_init__(self) -> None:
        from edgeaffect.backend_options import max_threads

        self.bundle = Path(self.bundle)
        # every number finite and bounded before anything is built from it (a --threads 999999 pool, a NaN limit)
        for name, value, lo, hi, whole in (("--detect-every", self.detect_every, 1, 1000, True),
                                           ("--threads", self.threads, 1, max_threads(), True),
                                           ("--max-faces", self.max_faces, 1, 1000, True),
                                           ("--max-frames", self.max_frames, 1, 10**12, True),
                                           ("--max-seconds", self.max_seconds, 0, 10**9, False)):
            if value is not None:
                check_range(name, value, lo, hi, whole=whole)
        if self.detect_region is not None and self.detect_region < 0:
            raise ValueError("detect_region must be >= 0")

    def summary_path(self) -> Path | None:
        if self.summary is not None:
            return Path(self.summary)
        if self.out is None or str(self.out) == "-":
            return None
        return Path(self.out).with_name(Path(self.out).stem + ".summary.json")

    def inputs(self) -> list[Path]:
        """What the run reads from disk: the bundle and a video file or image folder (a camera reads none)."""
        kind, _, rest = self.source.partition(":")
        local = rest if kind in ("video", "folder") else self.source
        return [self.bundle] + ([Path(local)] if local and not local.isdigit() and "://" not in local else [])

    def check_outputs(self) -> None:
        """No output may replace an input or land inside an input folder (or the bundle), or name another."""
        outputs = {"--out": self.out, "--csv": self.csv, "--summary": self.summary_path(),
                   "--save-video": self.save_video, "--save-crops": self.save_crops}
        refuse_writing_into_inputs(outputs, self.inputs())
        named: dict[str, str] = {}
        for flag, path in ((f, p) for f, p in outputs.items() if p is not None):
            key = "-" if str(path) == "-" else str(Path(path).expanduser().resolve())
            if key in named:
                raise ConfigError(f"{named[key]} and {flag} both name {path}", "give each output its own path "
                                  "(standard output, '-', can take one of them)")
            named[key] = flag

    def to_dict(self) -> dict[str, Any]:
        d = to_plain(self)
        d["smoothing"] = None if self.smoothing is None else str(self.smoothing)
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in d.items()}


class _Loop:
    """The per-frame work and its state; ``run`` drives it."""

    def __init__(self, config: RunConfig, settings: ResolvedSettings, predictor: Predictor, stats: RunStats,
                 model: FacePredictor) -> None:
        self.config, self.settings, self.predictor, self.stats = config, settings, predictor, stats
        self.meta = predictor.meta
        self.crop, self.detector = model.crop, model.detector  # the predictor's framing and detector, built once
        self.region = None  # full-frame passes on a schedule, regions around confident tracks between
        if settings.detect_region:
            second = create_detector(settings.detector, **dict(settings.detector_options))  # keeps its own input size
            self.region = RegionDetector(self.detector, second, RegionOptions(full_every=settings.detect_region))
        self.tracker = IouTracker(iou_threshold=config.tracker_iou, max_missed=config.max_missed)
        self.smoothers: dict[int, Smoother] = {}
        self.held: dict[int, Smoothed] = {}  # last smoothed output per track (clip models between runs)
        self.crops = CropSaver(config.save_crops) if config.save_crops else None
        self.pulse = PulseStage(config.pulse, stats) if config.pulse else None
        self.processed = self.faces = self.skipped_crops = self.detect_rounds = 0
        self.last_index = -1
        self.shape: tuple[int, ...] | None = None  # the last frame's size: another size is another scene
        self.thumb: np.ndarray | None = None  # the last frame's thumbnail: most of it changed is another scene

    def _timed(self, stage: str, t0: float) -> float:
        now = time.perf_counter()
        self.stats.record(stage, (now - t0) * 1e3)
        return now

    def _label(self, index: int | None) -> str | None:
        if index is None:
            return None
        return self.meta.labels[index] if index < len(self.meta.labels) else str(index)

    def process(self, frame: Frame) -> FrameResult:
        cfg, stats = self.config, self.stats
        stats.begin_frame()
        stats.record("decode", frame.decode_ms)
        t = time.perf_counter()
        # a frame of another size, or most of whose pixels changed (the next photo of a folder of photos, a cut
        # in a video), is another scene: no track, no smoothing and no predicted box carries over from the last
        # one, and it gets a detection round now
        thumb = thumbnail(frame.image)  # shared with the region detector's change check
        scene = (self.shape is not None and frame.image.shape[:2] != self.shape) or scene_cut(thumb[0], self.thumb)
        self.shape, self.thumb = frame.image.shape[:2], thumb[0]
        if scene:
            self._forget(self.tracker.end_all())
        if scene or self.processed % self.settings.detect_every == 0:
            self.detect_rounds += 1
            if self.region is not None:
                faces = self.region.detect(frame.image, self.tracker.live(frame.index), thumb)[: cfg.max_faces]
            else:
                faces = self.detector.detect(frame.image)[: cfg.max_faces]
            t = self._timed("detect", t)
            tracks = self.tracker.update(faces, frame.index)
            self._forget(self.tracker.expired)
        else:
            tracks = self.tracker.predict(frame.index)
        index, crops = cut_faces(frame.image, [k.face for k in tracks], self.crop)
        kept = [tracks[i] for i in index]
        self.skipped_crops += len(tracks) - len(kept)
        t = self._timed("crop", t)
        if self.crops is not None:
            self.crops.save(frame.index, [k.id for k in kept], crops)
        preds = self.predictor.predict([k.id for k in kept], crops, frame.timestamp)
        pulses = self.pulse.update(frame.image, kept, frame.timestamp) if self.pulse else [NO_ESTIMATE] * len(kept)
        t = time.perf_counter()
        results = [self._face(track, tp, frame.timestamp, hr) for track, tp, hr in zip(kept, preds, pulses)]
        self._timed("smooth", t)
        self.processed += 1
        self.faces += len(results)
        self.last_index = frame.index
        return FrameResult(frame.index, frame.timestamp, tuple(results), dict(stats.current), frame.name or None)

    def _forget(self, ended: list[int]) -> None:
        """Drop the per-track state (smoothing, clip windows, pulse windows) of tracks that ended."""
        for tid in ended:
            self.smoothers.pop(tid, None)
            self.held.pop(tid, None)
        self.predictor.forget(ended)
        if self.pulse is not None:
            self.pulse.forget(ended)

    def _face(self, track: Track, tp: TrackPrediction, timestamp: float, pulse: PulseEstimate) -> FaceResult:
        face = track.face
        base = dict(track_id=track.id, box=tuple(float(v) for v in face.box), detected=track.detected,
                    detector_score=float(face.score), inferred=tp.inferred, eda=tp.signal,
                    heart_rate=pulse.hr_bpm if pulse.ok else None,
                    pulse_snr=pulse.snr_db if pulse.ok and np.isfinite(pulse.snr_db) else None)
        pred = tp.prediction
        if pred is None:
            return FaceResult(**base)
        smoother = self.smoothers.get(track.id) or self.smoothers.setdefault(track.id, self.settings.smoothing.build())
        held = self.held.get(track.id)
        if tp.inferred or held is None:
            s = self.held[track.id] = smoother.update(timestamp, pred.probs, pred.va)
        else:  # a clip model between two runs: hold the last smoothed output
            s = held
        va = s.va
        return FaceResult(
            **base,
            label=self._label(s.label),
            scores=() if s.probs is None else tuple(float(p) for p in s.probs),
            raw_label=self._label(None if pred.probs is None else int(np.argmax(pred.probs))),
            valence=None if va is None or np.isnan(va[0]) else float(va[0]),
            arousal=None if va is None or np.isnan(va[1]) else float(va[1]),
        )


def _open_sinks(config: RunConfig) -> list[Sink]:
    sinks: list[Sink] = []
    try:
        if not config.headless:
            _add_window(sinks)
        if config.out is not None:
            sinks.append(JsonlSink(config.out))
        if config.csv is not None:
            sinks.append(CsvSink(config.csv))
        if config.save_video is not None:
            sinks.append(VideoSink(config.save_video, fps=config.source_options.folder_fps))
    except BaseException:
        _finish(sinks, "discard")  # a bad --csv releases the --out already locked
        raise
    if not sinks and config.save_crops is None:
        log.warning("no --out, --csv or --save-video: the results are not kept (only the summary is printed); "
                    "add --out results.jsonl, or --out - for standard output")
    return sinks


def _add_window(sinks: list[Sink]) -> None:
    """The preview, which is the default; a machine that cannot show one runs headless with a warning
    (a Pi or a Jetson over ssh should not need a flag to run at all)."""
    why = window_unavailable()
    if why is None:
        try:
            sinks.append(WindowSink())
            return
        except ConfigError as exc:
            why = exc.what
    log.warning("no preview window: %s; running headless (--headless says so and silences this; "
                "the preview needs opencv-python and a display)", why)


def _finish(sinks: list[Sink], outcome: str) -> list[Path]:
    """Close every sink; file sinks ``commit`` / ``fail`` / ``discard`` their staged file. The paths kept."""
    kept = []
    for sink in sinks:
        finish = getattr(sink, "finish", None)
        path = finish(outcome) if finish is not None else sink.close()
        if isinstance(path, Path):
            kept.append(path)
    return kept


def run(config: RunConfig) -> RunSummary:
    """Run the loop until the source ends, ``max_frames``, a signal or a lost source.

    Results replace earlier ones only when the run ends cleanly (end of source, a ``--max-*``
    limit, a signal, the window closed) after at least one frame; a run that fails keeps its
    results as ``<out>.partial``; a run that gets no frame writes nothing and raises.
    """
    if not config.source.strip():  # an unset shell variable: "" would read the current folder
        raise ConfigError("--source is empty", "name a camera index (0), a video file, an image folder or a stream URL")
    # Every output is checked first: a wrong --out fails before the model loads, not after the work.
    config.check_outputs()
    sinks = _open_sinks(config)  # nothing is opened yet: file sinks open at their first result
    path = config.summary_path()
    try:
        if path is not None:
            check_writable(path, flag="--summary")
        if config.save_crops is not None:
            check_writable(config.save_crops, folder=True, flag="--save-crops")
        model = FacePredictor(config)  # the same object edgeaffect.load() gives Python users
        loop = model.session()
        settings, loaded, stats = loop.settings, model.loaded, loop.stats
        source = open_source(settings.source, config.source_options)
    except BaseException:
        _finish(sinks, "discard")
        raise
    stop_reason, error = "end", None
    report = lambda: print(stats.report(), file=sys.stderr, flush=True)  # noqa: E731
    depth = default_depth() if config.read_ahead is None else config.read_ahead
    reader = ReadAhead(source, depth) if depth else None
    frames = reader.frames() if reader is not None else source.frames()
    with contextlib.ExitStack() as shield:  # further signals wait while results and summary are committed
        try:
            with stop_on_signals(report, getattr(source, "interrupt", None)) as stop:
                try:
                    t_last = time.perf_counter()
                    for frame in frames:
                        t_frame = time.perf_counter()
                        read_ms = (t_frame - t_last) * 1e3  # the wait for this frame: its decode, unless read ahead
                        result = loop.process(frame)
                        stats.record("read", read_ms)
                        t = time.perf_counter()
                        for sink in sinks:
                            sink.write(frame, result)
                        stats.record("sink", (time.perf_counter() - t) * 1e3)
                        t_last = time.perf_counter()
                        stats.frame_done(read_ms + (t_last - t_frame) * 1e3)
                        if stop:
                            stop_reason = stop.reason or "signal"
                            break
                        if config.max_frames is not None and loop.processed >= config.max_frames:
                            stop_reason = "max_frames"
                            break
                        if config.max_seconds is not None and stats.seconds >= config.max_seconds:
                            stop_reason = "max_seconds"
                            break
                        if any(getattr(s, "quit", False) for s in sinks):
                            stop_reason = "window closed"
                            break
                    else:
                        if stop:
                            stop_reason = stop.reason or "signal"
                except SourceError as exc:
                    stop_reason, error = f"source lost: {exc.what}", exc
        except KeyboardInterrupt:  # a second Ctrl-C, mid-frame or as the handlers go back: every line written is whole
            stop_reason = "signal SIGINT"
        finally:
            failing = sys.exc_info()[1] is not None  # an unexpected error on its way out
            try:
                frames.close()
                if reader is not None:
                    reader.close()
                source.close()
            except KeyboardInterrupt:  # the second Ctrl-C a stuck source may take to close: a stop all the same
                stop_reason = "signal SIGINT"
            finally:
                shield.enter_context(finishing())  # until the summary is written too
                clean = error is None and not failing
                outcome = "discard" if not loop.processed else "commit" if clean else "fail"
                for kept in _finish(sinks, outcome):
                    if outcome == "fail":
                        print(f"partial results of the failed run kept in {kept}; the earlier results are untouched",
                              file=sys.stderr)
        stats.sample_rss(force=True)
        summary = _summarise(config, settings, loaded, loop, source, stats, stop_reason)
        if path is not None and loop.processed:  # a run that got no frame does not replace an earlier summary
            atomic_write_json(path if clean else path.with_name(path.name + ".partial"), summary.to_dict())
    print(stats.report(), file=sys.stderr, flush=True)
    log.info("%d frames, %d faces, stopped: %s", summary.frames, summary.faces, stop_reason)
    if error is not None:
        raise error
    if not loop.processed and not stop_reason.startswith("signal"):
        c = source.counters
        raise SourceError(f"source {settings.source} delivered no frame ({c.bad} undecodable, {c.dropped} dropped): "
                          "nothing was written and earlier results are untouched",
                          "check the source plays (e.g. with ffplay) and holds frames OpenCV can decode")
    return summary


def _summarise(config: RunConfig, settings: ResolvedSettings, loaded, loop: _Loop, source, stats: RunStats,
               stop_reason: str) -> RunSummary:
    rss = [r for _, r in stats.rss_samples]
    c = source.counters
    return RunSummary(
        bundle=str(config.bundle), backend=loaded.backend_name, precision=str(getattr(loaded.backend, "precision", "")),
        source=settings.source, detector=settings.detector, detect_every=settings.detect_every,
        detect_passes=dict(loop.region.counts) if loop.region else {"full": loop.detect_rounds},
        smoothing=settings.smoothing.name, smoothing_params=dict(settings.smoothing.params),
        frames=loop.processed, last_index=loop.last_index, faces=loop.faces,
        tracks=loop.tracker.next_id - 1, bad_frames=c.bad, dropped_frames=c.dropped,
        skipped_crops=loop.skipped_crops, reconnects=c.reconnects, seconds=stats.seconds, fps=stats.fps,
        cpu_seconds=stats.cpu_seconds, detect_engine=getattr(loop.detector, "engine", ""),
        stages=stats.stage_stats(), rss_mb_start=rss[0], rss_mb_peak=max(rss), rss_mb_end=rss[-1],
        rss_samples=tuple(stats.rss_samples),
        stop_reason=stop_reason, config=config.to_dict(), settings=settings.describe(),
        labels=tuple(loop.meta.labels),  # a report names the scores without the bundle at hand
        ran_on=", ".join(getattr(loaded.backend, "providers", None) or [str(getattr(loaded.backend, "device", "CPU"))]),
    )
