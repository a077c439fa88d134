"""Branching on ports (placer.branching): the tree's bound is its lowest leaf's, never
above the optimum; its plan is the cheapest any solve found, costed on the whole fleet
and keeping every rule."""

from __future__ import annotations

import math
import sys
import time
from dataclasses import replace
from typing import Any

import polars as pl
import pytest

from placer.branching import NODE_S, branch_on_ports, node_problem, node_seconds
from placer.candidates import Candidates, build_candidates
from placer.catalog import default_catalog
from placer.check import candidate_violations, check_plan
from placer.plan import Plan, placement_of
from placer.problem import Problem, problem_from_dict
from placer.schema import PlanDocument
from placer.solve import SolveOptions, solve, solve_built_candidates

H100, INF2 = "aws/us-east-1/h100", "aws/us-east-1/inf2"
PORT = ("shared", "neuron")


def two_gangs_and_room_for_one(port_share: float) -> tuple[Problem, dict[str, float], float]:
    """Two gangs of one CUDA codebase that may be ported to Neuron, where each runs for d
    less than on the H100s, and room on inf2 for one of them; the port costs
    `port_share` d. The problem, a gang's cost per chip family, and the port's price."""
    priced = default_catalog().offerings.filter(pl.col("offering").is_in([H100, INF2]))

    def fleet(port_usd: float, inf2_chips: int) -> Problem:
        offerings = priced.with_columns(
            pl.when(pl.col("offering") == INF2).then(inf2_chips)
            .otherwise(pl.col("capacity_chips")).alias("capacity_chips"))
        return problem_from_dict({"horizon_days": 30, "workloads": [
            {"name": n, "kind": "training", "chip_hours": 2000, "deadline_days": 30,
             "runs_on": ["cuda"], "codebase": "shared", "port_usd": {"neuron": port_usd}}
            for n in ("a", "b")]}, catalog=default_catalog().with_offerings(offerings))

    rows = build_candidates(fleet(1.0, 10_000)).rows
    on = {chip: float(usd) for chip, usd in rows.group_by("chip").agg(
        (pl.col("unit_compute_usd") + pl.col("unit_carbon_usd")).min()).iter_rows()}
    gang_on_inf2 = int(rows.filter(pl.col("offering") == INF2)["unit_chips"].max())
    port = round(port_share * (on["h100"] - on["inf2"]), 2)
    return fleet(port, gang_on_inf2), on, port


def test_a_node_drops_a_forbidden_ports_rows_and_runs_a_bought_ones_natively():
    problem, _, port = two_gangs_and_room_for_one(1.5)
    candidates = build_candidates(problem)
    policy = problem.policy.model_copy(update={"budget_usd": 50_000.0})
    forbidden, same_policy, paid = node_problem(candidates, policy, (), (PORT,))
    assert forbidden.rows["offering"].to_list() == [H100, H100]
    assert paid == 0 and same_policy.budget_usd == 50_000.0
    bought, bought_policy, paid = node_problem(candidates, policy, (PORT,), ())
    assert bought.rows.height == candidates.rows.height
    assert bought.rows["port_ecosystem"].null_count() == bought.rows.height
    assert bought.rows["port_usd"].to_list() == [0.0] * bought.rows.height
    # the port's price is paid up front: out of the budget
    assert paid == pytest.approx(port)
    assert bought_policy.budget_usd == pytest.approx(50_000.0 - port)
    # another port of the same codebase is left as it is
    untouched, _, paid = node_problem(candidates, policy, (("shared", "xla"),), ())
    assert untouched.rows.equals(candidates.rows) and paid == 0


