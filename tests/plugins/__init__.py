"""Fixture modules registered with ``pytest_plugins`` in tests/conftest.py: shared by every suite."""
