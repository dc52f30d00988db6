"""The run folder: everything a training run leaves behind, written atomically.

``runs/<recipe>-<timestamp>/`` (or ``out=``) holds config.yaml, meta.json,
metrics.csv + metrics.json (one row per epoch, plus the test row), best.pt /
last.pt, learning_curve.png, confusion.png and model_card.md.
"""
from __future__ import annotations

import csv
import io
import logging
import math
import time
from pathlib import Path
from typing import Any

from edgeaffect.io import atomic_write_json, atomic_write_text
from edgeaffect.meta import ModelMeta

log = logging.getLogger(__name__)


def new_run_dir(runs_dir: str, recipe: str, out: str = "") -> Path:
    """The new run's folder, checked writable (never a symlink or inside the installed package) before training."""
    from edgeaffect.io import check_writable

    if out:
        return check_writable(out, folder=True, flag="out=")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(runs_dir).expanduser() / f"{recipe or 'run'}-{stamp}"
    path, n = base, 1
    while path.exists():  # two runs started in the same second
        path, n = base.with_name(f"{base.name}-{n}"), n + 1
    return check_writable(path, folder=True, flag="runs_dir=")


def latest_run(runs_dir: str, recipe: str) -> Path:
    """The newest run folder of ``recipe`` that holds a last.pt (what --resume continues)."""
    from edgeaffect.errors import ConfigError

    candidates = sorted((p for p in Path(runs_dir).expanduser().glob(f"{recipe or 'run'}-*") if (p / "last.pt").is_file()),
                        key=lambda p: p.stat().st_mtime)
    if not candidates:
        raise ConfigError(f"no run of '{recipe or 'run'}' with a last.pt under {runs_dir}", "pass out=RUN_FOLDER to resume it")
    return candidates[-1]


class RunFolder:
    """Writer for one run's outputs (used on rank 0 only)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    def file(self, name: str) -> Path:
        return self.path / name

    def write_config(self, config_yaml: str) -> None:
        atomic_write_text(self.file("config.yaml"), config_yaml)

    def write_meta(self, meta: ModelMeta) -> None:
        meta.save(self.file("meta.json"))

    # -- metrics ------------------------------------------------------------------------
    def write_metrics(self, rows: list[dict[str, Any]], *, test: dict[str, Any] | None = None,
                      reports: dict[str, Any] | None = None) -> None:
        """metrics.json keeps full reports; metrics.csv one flat row per epoch."""
        doc: dict[str, Any] = {"epochs": rows}
        if test is not None:
            doc["test"] = test
        if reports is not None:
            doc["reports"] = reports
        atomic_write_json(self.file("metrics.json"), _finite(doc))
        columns: list[str] = []
        for row in rows:
            columns += [k for k in row if k not in columns]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self.file("metrics.csv"), buf.getvalue())

    # -- plots --------------------------------------------------------------------------
    def plot_learning_curve(self, rows: list[dict[str, Any]]) -> Path | None:
        plt = _pyplot()
        if plt is None or not rows:
            return None
        keys = [k for k in ("train_loss", "valid_loss") if k in rows[0]]
        extra = [k for k in rows[0] if k.startswith("valid_") and k != "valid_loss"
                 and k.split("_", 1)[1] in ("accuracy", "macro_f1", "eda_pearson", "valence_ccc")]
        fig, axes = plt.subplots(1, 2 if extra else 1, figsize=(10 if extra else 5, 3.5), squeeze=False)
        epochs = [r["epoch"] for r in rows]
        for k in keys:
            axes[0, 0].plot(epochs, [r.get(k) for r in rows], marker="o", label=k)
        axes[0, 0].set(xlabel="epoch", ylabel="loss", title="loss")
        axes[0, 0].legend()
        for k in extra:
            axes[0, 1].plot(epochs, [r.get(k) for r in rows], marker="o", label=k)
        if extra:
            axes[0, 1].set(xlabel="epoch", title="validation")
            axes[0, 1].legend()
        return self._save(fig, "learning_curve.png")

    def plot_confusion(self, confusion: list[list[int]], labels: list[str], title: str = "test") -> Path | None:
        plt = _pyplot()
        if plt is None:
            return None
        import numpy as np

        cm = np.asarray(confusion, dtype=float)
        norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        fig, ax = plt.subplots(figsize=(1 + 0.7 * len(labels), 1 + 0.6 * len(labels)))
        ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
        ax.set(xticks=range(len(labels)), yticks=range(len(labels)), xlabel="predicted", ylabel="true",
               title=f"confusion ({title}, row-normalised)")
        ax.set_xticklabels(labels, rotation=45, ha="right")
        ax.set_yticklabels(labels)
        for i in range(len(labels)):
            for j in range(len(labels)):
                ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if norm[i, j] > 0.5 else "black")
        return self._save(fig, "confusion.png")

    def _save(self, fig: Any, name: str) -> Path:
        from edgeaffect.io import atomic_write

        plt = _pyplot()
        fig.tight_layout()
        path = atomic_write(self.file(name), lambda fh: fig.savefig(fh, format="png", dpi=110))
        plt.close(fig)
        return path

    # -- model card ---------------------------------------------------------------------
    def write_model_card(self, *, meta: ModelMeta, config: dict[str, Any], data_root: str, data_info: dict[str, Any],
                         test: dict[str, Any], complexity: dict[str, Any], best_epoch: int) -> Path:
        lines = [f"# {meta.model} — {config.get('recipe') or 'custom run'}", "",
                 f"Task: {meta.task.value}; input {_input_shape(meta)} ({meta.color.value}), "
                 f"mean {list(meta.mean)}, std {list(meta.std)}, interpolation {meta.interpolation}.",
                 f"Heads: {', '.join(f'{h.name} ({h.kind.value}, {h.size})' for h in meta.heads)}.",
                 f"Labels: {', '.join(meta.labels) or '—'}.", "", "## Data", "",
                 f"- dataset: `{data_root}` ({data_info.get('format', '?')})"]
        lines += [f"- {k}: {v}" for k, v in data_info.items() if k != "format"]
        lines += ["", "## Training", "",
                  f"- optimiser: {config['optim']['name']} lr {config['optim']['lr']}, batch {config['optim']['batch']}; "
                  f"schedule {config['schedule']['name']}, {config['schedule']['epochs']} epochs; best epoch {best_epoch} "
                  f"by valid {config['schedule']['monitor']}", f"- seed {config['runtime']['seed']}", "",
                  "## Complexity", ""]
        lines += [f"- {k}: {v}" for k, v in complexity.items()]
        lines += ["", "## Test metrics (best.pt)", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in test.items()]
        return atomic_write_text(self.file("model_card.md"), "\n".join(lines) + "\n")


def _input_shape(meta: ModelMeta) -> tuple[int, ...]:
    """NCHW / NCTHW for vision models; (N, steps, features) for tabular ones."""
    return (1, *meta.input_size) if meta.task.value == "tabular" else meta.input_shape()


def _finite(obj: Any) -> Any:
    """NaN/inf -> None so metrics.json stays strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _pyplot() -> Any:
    try:
        from edgeaffect._optional import require

        mpl = require("matplotlib", "report", purpose="training plots")
    except Exception as exc:  # plots are a convenience; a missing matplotlib must not fail the run
        log.warning("no plots: %s", exc)
        return None
    mpl.use("Agg")
    import matplotlib.pyplot as plt

    return plt
