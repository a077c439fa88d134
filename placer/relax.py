"""The LP relaxation of the CP-SAT model: a lower bound, and the values and reduced costs
that guide the warm start. Built from the arrays ProtoBuilder mirrors, solved by HiGHS
(scipy's build).

At fleet scale most candidate rows never matter (a workload has 30-50 candidates and
the LP uses one or two), so the LP is solved by column generation: start from each
workload's cheapest rows, price the others with the duals, add those with a negative
reduced cost, repeat until none is left. Elastic slacks (at a prohibitive price) keep
each restricted LP feasible; if they stay in use at the end, the LP itself is infeasible.

When even that does not finish in time (100,000 workloads), price_capacity stands in:
a Lagrangian relaxation over capacity and the caps (ports bought exactly), solved in
seconds, weaker than the LP but a valid bound and a guide of the same shape.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy import sparse

from placer.model import ProtoBuilder

# Column generation pays off only when the candidate table is huge: below this many
# candidate columns the whole LP is solved at once (measured: 1.5 s against 13 s by
# column generation on a 60,000-row tight instance; 24 s against 119 s at 10k workloads).
FULL_LP_COLUMNS = 1_500_000
START_ROWS_PER_WORKLOAD = 4
ADD_ROWS_PER_WORKLOAD = 3
SLACK_PRICE = 1e5  # per scaled unit; real costs are scaled to at most 1,000 per unit
# Cuts (rows implied for integers) make the LP solve 2x slower at 10k workloads for a
# 1-2 % higher bound; the LP keeps them up to this many candidate columns only.
CUT_ROWS_UP_TO_COLUMNS = 100_000
# Rules a restricted LP may be unable to keep: their rows get elastic slacks. (The
# rounding cuts too: without them a restricted LP of a workload's few cheapest rows was
# infeasible whenever those rows could not meet a cut.)
ELASTIC = frozenset({"demand", "cut", "spread", "cap", "min_providers", "budget"})


def lowest_per_group(key: np.ndarray, group: np.ndarray, k: int) -> np.ndarray:
    """Per element, whether it is among the k with the lowest key in its group (ties: the
    earlier first)."""
    order = np.lexsort((key, group))
    first = np.searchsorted(group[order], group[order], side="left")
    keep = np.zeros(len(key), dtype=bool)
    keep[order[np.arange(len(order)) - first < k]] = True
    return keep


@dataclass(frozen=True)
class Relaxation:
    optimal: bool
    objective: float        # in solver units
    values: np.ndarray      # per variable
    reduced_costs: np.ndarray  # per variable, in solver units
    time_s: float
    duals: np.ndarray | None = None  # per builder row, such that reduced = c - A^T duals
    rounds: int = 1
    columns: int = 0        # unit columns the last restricted LP held
    cut_by_time: bool = False  # stopped by the wall clock (a run may not reproduce)


@dataclass(frozen=True)
class Infeasible:
    """HiGHS proved the LP relaxation has no solution; then the model has none either
    (its rows, and the rounding cuts, hold for every plan)."""

    time_s: float


class _NoSolution(Exception):
    """HiGHS proved an LP without elastic slacks infeasible."""


@dataclass(frozen=True)
class _ScaledLP:
    """The LP in scaled variables y = x / col_scale and rows multiplied by row_scale."""

    matrix: sparse.csc_matrix
    lower: np.ndarray
    upper: np.ndarray
    row_lo: np.ndarray
    row_hi: np.ndarray
    objective: np.ndarray      # scaled so the largest |coefficient| is 1,000
    obj_scale: float
    col_scale: np.ndarray
    row_scale: np.ndarray
    elastic: np.ndarray        # bool per row
    kept: np.ndarray           # per row: its index among the builder's rows


def _scaled(builder: ProtoBuilder, fixed: dict[int, int] | None, with_cuts: bool,
            rows: np.ndarray | None = None) -> _ScaledLP:
    """The LP of the builder's rows (those indexed by `rows`, else all; the rounding
    cuts only `with_cuts`), equilibrated."""
    lower, upper = builder.bounds()
    lower, upper = lower.astype(np.float64), upper.astype(np.float64)
    if fixed:
        at = np.fromiter(fixed.keys(), dtype=np.int64)
        values = np.fromiter(fixed.values(), dtype=np.float64)
        lower[at] = values
        upper[at] = values
    kept = np.array([i for i, family in enumerate(builder.row_family)
                     if with_cuts or family != "cut"], dtype=np.int64)
    if rows is not None:
        kept = np.intersect1d(kept, rows)
    matrix, lo, hi = builder.matrix(kept)
    # Rows mix chips, milli-H100s and cents (1 to 1e10), and spend variables reach 1e12:
    # equilibrate rows and columns (Ruiz): LP solvers lose accuracy otherwise.
    row_scale, col_scale = _equilibrate(matrix)
    scaled = sparse.diags(row_scale) @ matrix @ sparse.diags(col_scale)
    objective = builder.objective() * col_scale
    obj_scale = 1000.0 / max(float(np.abs(objective).max()), 1e-12)
    elastic = np.array([builder.row_family[i] in ELASTIC for i in kept.tolist()], dtype=bool)
    return _ScaledLP(scaled.tocsc(), lower / col_scale, upper / col_scale, lo * row_scale,
                     hi * row_scale, objective * obj_scale, obj_scale, col_scale, row_scale,
                     elastic, kept)


def _equilibrate(matrix: sparse.csr_matrix, rounds: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Row and column factors that bring every row's and column's largest |coefficient|
    close to 1 (Ruiz's iterative square-root scaling)."""
    m, n = matrix.shape
    rows, cols = np.ones(m), np.ones(n)
    current = abs(matrix).tocsr()
    for _ in range(rounds):
        r = np.sqrt(np.asarray(current.max(axis=1).todense()).ravel())
        r[r == 0] = 1.0
        current = sparse.diags(1.0 / r) @ current
        rows /= r
        c = np.sqrt(np.asarray(current.max(axis=0).todense()).ravel())
        c[c == 0] = 1.0
        current = current @ sparse.diags(1.0 / c)
        cols /= c
    return rows, cols


@dataclass(frozen=True)
class _Solved:
    values: np.ndarray   # active columns, then slacks
    duals: np.ndarray    # per row, such that reduced costs are c - A^T duals
    slacks: int
    optimal: bool


