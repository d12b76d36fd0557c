"""The deterministic demo study that ``seed_demo`` creates in the demo lab."""

from __future__ import annotations

from typing import IO, Any


def demo_study_seed(*, tenant: Any, participants: int, seed: int, stdout: IO[str] | Any) -> None:
    """Fill the demo study of ``tenant``. Studies and datasets arrive with the datasets app's models."""
    stdout.write("Demo study: datasets are not part of this release yet; the demo lab starts empty.")
