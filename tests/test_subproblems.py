"""Pieces priced without a search: the pieces of workloads sharing ports, by their port
sets, and serving workloads with a spread rule, by a programme per provider and a
knapsack over them. Every column keeps its piece's rules, never costs less than the
piece's optimum, and reaches it where the programme is exact (gangs, hand-computed
covers)."""

from __future__ import annotations

import itertools
import time
from dataclasses import replace

import numpy as np
import polars as pl
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from placer.candidates import build_candidates
from placer.colgen import Master
from placer.lagrange import price_pieces, search_pieces
from placer.model import build_model
from placer.relax import Relaxation
from placer.solve import SolveOptions, _master, solve_built_candidates
from placer.subproblems import (
    COVER_CELLS,
    Covers,
    SpreadCovers,
    _knapsack,
    cheapest_spread,
    cover_floors,
    port_set_columns,
    port_set_floors,
    proven_cover_columns,
    workload_vars,
)
from tests.test_colgen import fleet_pieces
from tests.test_engine import EXHAUSTIVE, _fleet, small_problems, two_gangs_sharing_a_port
from tests.test_lagrange import relaxed


def _keeps_rows(pieces, k_vars, k_rows, values) -> bool:
    activity = pieces.matrix[k_rows][:, k_vars] @ values[k_vars]
    return bool(np.all(activity >= pieces.row_lo[k_rows] - 1e-9)
                and np.all(activity <= pieces.row_hi[k_rows] + 1e-9))


@pytest.mark.parametrize("share, ported", [(1.5, True), (2.5, False)])
def test_a_shared_port_is_bought_when_it_pays_for_the_gangs_that_share_it(share, ported):
    # each gang runs for $d less on inf2 than on the H100s; a port of 1.5 d pays for two
    # gangs (both on inf2, one port), one of 2.5 d does not (both stay on the H100s)
    problem, on, port = two_gangs_sharing_a_port(share)
    candidates = build_candidates(problem)
    built = build_model(candidates, problem.policy)
    master = Master(built.builder, _no_prices(built), None, workload_vars(candidates, built))
    assert master.port_sets is not None and len(master.port_sets.pieces) == 1
    values = np.zeros(built.builder.num_vars, dtype=np.int64)
    priced = built.builder.objective()
    done = port_set_columns(master.port_sets, priced, values, np.ones(master.pieces, bool))
    assert done.sum() == 1
    expected = 2 * on["inf2"] + port if ported else 2 * on["h100"]
    assert float(priced @ values) / built.scale == pytest.approx(expected, abs=0.02)
    assert values[built.ports["var"].to_numpy()].tolist() == [int(ported)]


def _no_prices(built):
    # the pieces at zero prices of the coupling rows (an LP whose duals are all zero)
    n = built.builder.num_vars
    relaxation = Relaxation(optimal=True, objective=0.0, values=np.zeros(n),
                            reduced_costs=np.zeros(n), time_s=0.0,
                            duals=np.zeros(len(built.builder.rows)))
    return price_pieces(built.builder, relaxation)


@settings(EXHAUSTIVE, max_examples=75)  # 150 took 14 s of the suite
@given(problem=small_problems())
def test_port_set_columns_keep_their_pieces_rules_and_never_pass_their_optimum(problem):
    # at the LP's duals, each piece priced by its port sets against the same piece
    # searched by CP-SAT to its end: never cheaper, and as cheap for gangs alone
    candidates, _, built, relaxation = relaxed(problem)
    pieces = price_pieces(built.builder, relaxation)
    master = _master(built, candidates, pieces)
    if master.port_sets is None:
        event("no piece with a port or a spread rule")
        return
    values = pieces.values.copy()
    done = port_set_columns(master.port_sets, pieces.priced, values,
                            np.ones(master.pieces, dtype=bool))
    exact = price_pieces(built.builder, relaxation)  # every piece searched to its end
    exact.pending = list(range(exact.count))
    for variables in exact.vars_of:
        exact.position[variables] = np.arange(len(variables))
    search_pieces(exact, time_budget=60, deterministic_s=10.0)
    serving = set(candidates.workloads.filter(pl.col("kind") == "inference")["w"].to_list())
    for k in np.flatnonzero(done).tolist():
        k_vars, k_rows = master.vars_of[k], master.rows_of[k]
        assert np.array_equal(values[k_vars], np.rint(values[k_vars]))
        assert _keeps_rows(pieces, k_vars, k_rows, values)
        cost = float(pieces.priced[k_vars] @ values[k_vars])
        optimum = float(pieces.priced[k_vars] @ exact.values[k_vars])
        assert cost >= optimum - 1e-6 * max(1.0, abs(optimum))
        in_piece = set(candidates.rows["w"].to_numpy()[
            np.isin(built.units, k_vars)].tolist())
        if not in_piece & serving:
            assert cost == pytest.approx(optimum, rel=1e-9, abs=1e-6)
            event("gangs: at the optimum")
        else:
            event("serving: at the optimum" if cost <= optimum + 1e-6 else "serving: above")


