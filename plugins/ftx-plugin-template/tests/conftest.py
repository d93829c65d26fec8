from ftx.testing import ftx_env, ftx_run, tiny_model  # noqa: F401  (ftx's fixtures for plugin tests)
