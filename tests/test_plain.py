"""The one serialiser (edgeaffect.plain): typed dataclasses -> JSON values -> the same dataclasses."""
from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import pytest

from edgeaffect.plain import PlainError, from_plain, to_plain


class Kind(str, enum.Enum):
    A = "a"
    B = "b"


@dataclass(frozen=True)
class Inner:
    kind: Kind
    span: tuple[float, float] | None = None


@dataclass(frozen=True)
class Outer:
    name: str
    items: tuple[Inner, ...]
    sizes: tuple[int, int] = (0, 0)
    best: float | None = None
    extra: Mapping[str, Inner] = field(default_factory=dict)


def test_round_trip_through_json():
    doc = Outer("x", (Inner(Kind.A, (0.0, 1.0)), Inner(Kind.B)), (3, 4), 0.5, {"k": Inner(Kind.B, (1.0, 2.0))})
    plain = json.loads(json.dumps(to_plain(doc)))
    assert plain["items"][0] == {"kind": "a", "span": [0.0, 1.0]}
    back = from_plain(Outer, plain, leaf=lambda tp, v, where: tp(v) if isinstance(tp, type) and issubclass(tp, enum.Enum) else v)
    assert back == doc


def test_nan_and_numpy_scalars_become_json_values():
    assert to_plain({"a": float("nan"), "b": np.float32(0.5), "c": np.int64(3)}) == {"a": None, "b": 0.5, "c": 3}


def test_digits_round_every_float_in_one_walk():
    doc = Outer("x", (Inner(Kind.A, (0.123456, float("inf"))),), (3, 4), 2.0 / 3.0, {"k": Inner(Kind.B, (np.float64(1.234567), 2.0))})
    plain = to_plain(doc, 3)
    assert plain["items"][0]["span"] == [0.123, None]
    assert plain["extra"]["k"]["span"] == [1.235, 2.0] and plain["sizes"] == [3, 4] and plain["best"] == 0.667
    assert to_plain(doc)["items"][0]["span"][0] == 0.123456  # no digits: floats kept whole
    assert to_plain(doc, 3) == to_plain(doc, 3)  # the per-class field cache gives the same walk twice


def test_unknown_keys_and_wrong_shapes():
    seen = []
    assert from_plain(Inner, {"kind": "a", "later": 1}, unknown=seen.append).kind == "a"
    assert seen == ["later"]
    with pytest.raises(PlainError) as err:
        from_plain(Outer, {"name": "x", "items": [{"kind": "a", "span": 5}]})
    assert err.value.where == "items[0].span"
    with pytest.raises(PlainError, match="expected a mapping"):
        from_plain(Outer, ["not", "a", "mapping"])
