"""Verification: every exported file is run by its own runtime backend and compared to the float model.

An export is reported as written only after this passes: the file is opened
with the backend of its format (``edgeaffect.runtime.backends``; a declared
proxy when that runtime is not installed here, e.g. ONNX Runtime for the ONNX a
TensorRT engine is built from), fed real held-out samples through the
ModelMeta preprocessing, and compared with the float torch model on the same
inputs: max |delta| per head, top-1 agreement and accuracy / macro-F1 for class
heads, CCC for valence/arousal, Pearson vs the float output for regression and
signal heads.  Past a threshold it raises :class:`VerificationError` with the
numbers unless the caller accepts the drop.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from edgeaffect import metrics
from edgeaffect._optional import require
from edgeaffect.calibration.sources import CalibrationSource
from edgeaffect.errors import DataError, EdgeAffectError, MissingExtraError, VerificationError
from edgeaffect.plain import to_plain
from edgeaffect.formats import ExportFormat
from edgeaffect.meta import HeadKind, ModelMeta
from edgeaffect.runtime.backends import create_backend

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Thresholds:
    """Minimum agreement with the float model for an export to pass."""

    top1_agreement: float  # class heads: share of samples with the same argmax
    pearson: float = 0.95  # regression/signal heads: correlation with the float output
    metric_drop: float = 0.005  # class heads: largest accuracy or UAR loss against the float model (absolute)
    # UAR is gated only when every class has this many labelled samples: on fewer, one flipped face moves a
    # class's recall by a third and the gate would refuse noise (the report says when it was not gated).
    uar_min_class_samples: int = 10


DEFAULT_THRESHOLDS: Mapping[str, Thresholds] = {
    "fp32": Thresholds(0.995), "fp16": Thresholds(0.995), "int8": Thresholds(0.97, metric_drop=0.015)}


@dataclass(frozen=True)
class HeadResult:
    head: str
    kind: str
    max_abs_diff: float
    mean_abs_diff: float
    top1_agreement: float | None = None
    pearson: float | None = None  # export vs float model
    metrics: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # name -> {float, export, delta}


@dataclass(frozen=True)
class VerificationReport:
    format: str
    precision: str
    backend: str  # what ran the file here
    proxy: bool  # True when the device backend was not available and a proxy ran the file
    model_file: str
    samples: int
    heads: tuple[HeadResult, ...]
    thresholds: Thresholds
    failures: tuple[str, ...]
    latency_ms: float | None = None  # median single-batch latency on this machine
    ran_precision: str = ""  # what the backend says it ran
    note: str = ""  # e.g. the profile's device was not on the export machine, so the CPU verified it

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        d = to_plain(self)
        d["passed"] = self.passed
        return d

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"passed": self.passed, "samples": self.samples, "backend": self.backend,
                               "proxy": self.proxy}
        for h in self.heads:
            if h.top1_agreement is not None:
                out[f"{h.head}.top1_agreement"] = round(h.top1_agreement, 5)
            if h.pearson is not None:
                out[f"{h.head}.pearson"] = round(h.pearson, 5)
            out[f"{h.head}.max_abs_diff"] = round(h.max_abs_diff, 6)
        return out

    def raise_if_failed(self) -> None:
        if self.failures:
            raise VerificationError(
                f"{self.format}/{self.precision} export differs from the float model on {self.samples} samples: "
                + "; ".join(self.failures),
                "calibrate on more/representative data (--calib-data), try another precision, or pass --accept-drop")


def open_backend(fmt: ExportFormat, path: Path, meta: ModelMeta, **options: Any) -> tuple[Any, bool, str]:
    """The format's own backend, or its declared proxy when that runtime is not installed here.

    ``options`` are ``{backend: {key: value}}`` (a device profile's); only each backend's runtime keys
    reach it.  When the profile's hardware (an OpenVINO GPU) is not on this machine, the file is
    verified on the backend's default device instead and the returned note says so.
    """
    from edgeaffect.backend_options import runtime_options, without_placement

    def create(name: str) -> tuple[Any, str]:
        opts = runtime_options(name, options.get(name, {}))
        try:
            return create_backend(name, path, meta, **opts), ""
        except MissingExtraError:
            raise
        except EdgeAffectError as exc:
            fallback = without_placement(name, opts)
            if fallback == opts:
                raise
            note = (f"{name} {opts} is not available on the export machine ({exc.what}); "
                    f"verified with {fallback or 'the default device'}")
            log.warning("%s", note)
            return create_backend(name, path, meta, **fallback), note

    try:
        backend, note = create(fmt.backend)
        return backend, False, note
    except MissingExtraError:
        if fmt.proxy_backend is None:
            raise
        log.warning("%s is not installed here: verifying %s with %s instead", fmt.backend, path.name, fmt.proxy_backend)
        backend, note = create(fmt.proxy_backend)
        return backend, True, note


def float_outputs(model: Any, arrays: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """The reference outputs: the float torch model, or a scikit-learn model's probabilities."""
    if not hasattr(model, "state_dict"):
        return (np.asarray(model.predict_proba(arrays[0].reshape(len(arrays[0]), -1)), dtype=np.float32),)
    torch = require("torch", "train")
    with torch.no_grad():
        out = model(*(torch.from_numpy(a) for a in arrays))
    out = out if isinstance(out, (tuple, list)) else (out,)
    return tuple(o.float().cpu().numpy() for o in out)


def _rowwise_pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Mean per-sample correlation of two (N, T) signals; constant rows (undefined) are left out."""
    values = [metrics.pearson(x, y) for x, y in zip(a.reshape(len(a), -1), b.reshape(len(b), -1))]
    values = [v for v in values if np.isfinite(v)]
    return float(np.mean(values)) if values else float("nan")


def _columnwise_pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    values = [metrics.pearson(a[:, j], b[:, j]) for j in range(a.shape[1])]
    values = [v for v in values if np.isfinite(v)]
    return float(min(values)) if values else float("nan")


def _delta(name: str, f: float, e: float) -> dict[str, dict[str, float]]:
    return {name: {"float": round(f, 6), "export": round(e, 6), "delta": round(e - f, 6)}}


def _head_result(head, ref: np.ndarray, got: np.ndarray, labels: np.ndarray | None, values: np.ndarray | None,
                 num_classes: int) -> HeadResult:
    diff = np.abs(ref.astype(np.float64) - got.astype(np.float64))
    res: dict[str, Any] = {"max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean())}
    found: dict[str, dict[str, float]] = {}
    if head.kind is HeadKind.LOGITS:
        res["top1_agreement"] = float(np.mean(ref.argmax(1) == got.argmax(1)))
        if labels is not None:
            found |= _delta("accuracy", metrics.accuracy(labels, ref), metrics.accuracy(labels, got))
            found |= _delta("uar", metrics.uar(labels, ref), metrics.uar(labels, got))
            found |= _delta("macro_f1", metrics.macro_f1(labels, ref, num_classes=num_classes),
                            metrics.macro_f1(labels, got, num_classes=num_classes))
    elif head.kind is HeadKind.SIGNAL:
        res["pearson"] = _rowwise_pearson(got, ref)
    else:
        res["pearson"] = _columnwise_pearson(got, ref)
        if values is not None and ref.reshape(len(ref), -1).shape[1] == values.shape[1]:
            for j, name in enumerate(("valence", "arousal")[: values.shape[1]]):
                found |= _delta(f"ccc_{name}", metrics.ccc(values[:, j], ref.reshape(len(ref), -1)[:, j]),
                                metrics.ccc(values[:, j], got.reshape(len(got), -1)[:, j]))
    return HeadResult(head.name, head.kind.value, metrics=found, **res)


def measure_latency(backend: Any, arrays: tuple[np.ndarray, ...], *, runs: int = 30, warmup: int = 3,
                    budget_s: float = 5.0) -> float:
    """Median milliseconds for one inference of real inputs at the backend's batch (1 when dynamic).

    Stops early (after at least 5 timed runs) once ``budget_s`` is spent, so big video models stay affordable.
    """
    n = backend.batch_size or 1
    feed = tuple(np.ascontiguousarray(a[:n]) for a in arrays)
    for _ in range(warmup):
        backend.infer(*feed)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < runs and (len(times) < 5 or time.perf_counter() - start < budget_s):
        t = time.perf_counter()
        backend.infer(*feed)
        times.append((time.perf_counter() - t) * 1000)
    return float(np.median(times))


def _metric_failures(head: str, result: HeadResult, labels: np.ndarray | None, thresholds: Thresholds) -> list[str]:
    """Accuracy and UAR losses past the threshold (UAR only where every class has enough samples)."""
    out = []
    fewest = int(np.unique(labels, return_counts=True)[1].min()) if labels is not None and len(labels) else 0
    for name in ("accuracy", "uar"):
        found = result.metrics.get(name)
        if found is None:
            continue
        if name == "uar" and fewest < thresholds.uar_min_class_samples:
            log.warning("UAR not gated: a class has only %d verification samples (< %d); verify on more data",
                        fewest, thresholds.uar_min_class_samples)
            continue
        if found["delta"] < -thresholds.metric_drop:
            out.append(f"{head} {name} {found['export']:.4f} vs float {found['float']:.4f} "
                       f"(drop {-found['delta'] * 100:.2f} pt > {thresholds.metric_drop * 100:.1f} pt)")
    return out


def verify_export(model: Any, meta: ModelMeta, model_path: Path, *, fmt: ExportFormat, precision: str,
                  data: CalibrationSource, thresholds: Thresholds | None = None, accept_drop: bool = False,
                  backend_options: Mapping[str, Mapping[str, Any]] | None = None, batch_size: int = 32,
                  latency: bool = False, reference_cache: dict | None = None) -> VerificationReport:
    """Run ``model_path`` with its backend on ``data`` and compare with the float ``model``.

    ``reference_cache`` (a dict the caller keeps) holds the float model's outputs
    so several candidate exports of one model are compared without re-running it.
    """
    cache = {} if reference_cache is None else reference_cache
    thresholds = thresholds or DEFAULT_THRESHOLDS[precision]
    data = data.with_meta(meta) if data.meta is None else data
    backend, proxy, note = open_backend(fmt, Path(model_path), meta, **dict(backend_options or {}))
    bs = backend.batch_size or batch_size
    refs, gots, labels, values, first = [], [], [], [], None
    for i, (arrays, owners) in enumerate(data.batches(bs)):
        first = first or arrays
        if backend.batch_size and len(owners) != backend.batch_size:
            continue  # a static-batch model cannot run the ragged last batch
        if (bs, i) not in cache:
            cache[(bs, i)] = float_outputs(model, arrays)
        refs.append(cache[(bs, i)])
        gots.append(tuple(np.asarray(o) for o in backend.infer(*arrays)))
        labels += [s.label for s in owners]
        values += [s.values for s in owners]
    n = len(labels)
    if n == 0:
        raise DataError("no verification sample could be read", "point --verify-data at a dataset with readable samples")
    lab = np.asarray(labels) if all(v is not None for v in labels) else None
    val = np.asarray(values, dtype=np.float64) if all(v is not None for v in values) else None
    heads, failures = [], []
    for k, head in enumerate(meta.heads):
        ref = np.concatenate([r[k] for r in refs])
        got = np.concatenate([g[k] for g in gots]).reshape(ref.shape)
        result = _head_result(head, ref, got, lab, val, meta.num_classes)
        heads.append(result)
        if result.top1_agreement is not None and result.top1_agreement < thresholds.top1_agreement:
            failures.append(f"{head.name} top-1 agreement {result.top1_agreement:.2%} < {thresholds.top1_agreement:.2%}"
                            f" (max |delta| {result.max_abs_diff:.4g})")
        failures += _metric_failures(head.name, result, lab, thresholds)
        if result.pearson is not None and not result.pearson >= thresholds.pearson:  # NaN fails too
            failures.append(f"{head.name} Pearson vs float {result.pearson:.4f} < {thresholds.pearson}"
                            f" (max |delta| {result.max_abs_diff:.4g})")
    report = VerificationReport(fmt.name, precision, backend.name, proxy, Path(model_path).name, n, tuple(heads),
                                thresholds, tuple(failures), measure_latency(backend, first) if latency else None,
                                getattr(backend, "precision", precision), note)
    log.info("verified %s/%s on %d samples with %s: %s", fmt.name, precision, n, backend.name,
             "passed" if report.passed else "; ".join(failures))
    if not accept_drop:
        report.raise_if_failed()
    return report
