"""A lower bound stronger than the LP's: Lagrangian decomposition at the LP's duals.

Price the rules that tie workloads together (capacity, spend and the caps on it,
min_providers, budget) at the LP's duals, and what is left falls apart into small
independent pieces: a workload alone, or the workloads that share a port. Each piece
is then solved in integers by CP-SAT: whole instances, a port bought or not, a gang on
one offering. For any prices the sum of the pieces' optima (plus the prices times the
rules' bounds) is a lower bound on every plan. At the LP's duals the LP's solution is
optimal for each piece's LP, so every piece adds its integer optimum minus its LP value,
never less than zero: the bound is at least the LP's.

Pieces the LP already solves in integers add nothing and are not searched; a piece the
time budget does not reach counts at its LP value, so the bound holds whenever it stops.

The pieces' optima together are also a plan of sorts (Pieces.values): every rule within
a piece kept, capacity and the caps not. Rounded by the warm start, it starts the search
much nearer the optimum than the LP's rounding (1,000 workloads: the pieces' plan costs
$20.42M against the LP's $18.96M and the Lagrangian's $20.11M, but fills offerings
beyond their capacity; the 10 s plan from it, five fleets: $21.19M -> $20.89M mean).
Measured on the generated fleets: 1,000 workloads, LP $18.96M -> $20.11M in 1.9 s on one
thread (each piece searched to its end: $20.15M; CBC's bound after 10 minutes: $20.13M);
10,000, $183.6M -> $197.4M in 20 s. Better prices than the LP's did not pay: subgradient
steps from them gained 0.06 % in 8 steps of 1.1 s each at 1,000 workloads.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from placer.model import ProtoBuilder
from placer.relax import Relaxation

# The rules priced in (their rows sum over many workloads); every other family of rows
# stays inside a piece.
COUPLING = frozenset({"capacity", "spend", "cap", "min_providers", "budget"})
# CP-SAT's deterministic time per piece: on 10,000 workloads 0.02 s kept 90 % of the
# gain of searching each piece to its end in 64 % of the time, 0.1 s 97 % in 78 %.
PIECE_DETERMINISTIC_S = 0.05
# A piece of more variables than this is large: workloads sharing ports (about 600
# variables each at 1,000 workloads). Presolve halves its search to its optimum (21 large
# pieces of the 1,000-workload fleet at a full round's prices: 6.0 s -> 3.4 s on one
# core, seed 1, two runs each) but slows the small ones (331 pieces: 0.57 s -> 1.98 s).
LARGE_PIECE = 150
INTEGRAL = 1e-6  # an LP value this close to an integer is one
# A piece's objective is scaled so that its largest term reaches about this, then
# rounded down to integers (which lowers the bound by under 1/scale per unit placed).
COEFF_TARGET = 2.0**30


@dataclass(frozen=True)
class LagrangianBound:
    bound: float      # in solver units
    pieces: int       # independent pieces the priced problem falls into
    searched: int     # pieces CP-SAT searched (the others the LP solves in integers)
    left: int         # fractional pieces counted at their LP value: time ran out
    time_s: float
    cut_by_time: bool  # a wall clock cut it short: another run may give another bound


@dataclass
class Pieces:
    """The problem at the LP's duals, fallen apart into pieces, and what is known of
    each: its best bound so far and, per variable, its best solution so far (the LP's,
    until a search replaces it with the piece's integer optimum). Searched in one or
    more rounds (search_pieces); `values` is the pieces' plan: every piece-local rule
    kept, the priced ones (capacity, the caps) not."""

    builder: ProtoBuilder
    priced: np.ndarray            # per variable: its cost at the duals
    constant: float
    lower: np.ndarray
    upper: np.ndarray
    rows_of: list[np.ndarray]     # per piece, its local rows
    vars_of: list[np.ndarray]     # per piece, its variables
    position: np.ndarray          # per variable, its index within its piece
    best: np.ndarray              # per piece, its bound so far
    values: np.ndarray            # per variable
    pending: list[int]            # fractional pieces not searched yet
    # the builder's rows (ProtoBuilder.matrix) and which of them are priced (COUPLING)
    matrix: sparse.csr_matrix
    row_lo: np.ndarray
    row_hi: np.ndarray
    coupling: np.ndarray
    searched: int = 0
    time_s: float = 0.0
    cut_by_time: bool = False

    @property
    def count(self) -> int:
        return len(self.vars_of)

    def result(self) -> LagrangianBound:
        """The bound so far (pending pieces at their LP value)."""
        bound = self.constant + float(self.best.sum())
        return LagrangianBound(bound - 1e-7 * abs(bound), self.count, self.searched,
                               len(self.pending), self.time_s, self.cut_by_time)


def lagrangian_bound(builder: ProtoBuilder, relaxation: Relaxation, time_budget: float,
                     workers: int = 1,
                     should_stop: Callable[[], bool] | None = None) -> LagrangianBound:
    """The bound at the LP's duals (`relaxation` solved to optimality, with duals)."""
    pieces = price_pieces(builder, relaxation)
    search_pieces(pieces, time_budget, workers, should_stop)
    return pieces.result()


def price_pieces(builder: ProtoBuilder, relaxation: Relaxation) -> Pieces:
    """The pieces at the LP's duals, none searched yet."""
    started = time.perf_counter()
    assert relaxation.duals is not None
    matrix, row_lo, row_hi = builder.matrix()
    coupling = np.array([family in COUPLING for family in builder.row_family], dtype=bool)
    priced, constant = _price(builder.objective(), matrix, row_lo, row_hi,
                              np.where(coupling, relaxation.duals, 0.0))
    lower, upper = builder.bounds()
    piece, piece_count = _pieces(matrix, ~coupling)
    values = relaxation.values
    rounded = np.rint(values)
    fractional = np.bincount(piece, weights=np.abs(values - rounded) > INTEGRAL,
                             minlength=piece_count) > 0
    # a piece the LP solves in integers is at its integer optimum: the LP's value
    solution = np.where(fractional[piece], values, rounded)
    best = np.bincount(piece, weights=priced * solution, minlength=piece_count)
    # a variable no piece-local row constrains: the better end of its range
    local_rows = np.flatnonzero(~coupling)
    constrained = np.zeros(builder.num_vars, dtype=bool)
    constrained[matrix[local_rows].indices] = True
    alone = ~constrained
    solution[alone] = np.where(priced[alone] < 0, upper[alone], lower[alone])
    best[piece[alone]] = priced[alone] * solution[alone]
    fractional[piece[alone]] = False

    to_search = np.flatnonzero(fractional)
    vars_of = _group(piece, piece_count)
    position = np.zeros(builder.num_vars, dtype=np.int64)
    for variables in (vars_of[p] for p in to_search.tolist()):
        position[variables] = np.arange(len(variables))
    return Pieces(builder, priced, constant, lower, upper,
                  _rows_by_piece(matrix, local_rows, piece, piece_count), vars_of, position,
                  best, solution, to_search.tolist(), matrix, row_lo, row_hi, coupling,
                  time_s=time.perf_counter() - started)


def search_pieces(pieces: Pieces, time_budget: float, workers: int = 1,
                  should_stop: Callable[[], bool] | None = None,
                  deterministic_s: float = PIECE_DETERMINISTIC_S,
                  presolve_small: bool = True) -> None:
    """Search the pending pieces in integers, in order, until `time_budget` is spent,
    each for at most `deterministic_s`: each one searched raises its bound and replaces
    its values by its optimum (or the best plan found in that time). Large pieces are
    presolved, small ones too unless not `presolve_small`: as column generation's
    searches, where this one sizes their full rounds (solve.full_round_seconds); the
    guides' searches stay as they were measured."""
    started = time.perf_counter()
    deadline = started + time_budget
    lower, upper = pieces.lower, pieces.upper
    cut = False

    def search(p: int) -> tuple[float, np.ndarray | None] | None:
        nonlocal cut
        left = deadline - time.perf_counter()
        if left <= 0.01 or (should_stop is not None and should_stop()):
            cut = True
            return None
        variables = pieces.vars_of[p]
        if lower[variables].min() < 0:
            return -math.inf, None  # rounding costs down would not give a bound
        model, scale = _piece_model(pieces.builder, pieces.rows_of[p], variables,
                                    pieces.position, lower, upper, pieces.priced)
        solver = piece_solver(deterministic_s, left,
                              presolve=presolve_small or len(variables) > LARGE_PIECE)
        status = solver.solve(model)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE, cp_model.UNKNOWN):
            return -math.inf, None  # (cannot happen for a feasible model) keep the LP's
        if status != cp_model.OPTIMAL and solver.deterministic_time < deterministic_s * 0.9:
            cut = True
        found = None if status == cp_model.UNKNOWN else \
            np.fromiter(solver.response_proto.solution, dtype=np.int64)
        return solver.best_objective_bound / scale, found

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        outcomes = list(pool.map(search, pieces.pending))
    pending = []
    for p, outcome in zip(pieces.pending, outcomes, strict=True):
        if outcome is None:
            pending.append(p)
            continue
        value, found = outcome
        if math.isfinite(value):
            pieces.searched += 1
            pieces.best[p] = max(pieces.best[p], value)
        if found is not None:
            pieces.values[pieces.vars_of[p]] = found
    pieces.pending = pending
    pieces.time_s += time.perf_counter() - started
    pieces.cut_by_time |= cut


