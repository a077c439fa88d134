"""Column generation over the Lagrangian pieces: its master's plan keeps every rule and
reaches hand-computed optima, its bound never passes the optimum, and the serving
workloads' covers found by dynamic programming are real covers, the cheapest on their
grid."""

from __future__ import annotations

import itertools
import math
import sys
import threading
import time
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from placer import colgen
from placer.candidates import build_candidates
from placer.check import candidate_violations
from placer.colgen import (
    FULL_MASTER_S,
    NEAR_BOUND,
    PERTURBED_ROUNDS,
    SUPPORT_MIN_S,
    SUPPORT_SHARE,
    ColumnGeneration,
    EarlySearch,
    Master,
    SearchStop,
    cap_columns,
    generate_columns,
    perturbed_columns,
    price_without_search,
    solve_master,
)
from placer.lagrange import price_pieces, search_pieces
from placer.model import INT64_SAFE, ProtoBuilder, build_model, force_unplaced
from placer.plan import placement_of
from placer.problem import problem_from_dict
from placer.relax import solve_relaxation
from placer.solve import (
    ACROSS_CAPS_MASTER_S,
    MASTER_SHARE,
    SolveOptions,
    _left_out,
    _price_for_bound,
    _recombiner,
    full_round_seconds,
    objective_units,
    solve,
    solve_built_candidates,
)
from placer.subproblems import (
    COVER_CELLS,
    Covers,
    cover_columns,
    inference_covers,
    workload_vars,
)
from placer.warmstart import full_values, warm_start
from tests.bruteforce import brute_force, cent_rounding
from tests.conftest import no_search_after_the_warm_start
from tests.test_engine import EXHAUSTIVE, _fleet, small_problems
from tests.test_lagrange import relaxed, toy


def _master(builder: ProtoBuilder, with_pieces: bool = True
            ) -> tuple[Master, np.ndarray, float, np.ndarray]:
    """tests/test_lagrange.py's toy: two serving workloads, A (3 H100-equivalents: 2 per
    $100 instance on X, 2 of its chips, $50 of egress once; or $70 instances of 1 on Y)
    and B (2: $60 instances of 1 on X, 1 chip each; or $90 on Z). By hand, with 1 chip
    of X: A on 3 Y ($210), B on 1 X and 1 Z ($150): $360; with room, B on 2 X: $330.
    Its master of a plan to start from (and of the pieces' solutions at the LP's duals):
    (master, the LP's duals of the coupling rows, the Lagrangian bound there, the
    plan)."""
    relaxation = solve_relaxation(builder)
    pieces = price_pieces(builder, relaxation)
    search_pieces(pieces, time_budget=30)
    master = Master(builder, pieces)
    start = np.array([0, 0, 3, 0, 2])  # A on 3 Y, B on 2 Z: $390, keeps every rule
    master.add(start)
    if with_pieces:
        master.add_integral(pieces.values)
    return master, relaxation.duals[master.coupling], pieces.result().bound, start


def test_rounds_of_columns_take_the_masters_lp_to_the_hand_computed_optimum():
    builder = toy(capacity=1)
    master, duals, bound, start = _master(builder, with_pieces=False)
    # over the start's columns alone the master can only keep the start
    first = solve_master(master, start, deterministic_s=5, deadline=math.inf)
    assert first.objective == 390
    generated = generate_columns(master, duals, bound, start, budget_s=10, deadline=math.inf)
    assert not generated.cut_by_time
    assert generated.bound == pytest.approx(360)
    assert generated.lp_objective == pytest.approx(360)
    # the last master LP's duals price the pieces at the optimum too (a fleet in parts
    # prices its bound at its parts')
    assert master.price(generated.duals, start).bound == pytest.approx(360)
    # ... as half of B on 2 X and half on 2 Z (one chip of X, $150): at those prices
    # B's 1 X and 1 Z costs the same, so no round adds it, and in integers the master
    # keeps the start (the search after it, over all rows, finds B's 1 X and 1 Z)
    solved = solve_master(master, start, deterministic_s=5, deadline=math.inf)
    assert solved.objective == 390


def test_the_pieces_at_the_lps_duals_already_give_the_master_its_optimum():
    # the LP prices X's chip, so B's piece already prefers 1 X and 1 Z there
    master, _, bound, start = _master(toy(capacity=1))
    assert bound == pytest.approx(360)
    assert solve_master(master, start, 5, math.inf).objective == 360


def test_a_round_that_finds_nothing_new_at_the_masters_own_prices_ends_it():
    # with room for everyone the LP's duals already price the optimum ($330: A on 3 Y,
    # B on 2 X): the first round adds nothing, the second (at the master's duals) too
    builder = toy(capacity=10)
    master, duals, bound, start = _master(builder)
    generated = generate_columns(master, duals, bound, start, budget_s=10, deadline=math.inf)
    assert generated.bound == pytest.approx(330)
    assert generated.lp_objective == pytest.approx(330)
    assert generated.rounds <= 2
    assert solve_master(master, start, 5, math.inf).objective == 330


def test_the_master_searches_all_its_columns_in_what_a_10_s_limit_gives_it():
    """The toy with egress on Z too ($10 once B uses any Z) and X's 1 chip: B on 2 X
    ($120) does not fit, 1 X and 1 Z costs $160, 2 Z $190. The master's LP mixes B's 2 X
    and 2 Z half and half ($155), so its first search, over the LP's columns and the
    start's, keeps A on 3 Y ($210) and B on 2 Z: $400; over all its columns the master
    finds B's 1 X and 1 Z: $370, in the deterministic time a 10 s limit gives it."""
    builder = toy(capacity=1)
    b_z = 4
    b_egress = int(builder.new_vars(np.array([0]), np.array([1]))[0])
    with builder.tagged("egress"):
        builder.add_linear([b_z, b_egress], [1, -2], -INT64_SAFE, 0)
    builder.proto.objective.vars.append(b_egress)
    builder.proto.objective.coeffs.append(10)
    relaxation = solve_relaxation(builder)
    master = Master(builder, price_pieces(builder, relaxation))
    start = np.array([0, 0, 3, 0, 2, 1])  # A on 3 Y, B on 2 Z: $400
    master.add(start)
    master.add(np.array([0, 0, 3, 2, 0, 0]))  # B on 2 X
    master.add(np.array([0, 0, 3, 1, 1, 1]))  # B on 1 X and 1 Z
    assert master.solve_lp(10).objective == pytest.approx(210 + 155)
    solved = solve_master(master, start, MASTER_SHARE * 10, math.inf)
    assert solved.objective == 370
    assert solved.values.tolist() == [0, 0, 3, 1, 1, 1]


def warm_started(problem) -> tuple | None:
    """relaxed(problem) and its warm start, or None (an event) where the warm start breaks
    a rule."""
    candidates, expected, built, relaxation = relaxed(problem)
    warm = warm_start(built, candidates, problem.policy, relaxation)
    if candidate_violations(candidates, warm.units, warm.left_out, problem.policy):
        event("no warm start")
        return None
    return candidates, expected, built, relaxation, warm


@settings(EXHAUSTIVE, max_examples=40)
@given(problem=small_problems())
def test_the_masters_plan_keeps_every_rule_and_its_bound_never_passes_the_optimum(problem):
    started = warm_started(problem)
    if started is None:
        return
    candidates, expected, built, relaxation, warm = started
    pieces = price_pieces(built.builder, relaxation)
    search_pieces(pieces, time_budget=30)
    master = Master(built.builder, pieces, inference_covers(workload_vars(candidates, built)))
    start = full_values(built, candidates, warm.units, warm.left_out)
    master.add(start)
    master.add_integral(pieces.values)
    generated = generate_columns(master, relaxation.duals[master.coupling],
                                 pieces.result().bound, start, budget_s=5, deadline=math.inf)
    slack = cent_rounding(candidates) * built.scale
    assert generated.bound <= expected * built.scale + slack
    solved = solve_master(master, start, deterministic_s=5, deadline=math.inf)
    units, left_out = solved.values[built.units], np.zeros(candidates.workloads.height, bool)
    optional = built.unplaced >= 0
    left_out[optional] = solved.values[built.unplaced[optional]] > 0
    assert candidate_violations(candidates, units, left_out, problem.policy) == []
    cost = objective_units(built, candidates, units, left_out)
    assert cost <= solved.objective  # (the master pays a port a column buys unused)
    assert cost >= expected * built.scale - slack
    event("optimal" if cost <= expected * built.scale + slack else "above the optimum")


def _exhaustive_cover(supply: list[int], cost: list[float], once: list[float],
                      most: list[int], need: int) -> float:
    """The cheapest cover of `need` by whole units (at most most[r] of row r, once[r]
    paid if the row is used at all)."""
    best = math.inf
    for counts in itertools.product(*(range(m + 1) for m in most)):
        if sum(n * s for n, s in zip(counts, supply, strict=True)) >= need:
            best = min(best, sum(n * c + (o if n else 0)
                                 for n, c, o in zip(counts, cost, once, strict=True)))
    return best


