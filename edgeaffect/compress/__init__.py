"""Compression and export: pruning, quantization, the export-format table, one file per format, verification."""
