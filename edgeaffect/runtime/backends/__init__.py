"""Inference backends behind one small protocol, one file each, registered by name. Torch-free."""
