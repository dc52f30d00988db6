"""``run``'s flags -> :class:`~edgeaffect.runtime.pipeline.RunConfig`, once for the CLI and for Python.

``edgeaffect run --detect-every 3 --backend-option device=CPU`` and
``edgeaffect.load(..., detect_every=3, backend_option={"device": "CPU"})`` go
through :func:`run_config` with the same keyword names (the flag's name with
``_`` for ``-``), so an option means the same thing in both and is checked the
same way.  ``None`` always means "not given": the bundle's runtime setting,
else the built-in default, applies (see ``settings.py``).  Torch-free.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from edgeaffect.errors import ConfigError, check_range

MAX_READ_AHEAD = 64  # frames decoded ahead at most: 64 full-HD frames are ~400 MB, a Pi 4's spare memory


def backend_flags(bundle: str | Path, backend: str | None,
                  pairs: Sequence[str] | Mapping[str, Any] | None) -> dict[str, Any]:
    """``--backend-option KEY=VALUE`` pairs (or an already typed mapping), checked against the backend that runs the bundle."""
    if not pairs:
        return {}
    from edgeaffect.backend_options import parse_option
    from edgeaffect.bundle import load_bundle
    from edgeaffect.runtime.loader import backend_for

    if backend is None:
        found = load_bundle(bundle, check=False)
        backend = found.manifest.runtime.backend or backend_for(found)
    if isinstance(pairs, Mapping):
        pairs = [f"{k}={v}" for k, v in pairs.items()]  # the one parser types and checks them
    return dict(parse_option(str(text), backend) for text in pairs)


def run_config(bundle: str | Path, source: str | int | Path = "", *, out: Path | str | None = None,
               csv: Path | str | None = None, summary: Path | str | None = None, headless: bool = True,
               detector: str | None = None, detector_model: Path | str | None = None, detect_every: int | None = None,
               detect_region: int | None = None, detect_side: int | None = None, detect_engine: str | None = None,
               max_faces: int | None = None, smoothing: str | None = None,
               margin: float | None = None, align: bool = False, max_frames: int | None = None,
               max_seconds: float | None = None, save_crops: Path | str | None = None,
               save_video: Path | str | None = None, backend: str | None = None,
               backend_option: Sequence[str] | Mapping[str, Any] | None = None, threads: int | None = None,
               max_retries: int = 5, timeout: float = 5.0, fps: float = 30.0, loop: bool = False,
               width: int | None = None, height: int | None = None, pulse: str | None = None,
               pulse_window: float = 10.0, read_ahead: int | None = None):
    """The :class:`RunConfig` that ``edgeaffect run BUNDLE --source SOURCE --<flag> ...`` runs."""
    from edgeaffect.runtime.crop import CropOptions
    from edgeaffect.runtime.pipeline import RunConfig
    from edgeaffect.runtime.pulse import PulseOptions
    from edgeaffect.runtime.smoothing import SmoothingSpec
    from edgeaffect.runtime.sources import SourceOptions

    try:
        crop = CropOptions(margin=margin, align=align)
    except ValueError as exc:
        raise ConfigError(str(exc), "use a --margin between -0.4 and 2") from None
    detector_options: dict[str, Any] = {"model": Path(detector_model)} if detector_model else {}
    if detect_side is not None:
        if 0 < detect_side < 32:  # YuNet's smallest face is 10 px: on a copy this small it finds none, silently
            raise ConfigError(f"--detect-side {detect_side} shrinks every frame below any face YuNet can find",
                              "use 0 (full resolution) or 32 and above (default 320)")
        detector_options["max_side"] = detect_side or None
    if detect_engine is not None:  # YuNet's: opencv, onnxruntime or auto (detectors/yunet.py checks the name)
        detector_options["engine"] = detect_engine
    if read_ahead is not None:  # each frame held is a decoded image: a huge depth holds the whole video in memory
        check_range("--read-ahead", read_ahead, 0, MAX_READ_AHEAD, whole=True, fix=f"use 0-{MAX_READ_AHEAD} (default 4)")
    as_path = lambda p: None if p is None else Path(p)  # noqa: E731
    return RunConfig(
        bundle=Path(bundle), source=str(source), out=as_path(out), csv=as_path(csv), summary=as_path(summary),
        headless=headless, detector=detector, detector_options=detector_options, detect_every=detect_every,
        detect_region=detect_region, read_ahead=read_ahead,
        max_faces=max_faces, smoothing=SmoothingSpec.parse(smoothing) if smoothing else None, crop=crop,
        max_frames=max_frames, max_seconds=max_seconds, save_crops=as_path(save_crops),
        save_video=as_path(save_video), backend=backend, threads=threads,
        backend_options=backend_flags(bundle, backend, backend_option),
        source_options=SourceOptions(max_retries=max_retries, timeout_s=timeout, folder_fps=fps, loop=loop,
                                     width=width, height=height),
        pulse=PulseOptions(estimator=pulse, window_s=pulse_window) if pulse else None)