@st.composite
def cover_problems(draw):
    rows = draw(st.integers(1, 4))
    need = draw(st.sampled_from([640, 1000, 2500, 6400]))
    on_cells = draw(st.booleans())  # supplies on whole cells: the grid is exact
    cell = need // COVER_CELLS
    supply = [draw(st.integers(1, 40)) * cell if on_cells
              else draw(st.integers(need // 20, need)) for _ in range(rows)]
    cost = [float(draw(st.integers(1, 90))) for _ in range(rows)]
    once = [float(draw(st.sampled_from([0, 0, 25, 200]))) for _ in range(rows)]
    most = [draw(st.integers(1, 6)) for _ in range(rows)]
    return supply, cost, once, most, need, on_cells and need % COVER_CELLS == 0


@settings(deadline=None, max_examples=150)
@given(problem=cover_problems())
def test_a_cover_found_by_dynamic_programming_is_a_real_cover_the_cheapest_on_its_grid(
        problem):
    supply, cost, once, most, need, exact = problem
    rows = len(supply)
    units = np.arange(rows)
    used = np.where(np.array(once) > 0, rows + units, -1)
    priced = np.concatenate((cost, once))
    covers = Covers(units=units, used=used, supply=np.minimum(supply, need).astype(float),
                    max_units=np.array(most), owner=np.zeros(rows, dtype=np.int64),
                    need=np.array([float(need)]), left_out=np.array([-1]))
    values = np.zeros(2 * rows, dtype=np.int64)
    written = cover_columns(covers, priced, np.array([True]), values)
    # on the grid each unit covers its supply rounded down to whole cells
    cell = need / COVER_CELLS
    on_grid = [int(s // cell) * cell for s in covers.supply.tolist()]
    grid_best = _exhaustive_cover(on_grid, cost, once, most, need)
    if not written[0]:
        # no cover on the grid, or the cheapest takes more units of a row than it has
        # (a round's search then prices the workload instead)
        event("not written")
        assert not values.any()
        return
    n = values[:rows]
    assert (n <= np.array(most)).all()
    assert float(n @ covers.supply) >= need
    assert (values[rows:][np.array(once) > 0] == (n > 0)[np.array(once) > 0]).all()
    paid = float(n @ np.array(cost) + np.array(once) @ (n > 0))
    assert paid <= grid_best + 1e-9
    best = _exhaustive_cover(covers.supply.tolist(), cost, once, most, need)
    assert paid >= best - 1e-9
    if exact:
        assert paid == pytest.approx(best)
    event("cheapest" if paid <= best + 1e-9 else "above the cheapest")


def test_an_optional_workload_is_left_out_when_its_cover_costs_more_than_its_value():
    # one row: 1 unit of 1,000 for $80 covers a need of 1,000; leaving it out costs $50
    covers = Covers(units=np.array([0]), used=np.array([-1]), supply=np.array([1000.0]),
                    max_units=np.array([3]), owner=np.array([0]), need=np.array([1000.0]),
                    left_out=np.array([1]))
    values = np.zeros(2, dtype=np.int64)
    assert cover_columns(covers, np.array([80.0, 50.0]), np.array([True]), values)[0]
    assert values.tolist() == [0, 1]
    values = np.zeros(2, dtype=np.int64)
    cover_columns(covers, np.array([30.0, 50.0]), np.array([True]), values)
    assert values.tolist() == [1, 0]


def test_a_fleet_plan_reports_column_generation_and_goes_on_from_its_master(monkeypatch):
    import placer.colgen

    started: list[int] = []  # the columns the master's search beside the rounds had
    start = placer.colgen.EarlySearch.start

    def traced(self):
        if self._future is None:  # asked again (near_bound) it goes on: start is a no-op
            started.append(self.master.columns)
        start(self)

    monkeypatch.setattr(placer.colgen.EarlySearch, "start", traced)
    problem = _fleet(300)
    plan = solve(problem, time_limit=10, workers=2)
    info = plan.solver
    assert info["columns_rounds"] >= 1
    assert info["columns"] > 300
    assert info["columns_perturbed_rounds"] == 0  # a bound wanted: not a guide
    # the fleet's caps bind: rounds across them added columns (within the master's)
    assert 0 < info["columns_across_caps"] < info["columns"]
    assert info["lp_bound_usd"] <= info["columns_bound_usd"] <= plan.bound_usd + 0.01
    # the neighbourhoods go on from the master's plan (when it beat the warm start)
    assert plan.total_usd <= info["master_usd"] + 0.01
    # its search beside the rounds ran once, over fewer columns than it has at the end,
    # and the master's searches went on from its plan
    assert len(started) == 1 and started[0] < info["columns"]
    assert info["master_usd"] <= info["master_early_usd"] + 0.01
    candidates = build_candidates(problem)
    units, left_out = placement_of(plan, candidates)
    assert candidate_violations(candidates, units, left_out, problem.policy) == []


def test_without_column_generation_the_lagrangian_bound_is_searched_beside():
    problem = _fleet(120)
    plan = solve_built_candidates(build_candidates(problem), problem.policy,
                                  SolveOptions(time_limit=5, workers=2, columns=False))
    assert "columns_rounds" not in plan.solver
    assert plan.solver["lagrangian_bound_usd"] >= plan.solver["lp_bound_usd"]


def test_on_one_worker_no_search_of_the_master_runs_beside_the_rounds(monkeypatch):
    import placer.colgen

    def refuse(self):
        raise AssertionError("a search beside the rounds on one worker")

    monkeypatch.setattr(placer.colgen.EarlySearch, "start", refuse)
    problem = _fleet(300)
    plan = solve(problem, time_limit=5, workers=1)
    assert plan.solver["columns_rounds"] >= 1
    assert plan.solver["master_early_usd"] is None


def fleet_pieces(n: int) -> tuple:
    """A generated fleet of n workloads, its candidates, model, LP relaxation and the
    pieces at the LP's duals (none searched)."""
    problem = _fleet(n)
    candidates = build_candidates(problem)
    built = build_model(candidates, problem.policy)
    relaxation = solve_relaxation(built.builder)
    return problem, candidates, built, relaxation, price_pieces(built.builder, relaxation)


def guided_master(n: int) -> tuple:
    """fleet_pieces(n) as a guide's column generation starts: its master with the pieces
    priced at once (the rest searched briefly) and the warm start they guide as columns.
    The fleet, its LP relaxation, the pieces, the master and the warm start (a value per
    variable)."""
    problem, candidates, built, relaxation, pieces = fleet_pieces(n)
    workloads = workload_vars(candidates, built)
    master = Master(built.builder, pieces, inference_covers(workloads), workloads)
    price_without_search(master, pieces)
    search_pieces(pieces, time_budget=30, deterministic_s=0.005)
    warm = warm_start(built, candidates, problem.policy, relaxation,
                      guide=pieces.values[built.units])
    start = full_values(built, candidates, warm.units, warm.left_out)
    master.add(start)
    master.add_integral(pieces.values)
    return problem, relaxation, pieces, master, start


def test_pieces_priced_without_search_keep_their_rules_and_leave_the_bound_as_it_was():
    # a guide's pieces (no bound wanted): the choose-one pieces and the serving workloads
    # alone are priced at once, the rest left to the search
    _, candidates, built, relaxation, pieces = fleet_pieces(120)
    master = Master(built.builder, pieces, inference_covers(workload_vars(candidates, built)))
    pending = list(pieces.pending)
    bound = pieces.result().bound
    exact = price_pieces(built.builder, relaxation)  # each piece searched to its end
    search_pieces(exact, time_budget=60, deterministic_s=10.0)
    taken = price_without_search(master, pieces)

    index = {p: int(master.piece_of[pieces.vars_of[p][0]]) for p in pending}
    quick = [p for p in pending if p not in pieces.pending]
    assert taken == len(quick)
    # every choose-one piece and some serving workloads (a cover the cells cannot make
    # stays for the search); the others all left, and the bound as it was
    assert all(master.choose_one[index[p]] or master.is_cover[index[p]] for p in quick)
    assert all(p in quick for p in pending if master.choose_one[index[p]])
    assert any(master.is_cover[index[p]] for p in quick)
    assert pieces.pending == [p for p in pending if p not in quick] != []
    assert pieces.result().bound == bound
    matrix, row_lo, row_hi = pieces.matrix, pieces.row_lo, pieces.row_hi
    for p in quick:
        variables, rows = pieces.vars_of[p], pieces.rows_of[p]
        values = pieces.values[variables]
        assert np.array_equal(values, np.rint(values))
        activity = matrix[rows][:, variables] @ values
        assert np.all(activity >= row_lo[rows] - 1e-9) and np.all(activity <= row_hi[rows] + 1e-9)
        cost = float(pieces.priced[variables] @ values)
        optimum = float(pieces.priced[variables] @ exact.values[variables])
        # a real solution of the piece; the choose-one ones at its optimum
        assert cost >= optimum - 1e-6 * max(1.0, abs(optimum))
        if master.choose_one[index[p]]:
            assert cost == pytest.approx(optimum, rel=1e-9, abs=1e-6)


def test_a_guides_column_generation_runs_when_its_pieces_were_all_priced_without_search(
        monkeypatch):
    # gangs and plain serving workloads only (no port, no spread rule, no cap): every
    # fractional piece is priced at once, which raises no bound; the rounds run anyway
    import tempfile
    from pathlib import Path

    from benchmarks.generate import generate
    from placer.catalog import load_catalog
    from placer.problem import problem_from_dict

    no_search_after_the_warm_start(monkeypatch)  # for the suite's time
    instance = generate(200, seed=0)
    fleet = instance.fleet()
    fleet["workloads"] = [w for w in fleet["workloads"]
                          if "port_usd" not in w and "spread" not in w]
    fleet["policy"].pop("max_share")
    with tempfile.TemporaryDirectory() as tmp:
        instance.capacities.write_csv(Path(tmp) / "offerings.csv")
        problem = problem_from_dict(fleet, load_catalog([tmp]))
    candidates = build_candidates(problem)
    assert candidates.rows["port_ecosystem"].null_count() == candidates.rows.height
    engine = sys.modules["placer.solve"]
    perturbed = engine.perturbed_columns
    done: list[tuple[int, int]] = []  # (rounds, the master's columns after them)

    def traced(master, *args, **kwargs):
        rounds = perturbed(master, *args, **kwargs)
        done.append((rounds, master.columns))
        return rounds

    monkeypatch.setattr(engine, "perturbed_columns", traced)
    plan = solve_built_candidates(candidates, problem.policy, SolveOptions(
        time_limit=6, workers=1, explain=False, in_parts=False, lagrangian=False))
    assert plan.solver["columns_rounds"] >= 1
    # a guide's master may also have columns from prices near its last ones (as many
    # rounds as the time its rounds leave allows), and the plan says how many rounds and
    # the columns its master held at the end, these among them
    assert 0 <= plan.solver["columns_perturbed_rounds"] <= PERTURBED_ROUNDS
    [(rounds, columns)] = done
    assert plan.solver["columns_perturbed_rounds"] == rounds
    assert plan.solver["columns"] == columns
    assert plan.total_usd <= plan.solver["master_usd"] + 0.01
    units, left_out = placement_of(plan, candidates)
    assert candidate_violations(candidates, units, left_out, problem.policy) == []


def test_columns_from_prices_near_the_masters_keep_their_pieces_rules_seed_for_seed():
    masters = [guided_master(60) for _ in range(2)]
    added = []
    for _, relaxation, _, master, start in masters:
        before = master.columns
        duals = relaxation.duals[master.coupling]
        assert perturbed_columns(master, duals, start, math.inf, seed=3, rounds=4) == 4
        assert master.columns > before
        added.append(np.arange(before, master.columns))
        _assert_columns_keep_their_pieces_rows(master, added[-1])
    # the same seed, the same columns
    (_, _, _, first, _), (_, _, _, second, _) = masters
    assert np.array_equal(first.col_piece[added[0]], second.col_piece[added[1]])
    assert np.array_equal(first.col_cost[added[0]], second.col_cost[added[1]])
    # none where the deadline has passed
    _, relaxation, _, master, start = masters[0]
    before = master.columns
    assert perturbed_columns(master, relaxation.duals[master.coupling], start,
                             time.perf_counter() - 1.0, seed=3) == 0
    assert master.columns == before


def _capped_master() -> tuple:
    """Three training workloads of 1,000, 1,700 and 2,500 chip-hours, each on one H200
    ($7,090.28 / $12,053.48 / $17,725.71) or one MI300X ($8,527.92 / $14,497.46 /
    $21,319.80), no chip vendor above 60 % of the spend. Two plans keep that: w2 on
    H200 and the others on MI300X ($40,751.09, the start), and w0 and w1 on H200
    ($40,463.57, the optimum). Column generation run to its end from the start: (the
    candidates, the policy, the model, the master, the start, its last duals)."""
    from tests.test_engine import catalog_of

    h200, mi300x = "aws/eu-north-1/h200", "azure/swedencentral/mi300x"
    problem = problem_from_dict({
        "horizon_days": 30, "policy": {"max_share": {"chip_vendor": 0.6}},
        "workloads": [{"name": f"w{i}", "kind": "training", "chip_hours": hours,
                       "deadline_days": 30, "runs_on": ["cuda", "rocm"]}
                      for i, hours in enumerate([1000, 1700, 2500])]},
        catalog=catalog_of({h200: 512, mi300x: 512}))
    candidates = build_candidates(problem)
    rows = candidates.rows
    assert rows["offering"].to_list() == [h200, mi300x] * 3
    assert rows["max_units"].to_list() == [1] * 6
    assert brute_force(candidates, problem.policy) == pytest.approx(40_463.57, abs=0.01)
    built = build_model(candidates, problem.policy)
    relaxation = solve_relaxation(built.builder)
    pieces = price_pieces(built.builder, relaxation)
    search_pieces(pieces, time_budget=30)
    master = Master(built.builder, pieces, inference_covers(workload_vars(candidates, built)))
    placed = np.zeros(3, dtype=bool)
    start = full_values(built, candidates, np.array([0, 1, 0, 1, 1, 0]), placed)
    assert candidate_violations(candidates, start[built.units], placed, problem.policy) == []
    master.add(start)
    master.add_integral(pieces.values)
    generated = generate_columns(master, relaxation.duals[master.coupling],
                                 pieces.result().bound, start, 30, time.perf_counter() + 30)
    assert generated.lp_objective is not None
    return candidates, problem.policy, built, master, start, generated.duals


def test_columns_across_a_binding_cap_give_the_masters_first_search_the_optimum():
    # the LP mixes w2's two columns and at its prices no piece gives w1 on H200: the
    # first search of the master, over the LP's columns, keeps the start. The rounds
    # across the cap add w1 on H200, and the same search finds the optimum
    candidates, policy, built, master, start, duals = _capped_master()
    alone = solve_master(master, start, FULL_MASTER_S / 2, time.perf_counter() + 30)
    assert alone.objective / built.scale == pytest.approx(40_751.09, abs=0.02)
    before = master.columns
    across = cap_columns(master, duals, start, time.perf_counter() + 30)
    assert across.tolist() == list(range(before, master.columns)) and len(across)
    _assert_columns_keep_their_pieces_rows(master, across)
    found = solve_master(master, start, FULL_MASTER_S / 2, time.perf_counter() + 30,
                         also=across)
    # the master's objective is in whole cents per column
    assert found.objective / built.scale == pytest.approx(40_463.57, abs=0.02)
    units, left_out = found.values[built.units], _left_out(built, found.values)
    assert units.tolist() == [1, 0, 1, 0, 0, 1]
    assert candidate_violations(candidates, units, left_out, policy) == []


def test_the_masters_spend_totals_are_substituted_out_and_its_plan_keeps_every_rule():
    # each spend total is a sum over the columns chosen: the master in integers has a
    # 0/1 variable per column and none for them, the cap a row over the columns; it
    # still finds the optimum, and the totals recovered keep every coupling row
    candidates, policy, built, master, start, duals = _capped_master()
    cap_columns(master, duals, start, time.perf_counter() + 30)
    substitution = master.spend_substitution()
    families = np.array(built.builder.row_family)[master.coupling]
    assert len(master.free) == 3  # the spend of each chip vendor and the total
    assert sorted(substitution.variables.tolist()) == [0, 1, 2]
    assert families[substitution.rows].tolist() == ["spend"] * 3
    assert len(master.ip_model(start).proto.variables) == master.columns
    solved = master.solve_ip(start, 30, 30)
    assert solved.status == "OPTIMAL"
    assert solved.objective / built.scale == pytest.approx(40_463.57, abs=0.02)
    activity = master.link @ solved.values
    assert np.all(activity >= master.link_lo - 1e-9)
    assert np.all(activity <= master.link_hi + 1e-9)
    spend = master.link[families == "spend"][:, master.free].toarray()
    assert np.all(np.abs(spend).sum(axis=1) == 1)  # each spend row defines one total
    units, left_out = solved.values[built.units], _left_out(built, solved.values)
    assert units.tolist() == [1, 0, 1, 0, 0, 1]
    assert candidate_violations(candidates, units, left_out, policy) == []


def test_a_master_with_providers_used_beside_its_substituted_totals_finds_the_optimum():
    # min_providers adds a variable per provider used, tied to its spend by a row of
    # two free variables: it stays in the master beside the substituted totals, and the
    # budget becomes a row over the columns
    from tests.test_engine import catalog_of

    h200, mi300x = "aws/eu-north-1/h200", "azure/swedencentral/mi300x"
    problem = problem_from_dict({
        "horizon_days": 30,
        "policy": {"max_share": {"chip_vendor": 0.7}, "min_providers": 2,
                   "budget_usd": 60_000},
        "workloads": [{"name": f"w{i}", "kind": "training", "chip_hours": hours,
                       "deadline_days": 30, "runs_on": ["cuda", "rocm"]}
                      for i, hours in enumerate([1000, 1700, 2500])]},
        catalog=catalog_of({h200: 512, mi300x: 512}))
    candidates = build_candidates(problem)
    built = build_model(candidates, problem.policy)
    relaxation = solve_relaxation(built.builder)
    pieces = price_pieces(built.builder, relaxation)
    search_pieces(pieces, time_budget=30)
    master = Master(built.builder, pieces, inference_covers(workload_vars(candidates, built)))
    start = full_values(built, candidates, np.array([0, 1, 0, 1, 1, 0]), np.zeros(3, bool))
    master.add(start)
    master.add_integral(pieces.values)
    generate_columns(master, relaxation.duals[master.coupling], pieces.result().bound,
                     start, 30, time.perf_counter() + 30)
    substitution = master.spend_substitution()
    assert len(master.free) == 5 and len(substitution.variables) == 3
    solved = solve_master(master, start, 5, time.perf_counter() + 30)
    optimum = brute_force(candidates, problem.policy)
    assert solved.objective / built.scale == pytest.approx(optimum, abs=0.02)
    activity = master.link @ solved.values
    assert np.all(activity >= master.link_lo - 1e-9)
    assert np.all(activity <= master.link_hi + 1e-9)
    units, left_out = solved.values[built.units], _left_out(built, solved.values)
    assert candidate_violations(candidates, units, left_out, problem.policy) == []


def test_no_rounds_across_the_caps_where_none_binds_or_the_deadline_has_passed():
    _, _, _, master, start, duals = _capped_master()
    families = np.array(master.builder.row_family)[master.coupling]
    assert np.any(duals[families == "spend"] != 0)
    unpriced = np.where(families == "spend", 0.0, duals)
    before = master.columns
    assert len(cap_columns(master, unpriced, start, time.perf_counter() + 30)) == 0
    assert len(cap_columns(master, duals, start, time.perf_counter() - 1.0)) == 0
    assert master.columns == before


def _assert_columns_keep_their_pieces_rows(master: Master, columns: np.ndarray) -> None:
    """Each column is a solution of its piece: its piece's rows all kept, its cost its
    variables'."""
    for column in columns.tolist():
        piece = int(master.col_piece[column])
        variables, rows = master.vars_of[piece], master.rows_of[piece]
        values = master._batches[master.col_batch[column]][variables]
        activity = master.matrix[rows][:, variables] @ values
        assert np.all(activity >= master.row_lo[rows] - 1e-9)
        assert np.all(activity <= master.row_hi[rows] + 1e-9)
        assert master.col_cost[column] == pytest.approx(
            float(master.objective[variables] @ values))


def test_with_no_full_round_and_none_fitting_the_bound_is_the_lps_duals(monkeypatch):
    # a bound wanted, but column generation's partial rounds not spent by its deadline
    # and no round at the master's prices fitting the time left: the bound at the LP's
    # duals, its pieces searched beside, not the LP's alone

    engine = sys.modules["placer.solve"]
    generate, by_columns = engine.generate_columns, engine._by_columns
    monkeypatch.setattr(engine, "generate_columns",
                        lambda *args, **kwargs: generate(*args, **{**kwargs,
                                                                  "full_rounds": False}))
    # a full round: forever
    monkeypatch.setattr(engine, "_by_columns",
                        lambda *args, **kwargs: by_columns(*args[:11], 1e9, **kwargs))
    no_search_after_the_warm_start(monkeypatch)  # for the suite's time
    plan = solve(_fleet(200), time_limit=6, workers=2)
    info = plan.solver
    assert info["columns_rounds"] >= 1
    assert info["lagrangian_bound_usd"] > info["lp_bound_usd"]
    assert plan.bound_usd == pytest.approx(info["lagrangian_bound_usd"], abs=0.01)


def test_a_guides_rounds_end_by_their_deadline_and_the_master_keeps_its_share(monkeypatch):
    # no bound wanted: every LP of the rounds ends by their deadline, not by finish_by
    # (which is for a full round's); and where the rounds run late (a busy core), the
    # master still gets its share of the wall clock, out of the search's after it
    problem, relaxation, pieces, master, start = guided_master(60)
    limits: list[float] = []
    solve_lp = master.solve_lp

    def traced_lp(time_limit):
        limits.append(time_limit)
        return solve_lp(time_limit)

    master.solve_lp = traced_lp
    started = time.perf_counter()
    generate_columns(master, relaxation.duals[master.coupling], pieces.result().bound, start,
                     budget_s=10, deadline=started + 1.0, full_rounds=False,
                     finish_by=started + 100.0)
    assert limits and max(limits) <= 1.0

    engine = sys.modules["placer.solve"]
    original_generate, original_master = engine.generate_columns, engine.solve_master
    late: list[float] = []
    lp_seconds: list[float] = []  # what the master's LP should take, by the rounds'
    # the master's (deterministic limit, wall clock, whether its LP is solved already)
    given: list[tuple[float, float, bool]] = []

    def generate_late(*args, deadline, **kwargs):
        generated = original_generate(*args, deadline=deadline, **kwargs)
        lp_seconds.append(generated.lp_s)
        # its rounds ran late: past the time the master and the search after it keep
        late.append(kwargs["finish_by"])
        time.sleep(max(0.0, kwargs["finish_by"] - time.perf_counter()))
        return generated

    def solve_master(master, incumbent, deterministic_s, deadline, *args, **kwargs):
        given.append((deterministic_s, deadline - time.perf_counter(), master.has_lp()))
        return original_master(master, incumbent, deterministic_s, deadline, *args,
                               **kwargs)

    monkeypatch.setattr(engine, "generate_columns", generate_late)
    monkeypatch.setattr(engine, "solve_master", solve_master)
    no_search_after_the_warm_start(monkeypatch)  # for the suite's time
    plan = solve(problem, time_limit=6, workers=1)
    assert late and plan.has_plan
    # its search's limit, and its LP before it (where not solved already), on the wall
    # clock
    master_limit, wall, lp_kept = given[0]
    assert lp_seconds[0] > 0 and wall >= master_limit * 0.99 + (0 if lp_kept else lp_seconds[0])
    assert plan.solver["master_status"] != "NOT_STARTED"


def test_a_guides_master_gets_the_time_its_rounds_leave_and_a_master_with_a_bound_does_not(
        monkeypatch):
    # parts of the 10,000 fleet: the partial rounds are spent 6 s before their deadline,
    # and the master's search over all its columns gains more in that time than the
    # neighbourhoods after it; with a bound wanted the rounds' time is the full rounds'
    problem = _fleet(60)
    candidates = build_candidates(problem)
    engine = sys.modules["placer.solve"]
    original_generate, original_master = engine.generate_columns, engine.solve_master
    left: list[float] = []    # per solve, the rounds' time left when they ended
    limits: list[float] = []  # per solve, the master's deterministic limit

    def generate(*args, deadline, **kwargs):
        generated = original_generate(*args, deadline=deadline, **kwargs)
        left.append(deadline - time.perf_counter())
        return generated

    def solve_master(master, incumbent, deterministic_s, deadline, *args, **kwargs):
        limits.append(deterministic_s)
        return original_master(master, incumbent, deterministic_s, deadline, *args,
                               **kwargs)

    monkeypatch.setattr(engine, "generate_columns", generate)
    monkeypatch.setattr(engine, "solve_master", solve_master)
    no_search_after_the_warm_start(monkeypatch)  # for the suite's time
    plans = [solve_built_candidates(candidates, problem.policy, SolveOptions(
        time_limit=20, workers=1, lagrangian=lagrangian, in_parts=False, explain=False))
        for lagrangian in (False, True)]
    (guide, bounded), (guide_left, _) = limits, left
    assert guide_left > MASTER_SHARE * 20  # the rounds were spent early: more than a share
    assert guide > guide_left
    # its share, and more for the columns across the caps when there are some
    across = plans[1].solver["columns_across_caps"]
    assert bounded <= MASTER_SHARE * 20 + (ACROSS_CAPS_MASTER_S if across else 0.0)


def test_a_frozen_master_keeps_its_columns_while_the_master_gains_more():
    # the toy's master with the start's columns alone, frozen; then B's 1 X and 1 Z
    # ($360, the optimum) added: the master finds it, the frozen copy keeps the start
    master, _, _, start = _master(toy(capacity=1), with_pieces=False)
    frozen = master.frozen()
    optimum = np.array([0, 0, 3, 1, 1])
    assert master.column_of(optimum).min() == -1
    master.add(optimum)
    assert master.column_of(optimum).min() >= 0
    assert frozen.columns == master.pieces < master.columns
    assert frozen.column_of(optimum).min() == -1
    assert solve_master(master, start, 5, math.inf).objective == 360
    assert solve_master(frozen, start, 5, math.inf).objective == 390


def test_a_stopped_search_of_the_master_keeps_its_start_and_a_running_one_ends():
    master, _, _, start = _master(toy(capacity=1))
    stop = SearchStop()
    stop.stop()
    solved = solve_master(master, start, 5, math.inf, stop=stop)
    assert solved.objective is None and solved.values.tolist() == start.tolist()
    assert solved.cut_by_time  # stopped before its searches: the clock's, not theirs
    assert master.solve_ip(start, 5, 5, stop=stop).status == "NOT_STARTED"
    # a search stopped from another thread ends then: a Golomb ruler of 11 marks
    # (optimum 72), which one CP-SAT worker does not prove in seconds
    from ortools.sat.python import cp_model

    model = cp_model.CpModel()
    marks = [model.new_int_var(0, 200, f"m{i}") for i in range(11)]
    model.add(marks[0] == 0)
    for a, b in itertools.pairwise(marks):
        model.add(a < b)
    differences = [b - a for a, b in itertools.combinations(marks, 2)]
    model.add_all_different(differences)
    model.minimize(marks[-1])
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.max_time_in_seconds = 60
    running = SearchStop()
    assert running.running(solver)
    timer = threading.Timer(0.5, running.stop)
    timer.start()
    started = time.perf_counter()
    status = solver.solve(model)
    timer.join()
    assert time.perf_counter() - started < 30
    assert status != cp_model.OPTIMAL and running.stopped
    assert not running.running(None)  # stopped: no search starts after


def test_a_search_beside_the_rounds_finds_the_plan_over_the_columns_it_started_with():
    # with the pieces' columns the toy's master holds the optimum, $360
    master, _, _, start = _master(toy(capacity=1))
    early = EarlySearch(master, start, time.perf_counter() + 30, seed=0)
    early.start()
    found = early.result(stop=False)  # to its end: the toy's master takes milliseconds
    assert found.objective == 360
    assert found.values.tolist() == [0, 0, 3, 1, 1]
    activity = master.link @ found.values
    assert np.all(activity >= master.link_lo - 1e-9)
    assert np.all(activity <= master.link_hi + 1e-9)
    # never started: no plan; stopped before it starts: none starts
    idle = EarlySearch(master, start, time.perf_counter() + 30, seed=0)
    assert idle.result() is None
    idle.start()
    assert idle.result() is None


def test_a_search_beside_the_rounds_stopped_before_its_end_says_its_plan_is_the_clocks(
        monkeypatch):
    # stopped while it runs, its plan depends on when: cut_by_time (the solve's plan, if
    # it takes it, is not reproducible); ended on its own before the stop, it is not cut
    import os

    import placer.colgen
    from placer.colgen import EARLY_SEARCH_NICE, MasterSolution

    master, _, _, start = _master(toy(capacity=1))
    nice: list[int] = []

    def until_stopped(frozen, incumbent, deterministic_s, deadline, seed, workers, stop):
        nice.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        while not stop.stopped:
            time.sleep(0.01)
        return MasterSolution(incumbent, 390, "FEASIBLE", 0.0, False)

    monkeypatch.setattr(placer.colgen, "solve_master", until_stopped)
    early = EarlySearch(master, start, time.perf_counter() + 30, seed=0)
    early.start()
    stopped = early.result()
    assert stopped.objective == 390 and stopped.cut_by_time
    if sys.platform.startswith("linux"):  # below the rounds' threads
        assert nice[0] >= EARLY_SEARCH_NICE
    monkeypatch.undo()
    done = EarlySearch(master, start, time.perf_counter() + 30, seed=0)
    done.start()
    waited = time.perf_counter() + 30
    while not done._future.done() and time.perf_counter() < waited:
        time.sleep(0.01)
    found = done.result()
    assert found.objective == 360 and not found.cut_by_time


def test_a_stop_lost_before_the_search_set_up_is_said_again_until_it_ends(monkeypatch):
    # ortools drops a stop_search that comes before its search is set up: the search
    # beside the rounds is stopped again and again until it ends, not left to its deadline
    import placer.colgen
    from placer.colgen import MasterSolution

    class LateSolver:  # takes the second stop only, as if the first came too early
        stops = 0

        def stop_search(self) -> None:
            self.stops += 1

    solver = LateSolver()

    def slow_to_stop(frozen, incumbent, deterministic_s, deadline, seed, workers, stop):
        stop.running(solver)
        given_up = time.perf_counter() + 10
        while solver.stops < 2 and time.perf_counter() < given_up:
            time.sleep(0.01)
        return MasterSolution(incumbent, 390, "FEASIBLE", 0.0, False)

    monkeypatch.setattr(placer.colgen, "solve_master", slow_to_stop)
    master, _, _, start = _master(toy(capacity=1))
    early = EarlySearch(master, start, time.perf_counter() + 30, seed=0)
    early.start()
    time.sleep(0.1)
    asked = time.perf_counter()
    assert early.result().objective == 390
    assert time.perf_counter() - asked < 5 and solver.stops >= 2


def test_a_plan_from_a_search_stopped_beside_the_rounds_is_not_called_reproducible(
        monkeypatch):
    # the enterprise example: its master's search beside the rounds finds a plan cheaper
    # than the warm start, and the master's searches go on from it. Were it stopped
    # before its end, that plan would be the clock's: the solve says so
    from placer.problem import load
    from tests.conftest import EXAMPLES

    class StoppedEarly(EarlySearch):
        def result(self, stop: bool = True):
            found = super().result(stop=False)
            return None if found is None else replace(found, cut_by_time=True)

    problem = load(EXAMPLES / "enterprise.yaml")
    monkeypatch.setattr(sys.modules["placer.solve"], "EarlySearch", StoppedEarly)
    plan = solve(problem, time_limit=30, workers=2)
    info = plan.solver
    assert info["master_early_usd"] is not None
    assert info["master_usd"] <= info["master_early_usd"] + 0.01
    assert info["deterministic"] is False


def _near_bound_calls(monkeypatch: pytest.MonkeyPatch, near_bound: float, full_rounds: int,
                      ends: bool = False
                      ) -> tuple[ColumnGeneration, list[tuple[float, float, int]], list[int]]:
    """generate_columns on a 60-workload fleet with colgen's NEAR_BOUND and
    NEAR_BOUND_FULL_ROUNDS as given: what it reached, per master LP its objective, the
    best bound before it and the full rounds done, and the LPs solved (a count) each
    time it called near_bound (which answers `ends`)."""
    monkeypatch.setattr(colgen, "NEAR_BOUND", near_bound)
    monkeypatch.setattr(colgen, "NEAR_BOUND_FULL_ROUNDS", full_rounds)
    _, relaxation, pieces, master, start = guided_master(60)
    center, center_bound = relaxation.duals[master.coupling], pieces.result().bound
    lps: list[tuple[float, float, int]] = []  # per LP: its objective, best bound, fulls
    state = {"best": center_bound, "fulls": 0}
    calls: list[int] = []  # the LPs solved when near_bound was called
    price, solve_lp = master.price, master.solve_lp

    def traced_lp(time_limit):
        lp = solve_lp(time_limit)
        lps.append((lp.objective, state["best"], state["fulls"]))
        return lp

    def traced_price(duals, hint, *args, searched=None, **kwargs):
        priced = price(duals, hint, *args, searched=searched, **kwargs)
        if searched is None:
            state["fulls"] += 1
        if priced is not None and priced.bound is not None:
            state["best"] = max(state["best"], priced.bound)
        return priced

    master.price, master.solve_lp = traced_price, traced_lp
    generated = generate_columns(master, center, center_bound, start, budget_s=10,
                                 deadline=math.inf,
                                 near_bound=lambda weights, behind: calls.append(len(lps)) or ends)
    return generated, lps, calls


def test_the_rounds_say_once_when_the_masters_lp_first_nears_the_bound_after_a_full_round(
        monkeypatch):
    generated, lps, calls = _near_bound_calls(monkeypatch, NEAR_BOUND, full_rounds=99)
    near = [i + 1 for i, (lp, best, fulls) in enumerate(lps)
            if fulls and lp - best <= NEAR_BOUND * abs(lp)]
    assert generated.full_rounds >= 1 and near
    assert calls == near[:1]


def test_the_rounds_say_they_near_the_bound_after_so_many_full_rounds_however_far(
        monkeypatch):
    # never near by the LP (a negative share): said at the first LP after the first
    # full round, and again at the first after each full round after it (a branching
    # may start there); never without a count of full rounds reached
    generated, lps, calls = _near_bound_calls(monkeypatch, -1.0, full_rounds=1)
    first_after_each = [i + 1 for i, (_, _, fulls) in enumerate(lps)
                        if fulls >= 1 and lps[i - 1][2] < fulls]
    assert generated.full_rounds >= 2 and len(first_after_each) >= 2
    assert calls == first_after_each
    generated, _, calls = _near_bound_calls(monkeypatch, -1.0, full_rounds=99)
    assert generated.full_rounds >= 1 and calls == []


def test_the_rounds_ask_no_more_once_their_lp_is_near_the_bound(monkeypatch):
    # asked after every full round while the LP is far from the bound, the last time at
    # the first LP after a full round within NEAR_BOUND of it
    _, lps, calls = _near_bound_calls(monkeypatch, NEAR_BOUND, full_rounds=1)
    first_after_each = [i + 1 for i, (_, _, fulls) in enumerate(lps)
                        if fulls >= 1 and lps[i - 1][2] < fulls]
    near = [n for n in first_after_each
            if lps[n - 1][0] - lps[n - 1][1] <= NEAR_BOUND * abs(lps[n - 1][0])]
    assert near, "the fleet's rounds never near their bound: the test needs another"
    assert calls == [n for n in first_after_each if n <= near[0]]


def test_the_rounds_end_where_near_bound_says_so_with_that_lps_weights(monkeypatch):
    # ended at the first LP after the first full round: no round after it, and what the
    # rounds reached is that LP's (a branching goes on from its weights)
    generated, lps, calls = _near_bound_calls(monkeypatch, -1.0, full_rounds=1, ends=True)
    assert calls == [len(lps)] and lps[-1][2] == generated.full_rounds == 1
    assert generated.lp_objective == lps[-1][0] and generated.weights is not None
    assert len(generated.weights) == generated.columns


def test_the_rounds_end_once_their_bound_passes_stop_above_and_not_on_a_tie():
    # from a bound already above stop_above: one round, and said so; at it (a tie), the
    # partial rounds go on (they raise no bound) until a full round raises it, if one does
    _, relaxation, pieces, master, start = guided_master(60)
    center, center_bound = relaxation.duals[master.coupling], pieces.result().bound
    stopped = generate_columns(master, center, center_bound, start, budget_s=10,
                               deadline=math.inf, stop_above=center_bound - 1.0)
    assert stopped.stopped_above and stopped.rounds == 1
    tied = generate_columns(master, center, center_bound, start, budget_s=10,
                            deadline=math.inf, stop_above=center_bound)
    assert tied.rounds > 1 and tied.full_rounds >= 1
    assert tied.stopped_above == (tied.bound > center_bound)


def _toy_master_with_more_columns() -> tuple[Master, np.ndarray]:
    """The toy's master (one chip of X) with A's 1 X + 1 Y ($220, 2 chips) and 2 X ($250,
    4 chips) and B's 2 X ($120, 2 chips) added: columns A 3 Y, B 2 Z, B 1 X + 1 Z, A 1 X
    + 1 Y, B 2 X, A 2 X; and its start, A on 3 Y and B on 2 Z ($390)."""
    master, _, _, start = _master(toy(capacity=1))
    master.add(np.array([1, 1, 1, 2, 0]))
    master.add(np.array([2, 1, 0, 2, 0]))
    assert master.col_cost.tolist() == [210, 180, 150, 220, 120, 250]
    return master, start


def test_a_pieces_cheapest_columns_at_a_chips_price_are_those_by_hand():
    # reduced cost = cost + price x chips (the capacity row's dual is minus the price)
    master, _ = _toy_master_with_more_columns()
    free = master.cheapest_columns(np.array([0.0]), 1)  # A: 210 220 250; B: 180 150 120
    assert np.flatnonzero(free).tolist() == [0, 4]
    assert np.flatnonzero(master.cheapest_columns(np.array([0.0]), 2)).tolist() == [0, 2, 3, 4]
    dear = master.cheapest_columns(np.array([-50.0]), 1)  # A: 210 320 450; B: 180 200 220
    assert np.flatnonzero(dear).tolist() == [0, 1]
    assert np.flatnonzero(master.cheapest_columns(np.array([-50.0]), 2)).tolist() == [0, 1, 2, 3]
    # a tie (at $30 B's are all $180): the first added
    assert np.flatnonzero(master.cheapest_columns(np.array([-30.0]), 1)).tolist() == [0, 1]
    assert master.cheapest_columns(np.array([0.0]), 3).all()


@settings(deadline=None, max_examples=60)
@given(a_columns=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 1), st.integers(0, 3)),
                          max_size=8),
       b_columns=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), max_size=6),
       price=st.integers(-100, 100), per_piece=st.integers(1, 4))
