"""Query runs and saved queries (tenant schema)."""