def _solve_restricted(lp: _ScaledLP, active: np.ndarray, time_limit: float,
                      elastic: bool = True) -> _Solved | None:
    """Solve the LP over the active columns plus (if `elastic`) slacks on the rules that
    may not hold over them: +slack where a row has a lower bound, -slack where it has an
    upper. Over all columns no slack is needed: the LP is feasible or the model is not
    (then, where HiGHS proves it has no solution, _NoSolution is raised).

    HiGHS's dual simplex (scipy's build, in this process): measured 4x faster than GLOP on
    generated 1k fleets and under 15 s where GLOP did not finish in 120 s at 10k.
    """
    from scipy.optimize import linprog

    soft = lp.elastic if elastic else np.zeros_like(lp.elastic)
    up = np.flatnonzero(soft & (lp.row_lo > -np.inf))
    down = np.flatnonzero(soft & (lp.row_hi < np.inf))
    needs_slack = np.concatenate((up, down))
    signs = np.concatenate((np.ones(len(up)), -np.ones(len(down))))
    slack = sparse.csc_matrix((signs, (needs_slack, np.arange(len(needs_slack)))),
                              shape=(lp.matrix.shape[0], len(needs_slack)))
    matrix = sparse.hstack([lp.matrix[:, active], slack], format="csr")
    lower = np.concatenate((lp.lower[active], np.zeros(len(needs_slack))))
    upper = np.concatenate((lp.upper[active], np.full(len(needs_slack), np.inf)))
    cost = np.concatenate((lp.objective[active], np.full(len(needs_slack), SLACK_PRICE)))
    lo, hi = lp.row_lo, lp.row_hi
    eq = np.isfinite(lo) & np.isfinite(hi) & (hi - lo <= 1e-12 * np.maximum(1, np.abs(hi)))
    le = np.flatnonzero(np.isfinite(hi) & ~eq)
    ge = np.flatnonzero(np.isfinite(lo) & ~eq)
    eq = np.flatnonzero(eq)
    if time_limit <= 0.05:
        return None
    started = time.perf_counter()

    def solve(presolve: bool, seconds: float) -> Any:
        return linprog(
            cost,
            A_ub=sparse.vstack([matrix[le], -matrix[ge]], format="csr") if len(le) + len(ge)
            else None,
            b_ub=np.concatenate((hi[le], -lo[ge])) if len(le) + len(ge) else None,
            A_eq=matrix[eq] if len(eq) else None, b_eq=lo[eq] if len(eq) else None,
            bounds=np.column_stack((lower, np.where(np.isinf(upper), None, upper))),
            method="highs-ds", options={"time_limit": float(seconds), "presolve": presolve})

    result = solve(True, time_limit)
    if result.x is None and result.status == 2 and not elastic:
        # over every column "infeasible" is a proof, once HiGHS agrees without its
        # presolve: with it, scipy's HiGHS called a feasible LP infeasible (two workloads,
        # min_providers 2 and a chip-vendor cap; tests/test_engine.py), and the solve
        # said "infeasible" of a fleet with a plan
        left = time_limit - (time.perf_counter() - started)
        if left <= 0.05:
            return None
        result = solve(False, left)
        if result.x is None and result.status == 2:
            raise _NoSolution
    if result.x is None:
        return None
    duals = np.zeros(lp.matrix.shape[0])
    if len(le) + len(ge):
        marginals = result.ineqlin.marginals
        duals[le] += marginals[:len(le)]
        duals[ge] -= marginals[len(le):]
    if len(eq):
        duals[eq] += result.eqlin.marginals
    return _Solved(np.asarray(result.x), duals, len(needs_slack), result.status == 0)


def solve_relaxation(builder: ProtoBuilder, time_limit: float = 30.0,
                     fixed: dict[int, int] | None = None,
                     unit_vars: np.ndarray | None = None,
                     unit_owner: np.ndarray | None = None,
                     start_units: np.ndarray | None = None,
                     should_stop: Callable[[], bool] | None = None,
                     max_rounds: int = 60, cuts: bool = True
                     ) -> Relaxation | Infeasible | None:
    """Solve the LP relaxation (some variables fixed, if given).

    unit_vars / unit_owner: the candidate-row variables and the workload each belongs to;
    with them the LP is solved by column generation over those variables, starting from
    each workload's cheapest rows and the rows `start_units` (a plan) uses. `cuts`: keep
    the rounding cuts (rows implied for integers). Returns Infeasible when HiGHS proves
    the LP (solved whole, nothing fixed) has no solution, None when it finds none in
    time, or when column generation's restricted LPs end on their elastic slacks (no
    proof: the slacks have a price).
    """
    started = time.perf_counter()
    if not builder.rows:
        return None
    n = builder.num_vars
    lp = _scaled(builder, fixed, with_cuts=cuts and (unit_vars is None
                                                     or len(unit_vars) <= CUT_ROWS_UP_TO_COLUMNS))
    is_unit = np.zeros(n, dtype=bool)
    if unit_vars is not None and len(unit_vars) <= FULL_LP_COLUMNS:
        unit_vars = None  # small enough to solve whole
    if unit_vars is not None and len(unit_vars):
        is_unit[unit_vars] = True
        owner = np.asarray(unit_owner)
        # start: each workload's cheapest rows by objective per unit
        start = lowest_per_group(lp.objective[unit_vars], owner, START_ROWS_PER_WORKLOAD)
        if start_units is not None:
            start |= start_units > 0
        active_units = unit_vars[start]
    else:
        active_units = np.zeros(0, dtype=np.int64)
        owner = np.zeros(0, dtype=np.int64)
    in_active = ~is_unit
    in_active[active_units] = True
    rounds = 0
    converged = False
    while True:
        rounds += 1
        active = np.flatnonzero(in_active)
        left = time_limit - (time.perf_counter() - started)
        if left <= 0 or (should_stop is not None and should_stop()):
            return None
        try:
            solved = _solve_restricted(lp, active, left, elastic=unit_vars is not None)
        except _NoSolution:
            # with variables fixed, the model may still have a solution elsewhere
            return None if fixed else Infeasible(time.perf_counter() - started)
        if solved is None:
            return None
        reduced = lp.objective - lp.matrix.T @ solved.duals
        candidates = np.flatnonzero(~in_active & (reduced < -1e-7))
        if len(candidates) == 0 or unit_vars is None:
            converged = True
            break
        if rounds >= max_rounds:
            break
        # add the most negative few per workload
        row_of = np.searchsorted(unit_vars, candidates)
        in_active[candidates[lowest_per_group(reduced[candidates], owner[row_of],
                                              ADD_ROWS_PER_WORKLOAD)]] = True
    values_active = solved.values
    slack_used = float(np.abs(values_active[len(active):]).sum()) if solved.slacks else 0.0
    if slack_used > 1e-6:
        return None  # the LP needs rows it cannot have: infeasible
    scaled_values = np.zeros(n)
    scaled_values[active] = values_active[:len(active)]
    objective = float(lp.objective[active] @ scaled_values[active]) / lp.obj_scale
    duals = np.zeros(len(builder.rows))
    duals[lp.kept] = solved.duals * lp.row_scale / lp.obj_scale
    return Relaxation(
        optimal=converged and solved.optimal,
        objective=objective,
        values=scaled_values * lp.col_scale,
        reduced_costs=reduced / lp.col_scale / lp.obj_scale,
        time_s=time.perf_counter() - started,
        rounds=rounds,
        columns=int(in_active[is_unit].sum()) if unit_vars is not None else n,
        duals=duals,
    )