def test_a_fleet_is_branched_on_where_it_has_ports_and_time_for_three_solves():
    problem, _, _ = two_gangs_and_room_for_one(1.5)
    candidates = build_candidates(problem)
    big = replace(candidates, workloads=pl.concat([candidates.workloads] * 150))
    assert node_seconds(big, SolveOptions(time_limit=3 * NODE_S)) == NODE_S
    assert node_seconds(big, SolveOptions(time_limit=120)) == 20.0
    assert node_seconds(big, SolveOptions(time_limit=3 * NODE_S - 0.1)) is None
    # a larger fleet's column generation wants longer: NODE_S per 1,000 workloads
    larger = replace(candidates, workloads=pl.concat([candidates.workloads] * 1000))
    assert node_seconds(larger, SolveOptions(time_limit=60)) == 2 * NODE_S
    assert node_seconds(larger, SolveOptions(time_limit=59)) is None
    assert node_seconds(big, SolveOptions(time_limit=60, branch=False)) is None
    assert node_seconds(big, SolveOptions(time_limit=60, columns=False)) is None
    # no port to buy
    native = replace(big, rows=big.rows.with_columns(
        pl.lit(None, dtype=pl.String).alias("port_ecosystem")))
    assert node_seconds(native, SolveOptions(time_limit=60)) is None
    # a small fleet's whole model is searched after its neighbourhoods instead
    assert node_seconds(candidates, SolveOptions(time_limit=60)) is None


def _weak_first(candidates: Candidates, problem: Problem, bound: float, share: float,
                port: float):
    """The first solve as the 1,000-workload fleets' is: its plan, but a bound from a
    master LP that buys the port in part."""

    def solve_first(options: SolveOptions) -> Plan:
        plan = solve_built_candidates(candidates, problem.policy, replace(options, branch=False))
        plan.solver["ports_in_part"] = [
            {"codebase": PORT[0], "ecosystem": PORT[1], "usd": port, "share": share}]
        total = plan.total_usd or 0.0
        return replace(plan, status="feasible", bound_usd=bound, gap=(total - bound) / total)

    return solve_first


def test_branching_on_a_port_bought_in_part_proves_the_optimum():
    # d = h100 - inf2 a gang. Room on inf2 for one gang, the port 1.5 d: the optimum (by
    # hand) is both gangs on the H100s. A master LP buys half the port and puts half of
    # each gang on inf2: 2 h100 - 0.25 d. Forbidden, the port leaves 2 h100; bought,
    # one gang on inf2 costs 2 h100 + 0.5 d with the port. So the bound is the optimum.
    problem, on, port = two_gangs_and_room_for_one(1.5)
    candidates = build_candidates(problem)
    d = on["h100"] - on["inf2"]
    optimum = 2 * on["h100"]
    nodes: list[Candidates] = []

    def solve_node(sub: Candidates, policy: Any, options: SolveOptions) -> Plan:
        nodes.append(sub)
        assert not options.branch and not options.explain
        return solve_built_candidates(sub, policy, options)

    plan = branch_on_ports(candidates, problem.policy, SolveOptions(time_limit=30), 10,
                           time.perf_counter(), lambda: False,
                           _weak_first(candidates, problem, optimum - 0.25 * d, 0.5, port),
                           solve_node)
    assert [sub.rows.height for sub in nodes] == [2, 4]
    assert plan.status == "optimal" and plan.solver["stop_reason"] == "optimal"
    assert plan.total_usd == pytest.approx(optimum, abs=0.02)
    assert plan.bound_usd == plan.total_usd and plan.gap == 0
    forbidden, bought = plan.solver["branch_nodes"]
    assert forbidden["forbidden"] == bought["bought"] == [
        {"codebase": "shared", "ecosystem": "neuron"}]
    assert forbidden["bound_usd"] == pytest.approx(optimum, abs=0.02)
    # the bought node's plan and bound, costed on the whole fleet: its port included
    assert bought["total_usd"] == pytest.approx(optimum + 0.5 * d, abs=0.02)
    assert bought["bound_usd"] == pytest.approx(optimum + 0.5 * d, abs=0.02)
    assert plan.solver["engine"].endswith("(branched on ports: 3 solves)")
    PlanDocument.model_validate(plan.to_dict())


