"""``export_bundle``: a trained run -> a verified, checksummed bundle for one device profile.

Order of work (nothing is written to ``out`` until everything passed):
resolve format + precision from the device profile (and refuse formats the
profile or the model cannot run; without a precision, the profile's first one
that exports and passes verification is kept) -> build calibration/verification sources ->
export each candidate precision into a staging folder -> run it with its own
backend against the float model -> write meta.json, labels.txt,
calibration.json, verification.json, README.md and the manifest (sha256 +
tool versions) -> rename the folder into place.  ``precision="auto"`` exports
every precision the profile and format share, measures them here and keeps the
fastest that passes (INT8 is not always faster).
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import Any

from edgeaffect.bundle import Manifest, RuntimeSettings, is_bundle_folder, write_manifest
from edgeaffect.calibration.sources import CalibrationSource, from_path
from edgeaffect.formats import ExportFormat, ExportOptions, get_format
from edgeaffect.compress.cpu_int8 import target_may_saturate
from edgeaffect.compress.verify import Thresholds, VerificationReport, verify_export
from edgeaffect.errors import ConfigError, ExportError, Interrupted
from edgeaffect.io import atomic_write_json, atomic_write_text, check_writable
from edgeaffect.meta import ModelMeta

log = logging.getLogger(__name__)
AUTO = "auto"


@dataclass(frozen=True)
class Candidate:
    precision: str
    folder: Path
    files: tuple[str, ...]
    report: VerificationReport


def model_kind(model: Any) -> str:
    return "torch" if hasattr(model, "state_dict") and hasattr(model, "forward") else "sklearn"


def check_model(fmt: ExportFormat, model: Any, meta: ModelMeta) -> None:
    """Refuse, before writing anything, a model the format cannot run (naming the reason)."""
    kind = model_kind(model)
    if kind not in fmt.model_kinds:
        raise ExportError(f"the {fmt.name} format cannot hold a {kind} model ('{meta.model}')",
                          "export it with --format onnx")
    if meta.is_temporal and not fmt.temporal_ok:
        raise ExportError(f"the {fmt.name} format cannot run the video model '{meta.model}'", "choose another --format")
    if kind == "torch" and fmt.refuses:
        found = sorted({type(m).__name__ for m in model.modules() if type(m).__name__ in fmt.refuses})
        if found:
            raise ExportError(f"the {fmt.name} runtime cannot run {', '.join(found)} (in '{meta.model}')",
                              "choose another --format for this model, e.g. onnx")


def resolve(profile: Any, fmt_name: str | None, precision: str | None) -> tuple[ExportFormat, list[str]]:
    """The format and the candidate precisions in the profile's order, checked against the profile.

    One for an explicit precision; all the profile's for ``auto`` (fastest that passes) and for the
    default (the first that the model can be exported at).
    """
    fmt = get_format(fmt_name or profile.default_format)
    if fmt.name not in profile.formats:
        profile.check(fmt.name, fmt.precisions[0])  # raises DeviceError naming the formats it runs
    shared = [p for p in profile.precisions if p in fmt.precisions]
    if not shared:
        raise ConfigError(f"device '{profile.name}' runs {list(profile.precisions)}, format '{fmt.name}' only "
                          f"{list(fmt.precisions)}", "choose another --format")
    if precision in (AUTO, None):
        return fmt, shared  # auto measures them all; the default takes the first this model can be exported at
    fmt.check_precision(precision)
    profile.check(fmt.name, precision)
    return fmt, [precision]


def _source(data: CalibrationSource | str | Path | None, meta: ModelMeta, *, purpose: str, n: int,
            split: str | None) -> CalibrationSource | None:
    if data is None:
        return None
    if isinstance(data, CalibrationSource):
        return data.with_meta(meta)
    return from_path(Path(data), meta, purpose=purpose, split=split, n=n)


def tool_versions(fmt: ExportFormat, profile: Any) -> dict[str, str]:
    tools = {}
    for dist in ("torch", *fmt.tools):
        try:
            tools[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    tools.update({k: str(v) for k, v in dict(profile.tools).items()})  # device-side versions (TensorRT, JetPack)
    return tools


def _choose(cands: list[Candidate], auto: bool, accept_drop: bool) -> Candidate:
    passing = [c for c in cands if c.report.passed] or (cands if accept_drop else [])
    if not passing:
        cands[0].report.raise_if_failed()
    if auto:
        chosen = min(passing, key=lambda c: c.report.latency_ms or float("inf"))
        log.info("precision auto: %s", ", ".join(f"{c.precision} {c.report.latency_ms:.2f} ms "
                                                 f"{'ok' if c.report.passed else 'FAILED'}" for c in cands))
        return chosen
    return passing[0]


def _readme(meta: ModelMeta, fmt: ExportFormat, chosen: Candidate, profile: Any, folder_name: str,
            runtime: RuntimeSettings) -> str:
    lines = [f"# {meta.model} for {profile.name}", "", profile.description, "",
             f"- format: {fmt.name} ({chosen.precision}), model files: {', '.join(chosen.files)}",
             f"- task: {meta.task.value}; input {meta.input_size[0]}x{meta.input_size[1]} {meta.color.value}"
             + (f", clip of {meta.temporal.frames} frames at {meta.temporal.fps:g} fps" if meta.temporal else ""),
             f"- heads: {', '.join(h.name for h in meta.heads)}" + (f"; labels: {', '.join(meta.labels)}" if meta.labels else ""),
             "", "## Install on the device", "", "```sh", f"pip install 'edgeaffect[{fmt.extra}]'", "```", ""]
    if fmt.name == "tensorrt":
        lines += ["## Build the engine (once, on the device)", "", "```sh", f"cd {folder_name} && ./build_engine.sh", "```",
                  "", "Engines only run under the TensorRT version and GPU that built them: rebuild after a JetPack upgrade.", ""]
    options = ", ".join(f"{k}={v}" for k, v in runtime.backend_options.items()) or "defaults"
    lines += ["## Run", "", "```sh", f"edgeaffect run {folder_name} --source 0", "```", "",
              f"It runs as the {profile.name} profile says (manifest.json `runtime`): {runtime.backend} ({options}), "
              f"{runtime.threads or 'all'} threads, {runtime.detector} face detector every {runtime.detect_every} "
              f"frame(s), {runtime.camera} camera, smoothing {runtime.smoothing}. A flag overrides one "
              "(e.g. --threads 2, --backend-option KEY=VALUE); the run summary says where each setting came from.", "",
              "## Verification (against the float model)", ""]
    r = chosen.report
    lines += [f"{r.samples} samples, run by {r.backend}{' (proxy)' if r.proxy else ''}: "
              + ("passed" if r.passed else "FAILED (accepted with --accept-drop): " + "; ".join(r.failures)), ""]
    for key, value in r.summary().items():
        if "." in key:
            lines.append(f"- {key}: {value}")
    for head in r.heads:
        for name, m in head.metrics.items():
            lines.append(f"- {head.head}.{name}: float {m['float']:.4f}, export {m['export']:.4f} ({m['delta']:+.4f})")
    if profile.notes:
        lines += ["", "## Device notes", "", profile.notes]
    return "\n".join(lines) + "\n"


def check_out_folder(out: Path) -> None:
    """Refuse an ``out`` that export must not replace: a file, or a non-empty folder not provably a bundle."""
    check_writable(out, folder=True)
    sweep_stale_staging(out.parent)  # what an earlier export into this folder left when it was killed
    if out.is_dir() and any(out.iterdir()) and not is_bundle_folder(out):
        raise ConfigError(f"--out {out} holds files that are not an edgeaffect bundle (its manifest.json, if any, "
                          "does not list exactly the files there); nothing was changed",
                          "choose a new or empty --out folder")


def check_fp16_weights(fmt: ExportFormat, precisions: list[str], options: ExportOptions | None) -> None:
    """``--fp16-weights`` changes only ONNX FP32 files: refuse it where it would be silently ignored."""
    if options is not None and options.fp16_weights and (fmt.name != "onnx" or "fp32" not in precisions):
        raise ConfigError(f"--fp16-weights applies to ONNX FP32 bundles only; this export is {fmt.name} "
                          f"{'/'.join(precisions)}, where it would be ignored",
                          "drop --fp16-weights, or export with --format onnx --precision fp32")


STAGING = ".staging-"  # staging folders: .<out name>.staging-<pid>-<random>, beside --out


def sweep_stale_staging(parent: Path) -> list[Path]:
    """Remove the staging and half-replaced folders that killed exports (SIGKILL, power loss) left in ``parent``.

    Their names carry the exporting process's id; only those whose process is gone are removed.
    """
    removed = []
    try:
        entries = list(parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        marker = STAGING if STAGING in name else ".old-" if ".old-" in name else None
        if not name.startswith(".") or marker is None or entry.is_symlink() or not entry.is_dir():
            continue
        pid_text = name.rsplit(marker, 1)[1].split("-", 1)[0]
        if not pid_text.isdigit() or _alive(int(pid_text)):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
        log.info("removed %s, left by an export that was killed", entry)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's live process (or a number no process can have: leave it)
    return True


def _merged(profile: Any, given: Any) -> dict[str, dict[str, Any]]:
    """``{backend: {key: value}}`` of the profile with the caller's keys on top, per backend."""
    out = {b: dict(o) for b, o in dict(profile).items()}
    for backend, opts in dict(given).items():
        out[backend] = out.get(backend, {}) | dict(opts)
    return out


