"""Inference backends behind one small protocol (base.py), one file each, loaded on first use. Torch-free."""
from edgeaffect.runtime.backends.base import BACKEND_MODULES, BACKENDS, Backend, create_backend, register_backend

__all__ = ["BACKEND_MODULES", "BACKENDS", "Backend", "create_backend", "register_backend"]
