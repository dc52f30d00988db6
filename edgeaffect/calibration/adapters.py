"""One adapter per quantization toolkit over a :class:`CalibrationSource`.

Each toolkit wants calibration data in its own shape (an ORT data reader, an
``nncf.Dataset``, a LiteRT/PT2E representative-dataset generator); the data and
its preprocessing stay in the source, which the exporters stream (nothing holds
the whole calibration set in memory).  TensorRT needs no adapter: its INT8
bundles carry a QDQ ONNX model that ONNX Runtime quantizes through
:func:`ort_reader`, so the engine reads its ranges from the graph and no
calibrator runs on the device.  Adding a toolkit = one function here.  Toolkit
libraries load inside the functions.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from edgeaffect._optional import require
from edgeaffect.calibration.sources import CalibrationSource

log = logging.getLogger(__name__)


def _batched(source: CalibrationSource, input_names: Sequence[str], batch_size: int) -> Iterator[dict[str, np.ndarray]]:
    for arrays, _ in source.batches(batch_size):
        yield dict(zip(input_names, arrays))


def ort_reader(source: CalibrationSource, input_names: Sequence[str] = ("input",), *, batch_size: int = 1) -> Any:
    """An ``onnxruntime.quantization.CalibrationDataReader`` yielding ``{name: NCHW}`` feeds."""
    quant = require("onnxruntime.quantization", "onnx", purpose="INT8 calibration")

    class _Reader(quant.CalibrationDataReader):
        """Sequential batches; ``set_range`` limits them to batches [start, end) for ORT's chunked calibration."""

        def __init__(self) -> None:
            self._it: Iterator[dict[str, np.ndarray]] | None = None
            self._pos = 0  # index of the next batch the iterator yields
            self._end: int | None = None

        def get_next(self) -> dict[str, np.ndarray] | None:
            if self._it is None:
                self._it, self._pos = _batched(source, input_names, batch_size), 0
            if self._end is not None and self._pos >= self._end:
                return None
            batch = next(self._it, None)
            self._pos += batch is not None
            return batch

        def rewind(self) -> None:
            self._it, self._end = None, None

        def set_range(self, start_index: int, end_index: int) -> None:
            # ORT asks for consecutive chunks; only a jump backwards re-reads the source from the start
            if self._it is None or start_index < self._pos:
                self._it, self._pos = _batched(source, input_names, batch_size), 0
            while self._pos < start_index and next(self._it, None) is not None:
                self._pos += 1
            self._end = end_index

        def __len__(self) -> int:
            return -(-len(source) // batch_size)

    return _Reader()


def nncf_dataset(source: CalibrationSource) -> Any:
    """``nncf.Dataset(source, transform)``: NNCF iterates the source and adds the batch axis."""
    nncf = require("nncf", "openvino", purpose="INT8 calibration with NNCF")
    items = _ItemsView(source)
    if source.meta is not None and source.meta.extra_inputs:
        return nncf.Dataset(items, lambda item: tuple(a[None] for a in item))
    return nncf.Dataset(items, lambda item: item[0][None])


class _ItemsView:
    """Re-iterable over the (input, *extras) tuples of a source (NNCF iterates more than once)."""

    def __init__(self, source: CalibrationSource) -> None:
        self.source = source

    def __iter__(self) -> Iterator[tuple[np.ndarray, ...]]:
        return (item for item, _ in self.source.items())

    def __len__(self) -> int:
        return len(self.source)


def representative_dataset(source: CalibrationSource, *, layout: str = "nchw",
                           batch_size: int = 1) -> Callable[[], Iterator[list[np.ndarray]]]:
    """A LiteRT/TFLite ``representative_dataset`` (and PT2E calibration loop) generator factory.

    Each item is the list of input arrays of one batch of ``batch_size`` samples (the last may be
    shorter).  ``layout="nhwc"`` transposes channels last for converters that feed NHWC tensors.
    """

    def gen() -> Iterator[list[np.ndarray]]:
        for batch, _ in source.batches(batch_size):
            arrays = list(batch)
            if layout == "nhwc" and arrays[0].ndim == 4:
                arrays[0] = np.ascontiguousarray(arrays[0].transpose(0, 2, 3, 1))
            yield arrays

    return gen
