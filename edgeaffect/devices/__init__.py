"""Device profiles (data files under ``profiles/``) and ``detect_device()``. Torch-free."""
from edgeaffect.devices.detect import DetectedDevice, detect_device
from edgeaffect.devices.profiles import ALIASES, PRECISIONS, DeviceProfile, get_profile, list_profiles

__all__ = ["ALIASES", "PRECISIONS", "DetectedDevice", "DeviceProfile", "detect_device", "get_profile", "list_profiles"]
