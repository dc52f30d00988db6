"""The one KEY=VALUE parser: values typed by the declared type of the key they are for, in every verb,
and unknown keys answered with the nearest known one."""
from __future__ import annotations

import pytest

from edgeaffect.backend_options import parse_option
from edgeaffect.data import open_dataset
from edgeaffect.errors import ConfigError
from edgeaffect.keyvalue import coerce, split_pairs, typed
from edgeaffect.meta import Framing
from test_data_images import write_ferplus


@pytest.mark.parametrize("tp,text,value", [
    (bool, "false", False), (bool, "Yes", True), (int, "4", 4), (float, "1e-3", 1e-3), (str, "001", "001"),
    (int | None, "null", None), (int | None, "7", 7), (list[str], "[a, b]", ["a", "b"]), (list[str], "a,b", ["a", "b"]),
    (dict, "{k: 1}", {"k": 1}), (tuple[int, ...], "1,2", (1, 2)),
])
def test_text_becomes_the_declared_type(tp, text, value):
    assert coerce(tp, text, "k") == value


@pytest.mark.parametrize("tp,text", [(bool, "maybe"), (int, "1.5"), (float, "fast"), (dict, "[1]")])
def test_text_that_is_not_the_declared_type_is_refused(tp, text):
    with pytest.raises(ConfigError, match="'k' got"):
        coerce(tp, text, "k")


def test_pairs_split_once_and_unknown_keys_name_the_nearest():
    assert split_pairs(["a=1", "b=x=y"], "--opt") == {"a": "1", "b": "x=y"}
    with pytest.raises(ConfigError, match="is not key=value"):
        split_pairs(["novalue"], "--opt")
    assert typed(Framing, {"scale": "1.2", "aligned": "false"}) == {"scale": 1.2, "aligned": False}
    with pytest.raises(ConfigError, match="did you mean .scale."):
        typed(Framing, {"scael": "0"})


def test_a_reader_option_from_the_command_line_is_typed_by_the_reader(tmp_path):
    from edgeaffect.bench.cli import split_pairs as bench_pairs
    from edgeaffect.train.cli import parse_options

    root = write_ferplus(tmp_path / "fp")
    for options in (bench_pairs(["votes=false"], "--data-option"), parse_options(["votes=false"])):
        assert open_dataset(root, **options).info["target"] != "distribution"  # "false" is False, not a truthy string
    assert open_dataset(root, **parse_options(["votes=true"])).info["target"] == "distribution"
    with pytest.raises(ConfigError, match="did you mean 'votes'"):
        open_dataset(root, **parse_options(["vote=true"]))


def test_train_overrides_and_backend_options_go_through_the_same_typing():
    from edgeaffect.train.config import parse_overrides

    got = parse_overrides(["data=001", "epochs=3", "augment=false", "size=null", "data.options={votes: true}"])
    assert got == {"data": {"path": "001", "augment": False, "options": {"votes": True}},
                   "schedule": {"epochs": 3}, "model": {"input_size": None}}
    with pytest.raises(ConfigError, match="'config key schedule.epochs' got"):
        parse_overrides(["epochs=many"])
    assert parse_option("threads=2", "onnxruntime") == ("threads", 2)
    assert parse_option("providers=CPUExecutionProvider", "onnxruntime") == ("providers", ["CPUExecutionProvider"])
    with pytest.raises(ConfigError, match="did you mean 'threads'"):
        parse_option("thread=2", "onnxruntime")
