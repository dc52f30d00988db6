"""The steps of ``edgeaffect demo``, one function each, in the order they run.

Each step takes the shared :class:`DemoState`, calls the Python API of the
part of edgeaffect it exercises (no subprocesses) and records what it made.
A part that is missing from this installation stops the demo with an error
naming the step — the demo never stands in for a step it cannot run.
"""
from __future__ import annotations

import importlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

from edgeaffect.errors import ConfigError, EdgeAffectError

log = logging.getLogger(__name__)

# (target profile, format, precision): the bundles the demo exports
EXPORTS = (("laptop-x86", "openvino", "fp32"), ("laptop-x86", "onnx", "fp32"), ("rpi4", "tflite", "int8"))


@dataclass(kw_only=True)
class DemoState:
    """What the steps share; filled in as they run."""

    out: Path
    quick: bool
    synthetic: bool  # True: built-in synthetic faces; False: FER+ from EDGEAFFECT_DATA
    train: bool = False  # False: the shipped default model; True: train a small model first
    epochs: int | None  # None: the synthetic recipe's own (FER+ runs take 2: its recipe's 40 are hours)
    exports: tuple[tuple[str, str, str], ...] = EXPORTS
    data: Path | None = None
    data_options: dict = field(default_factory=dict)
    run_dir: Path | None = None
    bundles: list[Path] = field(default_factory=list)
    video: Path | None = None
    results: Path | None = None
    report: Path | None = None
    notes: list[str] = field(default_factory=list)


def parse_exports(text: str) -> tuple[tuple[str, str, str], ...]:
    """``"laptop-x86:onnx:fp32,rpi4:tflite:int8"`` -> export triples (the CLI's --exports)."""
    from edgeaffect.errors import ConfigError

    triples = tuple(tuple(item.strip().split(":")) for item in text.split(",") if item.strip())
    if not triples or any(len(t) != 3 for t in triples):
        raise ConfigError(f"--exports '{text}' is not a list of target:format:precision",
                          "e.g. --exports laptop-x86:openvino:fp32,rpi4:tflite:int8")
    return triples  # type: ignore[return-value]