def _spread_one(cost: list[float], provider: list[int], supply: list[int],
                most: list[int], need: int, fraction: float, min_providers: int
                ) -> SpreadCovers:
    rows = len(cost)
    # as the model counts them: a unit covers at most the whole need
    covers = Covers(units=np.arange(rows), used=np.full(rows, -1),
                    supply=np.minimum(supply, need).astype(float), max_units=np.array(most),
                    owner=np.zeros(rows, dtype=np.int64), need=np.array([float(need)]),
                    left_out=np.array([-1]))
    limit = np.floor(fraction * need) if fraction < 1 else np.inf
    return SpreadCovers(covers, np.array(provider), np.array(supply, dtype=float),
                        np.array([limit]), np.array([min_providers]))


def test_a_spread_cover_is_the_hand_computed_cheapest():
    # 10 chips of demand, one chip an instance: $1 on provider 0, $2 on provider 1, at
    # most 70 % on any: 7 on provider 0 and 3 on provider 1, $13 (cells of 64 count an
    # instance as 6 cells, 6.4 in truth: the programme takes 11, the spare one goes)
    spread = _spread_one([1.0, 2.0], [0, 1], [1000, 1000], [20, 20], 10_000, 0.7, 2)
    chosen = cheapest_spread(spread, np.array([1.0, 2.0]))
    assert chosen.done[0]
    assert chosen.units.tolist() == [7, 3]
    assert chosen.cost[0] == pytest.approx(13.0)


@settings(EXHAUSTIVE, max_examples=60)
@given(problem=small_problems(), tilt=st.sampled_from([None, 0.5, 2.0, -1.0]))
def test_a_port_sets_floor_never_passes_its_pieces_optimum_and_a_proven_column_is_it(
        problem, tilt):
    # at the LP's duals (or those times a tilt, some prices then negative), each piece
    # priced by its port sets against the same piece searched by CP-SAT to its end: its
    # floor never above that optimum, and a column proven (Master._proven_port_sets) at it
    candidates, _, built, relaxation = relaxed(problem)
    if tilt is not None:
        relaxation = replace(relaxation, duals=relaxation.duals * tilt)
    pieces = price_pieces(built.builder, relaxation)
    master = _master(built, candidates, pieces)
    if master.port_sets is None:
        event("no piece with a port or a spread rule")
        return
    priced = pieces.priced
    values = pieces.values.copy()
    written = port_set_columns(master.port_sets, priced, values,
                               np.ones(master.pieces, dtype=bool))
    floors = port_set_floors(master.port_sets, priced)
    proven, proven_floors = master._proven_port_sets(priced, values, written)
    exact = price_pieces(built.builder, relaxation)
    exact.pending = list(range(exact.count))
    for variables in exact.vars_of:
        exact.position[variables] = np.arange(len(variables))
    search_pieces(exact, time_budget=60, deterministic_s=10.0)
    for at, k in enumerate(master.port_sets.pieces.tolist()):
        k_vars = master.vars_of[k]
        optimum = float(priced[k_vars] @ exact.values[k_vars])
        assert floors[at] <= optimum + 1e-6 * max(1.0, abs(optimum))
        if k in proven:
            cost = float(priced[k_vars] @ values[k_vars])
            assert cost == pytest.approx(optimum, rel=1e-9, abs=1e-6)
            assert proven_floors[proven.tolist().index(k)] == floors[at]
            event("proven")
        else:
            event("searched")


def test_two_gangs_sharing_a_port_are_proven_without_a_search():
    # gangs alone are priced exactly by their port sets: the floor is the optimum by hand
    # (both on inf2 with the port, or both on the H100s), and the column is proven there
    for share, ported in ((1.5, True), (2.5, False)):
        problem, on, port = two_gangs_sharing_a_port(share)
        candidates = build_candidates(problem)
        built = build_model(candidates, problem.policy)
        master = Master(built.builder, _no_prices(built), None,
                        workload_vars(candidates, built))
        assert master.port_sets is not None
        priced = built.builder.objective().astype(float)
        values = np.zeros(built.builder.num_vars, dtype=np.int64)
        written = port_set_columns(master.port_sets, priced, values,
                                   np.ones(master.pieces, bool))
        (floor,) = port_set_floors(master.port_sets, priced)
        expected = 2 * on["inf2"] + port if ported else 2 * on["h100"]
        assert floor / built.scale == pytest.approx(expected, abs=0.02)
        proven, floors = master._proven_port_sets(priced, values, written)
        assert proven.tolist() == master.port_sets.pieces.tolist() and floors[0] == floor
        # with the port forbidden the floor is the H100s' whatever it would save
        lower, upper = master.lower.copy(), master.upper.copy()
        upper[built.ports["var"].to_numpy()] = 0
        (forbidden,) = port_set_floors(master.port_sets, priced, lower, upper)
        assert forbidden / built.scale == pytest.approx(2 * on["h100"], abs=0.02)


