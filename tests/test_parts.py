"""Solving in parts: a plan of the parts is a plan of the whole, ports stay together."""

from __future__ import annotations

import sys
import time
from concurrent.futures import Future

import numpy as np
import polars as pl
import pytest

from placer.candidates import build_candidates, port_ids
from placer.check import candidate_violations, check_plan
from placer.colgen import PERTURBED_ROUNDS
from placer.parts import partition
from placer.plan import placement_of
from placer.report import money, plan_headline
from placer.sample import averaged
from placer.schema import PlanDocument
from placer.solve import solve
from tests.test_engine import _fleet


def test_partition_keeps_port_sharers_together_in_parts_of_about_equal_size():
    candidates = build_candidates(_fleet(300))
    part_of = partition(candidates, 3, seed=0)
    rows = candidates.rows
    port = port_ids(rows)
    w = rows["w"].to_numpy()
    for p in np.unique(port[port >= 0]).tolist():
        assert len(set(part_of[w[port == p]].tolist())) == 1
    sizes = np.bincount(part_of, minlength=3)
    assert sizes.sum() == 300 and sizes.min() >= 80, sizes
    assert (partition(candidates, 3, seed=0) == part_of).all()
    assert not (partition(candidates, 3, seed=1) == part_of).all()


def test_a_fleet_solved_in_parts_keeps_every_rule(monkeypatch):
    engine = sys.modules["placer.solve"]
    problem = _fleet(300)
    # a budget above the whole's plan: each part must keep to its share. The second
    # part's half of capacity is too small, and its retry (one share more, about 3.5 s)
    # must find a plan in what the first part left of the budget: at 1.1 times the
    # whole's 6 s plan ($6.01M since the whole's master searches all its columns, $6.11M
    # before) it often did not
    whole = solve(problem, time_limit=6, workers=2)
    problem = problem.replace(policy=problem.policy.model_copy(
        update={"budget_usd": whole.total_usd * 1.2}))
    monkeypatch.setattr(engine, "PART_WORKLOADS", 150)
    monkeypatch.setattr(engine, "in_parts", lambda candidates, time_limit: True)
    sample = sys.modules["placer.sample"]
    monkeypatch.setattr(sample, "SAMPLE_WORKLOADS", 100)
    priced = _prices_for_the_bound(monkeypatch)
    seen = []
    plan = solve(problem, time_limit=12, workers=2, progress=seen.append)
    assert plan.solver["parts"] == 2
    # a part whose share of the budget leaves it no plan has no LP prices either
    _, prices = priced["prices"]
    assert prices
    # the bound at the sample's prices is priced before the parts, so as not to take a
    # core from the first of them; again beside them: the progress shows it once known
    assert priced["first"] <= priced["parts"]
    assert seen[-1]["bound_usd"] == pytest.approx(plan.bound_usd, rel=1e-9)
    assert plan.solver["engine"].endswith("(in 2 parts)")
    assert plan.status == "feasible" and plan.solver["deterministic"] is False
    assert plan.bound_usd <= plan.total_usd
    candidates = build_candidates(problem)
    # with no LP of the whole, the bound is the one without an LP from a sample's prices
    start = sample.sample_prices(candidates, problem.policy, 0, 60, lambda: False)
    assert start is not None
    scale = plan.solver["money_scale"]
    # or from the first batch's prices, which there was time for, and every part's (a
    # retry's too) when more and there was time: the best one (at the cells chosen for
    # each: BOUND_CELLS where there was time)
    cells = list(priced["cells"])  # (the pricings below are recorded too)
    assert cells and set(cells) <= {engine.BOUND_CELLS, engine.INSTANCE_CELLS}
    at_first = max(
        engine._price_capacity(candidates, problem.policy, scale,
                               start=start.on_fleet(candidates.rows)).bound,
        engine._price_capacity(candidates, problem.policy, scale,
                               start=averaged(prices, candidates.rows),
                               cells=cells[0]).bound) / scale
    at_every = engine._price_capacity(candidates, problem.policy, scale,
                                      start=averaged(priced["every"], candidates.rows),
                                      cells=cells[-1]).bound
    assert plan.bound_usd == pytest.approx(at_first, rel=1e-9) \
        or plan.bound_usd == pytest.approx(max(at_first, at_every / scale), rel=1e-9)
    units, left_out = placement_of(plan, candidates)
    assert candidate_violations(candidates, units, left_out, problem.policy) == []
    assert check_plan(PlanDocument.model_validate(plan.to_dict()), problem) == []


