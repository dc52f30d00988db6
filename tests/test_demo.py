"""edgeaffect demo: the whole job end to end (slow), and its refusal to stand in for a missing step."""
from __future__ import annotations

import json
import time

import pytest

from edgeaffect.errors import EdgeAffectError


def test_missing_part_stops_the_demo_naming_the_step():
    from edgeaffect.demo_steps import need

    with pytest.raises(EdgeAffectError, match="demo step 'export' cannot run: edgeaffect.compress.not_there"):
        need("export", "edgeaffect.compress.not_there")
    assert need("report", "edgeaffect.report.build").build_report


def test_demo_exports_are_ones_their_devices_run():
    """Each default demo export names a device profile that runs that format at that precision."""
    from edgeaffect.compress.export import resolve
    from edgeaffect.demo_steps import EXPORTS
    from edgeaffect.devices import get_profile

    for target, fmt, precision in EXPORTS:
        assert resolve(get_profile(target), fmt, precision)[1] == [precision]


def test_bad_data_env_is_refused(monkeypatch, tmp_path):
    from edgeaffect.demo_steps import check_source

    monkeypatch.setenv("EDGEAFFECT_DATA", str(tmp_path))  # no ferplus/ inside
    with pytest.raises(EdgeAffectError, match="ferplus"):
        check_source(False)
    assert check_source(True) is True


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_demo_quick_end_to_end(tmp_path, capsys, monkeypatch):
    """The whole loop as a user without data runs it: the shipped default model, no training, every bundle
    the shipped model's, and the data called synthetic wherever it appears."""
    from edgeaffect.cli import main

    monkeypatch.delenv("EDGEAFFECT_DATA", raising=False)
    t0 = time.perf_counter()
    code = main(["demo", "--quick", "--out", str(tmp_path / "demo"),
                 "--exports", "laptop-x86:openvino:fp32,laptop-x86:onnx:fp32"])
    took = time.perf_counter() - t0
    out = capsys.readouterr().out
    assert code == 0, out
    assert "demo finished in" in out and "report.html" in out and "the shipped default model" in out
    assert not (tmp_path / "demo" / "run").exists()  # nothing was trained
    doc = json.loads((tmp_path / "demo" / "results.json").read_text())
    assert doc["data"].startswith("synthetic-faces:")
    for bundle in (tmp_path / "demo" / "bundles").iterdir():
        meta = json.loads((bundle / "meta.json").read_text())
        assert meta["model"] == "resnet18" and meta["info"]["shipped"] == "edgeaffect default"
    formats = sorted((b["target"], b["format"], b["precision"]) for b in doc["bundles"])
    assert formats == [("laptop-x86", "onnx", "fp32"), ("laptop-x86", "openvino", "fp32")]
    assert {r["resolution"] for r in doc["accuracy"]} == {None, 112, 64, 32, 16}
    assert len(doc["capture"]) == 2 * 3 and all(r["frames"] > 0 for r in doc["capture"])
    html = (tmp_path / "demo" / "report" / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 4
    report = (tmp_path / "demo" / "report" / "report.md").read_text()
    assert "synthetic-faces" in report and "affectnet" not in report
    assert (tmp_path / "demo" / "run.jsonl").stat().st_size > 0
    print(f"demo --quick took {took:.0f} s")


def test_exports_flag_is_parsed_and_checked():
    from edgeaffect.demo_steps import parse_exports
    from edgeaffect.errors import ConfigError

    assert parse_exports("rpi4:tflite:int8, laptop-x86:onnx:fp32") == (("rpi4", "tflite", "int8"),
                                                                       ("laptop-x86", "onnx", "fp32"))
    with pytest.raises(ConfigError, match="target:format:precision"):
        parse_exports("rpi4:tflite")
