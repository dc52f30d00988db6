"""``edgeaffect run`` (the torch-free loop on a camera, stream, video or folder) and ``edgeaffect models``."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from edgeaffect.errors import ConfigError


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run_cmd(
        bundle: Path = typer.Argument(..., help="Bundle folder written by 'edgeaffect export'."),
        source: str = typer.Option(..., "--source", "-s",
                                   help="Camera index (0), video file, image folder, rtsp:// URL, GStreamer pipeline "
                                        "or picamera:. Prefix camera:/video:/folder:/stream: to force the kind."),
        headless: bool = typer.Option(False, "--headless", help="No preview window."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="JSONL results, one line per processed frame ('-' = stdout)."),
        csv: Optional[Path] = typer.Option(None, "--csv", help="CSV results, one row per face."),
        detector: Optional[str] = typer.Option(None, help="Face detector: yunet, haar, dlib or none (whole frame). "
                                                          "Default: the bundle's (its device profile's), else yunet."),
        detector_model: Optional[Path] = typer.Option(None, help="YuNet model file (default: the bundle's embedded "
                                                                 "detector, the model cache, else the shipped copy)."),
        detect_every: Optional[int] = typer.Option(None, min=1, help="Run the detector every N frames; the tracker "
                                                                     "fills in (default: the bundle's, else 1)."),
        detect_region: Optional[int] = typer.Option(
            None, min=0, help="Full-frame detection every N detection rounds; in between the detector looks only "
                              "around each confident track's predicted box, and a face lost there gets a full-frame "
                              "pass at once. 0 = full frame every round. Default: the bundle's, else "
                              "20 for YuNet, 0 for other detectors."),
        detect_side: Optional[int] = typer.Option(None, min=0, max=8192, help="YuNet runs on a copy of the frame whose longer "
                                                                    "side is at most this (boxes mapped back); 0 = full "
                                                                    "resolution. Default: the bundle's, else the detector's."),
        detect_engine: Optional[str] = typer.Option(None, help="What runs YuNet: onnxruntime (the same faces at "
                                                               "about half the CPU on a whole frame), opencv (cv2.FaceDetectorYN) "
                                                               "or auto (default: onnxruntime when installed)."),
        max_faces: Optional[int] = typer.Option(None, min=1, help="Keep at most N faces per frame (best first)."),
        smoothing: Optional[str] = typer.Option(None, help="none | ema:ALPHA | majority:WINDOW | "
                                                           "oneeuro[:MIN_CUTOFF,BETA,D_CUTOFF] (default: the bundle's)."),
        margin: Optional[float] = typer.Option(
            None, help="Crop margin per side, as a fraction of the face box (negative = tighter than the box). "
                       "Default: the framing the model was trained on (ModelMeta), else 0.15."),
        align: bool = typer.Option(False, "--align", help="Align crops on the 5 landmarks (YuNet)."),
        max_frames: Optional[int] = typer.Option(None, min=1, help="Stop after N processed frames."),
        max_seconds: Optional[float] = typer.Option(None, min=0.0, help="Stop after this many seconds."),
        save_crops: Optional[Path] = typer.Option(None, help="Write every face crop here (off by default: privacy)."),
        save_video: Optional[Path] = typer.Option(None, help="Write the annotated video here (off by default)."),
        backend: Optional[str] = typer.Option(None, help="Override the bundle's backend (e.g. onnxruntime)."),
        backend_option: list[str] = typer.Option([], "--backend-option", help="KEY=VALUE for the backend, overriding "
                                                 "the bundle's (e.g. device=CPU, providers=[CPUExecutionProvider]); repeatable."),
        threads: Optional[int] = typer.Option(None, min=1, help="Inference threads (default: the bundle's)."),
        max_retries: int = typer.Option(5, min=0, max=10_000, help="Reconnect attempts when a camera or stream is lost."),
        timeout: float = typer.Option(5.0, min=0.1, max=3600, help="Seconds a stream may take to open or to deliver a frame."),
        fps: float = typer.Option(30.0, min=0.01, max=1000, help="Frame rate assumed for image folders (timestamps)."),
        loop: bool = typer.Option(False, "--loop", help="Replay a video file from the start when it ends."),
        width: Optional[int] = typer.Option(None, help="Requested camera width."),
        height: Optional[int] = typer.Option(None, help="Requested camera height."),
        read_ahead: Optional[int] = typer.Option(
            None, min=0, max=64, help="Frames decoded ahead in a reader thread while the loop works (files never drop one; "
                              "a live source keeps the newest and counts drops). 0 = decode in the loop. "
                              "Default: 4 when the process may use 2+ cores, else 0."),
        summary: Optional[Path] = typer.Option(None, help="Summary JSON (default: <out>.summary.json)."),
        pulse: Optional[str] = typer.Option(None, help="Also estimate heart rate per face: pos, chrom or green."),
        pulse_window: float = typer.Option(10.0, min=4, max=600, help="Seconds of face video per heart-rate estimate."),
        jobs: int = typer.Option(1, min=1, help="Corpus: videos processed at once, one process each (threads per "
                                                "job default to cores // jobs)."),
        shard: Optional[str] = typer.Option(None, help="Corpus: I/N runs every N-th video from the I-th (array jobs)."),
        ray: bool = typer.Option(False, "--ray", help="Corpus: run the videos as Ray tasks (the 'ray' extra)."),
        ray_address: Optional[str] = typer.Option(None, help="Corpus: Ray cluster to join (ray://HOST:10001 or auto; "
                                                             "default: a local Ray). Implies --ray."),
    ) -> None:
        """Run a bundle on live or recorded video: detect, crop, infer, smooth, write results."""
        from edgeaffect.runtime.pipeline import run
        from edgeaffect.runtime.runflags import run_config
        from edgeaffect.runtime.settings import settings_line

        config = run_config(  # the same keywords edgeaffect.load() takes
            bundle, source, out=out, csv=csv, summary=summary, headless=headless, detector=detector,
            detector_model=detector_model, detect_every=detect_every, detect_region=detect_region,
            detect_side=detect_side, detect_engine=detect_engine, max_faces=max_faces,
            smoothing=smoothing, margin=margin, align=align, max_frames=max_frames, max_seconds=max_seconds,
            save_crops=save_crops, save_video=save_video, backend=backend, backend_option=backend_option,
            threads=threads, max_retries=max_retries, timeout=timeout, fps=fps, loop=loop, width=width,
            height=height, pulse=pulse, pulse_window=pulse_window, read_ahead=read_ahead)
        from edgeaffect.runtime.batch import is_corpus

        if is_corpus(source):  # a folder of videos or a list file: one result file per video in --out
            from edgeaffect.runtime.batch_cli import run_corpus

            run_corpus(config, source, out, jobs=jobs, shard=shard, ray=ray_address or ("local" if ray else None))
            return
        if jobs != 1 or shard or ray or ray_address:
            raise ConfigError("--jobs, --shard and --ray work on a corpus", "pass a folder of videos or a list file "
                              "(.txt, one video per line) as --source, and a folder as --out")
        result = run(config)
        typer.echo(f"settings: {settings_line(result.settings)}; ran on {result.ran_on}", err=True)
        typer.echo(f"{result.frames} frames ({result.bad_frames} bad, {result.dropped_frames} dropped), "
                   f"{result.faces} faces in {result.tracks} tracks, {result.fps:.1f} FPS, stopped: {result.stop_reason}"
                   + "; detection passes " + ", ".join(f"{n} {k}" for k, n in result.detect_passes.items())
                   + (f"; results in {out}" if out and result.frames else ""), err=True)  # stdout may carry the JSONL (--out -)
        if result.stop_reason.startswith("signal "):  # a clean stop, results kept, but not the source's end: 130/143
            import signal

            from edgeaffect.errors import Interrupted

            raise Interrupted(signal.Signals[result.stop_reason.split()[1]])

    models = typer.Typer(help="Auxiliary models (face detectors): shipped ones and the local model cache.",
                         no_args_is_help=True)
    app.add_typer(models, name="models")

    @models.command("fetch")
    def fetch_cmd(
        name: str = typer.Argument(..., help="Model to download (see 'edgeaffect models list')."),
        url: Optional[str] = typer.Option(None, help="Download from this mirror instead of the upstream address."),
        sha256: Optional[str] = typer.Option(None, help="Expected sha256 (default: the pinned upstream hash)."),
        dest: Optional[Path] = typer.Option(None, help="Cache folder (default: $XDG_CACHE_HOME/edgeaffect/models)."),
    ) -> None:
        """Download a model once into the cache, checking its sha256 (the only command that uses the network)."""
        from edgeaffect.modelcache import fetch

        typer.echo(f"saved {fetch(name, url=url, sha256=sha256, dest=dest)}")

    @models.command("list")
    def list_cmd(dest: Optional[Path] = typer.Option(None, help="Cache folder to look in.")) -> None:
        """Known models and whether they are in the cache."""
        from edgeaffect.modelcache import MODELS, cache_dir, cached_path, packaged_path

        typer.echo(f"cache: {cache_dir(dest)}")
        for m in MODELS.values():
            path, shipped = cached_path(m.name, dest), packaged_path(m.name)
            state = f"cached at {path}" if path else f"ships with edgeaffect: {shipped}" if shipped else "not fetched"
            typer.echo(f"{m.name:<14} {m.filename} ({m.size // 1024} kB, {m.licence}) - {state}\n{'':<15}{m.description}")
