"""Test and demo support shipped with the engine: the mock teacher (``engine mock-teacher``)."""
