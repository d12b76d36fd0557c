"""The query pages: the cohort builder, run pages, parameter (TOML) import and export, lineage of a run. Thin views
over the queries app; what a page may show comes from its services and selectors."""
