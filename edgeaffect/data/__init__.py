"""Dataset readers, one file per published format, plus the built-in synthetic data. Torch-free: train, calibration and the on-device benchmark all read data through here."""
