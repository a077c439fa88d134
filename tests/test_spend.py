"""The LP of capacity, the share caps and the budget, its workloads merged into classes."""

from __future__ import annotations

import itertools
import math
import sys
from fractions import Fraction

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from placer import explain
from placer.candidates import Candidates, candidates_from_table
from placer.problem import candidate_tables
from placer.schema import Policy
from placer.solve import solve_candidates
from placer.spend import growth_needed, has_room, rules_in_conflict, spend_lp, violated, with_cap

Row = tuple[str, str, str, int, float]  # workload, offering, provider, chips, cost_usd


def _tables(rows: list[Row], capacity: dict[str, int]) -> tuple[pl.DataFrame, pl.DataFrame]:
    table = pl.DataFrame([{"workload": w, "offering": o, "provider": p, "chips": c,
                           "cost_usd": cost} for w, o, p, c, cost in rows])
    offers = pl.DataFrame({"offering": list(capacity), "capacity_chips": list(capacity.values())})
    return table, offers


def _candidates(rows: list[Row], capacity: dict[str, int]) -> Candidates:
    return candidates_from_table(*candidate_tables(*_tables(rows, capacity)))


def _policy(provider: float | None = None, budget: float | None = None) -> Policy:
    return Policy.model_validate({"max_share": {"provider": provider}, "budget_usd": budget})


# Four one-chip jobs, alike, each on a's 10 chips or b's 1, $1 either way. Under a 50 %
# provider cap b must carry two of them; it holds one.
JOBS = [(job, o, p, 1, 1.0) for job in ("j1", "j2", "j3", "j4")
        for o, p in (("oa", "a"), ("ob", "b"))]


def test_alike_workloads_are_one_class_and_a_cap_capacity_cannot_keep_is_found():
    candidates = _candidates(JOBS, {"oa": 10, "ob": 1})
    lp = spend_lp(candidates, _policy(provider=0.5))
    assert sorted(map(sorted, lp.members)) == [[0, 1, 2, 3]] and lp.work.tolist() == [4.0]
    assert not has_room(lp)
    assert rules_in_conflict(lp) == ["capacity:ob", "max_share.provider"]
    rules = set(lp.rules())
    # a must keep 3 of 4 jobs: its share 0.75; b must grow by one chip
    assert not violated(with_cap(lp, "provider", 0.75), rules)
    assert violated(with_cap(lp, "provider", 0.74), rules)
    assert growth_needed(lp, rules, "capacity:ob") == pytest.approx(1.0)
    assert has_room(spend_lp(_candidates(JOBS, {"oa": 10, "ob": 2}), _policy(provider=0.5)))
    # no cap, no budget: capacity alone, which has room
    assert has_room(spend_lp(candidates, _policy()))


def test_a_budget_below_the_cheapest_placement_is_found_with_how_far_it_must_rise():
    rows = [(job, o, p, 1, cost) for job in ("j1", "j2") for o, p, cost in
            (("oa", "a", 3.0), ("ob", "b", 5.0))]
    candidates = _candidates(rows, {"oa": 1, "ob": 10})
    lp = spend_lp(candidates, _policy(budget=7.0))
    # one job on oa ($3), the other on ob ($5): $8 at the least
    assert rules_in_conflict(lp) == ["budget_usd", "capacity:oa"]
    assert growth_needed(lp, set(lp.rules()), "budget_usd") / lp.scale == pytest.approx(1.0)


def test_the_explanation_names_the_rules_and_how_far_each_must_move():
    candidates = _candidates(JOBS, {"oa": 10, "ob": 1})
    lines = explain.spend_shortfall(candidates, _policy(provider=0.5), None, explain._Clock(30))
    assert lines == [
        "these rules cannot all hold together (the LP of demand, capacity, the caps and the "
        "budget has no solution, spread, ports and whole instances aside): capacity of ob "
        "(1 chips); max_share.provider 0.5",
        "relaxing one of them alone takes, by the LP: raise max_share.provider from 0.5 to "
        "at least 0.75; or add at least 1 chip to ob (1 → 2)"]
    assert explain.spend_shortfall(_candidates(JOBS, {"oa": 10, "ob": 2}),
                                   _policy(provider=0.5), None, explain._Clock(30)) is None


