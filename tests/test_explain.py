"""When there is no plan, the explanation names the rules that block it."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from ortools.sat.python import cp_model

from placer import explain
from placer.check import check_plan
from placer.problem import problem_from_dict
from placer.schema import PlanDocument, Policy
from placer.solve import solve, solve_candidates

CASES = [
    ("residency", """
workloads:
  - {name: job, kind: inference, chips: 4, residency: [AU]}
""", ["job: no offering passes its rules — of 71 offerings, sold on_demand leaves 70, "
      "residency AU leaves 0"]),
    ("ecosystem", """
workloads:
  - {name: job, kind: training, chip_hours: 1000, runs_on: [rocm], residency: [FR]}
""", ["job: no offering passes its rules — of 71 offerings, sold on_demand leaves 70, "
      "residency FR leaves 8, ecosystem rocm (or a port_usd entry) leaves 0"]),
    ("memory", """
workloads:
  - {name: job, kind: inference, chips: 1, memory_gb: 50000}
""", ["job: no offering passes its rules — of 71 offerings, sold on_demand leaves 70, "
      "ecosystem cuda (or a port_usd entry) leaves 42, memory 50,000 GB per instance leaves "
      "0: one instance must hold 50,000 GB, which needs 269 chips on the largest-memory "
      "chip"]),
    ("gang", """
workloads:
  - {name: job, kind: training, chip_hours: 3000000, deadline_days: 7}
""", ["job: no offering passes its rules — of 71 offerings, sold on_demand leaves 70, "
      "ecosystem cuda (or a port_usd entry) leaves 42, capacity leaves 0: the gang is larger "
      "than the capacity of each of the 42; nearest: azure/eastus/gb200 holds 2,048 chips, "
      "the gang needs 5,832 there"]),
    ("sovereign", """
workloads:
  - {name: job, kind: inference, chips: 2, residency: [DE], sovereign: true}
""", ["job: no offering passes its rules — of 71 offerings, sold on_demand leaves 70, "
      "residency DE leaves 1, sovereign (provider headquartered in an allowed jurisdiction) "
      "leaves 0"]),
    ("deny", """
policy: {deny: {chip_vendor: [nvidia, amd, google, aws]}}
workloads:
  - {name: job, kind: inference, chips: 2}
""", ["job: no offering passes its rules — of 71 offerings, policy allow/deny leaves 0"]),
    ("pricing", """
policy: {pricing: commit_1y}
workloads:
  - {name: job, kind: inference, chips: 2, residency: [FR]}
""", ["job: no offering passes its rules — of 71 offerings, sold commit_1y leaves 11, "
      "residency FR leaves 0"]),
    ("spread-providers", """
workloads:
  - {name: chat, kind: inference, chips: 16, residency: [NL], spread: {min_providers: 2}}
""", ["chat: spread needs 2 providers but its candidates come from 1 (residency, ecosystem "
      "and capacity leave no more)"]),
    ("demand-capacity", """
workloads:
  - {name: chat-uk, kind: inference, chips: 2000, residency: [UK], port_usd: {neuron: 1000}}
""", ["chat-uk: needs 2000 H100-equivalents; its offerings can serve at most 96.8 (whole "
      "instances within capacity)"]),
    ("spread-capacity", """
policy: {allow: {offering: [nebius/eu-north1/h100, scaleway/fr-par-2/h100]}}
workloads:
  - {name: chat, kind: inference, chips: 1000, spread: {min_providers: 2, max_fraction: 0.6}}
""", ["chat: needs 1000 H100-equivalents; its offerings can serve at most 856 with no "
      "provider above 0.6 (whole instances within capacity)"]),
    ("capacity-conflict", """
policy: {allow: {offering: [nebius/eu-north1/h100]}}
workloads:
  - {name: a, kind: training, chip_hours: 500000, deadline_days: 30}
  - {name: b, kind: training, chip_hours: 500000, deadline_days: 30}
""", ["these rules cannot all hold together: capacity of nebius/eu-north1/h100 (1,024 chips)",
      "relaxing one of them is enough: add 368 chips to nebius/eu-north1/h100 (1,024 → "
      "1,392)"]),
    ("provider-cap", """
