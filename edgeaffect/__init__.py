"""edgeaffect: train, compress, export and run affective-computing vision models on edge devices.

Importing the package is cheap and torch-free; heavy libraries load inside the
functions that need them (see ``edgeaffect._optional``).  Importing it also
switches off the telemetry of the libraries it loads (``edgeaffect._telemetry``):
the runtime never uses the network.

The Python API (``__all__``) is the runtime's, loaded on first use (PEP 562), torch-free::

    import edgeaffect
    model = edgeaffect.load("default")
    faces = model("photo.jpg")            # tuple of FaceResult: .label, .scores, .box, .to_dict()
"""
from edgeaffect._telemetry import telemetry_off as _telemetry_off

_telemetry_off()

__version__ = "0.1.0"

# public name -> the runtime module that holds it (imported when the name is first used)
_PUBLIC = {
    "load": "edgeaffect.runtime.predictor",
    "draw": "edgeaffect.runtime.predictor",
    "FacePredictor": "edgeaffect.runtime.predictor",
    "FaceResult": "edgeaffect.runtime.results",
    "FrameResult": "edgeaffect.runtime.results",
    "RunSummary": "edgeaffect.runtime.results",
    "RunConfig": "edgeaffect.runtime.pipeline",
    "run": "edgeaffect.runtime.pipeline",
    "run_config": "edgeaffect.runtime.runflags",
    "EdgeAffectError": "edgeaffect.errors",
}
__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str):
    if name in _PUBLIC:
        import importlib

        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'edgeaffect' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
