"""Studies, datasets and their immutable versions (tenant schema)."""
