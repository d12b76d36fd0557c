"""The governance tests use the "gov" study and the helpers around it (tests/plugins/studies.py)."""
