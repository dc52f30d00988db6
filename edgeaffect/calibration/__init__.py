"""Calibration sources: a re-iterable of raw samples + the model's own preprocessing, with one adapter per toolkit."""
