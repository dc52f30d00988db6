"""YuNet run by ONNX Runtime, decoded here: the same faces as ``cv2.FaceDetectorYN``, at about half its CPU.

OpenCV's ``FaceDetectorYN`` runs YuNet through ``cv2.dnn``.  Measured on one core of the
development machine (x86-64, AVX2, one thread each; ``benchmarks/bench_stages.py``), a whole
640x480 frame (detected on its 320x240 copy) costs 3.2-3.4 ms of CPU here against 5.6-6.6 ms
through OpenCV; on the small tiles of a region pass (``runtime/region.py``) both cost about
0.6-0.8 ms, so the gain is in full-frame passes.  This
module is the engine behind ``YuNetDetector(engine="onnxruntime")``: it prepares the input the
way ``FaceDetectorYN`` does (BGR, 0..255, padded with zeros on the right and bottom to a multiple
of 32), runs the network, and decodes its outputs - for each stride 8, 16 and 32 a score per grid
cell (``sqrt(cls x obj)``, both clamped to [0, 1]), a box (centre offset from the cell, log
size) and five landmarks (offsets from the cell) - then keeps the boxes above the score
threshold through non-maximum suppression (OpenCV's ``NMSBoxes``, on the integer boxes as
``FaceDetectorYN`` does).  ``detect`` returns ``FaceDetectorYN.detect``'s rows (x, y, w, h, five
landmark pairs, score), so ``YuNetDetector`` maps them back the same way for both engines;
``tests/test_runtime_detectors.py`` checks both find the same faces.  Torch-free.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edgeaffect._optional import require

STRIDES = (8, 16, 32)
SMALL_INPUT = 128 * 128  # padded input area (px) detected on one thread: region tiles, not frames


class YuNetOnnx:
    """``cv2.FaceDetectorYN``'s ``setInputSize`` / ``detect`` on an ONNX Runtime session."""

    def __init__(self, path: Path, score_threshold: float, nms_threshold: float, top_k: int) -> None:
        ort = require("onnxruntime", "onnx", purpose="YuNet on ONNX Runtime")
        ort.disable_telemetry_events()  # as the ONNX Runtime backend does (edgeaffect/_telemetry.py)
        self._path, threads = Path(path), max(1, cv2.getNumThreads())
        self._session = self._run = self._open(path, threads)  # _run: the session for the current input size
        # A region tile is too small to split: on 2 cores a 96x64 input took 0.39 ms on two threads and 0.26 on
        # one (threads that sleep between calls wake up slower than the work takes), a 320x256 frame 1.61 / 1.86.
        # Opened on the first tile, so a run that only detects whole frames opens one session.
        self._small_session = self._session if threads == 1 else None
        self._input = self._session.get_inputs()[0].name
        names = [o.name for o in self._session.get_outputs()]
        self._outputs = [f"{kind}_{s}" for s in STRIDES for kind in ("cls", "obj", "bbox", "kps")]
        if set(self._outputs) - set(names):
            raise ValueError(f"{Path(path).name} has outputs {names}, not YuNet's cls/obj/bbox/kps per stride")
        self.score_threshold, self.nms_threshold, self.top_k = score_threshold, nms_threshold, top_k
        self._size = (0, 0)
        self._padded = (0, 0)
        self._cells = np.empty((0, 2), dtype=np.float32)  # set by setInputSize, before the first detect
        self._strides = np.empty((0, 1), dtype=np.float32)

    @staticmethod
    def _open(path: Path, threads: int):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        # OpenCV's thread count (1 when the run asks for --threads 1): the detector shares the cores with the model
        opts.intra_op_num_threads = threads
        # no busy-waiting between calls: the model's backend and the decoder need those cycles
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.log_severity_level = 3
        return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])

    def setInputSize(self, size: tuple[int, int]) -> None:  # noqa: N802  (FaceDetectorYN's name)
        w, h = int(size[0]), int(size[1])
        pw, ph = (w + 31) // 32 * 32, (h + 31) // 32 * 32
        self._size, self._padded = (w, h), (pw, ph)
        if pw * ph <= SMALL_INPUT and self._small_session is None:
            self._small_session = self._open(self._path, 1)
        self._run = self._small_session if pw * ph <= SMALL_INPUT else self._session
        # every stride's cells as (x, y), row-major as the network lays out its anchors, strides in output
        # order, and each cell's stride: decoding then runs once over all strides (a region tile is decoded
        # on every frame, and numpy's per-call cost, not the arithmetic, is what a 96x64 input costs)
        grids, strides = [], []
        for s in STRIDES:
            ys, xs = np.mgrid[0:ph // s, 0:pw // s].astype(np.float32)
            grids.append(np.stack([xs.ravel(), ys.ravel()], axis=1))
            strides.append(np.full((xs.size, 1), s, dtype=np.float32))
        self._cells = np.concatenate(grids)
        self._strides = np.concatenate(strides)

    def detect(self, image: np.ndarray) -> tuple[int, np.ndarray | None]:
        """(1, rows) like ``FaceDetectorYN.detect``: one row per face, None when there is none."""
        h, w = image.shape[:2]
        if (w, h) != self._size:
            self.setInputSize((w, h))
        pw, ph = self._padded
        if (pw, ph) != (w, h):
            image = cv2.copyMakeBorder(image, 0, ph - h, 0, pw - w, cv2.BORDER_CONSTANT, value=0)
        out = self._run.run(self._outputs, {self._input: cv2.dnn.blobFromImage(image)})
        cls, obj, bbox, kps = (np.concatenate([out[4 * k + j][0] for k in range(len(STRIDES))]) for j in range(4))
        # cells far below the threshold are dropped on the raw product first (the sigmoid outputs lie in
        # [0, 1]); NMSBoxes applies the exact threshold to the scores of the rest
        keep = np.flatnonzero(cls[:, 0] * obj[:, 0] >= (0.999 * self.score_threshold) ** 2)
        if not keep.size:
            return 1, None
        cell, stride, b = self._cells[keep], self._strides[keep], bbox[keep]
        rows = np.empty((keep.size, 15), dtype=np.float32)
        rows[:, 2:4] = np.exp(b[:, 2:4]) * stride
        rows[:, 0:2] = (cell + b[:, 0:2]) * stride - rows[:, 2:4] / 2
        rows[:, 4:14] = ((kps[keep].reshape(-1, 5, 2) + cell[:, None, :]) * stride[:, None, :]).reshape(-1, 10)
        rows[:, 14] = np.sqrt(np.clip(cls[keep, 0], 0.0, 1.0) * np.clip(obj[keep, 0], 0.0, 1.0))
        keep = cv2.dnn.NMSBoxes(rows[:, 0:4].astype(np.int32), rows[:, 14], self.score_threshold,
                                self.nms_threshold, top_k=self.top_k)
        keep = np.asarray(keep, dtype=np.int64).reshape(-1)
        return (1, rows[keep]) if keep.size else (1, None)
