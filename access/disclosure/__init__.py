"""Disclosure control for aggregate-only access: the cell-key method (Django-free).

The ONE mechanism every count surface calls (counts, filtering reports, builder, crosstabs, run row counts and
summaries, data dictionary and catalog):

- :mod:`~access.disclosure.keys` — record keys (one fixed secret key per participant of a study) and cell keys (the
  sum of the record keys of the distinct participants counted);
- :mod:`~access.disclosure.ptable` — the perturbation table (maximum noise D, zero mean, variance V, no negative
  counts, 0 stays 0);
- :mod:`~access.disclosure.cells` — one count as an aggregate-only caller sees it (perturbed, suppressed below k,
  decided on participants);
- :mod:`~access.disclosure.tables` — tables of cells with totals (crosstabs; per-study cells against a federated
  total) with complementary suppression;
- :mod:`~access.disclosure.profiles` — catalog statistics (values, missing counts, bounds) under the same rule;
- :mod:`~access.disclosure.budget` — the per-user, per-study budget of distinct questions (decided on what was
  asked, never on the answer).
"""

from access.disclosure.budget import BudgetDecision, BudgetPolicy, Question, QuestionId, budget_decide, questions_of
from access.disclosure.cells import EMPTY, SUPPRESSED, Cell, DisclosureRules, ShownCell, protect_cell
from access.disclosure.keys import (
    KEY_MODULUS,
    cell_key,
    combine_cell_keys,
    record_key,
    record_key_table,
    secret_fingerprint,
    study_secret,
)
from access.disclosure.profiles import ColumnCells, VersionCells, protect_profile, shown_values
from access.disclosure.ptable import PerturbationTable, perturbation_table
from access.disclosure.tables import Line, crosstab_lines, protect_parts_and_total, protect_table, total_of_disjoint

__all__ = [
    "EMPTY",
    "KEY_MODULUS",
    "SUPPRESSED",
    "BudgetDecision",
    "BudgetPolicy",
    "Cell",
    "ColumnCells",
    "DisclosureRules",
    "Line",
    "PerturbationTable",
    "Question",
    "QuestionId",
    "ShownCell",
    "VersionCells",
    "budget_decide",
    "cell_key",
    "combine_cell_keys",
    "crosstab_lines",
    "perturbation_table",
    "protect_cell",
    "protect_parts_and_total",
    "protect_profile",
    "protect_table",
    "questions_of",
    "record_key",
    "record_key_table",
    "secret_fingerprint",
    "shown_values",
    "study_secret",
    "total_of_disjoint",
]