policy: {allow: {provider: [aws, gcp]}, max_share: {provider: 0.3}}
workloads:
  - {name: a, kind: training, chip_hours: 1000}
  - {name: b, kind: training, chip_hours: 1000}
  - {name: c, kind: training, chip_hours: 1000}
""", ["these rules cannot all hold together: max_share.provider 0.3",
      "relaxing one of them is enough: raise max_share.provider from 0.3 to 0.51"]),
    ("min-providers", """
policy: {allow: {provider: [aws, gcp]}, min_providers: 5}
workloads:
  - {name: a, kind: training, chip_hours: 1000}
  - {name: b, kind: training, chip_hours: 1000}
""", ["these rules cannot all hold together: min_providers 5",
      "relaxing one of them is enough: lower min_providers from 5 to 2"]),
    ("budget", """
policy: {budget_usd: 1000}
workloads:
  - {name: a, kind: training, chip_hours: 1000}
""", ["these rules cannot all hold together: budget_usd 1,000",
      "relaxing one of them is enough: raise budget_usd from 1,000 to 1,696"]),
    ("vendor-cap", """
policy: {allow: {chip_vendor: [nvidia]}, max_share: {chip_vendor: 0.5}}
workloads:
  - {name: a, kind: training, chip_hours: 1000}
  - {name: b, kind: training, chip_hours: 1000}
""", ["these rules cannot all hold together: max_share.chip_vendor 0.5",
      "relaxing one of them is enough: raise max_share.chip_vendor from 0.5 to 1"]),
    ("spread-and-gang", """
policy: {allow: {offering: [nebius/eu-north1/h100, scaleway/fr-par-2/h100]}}
workloads:
  - {name: train, kind: training, chip_hours: 662400, deadline_days: 30}
  - {name: chat, kind: inference, chips: 300, spread: {min_providers: 2, max_fraction: 0.6}}
""", None),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_each_kind_of_infeasibility_names_the_right_rules(text, expected):
    plan = solve(problem_from_dict(yaml.safe_load(text)), time_limit=20)
    assert plan.status == "infeasible"
    if expected is not None:
        assert plan.explanation == expected


def test_a_conflict_across_workloads_names_both_rules():
    text = CASES[-1][1]
    plan = solve(problem_from_dict(yaml.safe_load(text)), time_limit=20)
    conflict, relax = plan.explanation
    assert conflict.startswith("these rules cannot all hold together: ")
    assert "capacity of nebius/eu-north1/h100 (1,024 chips)" in conflict
    assert "spread of chat (min_providers 2, max_fraction 0.6)" in conflict
    assert relax.startswith("relaxing one of them is enough: ")
    assert "add " in relax and "chips to nebius/eu-north1/h100" in relax


def test_explanation_is_in_the_json_plan():
    text = CASES[0][1]
    doc = solve(problem_from_dict(yaml.safe_load(text)), time_limit=5).to_dict()
    assert doc["status"] == "infeasible"
    assert doc["explanation"] == CASES[0][2]
    assert doc["assignments"] == [] and doc["total_usd"] is None


def test_a_catalog_without_offerings_says_so():
    problem = problem_from_dict(yaml.safe_load(CASES[0][1]))
    catalog = problem.catalog
    empty = problem.replace(catalog=catalog.with_offerings(catalog.offerings.head(0)))
    plan = solve(empty, time_limit=5)
    assert plan.status == "infeasible"
    assert plan.explanation == ["job: no offering passes its rules — the catalog has none"]


def _six_chip_jobs(capacity: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Three 6-chip jobs and a 1-chip one on two offerings of `capacity` chips: at 10
    the LP fits them (19 chips of 20) but whole jobs do not (one offering takes two
    6-chip jobs); at 9 neither does."""
    rows = [{"workload": f"w{w}", "offering": f"o{o}", "chips": 6, "cost_usd": 10.0 + o,
             "provider": f"p{o}"} for w in range(3) for o in range(2)]
    rows += [{"workload": "tiny", "offering": f"o{o}", "chips": 1, "cost_usd": 1.0,
              "provider": f"p{o}"} for o in range(2)]
    offers = pl.DataFrame({"offering": ["o0", "o1"], "capacity_chips": [capacity] * 2})
    return pl.DataFrame(rows), offers