def piece_solver(deterministic_s: float, seconds: float, presolve: bool) -> cp_model.CpSolver:
    """CP-SAT for one piece's search: one worker, at most `deterministic_s`
    (deterministic) and `seconds` (wall clock), with or without presolve."""
    solver = cp_model.CpSolver()
    params = solver.parameters
    params.num_workers = 1
    params.linearization_level = 2  # level 1 stalled on pieces with ports
    params.cp_model_presolve = presolve
    params.max_deterministic_time = deterministic_s
    params.max_time_in_seconds = max(0.01, seconds)
    params.catch_sigint_signal = False  # Ctrl-C is placer's (should_stop)
    return solver


def _price(objective: np.ndarray, matrix: sparse.csr_matrix, row_lo: np.ndarray,
           row_hi: np.ndarray, duals: np.ndarray) -> tuple[np.ndarray, float]:
    """Objective and constant with each row's dual as its price: a positive dual prices
    the lower side (lo - a x), a negative one the upper (a x - hi). A dual on an open
    side is dropped: any prices >= 0 on the closed sides give a valid bound."""
    on_lower = np.where(np.isfinite(row_lo), np.maximum(duals, 0.0), 0.0)
    on_upper = np.where(np.isfinite(row_hi), np.maximum(-duals, 0.0), 0.0)
    prices = on_lower - on_upper
    constant = float(row_lo[on_lower > 0] @ on_lower[on_lower > 0]
                     - row_hi[on_upper > 0] @ on_upper[on_upper > 0])
    return objective - matrix.T @ prices, constant


