"""Dataset readers, one file per published layout, plus the built-in synthetic data.

Torch-free: training, calibration and the on-device benchmark all read data
through here (that is why it sits beside, not inside, ``train/``).
``open_dataset(path)`` detects the layout; readers are tried in the order of
``READER_MODULES`` (most specific first, generic class folders last).
"""
import importlib

from edgeaffect.data.base import (EXPRESSIONS_8, READERS, ClipRecord, DatasetIndex, Record, Skipped, TabularRecord,
                                  open_dataset, register_reader)

READER_MODULES = ("ferplus", "affectnet", "rafdb", "fer2013csv", "ubfc_phys", "physrecorder", "ubfc_rppg", "pure",
                  "ubfc_phys_rppg", "e4", "tabular", "folders")

for _name in READER_MODULES:
    importlib.import_module(f"edgeaffect.data.{_name}")

__all__ = ["EXPRESSIONS_8", "READERS", "ClipRecord", "DatasetIndex", "Record", "Skipped", "TabularRecord",
           "open_dataset", "register_reader"]
