"""edgeaffect: train, compress, export and run affective-computing vision models on edge devices.

Importing the package is cheap and torch-free; heavy libraries load inside the
functions that need them (see ``edgeaffect._optional``).
"""
__version__ = "0.1.0"
