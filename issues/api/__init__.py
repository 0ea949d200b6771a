"""The cases API, mounted at /api/v1/issues/ (config.urls)."""
