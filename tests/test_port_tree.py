"""Branch and price on ports inside column generation's master (placer.port_tree): a node
uses only the columns that keep its ports and prices its pieces with them fixed; the
lowest leaf's bound is a bound on every plan, reaching the hand-computed optimum."""

from __future__ import annotations

import math
import sys
import time
from dataclasses import replace
from typing import Any

import numpy as np
import polars as pl
import pytest

from placer import port_tree
from placer.candidates import build_candidates
from placer.catalog import default_catalog
from placer.check import candidate_violations, check_plan
from placer.colgen import Master, generate_columns, solve_master
from placer.lagrange import price_pieces, search_pieces
from placer.model import build_model
from placer.plan import placement_of
from placer.port_tree import (
    NODE_OF_ROOT,
    PortTree,
    grow_port_tree,
    in_part,
    port_to_branch_on,
    tree_fits,
)
from placer.problem import Problem, problem_from_dict
from placer.relax import solve_relaxation
from placer.schema import PlanDocument
from placer.solve import Columns, SolveOptions, WarmStart, solve, solve_built_candidates
from placer.subproblems import inference_covers, port_set_columns, workload_vars
from placer.warmstart import full_values, warm_start

H100, INF2 = "aws/us-east-1/h100", "aws/us-east-1/inf2"


def two_gangs_and_room_for_one(port_share: float, room_on: str = INF2
                               ) -> tuple[Problem, dict[str, float], float]:
    """Two required gangs of one CUDA codebase that may be ported to Neuron, where each
    runs for d less than on the H100s, and room on `room_on` (inf2 or the H100s) for one
    of them; the port costs `port_share` d. The problem, a gang's cost per chip family,
    and the port's price."""
    priced = default_catalog().offerings.filter(pl.col("offering").is_in([H100, INF2]))

    def fleet(port_usd: float, chips: int) -> Problem:
        offerings = priced.with_columns(
            pl.when(pl.col("offering") == room_on).then(chips)
            .otherwise(pl.col("capacity_chips")).alias("capacity_chips"))
        return problem_from_dict({"horizon_days": 30, "workloads": [
            {"name": n, "kind": "training", "chip_hours": 2000, "deadline_days": 30,
             "runs_on": ["cuda"], "codebase": "shared", "port_usd": {"neuron": port_usd}}
            for n in ("a", "b")]}, catalog=default_catalog().with_offerings(offerings))

    rows = build_candidates(fleet(1.0, 10_000)).rows
    on = {chip: float(usd) for chip, usd in rows.group_by("chip").agg(
        (pl.col("unit_compute_usd") + pl.col("unit_carbon_usd")).min()).iter_rows()}
    one_gang = int(rows.filter(pl.col("offering") == room_on)["unit_chips"].max())
    port = round(port_share * (on["h100"] - on["inf2"]), 2)
    return fleet(port, one_gang), on, port


def _two_gangs(port_share: float, room_on: str = INF2) -> tuple:
    """The two gangs with room on `room_on` for one, after column generation: (master,
    its rounds, the port variable, a gang's cost per chip family in solver units, the
    port's price in solver units, the plan it started from)."""
    problem, on, port = two_gangs_and_room_for_one(port_share, room_on)
    candidates = build_candidates(problem)
    built = build_model(candidates, problem.policy)
    relaxation = solve_relaxation(built.builder)
    pieces = price_pieces(built.builder, relaxation)
    search_pieces(pieces, time_budget=30)
    workloads = workload_vars(candidates, built)
    master = Master(built.builder, pieces, inference_covers(workloads), workloads)
    warm = warm_start(built, candidates, problem.policy, relaxation)
    start = full_values(built, candidates, warm.units, warm.left_out)
    master.add(start)
    master.add_integral(pieces.values)
    root = generate_columns(master, relaxation.duals[master.coupling],
                            pieces.result().bound, start, budget_s=30, deadline=math.inf)
    (variable,) = built.ports["var"].to_list()
    scale = built.scale
    return master, root, variable, {k: v * scale for k, v in on.items()}, port * scale, start


