"""The Django-free query core: what a query may touch (``catalog``), what it says (``spec``), the SQL it compiles
to (``compiler``), what it will cost (``estimate``) and the engines that run it (``engines``). Plain dataclasses and
pydantic models in, rows and Parquet files out; ``queries.execution`` is the only bridge from the app."""
