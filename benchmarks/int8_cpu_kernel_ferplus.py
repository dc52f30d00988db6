"""The x86-without-VNNI INT8 effect on real faces: the shipped default model, FER+ valid, one run side by side.

For each INT8 route the bundle's own verification numbers (top-1 agreement, accuracy and UAR float -> INT8,
which ORT kernel ran); for the TensorRT QDQ file also the same file under this CPU's default ORT kernel, which
is what the proxy measured before it asked for exact sums.  Needs EDGEAFFECT_DATA (ferplus).  Pin it:
taskset -c 1, OMP_NUM_THREADS=1.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np


def main() -> None:
    import torch

    from edgeaffect.calibration.sources import from_path
    from edgeaffect.compress.export import export_model
    from edgeaffect.formats import ExportOptions
    from edgeaffect.runtime.backends import create_backend
    from edgeaffect.train.checkpoint import load_model

    model, meta = load_model(Path(__file__).resolve().parents[1] / "edgeaffect" / "assets" / "default" / "run")
    data = Path(os.environ["EDGEAFFECT_DATA"]) / "ferplus"
    routes = [("orin-tensorrt", "jetson-orin-nano", {}), ("laptop-onnx-7bit", "laptop-x86", {"format": "onnx"}),
              ("laptop-onnx-8bit", "laptop-x86", {"format": "onnx", "options": ExportOptions(reduce_range=False)}),
              ("laptop-openvino", "laptop-x86", {"format": "openvino"})]
    with tempfile.TemporaryDirectory() as tmp:
        for name, target, kw in routes:
            out = export_model(model, meta, target=target, out=Path(tmp) / name, precision="int8", calibration=data,
                               verify_data=data, accept_drop=True, **kw)
            c = json.loads((out / "verification.json").read_text())["candidates"][0]
            h, m = c["heads"][0], c["heads"][0]["metrics"]
            print(f"{name:<18} n={c['samples']} agree={h['top1_agreement']:.3f} "
                  f"acc {m['accuracy']['float']:.4f}->{m['accuracy']['export']:.4f} "
                  f"uar {m['uar']['float']:.4f}->{m['uar']['export']:.4f} passed={c['passed']} "
                  f"kernel={c['int8_kernel'] or c['backend']!r}", flush=True)
            if not c["proxy"]:
                continue
            backends = {k: create_backend("onnxruntime", out / "model.onnx", meta, threads=1, exact_int8=k == "exact")
                        for k in ("default", "exact")}
            hits, n = {k: 0 for k in backends}, 0
            for arrays, _ in from_path(data, meta, purpose="verification", n=500, split="valid").batches(32):
                with torch.no_grad():
                    ref = model(torch.from_numpy(arrays[0]))
                ref = (ref[0] if isinstance(ref, (tuple, list)) else ref).numpy().argmax(1)
                for k, b in backends.items():
                    hits[k] += int(np.sum(b.infer(*arrays)[0].argmax(1) == ref))
                n += len(ref)
            print(f"{'':<18} same file, this CPU: default ORT kernel agree={hits['default'] / n:.3f}, "
                  f"exact kernel agree={hits['exact'] / n:.3f}", flush=True)


if __name__ == "__main__":
    main()