def test_an_lp_without_a_solution_ends_the_solve_before_any_search():
    # capacity has room, and no cap or min_providers is beyond counting; the budget is not
    text = next(case[1] for case in CASES if case[0] == "budget")
    plan = solve(problem_from_dict(yaml.safe_load(text)), time_limit=10)
    assert plan.status == "infeasible"
    assert plan.solver["infeasible_by"] == "lp relaxation"
    assert plan.solver["stop_reason"] == "infeasible" and plan.solver["deterministic"]
    assert plan.solver["deterministic_time"] == 0  # no CP-SAT search ran


def test_capacity_alone_ends_the_solve_before_any_lp_or_search():
    # the three 6-chip jobs merge into one class: capacity's own LP, 19 chips in 18
    plan = solve_candidates(*_six_chip_jobs(9), Policy(), time_limit=10)
    assert plan.status == "infeasible"
    assert plan.solver["infeasible_by"] == "capacity"
    assert plan.solver["stop_reason"] == "infeasible" and plan.solver["deterministic"]
    assert plan.solver["variables"] == 0  # no model was built
    assert plan.explanation == [
        "these rules cannot all hold together: capacity of o0 (9 chips); capacity of o1 "
        "(9 chips)",
        "relaxing one of them is enough: add 3 chips to o0 (9 → 12); or add 3 chips to o1 "
        "(9 → 12)"]


def test_a_conflict_of_whole_jobs_alone_is_proven_by_the_search():
    plan = solve_candidates(*_six_chip_jobs(10), Policy(), time_limit=10)
    assert plan.status == "infeasible"
    assert plan.solver["infeasible_by"] == "cp-sat"
    assert plan.solver["first_plan_searches"] == 1  # the search for a first plan proved it
    assert plan.explanation[1] == ("relaxing one of them is enough: add 2 chips to o0 "
                                   "(10 → 12); or add 2 chips to o1 (10 → 12)")


@pytest.mark.parametrize(("name", "expected"), [
    ("capacity-conflict", [
        # capacity alone rules it out: named with the workloads that can run only there
        "capacity alone rules out a plan (the LP of capacity and demand has no solution, "
        "every cap, spread and budget aside): the 2 workloads that can run only on these "
        "offerings (a, b) need more than they hold: capacity of nebius/eu-north1/h100 "
        "(1,024 chips)",
        # 2 x 500,000 chip-hours in 720 h: 1,388.9 chips, whole 8-chip instances 1,392
        "relaxing one of them alone takes, by the LP: add at least 368 chips to "
        "nebius/eu-north1/h100 (1,024 → 1,392)"]),
    ("provider-cap", [
        "these rules cannot all hold together (their LP relaxation has no solution): "
        "max_share.provider 0.3",
        # the LP splits each job evenly between the two providers
        "relaxing one of them alone takes, by the LP: raise max_share.provider from 0.3 to "
        "at least 0.5"]),
])
def test_on_large_models_the_lp_names_the_rules_and_how_far_they_must_move_at_least(
        monkeypatch, name, expected):
    monkeypatch.setattr(explain, "LP_FIRST_ABOVE_ROWS", 0)
    monkeypatch.setattr(explain, "policy_reasons", lambda *args: [])  # not told by counting
    # nor by the LP of capacity and spend (tests/test_spend.py): the whole model's LPs
    monkeypatch.setattr(explain, "spend_shortfall", lambda *args, **kwargs: None)
    text = next(case[1] for case in CASES if case[0] == name)
    plan = solve(problem_from_dict(yaml.safe_load(text)), time_limit=20)
    assert plan.explanation == expected


def test_where_the_lp_has_a_solution_the_search_names_the_rules(monkeypatch):
    monkeypatch.setattr(explain, "LP_FIRST_ABOVE_ROWS", 0)
    plan = solve_candidates(*_six_chip_jobs(10), Policy(), time_limit=10)
    assert plan.explanation[0] == ("these rules cannot all hold together: capacity of o0 "
                                   "(10 chips); capacity of o1 (10 chips)")


