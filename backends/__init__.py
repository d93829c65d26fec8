"""Built-in training backends, each a plugin module."""