def test_a_master_lp_buys_the_port_in_part_and_the_tree_proves_the_optimum():
    # d = h100 - inf2 a gang, the port 1.5 d, room on inf2 for one gang. By hand: the
    # master LP buys half the port, both gangs on inf2 half the time: 2 h100 - 0.25 d.
    # Forbidden, the port leaves both on the H100s: 2 h100, the optimum; bought, one gang
    # on inf2 with the port: 2 h100 + 0.5 d. The lowest leaf's bound is the optimum.
    master, root, port, on, price, start = _two_gangs(1.5)
    d = on["h100"] - on["inf2"]
    optimum = 2 * on["h100"]
    assert root.bound == pytest.approx(optimum - 0.25 * d, abs=2)
    shares = master.lp_values(root.weights, np.array([port]))
    assert shares == pytest.approx([0.5], abs=1e-6)
    assert port_to_branch_on(shares, np.array([port]), np.array([price])) == port
    # in part: strictly between none and whole, beyond the LP's tolerance; NaN not held
    edges = np.array([0.0, 5e-5, 0.5, 1 - 5e-5, 1.0, np.nan])
    assert in_part(edges).tolist() == [False, False, True, False, False, False]

    planned = float(master.objective @ start)  # both on the H100s: the optimum
    assert planned == pytest.approx(optimum, abs=2)
    tree = grow_port_tree(master, root, np.array([port]), np.array([price]), start,
                          math.inf, 1, lambda: False, planned, gap=1e-6)
    # the LP buys half the port: the bought side first, then the forbidden one, which
    # stays below it and so goes on to its end
    bought, forbidden = tree.nodes
    assert (bought.fixed, forbidden.fixed) == ({port: 1}, {port: 0})
    assert forbidden.bound == pytest.approx(optimum, abs=2)
    assert bought.bound == pytest.approx(optimum + 0.5 * d, abs=2)
    assert not bought.unfinished and not forbidden.unfinished
    assert tree.bound == pytest.approx(optimum, abs=2) and tree.lowest is forbidden
    # the lowest leaf meets the plan: the tree ends there, the master as it was
    assert tree.stop_reason == "gap limit" and not tree.cut_by_time
    assert tree.leaves == [bought, forbidden] and master.fixed == {}
    # every column any node found is one of the fleet's: the plan over all of them
    assert solve_master(master, start, 5, math.inf).objective == pytest.approx(optimum, abs=2)


def test_a_node_uses_only_the_columns_that_keep_its_port_and_prices_it_fixed():
    master, root, port, _, _, start = _two_gangs(1.5)
    piece = master.piece_of[port]
    buying = np.array([master._batches[b][port] for b in master.col_batch.tolist()])
    of_piece = master.col_piece == piece
    assert (buying[of_piece] == 1).any() and (buying[of_piece] == 0).any()
    for value in (0, 1):
        master.fix({port: value})
        agree = master.agreeing()
        assert (agree[of_piece] == (buying[of_piece] == value)).all()
        assert agree[~of_piece].all()
        lp = master.solve_lp(30)
        assert lp is not None and (lp.weights[~agree] == 0).all()
        # the pieces' search and their port sets keep it fixed, whatever the prices
        for duals in (root.duals, -10 * root.duals, np.zeros_like(root.duals)):
            priced = master.price(duals, start)
            assert priced is not None and priced.values[port] == value
            values = start.copy()
            wanted = np.zeros(master.pieces, dtype=bool)
            wanted[piece] = True
            assert master.port_sets is not None
            assert port_set_columns(master.port_sets, master.objective.astype(float),
                                    values, wanted, master.lower, master.upper)[piece]
            assert values[port] == value
    master.fix({})
    assert master.agreeing().all()
    assert (master.lower[port], master.upper[port]) == (0, 1)


