"""The one serialiser: typed dataclasses <-> plain JSON/YAML values.

:func:`to_plain` turns dataclasses, enums, mappings, sequences and numpy scalars into
dicts, lists and scalars (NaN and infinities become None: JSON has neither; with ``digits``, floats are
rounded in the same walk, as the run loop's frame records are).  :func:`from_plain` rebuilds a
dataclass from such values by its type hints: nested dataclasses, ``X | None``,
``tuple[X, ...]``, fixed tuples and ``Mapping[K, V]``.  Train configs, bench results,
ModelMeta and bundle manifests all go through these two functions; each caller adds only its
own policy: what an unknown key means and how a leaf value is checked.

Written here rather than taken from cattrs or pydantic: the whole job is these few lines, and
the runtime core a Raspberry Pi installs should not grow a dependency for them.  Torch-free.
"""
from __future__ import annotations

import dataclasses
import enum
import math
import types
import typing
from collections import abc
from typing import Any, Callable, Mapping, TypeVar

T = TypeVar("T")
Leaf = Callable[[Any, Any, str], Any]  # (type, value, dotted key) -> the value to store


class PlainError(ValueError):
    """A value does not fit the dataclass it should rebuild; ``where`` is its dotted key."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where or 'the document'}: {reason}")
        self.where, self.reason = where, reason


_AS_IS = frozenset((str, int, bool, type(None)))
_FIELDS: dict[type, tuple[str, ...]] = {}  # a dataclass's field names, looked up once per class


def to_plain(obj: Any, digits: int | None = None) -> Any:
    """Dataclasses/enums/tuples/mappings -> JSON-ready values; floats rounded to ``digits`` when given."""
    # exact built-in types first: the run loop serialises every frame's result (~130 values) through here,
    # and the generic checks below (typing's isinstance, is_dataclass, fields) cost ~0.2 ms per frame on
    # one core; rounding in the same walk spares the sinks a second one
    kind = type(obj)
    if kind in _AS_IS:
        return obj
    if kind is float:
        if not math.isfinite(obj):
            return None
        return obj if digits is None else round(obj, digits)
    if kind is dict:
        return {str(k): to_plain(v, digits) for k, v in obj.items()}
    if kind is tuple or kind is list:
        return [to_plain(v, digits) for v in obj]
    names = _FIELDS.get(kind)
    if names is None and dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        names = _FIELDS[kind] = tuple(f.name for f in dataclasses.fields(obj))
    if names is not None:
        return {name: to_plain(getattr(obj, name), digits) for name in names}
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, abc.Mapping):  # collections.abc's check: typing.Mapping's goes through typing first
        return {str(k): to_plain(v, digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v, digits) for v in obj]
    if isinstance(obj, float):  # a float subclass (numpy's float64): strict JSON has no NaN or Infinity
        return to_plain(float(obj), digits)
    if hasattr(obj, "item") and getattr(obj, "ndim", None) == 0:  # numpy scalars
        return to_plain(obj.item(), digits)
    return obj


def _ignore(where: str) -> None:
    return None


def from_plain(cls: type[T], data: Any, *, leaf: Leaf | None = None,
               unknown: Callable[[str], None] = _ignore, where: str = "") -> T:
    """Rebuild dataclass ``cls`` from ``to_plain`` output.

    ``unknown(dotted_key)`` is called for a key ``cls`` has no field for (default: ignored; raise
    in it to refuse).  ``leaf(type, value, dotted_key)`` checks or converts each value that is
    not a dataclass, union, tuple or mapping (default: kept as is); a ``None`` reaches it only
    where the type does not allow None.
    """
    if not isinstance(data, Mapping):
        raise PlainError(where.rstrip("."), f"expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            unknown(f"{where}{key}")
            continue
        kwargs[key] = _value(hints[key], value, leaf, unknown, f"{where}{key}")
    return cls(**kwargs)


def _value(tp: Any, value: Any, leaf: Leaf | None, unknown: Callable[[str], None], where: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, getattr(types, "UnionType", typing.Union)):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _value(inner[0], value, leaf, unknown, where) if len(inner) == 1 else value
    if dataclasses.is_dataclass(tp) and value is not None:
        return from_plain(tp, value, leaf=leaf, unknown=unknown, where=where + ".")
    if origin in (tuple, abc.Sequence) and value is not None:
        if not isinstance(value, (list, tuple)):
            raise PlainError(where, f"expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis or origin is abc.Sequence:
            return tuple(_value(args[0], v, leaf, unknown, f"{where}[{i}]") if args else v for i, v in enumerate(value))
        return tuple(_value(a, v, leaf, unknown, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value))) \
            if args else tuple(value)
    if origin in (abc.Mapping, dict) and value is not None:
        if not isinstance(value, Mapping):
            raise PlainError(where, f"expected a mapping, got {value!r}")
        return {k: _value(args[1], v, leaf, unknown, f"{where}.{k}") if args else v for k, v in value.items()}
    return leaf(tp, value, where) if leaf is not None else value
