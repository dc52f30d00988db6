"""Builders shared by the runtime tests: tiny real ONNX bundles, face frames, MJPG videos.

Not a test module (no ``test_`` prefix); imported by tests/test_runtime_*.py.
"""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from edgeaffect.bundle import Manifest, RuntimeSettings, write_manifest
from edgeaffect.meta import Head, ModelMeta, Temporal

LABELS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")


def _model(kind: str, batch: int | None, size: int, frames: int):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    n = batch if batch else "N"
    inits, nodes, outputs = [], [], []
    if kind == "signal":
        inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, [n, 3, frames, size, size])
        nodes.append(helper.make_node("ReduceMean", ["input"], ["eda"], axes=[1, 3, 4], keepdims=0))
        outputs.append(helper.make_tensor_value_info("eda", TensorProto.FLOAT, [n, frames]))
    else:
        inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, [n, 1, size, size])
        inits += [numpy_helper.from_array(rng.normal(0, 0.5, (4, 1, 3, 3)).astype(np.float32), "w"),
                  numpy_helper.from_array(rng.normal(0, 1, (len(LABELS), 4)).astype(np.float32), "g"),
                  numpy_helper.from_array(np.zeros(len(LABELS), np.float32), "gb")]
        nodes += [helper.make_node("Conv", ["input", "w"], ["c"], pads=[1, 1, 1, 1]),
                  helper.make_node("Relu", ["c"], ["r"]),
                  helper.make_node("GlobalAveragePool", ["r"], ["p"]),
                  helper.make_node("Flatten", ["p"], ["f"]),
                  helper.make_node("Gemm", ["f", "g", "gb"], ["logits"], transB=1)]
        outputs.append(helper.make_tensor_value_info("logits", TensorProto.FLOAT, [n, len(LABELS)]))
        if kind == "multitask":
            inits.append(numpy_helper.from_array(rng.normal(0, 1, (2, 4)).astype(np.float32), "v"))
            nodes += [helper.make_node("Gemm", ["f", "v"], ["vr"], transB=1), helper.make_node("Tanh", ["vr"], ["va"])]
            outputs.append(helper.make_tensor_value_info("va", TensorProto.FLOAT, [n, 2]))
    graph = helper.make_graph(nodes, "tiny", [inp], outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def make_bundle(folder: Path, *, kind: str = "multitask", batch: int | None = None, size: int = 48,
                frames: int = 8, fps: float = 5.0, stride: int | None = 4, tools: dict | None = None,
                runtime: RuntimeSettings | None = None, target: str = "level") -> Path:
    """A real ONNX bundle: ``classification``, ``multitask`` (logits + valence/arousal) or ``signal`` (EDA clip).

    A ``signal`` model outputs each frame's mean pixel value; ``target`` is what its meta says
    that is (the EDA level, or its derivative).

    ``runtime``: the device settings the manifest carries (as ``edgeaffect export`` writes them).
    """
    import onnx
    import onnxruntime

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "signal":
        meta = ModelMeta(model="tiny-eda", task="signal", input_size=(size, size), color="rgb",
                         heads=(Head("eda", "signal", frames, target=target),), temporal=Temporal(frames, fps, stride))
    else:
        heads = [Head("logits", "logits", len(LABELS))]
        if kind == "multitask":
            heads.append(Head("va", "regression", 2, (-1.0, 1.0)))
        meta = ModelMeta(model="tiny", task=kind, input_size=(size, size), color="gray", heads=tuple(heads),
                         labels=LABELS, mean=(0.5,), std=(0.5,))
    model = _model(kind, batch, size, frames)
    onnx.helper.set_model_props(model, meta.to_onnx_props())  # as export embeds it: the file names its own meta
    onnx.save(model, str(folder / "model.onnx"))
    meta.save(folder / "meta.json")
    write_manifest(folder, Manifest(format="onnx", precision="fp32", model_files=("model.onnx",),
                                    tools=tools if tools is not None else {"onnxruntime": onnxruntime.__version__},
                                    runtime=runtime or RuntimeSettings()))
    return folder


def face_image() -> np.ndarray:
    """A face both Haar and YuNet find: a real FER+ face when EDGEAFFECT_DATA is set, else a drawn one."""
    root = os.environ.get("EDGEAFFECT_DATA")
    test_dir = Path(root) / "ferplus" / "FER2013Test" if root else None
    if test_dir is not None and test_dir.is_dir():
        face = cv2.imread(str(sorted(test_dir.glob("*.png"))[0]), cv2.IMREAD_COLOR)
        return cv2.resize(face, (128, 128), interpolation=cv2.INTER_CUBIC)
    from edgeaffect.data.synthetic import synth_frame

    frame, (x, y, w, h), _ = synth_frame(height=240, width=320, face_px=120, seed=3)
    m = 0.1 * w
    crop = frame[max(int(y - m), 0):int(y + h + m), max(int(x - m), 0):int(x + w + m)]
    return cv2.resize(crop, (128, 128))


def face_frame(i: int, face: np.ndarray, size: tuple[int, int] = (320, 240)) -> np.ndarray:
    """Frame ``i`` of a clip: the face drifting slowly right over a textured background."""
    from edgeaffect.data.synthetic import paste_face

    w, h = size
    frame = np.full((h, w, 3), 100, np.uint8)
    frame[:, :, 1] = np.linspace(70, 130, w, dtype=np.uint8)[None, :]
    paste_face(frame, face, 60 + (i % 40), (h - face.shape[0]) // 2)
    return frame


def make_video(path: Path, frames: int = 40, *, fps: float = 10.0, size: tuple[int, int] = (320, 240)) -> Path:
    face = face_image()
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened()
    for i in range(frames):
        writer.write(face_frame(i, face, size))
    writer.release()
    return Path(path)


def make_folder(path: Path, frames: int = 40) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    face = face_image()
    for i in range(frames):
        cv2.imwrite(str(path / f"frame_{i:05d}.jpg"), face_frame(i, face))
    return path


def make_openvino_bundle(folder: Path, onnx_bundle: Path) -> Path:
    """The same tiny model as an OpenVINO IR bundle (read by OpenVINO's ONNX frontend, saved as .xml/.bin)."""
    import shutil

    import openvino as ov

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ov.save_model(ov.Core().read_model(str(Path(onnx_bundle) / "model.onnx")), str(folder / "model.xml"))
    shutil.copy(Path(onnx_bundle) / "meta.json", folder / "meta.json")
    write_manifest(folder, Manifest(format="openvino", precision="fp32", model_files=("model.xml", "model.bin"),
                                    tools={"openvino": ov.__version__}))
    return folder


def two_face_video(path: Path, frames: int = 90, *, fps: float = 30.0, size: tuple[int, int] = (640, 480),
                   speed: float = 1.0, enter_at: int = 0) -> Path:
    """Two drawn faces moving on their own paths (left and right half) over a fixed backdrop, as MJPG.

    The faces sway, drift up and down and turn a little; at ``speed`` 1 their speed peaks near
    6 px per frame, a head turning briskly in front of a webcam.  The second face appears at
    frame ``enter_at`` (someone stepping into view).
    """
    from edgeaffect.data.facedraw import FaceParams, render_face
    from edgeaffect.data.synthetic import background

    w, h = size
    backdrop = background(h, w, np.random.default_rng(7))
    people = (FaceParams(cx=0.27 * w, cy=0.45 * h, scale=0.075 * w, skin=(110.0, 140.0, 190.0), hair=(20.0, 25.0, 35.0)),
              FaceParams(cx=0.72 * w, cy=0.5 * h, scale=0.065 * w, skin=(90.0, 120.0, 170.0), hair=(60.0, 50.0, 40.0),
                         aspect=1.25, mouth_curve=0.4))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened()
    rng = np.random.default_rng(1)
    for i in range(frames):
        t = speed * i / fps
        canvas = backdrop.copy()
        for k, p in enumerate(people[:1] if i < enter_at else people):
            phase = 1.3 * k
            moved = replace(p, cx=p.cx + 0.12 * w * np.sin(2 * np.pi * t / 4.0 + phase),
                            cy=p.cy + 0.06 * h * np.sin(2 * np.pi * t / 2.7 + phase), angle=8.0 * np.sin(t + phase),
                            yaw=0.12 * np.sin(1.7 * t + phase))
            render_face(canvas, moved, landmarks=False)
        noise = rng.standard_normal(canvas.shape, dtype=np.float32) * 2.0
        writer.write(np.clip(canvas + noise, 0, 255).astype(np.uint8))
    writer.release()
    return Path(path)