def test_at_fleet_scale_the_lp_names_rules_it_needs_each_and_how_far_one_must_move():
    # 300 generated workloads, the EU-resident ones made sovereign: the EU-headquartered
    # providers' offerings cannot hold them
    from benchmarks.run import fleet_problem
    from placer.candidates import build_candidates
    from placer.model import build_model
    from placer.relax import lp_has_solution

    problem = fleet_problem(300, seed=0, sovereign=True)
    candidates = build_candidates(problem)
    assert candidates.rows.height > explain.LP_FIRST_ABOVE_ROWS
    core = explain.lp_infeasible_core(candidates, problem.policy)
    assert core and all(name.startswith("capacity:") for name in core)
    built = build_model(candidates, problem.policy, explain=True)
    rule_of_row = np.asarray(built.builder.row_rule)

    def lp_has_solution_with(names: list[str]) -> bool | None:
        on = [built.rule_literals[name] for name in names]
        rows = np.flatnonzero((rule_of_row < 0) | np.isin(rule_of_row, on))
        return lp_has_solution(built.builder, rows, 30)

    assert lp_has_solution_with(core) is False
    for name in core:
        assert lp_has_solution_with([n for n in core if n != name]) is True, name
    # how far one of them must move, by one LP: at a chip less the LP still has no plan
    offering = core[0].removeprefix("capacity:")
    floor = explain._capacity_floor(offering, candidates, problem.policy, None,
                                    explain._Clock(30))
    assert floor is not None and floor.startswith("add at least ")
    more = int(floor.removeprefix("add at least ").split(" ")[0].replace(",", ""))
    current, _, _ = explain._capacity_range(offering, candidates)
    short = explain._with_capacity(offering, current + more - 1, candidates, None)
    assert explain._lp_feasible(short, problem.policy, explain._Clock(30)) is False


def test_where_a_fleets_parts_found_no_plan_cp_sat_presolve_may_prove_there_is_none(
        monkeypatch):
    import sys

    solve_module = sys.modules["placer.solve"]
    monkeypatch.setattr(solve_module, "in_parts", lambda candidates, time_limit: True)
    monkeypatch.setattr(solve_module, "_solve_in_parts", lambda *args: None)  # no plan
    plan = solve_candidates(*_six_chip_jobs(10), Policy(), time_limit=10)
    assert plan.status == "infeasible"
    assert plan.solver["infeasible_by"] == "cp-sat presolve"
    assert plan.solver["deterministic_time"] == 0 and plan.solver["warm_start_s"] < 5
    # a fleet with a plan goes on to its LP and search as before
    rows, offers = _six_chip_jobs(12)
    plan = solve_candidates(rows, offers, Policy(), time_limit=10)
    assert plan.status == "optimal" and plan.solver.get("infeasible_by") is None


def test_a_fleet_short_of_capacity_names_its_offerings_and_their_floors(monkeypatch):
    # 300 generated workloads, the EU-resident ones made sovereign, checked as a fleet in
    # parts would be: capacity alone rules it out before any part
    import re
    import sys

    from benchmarks.run import fleet_problem
    from placer.candidates import Candidates, build_candidates
    from placer.model import build_model
    from placer.relax import lp_has_solution

    solve_module = sys.modules["placer.solve"]
    monkeypatch.setattr(solve_module, "in_parts", lambda candidates, time_limit: True)
    problem = fleet_problem(300, seed=0, sovereign=True)
    plan = solve(problem, time_limit=10)
    assert plan.status == "infeasible" and plan.solver["infeasible_by"] == "capacity"
    named, floors = plan.explanation
    assert named.startswith("capacity alone rules out a plan")
    assert "the 42 workloads that can run only on these offerings (serve-000027, " \
        "serve-000043, serve-000044 and 39 more; their rules: 35 sovereign, residency EU: " \
        "35, residency FI: 7)" in named
    offerings = re.findall(r"capacity of (\S+) \(", named)
    assert len(offerings) == 10
    # the whole model's LP, with only these capacities and no cap, spread or budget,
    # has no solution either
    candidates = build_candidates(problem)
    built = build_model(candidates, problem.policy, explain=True)
    rule_of_row = np.asarray(built.builder.row_rule)
    on = [built.rule_literals[f"capacity:{name}"] for name in offerings]
    rows = np.flatnonzero((rule_of_row < 0) | np.isin(rule_of_row, on))
    assert lp_has_solution(built.builder, rows, 30) is False
    # a floor: an instance short of it, the whole LP (every rule) still has no solution
    first = re.match(r"relaxing one of them alone takes, by the LP: add at least "
                     r"([\d,]+) chips to (\S+) \(", floors)
    assert first is not None
    more, offering = int(first[1].replace(",", "")), first[2]
    current, step, _ = explain._capacity_range(offering, candidates)

    def rebuild(capacities: dict[str, int]) -> Candidates:
        offers = problem.catalog.offerings.with_columns(
            pl.col("offering").replace_strict(capacities, default=pl.col("capacity_chips"),
                                              return_dtype=pl.Int64).alias("capacity_chips"))
        return build_candidates(problem.replace(catalog=problem.catalog.with_offerings(offers)))

    short = explain._with_capacity(offering, current + more - step, candidates, rebuild)
    assert explain._lp_feasible(short, problem.policy, explain._Clock(30)) is False


