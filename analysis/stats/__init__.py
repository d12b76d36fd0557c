"""Django-free statistics of query results: OLS, distributions, group comparisons, crosstabs, profiles.

Every function takes plain arrays or a result Parquet path and returns JSON-ready dicts; bad input raises
:class:`StatsError` with a code and a safe message. The Django side (``analysis.services``) maps it to 422.
"""

from analysis.stats.errors import StatsError

__all__ = ["StatsError"]
