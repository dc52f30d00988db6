"""Model families, one file each, registered by name (see edgeaffect.train.registry)."""
