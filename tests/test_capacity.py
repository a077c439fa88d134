"""Capacity alone: the LP of capacity and demand, its workloads merged into classes."""

from __future__ import annotations

import itertools
import math
import sys

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse
from scipy.optimize import linprog

from placer.candidates import Candidates, candidates_from_table
from placer.capacity import (
    capacity_lp,
    growth_needed,
    has_room,
    offerings_in_conflict,
    overflows,
)
from placer.problem import candidate_tables
from placer.schema import Policy
from placer.solve import solve_candidates


def _table(rows: list[tuple[str, str, int]], capacity: dict[str, int]) -> Candidates:
    table = pl.DataFrame([{"workload": w, "offering": o, "chips": c, "cost_usd": 1.0}
                          for w, o, c in rows])
    offers = pl.DataFrame({"offering": list(capacity), "capacity_chips": list(capacity.values())})
    return candidates_from_table(*candidate_tables(table, offers))


def _names(candidates: Candidates, mask: np.ndarray) -> list[str]:
    return [candidates.offerings["offering"][i] for i in np.flatnonzero(mask).tolist()]


# Three 6-chip jobs that can run only on o0 or o1, and a 4-chip one on o1 or o2. o0's
# rows are all 6 chips, so of its 8 chips whole jobs fill 6; o1's are 6 and 4, so all 8.
JOBS = [(job, o, 6) for job in ("a", "b", "c") for o in ("o0", "o1")] \
    + [("d", "o1", 4), ("d", "o2", 4)]


def test_workloads_with_the_same_rows_are_one_class():
    lp = capacity_lp(_table(JOBS, {"o0": 8, "o1": 8, "o2": 100}))
    assert sorted(map(sorted, lp.members)) == [[0, 1, 2], [3]]
    assert sorted(lp.work.tolist()) == [1.0, 3.0]
    assert lp.capacity.tolist() == [6.0, 8.0, 100.0]  # the chips whole jobs can fill


def test_the_offerings_in_conflict_and_how_far_each_must_grow():
    candidates = _table(JOBS, {"o0": 8, "o1": 8, "o2": 100})
    lp = capacity_lp(candidates)
    assert not has_room(lp)
    conflict = offerings_in_conflict(lp)
    # d can go to o2, so o2 is no part of it: a, b and c need 18 chips where 6 + 8 fit
    assert _names(candidates, conflict) == ["o0", "o1"]
    confined = lp.confined_to(conflict)
    assert sorted(w for k in np.flatnonzero(confined) for w in lp.members[k]) == [0, 1, 2]
    assert growth_needed(lp, conflict, 0) == pytest.approx(4.0)
    assert growth_needed(lp, conflict, 1) == pytest.approx(4.0)
    assert has_room(capacity_lp(_table(JOBS, {"o0": 12, "o1": 8, "o2": 100})))


def test_the_deletion_filter_keeps_a_minimal_set_and_says_what_no_growth_fixes():
    # each 4-chip job has one offering of 2 chips: either offering alone is a conflict
    lp = capacity_lp(_table([("a", "o0", 4), ("b", "o1", 4)], {"o0": 2, "o1": 2}))
    conflict = offerings_in_conflict(lp)
    assert conflict.tolist() == [False, True]  # o0 is tried first, and is not needed
    assert growth_needed(lp, conflict, 1) == pytest.approx(4.0)
    # with both in the set, no growth of o0 alone lets b fit
    assert growth_needed(lp, np.array([True, True]), 0) == math.inf


def _rows_lp_has_solution(candidates: Candidates) -> bool:
    """The same LP over the rows themselves, no classes: each workload's rows cover one
    job, every offering within the chips whole jobs can fill."""
    rows = candidates.rows
    lp = capacity_lp(candidates)
    offering = {o: i for i, o in enumerate(candidates.offerings["offering"].to_list())}
    n = rows.height
    at = np.arange(n)
    cover = sparse.csr_matrix((-np.ones(n), (rows["w"].to_numpy(), at)),
                              shape=(candidates.workloads.height, n))
    held = sparse.csr_matrix((rows["unit_chips"].to_numpy().astype(float),
                              ([offering[o] for o in rows["offering"]], at)),
                             shape=(len(offering), n))
    solved = linprog(np.zeros(n), A_ub=sparse.vstack([cover, held]),
                     b_ub=np.r_[-np.ones(candidates.workloads.height), lp.capacity],
                     bounds=(0, None), method="highs")
    return solved.status == 0


def _any_plan(rows: list[tuple[str, str, int]], capacity: dict[str, int]) -> bool:
    """Brute force: one row per job, every offering within its capacity."""
    jobs = sorted({w for w, _, _ in rows})
    choices = [[(o, c) for w2, o, c in rows if w2 == w] for w in jobs]
    for pick in itertools.product(*choices):
        used: dict[str, int] = {}
        for o, c in pick:
            used[o] = used.get(o, 0) + c
        if all(used[o] <= capacity[o] for o in used):
            return True
    return False


@st.composite
def _instances(draw: st.DrawFn) -> tuple[list[tuple[str, str, int]], dict[str, int]]:
    offerings = [f"o{i}" for i in range(draw(st.integers(2, 3)))]
    capacity = {o: draw(st.integers(1, 12)) for o in offerings}
    rows = []
    for job in range(draw(st.integers(1, 5))):
        mine = draw(st.lists(st.sampled_from(offerings), min_size=1, max_size=3, unique=True))
        rows += [(f"w{job}", o, draw(st.sampled_from([1, 2, 4, 6, 8]))) for o in mine]
    return rows, capacity