def test_each_pieces_cheapest_columns_cost_no_more_at_the_prices_than_its_others(
        a_columns, b_columns, price, per_piece):
    # any columns of the toy's two pieces, any price of X's chips: per piece, the
    # per_piece cheapest by cost + price x chips (the first added on a tie), recomputed
    # from the toy's costs (A: $100 an X instance of 2 chips, $50 egress, $70 a Y; B: $60
    # an X instance of 1 chip, $90 a Z)
    master, _, _, start = _master(toy(capacity=1), with_pieces=False)
    for a, b in itertools.zip_longest(a_columns, b_columns):
        master.add(np.array([*(a or start[:3]), *(b or start[3:])]))
    reduced: dict[int, float] = {}
    for values in [start, *(np.array([*a, *b]) for a, b in itertools.product(
            a_columns or [tuple(start[:3])], b_columns or [tuple(start[3:])]))]:
        a_col, b_col = master.column_of(values).tolist()
        if a_col >= 0:
            reduced[a_col] = 100 * values[0] + 50 * values[1] + 70 * values[2] \
                + price * 2 * values[0]
        if b_col >= 0:
            reduced[b_col] = 60 * values[3] + 90 * values[4] + price * values[3]
    assert sorted(reduced) == list(range(master.columns))
    chosen = master.cheapest_columns(np.array([-float(price)]), per_piece)
    for piece in range(master.pieces):
        columns = np.flatnonzero(master.col_piece == piece).tolist()
        by_cost = sorted(columns, key=lambda c: (reduced[c], c))
        assert sorted(np.flatnonzero(chosen[columns]).tolist()) == sorted(
            columns.index(c) for c in by_cost[:per_piece])