def test_a_fleet_whose_parts_found_no_plan_is_proven_to_have_none_by_the_lp(monkeypatch):
    solve_module = sys.modules["placer.solve"]
    monkeypatch.setattr(solve_module, "in_parts", lambda candidates, time_limit: True)
    monkeypatch.setattr(solve_module, "_solve_in_parts", lambda *args: None)  # no plan
    handed: list = []
    presolve = solve_module._presolve_proves_infeasible

    def presolve_once_explaining(*args: object) -> bool:
        # not before the explanation (whose own solves may run it)
        assert handed, "the presolve ran"
        return presolve(*args)

    monkeypatch.setattr(solve_module, "_presolve_proves_infeasible", presolve_once_explaining)
    explain_infeasible = solve_module.explain_infeasible

    def explained(*args: object, spend: object = None, **kwargs: object) -> list[str]:
        handed.append(spend)
        return explain_infeasible(*args, spend=spend, **kwargs)

    monkeypatch.setattr(solve_module, "explain_infeasible", explained)
    plan = solve_candidates(*_tables(JOBS, {"oa": 10, "ob": 1}), _policy(provider=0.5),
                            time_limit=10)
    assert plan.status == "infeasible" and plan.solver["infeasible_by"] == "spend"
    assert plan.solver["stop_reason"] == "infeasible" and plan.solver["deterministic"]
    # the explanation is handed the LP's least violation, not left to solve it again
    assert [found.priced for found in handed] == [["capacity:ob", "max_share.provider"]]


def _any_plan(rows: list[Row], capacity: dict[str, int], cap: float | None,
              budget: float | None) -> bool:
    """Brute force: one row per job, capacity, the provider cap and the budget kept, in
    the model's own integer cents."""
    jobs = sorted({row[0] for row in rows})
    choices = [[row for row in rows if row[0] == job] for job in jobs]
    share = Fraction(str(cap)).limit_denominator(10_000) if cap is not None else None
    for pick in itertools.product(*choices):
        used: dict[str, int] = {}
        spent: dict[str, int] = {}
        for _, o, p, c, cost in pick:
            used[o] = used.get(o, 0) + c
            spent[p] = spent.get(p, 0) + round(cost * 100)
        total = sum(spent.values())
        if any(used[o] > capacity[o] for o in used):
            continue
        if share is not None and any(share.denominator * s > share.numerator * total
                                     for s in spent.values()):
            continue
        if budget is not None and total > math.floor(budget * 100):
            continue
        return True
    return False


@st.composite
def _instances(draw: st.DrawFn) -> tuple[list[Row], dict[str, int], float | None,
                                         float | None]:
    offerings = {f"o{i}": f"p{i % 3}" for i in range(draw(st.integers(2, 4)))}
    capacity = {o: draw(st.integers(1, 10)) for o in offerings}
    rows: list[Row] = []
    for job in range(draw(st.integers(1, 5))):
        mine = draw(st.lists(st.sampled_from(sorted(offerings)), min_size=1, max_size=3,
                             unique=True))
        chips = draw(st.sampled_from([1, 2, 4]))
        rows += [(f"w{job}", o, offerings[o], chips, draw(st.sampled_from([1.0, 2.5, 4.0])))
                 for o in mine]
    cap = draw(st.sampled_from([None, 0.4, 0.5, 0.6, 0.75]))
    budget = draw(st.sampled_from([None, 4.0, 8.0, 12.0]))
    return rows, capacity, cap, budget


@settings(max_examples=150, deadline=None)
@given(_instances())
def test_the_lp_never_rules_out_a_plan_that_exists_and_its_set_is_minimal(instance):
    rows, capacity, cap, budget = instance
    lp = spend_lp(_candidates(rows, capacity), _policy(provider=cap, budget=budget))
    if has_room(lp):
        return
    assert not _any_plan(rows, capacity, cap, budget)
    conflict = rules_in_conflict(lp)
    assert conflict and violated(lp, set(conflict))
    for rule in conflict:
        assert not violated(lp, set(conflict) - {rule}), rule  # minimal
    if cap is not None and cap < 0.99:
        # a floor: where the LP still has no room a hundredth up, there is no plan there
        up = round(cap + 0.01, 2)
        if violated(with_cap(lp, "provider", up), set(lp.rules())):
            assert not _any_plan(rows, capacity, up, budget)


def test_where_time_runs_out_the_set_is_the_rules_the_least_violation_prices(monkeypatch):
    import placer.spend as spend

    lp = spend_lp(_candidates(JOBS, {"oa": 10, "ob": 1}), _policy(provider=0.5))
    found = spend.least_violation(lp, set(lp.rules()))
    # oa's capacity has room: the priced rules, a conflict by LP duality, leave it out
    assert found.priced == ["capacity:ob", "max_share.provider"] and "capacity:oa" in lp.rules()

    def out_of_time(*args: object) -> bool:
        raise spend.OutOfTime

    monkeypatch.setattr(spend, "violated", out_of_time)
    assert rules_in_conflict(lp, found=found) == found.priced


