"""The version of the client (also sent as its User-Agent)."""

__version__ = "0.1.0"