@pytest.mark.parametrize(("name", "expected"), [
    ("provider-cap", ["max_share.provider 0.3 leaves no plan: the candidates come from 2 "
                      "providers (aws, gcp), so at most 60 % of the spend can be placed; raise "
                      "it to at least 0.5, or allow more providers"]),
    ("vendor-cap", ["max_share.chip_vendor 0.5 leaves no plan: the candidates come from one "
                    "chip vendor (nvidia), so at most 50 % of the spend can be placed; raise it "
                    "to at least 1, or allow more chip vendors"]),
    ("min-providers", ["min_providers 5 leaves no plan: the candidates come from 2 providers "
                       "(aws, gcp); lower it to 2 or fewer, or allow more providers"]),
])
def test_a_policy_no_plan_can_keep_is_told_by_counting(monkeypatch, name, expected):
    text = next(case[1] for case in CASES if case[0] == name)
    plan = solve(problem_from_dict(yaml.safe_load(text)), time_limit=20)
    assert plan.solver["infeasible_by"] == "policy" and plan.solver["variables"] == 0
    # on small models CP-SAT's exact figures explain it (CASES); on large ones, counting
    assert plan.explanation == next(case[2] for case in CASES if case[0] == name)
    monkeypatch.setattr(explain, "LP_FIRST_ABOVE_ROWS", 0)
    plan = solve(problem_from_dict(yaml.safe_load(text)), time_limit=20)
    assert plan.explanation == expected


def test_counting_leaves_alone_a_cap_that_enough_groups_can_keep():
    text = next(case[1] for case in CASES if case[0] == "provider-cap")
    problem = problem_from_dict(yaml.safe_load(text.replace("provider: 0.3", "provider: 0.5")))
    from placer.candidates import build_candidates

    assert explain.policy_reasons(build_candidates(problem), problem.policy) == []


def test_a_cap_that_capacity_cannot_keep_is_named_with_its_floor_at_fleet_scale():
    # 300 generated workloads under a 15 % provider cap: the small EU providers' capacity
    # cannot take enough of the spend; counting and capacity alone see nothing
    import re

    from benchmarks.run import fleet_problem
    from placer.candidates import build_candidates
    from placer.capacity import proven_short
    from placer.model import build_model
    from placer.relax import lp_has_solution

    problem = fleet_problem(300, seed=0, provider_cap=0.15)
    candidates = build_candidates(problem)
    policy = problem.policy
    assert candidates.rows.height > explain.LP_FIRST_ABOVE_ROWS
    assert not explain.policy_reasons(candidates, policy) and not proven_short(candidates)
    named, moves = explain.explain_infeasible(candidates, policy)
    assert named.startswith("these rules cannot all hold together (the LP of demand, "
                            "capacity, the caps and the budget has no solution")
    core = [f"capacity:{name}" for name in re.findall(r"capacity of (\S+) \(", named)]
    assert named.endswith("max_share.provider 0.15") and len(core) == 7
    # the whole model's LP with only these rules has no solution, and needs each
    built = build_model(candidates, policy, explain=True)
    rule_of_row = np.asarray(built.builder.row_rule)

    def lp_has_solution_with(names: list[str]) -> bool | None:
        on = [built.rule_literals[name] for name in names]
        rows = np.flatnonzero((rule_of_row < 0) | np.isin(rule_of_row, on))
        return lp_has_solution(built.builder, rows, 30)

    assert lp_has_solution_with([*core, "max_share.provider"]) is False
    assert lp_has_solution_with(core) is True
    # floors: a hundredth under the cap's, or an instance under a capacity's, the whole
    # LP of every rule still has no solution
    cap = re.search(r"raise max_share.provider from 0.15 to at least (0\.\d+)", moves)
    assert cap is not None and float(cap[1]) > 0.15
    lower = policy.model_copy(update={"max_share": policy.max_share.model_copy(
        update={"provider": round(float(cap[1]) - 0.01, 2)})})
    assert explain._lp_feasible(candidates, lower, explain._Clock(30)) is False
    grow = re.search(r"add at least ([\d,]+) chips to (\S+) \(", moves)
    assert grow is not None
    more, offering = int(grow[1].replace(",", "")), grow[2]
    current, step, _ = explain._capacity_range(offering, candidates)
    short = explain._with_capacity(offering, current + more - step, candidates, None)
    assert explain._lp_feasible(short, policy, explain._Clock(30)) is False


