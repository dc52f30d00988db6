"""Face detectors, one file each, registered by name (see ``base.py``)."""
from edgeaffect.detectors.base import DETECTORS, Face, FaceDetector, create_detector, largest, register_detector
from edgeaffect.detectors import dlib_hog, haar, none, yunet  # noqa: F401  (registration)

__all__ = ["DETECTORS", "Face", "FaceDetector", "create_detector", "largest", "register_detector"]
