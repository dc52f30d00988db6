"""The on-device benchmark: accuracy x latency x resolution for bundles. Torch-free (runs with the runtime only).

``run_bench(BenchConfig(bundles=..., data=...)) -> BenchResult``; ``BenchResult.save/load`` read and write the
versioned JSON document that ``edgeaffect report`` merges across devices.
"""
from edgeaffect.bench.results import SCHEMA_VERSION, BenchResult, merge
from edgeaffect.bench.run import BenchConfig, run_bench

__all__ = ["SCHEMA_VERSION", "BenchConfig", "BenchResult", "merge", "run_bench"]