def _prices_for_the_bound(monkeypatch) -> dict:
    """Recorded as the fleet is solved in parts: when the bound got the first batch's
    prices, and those prices ("prices"); when each part's worker answered ("answers");
    each part's time limit, deadline and when it was given to a worker ("given");
    when the bound at the sample's prices was priced ("first") and the parts started
    ("parts"); the cells each set of the parts' prices was priced at ("cells")."""
    engine = sys.modules["placer.solve"]
    workers = sys.modules["placer.workers"]
    times = {"answers": [], "cells": [], "given": []}
    bound_in_parts, solve = engine._bound_in_parts, workers.PartWorkers.solve
    price_capacity = engine._price_capacity

    def price_recorded(candidates, policy, scale, upper=None, start=None, cells=None):
        if cells is not None:  # the parts' prices: at the cells chosen for them
            times["cells"].append(cells)
        return price_capacity(candidates, policy, scale, upper, start,
                              engine.INSTANCE_CELLS if cells is None else cells)

    def bound_when_priced(candidates, policy, scale, first, price_sets, deadline, batch):
        times["prices"] = (time.perf_counter(), price_sets[0].result())
        bound = bound_in_parts(candidates, policy, scale, first, price_sets, deadline, batch)
        times["every"] = price_sets[-1].result()
        return bound

    def answer_timed(pool, table, policy, options, stop, deadline=None):
        times["given"].append((options.time_limit, deadline, time.perf_counter()))
        answer = solve(pool, table, policy, options, stop, deadline)
        times["answers"].append(time.perf_counter())
        return answer

    first_bound, in_parts = engine._first_bound, engine.solve_in_parts

    def first_timed(*args, **kwargs):
        bound = first_bound(*args, **kwargs)
        times["first"] = time.perf_counter()
        return bound

    def parts_timed(*args, **kwargs):
        times["parts"] = time.perf_counter()
        return in_parts(*args, **kwargs)

    monkeypatch.setattr(engine, "_bound_in_parts", bound_when_priced)
    monkeypatch.setattr(engine, "_price_capacity", price_recorded)
    monkeypatch.setattr(workers.PartWorkers, "solve", answer_timed)
    monkeypatch.setattr(engine, "_first_bound", first_timed)
    monkeypatch.setattr(engine, "solve_in_parts", parts_timed)
    return times