def test_the_masters_second_worker_searches_its_cheapest_columns_then_all_from_that_plan(
        monkeypatch):
    # the LP (one chip, priced $0-30) takes A on 3 Y and B half on 2 X, half on 2 Z: over
    # those columns and the start's the best plan is $390; the second worker's first
    # search also has A's 1 X + 1 Y and B's 1 X + 1 Z, each piece's two cheapest, and
    # proves the optimum, $360 (A on 3 Y, B on 1 X and 1 Z), then searches all columns
    # from it. Its seed is the solve's plus one, as the search over all columns it
    # replaced
    import placer.colgen
    from placer.colgen import MasterSolution

    monkeypatch.setattr(placer.colgen, "CHEAPEST_COLUMNS", 2)
    master, start = _toy_master_with_more_columns()
    searches: list[tuple[int, list[int] | None, list[int], str, int | None]] = []
    solve_ip = master.solve_ip

    def traced(hint, deterministic_s, wall_s, seed=0, allowed=None, log=False, stop=None):
        found = solve_ip(hint, deterministic_s, wall_s, seed, allowed, log, stop)
        searches.append((seed, None if allowed is None else np.flatnonzero(allowed).tolist(),
                         hint.tolist(), found.status, found.objective))
        return found

    master.solve_ip = traced
    solved = solve_master(master, start, 5.0, time.perf_counter() + 10, seed=7, workers=2)
    assert solved.objective == 360 and solved.values.tolist() == [0, 0, 3, 1, 1]
    support, *rest = searches
    assert support[:2] == (7, [0, 1, 4]) and support[4] == 390
    second = [s for s in rest if s[0] == 8]
    assert second == [(8, [0, 1, 2, 3, 4], [0, 0, 3, 0, 2], "OPTIMAL", 360),
                      (8, None, [0, 0, 3, 1, 1], "OPTIMAL", 360)]
    assert [s[:3] for s in rest if s[0] == 7] == [(7, None, [0, 0, 3, 0, 2])]
    # not proven in all the deterministic time there is, the cheapest columns' search is
    # the second worker's whole answer
    searches.clear()

    def unproven(hint, deterministic_s, wall_s, seed=0, allowed=None, log=False, stop=None):
        if seed == 8:
            searches.append((seed, allowed is not None))
            return MasterSolution(hint, 390, "FEASIBLE", deterministic_s, True)
        return solve_ip(hint, deterministic_s, wall_s, seed, allowed, log, stop)

    master.solve_ip = unproven
    solved = solve_master(master, start, 5.0, time.perf_counter() + 10, seed=7, workers=2)
    assert searches == [(8, True)] and solved.objective == 360  # the first worker's
    assert solved.cut_by_time
    # proven, but past the deadline: no search over all columns, and the plan is the
    # clock's (another run might have gone on from it)
    deadline = time.perf_counter() + 1

    def proven_late(hint, deterministic_s, wall_s, seed=0, allowed=None, log=False,
                    stop=None):
        found = solve_ip(hint, deterministic_s, wall_s, seed, allowed, log, stop)
        if seed == 8:
            searches.append((seed, allowed is not None))
            time.sleep(max(0.0, deadline - time.perf_counter()) + 0.05)
        return found

    searches.clear()
    master.solve_ip = proven_late
    solved = solve_master(master, start, 5.0, deadline, seed=7, workers=2)
    assert searches == [(8, True)] and solved.objective == 360 and solved.cut_by_time
    # one worker: no such search
    searches.clear()
    master.solve_ip = traced
    solve_master(master, start, 5.0, time.perf_counter() + 10, seed=7, workers=1)
    assert [s[:2] for s in searches] == [(7, [0, 1, 4]), (7, None)]
    # columns from the caps' rounds (A's 2 X): the first worker searches them with the
    # LP's, the second those and the cheapest, side by side; each then all columns
    searches.clear()
    solved = solve_master(master, start, 5.0, time.perf_counter() + 10, seed=7, workers=2,
                          also=np.array([5]))
    assert solved.objective == 360
    for seed, first, then in ((7, [0, 1, 4, 5], [0, 0, 3, 0, 2]),
                              (8, [0, 1, 2, 3, 4, 5], [0, 0, 3, 1, 1])):
        assert [s[1:3] for s in searches[1:] if s[0] == seed] == [
            (first, [0, 0, 3, 0, 2]), (None, then)]