def need(step: str, module: str) -> ModuleType:
    """Import a part of edgeaffect a step needs, or stop the demo naming the missing step."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and (exc.name == module or module.startswith(exc.name + ".")):
            raise EdgeAffectError(f"demo step '{step}' cannot run: {module} is not part of this installation",
                                  "install the full package (pip install 'edgeaffect[all]') or update edgeaffect") from exc
        raise


def ferplus_root() -> Path | None:
    root = os.environ.get("EDGEAFFECT_DATA")
    path = Path(root) / "ferplus" if root else None
    return path if path is not None and path.is_dir() else None


def step_data(s: DemoState) -> str:
    if not s.synthetic:
        s.data, s.data_options = ferplus_root(), {"mode": "majority"}
        return f"FER+ (majority labels) at {s.data}"
    synthetic = need("data", "edgeaffect.data.synthetic")
    per_class = 8 if s.quick else 32
    # The faces ddamfn-synthetic trains on: aligned crops, one face per person and class.
    s.data = synthetic.write_synthetic_faces(s.out / "data" / "faces", per_class=per_class, size=112, seed=0,
                                             aligned=True, per_subject=1)
    return f"{per_class} aligned synthetic faces per class (8 classes, 112x112) in {s.data}"


def step_train(s: DemoState) -> str:
    if not s.train:
        from edgeaffect.assets import resolve
        from edgeaffect.meta import ModelMeta

        s.run_dir = resolve("default", "run")
        meta = ModelMeta.load(s.run_dir)
        return (f"no training (--train trains one): the shipped default model, {meta.model} "
                f"{meta.input_size[0]}x{meta.input_size[1]} {meta.color.value}, trained on FER+ (see its MODEL_CARD.md)")
    recipes = need("train", "edgeaffect.train.recipes")
    engine = need("train", "edgeaffect.train.engine")
    recipe = "ddamfn-synthetic" if s.synthetic else "ddamfn-ferplus"
    overrides: dict[str, Any] = {"data": {"path": str(s.data), "options": s.data_options},
                                 "runtime": {"out": str(s.out / "run")}}
    epochs = s.epochs or (None if s.synthetic else 2)
    if epochs:
        overrides["schedule"] = {"epochs": epochs}
    if not s.synthetic:  # a short run on a slice of FER+: minutes on a laptop CPU, not hours
        overrides["data"].update(limit_train=128 if s.quick else 1024, limit_valid=64, limit_test=128, augment=False)
        # The study's SGD + attention loss learns nothing visible in so few steps: on 1024 FER+ faces x 2 epochs it
        # gave one class (test UAR 0.143); the from-scratch settings of ddamfn-synthetic gave UAR 0.231, kappa 0.16.
        short_run = recipes.load_recipe("ddamfn-synthetic")
        overrides.update(optim=short_run["optim"], loss=short_run["loss"])
    result = engine.fit(recipes.resolve_config(recipe, overrides))
    s.run_dir = Path(result.run_dir)
    acc = result.test.get("accuracy", result.best_metric)
    return f"{recipe}: {result.epochs_run} epoch(s), test accuracy {acc:.3f}, run folder {s.run_dir}"


def step_export(s: DemoState) -> str:
    export = need("export", "edgeaffect.compress.export")
    made = []
    name = "ddamfn" if s.train else "default"
    for target, fmt, precision in s.exports:
        out = s.out / "bundles" / f"{name}-{target}-{fmt}-{precision}"
        path = export.export_bundle(s.run_dir, target=target, format=fmt, precision=precision, out=out,
                                    calibration=s.data, verify_data=s.data, n_verify=64 if s.quick else 200,
                                    n_calib=32 if s.quick else 100, accept_drop=True)
        s.bundles.append(Path(path))
        made.append(f"{target}:{fmt}/{precision}")
    return "bundles " + ", ".join(made) + f" in {s.out / 'bundles'}"


def step_video(s: DemoState) -> str:
    videos = need("run", "edgeaffect.data.synthetic_video")
    pipeline = need("run", "edgeaffect.runtime.pipeline")
    seconds = 2.0 if s.quick else 6.0
    root = videos.write_synthetic_videos(s.out / "video", subjects=1, seconds=seconds, fps=10.0, size=256, use_e4=False)
    s.video = root / "s1" / "vid_s1_T1.avi"
    summary = pipeline.run(pipeline.RunConfig(bundle=s.bundles[0], source=str(s.video), headless=True, detector="haar",
                                              out=s.out / "run.jsonl"))
    return (f"runtime on {s.video.name}: {summary.frames} frames, {summary.faces} faces, {summary.fps:.1f} FPS "
            f"-> {s.out / 'run.jsonl'}")


def step_bench(s: DemoState) -> str:
    run = need("bench", "edgeaffect.bench.run")
    config = run.BenchConfig(
        bundles=tuple(s.bundles), data=s.data, split="test", data_options=s.data_options,
        limit=48 if s.quick else 200,
        resolutions=(112, 64, 32, 16) if s.quick else (112, 96, 64, 48, 32, 24, 16),
        interpolations=("linear", "area") if s.quick else ("linear", "area", "cubic"),
        latency_runs=20 if s.quick else 50, video=s.video, captures=("128x128", "256x256", "512x512"),
        detector="haar", capture_frames=10 if s.quick else 30, group_by="subject", out=s.out / "results.json")
    result = run.run_bench(config)
    s.results = config.out
    return f"{len(result.bundles)} bundles x {len(result.accuracy) // max(len(result.bundles), 1)} cells -> {s.results}"


def step_report(s: DemoState) -> str:
    build = need("report", "edgeaffect.report.build")
    files = build.build_report(build.load_results([s.results]), s.out / "report", title="edgeaffect demo report",
                               sources=s.results.name)
    s.report = files.html
    return f"{files.html} and {files.markdown}"


STEPS: tuple[tuple[str, Callable[[DemoState], str]], ...] = (
    ("data", step_data), ("train", step_train), ("export", step_export),
    ("run", step_video), ("bench", step_bench), ("report", step_report),
)


def check_source(synthetic: bool) -> bool:
    """True when the demo uses synthetic data: forced, or FER+ is not where EDGEAFFECT_DATA says."""
    if synthetic:
        return True
    if ferplus_root() is None:
        if os.environ.get("EDGEAFFECT_DATA"):
            raise ConfigError(f"EDGEAFFECT_DATA={os.environ['EDGEAFFECT_DATA']} holds no ferplus/ folder",
                              "point EDGEAFFECT_DATA at the data folder, or pass --synthetic")
        return True
    return False