def test_the_explanation_names_the_solves_priced_rules_where_it_has_no_time_for_an_lp(
        monkeypatch):
    import placer.spend as spend

    monkeypatch.setattr(explain, "LP_FIRST_ABOVE_ROWS", 0)
    candidates = _candidates(JOBS, {"oa": 10, "ob": 1})
    policy = _policy(provider=0.5)
    found = spend.least_violation(spend_lp(candidates, policy), {"capacity:oa", "capacity:ob",
                                                                 "max_share.provider"})
    # as at 100,000 workloads, where each LP takes over a minute: the solve's is all there is
    assert explain.explain_infeasible(candidates, policy, budget_s=0, spend=found) == [
        "these rules cannot all hold together (the LP of demand, capacity, the caps and the "
        "budget has no solution, spread, ports and whole instances aside): capacity of ob "
        "(1 chips); max_share.provider 0.5 (fewer may be enough: they were not narrowed "
        "further within 0 s)",
        "(no relaxation was tried to the end within 0 s)"]
    # without it, nothing is named
    assert explain.explain_infeasible(candidates, policy, budget_s=0)[0].startswith(
        "no plan keeps every rule, and no smaller set of rules could be singled out")


# Two one-chip jobs, $1 each, on a's offering or b's: one provider takes half the spend
# at the least, so no plan keeps a provider cap under 0.5.
HALVES = [(job, o, p, 1, 1.0) for job in ("j1", "j2") for o, p in (("oa", "a"), ("ob", "b"))]


@pytest.mark.parametrize("large", [False, True])
def test_a_cap_near_the_least_share_any_plan_keeps_is_named_where_no_plan_was_found(
        monkeypatch, large):
    if large:  # placer.spend's LP, as on fleets of more than LP_FIRST_ABOVE_ROWS rows
        monkeypatch.setattr(explain, "LP_FIRST_ABOVE_ROWS", 0)
    by = "the LP of capacity, the caps and the budget" if large else "the LP relaxation"
    candidates = _candidates(HALVES, {"oa": 2, "ob": 2})
    assert explain.caps_at_the_edge(candidates, _policy(provider=0.52)) == [
        f"max_share.provider 0.52 leaves little room: by {by} no plan keeps it at 0.49 or "
        "less, so few plans (if any) keep 0.52, and they are hard to find; a higher cap, "
        "or more time, may find one"]
    # 0.51-0.55 all hold: 0.56 is more than EDGE_HUNDREDTHS above the edge
    assert explain.caps_at_the_edge(candidates, _policy(provider=0.56)) == []
    assert explain.caps_at_the_edge(candidates, _policy()) == []


@settings(max_examples=100, deadline=None)
@given(_instances(), st.booleans())
def test_no_plan_keeps_a_share_the_edge_names(instance, large):
    rows, capacity, cap, budget = instance
    if cap is None:
        return
    with pytest.MonkeyPatch.context() as patch:
        if large:
            patch.setattr(explain, "LP_FIRST_ABOVE_ROWS", 0)
        lines = explain.caps_at_the_edge(_candidates(rows, capacity),
                                         _policy(provider=cap, budget=budget))
    for line in lines:
        edge = float(line.split(" keeps it at ")[1].split(" ")[0])
        assert edge < cap and not _any_plan(rows, capacity, edge, budget)


def test_a_fleet_with_no_plan_found_in_its_time_says_which_cap_leaves_little_room():
    from benchmarks.run import fleet_problem
    from placer.report import money, plan_headline
    from placer.solve import solve

    # the generated 100-workload fleet, seed 2, under a 20 % provider cap: its LP keeps
    # no provider at 0.19; at 2 s the warm start and column generation have no plan that
    # keeps the caps, and the search for one has no time left (it finds one at 3-9 s)
    plan = solve(fleet_problem(100, 2, provider_cap=0.2, vendor_cap=0.5), time_limit=2)
    assert plan.status == "unknown"
    assert plan.explanation == [
        "no plan found within 2 s; the problem is not proven infeasible: give it more time "
        "(--time-limit)",
        "max_share.provider 0.2 leaves little room: by the LP relaxation no plan keeps it at "
        "0.19 or less, so few plans (if any) keep 0.2, and they are hard to find; a higher "
        "cap, or more time, may find one"]
    # no plan, but what any plan costs at least: the best bound known before the search,
    # below the plan a 60 s solve finds ($2,850,143, fifty-sixth session)
    bounds = [plan.solver[k] for k in ("lp_bound_usd", "lagrangian_bound_usd",
                                       "columns_bound_usd") if plan.solver.get(k) is not None]
    assert plan.bound_usd == pytest.approx(max(bounds), abs=0.01)
    assert plan.bound_usd <= 2_850_143
    assert plan_headline(plan) == \
        f"unknown: no plan (any plan costs at least {money(plan.bound_usd)})"