@settings(max_examples=150, deadline=None)
@given(_instances())
def test_capacity_alone_never_rules_out_a_plan_that_exists(instance):
    rows, capacity = instance
    candidates = _table(rows, capacity)
    lp = capacity_lp(candidates)
    room = has_room(lp)
    assert room == _rows_lp_has_solution(candidates)  # the classes lose nothing
    if room:
        return
    assert not _any_plan(rows, capacity)
    conflict = offerings_in_conflict(lp)
    assert overflows(lp, conflict)
    names = candidates.offerings["offering"].to_list()
    for at in np.flatnonzero(conflict).tolist():
        rest = conflict.copy()
        rest[at] = False
        assert not overflows(lp, rest)  # minimal
        # a floor: at fewer chips than it says, there is still no plan
        needed = growth_needed(lp, conflict, at)
        if math.isfinite(needed):
            short = dict(capacity)
            short[names[at]] = math.ceil(lp.capacity[at] + needed - 1e-6) - 1
            assert short[names[at]] < 0 or not _any_plan(rows, short)


def test_a_fleet_short_of_capacity_ends_before_its_parts(monkeypatch):
    solve_module = sys.modules["placer.solve"]
    monkeypatch.setattr(solve_module, "in_parts", lambda candidates, time_limit: True)
    monkeypatch.setattr(solve_module, "_solve_in_parts", lambda *args: pytest.fail("parts"))
    assert capacity_lp(_table(JOBS, {"o0": 8, "o1": 8, "o2": 100})).merged
    table = pl.DataFrame([{"workload": w, "offering": o, "chips": c, "cost_usd": 1.0}
                          for w, o, c in JOBS])
    offers = pl.DataFrame({"offering": ["o0", "o1", "o2"], "capacity_chips": [8, 8, 100]})
    plan = solve_candidates(table, offers, Policy(), time_limit=10)
    assert plan.status == "infeasible"
    assert plan.solver["infeasible_by"] == "capacity"
    assert plan.solver["stop_reason"] == "infeasible" and plan.solver["deterministic"]
    # a small model's explanation is CP-SAT's, exact: two whole jobs fill o0's 12
    assert plan.explanation == [
        "these rules cannot all hold together: capacity of o0 (8 chips); capacity of o1 "
        "(8 chips)",
        "relaxing one of them is enough: add 4 chips to o0 (8 → 12); or add 4 chips to o1 "
        "(8 → 12)"]


def test_where_workloads_do_not_merge_the_lp_of_capacity_is_not_run(monkeypatch):
    # one row per job, all different: no classes merge, and the whole's LP decides
    rows = [("a", "o0", 6), ("b", "o0", 4), ("c", "o0", 2)]
    lp = capacity_lp(_table(rows, {"o0": 10}))
    assert not lp.merged and not has_room(lp)
    table = pl.DataFrame([{"workload": w, "offering": o, "chips": c, "cost_usd": 1.0}
                          for w, o, c in rows])
    plan = solve_candidates(table, pl.DataFrame({"offering": ["o0"], "capacity_chips": [10]}),
                            Policy(), time_limit=10)
    assert plan.status == "infeasible" and plan.solver["infeasible_by"] == "lp relaxation"


def test_optional_work_never_makes_capacity_short():
    # two 696-chip gangs on one offering of 1,024 chips: short while both are required
    from placer.candidates import build_candidates
    from placer.problem import problem_from_dict

    def lp_of(required_b: bool):
        problem = problem_from_dict({
            "policy": {"allow": {"offering": ["nebius/eu-north1/h100"]}},
            "workloads": [
                {"name": "a", "kind": "training", "chip_hours": 500000, "deadline_days": 30},
                {"name": "b", "kind": "training", "chip_hours": 500000, "deadline_days": 30,
                 "required": required_b, **({} if required_b else {"value_usd": 1.0})}]})
        return capacity_lp(build_candidates(problem))

    short = lp_of(True)
    assert short.work.sum() == 2 and short.chips.tolist() == [696.0]
    assert not has_room(short)
    relaxed = lp_of(False)
    assert relaxed.work.sum() == 1 and has_room(relaxed)


def test_the_explanation_says_which_offerings_no_growth_within_reach_fixes(monkeypatch):
    # 100 one-chip jobs on o0 (2 chips) or o1 (20): 78 chips short. o1 may grow 16-fold,
    # o0 only to 66 chips (64 instances more): not enough
    from placer import explain

    monkeypatch.setattr(explain, "LP_FIRST_ABOVE_ROWS", 0)
    table = pl.DataFrame([{"workload": f"j{i:02d}", "offering": o, "chips": 1, "cost_usd": 1.0}
                          for i in range(100) for o in ("o0", "o1")])
    offers = pl.DataFrame({"offering": ["o0", "o1"], "capacity_chips": [2, 20]})
    plan = solve_candidates(table, offers, Policy(), time_limit=10)
    assert plan.solver["infeasible_by"] == "capacity"
    assert plan.explanation == [
        "capacity alone rules out a plan (the LP of capacity and demand has no solution, "
        "every cap, spread and budget aside): the 100 workloads that can run only on these "
        "offerings (j00, j01, j02 and 97 more) need more than they hold: capacity of o0 "
        "(2 chips); capacity of o1 (20 chips)",
        "relaxing one of them alone takes, by the LP: add at least 78 chips to o1 (20 → 98); "
        "no growth up to 16 times its capacity (or 64 instances more) is enough for o0"]