def test_an_optimum_that_buys_the_port_is_proven_by_its_children_and_pays_it():
    # The port at 0.5 d: both gangs cannot fit on inf2, so the optimum buys the port for
    # one of them: 2 h100 - d + 0.5 d. Forbidden, the port leaves 2 h100; bought, the
    # optimum: so the children's bound is the optimum, and the plan returned buys the
    # port, pays it and keeps every rule.
    problem, on, port = two_gangs_and_room_for_one(0.5)
    candidates = build_candidates(problem)
    d = on["h100"] - on["inf2"]
    optimum = 2 * on["h100"] - 0.5 * d
    plan = branch_on_ports(candidates, problem.policy, SolveOptions(time_limit=30), 10,
                           time.perf_counter(), lambda: False,
                           _weak_first(candidates, problem, optimum - 0.1 * d, 0.75, port),
                           lambda sub, policy, options: solve_built_candidates(
                               sub, policy, options))
    assert plan.total_usd == pytest.approx(optimum, abs=0.02)
    assert plan.bound_usd == pytest.approx(optimum, abs=0.02)
    assert plan.ports.select("codebase", "ecosystem", "usd").rows() == [
        ("shared", "neuron", pytest.approx(port))]
    units, left_out = placement_of(plan, candidates)
    assert candidate_violations(candidates, units, left_out, problem.policy) == []
    assert plan.cost is not None and plan.cost["porting_usd"] == pytest.approx(port)


def test_a_branching_that_does_not_raise_the_bound_gives_the_time_left_to_the_whole():
    # every solve reports the first's weak bound, as where the gap is the plan's (the
    # 1,000 fleet's seed 4): after one branching the whole fleet is solved again, with
    # the next seed and all the time left, and the tree ends
    problem, on, port = two_gangs_and_room_for_one(1.5)
    candidates = build_candidates(problem)
    weak = 2 * on["h100"] - 1000
    solves: list[tuple[int, int, float]] = []

    def solve_node(sub: Candidates, policy: Any, options: SolveOptions) -> Plan:
        solves.append((sub.rows.height, options.seed, options.time_limit))
        plan = solve_built_candidates(sub, policy, options)
        return replace(plan, status="feasible", bound_usd=weak - 500)

    plan = branch_on_ports(candidates, problem.policy, SolveOptions(time_limit=60, seed=7),
                           10, time.perf_counter(), lambda: False,
                           _weak_first(candidates, problem, weak, 0.5, port), solve_node)
    assert [(rows, seed) for rows, seed, _ in solves] == [(2, 7), (4, 7), (4, 8)]
    # (the first solve and the children, on two gangs, end long before their limits)
    assert solves[0][2] == solves[1][2] == 10 and 50 < solves[2][2] <= 60
    whole = plan.solver["branch_nodes"][-1]
    assert whole["bought"] == whole["forbidden"] == []
    # no child's bound falls below its parent's
    assert plan.bound_usd == pytest.approx(weak)
    assert plan.total_usd == pytest.approx(2 * on["h100"], abs=0.02)


def test_a_first_solve_without_a_plan_leaves_the_time_left_to_the_whole():
    # no plan in the first solve's share of the time, not proven infeasible: the whole
    # fleet is solved again with the time left, unbranched
    problem, _, _ = two_gangs_and_room_for_one(1.5)
    candidates = build_candidates(problem)
    limits: list[float] = []

    def solve_first(options: SolveOptions) -> Plan:
        limits.append(options.time_limit)
        assert not options.branch
        plan = solve_built_candidates(candidates, problem.policy, options)
        return replace(plan, status="unknown") if len(limits) == 1 else plan

    plan = branch_on_ports(candidates, problem.policy, SolveOptions(time_limit=60), 10,
                           time.perf_counter(), lambda: False, solve_first,
                           lambda *args: pytest.fail("no node without a plan to branch from"))
    assert plan.has_plan and limits[0] == 10 and 55 < limits[1] <= 60


def test_an_interrupted_tree_returns_the_first_plan_and_says_so():
    problem, on, port = two_gangs_and_room_for_one(1.5)
    candidates = build_candidates(problem)
    bound = 2 * on["h100"] - 1000
    plan = branch_on_ports(candidates, problem.policy, SolveOptions(time_limit=30), 10,
                           time.perf_counter(), lambda: True,
                           _weak_first(candidates, problem, bound, 0.5, port),
                           lambda *args: pytest.fail("no node after Ctrl-C"))
    assert plan.solver["stop_reason"] == "interrupted"
    assert plan.bound_usd == pytest.approx(bound) and plan.status == "feasible"
    assert plan.solver["branch_nodes"] == []


