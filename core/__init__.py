"""The platform core every app stands on: errors, configuration, limits and budgets, pagination, CSV safety, the
column-type vocabulary and monitoring primitives. It imports no app of the platform (import-linter enforces it)."""
