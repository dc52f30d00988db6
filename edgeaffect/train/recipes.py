"""Training recipes: versioned YAML files that reproduce each study, and config resolution.

A recipe is a partial :class:`TrainConfig` in YAML under ``train/recipes/``; it
may name a ``base`` recipe it refines (the ``*-synthetic`` recipes refine the
study recipes with the built-in data and small sizes).  ``resolve_config``
applies the precedence defaults < recipe < overrides.  Built-in synthetic
data is generated into a cache folder the first time a recipe needs it.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

from edgeaffect.errors import ConfigError, unknown_name
from edgeaffect.train.config import TrainConfig, loaded_config, merge, parse_overrides

log = logging.getLogger(__name__)
RECIPE_DIR = Path(__file__).parent / "recipes"


def list_recipes() -> list[str]:
    return sorted(p.stem for p in RECIPE_DIR.glob("*.yaml"))


def recipe_path(name: str) -> Path:
    path = Path(name)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return path  # a user's own recipe file
    path = RECIPE_DIR / f"{name}.yaml"
    if not path.is_file():
        raise unknown_name("recipe", name, list_recipes(), cutoff=0.4, fix="'edgeaffect train --list' shows the recipes")
    return path


def load_recipe(name: str, _seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """The recipe as a nested dict, with its ``base`` chain merged in."""
    import yaml

    path = recipe_path(name)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"recipe {path} is not valid YAML: {exc}", "fix the file") from exc
    data.pop("description", None)
    base = data.pop("base", None)
    if base:
        if base in _seen:
            raise ConfigError(f"recipe {path} has a base cycle via '{base}'", "remove the cycle")
        data = merge(load_recipe(base, _seen + (name,)), data)
    return data


def recipe_description(name: str) -> str:
    import yaml

    data = yaml.safe_load(recipe_path(name).read_text(encoding="utf-8")) or {}
    return str(data.get("description", "")).strip()


def resolve_config(recipe: str | None = None, overrides: list[str] | dict | None = None) -> TrainConfig:
    """defaults < recipe < overrides -> a validated TrainConfig."""
    data: dict[str, Any] = load_recipe(recipe) if recipe else {}
    if overrides:
        data = merge(data, overrides if isinstance(overrides, dict) else parse_overrides(list(overrides)))
    if recipe:
        data["recipe"] = Path(recipe).stem
    return TrainConfig.from_dict(data)


def resume_config(run_dir: str | Path, overrides: list[str] | dict | None = None) -> TrainConfig:
    """The config a run was started with (its config.yaml), with ``overrides`` on top, set to resume.

    ``stop_after_epoch`` is reset: it describes how the first session ended, not how to go on.
    """
    import yaml

    path = Path(run_dir).expanduser() / "config.yaml"
    if not path.is_file():
        raise ConfigError(f"{run_dir} holds no config.yaml", "point out= at a run folder written by 'edgeaffect train'")
    data = loaded_config(yaml.safe_load(path.read_text(encoding="utf-8")), path.parent)
    data["runtime"].update(stop_after_epoch=0, resume=True, out=str(run_dir))
    if overrides:
        data = merge(data, overrides if isinstance(overrides, dict) else parse_overrides(list(overrides)))
    return TrainConfig.from_dict(data)


# -- built-in synthetic data ---------------------------------------------------------------

def _faces(out: Path, **opts: Any) -> None:
    from edgeaffect.data.synthetic import write_synthetic_faces

    write_synthetic_faces(out, **opts)


def _videos(out: Path, **opts: Any) -> None:
    from edgeaffect.data.synthetic_video import write_synthetic_videos

    write_synthetic_videos(out, **opts)


def _tabular(out: Path, **opts: Any) -> None:
    from edgeaffect.data.tabular import write_synthetic_tabular

    write_synthetic_tabular(out, **opts)


def _videos_source(opts: dict) -> str:
    from edgeaffect.data.synthetic_video import trace_source

    return trace_source(opts.get("e4_root"), opts.get("use_e4", True))


SYNTHETIC_WRITERS: dict[str, Callable[..., None]] = {"faces": _faces, "videos": _videos, "tabular": _tabular}
# What a generator reads besides its options (the E4 recording under $EDGEAFFECT_DATA): part of the cache key,
# so data drawn without the recording is not served once it is there, nor the other way round.
SYNTHETIC_SOURCES: dict[str, Callable[[dict], str]] = {"videos": _videos_source}
# Part of the cache key: bump it whenever a generator draws differently for the same options, so a
# cache filled by an older edgeaffect is not read as today's data (2: tighter aligned face crops).
SYNTHETIC_VERSION = 2


def cache_root(cache: str = "") -> Path:
    return Path(cache).expanduser() if cache else Path.home() / ".cache" / "edgeaffect"


def synthetic_data(kind: str, options: dict, cache: str = "") -> Path:
    """The folder of built-in synthetic data ``kind``, generated once per option set."""
    if kind not in SYNTHETIC_WRITERS:
        raise unknown_name("synthetic data", kind, SYNTHETIC_WRITERS)
    key = {"generator": SYNTHETIC_VERSION, **options}
    if kind in SYNTHETIC_SOURCES:
        key["source"] = SYNTHETIC_SOURCES[kind](options)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]
    root = cache_root(cache) / "synthetic" / f"{kind}-{digest}"
    if root.is_dir():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    # Written beside and renamed: a crash or a second process never sees half a dataset.
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    try:
        log.info("generating synthetic %s data into %s", kind, root)
        SYNTHETIC_WRITERS[kind](tmp / "data", **options)
        try:
            os.replace(tmp / "data", root)
        except OSError:
            if not root.is_dir():  # another process won the race; anything else is a real error
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def data_path(config: TrainConfig) -> Path:
    """The dataset folder a config trains on (generating synthetic data when needed)."""
    if config.data.path:  # "$EDGEAFFECT_DATA/ferplus" (as the shipped model records it) finds the data here
        path = os.path.expandvars(config.data.path)
        if "$" in path:
            raise ConfigError(f"the data path {config.data.path} names an environment variable that is not set",
                              "set it (e.g. export EDGEAFFECT_DATA=/path/to/data) or pass --data PATH / data=PATH")
        return Path(path).expanduser()
    if config.data.synthetic:
        return synthetic_data(config.data.synthetic, config.data.synthetic_options, config.data.cache)
    raise ConfigError("no training data given", "pass data=PATH (e.g. data=$EDGEAFFECT_DATA/ferplus) or use a *-synthetic recipe")
