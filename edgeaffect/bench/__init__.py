"""The on-device benchmark: accuracy x latency x resolution for bundles. Torch-free (runs with the runtime only)."""
