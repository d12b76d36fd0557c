"""The cell-key method's core (``access.disclosure``): the perturbation table's documented properties, cells,
tables with complementary suppression, catalog profiles and the budget decision. No database, no Django."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from access.disclosure import (
    EMPTY,
    KEY_MODULUS,
    BudgetPolicy,
    Cell,
    ColumnCells,
    DisclosureRules,
    Line,
    Question,
    budget_decide,
    cell_key,
    combine_cell_keys,
    crosstab_lines,
    perturbation_table,
    protect_cell,
    protect_parts_and_total,
    protect_profile,
    protect_table,
    questions_of,
    record_key,
    total_of_disjoint,
)
from access.disclosure.profiles import outward_bound, significant
from access.disclosure.ptable import uniform_variance

SECRET = b"core-test-secret-0123456789abcdef0123"
RULES = DisclosureRules.build(threshold=10, max_noise=3, variance=2.0)


def keys_of(ids: list[str]) -> int:
    return cell_key(record_key(SECRET, i) for i in ids)


def cell_of(ids: list[str]) -> Cell:
    return Cell.of_participants(len(ids), keys_of(ids))


@pytest.mark.parametrize(("max_noise", "variance"), [(1, 0.5), (2, 1.0), (3, 2.0), (5, 4.0), (4, 100.0)])
def test_every_row_of_the_table_keeps_the_documented_properties(max_noise: int, variance: float) -> None:
    table = perturbation_table(max_noise, variance)
    for count in range(40):
        distribution = table.distribution(count)
        assert abs(sum(distribution.values()) - 1.0) < 1e-12
        assert all(abs(noise) <= max_noise for noise in distribution)  # maximum noise D
        assert all(count + noise >= 0 for noise in distribution)  # no negative counts
        mean = sum(noise * p for noise, p in distribution.items())
        assert abs(mean) < 1e-9  # zero mean per count
        spread = sum((noise - mean) ** 2 * p for noise, p in distribution.items())
        if count >= max_noise:  # fixed variance V (or the uniform's, the largest a -D..D noise can have)
            assert abs(spread - min(variance, uniform_variance(max_noise))) < 1e-6
        else:
            assert spread <= min(variance, uniform_variance(max_noise)) + 1e-9
    assert table.distribution(0) == {0: 1.0}  # 0 stays 0


def test_the_quantized_lookup_follows_the_distribution_and_is_exact_integer_arithmetic() -> None:
    table = perturbation_table(3, 2.0)
    row = table.row(25)
    assert row.thresholds[-1] == KEY_MODULUS and list(row.thresholds) == sorted(row.thresholds)
    rng = random.Random(5)
    draws = [table.noise(25, rng.randrange(KEY_MODULUS)) for _ in range(40_000)]
    for noise, probability in table.distribution(25).items():
        assert abs(draws.count(noise) / len(draws) - probability) < 0.01
    assert abs(sum(draws) / len(draws)) < 0.03  # unbiased in practice too
    assert all(table.perturb(0, key) == 0 for key in range(0, KEY_MODULUS, KEY_MODULUS // 997))


def test_no_positive_count_below_k_is_ever_shown_and_suppression_is_decided_on_participants() -> None:
    rng = random.Random(11)
    for participants in range(30):
        for _ in range(200):
            cell = Cell(participants, participants * 3, rng.randrange(KEY_MODULUS), rng.randrange(KEY_MODULUS))
            shown = protect_cell(cell, RULES)
            if shown.suppressed:
                assert shown.participants is None and shown.rows is None
            else:
                assert shown.participants is not None and shown.rows is not None
                assert shown.participants >= RULES.threshold and shown.rows >= shown.participants
                assert participants >= RULES.threshold  # a group of fewer than k is never shown
                assert abs(shown.participants - participants) <= 3
    # 8 participants with 15 rows (finding 5): never shown, whatever the rows and the keys
    assert all(protect_cell(Cell(8, 15, key, key), RULES).suppressed for key in range(0, KEY_MODULUS, 7919 * 4099))


def test_the_same_set_always_gives_the_same_cell_key_and_number() -> None:
    ids = [f"P{i:03d}" for i in range(40)]
    shuffled = ids[::-1]
    assert keys_of(ids) == keys_of(shuffled)
    assert protect_cell(cell_of(ids), RULES) == protect_cell(cell_of(shuffled), RULES)
    # adding or removing one person gives a key that looks unrelated
    keys = {keys_of(ids[:i] + ids[i + 1 :]) for i in range(len(ids))}
    assert len(keys) == len(ids)


def test_differencing_a_set_and_the_set_minus_one_person_does_not_reveal_the_one() -> None:
    ids = [f"P{i:04d}" for i in range(300)]
    whole = protect_cell(cell_of(ids), RULES).participants
    assert whole is not None
    differences = [whole - protect_cell(cell_of(ids[:i] + ids[i + 1 :]), RULES).participants for i in range(300)]
    assert sum(1 for d in differences if d == 1) < 0.4 * len(differences)  # "exactly one removed" is rarely visible
    assert len(set(differences)) >= 5 and min(differences) <= 0 and max(differences) >= 2


def test_a_cross_sectional_cell_shows_equal_participants_and_rows() -> None:
    shown = protect_cell(cell_of([f"P{i}" for i in range(50)]), RULES)
    assert shown.participants == shown.rows


def test_complementary_suppression_hides_a_second_part_when_one_is_hidden() -> None:
    people = [f"P{i:03d}" for i in range(100)]
    parts = {"a": people[:60], "b": people[60:97], "c": people[97:]}  # c: 3 people
    cells = {name: cell_of(ids) for name, ids in parts.items()}
    shown, total = protect_parts_and_total(cells, RULES)
    assert not total.suppressed and shown["c"].suppressed
    assert shown["b"].suppressed and not shown["a"].suppressed  # the smallest other part goes too
    # a hidden part alone in its line hides the total
    only, total_only = protect_parts_and_total({"c": cells["c"]}, RULES, total=cell_of(people[:40]))
    assert only["c"].suppressed and total_only.suppressed
    # a hidden whole hides its parts
    tiny = {"x": cell_of(people[:4]), "y": cell_of(people[4:8])}
    shown_tiny, whole = protect_parts_and_total(tiny, RULES, total=Cell.of_participants(3, 5))
    assert whole.suppressed and all(cell.suppressed for cell in shown_tiny.values())


def test_federated_totals_combine_per_study_keys() -> None:
    first, second = [f"A{i}" for i in range(30)], [f"B{i}" for i in range(25)]
    total = total_of_disjoint([cell_of(first), cell_of(second)])
    assert total.participants == 55 and total.participants_key == combine_cell_keys(keys_of(first), keys_of(second))
    assert total.participants_key == keys_of(first + second)


def test_a_crosstab_never_leaves_exactly_one_hidden_cell_in_a_line() -> None:
    rng = random.Random(3)
    people = [f"P{i:04d}" for i in range(400)]
    for _ in range(30):
        rows, columns = ["r1", "r2", "r3"], ["c1", "c2", "c3", "c4"]
        assignment = {person: (rng.choice(rows), rng.choices(columns, weights=[20, 20, 1, 5])[0]) for person in people}
        cells: dict = {}
        for r in rows:
            for c in columns:
                cells[("cell", r, c)] = cell_of([p for p, rc in assignment.items() if rc == (r, c)])
            cells[("row", r)] = cell_of([p for p, rc in assignment.items() if rc[0] == r])
        for c in columns:
            cells[("column", c)] = cell_of([p for p, rc in assignment.items() if rc[1] == c])
        cells[("total",)] = cell_of(people)
        lines = crosstab_lines(rows, columns)
        shown = protect_table(cells, lines, RULES)
        for line in lines:
            hidden = [part for part in line.parts if shown[part].suppressed]
            if not shown[line.total].suppressed:
                assert len(hidden) != 1, line
            else:
                assert len(hidden) == len(line.parts)


def test_tables_reject_lines_naming_unknown_cells() -> None:
    with pytest.raises(KeyError):
        protect_table({"a": EMPTY}, [Line("total", ("a",))], RULES)


def test_catalog_profiles_keep_rare_values_and_extremes_out_of_sight() -> None:
    people = [f"P{i:03d}" for i in range(60)]
    profile = {
        "name": "diagnosis",
        "type": "string",
        "missing": 2,
        "distinct": 3,
        "top_values": [{"value": "common", "count": 55}, {"value": "rare", "count": 3}],
        "histogram": {"edges": [0, 1], "counts": [3]},
    }
    cells = ColumnCells(
        name="diagnosis",
        missing=cell_of(people[:2]),
        values=(("common", cell_of(people[2:57])), ("rare", cell_of(people[57:]))),
    )
    shown = protect_profile(profile, cells, RULES)
    assert [item["value"] for item in shown["top_values"]] == ["common"] and shown["distinct"] == 1
    assert shown["missing"] is None and shown["histogram"] is None
    ages = {"name": "age", "type": "float", "min": 18.25, "max": 100.5, "mean": 41.23456, "std": 12.3456}
    bounded = protect_profile(ages, ColumnCells(name="age", missing=EMPTY, lower=19.3, upper=87.2), RULES)
    assert bounded["min"] == 19 and bounded["max"] == 88 and bounded["mean"] == 41.2 and bounded["std"] == 12.3
    assert protect_profile(ages, None, RULES)["max"] is None
    hidden = protect_profile(profile, cells, RULES, values_hidden=True)
    assert hidden["top_values"] is None and hidden["min"] is None


def test_outward_bounds_round_away_from_the_data() -> None:
    assert significant(87.2, 2, "up") == 88 and significant(19.3, 2, "down") == 19
    assert significant(0.01234, 2, "down") == 0.012 and significant(-3.21, 2, "down") == -3.3
    assert outward_bound(1234, "integer", "up") == 1300 and outward_bound(1234, "integer", "down") == 1200
    assert outward_bound("2021-03-17", "date", "down") == "2021-03-01"
    assert outward_bound("2021-02-03", "date", "up") == "2021-02-28"
    assert outward_bound("Aaron", "string", "down") is None


def test_the_budget_counts_distinct_questions_and_repeats_are_free() -> None:
    policy = BudgetPolicy(questions=3, window=timedelta(hours=24))
    count, step = Question("count", "spec+versions", "count"), Question("report", "spec+versions", "step:1")
    assert count.identity != step.identity != Question("count", "spec+new versions", "count").identity
    assert count.identity == questions_of("count", "spec+versions", ["count"])[0].identity  # from the request alone
    first = budget_decide(used=0, answered=set(), asked={count.identity, step.identity}, policy=policy)
    assert first.allowed and first.used_after == 2
    repeat = budget_decide(used=2, answered={count.identity}, asked={count.identity}, policy=policy)
    assert repeat.allowed and repeat.used_after == 2 and not repeat.new
    over = budget_decide(used=3, answered=set(), asked={"another"}, policy=policy)
    assert not over.allowed and over.used_after == 3
    now = datetime(2030, 1, 2, tzinfo=UTC)
    assert policy.window_start(now) == now - timedelta(hours=24)
    assert policy.window_start(now, reset_at=now - timedelta(hours=1)) == now - timedelta(hours=1)


def test_rules_and_tables_refuse_nonsense_parameters() -> None:
    for bad in ({"threshold": 0, "max_noise": 3, "variance": 2.0}, {"threshold": 5, "max_noise": 0, "variance": 1.0}):
        with pytest.raises(ValueError):
            DisclosureRules.build(**bad)
    with pytest.raises(ValueError):
        perturbation_table(3, 0.0)
    with pytest.raises(ValueError):
        Cell(-1, 0, 0, 0)
