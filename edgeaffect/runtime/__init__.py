"""The torch-free runtime: source -> detect -> crop -> backend -> smooth -> sink.

This package must never import torch (a test enforces it): it runs on a
Raspberry Pi or a Jetson with only ``pip install 'edgeaffect'`` plus the extra
of its backend.
"""