def _pieces(matrix: sparse.csr_matrix, local: np.ndarray) -> tuple[np.ndarray, int]:
    """Per variable, its piece: variables linked through the local rows."""
    rows = matrix[np.flatnonzero(local)]
    n_rows = rows.shape[0]
    pattern = sparse.csr_matrix((np.ones(rows.nnz), rows.indices, rows.indptr),
                                shape=rows.shape)
    graph = sparse.bmat([[None, pattern], [pattern.T, None]], format="csr")
    count, label = connected_components(graph, directed=False)
    # renumber so that pieces are numbered by their first variable (a stable order)
    var_label = label[n_rows:]
    present, first = np.unique(var_label, return_index=True)
    renumber = np.empty(count, dtype=np.int64)
    renumber[present[np.argsort(first)]] = np.arange(len(present))
    return renumber[var_label], len(present)


def _group(keys: np.ndarray, count: int) -> list[np.ndarray]:
    """Indices of each key 0..count-1, ascending."""
    order = np.argsort(keys, kind="stable")
    return np.split(order, np.cumsum(np.bincount(keys, minlength=count))[:-1])


def _rows_by_piece(matrix: sparse.csr_matrix, local_rows: np.ndarray, piece: np.ndarray,
                   piece_count: int) -> list[np.ndarray]:
    """The local rows of each piece (a row's variables all lie in one piece)."""
    rows = local_rows[np.diff(matrix.indptr)[local_rows] > 0]
    owner = piece[matrix.indices[matrix.indptr[rows]]]  # the piece of its first variable
    return [rows[at] for at in _group(owner, piece_count)]


def _piece_model(builder: ProtoBuilder, rows: np.ndarray, variables: np.ndarray,
                 position: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                 priced: np.ndarray) -> tuple[cp_model.CpModel, float]:
    """The piece as a CP-SAT model over its own variables, with the priced objective
    (priced_objective's scale)."""
    model = piece_constraints(builder, rows, variables, position, lower, upper)
    return model, priced_objective(model, priced[variables], upper[variables])


def piece_constraints(builder: ProtoBuilder, rows: np.ndarray, variables: np.ndarray,
                      position: np.ndarray, lower: np.ndarray, upper: np.ndarray
                      ) -> cp_model.CpModel:
    """The piece's variables (`position`: each one's index within its piece) and its
    rows, as a CP-SAT model with no objective yet."""
    model = cp_model.CpModel()
    proto = model.proto
    for lo, hi in zip(lower[variables].tolist(), upper[variables].tolist(), strict=True):
        proto.variables.add().domain.extend((lo, hi))
    for r in rows.tolist():
        columns, coeffs, lo, hi = builder.rows[r]
        linear = proto.constraints.add().linear
        linear.vars.extend(position[columns].tolist())
        linear.coeffs.extend(coeffs.tolist())
        linear.domain.extend((lo, hi))
    return model


def priced_objective(model: cp_model.CpModel, costs: np.ndarray, upper: np.ndarray) -> float:
    """Set `costs` (per variable of the model) as its objective, scaled so that its
    largest term reaches about COEFF_TARGET and rounded down; returns the scale
    (variables are >= 0: so a bound of the rounded objective is one of the priced)."""
    largest = float(np.abs(costs).max(initial=0.0)) * float(upper.max(initial=1))
    scale = 2.0 ** math.floor(math.log2(COEFF_TARGET / largest)) if largest > 0 else 1.0
    coeffs = np.floor(costs * scale).astype(np.int64)
    keep = np.flatnonzero(coeffs != 0)
    model.proto.objective.vars.extend(keep.tolist())
    model.proto.objective.coeffs.extend(coeffs[keep].tolist())
    return scale