def test_with_no_time_left_no_finder_builds_its_model(monkeypatch):
    # a fleet of 100,000 workloads would build gigabytes of model for no search
    monkeypatch.setattr(explain, "LP_FIRST_ABOVE_ROWS", 0)
    for finder in ("infeasible_core", "lp_infeasible_core"):
        monkeypatch.setattr(explain, finder, lambda *args, **kwargs: pytest.fail("built"))
    from placer.candidates import candidates_from_table
    from placer.problem import candidate_tables

    candidates = candidates_from_table(*candidate_tables(*_six_chip_jobs(10)))
    assert explain.explain_infeasible(candidates, Policy(), budget_s=0) == [
        "no plan keeps every rule, and no smaller set of rules could be singled out within "
        "0 s; every workload has candidates, so the conflict is among them as a whole"]


@pytest.mark.parametrize(("verdict", "said"), [
    (False, "relaxing any single one of them alone is not enough"),
    (None, "(no relaxation was shown to be enough, nor that none is: a check of one ended "
           "without a verdict in its time)")])
def test_not_enough_is_said_only_where_every_relaxation_was_proven_to_have_no_plan(
        monkeypatch, verdict, said):
    # a search that ended without a verdict is no proof: the explanation said "not enough"
    # of the seed-14 fleet's caps (100 workloads, 20 % / 50 %), where raising either is
    monkeypatch.setattr(explain, "_feasible",
                        lambda candidates, policy, clock: clock.answer(verdict))
    text = dict((c[0], c[1]) for c in CASES)["provider-cap"]
    plan = solve(problem_from_dict(yaml.safe_load(text)), time_limit=20)
    assert plan.explanation == ["these rules cannot all hold together: max_share.provider 0.3",
                                said]


def test_whether_one_relaxed_cap_is_enough_is_decided_by_the_solve():
    # CP-SAT alone, on the model with no objective, decided neither in 5 s: its warm start,
    # column generation and first-plan search are the solve's
    from benchmarks.run import fleet_problem
    from placer.candidates import build_candidates

    problem = fleet_problem(100, seed=14, provider_cap=0.2, vendor_cap=0.5)
    candidates = build_candidates(problem)
    with_cap = problem.policy.with_cap
    clock = explain._Clock(30)
    assert explain._feasible(candidates, with_cap("provider", 1.0), clock) is True
    # the plan found keeps the first cap at or above its largest provider share, too
    grid = [round(c / 100, 2) for c in range(21, 101)]
    kept = grid[explain._cap_kept(clock.plan, "provider", grid)]
    largest = float(clock.plan.shares["provider"]["share"].max())
    assert largest < kept <= largest + 0.01
    assert check_plan(PlanDocument.model_validate(clock.plan.to_dict()),
                      problem.replace(policy=with_cap("provider", kept))) == []
    assert explain._feasible(candidates, with_cap("provider", 0.3), clock) is False
    assert clock.plan is None


@given(st.integers(0, 99), st.data())
def test_the_least_value_that_works_is_found_whatever_each_plan_shows(threshold, data):
    # a plan found at value v keeps every value from some w in [threshold, v] on: the
    # bisection takes w as its upper end, and still ends at the threshold
    values = list(range(100))
    shown: list[int] = []

    def works(v: object) -> bool:
        if int(v) >= threshold:
            shown.append(data.draw(st.integers(threshold, int(v))))
            return True
        return False

    assert explain._smallest(values, works, lambda: shown[-1]) == explain._Least(threshold)