def _embed_detector(bundle: Path, detector: str) -> str:
    """Copy the shipped face-detector model into ``bundle/detector/``; its bundle-relative path."""
    from edgeaffect.modelcache import MODELS, model_path

    if detector not in MODELS or model_path(detector) is None:
        raise ConfigError(f"the '{detector}' face detector has no model file to embed", "export without --embed-detector")
    source = model_path(detector)
    (bundle / "detector").mkdir(exist_ok=True)
    shutil.copyfile(source, bundle / "detector" / source.name)
    licence = source.parent / f"LICENSE-{detector}.txt"
    if licence.is_file():  # the detector's licence travels with every copy
        shutil.copyfile(licence, bundle / "detector" / licence.name)
    return f"detector/{source.name}"


def _place(staged: Path, out: Path) -> Path:
    """Rename the finished bundle into ``out``; an older bundle there is replaced, anything else refused."""
    if out.exists():
        check_out_folder(out)  # again: the folder may have changed while the export ran
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
        os.replace(staged, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staged, out)
    return out


def export_model(model: Any, meta: ModelMeta, *, target: str, out: str | Path, format: str | None = None,
                 precision: str | None = None, calibration: CalibrationSource | str | Path | None = None,
                 verify_data: CalibrationSource | str | Path | None = None, n_calib: int = 300, n_verify: int = 500,
                 verify_split: str | None = None, accept_drop: bool = False, options: ExportOptions | None = None,
                 thresholds: Thresholds | None = None, source_run: str = "", embed_detector: bool = False,
                 data_note: dict[str, str] | None = None) -> Path:
    """Export an in-memory model (torch module or fitted scikit-learn estimator) as a bundle at ``out``.

    ``embed_detector`` copies the profile's face-detector model into the bundle (``detector/``) so the
    device needs nothing else; ``data_note`` says in verification.json which data was used.
    """
    from edgeaffect.devices import get_profile

    profile = get_profile(target)
    fmt, precisions = resolve(profile, format, precision)
    check_fp16_weights(fmt, precisions, options)
    check_model(fmt, model, meta)
    skipped: list[tuple[str, ExportError]] = []
    if calibration is None and "int8" in precisions and precision in (None, AUTO):
        if precisions == ["int8"]:
            raise ConfigError(f"device '{profile.name}' runs only INT8 {fmt.name} models, which need calibration data",
                              "pass --calib-data PATH (a dataset with a train split, or an image folder)")
        # a precision that needs no calibration is chosen rather than failing; verification.json lists why
        log.warning("no calibration data: INT8 left out for %s; pass --calib-data for a calibrated INT8", profile.name)
        precisions = [p for p in precisions if p != "int8"]
        skipped.append(("int8", ExportError("no calibration data was given or recorded by the run",
                                            "pass --calib-data PATH for a calibrated INT8 bundle")))
    calib = _source(calibration, meta, purpose="calibration", n=n_calib, split=None) if "int8" in precisions else None
    if verify_data is None and isinstance(calibration, (str, Path)):
        verify_data = calibration  # the same dataset, but its held-out split (calibration never reads test)
    verify = _source(verify_data, meta, purpose="verification", n=n_verify, split=verify_split)
    if verify is None:
        raise ConfigError("every export is verified on real samples; none were given and the run's own dataset "
                          "is not reachable here",
                          "pass --verify-data PATH (a dataset with a valid/test split, or an image folder)")
    out = Path(out).expanduser()
    check_out_folder(out)  # before any work: a wrong --out fails in a second, not after the export
    options = options or ExportOptions()
    options = replace(options, target=profile.name, tools=dict(profile.tools) | dict(options.tools),
                      backend_options=_merged(profile.backend_options, options.backend_options))
    exporter = fmt.load_exporter()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}{STAGING}{os.getpid()}-", dir=out.parent))
    try:
        cands, reference = [], {}
        for p in precisions:
            folder = staging / p
            folder.mkdir()
            log.info("exporting %s as %s/%s for %s", meta.model, fmt.name, p, profile.name)
            try:
                files = tuple(exporter(model, meta, folder, precision=p, calibration=calib, options=options))
            except ExportError as exc:
                if len(precisions) == 1 or (p == "int8" and calib is None):
                    raise  # a missing --calib-data is the user's to fix, not a reason to ship another precision
                # a precision this model cannot take (e.g. Conv3d in TFLite INT8) drops out; the next one is tried
                log.warning("precision %s skipped for %s: %s", p, meta.model, exc.what)
                skipped.append((p, exc))
                continue
            report = verify_export(model, meta, folder / files[0], fmt=fmt, precision=p, data=verify,
                                   thresholds=thresholds, accept_drop=True, backend_options=options.backend_options,
                                   latency=precision == AUTO, reference_cache=reference,
                                   exact_int8=not target_may_saturate(profile.name))
            cands.append(Candidate(p, folder, files, report))
            if precision == AUTO:
                continue  # auto measures every candidate
            if precision is not None or report.passed or accept_drop:
                break  # an explicit precision, or the default: the profile's first precision that exports and passes
            # the default moves on to the profile's next precision; verification.json keeps the failed one
            log.warning("%s %s failed verification (%s); trying the profile's next precision", fmt.name, p,
                        "; ".join(report.failures))
        if not cands:
            raise skipped[-1][1]  # the last precision tried, not an INT8 left out for want of data
        chosen = _choose(cands, precision == AUTO, accept_drop)
        bundle = chosen.folder
        meta.evolve(info={**dict(meta.info), "exported_from": _portable_run(source_run, out)}).save(bundle / "meta.json")
        atomic_write_text(bundle / "labels.txt", "".join(f"{lb}\n" for lb in meta.labels))
        atomic_write_json(bundle / "calibration.json", calib.summary() if calib is not None and chosen.precision == "int8"
                          else {"count": 0, "note": f"{chosen.precision}: no calibration needed"})
        atomic_write_json(bundle / "verification.json", {"chosen": chosen.precision, "data": dict(data_note or {}),
                                                         "candidates": [c.report.to_dict() for c in cands],
                                                         "skipped": [{"precision": p, "reason": e.what, "fix": e.fix}
                                                                     for p, e in skipped]})
        detector_model = _embed_detector(bundle, profile.detector) if embed_detector else ""
        runtime = profile.runtime_settings(fmt.backend, detector_model=detector_model)
        atomic_write_text(bundle / "README.md", _readme(meta, fmt, chosen, profile, out.name, runtime))
        write_manifest(bundle, Manifest(format=fmt.name, precision=chosen.precision, model_files=chosen.files,
                                        tools=tool_versions(fmt, profile), target=profile.name,
                                        verification=chosen.report.summary(),
                                        runtime=runtime))
        Interrupted.check()  # a signal swallowed during conversion must not leave a bundle that looks finished
        return _place(bundle, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _portable_run(source_run: str, out: Path) -> str:
    """The run a bundle came from, relative to the bundle's final folder (a name such as 'default' stays)."""
    from edgeaffect.portable import portable

    return portable(source_run, out) if source_run and Path(source_run).expanduser().exists() else source_run


def export_bundle(run: str | Path, *, target: str, out: str | Path | None = None, format: str | None = None,
                  precision: str | None = None, calibration: CalibrationSource | str | Path | None = None,
                  verify_data: CalibrationSource | str | Path | None = None, n_verify: int = 500,
                  accept_drop: bool = False, which: str = "best", **kwargs: Any) -> Path:
    """Load the run's checkpoint (``edgeaffect.train.checkpoint.load_model``) and export it as a bundle.

    Without calibration/verification data the run's own recorded dataset is used (see ``export_data``).
    """
    from edgeaffect.assets import DEFAULT, is_default
    from edgeaffect.compress.export_data import choose_data
    from edgeaffect.devices import get_profile
    from edgeaffect.train.checkpoint import load_model

    # A typo'd target or format and a wrong --out fail in a second, before torch loads the checkpoint.
    check_fp16_weights(*resolve(get_profile(target), format, precision), kwargs.get("options"))
    if out is not None:
        check_out_folder(Path(out).expanduser())
    model, meta = load_model(run, which=which)
    out = out or Path("bundles") / f"{DEFAULT if is_default(run) else meta.model}-{target}"
    data = choose_data(run, meta, calibration, verify_data)
    return export_model(model, meta, target=target, out=out, format=format, precision=precision,
                        calibration=data.calibration, verify_data=data.verification, n_verify=n_verify,
                        accept_drop=accept_drop, source_run=str(run), data_note=dict(data.provenance), **kwargs)