def _feasibility_lp(builder: ProtoBuilder, rows: np.ndarray | None,
                    soft: np.ndarray | None = None) -> _ScaledLP:
    """The LP of the builder's rows `rows` (indices; all when None) with no objective,
    the rows `soft` (if any) allowed to be violated."""
    lp = _scaled(builder, None, with_cuts=True, rows=rows)
    elastic = np.zeros_like(lp.elastic) if soft is None else np.isin(lp.kept, soft)
    return replace(lp, objective=np.zeros_like(lp.objective), elastic=elastic)


def lp_has_solution(builder: ProtoBuilder, rows: np.ndarray | None, time_limit: float
                    ) -> bool | None:
    """Whether the LP of the builder's rows `rows` (indices; all when None) has a
    solution: None when HiGHS decides neither way in time."""
    lp = _feasibility_lp(builder, rows)
    try:
        solved = _solve_restricted(lp, np.arange(lp.matrix.shape[1]), time_limit,
                                   elastic=False)
    except _NoSolution:
        return False
    return None if solved is None else True


def _least_violation(builder: ProtoBuilder, rows: np.ndarray | None, soft: np.ndarray,
                     time_limit: float) -> tuple[_ScaledLP, _Solved] | None:
    """The LP of the builder's rows `rows` (all when None) where the rows `soft` may be
    violated, their total violation (each row equilibrated) least; None when not solved
    in time, or when the other rows alone have no solution."""
    lp = _feasibility_lp(builder, rows, soft)
    solved = _solve_restricted(lp, np.arange(lp.matrix.shape[1]), time_limit)
    return None if solved is None else (lp, solved)


def rows_in_conflict(builder: ProtoBuilder, rows: np.ndarray, soft: np.ndarray,
                     time_limit: float) -> np.ndarray | None:
    """Of the rows `soft` (a subset of `rows`, indices), those an infeasible LP of `rows`
    needs: the rows the least total violation of the soft ones prices (its duals, a
    Farkas certificate's support, with the violated ones). None when not solved in
    time."""
    least = _least_violation(builder, rows, soft, time_limit)
    if least is None:
        return None
    lp, solved = least
    priced = np.abs(solved.duals) > 1e-9 * SLACK_PRICE
    return lp.kept[priced & lp.elastic]


def violation_needed(builder: ProtoBuilder, row: int, time_limit: float) -> float | None:
    """How far (in its own units) the LP of all the builder's rows must violate row
    `row` at the least, the others held: 0 where it has a solution; None when not solved
    in time or the others alone have none."""
    least = _least_violation(builder, None, np.array([row]), time_limit)
    if least is None:
        return None
    lp, solved = least
    values = solved.values[:lp.matrix.shape[1]] * lp.col_scale
    matrix, lo, hi = builder.matrix(np.array([row]))
    activity = float((matrix @ values)[0])
    return max(0.0, float(lo[0]) - activity, activity - float(hi[0]))


@dataclass(frozen=True)
class PricedCapacity:
    """The Lagrangian relaxation over capacity at the best prices found."""

    bound: float              # a valid lower bound, in the units of row_cost
    units: np.ndarray         # per row: what each workload takes of its cheapest priced row
    reduced_costs: np.ndarray  # per row: priced cost above the workload's cheapest


@dataclass(frozen=True)
class Prices:
    """Prices to start price_capacity's steps from (placer.sample finds some)."""

    capacity: np.ndarray                 # per offering, per chip (the units of row_cost)
    caps: list[np.ndarray] | None = None  # per capped dimension, per group (as Caps prices)

    def scaled(self, scale: float) -> Prices:
        """Capacity's prices times `scale` (USD -> solver units); the caps' are shares."""
        return Prices(self.capacity * scale, self.caps)


@dataclass(frozen=True)
class Ports:
    """The ports price_capacity buys (rows as there, sorted by workload)."""

    ecosystem: np.ndarray  # per row: the ecosystem (0..k-1) it must be ported to, -1 native
    group: np.ndarray      # per workload: its port group (candidates.port_groups)
    cost: np.ndarray       # per port group and ecosystem: what the port costs


@dataclass(frozen=True)
class Caps:
    """The lock-in caps price_capacity prices (rows as there): per capped dimension, each
    group's compute spend at most its share of the total."""

    compute: np.ndarray  # per row: compute spend per unit (what the caps count)
    groups: tuple[tuple[np.ndarray, float], ...]  # per dimension: each row's group, share

    def charge(self, prices: list[np.ndarray]) -> np.ndarray:
        """Per unit of each row: what the caps' prices (one per group) add to its cost."""
        charge = np.zeros(len(self.compute))
        for (group, share), price in zip(self.groups, prices, strict=True):
            charge += price[group] - share * price.sum()
        return self.compute * charge

    def ascend(self, bound_at: Callable[[np.ndarray], tuple[float, np.ndarray, np.ndarray]],
               row_cost: np.ndarray, start: list[np.ndarray] | None = None
               ) -> list[np.ndarray]:
        """Prices for the caps, one at a time up or down while the bound rises (the bound
        is concave in them), capacity's held; a group the choice keeps within its cap
        and that has no price is left alone. `bound_at(charge)`: the bound, the rows
        taken and how many units of each. Only prices under which no unit costs less
        than nothing count (else a workload would not stop at its demand)."""
        prices = start or [np.zeros(int(group.max(initial=-1)) + 1) for group, _ in self.groups]
        best, rows, amounts = bound_at(self.charge(prices))

        def moved(d: int, i: int, by: float) -> bool:
            """Move price i of dimension d by `by` if the bound rises (and keep it)."""
            nonlocal prices, best, rows, amounts
            trial = [p.copy() for p in prices]
            trial[d][i] = max(0.0, trial[d][i] + by)
            charge = self.charge(trial)
            if trial[d][i] == prices[d][i] or (row_cost + charge).min() < 0:
                return False
            bound, taken, taken_amounts = bound_at(charge)
            if bound <= best + 1e-9 * abs(best):
                return False
            prices, best, rows, amounts = trial, bound, taken, taken_amounts
            return True

        for _ in range(CAP_SWEEPS):
            for d, i in [(d, i) for d, p in enumerate(prices) for i in range(len(p))]:
                group, share = self.groups[d]
                spend = self.compute[rows] * amounts
                if prices[d][i] == 0 and spend[group[rows] == i].sum() <= share * spend.sum():
                    continue
                for by in [sign * step for step in CAP_STEPS for sign in (1.0, -1.0)]:
                    # at most CAP_MOVES: where the caps cannot hold, the bound rises forever
                    for _ in range(CAP_MOVES):
                        if not moved(d, i, by):
                            break
        return prices