def test_a_plan_that_keeps_a_lower_value_spares_the_bisection_its_searches_for_plans():
    # a check that finds a plan takes a search (0.3-3 s on the 100-workload fleets under
    # 20 % / 50 % caps); most that find none are proven so by the LP at once (0.1 s)
    asked: list[object] = []

    def works(v: object) -> bool:
        asked.append(v)
        return int(v) >= 37

    assert explain._smallest(list(range(100)), works) == explain._Least(37)
    assert asked == [99, 49, 24, 36, 42, 39, 37]
    asked.clear()
    # each plan found keeps 37 as well (its largest share, say): one plan is searched for
    assert explain._smallest(list(range(100)), works, lambda: 37) == explain._Least(37)
    assert asked == [99, 18, 27, 32, 34, 35, 36]


def test_a_move_whose_bisection_met_a_check_without_a_verdict_says_which_values_are_open():
    # the seed-13 fleet under 20 % / 50 % caps: a plan keeps a chip-vendor cap of 0.71,
    # none keeps 0.6, and the check of 0.65 ended without a verdict
    answers = {1.0: True, 0.71: True, 0.6: False, 0.65: None}
    grid = [round(c / 100, 2) for c in range(51, 101)]
    shown = iter([grid.index(0.71), grid.index(0.71)])
    found = explain._smallest(grid, lambda c: answers[c], lambda: next(shown))
    assert found == explain._Least(0.71, (0.61, 0.7))
    decided, clock = explain._Clock(30), explain._Clock(30)
    assert explain._Least(0.71).claim(False, lambda c: f"{c:g}", decided) == (0.71, "")
    assert not decided.named_open
    assert found.claim(False, lambda c: f"{c:g}", clock) == \
        (0.71, " (whether 0.61 to 0.7 is enough was not decided in its time)")
    assert clock.named_open  # the move it names leaves values open
    # by the LP, only the values under the first open one are ruled out
    assert found.claim(True, lambda c: f"{c:g}", clock) == \
        (0.61, " (by the LP 0.71 is enough; whether 0.61 to 0.7 is was not decided in its "
               "time)")
    assert explain._Least(0.71, (0.7, 0.7)).claim(False, lambda c: f"{c:g}", clock)[1] == \
        " (whether 0.7 is enough was not decided in its time)"


@pytest.mark.parametrize(("by_lp", "said"), [
    (False, "relaxing one of them is enough: raise max_share.provider from 0.3 to 0.65 "
            "(whether 0.31 to 0.64 is enough was not decided in its time)"),
    (True, "relaxing one of them alone takes, by the LP: raise max_share.provider from 0.3 "
           "to at least 0.31 (by the LP 0.65 is enough; whether 0.31 to 0.64 is was not "
           "decided in its time)")])
def test_a_cap_move_names_the_values_its_checks_left_open(monkeypatch, by_lp, said):
    # checks scripted by the cap: a plan from 0.5 on, none under 0.4, no verdict between;
    # the bisection asks 1.0 (yes), 0.65 (yes), then 0.47 (no verdict) and stops there
    def scripted(candidates, policy, clock):
        cap = policy.max_share.provider
        return clock.answer(True if cap >= 0.5 else (False if cap < 0.4 else None))

    if by_lp:
        monkeypatch.setattr(explain, "LP_FIRST_ABOVE_ROWS", 0)
        monkeypatch.setattr(explain, "policy_reasons", lambda *args: [])
        monkeypatch.setattr(explain, "spend_shortfall", lambda *args, **kwargs: None)
    monkeypatch.setattr(explain, "_lp_feasible" if by_lp else "_feasible", scripted)
    text = next(case[1] for case in CASES if case[0] == "provider-cap")
    plan = solve(problem_from_dict(yaml.safe_load(text)), time_limit=20)
    assert plan.explanation[-1] == said