@settings(deadline=None, max_examples=150)
@given(data=st.data())
def test_a_spread_cover_keeps_the_rule_and_never_passes_the_cheapest(data):
    rows = data.draw(st.integers(1, 5))
    need = data.draw(st.sampled_from([1000, 2500, 4000]))
    provider = [data.draw(st.integers(0, 2)) for _ in range(rows)]
    supply = [data.draw(st.sampled_from([250, 500, 700, 1000, 1300])) for _ in range(rows)]
    cost = [float(data.draw(st.integers(1, 50))) for _ in range(rows)]
    most = [data.draw(st.integers(2, 8)) for _ in range(rows)]
    fraction = data.draw(st.sampled_from([0.5, 0.7, 1.0]))
    min_providers = data.draw(st.integers(1, len(set(provider))))
    spread = _spread_one(cost, provider, supply, most, need, fraction, min_providers)
    chosen = cheapest_spread(spread, np.array(cost))
    limit = fraction * need if fraction < 1 else np.inf

    def keeps(n: tuple[int, ...]) -> bool:
        served = np.bincount(provider, weights=np.array(n) * supply, minlength=3)
        return bool(np.dot(n, supply) >= need and (served <= limit).all()
                    and (served > 0).sum() >= min_providers)

    best = min((float(np.dot(n, cost)) for n in itertools.product(
        *[range(m + 1) for m in most]) if keeps(n)), default=np.inf)
    if not chosen.done[0]:
        event("none found" if np.isfinite(best) else "none exists")
        return
    n = tuple(chosen.units.tolist())
    assert keeps(n)
    assert chosen.cost[0] == pytest.approx(float(np.dot(n, cost)))
    assert chosen.cost[0] >= best - 1e-9
    event("cheapest" if chosen.cost[0] <= best + 1e-9 else "above the cheapest")


@settings(deadline=None, max_examples=200)
@given(data=st.data())
def test_the_spread_knapsack_is_the_cheapest_way_its_providers_cover_every_cell(data):
    # per workload, up to four providers' tables (the cost of covering exactly y cells,
    # inf where no cover is exact), small integer costs so that ties are common: against
    # every choice of y per provider that covers all COVER_CELLS cells with at least
    # min_providers of them
    width, tables, count = (data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4)),
                            data.draw(st.integers(1, 3)))
    curve = np.full((tables, COVER_CELLS + 1), np.inf)
    curve[:, 0] = 0.0
    for table in range(tables):
        for _ in range(data.draw(st.integers(0, 4))):
            curve[table, data.draw(st.integers(1, COVER_CELLS))] = \
                float(data.draw(st.integers(1, 20)))
    slots = np.array([[data.draw(st.integers(-1, tables - 1)) for _ in range(width)]
                      for _ in range(count)])
    min_providers = np.array([data.draw(st.integers(1, 3)) for _ in range(count)])
    chosen, total = _knapsack(curve, slots, min_providers)
    for w in range(count):
        # per provider: no cells, or any number it covers exactly
        options = [[0] + ([] if slot < 0 else
                          (np.flatnonzero(np.isfinite(curve[slot, 1:])) + 1).tolist())
                   for slot in slots[w].tolist()]
        costs = [sum(curve[slot, y] for slot, y in zip(slots[w], ys, strict=True) if y)
                 for ys in itertools.product(*options)
                 if sum(ys) >= COVER_CELLS and sum(y > 0 for y in ys) >= min_providers[w]]
        assert total[w] == min(costs, default=np.inf)
        if not costs:
            event("no cover")
            continue
        ys = chosen[w]
        assert ys.sum() >= COVER_CELLS and (ys > 0).sum() >= min_providers[w]
        assert (ys[slots[w] < 0] == 0).all()  # a missing provider covers nothing
        assert sum(curve[slot, y] for slot, y in zip(slots[w], ys, strict=True) if y) \
            == total[w]
        event("a cover")


