"""edgeaffect's runtime loop vs a plain PyTorch eager loop, side by side on one video.

The baseline is what a research script does: OpenCV capture -> Haar cascade ->
crop the largest face -> resize/normalise -> ``model(x)`` in torch eager mode,
every frame.  edgeaffect runs the same DDAMFN weights exported to a bundle
(OpenVINO when installed, else ONNX Runtime) with YuNet every N frames and the
tracker in between.  Printed:

1. FPS of each loop and the ratio (target >= 4x), and of the shipped default model (``edgeaffect run
   default``: the slim ResNet-18 at 64x64 gray, ONNX Runtime) against the same DDAMFN eager loop
   (target >= 8x);
2. top-1 agreement with the baseline on frames where both found the face, for
   an edgeaffect run on the baseline's exact crops (Haar every frame, no margin)
   and for the fast configuration;
3. the share of frame time spent outside detection and the backend call;
4. RSS over a long run (``--minutes``; the real check is ``--minutes 20``):
   growth after warm-up must stay under 5 %.

5. ``--modes``: the shipped default model with three detection settings side by side (full-frame YuNet
   every frame, every 5th frame + tracker, track-guided regions) on the PhysRecorder clip (when
   EDGEAFFECT_DATA is set) and a generated video of two moving faces: FPS, ratio to every-frame, face
   recall and top-1 agreement against every-frame, and the stage table of each (targets: region recall
   and agreement >= 0.99, FPS >= 1.8x; >= 2x with ``--cores 1``).  ``--only-modes`` skips 1-4.  The ``ratio``
   column compares the fastest run of each setting, ``median`` the runs of the same round (``--repeats``):
   read the median, a region frame is short enough for one quiet run to flatter the best-of ratio.

``--cores N`` pins the process to N cores (the last N it may use) with one thread everywhere
(OpenCV, ONNX Runtime, torch): one core of this machine stands in for one core of a Raspberry Pi
(a Pi 4's Cortex-A72 is several times slower, so read the ratios, not the absolute FPS).

``--engines opencv,onnxruntime`` runs 5. once per YuNet engine (``cv2.FaceDetectorYN`` and ONNX Runtime: the
same faces, see ``detectors/yunet_onnx.py``) and also prints every row against the first engine's full-frame row.

Usage:  python benchmarks/bench_runtime.py [--frames 300] [--detect-every 5] [--minutes 0.5] [--video REAL.avi]
        python benchmarks/bench_runtime.py --cores 1 --only-modes --repeats 3 [--engines opencv,onnxruntime]
``--video`` uses a recorded video (e.g. $EDGEAFFECT_DATA/physrecorder_v01/video_ZIP_H264.avi) instead of
the generated one.
DDAMFN is untrained here (speed does not depend on the weights); its classifier
is scaled so that top-1 is decided by the input rather than by float noise.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
if "--cores" in sys.argv:  # thread pools read these when their library loads, so before the imports below
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"

from edgeaffect.bundle import Manifest, write_manifest  # noqa: E402
from edgeaffect.runtime.crop import CropOptions  # noqa: E402
from edgeaffect.runtime.pipeline import RunConfig, run  # noqa: E402
from edgeaffect.runtime.sources import SourceOptions  # noqa: E402


def make_video(path: Path, frames: int, size=(640, 480)) -> Path:
    from runtime_support import face_frame, face_image

    face = cv2.resize(face_image(), (160, 160))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, size)
    for i in range(frames):
        writer.write(face_frame(i * 3, face, size))
    writer.release()
    return path


def build_model():
    import torch

    from edgeaffect.train.registry import create_model

    torch.manual_seed(0)
    model = create_model("ddamfn").eval()
    with torch.no_grad():  # sharpen the untrained classifier: decisive top-1, same speed
        fc = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
        fc.weight.mul_(50.0)
    return model, model.meta


def export(model, meta, out: Path, fmt: str) -> Path:
    from edgeaffect.formats import ExportOptions, get_format

    out.mkdir(parents=True, exist_ok=True)
    files = get_format(fmt).load_exporter()(model, meta, out, precision="fp32", calibration=None,
                                            options=ExportOptions())
    meta.save(out / "meta.json")
    import importlib.metadata as md

    dist = {"onnx": "onnxruntime", "openvino": "openvino"}[fmt]
    write_manifest(out, Manifest(format=fmt, precision="fp32", model_files=tuple(files),
                                 tools={dist: md.version(dist)}))
    return out


def torch_loop(model, meta, video: Path) -> tuple[float, dict[int, int]]:
    """The research-script baseline: every frame through Haar and the eager model."""
    import torch

    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    mean, std = np.array(meta.mean, np.float32), np.array(meta.std, np.float32)
    cap = cv2.VideoCapture(str(video))
    top1, index, t0 = {}, 0, time.perf_counter()
    with torch.no_grad():
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
            boxes = cascade.detectMultiScale(gray, 1.1, 5, minSize=(24, 24))
            if len(boxes):
                x, y, w, h = max(boxes, key=lambda b: b[2] * b[3])
                face = cv2.cvtColor(frame[y:y + h, x:x + w], cv2.COLOR_BGR2RGB)
                face = cv2.resize(face, (112, 112)).astype(np.float32) / 255.0
                x_in = torch.from_numpy(((face - mean) / std).transpose(2, 0, 1)[None].copy())
                top1[index] = int(model(x_in)[0].argmax(1))  # heads come as a tuple
            index += 1
    return index / (time.perf_counter() - t0), top1


def edge_loop(bundle: Path, video: Path, out: Path, **kw) -> tuple[object, dict[int, int]]:
    summary = run(RunConfig(bundle=bundle, source=str(video), out=out, **kw))
    names = json.loads((bundle / "meta.json").read_text())["labels"]
    top1 = {}
    for line in out.read_text().splitlines():
        r = json.loads(line)
        if r["faces"]:
            top1[r["index"]] = names.index(r["faces"][0]["raw_label"])
    return summary, top1


def say(text: str) -> None:
    print(text, flush=True)


def agreement(a: dict[int, int], b: dict[int, int]) -> str:
    both = sorted(set(a) & set(b))
    same = sum(a[i] == b[i] for i in both)
    return f"{same}/{len(both)} frames ({100.0 * same / max(len(both), 1):.1f} %)"


def pin(cores: int) -> str:
    """Pin this process to its last ``cores`` allowed cores, one thread per library; returns a description."""
    allowed = sorted(os.sched_getaffinity(0))
    chosen = set(allowed[-cores:])
    os.sched_setaffinity(0, chosen)
    cv2.setNumThreads(1)
    return (f"pinned to core(s) {sorted(chosen)} of {os.cpu_count()}, one thread in OpenCV, ONNX Runtime and torch "
            f"(a stand-in for {cores} Raspberry Pi core(s): read the ratios, a Pi core is several times slower)")


def detect_modes(videos: list[Path], repeats: int, threads: int | None, engines: list[str],
                 bundle: Path | None = None) -> None:
    """Section 5: the detection settings side by side on each video, for each YuNet engine."""
    from edgeaffect.assets import resolve
    from edgeaffect.bench.detect_modes import compare_modes, modes_table

    from dataclasses import replace

    bundle = bundle or resolve("default", "bundle")
    # rounds outermost, engines and settings inside: a shared core's load changes over minutes and inflates
    # CPU time too, so every row of every engine takes its best of rounds spread over the same minutes
    best: dict[tuple[str, str, str], object] = {}
    for rep in range(max(repeats, 1)):
        for video in videos:
            for engine in engines:
                say(f"round {rep + 1}/{repeats}: detection settings on {video.name}, YuNet on {engine} ...")
                for r in compare_modes(bundle, video, key=f"{bundle.name}/{engine}", threads=threads, repeats=1,
                                       detector_options={"engine": engine}):
                    old = best.get((engine, r.video, r.mode))
                    best[(engine, r.video, r.mode)] = r if old is None else replace(
                        r if r.fps > old.fps else old, cpu_fps=max(r.cpu_fps, old.cpu_fps))
    tables = {engine: [r for (e, _, _), r in best.items() if e == engine] for engine in engines}
    for engine, rows in tables.items():
        print(f"\nYuNet on {engine}, model {bundle}; ratios against full-frame detection on every frame, same engine")
        print(modes_table(rows))
        for r in rows:
            if r.mode != "full":
                print(f"{r.video}: {r.mode} passes {dict(r.detect_passes)}")
    if len(tables) > 1:  # every setting against the first engine's full-frame detection: what a user gains in all
        first = engines[0]
        print(f"\nCPU-FPS against full-frame detection with YuNet on {first}:")
        for engine, rows in tables.items():
            for r in rows:
                ref = next(x for x in tables[first] if x.video == r.video and x.mode == "full")
                print(f"  {r.video[:19]:<20}{engine:<12}{r.mode:<8}{r.cpu_fps:>8.1f} CPU-FPS {r.cpu_fps / ref.cpu_fps:>6.2f}x"
                      f"  {r.fps:>7.1f} FPS {r.fps / ref.fps:>6.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--detect-every", type=int, default=5)
    ap.add_argument("--minutes", type=float, default=0.5, help="long-run memory check duration (20 for the real check)")
    ap.add_argument("--yunet", type=Path, default=None, help="YuNet model (default: the one shipped in the package)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--video", type=Path, default=None, help="a recorded video instead of the generated one")
    ap.add_argument("--cores", type=int, default=None, help="pin to N cores, one thread everywhere")
    ap.add_argument("--modes", action="store_true", help="also run the detection settings side by side (5.)")
    ap.add_argument("--only-modes", action="store_true", help="only the detection settings (5.)")
    ap.add_argument("--repeats", type=int, default=2, help="interleaved rounds of the detection settings")
    ap.add_argument("--modes-frames", type=int, default=300, help="frames of the generated two-face video")
    ap.add_argument("--engines", default="onnxruntime", help="YuNet engines for 5., comma-separated "
                    "(opencv, onnxruntime): each gets its own table, then all against the first one's full-frame row")
    ap.add_argument("--modes-bundle", type=Path, default=None, help="bundle for 5. (default: the shipped model)")
    args = ap.parse_args()
    if args.cores:
        print(pin(args.cores))
        args.threads = 1
    if args.modes or args.only_modes:
        from runtime_support import two_face_video

        work = Path(tempfile.mkdtemp(prefix="bench-modes-"))
        videos = [two_face_video(work / "two_faces.avi", args.modes_frames)]
        phys = Path(os.environ.get("EDGEAFFECT_DATA", "/nonexistent")) / "physrecorder_v01" / "video_ZIP_H264.avi"
        videos = ([phys] if phys.is_file() else []) + videos
        detect_modes(videos, args.repeats, args.threads, args.engines.split(","), args.modes_bundle)
        if args.only_modes:
            return
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    fast_detector = {"detector": "yunet", "detector_options": {"model": args.yunet} if args.yunet else {}}
    work = Path(tempfile.mkdtemp(prefix="bench-runtime-"))
    video = args.video or make_video(work / "clip.avi", args.frames)
    model, meta = build_model()
    from edgeaffect._optional import available

    fmt = "openvino" if available("openvino") else "onnx"
    bundle = export(model, meta, work / fmt, fmt)
    onnx_bundle = export(model, meta, work / "onnx", "onnx") if fmt != "onnx" else bundle
    print(f"video {args.frames} frames 640x480, DDAMFN {sum(p.numel() for p in model.parameters()):,} params, "
          f"bundle {fmt}; work dir {work}")

    say("torch eager loop ...")
    torch_fps, torch_top1 = torch_loop(model, meta, video)
    say(f"  {torch_fps:.1f} FPS; edgeaffect fast configuration ...")
    fast, fast_top1 = edge_loop(bundle, video, work / "fast.jsonl", threads=args.threads,
                                detect_every=args.detect_every, **fast_detector)
    say(f"  {fast.fps:.1f} FPS; torch eager loop again ...")
    torch_fps2, _ = torch_loop(model, meta, video)  # again, so machine noise shows in both
    say(f"  {torch_fps2:.1f} FPS; edgeaffect fast configuration again ...")
    fast2, _ = edge_loop(bundle, video, work / "fast2.jsonl", threads=args.threads, detect_every=args.detect_every,
                         **fast_detector)
    fast = max(fast, fast2, key=lambda s: s.fps)
    say(f"  {fast2.fps:.1f} FPS; edgeaffect with the shipped default model ...")
    from edgeaffect.assets import resolve

    default_runs = [edge_loop(resolve("default", "bundle"), video, work / f"default{i}.jsonl", threads=args.threads,
                              detect_every=args.detect_every, **fast_detector)[0] for i in range(2)]
    shipped = max(default_runs, key=lambda s: s.fps)
    say(f"  {shipped.fps:.1f} FPS; edgeaffect on the baseline's crops ...")
    same_crop = dict(detector="haar", detect_every=1, crop=CropOptions(margin=0.0), threads=args.threads)
    ort_same, ort_top1 = edge_loop(onnx_bundle, video, work / "ort.jsonl", **same_crop)
    ov_same, ov_top1 = edge_loop(bundle, video, work / "same.jsonl", backend_options={"inference_precision": "fp32"}
                                 if fmt == "openvino" else {}, **same_crop)
    base = max(torch_fps, torch_fps2)
    print(f"\nFPS (best of 2, interleaved)  torch eager+Haar: {torch_fps:.1f} / {torch_fps2:.1f}   edgeaffect {fmt} "
          f"({fast.precision}) YuNet every {args.detect_every}: {fast.fps:.1f}   ratio {fast.fps / base:.2f}x (target >= 4x)")
    print(f"     edgeaffect default model (onnxruntime) YuNet every {args.detect_every}: "
          f"{' / '.join(f'{r.fps:.1f}' for r in default_runs)}   ratio {shipped.fps / base:.2f}x (target >= 8x)")
    print(f"     edgeaffect Haar every frame: onnxruntime {ort_same.fps:.1f}, {fmt} fp32 {ov_same.fps:.1f}")
    print(f"top-1 agreement with torch, same crops: onnxruntime {agreement(torch_top1, ort_top1)}, "
          f"{fmt} fp32 {agreement(torch_top1, ov_top1)}; fast config: {agreement(torch_top1, fast_top1)}")
    for name, s in (("fast", fast), ("same-crop " + fmt, ov_same)):
        st = {x.stage: x.mean_ms for x in s.stages}
        det = sum(x.mean_ms * x.count for x in s.stages if x.stage == "detect") / max(s.frames, 1)
        rest = st["total"] - det - st["infer"]
        print(f"{name}: per frame total {st['total']:.2f} ms = detect {det:.2f} + infer {st['infer']:.2f} + rest "
              f"{rest:.2f} ({100 * rest / st['total']:.1f} %; decode {st['decode']:.2f}, rest without decode "
              f"{100 * (rest - st['decode']) / st['total']:.1f} %)")

    say(f"long run ({args.minutes} min) ...")
    long = run(RunConfig(bundle=bundle, source=str(video), out=work / "long.jsonl", threads=args.threads,
                         detect_every=args.detect_every, max_seconds=args.minutes * 60, rss_interval_s=2.0,
                         source_options=SourceOptions(loop=True), **fast_detector))
    samples = long.rss_samples
    warm = next((r for t, r in samples if t >= max(10.0, 0.2 * args.minutes * 60)), samples[-1][1])
    growth = 100.0 * (long.rss_mb_end - warm) / warm
    print(f"long run {long.seconds / 60:.1f} min, {long.frames} frames ({long.frames // args.frames} video loops), "
          f"RSS start {long.rss_mb_start:.0f} MiB, after warm-up {warm:.0f}, end {long.rss_mb_end:.0f}, "
          f"peak {long.rss_mb_peak:.0f}: growth {growth:+.2f} % (target < 5 %)")


if __name__ == "__main__":
    main()
