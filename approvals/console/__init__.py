"""The steward console (mounted at /console/), one module per page family: ``requests`` (home and the access-request
queue), ``members``, ``grants`` (grants, teams, explain, terms of use), ``activity`` (count activity and budgets)
and ``settings`` (workspace settings); ``common`` holds what they share.

Every page needs the steward or owner role; the views only parse forms and call the services of ``tenants``,
``access`` and ``approvals`` (which authorize again and audit).
"""
