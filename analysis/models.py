"""Statistics, plots and profiling of query results."""
