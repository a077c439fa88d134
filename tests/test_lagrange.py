"""The Lagrangian bound: never above the optimum, never below the LP's, and above the LP's
where the LP buys fractions of what must be bought whole."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import event, given, settings

from placer.lagrange import lagrangian_bound, price_pieces, search_pieces
from placer.model import INT64_SAFE, ProtoBuilder, build_model, force_unplaced
from placer.relax import solve_relaxation
from placer.solve import solve
from tests.bruteforce import cent_rounding
from tests.conftest import no_search_after_the_warm_start
from tests.test_engine import EXHAUSTIVE, _fleet, feasible_with_optimum, small_problems


def toy(capacity: int = 10) -> ProtoBuilder:
    """Two serving workloads, costs in dollars.
    A needs 3 H100-equivalents: offering X sells instances of 2 at $100 (at most 2, and
    $50 of egress once any is used), Y instances of 1 at $70. B needs 2: X instances of 1
    at $60, or Z at $90. X has `capacity` chips, 2 per instance of A's, 1 per B's (10:
    never full).
    By hand: A's best is 3 on Y ($210; 1 X + 1 Y is $220, 2 X $250), B's 2 on X ($120):
    $330. The LP takes A's X instance with half its egress and one Y: $195 + $120."""
    b = ProtoBuilder()
    a_x, a_egress, a_y, b_x, b_z = b.new_vars(np.array([0, 0, 0, 0, 0]),
                                              np.array([2, 1, 3, 2, 2])).tolist()
    with b.tagged("demand"):
        b.add_linear([a_x, a_y], [2, 1], 3, INT64_SAFE)
        b.add_linear([b_x, b_z], [1, 1], 2, INT64_SAFE)
    with b.tagged("cut"):  # placer's rounding cut for A's size-2 instances
        b.add_linear([a_x, a_y], [1, 1], 2, INT64_SAFE)
    with b.tagged("egress"):
        b.add_linear([a_x, a_egress], [1, -2], -INT64_SAFE, 0)
    with b.tagged("capacity"):
        b.add_linear([a_x, b_x], [2, 1], 0, capacity)
    b.proto.objective.vars.extend([a_x, a_egress, a_y, b_x, b_z])
    b.proto.objective.coeffs.extend([100, 50, 70, 60, 90])
    return b


def test_pieces_solved_whole_lift_the_bound_to_the_hand_computed_optimum():
    builder = toy()
    relaxation = solve_relaxation(builder)
    assert relaxation.objective == pytest.approx(315)
    lagrangian = lagrangian_bound(builder, relaxation, time_budget=30)
    assert lagrangian.bound == pytest.approx(330)
    assert (lagrangian.pieces, lagrangian.searched, lagrangian.left) == (2, 1, 0)
    assert not lagrangian.cut_by_time


def test_pieces_the_time_budget_does_not_reach_count_at_their_lp_value():
    builder = toy()
    relaxation = solve_relaxation(builder)
    lagrangian = lagrangian_bound(builder, relaxation, time_budget=0)
    assert lagrangian.bound == pytest.approx(315)
    assert (lagrangian.searched, lagrangian.left) == (0, 1)
    assert lagrangian.cut_by_time


def test_the_pieces_plan_is_each_piece_at_its_integer_optimum():
    # (variables: A on X, A's egress, A on Y, B on X, B on Z) before any search, the LP's
    # values; once searched, A's piece at its hand optimum (3 on Y) and B's at 2 on X.
    builder = toy()
    relaxation = solve_relaxation(builder)
    pieces = price_pieces(builder, relaxation)
    assert pieces.values == pytest.approx([1, 0.5, 1, 2, 0])
    assert pieces.pending == [0]
    search_pieces(pieces, time_budget=30)
    assert pieces.values.tolist() == [0, 0, 3, 2, 0]
    assert pieces.pending == []


def test_pieces_searched_in_two_rounds_give_the_bound_of_one():
    builder = toy()
    pieces = price_pieces(builder, solve_relaxation(builder))
    search_pieces(pieces, time_budget=0)
    assert pieces.result().bound == pytest.approx(315)
    search_pieces(pieces, time_budget=30)
    lagrangian = pieces.result()
    assert lagrangian.bound == pytest.approx(330)
    assert (lagrangian.searched, lagrangian.left, lagrangian.cut_by_time) == (1, 0, True)


def relaxed(problem) -> tuple:
    """A small feasible problem's candidates, exhaustive optimum, model and LP relaxation
    (solved to the end: hypothesis skips the problems feasible_with_optimum does)."""
    candidates, expected = feasible_with_optimum(problem)
    built = build_model(candidates, problem.policy)
    force_unplaced(built, set(candidates.rows["w"].unique().to_list()))
    relaxation = solve_relaxation(built.builder)
    assert relaxation is not None and relaxation.optimal
    return candidates, expected, built, relaxation


@settings(EXHAUSTIVE, max_examples=60)
@given(problem=small_problems())
def test_bound_lies_between_the_lp_and_the_exhaustive_optimum(problem):
    candidates, expected, built, relaxation = relaxed(problem)
    lagrangian = lagrangian_bound(built.builder, relaxation, time_budget=30)
    assert not lagrangian.cut_by_time
    assert lagrangian.bound >= relaxation.objective - 1e-6 * abs(relaxation.objective) - 1
    assert lagrangian.bound <= (expected + cent_rounding(candidates)) * built.scale
    event("above the LP" if lagrangian.bound > relaxation.objective + 1 else "the LP's")


def test_a_fleet_plan_reports_the_lagrangian_bound_above_the_lp(monkeypatch):
    no_search_after_the_warm_start(monkeypatch)  # the bound is known by then
    plan = solve(_fleet(300), time_limit=8, workers=2)
    info = plan.solver
    assert info["lagrangian_bound_usd"] > info["lp_bound_usd"] * 1.01
    assert plan.bound_usd >= info["lagrangian_bound_usd"] - 0.01  # (rounded to cents)
    assert plan.bound_usd <= plan.total_usd
