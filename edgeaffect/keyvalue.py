"""The one ``KEY=VALUE`` parser of the command line, typed by the target's declared types.

Every verb that takes ``KEY=VALUE`` (``train`` overrides, ``eval --option``, ``bench
--data-option``, ``run --backend-option``) splits it here with :func:`split_pairs` and turns
the text into a value with :func:`coerce`, by the type the target declares for that key: a
dataclass field, a reader's keyword argument, a backend option.  So ``votes=false`` is
``False`` where ``votes`` is a bool, ``001`` stays ``"001"`` where a path or name is a
string, and ``[CPUExecutionProvider]`` is a list where a list is wanted.  An unknown key is
:func:`edgeaffect.errors.unknown_name` with the nearest known one.  Recipe YAML values go
through :func:`coerce` too, so a recipe and a flag are checked alike.  Torch-free.
"""
from __future__ import annotations

import dataclasses
import enum
import inspect
import types
import typing
from collections import abc
from pathlib import Path
from typing import Any, Iterable, Mapping

from edgeaffect.errors import ConfigError, unknown_name

TRUE, FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")
NULLS = ("null", "~")


def split_pairs(items: Iterable[str] | None, flag: str) -> dict[str, str]:
    """``["a=1", "b=x=y"]`` -> ``{"a": "1", "b": "x=y"}`` (text kept: the target's type decides)."""
    out: dict[str, str] = {}
    for item in items or ():
        key, sep, value = str(item).partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag} '{item}' is not key=value", f"write it as key=value, e.g. {flag} name=value")
        out[key.strip()] = value.strip()
    return out


def _yaml(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        return text


def _name(tp: Any) -> str:
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return f"one of {[e.value for e in tp]}"
    return getattr(tp, "__name__", str(tp))


def _fail(tp: Any, value: Any, where: str) -> ConfigError:
    return ConfigError(f"'{where}' got {value!r}, which is not {_name(tp)}", f"set {where} to {_name(tp)}")


def coerce(tp: Any, value: Any, where: str) -> Any:
    """``value`` (command-line text, or a YAML value) as the declared type ``tp``; ConfigError otherwise."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp in (Any, inspect.Parameter.empty, None):
        return _yaml(value) if isinstance(value, str) else value
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.strip().lower() in NULLS):
            if type(None) in args:
                return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return coerce(arg, value, where)
            except ConfigError:
                continue
        raise _fail(tp, value, where)
    if origin in (tuple, list, abc.Sequence) or tp in (tuple, list):
        items = _yaml(value) if isinstance(value, str) else value
        if isinstance(items, str):
            items = [s.strip() for s in items.split(",") if s.strip()]
        if not isinstance(items, (list, tuple)):
            raise _fail(tp, value, where)
        inner = args[0] if args else Any
        out = [coerce(inner, v, f"{where}[{i}]") for i, v in enumerate(items)]
        return out if (origin or tp) is list else tuple(out)
    if origin in (dict, abc.Mapping) or tp in (dict, abc.Mapping):
        data = _yaml(value) if isinstance(value, str) else value
        if not isinstance(data, Mapping):
            raise _fail(dict, value, where)
        return dict(data)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value.strip().lower() if isinstance(value, str) else value)
        except ValueError:
            raise _fail(tp, value, where) from None
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in TRUE + FALSE:
            return value.strip().lower() in TRUE
        raise _fail(tp, value, where)
    if tp is int:
        try:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise TypeError
            return int(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf)
            raise _fail(tp, value, where) from None
    if tp is float:
        try:
            if isinstance(value, bool):
                raise TypeError
            return float(value)
        except (TypeError, ValueError):
            raise _fail(tp, value, where) from None
    if tp is str:
        return "" if value is None else str(value)
    if tp is Path:
        return Path(str(value)).expanduser()
    return value


def declared(target: Any) -> dict[str, Any]:
    """Key -> declared type of ``target``: a dataclass's fields, a callable's keyword parameters, or a
    mapping of key to type.  A callable taking ``**options`` declares nothing more (``...`` stands for
    "any key": whoever receives them checks them)."""
    if isinstance(target, Mapping):
        return dict(target)
    if dataclasses.is_dataclass(target):
        hints = typing.get_type_hints(target)
        return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(target)}
    hints = typing.get_type_hints(target)
    out: dict[str, Any] = {}
    for i, (name, p) in enumerate(inspect.signature(target).parameters.items()):
        if p.kind is p.VAR_KEYWORD:
            out[...] = Any  # type: ignore[index]
        elif i > 0 and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD):  # the first is the data root
            out[name] = hints.get(name, Any)
    return out


def typed(target: Any, options: Mapping[str, Any], *, kind: str = "option", where: str = "") -> dict[str, Any]:
    """``options`` checked against ``target``'s declared keys and coerced to their types."""
    types_ = declared(target)
    open_ended = ... in types_
    out = {}
    for key, value in options.items():
        if key not in types_:
            if open_ended:
                out[key] = value
                continue
            raise unknown_name(kind, key, [k for k in types_ if k is not ...], where=where)
        out[key] = coerce(types_[key], value, f"{where}{' ' if where else ''}{key}".strip())
    return out

