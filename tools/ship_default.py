"""Package a trained run as edgeaffect's shipped default model (``edgeaffect/assets/default/``).

    python tools/ship_default.py RUN_DIR --data $EDGEAFFECT_DATA/ferplus

Writes, replacing what was there:
  run/best.pt      the run's best weights stored as float16 (no optimiser state), its ModelMeta with the
                   dataset's framing, and its resolved config — a run folder for eval/export/compress;
  run/meta.json, run/config.yaml;
  bundle/          ``edgeaffect export`` of that checkpoint for laptop-x86 as ONNX INT8 (``--precision int8``,
                   calibrated on the train split, gated on the valid split's accuracy and UAR; ``fp32`` keeps
                   float16-stored float weights) — what ``edgeaffect run default`` opens, with ONNX Runtime alone;
  checksums.json   sha256 of every file, so a damaged install is reported as one.
Why INT8: on FER+ valid the INT8 bundle scores what the float model does (accuracy and UAR within 0.2 pt), and
the model, the largest cost of a frame once the detector runs on a region around the face, takes ~1.7x less
CPU (measured with benchmarks/bench_runtime.py --cores 1).  The run folder keeps the float weights for eval,
export to other targets and fine-tuning.
MODEL_CARD.md is written by hand from the measured figures; this script does not touch it.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import torch
import yaml

from edgeaffect.assets import DEFAULT_DIR, write_checksums
from edgeaffect.io import packaging_the_default
from edgeaffect.compress.export import export_bundle
from edgeaffect.formats import CalibrationMethod, ExportOptions
from edgeaffect.data import open_dataset
from edgeaffect.meta import ModelMeta
from edgeaffect.train.checkpoint import load_checkpoint
from edgeaffect.train.config import saved_config

SIZE_LIMIT = 10_000_000  # bytes: the package ships within 10 MB


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--data", type=Path, required=True, help="the dataset the run was trained on (verification)")
    ap.add_argument("--n-verify", type=int, default=1000)
    ap.add_argument("--data-as", default="$EDGEAFFECT_DATA/ferplus",
                    help="how the shipped config names its dataset (expanded where it is used, so a user's "
                         "EDGEAFFECT_DATA finds it)")
    ap.add_argument("--precision", choices=("int8", "fp32"), default="int8", help="the bundle's precision")
    ap.add_argument("--calib-method", choices=[m.value for m in CalibrationMethod], default="minmax",
                    help="INT8 range estimator (choose on the valid split: the one whose bundle scores as the float "
                         "model does)")
    ap.add_argument("--dest", type=Path, default=DEFAULT_DIR, help="where to write (tests ship into a scratch folder)")
    args = ap.parse_args(argv)
    dest = args.dest.absolute()

    ckpt = load_checkpoint(args.run, which="best")
    index = open_dataset(args.data, **dict(ckpt["config"]["data"]["options"]))
    meta = ModelMeta.from_dict(ckpt["meta"])
    if meta.framing is None and index.info.get("framing"):
        meta = meta.evolve(framing=index.info["framing"])
    meta = meta.evolve(info={**dict(meta.info), "shipped": "edgeaffect default", "trained_epochs": ckpt["epoch"],
                             "weights": "float16-rounded"})
    # paths as a copied folder can carry them: the data as $EDGEAFFECT_DATA/..., no run folder of this machine
    # (the shipped run is evaluated and exported, never resumed in place), anything else relative to it
    config = saved_config({**ckpt["config"], "data": {**ckpt["config"]["data"], "path": args.data_as},
                           "runtime": {**ckpt["config"]["runtime"], "out": ""}}, dest / "run")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".default-", dir=dest.parent))
    try:
        run = staging / "run"
        run.mkdir()
        # the run's checkpoint as it is, less what only resuming needs, with float16 weights
        payload = {**ckpt, "meta": meta.to_dict(), "config": config, "state": {}, "optimizer": None,
                   "scheduler": None, "rng": None,
                   "model": {k: (v.half() if v.is_floating_point() else v) for k, v in ckpt["model"].items()}}
        torch.save(payload, run / "best.pt")
        meta.save(run / "meta.json")
        (run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        # the staging folder sits beside dest, so what the bundle records relative to its run holds there
        with packaging_the_default():  # the one writer allowed inside the installed package (export refuses users)
            export_bundle(run, target="laptop-x86", out=staging / "bundle", format="onnx", precision=args.precision,
                          verify_data=args.data, n_verify=args.n_verify,
                          calibration=args.data if args.precision == "int8" else None,  # its train split
                          options=ExportOptions(fp16_weights=args.precision == "fp32",
                                                calibration_method=CalibrationMethod(args.calib_method)))
        for sub in ("run", "bundle"):
            shutil.rmtree(dest / sub, ignore_errors=True)
            dest.mkdir(parents=True, exist_ok=True)
            shutil.move(str(staging / sub), str(dest / sub))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    write_checksums(dest)
    total = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    print(f"shipped {args.run} -> {dest} ({total / 1e6:.2f} MB)")
    if total > SIZE_LIMIT:
        raise SystemExit(f"the shipped model is {total / 1e6:.2f} MB, over the {SIZE_LIMIT / 1e6:.0f} MB limit")


if __name__ == "__main__":
    main()