@settings(deadline=None, max_examples=150)
@given(data=st.data())
def test_a_covers_floor_never_passes_the_cheapest_and_a_proven_cover_is_it(data):
    # one serving workload alone: units per row (each row maybe paid once, for egress),
    # maybe left out at a value; against every way of buying its units
    rows = data.draw(st.integers(1, 4))
    need = data.draw(st.sampled_from([1000, 2500, 4000, 6400]))
    supply = [min(data.draw(st.sampled_from([250, 333, 500, 700, 1000, 1300, 4000])), need)
              for _ in range(rows)]
    cost = [float(data.draw(st.integers(0, 50))) for _ in range(rows)]
    once = [float(data.draw(st.sampled_from([0, 0, 5, 40]))) for _ in range(rows)]
    most = [data.draw(st.integers(1, 6)) for _ in range(rows)]
    value = data.draw(st.sampled_from([None, 30.0, 400.0]))
    used = np.where(np.array(once) > 0, rows + np.arange(rows), -1)
    covers = Covers(units=np.arange(rows), used=used, supply=np.array(supply, dtype=float),
                    max_units=np.array(most), owner=np.zeros(rows, dtype=np.int64),
                    need=np.array([float(need)]),
                    left_out=np.array([-1 if value is None else 2 * rows]))
    priced = np.array(cost + once + [0.0 if value is None else value])
    take = np.array([True])
    best = min((float(np.dot(n, cost)) + sum(o for o, k in zip(once, n, strict=True) if k > 0)
                for n in itertools.product(*[range(m + 1) for m in most])
                if np.dot(n, supply) >= need), default=np.inf)
    best = min(best, np.inf if value is None else value)
    floor = cover_floors(covers, priced, take)[0]
    assert floor <= best + 1e-9
    values = np.zeros(len(priced), dtype=np.int64)
    proven, floors = proven_cover_columns(covers, priced, take, values)
    if not proven[0]:
        assert values.sum() == 0  # nothing written
        event("not proven")
        return
    event("proven")
    assert floors[0] == floor
    n = values[:rows]
    left_out = value is not None and values[2 * rows] == 1
    assert left_out or np.dot(n, supply) >= need
    assert (n <= np.array(most)).all()
    assert all(values[u] == (k > 0) for u, k in zip(used, n, strict=True) if u >= 0)
    assert float(priced @ values) == pytest.approx(best, abs=1e-6)


def test_a_part_of_a_fleet_is_guided_by_port_sets_and_keeps_every_rule(monkeypatch):
    # a guide (no bound wanted): the pieces sharing ports are priced by their port sets,
    # at the LP's duals and in every round of column generation; the plan (the warm
    # start's or the master's: no search after them, for the suite's time) keeps every
    # rule
    from placer.check import candidate_violations
    from placer.plan import placement_of
    from tests.conftest import no_search_after_the_warm_start

    no_search_after_the_warm_start(monkeypatch)
    problem = _fleet(300)
    candidates = build_candidates(problem)
    plan = solve_built_candidates(candidates, problem.policy, SolveOptions(
        time_limit=10, workers=1, lagrangian=False, in_parts=False, explain=False))
    assert plan.solver["columns_rounds"] >= 2
    units, left_out = placement_of(plan, candidates)
    assert candidate_violations(candidates, units, left_out, problem.policy) == []


def test_a_guides_rounds_search_no_piece_and_stop_when_the_master_lp_stalls():
    # no bound wanted: every round prices its pieces without a search (so the bound
    # stays the LP's) and the rounds end by themselves, long before their budget, once
    # two rounds gain the master LP less than STALLED
    from placer.colgen import STALL_ROUNDS, STALLED, generate_columns, price_without_search
    from placer.warmstart import full_values, warm_start

    problem, candidates, built, relaxation, pieces = fleet_pieces(300)
    master = _master(built, candidates, pieces)
    assert price_without_search(master, pieces) > 0 and pieces.pending == []
    warm = warm_start(built, candidates, problem.policy, relaxation,
                      guide=pieces.values[built.units])
    start = full_values(built, candidates, warm.units, warm.left_out)
    master.add(start)
    master.add_integral(pieces.values)
    seen: list[float] = []
    solve_lp = master.solve_lp

    def recorded(time_limit: float):
        lp = solve_lp(time_limit)
        seen.append(lp.objective)
        return lp

    master.solve_lp = recorded  # type: ignore[method-assign]
    bound = pieces.result().bound
    generated = generate_columns(master, relaxation.duals[master.coupling], bound, start,
                                 budget_s=1000, deadline=time.perf_counter() + 1000,
                                 full_rounds=False)
    assert not generated.cut_by_time and generated.bound == bound
    assert generated.rounds == len(seen) - 1 >= STALL_ROUNDS
    assert seen[-STALL_ROUNDS - 1] - seen[-1] <= STALLED * abs(seen[-1])
    assert all(seen[k - STALL_ROUNDS] - seen[k] > STALLED * abs(seen[k])
               for k in range(STALL_ROUNDS, len(seen) - 1))