# The caps' prices: steps of these sizes tried on each in turn, CAP_SWEEPS sweeps over
# them all; then capacity's prices are stepped again from where they were, for
# 1 / CAP_REPRICE_SHARE of the steps; CAP_ROUNDS times. Measured, bound without -> with
# the caps: 1,000 workloads $18.17M -> $18.48M, 10,000 $181.0M -> $183.0M (the LP's:
# $183.6M), 100,000 $1,792.0M -> $1,812.4M in 17.0 s against 9.8 s. (Subgradient steps
# on the caps' prices beside capacity's lowered the bound instead: $17.92M -> $17.82M
# at 1,000 workloads, $15.86M in one step with capacity's.)
CAP_STEPS = (0.2, 0.05, 0.01)
CAP_SWEEPS = 2
CAP_ROUNDS = 2
CAP_MOVES = 50  # steps one way, at most, per price and step size
CAP_REPRICE_SHARE = 6


# Serving workloads' demand is cut into this many cells to price whole instances (a
# unit's supply rounds up to whole cells). Measured, the bound of the 1,000 fleet with
# 16 / 64 / 256 cells: $18.64M / $18.87M / $18.92M (fraction only: $18.48M); 10,000
# with 64 / 256: $186.3M / $186.7M in 1.1 / 1.3 s. Then whole instances for workloads
# that may buy a port too, over all their rows: 1,000 $19.01M, 10,000 $187.6M; over the
# rows each set of ports allows (_PortSets.whole_floors): $19.13M, $188.8M. Once spread
# rules, ports and egress were in, the cells mattered more: at a sample's prices,
# 10,000 workloads with 64 / 128 / 256 / 512 / 1,024 cells $196.3M / $196.9M / $197.3M
# / $197.5M / $197.6M in 0.8 / 0.9 / 1.6 / 3.7 / 10.0 s (the Lagrangian at the LP's
# duals, its pieces searched: $197.4M); 100,000 with 64 / 128 / 256 $1,954.3M /
# $1,959.9M / $1,963.3M in 8.9 / 11.6 / 18.1 s, beside the parts' 300 s.
INSTANCE_CELLS = 256


# Ports are bought exactly, trying every set of ecosystems per port group: 2**k sets.
# Beyond this many ecosystems they are left out of the bound instead (still a bound).
MAX_PORT_ECOSYSTEMS = 5
# Without a known plan, each step aims this far above the best bound so far. Measured,
# bound at 10 % -> 30 %: 1,000 workloads $17.92M -> $18.17M, 10,000 $179.7M -> $181.0M,
# 100,000 $1,771.6M -> $1,792.0M (as good as aiming at the plans placer finds; 5 %, 20 %,
# 50 % and 100 % did no better).
TARGET_ABOVE_BEST = 0.3


