"""A density histogram split by a group column leaves out the rows without a group (scaled to area 1 on their own,
a handful of rows would dwarf the real groups) and says how many; the count histogram keeps them."""

from __future__ import annotations

import numpy as np

from analysis.figures import Limits, figure_build, options_parse
from analysis.stats.loading import Frame

VALUES = [float(v) for v in range(40)]
GROUPS = [None, None, None] + ["A", "B"] * 18 + ["A"]


def _frame() -> Frame:
    return Frame(
        columns={"score": VALUES, "grp": GROUPS},
        keys=np.arange(40),
        total_rows=40,
        sampled=False,
        types={"score": "float", "grp": "string"},
    )


def _build(kde: bool) -> dict:
    options = options_parse({"kind": "histogram", "x": "score", "color": "grp", "kde": kde})
    return figure_build(_frame(), options, Limits(max_groups=50, max_facets=12))


def test_density_view_leaves_out_the_missing_group_and_says_so() -> None:
    result = _build(kde=True)
    names = {trace.get("name") for trace in result["figure"]["data"] if trace.get("type") == "histogram"}
    assert names == {"A", "B"}
    assert result["stats"]["color_note"].startswith("3 rows without a grp value are left out of the density view")


def test_count_view_keeps_every_group() -> None:
    result = _build(kde=False)
    names = {trace.get("name") for trace in result["figure"]["data"] if trace.get("type") == "histogram"}
    assert names == {"A", "B", "(missing)"}
    assert "color_note" not in result["stats"]
