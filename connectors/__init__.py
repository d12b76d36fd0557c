"""Connectors: external databases, object storage, REDCap and LORIS feeding studies through the ingest job.

``connectors.core`` is Django-free (the registry and the built-in connectors); the app on top keeps connections
(secrets encrypted at rest), syncs and their runs.
"""