def test_a_child_whose_parents_columns_all_break_its_port_starts_from_its_own():
    # the start buys no port: the bought child has a column that buys it only once it
    # prices one, and its LP (the coupling rows relaxed until then) still ends at the
    # bound by hand
    master, root, port, on, price, start = _two_gangs(1.5)
    assert start[port] == 0
    d = on["h100"] - on["inf2"]
    tree = grow_port_tree(master, root, np.array([port]), np.array([price]), start,
                          math.inf, 1, lambda: False, math.inf)
    (bought,) = [node for node in tree.nodes if node.fixed == {port: 1}]
    assert bought.bound == pytest.approx(2 * on["h100"] + 0.5 * d, abs=2)


def test_the_tree_stops_where_its_bound_is_enough_or_no_time_is_left():
    master, root, port, _, price, start = _two_gangs(1.5)
    ports, cost = np.array([port]), np.array([price])
    enough = grow_port_tree(master, root, ports, cost, start, math.inf, 1, lambda: False,
                            root.bound * 1.01, gap=0.01)
    assert enough.nodes == [] and enough.bound == root.bound
    assert enough.stop_reason == "gap limit" and not enough.cut_by_time
    late = grow_port_tree(master, root, ports, cost, start, 0.0, 1, lambda: False, math.inf)
    assert late.nodes == [] and late.leaves == [late.root]
    assert late.stop_reason == "time limit" and late.cut_by_time
    stopped = grow_port_tree(master, root, ports, cost, start, math.inf, 1, lambda: True,
                             math.inf)
    assert stopped.nodes == [] and stopped.stop_reason == "stopped"
    # a tree grows where two nodes fit, each a share of the root's rounds
    assert tree_fits(root, 2 * NODE_OF_ROOT * root.time_s)
    assert not tree_fits(root, 2 * NODE_OF_ROOT * root.time_s * 0.99)
    no_lp = replace(root, duals=None, weights=None)  # its rounds cut before an LP
    assert not tree_fits(no_lp, math.inf)


def test_a_generated_fleet_branched_on_keeps_every_rule_and_reports_its_nodes(monkeypatch):
    from benchmarks.run import fleet_problem

    engine = sys.modules["placer.solve"]
    # the suite's time: two nodes fit where a tenth of the root's rounds does
    monkeypatch.setattr(port_tree, "NODE_OF_ROOT", 0.1)
    trees: list[PortTree] = []
    original = engine._port_tree

    def recorded(*args: Any, **kwargs: Any) -> PortTree:
        trees.append(original(*args, **kwargs))
        return trees[-1]

    monkeypatch.setattr(engine, "_port_tree", recorded)
    problem = fleet_problem(300, seed=2)
    plan = solve(problem, time_limit=9, workers=2)
    (tree,) = trees
    solver = plan.solver
    assert solver["ports_in_part"], "the master LP buys no port in part"
    assert all(0 < p["share"] < 1 for p in solver["ports_in_part"])
    nodes = solver["branch_nodes"]
    assert len(nodes) == len(tree.nodes) >= 2
    assert [n["finished"] for n in nodes] == [not node.unfinished for node in tree.nodes]
    # the first two: one port the master bought in part, each side once
    first, second = sorted(nodes[:2], key=lambda node: len(node["bought"]))
    port = first["forbidden"]
    assert port == second["bought"] and first["bought"] == second["forbidden"] == []
    assert len(port) == 1 and port[0]["codebase"] in {
        p["codebase"] for p in solver["ports_in_part"]}
    assert solver["branch_stop_reason"] == tree.stop_reason != ""
    assert solver["engine"].startswith("cp-sat ") and \
        f"(branched on ports: {len(nodes)} nodes)" in solver["engine"]
    # each child's bound at least its parent's; the plan's at least the lowest leaf's
    scale = solver["money_scale"]
    assert all(n["bound_usd"] >= tree.root.bound / scale - 0.01 for n in nodes)
    assert plan.bound_usd is not None and plan.total_usd is not None
    assert tree.bound / scale - 0.01 <= plan.bound_usd <= plan.total_usd
    doc = PlanDocument.model_validate(plan.to_dict())
    assert check_plan(doc, problem) == []
    units, left_out = placement_of(plan, build_candidates(problem))
    assert candidate_violations(build_candidates(problem), units, left_out,
                                problem.policy) == []


