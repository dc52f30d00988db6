"""Remote pulse (rPPG): heart rate from the skin colour of a face video, torch-free.

``skin.py`` reduces a tracked face to one mean colour per frame; the
estimators (one file each, registered by name: ``green``, ``chrom``, ``pos``)
turn that trace into a pulse wave; ``spectrum.py`` band-passes it and reads the
heart rate and SNR off its spectrum; ``trace.py`` resamples traces evenly,
estimates per window and keeps the rolling window of a live track;
``quality.py`` says when there is no pulse to read (a still picture, a flat or
glitching contact sensor).  Sits below ``data``/``runtime``/``bench``, which
all use it; it needs numpy, OpenCV and ``scipy.signal`` (the ``pulse`` extra).
"""
from edgeaffect.pulse.base import ESTIMATORS, Estimator, get_estimator, pulse_wave, register_estimator
from edgeaffect.pulse import chrom, green, pos  # noqa: F401  (registration)
from edgeaffect.pulse.spectrum import bandpass, heart_rate, snr_db

__all__ = ["ESTIMATORS", "Estimator", "bandpass", "get_estimator", "heart_rate", "pulse_wave", "register_estimator",
           "snr_db"]
