"""The study pages and API (``/studies/``, ``/api/v1/studies/``): the catalog of studies and datasets, the new-study
wizard, uploads, version lineage and deletion, the data dictionary.

They stand above ``access`` and ``queries``: what a page shows of a study (statistics, ingest reports, who used a
version) is decided by access's disclosure rules and read from the queries app. The data itself (models, ingest,
storage, services) is the ``datasets`` app below."""
