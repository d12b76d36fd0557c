"""What tenants announces to the apps above it (they connect receivers in their ``AppConfig.ready``).

``member_removed`` is sent inside the transaction that removed the membership, after the row is gone: a receiver
that fails rolls the removal back, so nothing the person held survives a removal that succeeded.
``member_role_changed`` is sent the same way, inside the transaction that changed a member's role, after the change:
what the person may no longer do with the new role ends with it."""

from __future__ import annotations

from django.dispatch import Signal

#: kwargs: ``tenant``, ``user`` (the person removed), ``actor``, ``request`` (or None).
member_removed = Signal()

#: kwargs: ``tenant``, ``user`` (the member), ``role`` (the new role), ``actor``, ``request`` (or None).
member_role_changed = Signal()