def test_the_time_left_settles_the_values_a_cap_moves_checks_left_open(monkeypatch):
    # checks scripted by the cap: a plan from 0.45 on, none under it, but between 0.4 and
    # 0.5 a verdict only where a check may take longer than FEASIBLE_S; the first pass
    # leaves 0.31-0.64 open (as above), the time left settles them, and what was decided
    # is not asked again
    asked: list[tuple[float, bool]] = []

    def scripted(candidates, policy, clock):
        cap = policy.max_share.provider
        longer = clock.left(clock.check_s) > explain.FEASIBLE_S
        asked.append((cap, longer))
        if 0.4 <= cap < 0.5 and not longer:
            return clock.answer(None)
        return clock.answer(cap >= 0.45)

    monkeypatch.setattr(explain, "_feasible", scripted)
    text = next(case[1] for case in CASES if case[0] == "provider-cap")
    plan = solve(problem_from_dict(yaml.safe_load(text)), time_limit=20)
    assert plan.explanation[-1] == \
        "relaxing one of them is enough: raise max_share.provider from 0.3 to 0.45"
    caps = [cap for cap, _ in asked]
    assert caps[:3] == [1.0, 0.65, 0.47] and not asked[2][1]
    # the second pass: 0.47 again, now with time, then the bisection's own steps
    assert asked[3] == (0.47, True) and len(caps) == len(set(caps)) + 1


@pytest.mark.parametrize(("answers", "asked_again"), [
    # 3 and 4 open: asked again with the time left (2 is answered from memory)
    ({4: None, 3: None, 2: True}, [4, 3]),
    # 3 keeps no plan, so neither does 4: its open check does not matter, and the move,
    # "to 2", is decided: nothing is asked again
    ({4: None, 3: False, 2: True}, [])])
def test_only_checks_that_leave_a_move_open_are_asked_again(monkeypatch, answers,
                                                             asked_again):
    asked: list[int] = []

    def scripted(candidates, policy, clock):
        asked.append(policy.min_providers)
        return clock.answer(answers.get(policy.min_providers, True))

    monkeypatch.setattr(explain, "_feasible", scripted)
    text = next(case[1] for case in CASES if case[0] == "min-providers")
    solve(problem_from_dict(yaml.safe_load(text)), time_limit=20)
    assert asked == [4, 3, 2, *asked_again]


def test_the_deletion_filter_asks_cp_sat_only_what_the_lp_cannot_rule_out(monkeypatch):
    # the seed-14 fleet under 20 % / 50 % caps: CP-SAT's first set has 12 rules, and the
    # filter drops 10 of them one by one, the LP still without a solution each time;
    # CP-SAT is asked for the whole set and without each cap (a plan exists, which an LP
    # cannot show): 3 searches, where the filter asked it 13 times (once for each rule)
    from benchmarks.run import fleet_problem
    from placer.candidates import build_candidates

    problem = fleet_problem(100, seed=14, provider_cap=0.2, vendor_cap=0.5)
    candidates = build_candidates(problem)
    searches = []
    solve_once = cp_model.CpSolver.solve

    def counted(self, *args, **kwargs):
        searches.append(1)
        return solve_once(self, *args, **kwargs)

    monkeypatch.setattr(cp_model.CpSolver, "solve", counted)
    assert explain.infeasible_core(candidates, problem.policy) == [
        "max_share.chip_vendor", "max_share.provider"]
    assert len(searches) == 3


@pytest.mark.parametrize(("answers", "said"), [
    ({4: None, 3: None, 2: True},
     "lower min_providers from 5 to 2 (whether 3 to 4 is enough was not decided in its time)"),
    # 4 is not enough, so an open 4 would not matter; 3 is open
    ({4: False, 3: None, 2: True},
     "lower min_providers from 5 to 2 (whether 3 is enough was not decided in its time)"),
    ({4: None, 3: False, 2: True}, "lower min_providers from 5 to 2")])
def test_a_min_providers_move_names_the_values_its_checks_left_open(monkeypatch, answers,
                                                                    said):
    # a check without a verdict was read as "not enough": the move named one further
    def scripted(candidates, policy, clock):
        return clock.answer(answers.get(policy.min_providers, True))

    monkeypatch.setattr(explain, "_feasible", scripted)
    text = next(case[1] for case in CASES if case[0] == "min-providers")
    plan = solve(problem_from_dict(yaml.safe_load(text)), time_limit=20)
    assert plan.explanation[-1] == "relaxing one of them is enough: " + said
