"""The page-polish tests use the governance study "gov" and members at each level (tests/plugins/studies.py)."""