def test_the_masters_lp_is_solved_once_until_a_column_is_added_or_a_variable_fixed():
    # tight-5000x60's rounds ended on an LP of 25,889 columns (1.9 s), which the master's
    # search solved again before it started
    master, _, _, start = _master(toy(capacity=1), with_pieces=False)
    solved: list[int] = []  # per LP solved: the columns it had
    solve_lp = master._solve_lp

    def traced(time_limit):
        solved.append(master.columns)
        return solve_lp(time_limit)

    master._solve_lp = traced
    assert not master.has_lp()
    first = master.solve_lp(10)
    assert master.has_lp() and master.solve_lp(10) is first and solved == [2]
    assert first.seconds > 0 and first.objective == 390  # the start's columns alone
    with pytest.raises(ValueError):
        first.duals[0] = 1.0  # given again: no one may change it
    master.add(np.array([0, 0, 3, 1, 1]))  # B on 1 X and 1 Z: the optimum, $360
    assert not master.has_lp()
    second = master.solve_lp(10)
    assert second.objective == pytest.approx(360) and solved == [2, 3]
    # a variable fixed, or fixed no more: solved again
    master.fix({3: 0})  # B on no X: only the start's column agrees
    assert master.solve_lp(10).objective == pytest.approx(390) and solved == [2, 3, 3]
    master.fix({})
    assert master.solve_lp(10).objective == pytest.approx(360) and solved == [2, 3, 3, 3]
    assert master.solve_lp(10).objective == pytest.approx(360) and solved == [2, 3, 3, 3]
    # an LP that did not end is not kept
    master.add(start + np.array([0, 0, 0, 0, 1]))
    master._solve_lp = lambda time_limit: None
    assert master.solve_lp(10) is None and not master.has_lp()