def test_the_bound_in_parts_is_priced_again_at_the_first_parts_prices_if_there_is_time():
    from placer.model import build_model, force_unplaced
    from placer.sample import LPPrices

    engine = sys.modules["placer.solve"]
    problem = _fleet(300)
    candidates = build_candidates(problem)
    built = build_model(candidates, problem.policy)
    force_unplaced(built, set(candidates.rows["w"].unique().to_list()))
    relaxation = engine._relax(built, candidates, 60, lambda: False)
    prices = LPPrices.at_duals(built, candidates, relaxation.duals)

    first = engine._first_bound(candidates, problem.policy, built.scale, None)

    def bound(sets: list[list[LPPrices]], deadline: float, batch: float = 600,
              first: tuple[float, float] = first) -> float:
        futures = []
        for reported in sets:
            futures.append(Future())
            futures[-1].set_result(reported)
        return engine._bound_in_parts(candidates, problem.policy, built.scale, first, futures,
                                      deadline, batch)

    from_zero = engine._price_capacity(candidates, problem.policy, built.scale).bound
    # with the time for it, at BOUND_CELLS cells
    at_lp = engine._price_capacity(candidates, problem.policy, built.scale,
                                   start=prices.on_fleet(candidates.rows),
                                   cells=engine.BOUND_CELLS).bound
    at_lp_coarse = engine._price_capacity(candidates, problem.policy, built.scale,
                                          start=prices.on_fleet(candidates.rows)).bound
    assert at_lp > at_lp_coarse > from_zero * 1.001  # an LP's prices beat the steps from zero
    far = time.perf_counter() + 600
    assert bound([[prices, prices]], far) == pytest.approx(at_lp, rel=1e-12)
    # time for the pricing, not at BOUND_CELLS: (as if) the first took 10 s
    slow = 10.0 * engine.BOUND_AGAIN_FACTOR
    assert bound([[prices]], time.perf_counter() + slow * engine.BOUND_CELLS_COST / 2,
                 first=(first[0], 10.0)) == pytest.approx(at_lp_coarse, rel=1e-12)
    assert bound([[]], far) == pytest.approx(from_zero, rel=1e-12)
    assert bound([[prices]], time.perf_counter()) == pytest.approx(from_zero, rel=1e-12)
    # nor when the first pricing took more than its share of a batch of parts' time
    assert first[0] == pytest.approx(from_zero, rel=1e-12)
    assert bound([[prices]], far, batch=first[1] / engine.BOUND_AGAIN_SHARE * 0.99) \
        == pytest.approx(from_zero, rel=1e-12)
    assert bound([[prices]], far, batch=first[1] / engine.BOUND_AGAIN_SHARE * 1.01) \
        == pytest.approx(at_lp, rel=1e-12)
    # every part's prices, when the first batch had none to report
    assert bound([[], [prices, prices]], far) == pytest.approx(at_lp, rel=1e-12)
    assert at_lp / built.scale <= solve(problem, time_limit=5, workers=2).total_usd


def test_large_fleets_are_solved_in_parts_and_with_more_time_from_fewer_workloads(
        monkeypatch):
    engine = sys.modules["placer.solve"]
    candidates = build_candidates(_fleet(300))
    monkeypatch.setattr(engine, "PART_WORKLOADS", 100)
    monkeypatch.setattr(engine, "PARTS_WORKLOADS", 300)
    monkeypatch.setattr(engine, "PARTS_GIVEN_TIME_WORKLOADS", 200)
    monkeypatch.setattr(engine, "PARTS_GIVEN_TIME_SECONDS", 20.0)
    assert engine.in_parts(candidates, time_limit=5)
    monkeypatch.setattr(engine, "PARTS_WORKLOADS", 301)
    assert not engine.in_parts(candidates, time_limit=19.9)
    assert engine.in_parts(candidates, time_limit=20)
    # the whole's LP may not finish in its share of the time: in parts
    seconds = engine.lp_seconds(candidates.rows) / engine.LP_SHARE
    assert engine.in_parts(candidates, time_limit=seconds * 0.99)
    assert not engine.in_parts(candidates, time_limit=seconds * 1.01)
    monkeypatch.setattr(engine, "PART_WORKLOADS", 300)  # no parts to make
    assert not engine.in_parts(candidates, time_limit=20)
    assert not engine.in_parts(candidates, time_limit=seconds * 0.99)


def test_parts_side_by_side_come_in_full_batches():
    # parts of at most 2,500 workloads: on two cores or more, two at a time, in full
    # batches (five parts of 11,000 would leave a core idle in the last)
    from placer.solve import part_count

    assert part_count(10_000, workers=2) == (4, 2)
    assert part_count(10_000, workers=8) == (4, 2)
    assert part_count(11_000, workers=2) == (6, 2)
    assert part_count(11_000, workers=1) == (5, 1)
    assert part_count(100_000, workers=2) == (40, 2)
    assert part_count(5_000, workers=2) == (2, 2)
    assert part_count(5_001, workers=2) == (4, 2)


