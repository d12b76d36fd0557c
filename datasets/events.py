"""What datasets announces to the apps above it (they connect receivers in their ``AppConfig.ready``).

``dataset_registered`` is sent inside the registration transaction of a new dataset (its first version), so a
receiver that fails rolls the registration back."""

from __future__ import annotations

from django.dispatch import Signal

#: kwargs: ``dataset`` (just saved, in the current tenant schema).
dataset_registered = Signal()