def test_the_masters_first_search_leaves_time_to_its_search_over_all_columns():
    # the search over the LP's support finds its plan early and spends the rest proving
    # it; the search over all columns, after it, improves most
    builder = toy(capacity=10)
    master, _, _, start = _master(builder)
    walls: list[tuple[bool, float]] = []  # per search: over the support?, its wall clock
    solve_ip = master.solve_ip

    def traced(hint, deterministic_s, wall_s, seed=0, allowed=None, log=False, stop=None):
        walls.append((allowed is not None, wall_s))
        return solve_ip(hint, deterministic_s, wall_s, seed, allowed, log, stop)

    master.solve_ip = traced
    # ten seconds: the support's search has SUPPORT_SHARE of them, at least SUPPORT_MIN_S
    solve_master(master, start, 5.0, time.perf_counter() + 10)
    assert walls[0][0] and walls[0][1] == pytest.approx(
        max(SUPPORT_SHARE * 10, SUPPORT_MIN_S), abs=0.1)
    assert not walls[1][0] and walls[1][1] > 10 - walls[0][1] - 1
    # three: at least SUPPORT_MIN_S
    walls.clear()
    solve_master(master, start, 5.0, time.perf_counter() + 3)
    assert walls[0][1] == pytest.approx(SUPPORT_MIN_S, abs=0.1)
    # too little deterministic time for a search over all columns: all of it
    walls.clear()
    solve_master(master, start, FULL_MASTER_S, time.perf_counter() + 10)
    assert walls == [(True, pytest.approx(10, abs=0.1))]


def test_a_guides_round_starts_only_where_it_and_the_masters_lp_after_it_fit():
    # a part of the 100,000 fleet on a busy core started a round 0.4 s before its
    # deadline: it ended after it, and its master's LP left its search 0.17 s and no plan
    _, relaxation, pieces, master, start = guided_master(60)
    lps: list[tuple[int, float]] = []  # per master LP solved: its columns and its seconds
    solve_lp = master._solve_lp
    slow = [0.5]  # seconds each master LP takes more (a busy core)

    def traced_lp(time_limit):
        started = time.perf_counter()
        time.sleep(slow[0])
        solved = solve_lp(time_limit)
        lps.append((master.columns, time.perf_counter() - started))
        return solved

    master._solve_lp = traced_lp
    duals, bound = relaxation.duals[master.coupling], pieces.result().bound
    # a round that should take 10 s does not start 5 s before the deadline: no LP
    generated = generate_columns(master, duals, bound, start, budget_s=10,
                                 deadline=time.perf_counter() + 5, full_rounds=False,
                                 partial_round_s=10)
    assert generated.rounds == 0 and generated.cut_by_time and lps == []
    # a round of 0.5 s fits 1.2 s before it; its LP then takes 0.5 s, and the master's
    # LP after the round would end after the deadline: the first LP is the only one
    generated = generate_columns(master, duals, bound, start, budget_s=10,
                                 deadline=time.perf_counter() + 1.2, full_rounds=False,
                                 partial_round_s=0.5)
    assert generated.rounds == 0 and generated.cut_by_time and len(lps) == 1
    # what the master's LP should take: the last one's time per column, times its columns
    columns, seconds = lps[0]
    assert generated.lp_s == pytest.approx(seconds / columns * master.columns, rel=0.01)
    # given the time, the rounds run
    slow[0] = 0.0
    generated = generate_columns(master, duals, bound, start, budget_s=10,
                                 deadline=time.perf_counter() + 60, full_rounds=False,
                                 partial_round_s=0.01)
    assert generated.rounds >= 1 and not generated.cut_by_time
    columns, seconds = lps[-1]
    assert generated.lp_s == pytest.approx(seconds / columns * master.columns, rel=0.01)