@pytest.mark.parametrize("capacity", [1, 2])
def test_a_fleet_in_parts_side_by_side_keeps_every_rule(monkeypatch, capacity):
    # 300 workloads in parts of at most 100 on two cores: four parts, two at a time. With
    # the generated capacities the parts' shares prove too small (in 0.1-2 s), and each
    # batch's parts are solved again together; with twice the capacity every share has a
    # plan.
    engine = sys.modules["placer.solve"]
    problem = _fleet(300)
    offerings = problem.catalog.offerings.with_columns(pl.col("capacity_chips") * capacity)
    problem = problem.replace(catalog=problem.catalog.with_offerings(offerings))
    monkeypatch.setattr(engine, "PART_WORKLOADS", 100)
    monkeypatch.setattr(engine, "in_parts", lambda candidates, time_limit: True)
    priced = _prices_for_the_bound(monkeypatch)
    plan = solve(problem, time_limit=8, workers=2)
    assert plan.solver["parts"] == 4
    assert (plan.solver["part_retries"] > 0) == (capacity == 1)
    # each part, a retry too, says what it was given and found; the plans found add up
    # to the whole's, each workload in one of them
    part_plans = plan.solver["part_plans"]
    assert [p["part"] for p in part_plans] == list(range(4 + plan.solver["part_retries"]))
    found = [p for p in part_plans if p["total_usd"] is not None]
    assert (len(found) < len(part_plans)) == (capacity == 1)
    assert sum(p["workloads"] for p in found) == 300
    assert sum(p["total_usd"] for p in found) == pytest.approx(plan.total_usd, rel=1e-9)
    assert all(p["time_limit_s"] > 0 and p["time_s"] > 0 for p in part_plans)
    # each part given its batch's deadline (its stop's), not its time limit from when a
    # worker takes it
    assert len(priced["given"]) == len(part_plans)
    assert all(deadline is not None and deadline - given <= limit
               for limit, deadline, given in priced["given"])
    assert all(0 <= p["columns_perturbed_rounds"] <= PERTURBED_ROUNDS for p in part_plans)
    assert all(p["lp_bound_usd"] <= p["total_usd"] for p in found
               if p["lp_bound_usd"] is not None)
    if capacity == 2:
        # the parts of the first batch report their prices as soon as they have them
        # (their LPs', then their masters' after the rounds of columns, before their
        # answers): the bound has the masters' before the batch is in
        priced_at, prices = priced["prices"]
        assert len(prices) == 2 and priced_at < max(priced["answers"][:2])
        assert all(p.after_columns for p in prices)
    assert plan.bound_usd <= plan.total_usd
    candidates = build_candidates(problem)
    units, left_out = placement_of(plan, candidates)
    assert candidate_violations(candidates, units, left_out, problem.policy) == []


def test_when_a_part_finds_no_plan_the_whole_is_solved_at_once(monkeypatch):
    engine = sys.modules["placer.solve"]
    problem = _fleet(300)
    monkeypatch.setattr(engine, "PART_WORKLOADS", 100)
    monkeypatch.setattr(engine, "in_parts", lambda candidates, time_limit: True)
    monkeypatch.setattr(engine, "solve_in_parts", lambda *args, **kwargs: None)
    plan = solve(problem, time_limit=6, workers=2)
    assert plan.solver.get("parts", 0) == 0
    assert "parts" not in plan.solver["engine"]
    assert plan.has_plan


