"""The reader thread: files never drop a frame, a live source that the loop cannot follow drops the oldest."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from edgeaffect.errors import SourceError
from edgeaffect.runtime.pipeline import RunConfig, run
from edgeaffect.runtime.reader import ReadAhead
from edgeaffect.runtime.sources import Frame, SourceCounters
from runtime_support import make_bundle, make_video


class _Fake:
    """A source that delivers ``n`` frames every ``period`` seconds, then optionally fails."""

    kind, spec = "fake", "fake"

    def __init__(self, n: int, *, realtime: bool, period: float = 0.0, fail: bool = False) -> None:
        self.n, self.realtime, self.period, self.fail = n, realtime, period, fail
        self.counters = SourceCounters()

    def frames(self):
        for i in range(self.n):
            time.sleep(self.period)
            self.counters.frames += 1
            yield Frame(i, i / 30, np.zeros((4, 4, 3), np.uint8))
        if self.fail:
            raise SourceError("stream lost", "reconnect")


def _consume(reader: ReadAhead, work_s: float) -> list[int]:
    seen = []
    for frame in reader.frames():
        seen.append(frame.index)
        time.sleep(work_s)
    reader.close()
    return seen


def test_a_file_never_drops_a_frame_even_when_the_loop_is_slow():
    source = _Fake(30, realtime=False)
    seen = _consume(ReadAhead(source, depth=2), work_s=0.005)
    assert seen == list(range(30)) and source.counters.dropped == 0


def test_a_live_source_the_loop_cannot_follow_drops_the_oldest_and_counts():
    source = _Fake(40, realtime=True, period=0.002)
    seen = _consume(ReadAhead(source), work_s=0.02)
    assert seen == sorted(seen) and seen[-1] == 39  # the newest frame is never the one dropped
    assert source.counters.dropped > 10 and len(seen) + source.counters.dropped == 40


def test_a_source_error_reaches_the_loop_after_the_frames_before_it():
    reader = ReadAhead(_Fake(5, realtime=False, fail=True))
    seen = []
    with pytest.raises(SourceError, match="stream lost"):
        for frame in reader.frames():
            seen.append(frame.index)
    assert seen == [0, 1, 2, 3, 4]


def test_closing_early_stops_the_reader_thread():
    reader = ReadAhead(_Fake(10_000, realtime=False), depth=3)
    frames = reader.frames()
    assert next(frames).index == 0
    frames.close()
    reader.close()
    assert not reader._thread.is_alive()


def test_run_reading_ahead_gives_the_same_frames_as_reading_in_the_loop(tmp_path: Path):
    bundle = make_bundle(tmp_path / "b", kind="classification")
    video = make_video(tmp_path / "v.avi", 30)
    lines = {}
    for depth in (0, 4):
        out = tmp_path / f"{depth}.jsonl"
        summary = run(RunConfig(bundle=bundle, source=str(video), out=out, read_ahead=depth))
        assert summary.frames == 30 and summary.dropped_frames == 0
        assert {s.stage for s in summary.stages} >= {"decode", "read", "total"}
        lines[depth] = [line.split('"stage_ms"')[0] for line in out.read_text().splitlines()]
    assert lines[0] == lines[4]


def test_read_ahead_is_on_only_where_a_second_core_can_decode(monkeypatch):
    import os

    from edgeaffect.runtime import reader

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {1})
    assert reader.default_depth() == 0  # one core: the hand-over would only cost
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    assert reader.default_depth() == reader.DEFAULT_DEPTH


def test_a_live_run_that_falls_behind_says_how_many_frames_it_dropped(tmp_path: Path, monkeypatch):
    from edgeaffect.runtime import sources

    class FastCamera(_Fake):
        kind = "fastcam"

        def __init__(self, spec, options) -> None:
            # frames as fast as the thread can make them: a loop that runs a model on each always falls
            # behind (a 0.2 ms period let a quick loop keep up on a quiet moment, and nothing was dropped)
            super().__init__(300, realtime=True, period=0.0)

        def close(self) -> None:
            pass

    monkeypatch.setitem(sources.SOURCES, "fastcam", FastCamera)
    bundle = make_bundle(tmp_path / "b", kind="classification")
    summary = run(RunConfig(bundle=bundle, source="fastcam:0", detector="none", read_ahead=4))
    assert summary.dropped_frames > 0 and summary.frames + summary.dropped_frames == 300
    assert summary.last_index == 299  # the newest frame is kept