def test_a_full_round_comes_when_the_partial_rounds_are_spent():
    # the bound is a full round's: one comes only when the round before found nothing
    # new or the master's LP stalled over the partial rounds since the last full one; and
    # no round starts past the deadline before one is wanted
    from placer.colgen import STALL_ROUNDS, STALLED

    _, relaxation, pieces, master, start = guided_master(60)
    center, center_bound = relaxation.duals[master.coupling], pieces.result().bound
    # per round: full, the master's LP, and whether the pieces' solutions (their first
    # add; the choose-one pieces' runners-up follow) gave a new column
    rounds: list[list] = []
    price, solve_lp, add = master.price, master.solve_lp, master.add
    last_lp = [math.nan]

    def traced_lp(time_limit):
        lp = solve_lp(time_limit)
        last_lp[0] = math.nan if lp is None else lp.objective
        return lp

    def traced_price(duals, hint, *args, searched=None, **kwargs):
        rounds.append([searched is None, last_lp[0], None])
        return price(duals, hint, *args, searched=searched, **kwargs)

    def traced_add(values, pieces=None):
        added = add(values, pieces)
        if rounds and rounds[-1][2] is None:
            rounds[-1][2] = len(added) > 0
        return added

    master.price, master.solve_lp, master.add = traced_price, traced_lp, traced_add
    # a short budget: a few full rounds come before it is spent (60 s ran 20 of them)
    generated = generate_columns(master, center, center_bound, start, budget_s=3,
                                 deadline=math.inf)
    fulls = [full for full, _, _ in rounds]
    assert not fulls[0] and generated.full_rounds == sum(fulls) >= 1
    assert generated.full_rounds_s > 0 and generated.bound > center_bound
    objectives: list[float] = []
    for i, (full, lp, _) in enumerate(rounds):
        objectives.append(lp)
        if full:
            nothing_new = not rounds[i - 1][2]
            stalled = len(objectives) > STALL_ROUNDS and \
                objectives[-STALL_ROUNDS - 1] - lp <= STALLED * abs(lp)
            assert nothing_new or stalled
            objectives = []

    rounds.clear()
    late = generate_columns(master, center, center_bound, start, budget_s=60,
                            deadline=time.perf_counter(), finish_by=math.inf)
    assert rounds == [] and late.rounds == 0 and late.cut_by_time


def test_a_full_round_prices_at_the_masters_own_duals_a_partial_one_at_smoothed_ones():
    # a full round's bound is near the master's LP at its own duals, once the partial
    # rounds are spent; a partial round's columns want the smoothed prices (SMOOTHING)
    from placer.colgen import SMOOTHING

    _, relaxation, pieces, master, start = guided_master(60)
    center, center_bound = relaxation.duals[master.coupling], pieces.result().bound
    rounds: list[tuple[bool, np.ndarray, np.ndarray]] = []  # full, priced at, LP's duals
    price, solve_lp = master.price, master.solve_lp
    last_duals: list[np.ndarray] = []

    def traced_lp(time_limit):
        lp = solve_lp(time_limit)
        last_duals[:] = [] if lp is None else [lp.duals]
        return lp

    def traced_price(duals, hint, *args, searched=None, **kwargs):
        rounds.append((searched is None, duals.copy(), last_duals[0]))
        return price(duals, hint, *args, searched=searched, **kwargs)

    master.price, master.solve_lp = traced_price, traced_lp
    generated = generate_columns(master, center, center_bound, start, budget_s=3,
                                 deadline=math.inf)
    assert generated.full_rounds == sum(is_full for is_full, _, _ in rounds) >= 1
    assert all(np.array_equal(at, lp) for is_full, at, lp in rounds if is_full)
    # the first round is partial, halfway between the relaxation's duals and its LP's
    first_full, first_at, first_lp = rounds[0]
    assert not first_full
    np.testing.assert_allclose(first_at, SMOOTHING * center + (1 - SMOOTHING) * first_lp)
    assert not np.allclose(first_at, first_lp)


def test_a_full_round_takes_the_proven_covers_without_a_search_and_keeps_its_bound(
        monkeypatch):
    # serving workloads alone whose cheapest cover meets its floor are not searched: the
    # round searches that many pieces fewer, and its bound is the one every search gives
    import placer.colgen as colgen

    _, relaxation, _, master, start = guided_master(60)
    duals = relaxation.duals[master.coupling]
    searched: list[int] = []
    piece_model = master._piece_model

    def traced(k, priced):
        searched.append(k)
        return piece_model(k, priced)

    monkeypatch.setattr(master, "_piece_model", traced)
    with_floors = master.price(duals, start)
    floored = list(searched)
    searched.clear()
    monkeypatch.setattr(colgen, "proven_cover_columns", lambda covers, priced, pieces, values:
                        (np.zeros(len(covers.need), dtype=bool), np.zeros(len(covers.need))))
    every_search = master.price(duals, start)
    proven = set(searched) - set(floored)
    assert proven and set(floored) < set(searched)
    assert all(master.is_cover[k] for k in proven)
    assert not with_floors.cut_short and not every_search.cut_short
    assert with_floors.bound == pytest.approx(every_search.bound, rel=1e-7)
    for k in proven:  # the same cheapest cover's cost
        variables = master.vars_of[k]
        priced_k = colgen._price(master.objective, master.matrix, master.row_lo,
                                 master.row_hi, _full_duals(master, duals))[0][variables]
        assert float(priced_k @ with_floors.values[variables]) == pytest.approx(
            float(priced_k @ every_search.values[variables]), rel=1e-7, abs=1e-6)


def test_a_piece_its_limit_stopped_in_a_full_round_gets_twice_that_in_the_next(
        monkeypatch):
    # its bound, not its optimum, goes into the round's: a node's 971-variable piece given
    # 0.05 s left each of its full rounds $4.6-7.8k under the LP (seed 0's 1,000 fleet)
    import placer.colgen as colgen

    _, relaxation, _, master, start = guided_master(60)
    duals = relaxation.duals[master.coupling]
    searching = threading.local()
    limits: dict[int, float] = {}  # per piece searched, its deterministic limit
    piece_solver = colgen.piece_solver

    def traced(master):
        piece_model = master._piece_model

        def traced_model(k, priced):
            searching.piece = k
            return piece_model(k, priced)

        monkeypatch.setattr(master, "_piece_model", traced_model)

    def traced_solver(deterministic_s, seconds, presolve):
        limits[searching.piece] = deterministic_s
        return piece_solver(deterministic_s, seconds, presolve)

    traced(master)
    monkeypatch.setattr(colgen, "piece_solver", traced_solver)
    tiny = 1e-4
    assert not master.full_round_limits.any()
    master.price(duals, start, deterministic_s=tiny)
    first = dict(limits)
    stopped = np.flatnonzero(master.full_round_limits)
    assert len(stopped) and set(stopped.tolist()) <= set(first)
    for k in stopped.tolist():
        assert master.full_round_limits[k] == min(colgen.LARGE_PIECE_DETERMINISTIC_S, 2 * first[k])
    limits.clear()
    master.price(duals, start, deterministic_s=tiny)
    assert all(limits[k] == 2 * first[k] for k in stopped.tolist())
    assert all(limits[k] == first[k] for k in set(first) - set(stopped.tolist()))
    # a partial round (no bound) searches each piece no longer than before (the toy's
    # master searches every piece: no covers, no port sets)
    toy_master, toy_duals, _, toy_start = _master(toy(capacity=1))
    searched = np.flatnonzero(~toy_master.choose_one)
    toy_master.full_round_limits[searched] = 0.3
    traced(toy_master)
    limits.clear()
    toy_master.price(toy_duals, toy_start, deterministic_s=tiny, searched=searched)
    assert sorted(limits) == searched.tolist() and set(limits.values()) == {tiny}
    limits.clear()
    toy_master.price(toy_duals, toy_start, deterministic_s=tiny)
    assert sorted(limits) == searched.tolist() and set(limits.values()) == {0.3}


def _full_duals(master, duals):
    full = np.zeros(len(master.builder.rows))
    full[master.coupling] = duals
    return full


def test_a_full_round_cut_by_its_deadline_keeps_the_bound_its_pieces_reached():
    # past its deadline a full round is not lost: each piece keeps the bound its search
    # reached (one starting late searches only briefly), never above the whole round's;
    # a partial round (no bound) reaching its deadline is
    _, relaxation, _, master, start = guided_master(60)
    duals = relaxation.duals[master.coupling]
    whole = master.price(duals, start)
    assert not whole.cut_short
    late = master.price(duals, start, 2, time.perf_counter())
    assert late.cut_short and -math.inf < late.bound <= whole.bound
    # the toy's master prices no piece without a search (no covers, no port sets)
    toy_master, toy_duals, _, toy_start = _master(toy(capacity=1))
    searched = np.flatnonzero(~toy_master.choose_one)
    assert len(searched)
    assert toy_master.price(toy_duals, toy_start, 1, time.perf_counter(),
                            searched=searched) is None
    # (each piece searched 5 ms: on a busy core not always to its optimum, $360)
    late_toy = toy_master.price(toy_duals, toy_start, 1, time.perf_counter())
    assert late_toy is not None and -math.inf < late_toy.bound <= 360 + 1e-6
    # beside the master such a round never says less than the bound already known
    beside = _price_for_bound(master, duals, start, time.perf_counter(), lambda: False,
                              known=whole.bound + 1)
    assert beside.cut_by_time and beside.bound == whole.bound + 1


def test_a_full_rounds_time_is_scaled_from_the_pieces_searched_by_their_variables():
    from types import SimpleNamespace

    # a large piece (600 variables), two small ones, a choose-one piece no round searches
    master = SimpleNamespace(sizes=np.array([600, 40, 10, 3]),
                             choose_one=np.array([False, False, False, True]))
    pieces = SimpleNamespace(vars_of=[np.arange(size) for size in (600, 40, 10, 3)])
    # 640 of the round's 650 variables searched in 0.5 s
    assert full_round_seconds(master, pieces, {0, 1}, 0.5) == pytest.approx(0.5 * 650 / 640)
    assert full_round_seconds(master, pieces, {2}, 0.1) == pytest.approx(6.5)
    # none searched in the time: as if one variable had been
    assert full_round_seconds(master, pieces, set(), 0.5) == pytest.approx(325)


def test_the_first_full_round_starts_when_most_of_its_estimate_fits():
    # cut short near its end a full round keeps most of its bound, so the first one
    # starts when FIRST_ROUND_FITS of its estimate fits before finish_by (here the
    # deadline), not only all of it
    from placer.colgen import FIRST_ROUND_FITS

    _, relaxation, pieces, master, start = guided_master(60)
    center, center_bound = relaxation.duals[master.coupling], pieces.result().bound
    # the partial rounds take about a second: most of 100 s is left when they are spent
    too_long = generate_columns(master, center, center_bound, start, budget_s=3,
                                deadline=time.perf_counter() + 100,
                                full_round_s=100 / FIRST_ROUND_FITS + 1)
    assert too_long.full_rounds == 0 and too_long.cut_by_time
    # (all of this estimate would not fit)
    generated = generate_columns(master, center, center_bound, start, budget_s=3,
                                 deadline=time.perf_counter() + 100,
                                 full_round_s=90 / FIRST_ROUND_FITS)
    assert generated.full_rounds >= 1 and generated.bound > center_bound


