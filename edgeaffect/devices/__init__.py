"""Device profiles (data files under profiles/) and detect_device()."""