def test_no_tree_for_a_small_fleet_or_with_branching_off(monkeypatch):
    from benchmarks.run import fleet_problem

    # whether a tree may grow is asked only where branching is on and the fleet is not
    # small; the answer is no, so that each solve stays short (a tree that grows:
    # test_a_generated_fleet_branched_on_keeps_every_rule_and_reports_its_nodes)
    engine = sys.modules["placer.solve"]
    asked: list[float] = []
    monkeypatch.setattr(engine, "tree_fits", lambda root, seconds: asked.append(seconds) and False)
    problem = fleet_problem(300, seed=2)
    candidates = build_candidates(problem)

    def solve_it(**options: object) -> None:
        plan = solve_built_candidates(candidates, problem.policy,
                                      SolveOptions(time_limit=4, workers=2, **options))
        assert plan.solver["columns_rounds"] > 0 and not plan.solver.get("branch_nodes")

    solve_it(branch=False)
    assert asked == []
    monkeypatch.setattr(engine, "SMALL_FLEET_WORKLOADS", 300)
    solve_it()
    assert asked == []
    monkeypatch.setattr(engine, "SMALL_FLEET_WORKLOADS", 299)
    solve_it()
    assert len(asked) == 1


def test_verbose_says_which_ports_the_master_bought_in_part_and_how_the_tree_went():
    from placer.cli import _branch_phase

    assert _branch_phase({"ports_in_part": [], "branch_nodes": []}) == ""
    said = _branch_phase({
        "ports_in_part": [{"codebase": "cb0003", "ecosystem": "xla", "usd": 200_000.0,
                           "share": 0.686087}],
        "branch_nodes": [{"time_s": 2.1}, {"time_s": 2.45}],
        "branch_stop_reason": "no port in part"})
    assert said == ("branched on ports (its master LP bought in part: cb0003 to xla 0.69): "
                    "2 nodes in 4.55 s, no port in part; ")


def test_the_trees_bound_is_the_bound_known_before_the_search():
    # the search after the master stops, or never starts, where its plan is within the
    # gap limit of the tree's bound, not only of the rounds'
    master, root, port, _, price, start = _two_gangs(1.5)
    tree = grow_port_tree(master, root, np.array([port]), np.array([price]), start,
                          math.inf, 1, lambda: False, math.inf)
    assert tree.bound > root.bound + 1
    columns = Columns(root, None, None, "OPTIMAL", 0.0, False, tree=tree)
    assert columns.bound == tree.bound
    warm = WarmStart(root.bound - 100, None, False, None, None, columns=columns)
    assert warm.bound_units == tree.bound
    assert Columns(root, None, None, "OPTIMAL", 0.0, False).bound == root.bound