@settings(EXHAUSTIVE, max_examples=40)
@given(problem=small_problems())
def test_a_plan_recombined_with_the_masters_columns_is_the_cheapest_mix_of_both(problem):
    # the master holds an optimal plan's columns; the search's plan (here the warm start)
    # recombined with them comes back as the cheapest mix, piece by piece, of the two
    # plans that keeps every rule, or not at all where no mix is cheaper than it
    started = warm_started(problem)
    if started is None:
        return
    candidates, expected, built, relaxation, warm = started
    optimal = solve(problem, time_limit=20, workers=1)
    assert optimal.status == "optimal"
    assert optimal.total_usd == pytest.approx(expected, abs=cent_rounding(candidates))
    pieces = price_pieces(built.builder, relaxation)
    master = Master(built.builder, pieces, inference_covers(workload_vars(candidates, built)))
    best = full_values(built, candidates, *placement_of(optimal, candidates))
    master.add(best)
    start = full_values(built, candidates, warm.units, warm.left_out)
    assert not master.objective[master.free].any()  # a mix's cost is its pieces'

    def placement(values):
        return values[built.units], _left_out(built, values)

    mixes = []  # the master's cost of each mix that keeps every rule
    for taken in itertools.product((False, True), repeat=master.pieces):
        mix = start.copy()
        for k in np.flatnonzero(taken).tolist():
            mix[master.vars_of[k]] = best[master.vars_of[k]]
        if not candidate_violations(candidates, *placement(mix), problem.policy):
            mixes.append(int(master.objective @ mix))
    cheapest = min(mixes)
    warm_cost = objective_units(built, candidates, warm.units, warm.left_out)
    recombined = _recombiner(built, candidates, problem.policy, master, 0,
                             lambda: False)(warm.units, warm.left_out, 30.0)
    if cheapest >= warm_cost:
        assert recombined is None
        event("no mix cheaper")
        return
    assert recombined is not None
    assert candidate_violations(candidates, *recombined, problem.policy) == []
    # (a port a column buys unused is paid in the master, not in the plan)
    assert objective_units(built, candidates, *recombined) <= cheapest < warm_cost
    event("recombined")


def test_a_plan_recombined_with_the_masters_columns_takes_each_piece_from_either():
    # two training workloads, each $11,042.40 on an H100 offering and $10,635.43 on an
    # H200 one. The master holds w0 on H200 and w1 on H100 ($21,677.83), the search's
    # plan is the other way round: recombined, both on H200 ($21,270.85, the optimum);
    # recombined again, nothing cheaper
    from tests.test_engine import CUDA_IDS, catalog_of

    h100, h200 = "aws/eu-north-1/h100", "aws/eu-north-1/h200"
    assert {h100, h200} <= set(CUDA_IDS)
    problem = problem_from_dict({"horizon_days": 30, "workloads": [
        {"name": f"w{i}", "kind": "training", "chip_hours": 1500, "deadline_days": 30,
         "runs_on": ["cuda"]} for i in range(2)]}, catalog=catalog_of({h100: 512, h200: 512}))
    candidates = build_candidates(problem)
    assert candidates.rows["offering"].to_list() == [h100, h200, h100, h200]
    built = build_model(candidates, problem.policy)
    force_unplaced(built, {0, 1})
    pieces = price_pieces(built.builder, solve_relaxation(built.builder))
    master = Master(built.builder, pieces, inference_covers(workload_vars(candidates, built)))
    placed = np.zeros(2, dtype=bool)
    master.add(full_values(built, candidates, np.array([0, 1, 1, 0]), placed))
    recombine = _recombiner(built, candidates, problem.policy, master, 0, lambda: False)
    recombined = recombine(np.array([1, 0, 0, 1]), placed, 30.0)
    assert recombined is not None
    assert recombined[0].tolist() == [0, 1, 0, 1]
    assert not recombined[1].any()
    assert objective_units(built, candidates, *recombined) / built.scale == \
        pytest.approx(2 * 10_635.427136, abs=0.01)
    assert recombine(*recombined, 30.0) is None
    assert recombine(np.array([1, 0, 0, 1]), placed, 0.0) is None  # no time left


def test_a_small_fleets_search_recombines_its_plans_with_the_masters_columns(monkeypatch):
    # at 100 workloads the master's search proves its plan the best over its columns: the
    # neighbourhoods after it hand their cheaper plans to it, and what comes back cheaper
    # keeps every rule and is where they go on from
    engine = sys.modules["placer.solve"]
    problem = _fleet(100)
    original = engine._recombiner
    given: list[int] = []
    returned: list[int] = []

    def traced(built, candidates, policy, master, seed, stop):
        recombine = original(built, candidates, policy, master, seed, stop)

        def recombined(units, left_out, seconds):
            given.append(objective_units(built, candidates, units, left_out))
            found = recombine(units, left_out, seconds)
            if found is not None:
                assert candidate_violations(candidates, *found, policy) == []
                returned.append(objective_units(built, candidates, *found))
                assert returned[-1] < given[-1]
            return found
        return recombined

    monkeypatch.setattr(engine, "_recombiner", traced)
    plan = solve(problem, time_limit=10, workers=2)
    assert plan.solver["master_status"] == "OPTIMAL"
    assert given  # the neighbourhoods found a cheaper plan, and handed it over
    scale = plan.solver["money_scale"]
    assert plan.total_usd * scale <= min(given + returned) + 1
    units, left_out = placement_of(plan, build_candidates(problem))
    assert candidate_violations(build_candidates(problem), units, left_out,
                                problem.policy) == []


def test_a_master_lps_values_are_its_columns_weighted():
    # what the master LP makes of each variable (where it buys a port in part:
    # placer.port_tree): its columns' values, weighted, so the coupling rows' activity
    # over the columns is the same as over those values
    _, _, _, master, _ = guided_master(120)
    lp = master.solve_lp(30)
    assert lp is not None
    held = np.flatnonzero(master.piece_of >= 0)
    values = master.lp_values(lp.weights, held)
    columns = master._columns_matrix()[:, :len(lp.weights)]
    assert np.allclose(columns @ lp.weights, master.link[:, held] @ values, atol=1e-6)
    assert (values >= master.lower[held] - 1e-9).all()
    assert (values <= master.upper[held] + 1e-9).all()
    # a variable no piece holds has no value of its own there
    assert np.isnan(master.lp_values(lp.weights, master.free[:1])).all()


def test_a_round_whose_bound_is_not_wanted_leaves_out_the_pieces_it_reaches_late(monkeypatch):
    # wanted, a full round searches each piece starting after its deadline for
    # LATE_PIECE_S, for its bound; not wanted (the rounds across the caps), it leaves it
    # out, its hint standing (a part of a 30,000 fleet: such a round ended 0.56-0.86 s
    # past its deadline, out of its master's time)
    from types import SimpleNamespace

    _, relaxation, _, master, start = guided_master(100)
    duals = relaxation.duals[master.coupling]
    searched = []
    piece_solver = colgen.piece_solver

    def counted(*args, **kwargs):
        searched.append(args)
        if len(searched) == 1:
            clock.offset = 1e6  # the deadline passes while the first piece is searched
        return piece_solver(*args, **kwargs)

    clock = SimpleNamespace(offset=0.0)
    monkeypatch.setattr(colgen, "piece_solver", counted)
    monkeypatch.setattr(colgen, "time", SimpleNamespace(
        perf_counter=lambda: time.perf_counter() + clock.offset))
    wanted = master.price(duals, start, deadline=time.perf_counter() + 1e3)
    assert len(searched) >= 2 and wanted.bound is not None
    searched.clear()
    clock.offset = 0.0
    left_out = master.price(duals, start, deadline=time.perf_counter() + 1e3,
                            bound_wanted=False)
    assert len(searched) == 1 and left_out.bound is None and left_out.cut_short
    # the pieces left out keep the hint's values: the round's columns are its pieces'
    before = master.columns
    master.add_priced(left_out)
    _assert_columns_keep_their_pieces_rows(master, np.arange(before, master.columns))


def test_the_master_searches_from_its_last_lp_where_a_new_one_would_take_its_time(
        monkeypatch):
    # after the rounds across the cap the master's LP is out of date; where a new one
    # should take more than MASTER_LP_SHARE of the time left, or does not finish, the
    # first search goes over the last LP's support and the columns across the cap, and
    # finds the optimum as it does after a new LP
    candidates, policy, built, master, start, duals = _capped_master()
    across = cap_columns(master, duals, start, time.perf_counter() + 30)
    assert len(across) and not master.has_lp() and master.last_lp is not None
    assert len(master.last_lp.weights) < master.columns
    solved = []
    solve_lp = master._solve_lp
    monkeypatch.setattr(master, "_solve_lp", lambda limit: solved.append(limit) or solve_lp(limit))

    def optimum(found) -> None:
        assert found.objective / built.scale == pytest.approx(40_463.57, abs=0.02)
        units, left_out = found.values[built.units], _left_out(built, found.values)
        assert candidate_violations(candidates, units, left_out, policy) == []

    seconds = 30.0
    optimum(solve_master(master, start, FULL_MASTER_S / 2, time.perf_counter() + seconds,
                         also=across, lp_seconds=seconds))
    assert solved == []
    monkeypatch.setattr(master, "_solve_lp", lambda limit: solved.append(limit))  # no LP
    optimum(solve_master(master, start, FULL_MASTER_S / 2, time.perf_counter() + seconds,
                         also=across, lp_seconds=0.1))
    assert len(solved) == 1
    assert not master.has_lp()
    monkeypatch.setattr(master, "_solve_lp", solve_lp)
    optimum(solve_master(master, start, FULL_MASTER_S / 2, time.perf_counter() + seconds,
                         also=across, lp_seconds=0.1))
    assert master.has_lp()  # a new one, when it fits