def test_a_tree_with_no_bound_known_says_none_rather_than_a_number():
    problem, _, _ = two_gangs_and_room_for_one(1.5)
    candidates = build_candidates(problem)

    def no_bound(options: SolveOptions) -> Plan:
        plan = solve_built_candidates(candidates, problem.policy, options)
        return replace(plan, status="feasible", bound_usd=None, gap=None)

    plan = branch_on_ports(candidates, problem.policy, SolveOptions(time_limit=30), 10,
                           time.perf_counter(), lambda: True, no_bound,
                           lambda *args: pytest.fail("no node after Ctrl-C"))
    assert plan.status == "feasible" and plan.has_plan
    assert plan.bound_usd is None and plan.gap is None
    assert plan.solver["bound_units"] is None
    PlanDocument.model_validate(plan.to_dict())


def test_a_generated_fleet_branched_on_keeps_every_rule_and_only_raises_its_bound(
        monkeypatch):
    from benchmarks.run import fleet_problem

    branching = sys.modules["placer.branching"]
    engine = sys.modules["placer.solve"]
    # three solves of 3 s (the suite's time) on a fleet above the small fleets' size
    monkeypatch.setattr(branching, "NODE_S", 3.0)
    monkeypatch.setattr(branching, "SOLVES", 3)
    problem = fleet_problem(300, seed=2)
    solves: list[Plan] = []
    original = engine.solve_built_candidates

    def recorded(*args: Any, **kwargs: Any) -> Plan:
        plan = original(*args, **kwargs)
        if not args[2].branch:
            solves.append(plan)
        return plan

    monkeypatch.setattr(engine, "solve_built_candidates", recorded)
    plan = solve(problem, time_limit=9, workers=2)
    first, nodes = solves[0], plan.solver["branch_nodes"]
    assert first.solver["ports_in_part"], "the first solve's master buys no port in part"
    assert all(0 < p["share"] < 1 for p in first.solver["ports_in_part"])
    # two children on one port the first's master bought in part; after them, if any,
    # the whole fleet again (its time too short for more)
    assert len(nodes) == len(solves) - 1 >= 2
    port = nodes[0]["forbidden"]
    assert port == nodes[1]["bought"] and nodes[0]["bought"] == nodes[1]["forbidden"] == []
    assert len(port) == 1 and port[0]["codebase"] in {
        p["codebase"] for p in first.solver["ports_in_part"]}
    assert all(n["bought"] == n["forbidden"] == [] for n in nodes[2:])
    assert first.bound_usd is not None and plan.bound_usd is not None
    assert first.bound_usd <= plan.bound_usd <= plan.total_usd
    # the lower child's bound, or the whole fleet's solved again where higher; never
    # above the plan
    expected = max([min(n["bound_usd"] for n in nodes[:2])]
                   + [n["bound_usd"] for n in nodes[2:]])
    assert plan.bound_usd == pytest.approx(min(expected, plan.total_usd), abs=0.01)
    totals = [first.total_usd] + [n["total_usd"] for n in nodes if n["total_usd"]]
    assert plan.total_usd == pytest.approx(min(totals), abs=0.01)
    doc = PlanDocument.model_validate(plan.to_dict())
    assert check_plan(doc, problem) == []
    assert doc.total_usd == pytest.approx(plan.total_usd, abs=0.01)
    assert math.isclose(plan.gap or 0, (plan.total_usd - plan.bound_usd) / plan.total_usd)


def test_verbose_says_which_ports_the_first_master_bought_in_part_and_what_followed():
    from placer.cli import _branch_phase

    assert _branch_phase({"ports_in_part": [], "branch_nodes": []}) == ""
    said = _branch_phase({
        "ports_in_part": [{"codebase": "cb0003", "ecosystem": "xla", "usd": 200_000.0,
                           "share": 0.686087}],
        "branch_nodes": [{"time_s": 9.1}, {"time_s": 10.15}]})
    assert said == ("branched on ports (its master LP bought in part: cb0003 to xla 0.69): "
                    "2 more solves in 19.25 s; ")