def test_a_child_with_no_plan_gets_a_bound_above_any_plan_and_the_other_proves_it():
    # Room on the H100s for one gang, the port 3 d: a plan buys the port and puts at
    # least one gang on inf2; both there is the optimum, 2 inf2 + 3 d = 2 h100 + d. The
    # master LP puts each gang half on inf2 with half the port: 2 h100 - d + 1.5 d. With
    # the port forbidden no plan fits: its LP keeps its rows relaxed, its prices rise, and
    # so does its bound; bought, the bound is the optimum.
    master, root, port, on, price, start = _two_gangs(3.0, room_on=H100)
    d = on["h100"] - on["inf2"]
    optimum = 2 * on["h100"] + d
    assert root.bound == pytest.approx(2 * on["h100"] + 0.5 * d, abs=2)
    assert float(master.objective @ start) == pytest.approx(optimum, abs=2)
    tree = grow_port_tree(master, root, np.array([port]), np.array([price]), start,
                          math.inf, 1, lambda: False, math.inf)
    # bought first (the LP buys half the port), to its end; forbidden, its rounds stop
    # once its bound passes the bought side's, and it is left unfinished
    bought, forbidden = tree.nodes
    assert bought.fixed == {port: 1} and not bought.unfinished
    assert bought.bound == pytest.approx(optimum, abs=2)
    assert forbidden.fixed == {port: 0} and forbidden.unfinished
    assert forbidden.bound >= bought.bound
    assert tree.lowest is bought and tree.bound == pytest.approx(optimum, abs=2)
    assert tree.stop_reason == "no port in part"
    # its rounds go on from where they stopped, should it become the lowest leaf
    resumed = port_tree.solve_node(master, forbidden.fixed, forbidden, np.array([port]),
                                   start, math.inf, 1, lambda: False, 0.0)
    assert not resumed.unfinished and resumed.bound > optimum + d
    # (here its LP had met its bound already: no round more, its time and rounds kept)
    assert resumed.rounds == forbidden.rounds and resumed.time_s > forbidden.time_s
    master.fix({})


def test_the_first_child_has_half_the_time_left_and_goes_on_where_the_clock_cut_it(
        monkeypatch):
    # at 10 s a first child that ran to the tree's deadline left its sibling none, and
    # the tree's bound was the root's
    master, root, port, _, price, start = _two_gangs(1.5)
    solved: list[tuple[dict[int, int], float, port_tree.PortNode]] = []
    raised = {1: 1.0, 2: 5.0, 3: 3.0}  # the first child cut, its sibling above it, resumed

    def node(master, fixed, parent, ports, hint, deadline, workers, should_stop,
             full_round_s, stop_above=math.inf):
        solved.append((dict(fixed), deadline, parent))
        n = len(solved)
        return port_tree.PortNode(dict(fixed), root.bound + raised[n], parent.duals,
                                  np.array([1.0]), unfinished=n < 3, cut_by_time=n == 1)

    monkeypatch.setattr(port_tree, "solve_node", node)
    ports, cost = np.array([port]), np.array([price])
    started = time.perf_counter()
    deadline = started + 100
    tree = grow_port_tree(master, root, ports, cost, start, deadline, 1, lambda: False,
                          math.inf)
    (first, first_ends, _), (second, second_ends, _), (again, _, resumed_from) = solved
    assert first == {port: 1} and second == {port: 0} and again == first
    assert first_ends == pytest.approx(started + 50, abs=1) and second_ends == deadline
    assert resumed_from.fixed == first and resumed_from.cut_by_time
    assert tree.bound == root.bound + 3 and tree.stop_reason == "no port in part"
    assert [leaf.fixed for leaf in tree.nodes] == [first, second]
    # a leaf the clock cut is not resumed where a full round no longer fits
    solved.clear()
    slow_rounds = replace(root, full_rounds=1, full_rounds_s=1000.0)
    tree = grow_port_tree(master, slow_rounds, ports, cost, start, deadline, 1,
                          lambda: False, math.inf)
    assert len(solved) == 2 and tree.stop_reason == "time limit"
    assert tree.bound == root.bound + 1 and tree.lowest.unfinished
    # a node whose rounds the clock cut is left unfinished; one stopped is not
    monkeypatch.undo()
    first_node = port_tree.PortNode({}, root.bound, root.duals, None)
    for stop, unfinished in ((False, True), (True, False)):
        cut = port_tree.solve_node(master, {port: 1}, first_node, ports, start,
                                   time.perf_counter(), 1, lambda stop=stop: stop, 0.0)
        assert cut.cut_by_time and cut.unfinished == unfinished
    master.fix({})
