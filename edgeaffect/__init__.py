"""edgeaffect: train, compress, export and run affective-computing vision models on edge devices.

Importing the package is cheap and torch-free; heavy libraries load inside the
functions that need them (see ``edgeaffect._optional``).  Importing it also
switches off the telemetry of the libraries it loads (``edgeaffect._telemetry``):
the runtime never uses the network.
"""
from edgeaffect._telemetry import telemetry_off as _telemetry_off

_telemetry_off()

__version__ = "0.1.0"
