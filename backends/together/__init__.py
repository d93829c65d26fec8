"""The together backends, on the hosted lifecycle (ftx.hosted): none registered yet."""

from ftx.hookspecs import hookimpl


@hookimpl
def ftx_register_backends(register):
    pass