def price_capacity(row_cost: np.ndarray, w_of_row: np.ndarray, supply: np.ndarray,
                   demand: np.ndarray, value: np.ndarray, chips: np.ndarray,
                   offering_of_row: np.ndarray, capacity: np.ndarray,
                   upper: float | None = None, iterations: int = 300,
                   ports: Ports | None = None, caps: Caps | None = None,
                   start: Prices | None = None, spread: Spread | None = None,
                   once: Once | None = None, cells: int = INSTANCE_CELLS) -> PricedCapacity:
    """A bound that needs no LP, for when the LP does not finish: capacity and the caps
    priced in (Lagrangian relaxation), budget and min_providers dropped, and of the
    spread rules only each provider's share kept (spread_covers); dropping rules only
    lowers the bound, and a row at an infinite cost, such as an instance a spread rule
    forbids, is never taken. The cheapest set of ports is bought per port group, every
    workload then on its cheapest rows: a gang pays its cheapest row, a serving workload
    its demand at the cheapest price per unit of supply, an optional workload at most its
    value. Any prices give a valid bound; the best one seen is returned, with each
    workload's choice at those prices (a guide for the warm start, as the LP's values
    are).

    Rows sorted by workload. row_cost: objective per unit; supply: what one unit covers
    (1 for a gang); demand, value: per workload (value NaN if required); chips: per unit;
    capacity: per offering; upper: the cost of a known plan (sets the step size; without
    one, TARGET_ABOVE_BEST sets it); ports, caps, spread, once: without them, left out
    (once: a cost per row paid once, such as egress, is spread over the row's units
    for the steps, and paid once a row in the whole-instance covers). Capacity's
    prices by subgradient steps from zero or from `start`, then the caps' (Caps.ascend)
    and capacity's again. A fixed number of steps, not a time limit, so that the result
    reproduces (measured at 10,000 workloads, before ports, caps and the terms
    solve._price_capacity adds: 300 steps in 0.4 s, bound $133M against the LP's $184M;
    no prices: $68M). The steps price instances by the fraction; at the end serving
    workloads buy whole ones (whole_instances), at the prices the steps found and, when
    given, at `start`: the better bound is returned, their demand cut into `cells`
    cells (whole_instances)."""
    n = len(w_of_row)
    if n == 0:  # workloads without rows are left out in every plan: 0 is a bound
        return PricedCapacity(0.0, np.zeros(0), np.zeros(0))
    once_per_unit = 0.0 if once is None else once.per_unit()
    row_cost = row_cost + once_per_unit
    starts = np.flatnonzero(np.r_[True, w_of_row[1:] != w_of_row[:-1]])
    owners = w_of_row[starts]
    counts = np.diff(np.r_[starts, n])
    need = demand[owners]
    worth = np.where(np.isnan(value[owners]), np.inf, value[owners])
    safe_supply = np.maximum(supply, 1e-12)
    row_need = np.repeat(need, counts)
    units_per_need = row_need / safe_supply
    port_sets = _PortSets.of(ports, starts, counts, owners) if ports is not None else None

    def unit_cost(prices: np.ndarray, charge: np.ndarray | float) -> np.ndarray:
        """Per row, one unit's cost with capacity and the caps priced in."""
        return row_cost + charge + prices[offering_of_row] * chips

    def choose(prices: np.ndarray, charge: np.ndarray | float = 0.0,
               floor: np.ndarray | float = 0.0, set_floors: np.ndarray | None = None
               ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        """Bound, per-supply price per row, cheapest per workload, the row each takes
        (-1: left out); `charge`: the caps' prices, per unit of each row; `floor`: per
        workload, what it costs at least at these prices; `set_floors`: for those that
        may buy a port, the same per set of ports bought (_PortSets.whole_floors)."""
        per_supply = unit_cost(prices, charge) / safe_supply
        ports_usd, allowed = 0.0, None
        if port_sets is not None:
            ports_usd, allowed, at_least = port_sets.cheapest(per_supply, need, worth,
                                                              set_floors)
            floor = np.zeros(len(starts)) + floor
            floor[port_sets.workloads] = np.maximum(floor[port_sets.workloads], at_least)
        cheapest = np.minimum.reduceat(
            per_supply if allowed is None else np.where(allowed, per_supply, np.inf), starts)
        alone = np.minimum(np.maximum(_times(cheapest, need), floor), worth)
        rows = np.flatnonzero((per_supply == np.repeat(cheapest, counts))
                              & (True if allowed is None else allowed))
        first = rows[np.diff(w_of_row[rows].astype(np.int64), prepend=-1) != 0]
        taken = np.full(len(starts), -1)
        taken[np.searchsorted(owners, w_of_row[first])] = first
        taken = np.where(_times(cheapest, need) < worth, taken, -1)
        return (float(alone.sum() + ports_usd - prices @ capacity), per_supply, cheapest,
                taken)

    def price(prices: np.ndarray, charge: np.ndarray | float, steps: int
              ) -> tuple[float, np.ndarray]:
        """Subgradient steps on capacity's prices from `prices`: the best bound, its
        prices."""
        best, best_prices, step_scale, since_best = -np.inf, prices, 2.0, 0
        for _ in range(max(steps, 1)):  # the first bound is the one at `prices`
            bound, _, _, taken = choose(prices, charge)
            if bound == np.inf:  # a required workload has no row it may take: no plan
                return bound, prices
            if bound > best + 1e-9 * abs(bound):
                best, best_prices, since_best = bound, prices, 0
            else:
                since_best += 1
                if since_best >= 20:
                    step_scale, since_best = step_scale / 2, 0
            if step_scale < 1e-4:
                break
            rows = taken[taken >= 0]
            usage = np.bincount(offering_of_row[rows],
                                weights=chips[rows] * units_per_need[rows],
                                minlength=len(capacity))
            slope = usage - capacity
            slope[(prices <= 0) & (slope < 0)] = 0.0
            norm = float(slope @ slope)
            if norm == 0:
                break
            target = upper if upper is not None else best + TARGET_ABOVE_BEST * abs(best)
            prices = np.maximum(0.0, prices + step_scale * max(target - bound, 0.0) / norm
                                * slope)
        return best, best_prices

    shares = start.caps if start is not None and caps is not None else None
    charge: np.ndarray | float = caps.charge(shares) if caps is not None and shares else 0.0
    if np.min(row_cost + charge) < 0:  # as in Caps.ascend: such prices give no bound
        shares, charge = None, 0.0
    starts_at = (start.capacity, charge) if start is not None else None
    best, best_prices = price(np.zeros(len(capacity)) if start is None else start.capacity,
                              charge, iterations)
    if caps is not None and caps.groups:

        def taken_at(charge: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
            bound, _, _, taken = choose(best_prices, charge)
            rows = taken[taken >= 0]
            return bound, rows, units_per_need[rows]

        for _ in range(CAP_ROUNDS):
            shares = caps.ascend(taken_at, row_cost, shares)
            charge = caps.charge(shares)
            best, best_prices = price(best_prices, charge, iterations // CAP_REPRICE_SHARE)
    lumpy = np.logical_or.reduceat(supply < row_need - 1e-9, starts)  # may need 2 units
    lumpy_native = lumpy.copy()  # and buy no port
    if port_sets is not None:
        lumpy_native[port_sets.workloads] = False

    def whole(prices: np.ndarray, charge: np.ndarray | float
              ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        """choose's, with serving workloads on whole instances (those that may buy a
        port: on the rows each set of ports allows)."""
        cost = unit_cost(prices, charge)
        units_cost = cost - once_per_unit  # with each row's `once` paid once instead
        paid_once = None if once is None else once.cost
        floor = np.zeros(len(starts))
        floor[lumpy_native] = whole_instances(units_cost, supply, need, starts, counts,
                                              lumpy_native, paid_once, cells)
        set_floors = None if port_sets is None else port_sets.whole_floors(
            units_cost, supply, need, starts, counts, lumpy, paid_once, cells)
        if spread is not None:
            # over all its rows; a workload that may buy a port, over each set's
            fraction = spread.fraction[owners]
            alone = fraction.copy()
            if port_sets is not None:
                alone[port_sets.workloads] = 1.0
            floor = np.maximum(floor, spread_covers(units_cost, supply, need, counts,
                                                    alone, spread.provider, paid_once, cells))
            if set_floors is not None:
                set_floors = np.maximum(set_floors, port_sets.spread_floors(
                    units_cost, supply, need, counts, fraction, spread.provider, paid_once,
                    cells))
        return choose(prices, charge, floor, set_floors)

    best, per_supply, cheapest, taken = whole(best_prices, charge)
    # where no step beat the start, the prices are the start's: not priced twice (the
    # 100,000 fleet from its sample's prices, 11 s a pricing)
    if starts_at is not None and not (np.array_equal(best_prices, starts_at[0])
                                      and np.array_equal(charge, starts_at[1])):
        at_start = whole(*starts_at)
        if at_start[0] > best:
            best, per_supply, cheapest, taken = at_start
    units = np.zeros(n)
    rows = taken[taken >= 0]
    units[rows] = units_per_need[rows]
    with np.errstate(invalid="ignore"):  # inf - inf: a workload with no row to take
        reduced = (per_supply - np.repeat(cheapest, counts)) * safe_supply
    # 0 for those; a row no plan may take stays inf
    return PricedCapacity(best, units, np.nan_to_num(reduced, nan=0.0, posinf=np.inf))


def whole_instances(cost: np.ndarray, supply: np.ndarray, need: np.ndarray,
                    starts: np.ndarray, counts: np.ndarray, which: np.ndarray,
                    once: np.ndarray | None = None, cells: int = INSTANCE_CELLS) -> np.ndarray:
    """For the workloads `which` (a mask over starts), a lower bound on the cheapest cover
    of `need` by whole units of their rows (`cost` and `supply` per unit, `once` paid
    once for a row used, such as egress; rows sorted by workload, workload i's from
    starts[i], counts[i] of them): a knapsack solved by dynamic programming over the
    need cut into `cells` cells, each unit's supply rounded up to whole cells (so a
    cover stays a cover, and the optimum a bound)."""
    return _cover_costs(cost, supply, need, counts, which, once, cells,
                        whole_only=True)[:, cells]


def _cover_costs(cost: np.ndarray, supply: np.ndarray, need: np.ndarray,
                 counts: np.ndarray, which: np.ndarray, once: np.ndarray | None = None,
                 cells: int = INSTANCE_CELLS, whole_only: bool = False) -> np.ndarray:
    """whole_instances' table: per workload of `which`, the cheapest cover of each number
    of cells, 0..`cells` (inf where its rows cannot cover them). `whole_only`: only the
    last entry, covering all of the need, is wanted (the others may be higher: the rows
    no cover of all of it at its cheapest can take are left out, _useful_rows)."""
    chosen = np.flatnonzero(which)
    if len(chosen) == 0:
        return np.zeros((0, cells + 1))
    rows = np.flatnonzero(np.repeat(which, counts))
    local = np.repeat(np.arange(len(chosen)), counts[chosen])
    if whole_only:
        keep = _useful_rows(cost[rows], supply[rows], need[chosen], local,
                            None if once is None else once[rows])
        rows, local = rows[keep], local[keep]
    cell = need[chosen] / cells
    size = np.clip(np.ceil(supply[rows] / cell[local] - 1e-9), 1, cells)
    size = size.astype(np.int64)
    cost = cost[rows]
    if once is not None and (once[rows] > 0).any():
        # a row paid for once enters as blocks: m of its units for m * cost + once, for
        # every m up to a cover of the whole need. A cover may take two blocks of a row
        # and pay twice; the cheapest never needs to, so the bound is exact on the grid.
        # Measured, against once spread over max_units units: 1,000 workloads $19.37M ->
        # $19.43M, 100,000 $1,943.9M -> $1,947.2M (a row-by-row programme gave the same
        # in 9.6 s; these blocks take 8.8 s, without egress 6.5 s; and 7.2-8.0 s once
        # _PortSets.whole_floors reuses smaller sets' floors); $1,947.5M once
        # spread_covers pays it once too
        fixed = once[rows]
        blocks = np.where(fixed > 0, -(-cells // size), 1)
        item = np.repeat(np.arange(len(rows)), blocks)
        m = np.arange(len(item)) - np.repeat(np.cumsum(blocks) - blocks, blocks) + 1
        local, cost = local[item], m * cost[item] + fixed[item]
        size = np.minimum(m * size[item], cells)
    # of a workload's units that cover as many cells, only the cheapest counts: the
    # programme runs over those alone (100,000 workloads: 10.9 s -> 3.8 s for its calls,
    # with the flat positions below)
    of_size = np.full((len(chosen), cells + 1), np.inf)
    np.minimum.at(of_size, (local, size), cost)
    present = np.zeros(of_size.shape, dtype=bool)
    present[local, size] = True  # (a unit may cost inf: a row no plan may take)
    # nor a unit that covers fewer cells than another costing no more (a cover with it
    # costs at least as much with the other); with the layout below, the whole-instance
    # floors of the 100,000 fleet's bound took 6.8 s, not 12.3 s
    larger = np.minimum.accumulate(of_size[:, ::-1], axis=1)[:, ::-1]
    next_larger = np.full(of_size.shape, np.inf)
    next_larger[:, :-1] = larger[:, 1:]
    present &= ~(np.isfinite(next_larger) & (next_larger <= of_size))
    local, size = np.nonzero(present)  # by workload, then size
    cost = of_size[local, size]
    segments = np.flatnonzero(np.r_[True, local[1:] != local[:-1]])  # every workload has rows
    # per cells covered and workload: each step writes a row and reads rows near it
    # (laid out the other way, 100,000 workloads took 2.6 s, not 1.8 s)
    cheapest = np.zeros((cells + 1, len(chosen)))
    flat = cheapest.reshape(-1)
    # cheapest[max(0, covered - size), local], as positions in the flat table
    less_size = local - size * len(chosen)
    for covered in range(1, cells + 1):
        before = np.maximum(local, less_size + covered * len(chosen))
        cheapest[covered] = np.minimum.reduceat(cost + flat[before], segments)
    return cheapest.T


def _useful_rows(cost: np.ndarray, supply: np.ndarray, need: np.ndarray, owner: np.ndarray,
                 once: np.ndarray | None) -> np.ndarray:
    """Per row (of workload `owner`; `need` per workload), whether a cover of
    the whole need at its cheapest may use it: one using it pays its once cost, a unit,
    and the rest of the need at least at the lowest cost per supply of any row, which
    must not pass the cheapest cover by one row alone. A workload with no finite cover
    keeps every row, and so does one with a negative cost (the caps' prices can make
    one: more units may then cost less). The cheapest cover takes only rows kept, so
    the programme over them stays under it (and never falls below the one over every
    row). The 10,000 fleet's bound at 1,024 cells: the same, in 2.8 s, not 3.5 s."""
    paid = np.zeros(len(cost)) if once is None else once
    finite = np.isfinite(cost)
    row_need, supply = need[owner], np.maximum(supply, 1e-12)
    alone = np.where(finite, np.ceil(row_need / supply - 1e-9) * cost + paid, np.inf)
    upper = np.full(len(need), np.inf)
    np.minimum.at(upper, owner, alone)
    ratio = np.full(len(need), np.inf)
    np.minimum.at(ratio, owner, np.where(finite, cost / supply, np.inf))
    short = np.maximum(0.0, row_need - supply)
    # (a workload whose rows all cost inf keeps them: its ratio counts as 0 here)
    least = paid + cost + short * np.where(np.isfinite(ratio), ratio, 0.0)[owner]
    negative = np.zeros(len(need), dtype=bool)
    negative[owner[(cost < 0) | (paid < 0)]] = True
    return (least <= upper[owner] * (1 + 1e-9) + 1e-9) | ~np.isfinite(upper[owner]) \
        | negative[owner]


@dataclass(frozen=True)
class Once:
    """A cost per row paid once if the row is used at all (egress), for price_capacity."""

    cost: np.ndarray   # per row
    units: np.ndarray  # per row: the most units a plan places on it

    def per_unit(self) -> np.ndarray:
        """Its share per unit when a row is used to the full: never more than paid."""
        return self.cost / np.maximum(self.units, 1)


@dataclass(frozen=True)
class Spread:
    """Spread rules, for price_capacity (rows as there): no provider serves more than
    its workload's fraction of the demand."""

    fraction: np.ndarray  # per workload (as `demand`): its max_fraction, 1 when none
    provider: np.ndarray  # per row: its provider, 0..k-1


def spread_covers(cost: np.ndarray, supply: np.ndarray, need: np.ndarray,
                  counts: np.ndarray, fraction: np.ndarray, provider: np.ndarray,
                  once: np.ndarray | None = None, cells: int = INSTANCE_CELLS) -> np.ndarray:
    """Per workload (rows sorted by workload, counts[i] of workload i's; `fraction` per
    workload, `provider` per row, as Spread's; `once` as whole_instances'), a lower bound
    on covering its `need` by whole units when no provider covers more than its fraction
    of it (0 for a workload without such a rule, inf when no such cover exists).

    Per provider, whole_instances' table over its rows alone. In a plan, a provider that
    covers x (at most the fraction of the need) is counted as ceil(x / cell) cells, at
    most ceil(fraction * cells), its units costing at least its table's entry
    there, and the providers' cells add up to the whole need: so the cheapest such split
    of the cells (a min-plus product of the providers' tables) is below every plan. The
    whole-instance bound alone lets one provider cover it all, where a spread rule of
    70 % over 12.5 H100s of 8-GPU nodes needs a node from a second provider. Measured,
    the bound without an LP (from a sample's prices): 1,000 workloads $19.27M ->
    $19.37M, 10,000 $194.8M -> $195.4M, 100,000 $1,937.4M -> $1,943.9M (6.2 s -> 6.5 s).
    """
    w_index = np.repeat(np.arange(len(counts)), counts)
    out = np.zeros(len(counts))
    rows = np.flatnonzero(fraction[w_index] < 1)
    if len(rows) == 0:
        return out
    # each provider's rows of each workload, as a workload of their own
    rows = rows[np.lexsort((provider[rows], w_index[rows]))]
    w, p = w_index[rows], provider[rows]
    first = np.flatnonzero(np.r_[True, (w[1:] != w[:-1]) | (p[1:] != p[:-1])])
    owner = w[first]
    table = _cover_costs(cost[rows], supply[rows], need[owner],
                         np.diff(np.r_[first, len(rows)]), np.ones(len(first), dtype=bool),
                         None if once is None else once[rows], cells)
    ruled, slot = np.unique(owner, return_inverse=True)
    rank = np.arange(len(owner)) - np.searchsorted(owner, owner)
    most = np.ceil(fraction[ruled] * cells - 1e-9).astype(np.int64)
    grid = np.arange(cells + 1)
    # cells covered so far (`cells`: all of them), providers added one at a time:
    # a min-plus product. Both tables are covers of at least so many cells, so they never
    # fall as the cells grow; of a run of cells where the provider's entry stays the
    # same, only its last cell (or the one to cover) can be the cheapest to take, and
    # only those are tried (the 100,000 fleet's bound: 25.3 s -> 4.9 s for these covers)
    best = np.full((len(ruled), cells + 1), np.inf)
    best[:, 0] = 0.0
    for k in range(int(rank.max()) + 1):
        at = np.flatnonzero(rank == k)
        ws = slot[at]  # the workloads with a k-th provider; the others stay as they are
        offer = table[at]
        offer[grid[None, :] > most[ws, None]] = np.inf  # beyond this provider's share
        before = best[ws]
        step = np.minimum(before, offer)  # this provider covers nothing, or all it covers
        last = np.zeros(offer.shape, dtype=bool)  # last cells of its runs, as above
        last[:, 1:-1] = offer[:, 1:-1] < offer[:, 2:]
        last[:, -1] = True
        last &= np.isfinite(offer)
        cell_of, workload_of = np.nonzero(last.T)  # by cells
        bounds = np.r_[np.flatnonzero(np.diff(cell_of, prepend=-1)), len(cell_of)]
        for start, end in itertools.pairwise(bounds.tolist()):
            given, of = int(cell_of[start]), workload_of[start:end]
            step[of, given:] = np.minimum(step[of, given:], before[of, :cells + 1 - given]
                                          + offer[of, given, None])
        best[ws] = step
    out[ruled] = best[:, cells]
    return out


def _times(price: np.ndarray, amount: np.ndarray) -> np.ndarray:
    """price * amount, where no row at all (an infinite price) costs infinity even for
    nothing."""
    return np.where(np.isinf(price), np.inf, price * amount)


@dataclass(frozen=True)
class _PortSets:
    """The workloads that may buy a port, and for each port group every set of its ports:
    for given prices, the cheapest set per group and so the rows allowed. A workload's
    rows are taken by the port they need (none, or one ecosystem's), so that each set is
    tried on a few cheapest prices per workload rather than on every row."""

    rows: np.ndarray          # rows of those workloads, by workload, then port needed
    segments: np.ndarray      # where each (workload, port needed) starts in `rows`
    cells: np.ndarray         # per segment: its cell in a (workload, 1 + ecosystem) table
    ecosystem: np.ndarray     # per row of `rows`: the port it needs, -1 native
    workloads: np.ndarray     # those workloads, as indices into price_capacity's starts
    group: np.ndarray         # per such workload: its group, 0..groups-1
    group_of_row: np.ndarray  # per row of `rows`: its workload's group
    set_cost: np.ndarray      # per set of ecosystems (a bit each) and group: its ports' cost
    n: int                    # rows in all
    needs: np.ndarray         # per such workload: the ecosystems its rows need (a bit each)

    @classmethod
    def of(cls, ports: Ports, starts: np.ndarray, counts: np.ndarray,
           owners: np.ndarray) -> _PortSets | None:
        ecosystems = ports.cost.shape[1]
        ported = ports.ecosystem >= 0
        if not ported.any() or ecosystems > MAX_PORT_ECOSYSTEMS:
            return None
        w_index = np.repeat(np.arange(len(starts)), counts)
        group_of_w = ports.group[owners]
        buying = np.zeros(int(group_of_w.max()) + 1, dtype=bool)
        buying[group_of_w[w_index[ported]]] = True
        workloads = np.flatnonzero(buying[group_of_w])
        rows = np.flatnonzero(buying[group_of_w[w_index]])
        local = np.searchsorted(workloads, w_index[rows])  # 0.. per such workload
        cell = local * (ecosystems + 1) + ports.ecosystem[rows] + 1
        order = np.argsort(cell, kind="stable")
        rows, cell = rows[order], cell[order]
        segments = np.flatnonzero(np.r_[True, cell[1:] != cell[:-1]])
        groups, group = np.unique(group_of_w[workloads], return_inverse=True)
        bits = (np.arange(2**ecosystems)[:, None] >> np.arange(ecosystems)) & 1
        needs = np.zeros(len(workloads), dtype=np.int64)
        needed = ports.ecosystem[rows] >= 0
        np.bitwise_or.at(needs, local[order][needed], 1 << ports.ecosystem[rows][needed])
        return cls(rows, segments, cell[segments], ports.ecosystem[rows], workloads, group,
                   group[local[order]], bits @ ports.cost[groups].T, int(counts.sum()),
                   needs)

    def cheapest(self, per_supply: np.ndarray, need: np.ndarray, worth: np.ndarray,
                 floors: np.ndarray | None = None) -> tuple[float, np.ndarray, np.ndarray]:
        """The ports bought at these prices (their cost), the rows they allow, and what
        each of these workloads costs at least under them: `floors` (per set and
        workload, as whole_floors gives) or nothing."""
        sets, groups = self.set_cost.shape
        ecosystems = sets.bit_length() - 1
        table = np.full((len(self.workloads), ecosystems + 1), np.inf)
        table.flat[self.cells] = np.minimum.reduceat(per_supply[self.rows], self.segments)
        need, worth = need[self.workloads], worth[self.workloads]
        if floors is None:
            floors = np.zeros((sets, len(self.workloads)))
        best = np.full(groups, np.inf)
        best_set = np.zeros(groups, dtype=np.int64)
        for ports in range(sets):
            usable = np.r_[True, ((ports >> np.arange(ecosystems)) & 1).astype(bool)]
            cheapest = table[:, usable].min(axis=1)
            alone = np.minimum(np.maximum(_times(cheapest, need), floors[ports]), worth)
            total = np.bincount(self.group, weights=alone, minlength=groups) \
                + self.set_cost[ports]
            better = total < best
            best[better], best_set[better] = total[better], ports
        allowed = np.ones(self.n, dtype=bool)
        allowed[self.rows] = self._allows(best_set[self.group_of_row])
        return (float(self.set_cost[best_set, np.arange(groups)].sum()), allowed,
                floors[best_set[self.group], np.arange(len(self.workloads))])

    def whole_floors(self, unit_cost: np.ndarray, supply: np.ndarray, need: np.ndarray,
                     starts: np.ndarray, counts: np.ndarray, lumpy: np.ndarray,
                     once: np.ndarray | None = None, cells: int = INSTANCE_CELLS
                     ) -> np.ndarray:
        """Per set of ecosystems and workload (of these): whole_instances over the rows
        the set allows (0 for a workload one unit covers)."""
        def floors(cost: np.ndarray, which: np.ndarray) -> np.ndarray:
            return whole_instances(cost, supply, need, starts, counts, which, once, cells)

        return self._per_set(floors, unit_cost, lumpy)

    def spread_floors(self, unit_cost: np.ndarray, supply: np.ndarray, need: np.ndarray,
                      counts: np.ndarray, fraction: np.ndarray, provider: np.ndarray,
                      once: np.ndarray | None = None, cells: int = INSTANCE_CELLS
                      ) -> np.ndarray:
        """Per set of ecosystems and workload (of these): spread_covers (`fraction` per
        workload, `provider` per row, as there) over the rows the set allows (0 for a
        workload without a spread rule). Over all rows, a spread
        workload that shares a port could count on a provider whose rows need a port the
        set does not buy: at 10,000 workloads, at the LP's duals, such port groups were
        $1.09M below their integer optimum, the other port groups $0.34M."""
        def floors(cost: np.ndarray, which: np.ndarray) -> np.ndarray:
            return spread_covers(cost, supply, need, counts, np.where(which, fraction, 1.0),
                                 provider, once, cells)[which]

        return self._per_set(floors, unit_cost, fraction < 1)

    def _per_set(self, floors_of: Callable[[np.ndarray, np.ndarray], np.ndarray],
                 unit_cost: np.ndarray, wanted: np.ndarray) -> np.ndarray:
        """Per set of ecosystems and workload (of these): `floors_of(cost, which)` for the
        workloads `which` (a mask over all of price_capacity's), with `cost` infinite on
        the rows the set does not allow; 0 where `wanted` (the same mask) is not set."""
        sets = self.set_cost.shape[0]
        floors = np.zeros((sets, len(self.workloads)))
        wanted_here = wanted[self.workloads]
        if not wanted_here.any():
            return floors
        # A set allows a workload what its part among the ecosystems the workload's rows
        # need allows: the floors of that smaller set, known by then (fewer ecosystems
        # first). 100,000 workloads, profiled: 5.5 s -> 3.4 s.
        for ports in sorted(range(sets), key=lambda ports: bin(ports).count("1")):
            smaller = (self.needs & ports) != ports
            floors[ports, smaller] = floors[self.needs[smaller] & ports, smaller]
            mine = wanted_here & ~smaller
            if not mine.any():
                continue
            which = np.zeros(len(wanted), dtype=bool)
            which[self.workloads[mine]] = True
            allowed = np.ones(self.n, dtype=bool)
            allowed[self.rows] = self._allows(ports)
            floors[ports, mine] = floors_of(np.where(allowed, unit_cost, np.inf), which)
        return floors

    def _allows(self, ports: np.ndarray | int) -> np.ndarray:
        """Per row of `rows`: allowed when these sets of ecosystems (one per row, or one
        for all) are bought."""
        return (self.ecosystem < 0) | ((ports >> np.maximum(self.ecosystem, 0)) & 1
                                       ).astype(bool)