def test_each_part_gets_its_share_of_capacity_and_budget_less_what_came_before():
    from placer.parts import solve_in_parts

    candidates = build_candidates(_fleet(300))
    part_of = partition(candidates, 2, seed=0)
    budget = 1_000_000.0
    policy = _fleet(300).policy.model_copy(update={"budget_usd": budget})
    seen = []

    def place_first_row(sub, part_policy, seconds, until):
        """Takes one unit of the first row of each part."""
        seen.append((sub.offerings["capacity_chips"].to_numpy().copy(), part_policy.budget_usd,
                     sub.rows.row(0, named=True)))
        units = np.zeros(sub.rows.height, dtype=np.int64)
        units[0] = 1
        return units, np.zeros(sub.workloads.height, dtype=bool)

    whole = solve_in_parts(candidates, policy, part_of, 60, place_first_row, lambda: False)
    capacity = candidates.offerings["capacity_chips"].to_numpy()
    (first_capacity, first_budget, row), (second_capacity, second_budget, _) = seen
    assert (first_capacity == capacity // 2).all()
    assert first_budget == budget / 2
    used = np.zeros_like(capacity)
    used[candidates.offerings["offering"].to_list().index(row["offering"])] = row["unit_chips"]
    assert (second_capacity == capacity - used).all()
    cash = row["unit_compute_usd"] + row["egress_usd"] + (row["port_usd"] or 0)
    assert second_budget == float(np.floor(budget - cash))
    assert whole.units.sum() == 2


def test_two_parts_side_by_side_each_get_their_share_the_first_also_what_came_before():
    # Four parts, two at a time. A barrier both parts of a batch must reach proves they
    # run side by side (solved in turn, the first would wait alone and time out).
    import threading

    from placer.parts import solve_in_parts

    candidates = build_candidates(_fleet(300))
    part_of = partition(candidates, 4, seed=0)
    budget = 1_000_000.0
    policy = _fleet(300).policy.model_copy(update={"budget_usd": budget})
    names = candidates.workloads["workload"].to_list()
    together = threading.Barrier(2, timeout=30)
    seen = {}

    def place_first_row(sub, part_policy, seconds, until):
        k = int(part_of[names.index(sub.workloads["workload"][0])])
        together.wait()
        seen[k] = (sub.offerings["capacity_chips"].to_numpy().copy(), part_policy.budget_usd,
                   sub.rows.row(0, named=True))
        units = np.zeros(sub.rows.height, dtype=np.int64)
        units[0] = 1
        return units, np.zeros(sub.workloads.height, dtype=bool)

    whole = solve_in_parts(candidates, policy, part_of, 60, place_first_row, lambda: False,
                           at_once=2)
    capacity = candidates.offerings["capacity_chips"].to_numpy()
    offerings = candidates.offerings["offering"].to_list()
    used = np.zeros_like(capacity)
    cash = 0.0
    for k in (0, 1):
        row = seen[k][2]
        used[offerings.index(row["offering"])] += row["unit_chips"]
        cash += row["unit_compute_usd"] + row["egress_usd"] + (row["port_usd"] or 0)
    expected = {0: (capacity // 4, budget / 4),
                1: (capacity * 2 // 4 - capacity // 4, budget / 4),
                2: (capacity * 3 // 4 - used, float(np.floor(budget * 3 / 4 - cash))),
                3: (capacity - capacity * 3 // 4, budget / 4)}
    for k, (offered, offered_budget, _) in seen.items():
        assert (offered == np.maximum(0, expected[k][0])).all(), k
        assert offered_budget == expected[k][1], k
    assert whole.units.sum() == 4


def _interrupted_in_parts(monkeypatch, at_once: int, after_s: float):
    import os
    import signal
    import threading
    import time

    engine = sys.modules["placer.solve"]
    problem = _fleet(300)
    monkeypatch.setattr(engine, "PART_WORKLOADS", 150)
    monkeypatch.setattr(engine, "PARTS_AT_ONCE", at_once)
    monkeypatch.setattr(engine, "in_parts", lambda candidates, time_limit: True)
    threading.Timer(after_s, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    started = time.monotonic()
    plan = solve(problem, time_limit=60, workers=2)
    assert time.monotonic() - started < after_s + 8
    assert plan.solver["stop_reason"] == "interrupted"
    return problem, plan


def test_ctrl_c_while_parts_are_solved_in_turn_stops_at_once_and_says_so(monkeypatch):
    # the second part never starts
    _, plan = _interrupted_in_parts(monkeypatch, at_once=1, after_s=1.5)
    assert plan.status == "unknown"
    assert plan.explanation == ["the search was interrupted before every part had a plan"]
    # no plan, but the bound priced before the parts still says what any plan costs
    assert plan.bound_usd is not None and plan.bound_usd > 0
    assert plan_headline(plan) == \
        f"unknown: no plan (any plan costs at least {money(plan.bound_usd)})"


def test_ctrl_c_while_parts_are_solved_side_by_side_keeps_their_plans(monkeypatch):
    # both parts (150 workloads each) have a plan after 6 s: each stops with it, and
    # together they are a plan of the whole (at 3 s, in a slow hour's CI run, one part
    # was still starting: its worker's imports, its LP and warm start)
    problem, plan = _interrupted_in_parts(monkeypatch, at_once=2, after_s=6.0)
    assert plan.status == "feasible"
    assert plan.solver["parts"] == 2
    candidates = build_candidates(problem)
    units, left_out = placement_of(plan, candidates)
    assert candidate_violations(candidates, units, left_out, problem.policy) == []


def test_a_part_its_share_leaves_without_a_plan_gets_one_share_more_not_all():
    from placer.parts import solve_in_parts

    candidates = build_candidates(_fleet(300))
    part_of = partition(candidates, 3, seed=0)
    offered = []

    def fail_first(sub, part_policy, seconds, until):
        offered.append(sub.offerings["capacity_chips"].to_numpy().copy())
        if len(offered) == 1:
            return None
        return (np.zeros(sub.rows.height, dtype=np.int64),
                np.zeros(sub.workloads.height, dtype=bool))

    solve_in_parts(candidates, _fleet(300).policy, part_of, 60, fail_first, lambda: False)
    capacity = candidates.offerings["capacity_chips"].to_numpy()
    assert (offered[0] == capacity // 3).all()
    assert (offered[1] == capacity * 2 // 3).all()  # the retry: one share more
    assert (offered[2] == capacity * 2 // 3).all()  # part 1: nothing used before it


@pytest.mark.parametrize("failing", ["both at once", "both in their time", "one at once"])
def test_the_parts_of_a_batch_that_find_no_plan_are_solved_again_together_in_the_time_left(
        monkeypatch, failing):
    # Four parts, two at a time, in 40 s on a clock that moves only as the parts take
    # their time. Parts of the last batch find no plan in their shares: they are solved
    # again as one part, with all that is left, in the time left (solved again one by
    # one, each in the batch's time, they had overrun the limit, and the first had taken
    # all the capacity left, the second none). A share too small is mostly proved so at
    # once (the 300-workload fleet in four parts: 0.1-2 s of 4-10); then a neighbour
    # still running is cut short at half the batch's time left, the retry gets the rest.
    # Where the failing parts took their whole time, the retry has what is left, 0.1 s.
    import threading

    import placer.parts as parts
    from placer.parts import solve_in_parts

    class Clock:
        now = 0.0

        def perf_counter(self) -> float:
            return self.now

    clock = Clock()
    monkeypatch.setattr(parts, "time", clock)
    candidates = build_candidates(_fleet(300))
    part_of = partition(candidates, 4, seed=0)
    names = candidates.workloads["workload"].to_list()
    together = threading.Barrier(2, timeout=30)
    moved = threading.Lock()
    failed = threading.Event()
    offered, calls = [], []
    fails = {"both at once": ([2], [3]), "both in their time": ([2], [3]),
             "one at once": ([2],)}[failing]

    def fail_in_the_last_batch(sub, part_policy, seconds, until):
        ks = sorted({int(part_of[names.index(name)]) for name in sub.workloads["workload"]})
        started = clock.now
        retry = len(ks) > 1 or ks in offered
        offered.append(ks)
        if not retry:  # a batch's part: its neighbour started on the same clock
            together.wait()
        if ks == [3] and failing == "one at once":
            failed.wait(30)  # part 2 has failed: its deadline comes sooner
            time_out = 30.0
            while until() >= started + seconds and time_out > 0:
                time.sleep(0.01)
                time_out -= 0.01
        with moved:
            calls.append((ks, seconds, sub.offerings["capacity_chips"].to_numpy().copy()))
            fails_now = ks in fails and not retry
            if not fails_now or failing == "both in their time":
                clock.now = max(clock.now, min(started + seconds, until()))
        if fails_now:
            failed.set()
            return None
        units = np.zeros(sub.rows.height, dtype=np.int64)
        units[0] = 1
        return units, np.zeros(sub.workloads.height, dtype=bool)

    whole = solve_in_parts(candidates, _fleet(300).policy, part_of, 40, fail_in_the_last_batch,
                           lambda: False, at_once=2)
    assert whole is not None and whole.retries == 1
    expected = {"both at once": [([2], 20.0), ([2, 3], 20.0), ([3], 20.0)],
                "both in their time": [([2], 20.0), ([2, 3], 0.1), ([3], 20.0)],
                "one at once": [([2], 20.0), ([2], 10.0), ([3], 20.0)]}[failing]
    assert [(ks, seconds) for ks, seconds, _ in sorted(calls, key=lambda c: c[0])] == [
        ([0], 20.0), ([1], 20.0), *expected]
    assert clock.now == pytest.approx(40.1 if failing == "both in their time" else 40.0)
    # the retry: all that the parts before it left
    capacity = candidates.offerings["capacity_chips"].to_numpy()
    used = np.zeros_like(capacity)
    for k in (0, 1, 3) if failing == "one at once" else (0, 1):
        rows = candidates.rows.filter(pl.col("w") == int(np.flatnonzero(part_of == k)[0]))
        used[candidates.offerings["offering"].to_list().index(rows["offering"][0])] += \
            rows["unit_chips"][0]
    assert calls[-1][0] == list(fails[0] if len(fails) == 1 else [2, 3])
    assert (calls[-1][2] == capacity - used).all()
    # parts 2 and 3 have their placement: one unit each on its first row, or, solved
    # again together, one on the first row of both
    assert whole.units.sum() == (3 if len(fails) == 2 else 4)


def test_a_sample_gets_the_time_its_lp_takes_where_the_limit_allows():
    # the sample's LP takes about 2.5 s whatever the fleet's size, and without its prices
    # the first bound is priced from zero: 21-31 s at 100,000 workloads, 6 s from them
    from placer.solve import SAMPLE_MIN_S, sample_seconds

    assert sample_seconds(300) == 15.0  # its share of the limit
    assert sample_seconds(60) == sample_seconds(30) == SAMPLE_MIN_S == 5.0
    assert sample_seconds(10) == 2.0  # at most a fifth of the limit


def test_a_part_whose_lp_is_out_of_reach_steps_its_capacity_prices_from_the_samples(
        monkeypatch):
    # 300 workloads in parts of at most 150, no LP in reach: each part prices capacity
    # (its warm start's guide) from the sample's prices, 30 steps, not 300 from zero
    engine = sys.modules["placer.solve"]
    problem = _fleet(300)
    monkeypatch.setattr(engine, "PART_WORKLOADS", 150)
    monkeypatch.setattr(engine, "in_parts", lambda candidates, time_limit: True)
    monkeypatch.setattr(engine, "lp_within_reach", lambda *args, **kwargs: False)
    monkeypatch.setattr(sys.modules["placer.sample"], "SAMPLE_WORKLOADS", 100)
    sampled = []
    sample_prices = engine.sample_prices
    monkeypatch.setattr(engine, "sample_prices",
                        lambda *args: sampled.append(sample_prices(*args)) or sampled[-1])
    steps_from = []  # per pricing of a part: its rows and its start
    price_capacity = engine._price_capacity

    def spy(candidates, policy, scale, upper=None, start=None, *args):
        if candidates.workloads.height < 300:
            steps_from.append((candidates.rows, start))
        return price_capacity(candidates, policy, scale, upper, start, *args)

    monkeypatch.setattr(engine, "_price_capacity", spy)
    plan = solve(problem, time_limit=6, workers=1)
    assert plan.solver["parts"] == 2 and sampled[0] is not None
    assert len(steps_from) == 2  # one pricing per part, each from the sample's prices
    for rows, start in steps_from:
        on_part = sampled[0].on_fleet(rows)
        assert start is not None
        assert (start.capacity == on_part.capacity).all()
        assert all((a == b).all() for a, b in zip(start.caps, on_part.caps, strict=True))
    assert check_plan(PlanDocument.model_validate(plan.to_dict()), problem) == []
    # a fleet solved whole, its LP out of reach, has no sample: its steps start from zero
    steps_from.clear()
    monkeypatch.setattr(engine, "in_parts", lambda candidates, time_limit: False)
    small = _fleet(100)
    solve(small, time_limit=3, workers=1)
    assert [start for _, start in steps_from] == [None]
