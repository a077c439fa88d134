"""Column generation over the Lagrangian pieces, and its restricted master solved in
integers: a plan and a bound from the same prices.

The Lagrangian pieces (placer.lagrange) are what is left of the model once the rules
that tie workloads together (capacity, spend and its caps, min_providers, budget) are
priced: a workload alone, or the workloads that share a port. Any integer solution of a
piece is a column: every rule inside the piece holds for it, whatever the others do.
The restricted master chooses one column per piece and keeps the coupling rules over
the choice (Dantzig-Wolfe). Its LP gives the prices of the next round; the pieces
solved at those prices give new columns and a Lagrangian bound; and the master solved
in integers by CP-SAT, over a few thousand columns, is a plan that keeps every rule.

The prices of a partial round are smoothed towards those of the best bound so far
(Wentges): the first rounds' master LP, over few columns, has wild duals; priced at them
the pieces give useless columns and a bound far below the LP's. A full round, which
comes once the partial rounds are spent, prices at the master LP's own duals: there its
bound is mostly near the LP's (measured at SMOOTHING); where it is far below (a
degenerate LP's duals, or an LP still far from the bound), the best bound so far stays.

Rounds must be cheap: a CP-SAT search costs milliseconds of Python and set-up however
small the piece. So in a partial round the pieces that choose one variable (a gang) are
priced by an argmin for all at once, the serving workloads alone and the pieces sharing
ports (and spread workloads) by dynamic programmes (placer.subproblems), and only the
others searched; a full round, the only kind that gives a bound, searches every piece
but the serving workloads alone whose cheapest cover meets a floor under all of them
(generate_columns). A guide, which wants no bound, has partial rounds only.

Measured on the first generated 1,000-workload fleet: with every piece searched every
round (one thread), six rounds took the master's LP from $21.32M to $20.21M and the
bound from the Lagrangian's $20.11M to $20.16M (above CBC's after 10 minutes, $20.13M),
and the master in integers cost $20.26M, against $20.77M for the 10 s plan before and
$20.55M after 120 s. In placer at 10 s (rounds of 0.25 s; on a machine where the 10 s
plan before cost $21.12M): $20.59M-$20.65M; at 20 s $20.30M-$20.32M.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace

import numpy as np
from ortools.sat.python import cp_model
from scipy import sparse

from placer.lagrange import (
    INTEGRAL,
    LARGE_PIECE,
    Pieces,
    _price,
    piece_constraints,
    piece_solver,
    priced_objective,
)
from placer.model import INT64_SAFE, ProtoBuilder
from placer.relax import _equilibrate
from placer.subproblems import (
    Covers,
    PortSets,
    WorkloadVars,
    cover_columns,
    port_set_columns,
    port_set_floors,
    proven_cover_columns,
)

# A piece's search when pricing: CP-SAT's deterministic time (as the Lagrangian's
# pieces), presolved only when large (lagrange.LARGE_PIECE, piece_solver).
PRICE_DETERMINISTIC_S = 0.05
# Wentges smoothing: the prices of a partial round are this share of the best bound's
# prices, the rest the master LP's duals.
SMOOTHING = 0.5
# A full round prices at the master LP's own duals, not smoothed: once the partial rounds
# are spent, the master's LP is near its optimum and so is the bound at its duals. Three
# 1,000-workload fleets at 10 s, the bound at the last round's duals against that of the
# full rounds at smoothed ones: $20,227,945 / $20,120,848 / $21,172,115 against
# $20,227,227 / $20,118,932 / $21,164,635 (the LP $20,228,067 / $20,120,873 /
# $21,174,028). With full rounds there the rounds also meet the bound sooner and leave
# their time to the master and the search after it (measured in BENCHMARKS.md).
# What a round costs beyond its pieces' searches (the master LP, vectorised pricing), and
# a piece's search beyond CP-SAT's deterministic time (building and loading it), in
# deterministic seconds: the budget tracks the wall clock roughly.
ROUND_OVERHEAD_S = 0.1
PIECE_OVERHEAD_S = 0.005
# A node's master LP (Master.fix) pays this for each unit a coupling row is relaxed by,
# in its scaled costs (the dearest column costs 1,000 there)
ARTIFICIAL_COST = 1e6
# A piece sharing ports is not searched in a full round where its port sets' cover costs
# at most this share above a floor under all of its solutions (that floor counts then)
PROVEN_SLACK = 1e-9
# Stop when the master LP is this close to the best bound: no column can gain more.
CONVERGED = 1e-5
# The partial rounds are spent when the master LP gained less than this share over the
# last STALL_ROUNDS of them: then a full round, or with no bound wanted (a guide) the
# end (a part of the 100,000-workload fleet gained 8e-5 after 1.9 s, then 1e-4 more in
# the 3.2 s to its budget).
STALLED = 1e-4
STALL_ROUNDS = 2
# Columns per choose-one piece and round: its cheapest variables at the round's prices.
CHOOSE_ONE_COLUMNS = 3
# A partial round searches only the small pieces whose last search gave a new column (a
# large one, 600 variables of workloads sharing ports, took 68 ms, a small one 3.5 ms: 21
# large pieces were half of a round at 1,000 workloads; 87-91 % of a full round).
# A large piece's search in a full round, the bound's: at PRICE_DETERMINISTIC_S 7 of the
# 27 large pieces of the 1,000-workload fleet stopped short of their optima and their
# bounds were $66k (0.3 %) below them; at this, 10 s plans with bounds of $20.18M /
# $20.06M / $21.09M on three fleets, against $20.15M-$20.18M / $20.02M / $20.95M.
LARGE_PIECE_DETERMINISTIC_S = 0.5
# ... or, when less, this share of the wall clock left to the round, shared among the
# large pieces: a part of the 10,000 fleet has many, and at 0.5 each its full round
# would take longer than the part has.
LARGE_PIECES_SHARE = 0.5
# A full round's piece searched after its deadline, in seconds: a small piece reaches its
# optimum in a few milliseconds (331 in 0.57 s at 1,000 workloads), a large one keeps
# the bound it reached. The round keeps a bound where it used to lose all of it (a first
# full round cut at 1,000 workloads: the bound fell back to the LP's duals').
LATE_PIECE_S = 0.005
# The first full round starts when this share of what it should take (full_round_s, an
# estimate) fits before its finish_by: cut short near its end it keeps most of its bound.
FIRST_ROUND_FITS = 0.8
# The master in integers: first over the columns its LP uses (and the incumbent's),
# which presolve solves in a fraction of a second (1,000 workloads, 1,000 of 2,400
# columns: $20.61M / $20.43M in 0.15 / 0.36 s on two masters); then, when at least this
# much deterministic time is left, over all of them without presolve and without
# following the hint (with both, CP-SAT's first second went on them: three masters at
# 1.5 s, three seeds, $21.71M, the warm start, in eight of nine; without, $20.26M-$20.53M).
# At 1.0 the search over all columns never ran at a 10 s limit, whose master has 1.0
# (solve.MASTER_SHARE) less the first search's 0.05; at 0.5 it does: 1,000 workloads
# at 10 s $20.34M / $20.36M -> $20.30M / $20.26-20.31M (two fleets, three runs), 100
# workloads $1.98M -> $1.88M (seed 1; seeds 0 and 2 $1.542M -> $1.542M, $2.493M -> $2.489M).
FULL_MASTER_S = 0.5
# The master's searches add no cuts: its rows are a few knapsacks over one-of-each
# choices, and CP-SAT's cuts there cost time and found nothing. Two masters of parts of
# the 10,000 fleet (about 7,000 columns), two seeds each: over the LP's support, proven
# optimal in 0.7-1.4 s against 1.9-6 s with them (one not proven in 6 s); the first
# over all columns from the support's plan, in 3 s, $49.89M-$49.99M against the hint's
# $50.00M (with cuts nothing better), in 10 s $49.83M-$49.90M.
MASTER_CUT_LEVEL = 0
# The search over the LP's support has this share of the master's wall clock, at least
# SUPPORT_MIN_S of it, when its search over all columns follows: it finds its plan early
# and spends the rest proving it (a part's: within 0.01 % of its final plan at 0.65 s
# of 2.7 s), and where it is hard (two parts of the 10,000 fleet: 5.3 s and 6.5 s of a
# 9-10 s master) the search over all columns, which improves most, was left 3-4 s.
SUPPORT_SHARE = 0.35
SUPPORT_MIN_S = 2.0
SUPPORT = 1e-6  # an LP weight above this: the column is in the LP's support
# The master's searches wait for its LP over every column where that should take at most
# this share of their time; else, or where it does not finish, they start from the last
# LP solved, over fewer columns. Parts of a 50,000 fleet at 60 s beside a busy loop
# reached their master with 0.05-0.5 s left, its LP took all of it, no search ran, and
# their plans were their warm starts' (2-13 of 20 parts in four runs, the fleet 4.3-11.4 %
# above its bound; 2 with this, 6.2 %).
MASTER_LP_SHARE = 0.5
# With two workers or more the master's second worker first searches the LP's columns
# and each piece's this many cheapest at the LP's prices (Master.cheapest_columns), with
# presolve (solve_master). On nine captured masters of the 1,000-workload fleets that
# come near 0.1 % (seeds 0 and 2), it proves its best plan in 0.4-1.6 s; at 1.5 s (with
# 3, 5, 8 a piece after) 0.096 % above the master's LP on average, where the search over
# all columns on two workers reaches 0.137 % (cheaper on one of the nine). Six fleets at
# 10 s, three runs each: mean gap 0.203 % (within 0.1 %: 5 of 18) against 0.235 % (2 of
# 18); two more each: 0.213 % (3 of 12) against 0.236 % (2 of 12), and 0.216 % (4 of 12)
# with three a piece. On one worker (the search beside the rounds, the parts of large
# fleets) it was worse: BENCHMARKS.md, thirty-seventh session.
CHEAPEST_COLUMNS = 2
# The rounds are near their bound once a full round was done and the master's LP is
# within this share of the best bound: the columns then are nearly those the master will
# have, and generate_columns says so (near_bound), for a search of the master beside the
# rounds left (EarlySearch). The first 1,000-workload fleet gets there after its second
# full round, 4.2-4.9 s into a 10 s solve, 1.5-1.9 s before its rounds end (four traces).
NEAR_BOUND = 1e-4
# ... or once this many full rounds were done, however far the LP: on some fleets it
# stays 0.02-0.04 % above the bound to the end (1,000 workloads, seed 4: no search beside
# the rounds; from 2.2 s to 6.4 s the second core ran only the full rounds, 2.7 s of it).
# Six fleets at 10 s, five runs each, taking turns: mean gap 0.200 % against 0.236 %
# (seeds 4 and 5: 0.173 / 0.116 % against 0.290 / 0.193 %), and three more each 0.202 %
# against 0.228 %; seed 0, thirty runs each, 0.096 % against 0.102 %, 19 of 30 within
# 0.1 % both ways. After one full round: 0.202 % against 0.195 %. BENCHMARKS.md,
# thirty-eighth session.
# Asked then while the LP is still far from the bound, near_bound is asked again after
# each full round until it is near: a branching may start there (placer.solve), where
# before the rounds ran on to their end and the tree rarely fitted after them. Six
# 1,000-workload fleets at 10 s, six runs each: mean gap 0.121 % against 0.156 %, 13
# of 36 within 0.1 % against 12, trees in 24 runs against 6 (BENCHMARKS.md,
# fifty-ninth session).
NEAR_BOUND_FULL_ROUNDS = 2
# Columns for the master in integers (perturbed_columns): after the rounds, partial rounds
# at the master's last prices, each price times a random factor within this spread of 1.
# At the LP's own prices each piece gives the column the LP wants; a plan in integers
# also wants pieces' next-best columns, which prices nearby give: a 1,000-workload
# master's best plan over its columns $20.2742M, with thirty such rounds $20.2519M or
# less. They pay where the master has the time to use them: the parts of large fleets
# (solve.PERTURBED_SHARE), not 1,000 workloads in 10 s, whose master has 1.5 s.
PERTURBED_ROUNDS = 20
PERTURBED_SPREAD = 0.5
# Columns on both sides of the share caps (cap_columns): rounds at the master's last
# prices with the spend rows' prices, through which a binding cap prices every piece,
# times each of these factors (0: the caps free; 2 and 3: pressed twice and three times
# as hard). The 1,000 fleets' gaps are the chip-vendor cap's: without it two fleets are
# solved within 0.06 % in 7.5 s, with it alone 0.23 % / 0.51 %. At the LP's prices each
# piece gives only its column on one side of the cap, and the master cannot move the
# cap's spend between whole pieces: two 10 s masters' best plans over their columns were
# $20.274M / $20.230M (seeds 0 / 1), with ten such rounds searching every piece
# $20.246M / (four rounds, 15 s) $20.205M. The first factor's round searches every piece
# (the large ones sharing ports too: seed 0 over the LP's support and these columns
# $20.278M with partial rounds only, $20.259M with it), the others the small pieces
# (0.06 s a round against 0.5-1 s).
CAP_PRICE_FACTORS = (2.0, 0.0, 0.25, 0.5, 0.75, 0.9, 1.1, 1.25, 1.5, 3.0)
CAP_FULL_ROUNDS = 1


class SearchStop:
    """Stops the master's searches from another thread: the one running, and those not
    started yet."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stopped = False
        self._solver: cp_model.CpSolver | None = None

    def stop(self) -> None:
        """Stops the search running now (when CP-SAT has set it up) and any after."""
        with self._lock:
            self._stopped = True
            if self._solver is not None:
                self._solver.stop_search()

    @property
    def stopped(self) -> bool:
        return self._stopped

    def running(self, solver: cp_model.CpSolver | None) -> bool:
        """Records `solver` as the search to stop (None: none runs now). False when
        stopped already: then no search should start."""
        with self._lock:
            self._solver = solver
            return not self._stopped


@dataclass
class SpendSubstitution:
    """Free variables of the master, each a function of the columns chosen:
    value = constant - matrix . (a 0/1 per column)."""
    variables: np.ndarray     # their indices in Master.free
    rows: np.ndarray          # the coupling row defining each
    matrix: sparse.csr_matrix  # variables x columns
    constant: np.ndarray
    kept: np.ndarray          # the other free variables (indices in Master.free)


@dataclass
class MasterLP:
    objective: float          # in solver units
    duals: np.ndarray         # per coupling row, such that reduced costs are c - A^T duals
    weights: np.ndarray       # per column
    seconds: float = 0.0      # the wall clock its solve took (a kept one: that solve's)


@dataclass
class Priced:
    bound: float | None       # the Lagrangian bound at these prices (solver units), when
                              # every piece was searched
    values: np.ndarray        # per variable: each piece at its best solution found
    deterministic_time: float
    # per variable, choose-one pieces on their 2nd, 3rd... cheapest variable (0 elsewhere;
    # pieces with fewer variables all 0)
    runners_up: list[np.ndarray]
    # some piece's search was cut by the wall clock: the bound is lower than it could be
    cut_short: bool = False


@dataclass
class MasterSolution:
    values: np.ndarray | None  # per variable of the model: the plan (None: none found)
    objective: int | None      # its objective (solver units)
    status: str                # CP-SAT's
    deterministic_time: float
    cut_by_time: bool          # the wall clock stopped it first


@dataclass
class ColumnGeneration:
    """What the rounds reached."""

    bound: float                    # the best Lagrangian bound (solver units)
    lp_objective: float | None      # the last master LP's (an upper bound on the bound)
    # and its duals, per coupling row: prices that have seen every column (a fleet in
    # parts prices its bound at its first parts', placer.solve._bound_in_parts)
    duals: np.ndarray | None
    rounds: int
    columns: int
    deterministic_time: float
    cut_by_time: bool
    time_s: float
    full_rounds: int = 0            # full rounds done: each gave a bound
    full_rounds_s: float = 0.0      # their time
    # what the master's LP over all its columns should take (wall clock), from the last
    lp_s: float = 0.0
    # the last master LP's weight per column (the columns it had then): where it buys a
    # port in part (Master.lp_values), branching on that port raises the bound
    # (placer.port_tree)
    weights: np.ndarray | None = None
    # ended once the bound passed generate_columns' stop_above, before its own end
    stopped_above: bool = False


class Master:
    """The pieces of a model and the columns found for each: the restricted master.

    Variables no piece row holds (spend and its total, providers used) stay in the
    master as they are."""

    def __init__(self, builder: ProtoBuilder, pieces: Pieces,
                 covers: Covers | None = None, workloads: WorkloadVars | None = None
                 ) -> None:
        self.builder = builder
        self.matrix, self.row_lo, self.row_hi = pieces.matrix, pieces.row_lo, pieces.row_hi
        self.coupling = np.flatnonzero(pieces.coupling)
        self.link = self.matrix[self.coupling].tocsc()   # coupling rows x variables
        self.link_lo, self.link_hi = self.row_lo[self.coupling], self.row_hi[self.coupling]
        self.objective = builder.objective()
        self.lower, self.upper = pieces.lower, pieces.upper
        with_rows = [p for p in range(pieces.count) if len(pieces.rows_of[p])]
        self.vars_of = [pieces.vars_of[p] for p in with_rows]
        self.rows_of = [pieces.rows_of[p] for p in with_rows]
        self.free = np.concatenate(
            [pieces.vars_of[p] for p in range(pieces.count) if not len(pieces.rows_of[p])]
            or [np.zeros(0, dtype=np.int64)]).astype(np.int64)
        n = builder.num_vars
        self.piece_of = np.full(n, -1, dtype=np.int64)
        for k, variables in enumerate(self.vars_of):
            self.piece_of[variables] = k
        self.position = np.zeros(n, dtype=np.int64)
        for variables in self.vars_of:
            self.position[variables] = np.arange(len(variables))
        self.sizes = np.array([len(v) for v in self.vars_of], dtype=np.int64)
        self.choose_one = np.array([self._is_choose_one(k) for k in range(len(self.vars_of))],
                                   dtype=bool)
        self.covers = covers
        self.cover_piece, self.cover_own, self.is_cover = self._own_pieces(covers)
        # the pieces of workloads sharing ports (and spread ones), priced by port sets
        self.port_sets = None if workloads is None else PortSets.of(
            workloads, self.piece_of, self.vars_of, self.rows_of, self.matrix, self.row_lo,
            self.row_hi)
        picked = np.flatnonzero(self.choose_one)
        self._one_vars = np.concatenate([self.vars_of[k] for k in picked.tolist()]
                                        or [np.zeros(0, dtype=np.int64)])
        self._one_piece = self.piece_of[self._one_vars]
        self._models: dict[int, cp_model.CpModel] = {}
        # per piece, the deterministic limit of its search in a full round, at least: a
        # piece its limit stopped short of its optimum gets twice that next time (up to
        # LARGE_PIECE_DETERMINISTIC_S). Its bound, not its optimum, goes into the round's:
        # a node of seed 0's 1,000 fleet, near the end of a 10 s solve, gave its 971-
        # variable piece 0.05 s, and each full round's bound was $4.6-7.8k under its
        # LP, the piece's gap; at 0.1 s it was proven and the bound met the LP
        self.full_round_limits = np.zeros(len(self.vars_of))
        # columns: piece, cost, coupling rows they use (a block per batch), values
        self.col_piece = np.zeros(0, dtype=np.int64)
        self.col_cost = np.zeros(0, dtype=np.float64)
        self._blocks: list[sparse.csc_matrix] = []
        self._batches: list[np.ndarray] = []       # full variable vectors
        self.col_batch = np.zeros(0, dtype=np.int64)
        self._seen: list[dict[bytes, int]] = [{} for _ in self.vars_of]
        self._piece_matrix = sparse.csc_matrix(
            (np.ones(int((self.piece_of >= 0).sum())),
             (np.flatnonzero(self.piece_of >= 0), self.piece_of[self.piece_of >= 0])),
            shape=(n, len(self.vars_of)))
        # variables fixed at a node of a branching (placer.port_tree): the pieces'
        # searches keep them, the LP drops the columns that do not
        self.fixed: dict[int, int] = {}
        # the coupling rows relaxed at ARTIFICIAL_COST, as at a node, also where the start
        # (its first columns) breaks a rule: the rounds then price the way to columns that
        # keep them (100 workloads, 25 % provider cap, sovereign EU work: no plan at 10 s
        # without, $1,828,499 with)
        self.artificial = False
        self._bounds = (self.lower, self.upper)
        # the last LP solved to its end, and what it was over (columns, fixed variables)
        self._last_lp: tuple[tuple[int, tuple[tuple[int, int], ...]], MasterLP] | None = None

    def fix(self, fixed: dict[int, int]) -> None:
        """Fixes each variable of `fixed` (a piece's, e.g. a port) at its value, the
        others as the pieces have them: the LP uses only the columns that agree and the
        pieces' searches keep them. The columns stay: another node may want them."""
        lower, upper = self._bounds[0].copy(), self._bounds[1].copy()
        variables = np.fromiter(fixed, dtype=np.int64, count=len(fixed))
        lower[variables] = upper[variables] = list(fixed.values())
        changed = [v for v in set(fixed) | set(self.fixed) if fixed.get(v) != self.fixed.get(v)]
        for k in set(self.piece_of[changed].tolist()):
            self._models.pop(k, None)  # built with the bounds before
        self.fixed, self.lower, self.upper = dict(fixed), lower, upper

    def agreeing(self) -> np.ndarray:
        """A mask of the columns that keep the variables fixed (Master.fix)."""
        agree = np.ones(self.columns, dtype=bool)
        for variable, value in self.fixed.items():
            columns = np.flatnonzero(self.col_piece == self.piece_of[variable])
            batch_values = np.array([self._batches[b][variable]
                                     for b in self.col_batch[columns].tolist()])
            agree[columns[batch_values != value]] = False
        return agree

    def _own_pieces(self, covers: Covers | None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per workload of the covers, its first row's piece (-1: none) and whether it
        is a piece of its own (all of the piece's variables its own); per piece, whether
        it is such a workload."""
        is_cover = np.zeros(len(self.vars_of), dtype=bool)
        if covers is None or len(covers.need) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool), is_cover
        piece = self.piece_of[covers.units]
        first = np.r_[0, np.flatnonzero(np.diff(covers.owner)) + 1]
        the_piece = piece[first]  # per workload: its first row's piece
        same = np.bincount(covers.owner, weights=piece != the_piece[covers.owner],
                           minlength=len(covers.need)) == 0
        count = np.bincount(covers.owner, weights=1 + (covers.used >= 0),
                            minlength=len(covers.need)) \
            + (covers.left_out >= 0)
        own = same & (the_piece >= 0) & (self.sizes[np.maximum(the_piece, 0)] == count)
        is_cover[the_piece[own]] = True
        return the_piece, own, is_cover

    @property
    def pieces(self) -> int:
        return len(self.vars_of)

    @property
    def columns(self) -> int:
        return len(self.col_piece)

    def _is_choose_one(self, k: int) -> bool:
        """One row, sum of 0/1 variables = 1, holding every variable of the piece (a gang
        choosing its offering, or being left out): priced by an argmin."""
        if len(self.rows_of[k]) != 1:
            return False
        variables, coeffs, lo, hi = self.builder.rows[int(self.rows_of[k][0])]
        return bool(lo == 1 and hi == 1 and np.all(coeffs == 1)
                    and len(np.unique(variables)) == len(variables) == len(self.vars_of[k])
                    and np.all(self.lower[variables] == 0) and np.all(self.upper[variables] == 1))

    def add(self, values: np.ndarray, pieces: np.ndarray | None = None) -> np.ndarray:
        """Each piece's part of `values` (a value per variable) as a column, unless the
        piece has it already; `pieces`: only these. Returns the pieces given a new one."""
        values = np.asarray(values, dtype=np.int64)
        which = np.arange(self.pieces) if pieces is None else np.asarray(pieces)
        new = [k for k in which.tolist()
               if values[self.vars_of[k]].tobytes() not in self._seen[k]]
        new_arr = np.array(new, dtype=np.int64)
        if not new:
            return new_arr
        batch = len(self._batches)
        self._batches.append(values.copy())
        first = self.columns
        for i, k in enumerate(new):
            self._seen[k][values[self.vars_of[k]].tobytes()] = first + i
        # per piece, the coupling rows its part of `values` adds to
        scaled = self.link @ sparse.diags(values.astype(np.float64)) @ self._piece_matrix
        self._blocks.append(sparse.csc_matrix(scaled)[:, new_arr])
        costs = np.bincount(self.piece_of[self.piece_of >= 0],
                            weights=(self.objective * values)[self.piece_of >= 0],
                            minlength=self.pieces)
        self.col_piece = np.concatenate((self.col_piece, new_arr))
        self.col_cost = np.concatenate((self.col_cost, costs[new_arr]))
        self.col_batch = np.concatenate((self.col_batch, np.full(len(new), batch)))
        return new_arr

    def add_integral(self, values: np.ndarray) -> np.ndarray:
        """Each piece's part of `values` (floats) as a column, where it is integral."""
        rounded = np.rint(values)
        fractional = np.abs(values - rounded) > INTEGRAL
        whole = [k for k in range(self.pieces) if not fractional[self.vars_of[k]].any()]
        return self.add(rounded.astype(np.int64), np.array(whole, dtype=np.int64))

    def add_priced(self, priced: Priced) -> np.ndarray:
        """A round's columns: each piece's solution at its prices and the choose-one
        pieces' next cheapest variables. Returns the pieces its solutions gave a new one."""
        added = self.add(priced.values)
        for other in priced.runners_up:
            self.add(other, self.filled_choose_one(other))
        return added

    def filled_choose_one(self, values: np.ndarray) -> np.ndarray:
        """The choose-one pieces `values` sets a variable of."""
        return np.unique(self._one_piece[values[self._one_vars] > 0])

    def column_of(self, values: np.ndarray) -> np.ndarray:
        """Per piece, the column `values` takes (-1 where it is not in the master)."""
        return np.array([self._seen[k].get(values[self.vars_of[k]].tobytes(), -1)
                         for k in range(self.pieces)], dtype=np.int64)

    def cheapest_columns(self, duals: np.ndarray, per_piece: int) -> np.ndarray:
        """A mask of each piece's `per_piece` columns cheapest at the prices `duals` (of
        the coupling rows: by reduced cost; on a tie the first added)."""
        priced = self.col_cost - self._columns_matrix().T @ duals
        order = np.lexsort((priced, self.col_piece))
        sorted_pieces = self.col_piece[order]
        rank = np.empty(self.columns, dtype=np.int64)
        rank[order] = np.arange(self.columns) - np.searchsorted(sorted_pieces, sorted_pieces)
        return rank < per_piece

    def _columns_matrix(self) -> sparse.csc_matrix:
        return sparse.hstack(self._blocks, format="csc") if self._blocks else \
            sparse.csc_matrix((len(self.coupling), 0))

    def frozen(self) -> Master:
        """A copy with the columns so far, which the rounds after leave as they are: a
        search on another thread reads it while they add to this one (their column
        arrays are replaced, not written to; the lists and maps are copied here)."""
        copy = object.__new__(Master)
        copy.__dict__.update(self.__dict__)
        copy._blocks, copy._batches = list(self._blocks), list(self._batches)
        copy._seen = [dict(seen) for seen in self._seen]
        copy._models = {}
        return copy

    def values(self, chosen: np.ndarray, free_values: np.ndarray) -> np.ndarray:
        """The variable vector of one column per piece (`chosen`) and the free variables'
        values."""
        x = np.zeros(self.builder.num_vars, dtype=np.int64)
        for k, col in enumerate(chosen.tolist()):
            x[self.vars_of[k]] = self._batches[self.col_batch[col]][self.vars_of[k]]
        x[self.free] = free_values
        return x

    def lp_values(self, weights: np.ndarray, variables: np.ndarray) -> np.ndarray:
        """The values `variables` take in a master LP whose column weights are `weights`
        (a weight per column it had then): each column's values, weighted. A variable no
        piece holds is NaN."""
        variables = np.asarray(variables, dtype=np.int64)
        piece = self.piece_of[variables]
        values = np.where(piece >= 0, 0.0, np.nan)
        used = np.flatnonzero(weights > 0)
        for column in used[np.isin(self.col_piece[used], piece)].tolist():
            mine = piece == self.col_piece[column]
            values[mine] += weights[column] \
                * self._batches[self.col_batch[column]][variables[mine]]
        return values

    # ------------------------------------------------------------------ the master LP

    def _lp_key(self) -> tuple[int, tuple[tuple[int, int], ...]]:
        # columns are only ever added, so their count names the set
        return self.columns, tuple(sorted(self.fixed.items()))

    @property
    def last_lp(self) -> MasterLP | None:
        """The last LP solved to its end (solve_lp), perhaps over fewer columns than the
        master has now, or other fixings (None: none yet)."""
        return None if self._last_lp is None else self._last_lp[1]

    def has_lp(self) -> bool:
        """Whether the LP over the columns so far is solved already (solve_lp keeps it)."""
        return self._last_lp is not None and self._last_lp[0] == self._lp_key()

    def solve_lp(self, time_limit: float) -> MasterLP | None:
        """The master's LP over the columns so far (HiGHS dual simplex). The last one
        solved to its end is kept and given again while no column is added and nothing
        fixed changes: tight-5000x60's rounds end on an LP of 25,889 columns (1.9 s),
        which the master's search would solve again before it starts."""
        if self.has_lp():
            return self._last_lp[1]
        started = time.perf_counter()
        solved = self._solve_lp(time_limit)
        if solved is not None:
            # all of the call's wall clock (on a busy core, more than HiGHS's own)
            solved = replace(solved, seconds=time.perf_counter() - started)
            solved.duals.setflags(write=False)  # given again: no one may change it
            solved.weights.setflags(write=False)
            self._last_lp = (self._lp_key(), solved)
        return solved

    def _solve_lp(self, time_limit: float) -> MasterLP | None:
        from scipy.optimize import linprog

        columns = self._columns_matrix()
        n_cols, n_free = columns.shape[1], len(self.free)
        coupling = sparse.hstack([columns, self.link[:, self.free]], format="csr")
        row_scale, col_scale = _equilibrate(coupling)
        scaled = sparse.diags(row_scale) @ coupling @ sparse.diags(col_scale)
        cost = np.concatenate((self.col_cost, self.objective[self.free])) * col_scale
        cost_scale = 1000.0 / max(float(np.abs(cost).max(initial=0.0)), 1e-12)
        lo, hi = self.link_lo * row_scale, self.link_hi * row_scale
        equal = np.isfinite(lo) & np.isfinite(hi) & (hi - lo <= 1e-12 * np.maximum(1, abs(hi)))
        le = np.flatnonzero(np.isfinite(hi) & ~equal)
        ge = np.flatnonzero(np.isfinite(lo) & ~equal)
        eq = np.flatnonzero(equal)
        cost = cost * cost_scale
        n_art = 0
        bounds = np.column_stack((
            np.concatenate((np.zeros(n_cols), self.lower[self.free] / col_scale[n_cols:])),
            np.concatenate((np.full(n_cols, np.inf), self.upper[self.free] / col_scale[n_cols:]))))
        if self.fixed or self.artificial:
            # a node of a branching: only the columns that keep its variables fixed, and
            # the coupling rows relaxed at ARTIFICIAL_COST until its columns meet them
            # (its parent's plan may not keep them); or a start that breaks a rule
            bounds[:n_cols][~self.agreeing(), 1] = 0.0
            rows = np.concatenate((le, ge, eq, eq))
            signs = np.concatenate((-np.ones(len(le)), np.ones(len(ge) + len(eq)),
                                    -np.ones(len(eq))))
            n_art = len(rows)
            scaled = sparse.hstack([scaled, sparse.csr_matrix(
                (signs, (rows, np.arange(n_art))), shape=(scaled.shape[0], n_art))],
                format="csr")
            cost = np.concatenate((cost, np.full(n_art, ARTIFICIAL_COST)))
            bounds = np.vstack((bounds, np.column_stack((np.zeros(n_art),
                                                         np.full(n_art, np.inf)))))
        convexity = sparse.csr_matrix(
            (col_scale[:n_cols], (self.col_piece, np.arange(n_cols))),
            shape=(self.pieces, n_cols + n_free + n_art))
        result = linprog(
            cost,
            A_ub=sparse.vstack([scaled[le], -scaled[ge]], format="csr") if len(le) + len(ge)
            else None,
            b_ub=np.concatenate((hi[le], -lo[ge])) if len(le) + len(ge) else None,
            A_eq=sparse.vstack([scaled[eq], convexity], format="csr"),
            b_eq=np.concatenate((lo[eq], np.ones(self.pieces))),
            bounds=[(a, None if math.isinf(b) else b) for a, b in bounds.tolist()],
            method="highs-ds", options={"time_limit": float(max(time_limit, 0.05))})
        if result.status != 0 or result.x is None:
            return None
        duals = np.zeros(len(self.coupling))
        if len(le) + len(ge):
            marginals = result.ineqlin.marginals
            duals[le] += marginals[:len(le)]
            duals[ge] -= marginals[len(le):]
        equalities = result.eqlin.marginals
        duals[eq] += equalities[:len(eq)]
        return MasterLP(objective=float(result.fun) / cost_scale,
                        duals=duals * row_scale / cost_scale,
                        weights=result.x[:n_cols] * col_scale[:n_cols])

    # ------------------------------------------------------------------ pricing

    def price(self, duals: np.ndarray, hint: np.ndarray | None, workers: int = 1,
              deadline: float = math.inf, deterministic_s: float = PRICE_DETERMINISTIC_S,
              should_stop: Callable[[], bool] | None = None,
              searched: np.ndarray | None = None, bound_wanted: bool = True) -> Priced | None:
        """The pieces solved in integers at these prices of the coupling rows: each
        piece's best solution and, when every piece was searched, the Lagrangian bound
        there. `searched`: a partial round, only these of the pieces that need a search
        (the choose-one pieces are priced all at once, the serving workloads alone and
        the pieces sharing ports by placer.subproblems); a full round searches every
        piece but the serving workloads alone whose cheapest cover is proven
        (subproblems.proven_cover_columns); `hint` (a value per variable)
        starts each search and stands for the pieces not searched. In a full round a
        large piece's search may take longer (large_piece_seconds), one its limit stopped
        in the full round before twice that (full_round_limits), and the `deadline`
        cuts the searches short rather than the round: each piece keeps the bound its
        search reached, and one starting late searches for LATE_PIECE_S; unless its bound
        is not wanted (`bound_wanted`), when a piece starting late is not searched (its
        hint stands) and the round has no bound. None when stopped (`should_stop`), or
        for a partial round reaching the deadline."""
        full = np.zeros(len(self.builder.rows))
        full[self.coupling] = duals
        priced, constant = _price(self.objective, self.matrix, self.row_lo, self.row_hi, full)
        values = np.zeros(self.builder.num_vars, dtype=np.int64) if hint is None \
            else hint.copy()
        # free variables: the better end of their range
        free_cost = priced[self.free]
        values[self.free] = np.where(free_cost < 0, self.upper[self.free],
                                     self.lower[self.free])
        bound = constant + float(free_cost @ values[self.free])
        # choose-one pieces: the cheapest variable of each (and the next cheapest, as
        # columns of their own)
        runners_up: list[np.ndarray] = []
        if len(self._one_vars):
            ranked = self.ranked_choose_one(priced, CHOOSE_ONE_COLUMNS)
            cheapest = ranked[0]
            values[self._one_vars] = 0
            values[cheapest] = 1
            bound += float(priced[cheapest].sum())
            for k in range(1, CHOOSE_ONE_COLUMNS):
                other = np.zeros(self.builder.num_vars, dtype=np.int64)
                other[ranked[k]] = 1
                runners_up.append(other)
        partial = searched is not None
        start = hint  # each search's
        if searched is None:
            searched = np.flatnonzero(~self.choose_one)
            if self.covers is not None:
                # serving workloads alone whose cheapest cover meets its floor need no
                # search (1,000 workloads: 289 of 305, of a full round's 311 small pieces,
                # about 5 ms of a core each)
                proven, floors = proven_cover_columns(self.covers, priced, self.cover_own,
                                                      values)
                bound += float(floors.sum())
                searched = np.setdiff1d(searched, self.cover_piece[proven])
            if self.port_sets is not None and hint is not None:
                # the pieces sharing ports searched from their port sets' covers at these
                # prices, nearer their optima than the plan's values (21 large pieces of
                # the 1,000-workload fleet: 2.0-2.4 s from those, 2.5-3.3 s from the plan's)
                start = values.copy()
                written = port_set_columns(self.port_sets, priced, start,
                                           np.ones(self.pieces, dtype=bool), self.lower,
                                           self.upper)
                # ... and not searched where that cover meets a floor under all of them
                proven, floors = self._proven_port_sets(priced, start, written)
                bound += float(floors.sum())
                sets = self.port_sets
                taken = sets.piece_vars[np.isin(sets.pieces[sets.piece_var_at], proven)]
                values[taken] = start[taken]
                searched = np.setdiff1d(searched, proven)
        else:
            # serving workloads alone, and pieces sharing ports, by dynamic programming
            # (not searched)
            if self.covers is not None:
                cover_columns(self.covers, priced, self.cover_own, values)
                searched = searched[~self.is_cover[searched]]
            if self.port_sets is not None:
                done = port_set_columns(self.port_sets, priced, values,
                                        np.ones(self.pieces, dtype=bool), self.lower,
                                        self.upper)
                searched = searched[~done[searched]]
        spent = 0.0
        cut = short = False
        large = deterministic_s if partial else \
            self.large_piece_seconds(deterministic_s, deadline - time.perf_counter(), workers)

        def search(k: int) -> tuple[float, np.ndarray | None, float] | None:
            nonlocal cut, short
            late = time.perf_counter() >= deadline
            if (late and partial) or (should_stop is not None and should_stop()):
                cut = True
                return None
            if late and not bound_wanted:
                short = True
                return 0.0, None, 0.0
            model, scale = self._piece_model(k, priced)
            variables = self.vars_of[k]
            if start is not None:
                model.proto.solution_hint.vars.extend(range(len(variables)))
                model.proto.solution_hint.values.extend(start[variables].tolist())
            is_large = self.sizes[k] > LARGE_PIECE
            limit = large if is_large else deterministic_s
            if not partial:
                limit = max(limit, self.full_round_limits[k])
            solver = piece_solver(limit,
                                  LATE_PIECE_S if late else deadline - time.perf_counter(),
                                  presolve=is_large)
            status = solver.solve(model)
            found = np.fromiter(solver.response_proto.solution, dtype=np.int64) \
                if status in (cp_model.OPTIMAL, cp_model.FEASIBLE) else None
            if status != cp_model.OPTIMAL:
                if solver.deterministic_time >= limit * 0.9:
                    if not partial:  # its limit stopped it: twice that in the next full round
                        self.full_round_limits[k] = min(LARGE_PIECE_DETERMINISTIC_S, 2 * limit)
                else:
                    short = True  # the wall clock stopped it
                    cut |= status == cp_model.UNKNOWN
            return solver.best_objective_bound / scale, found, solver.deterministic_time

        # the largest pieces first, so that the workers finish together
        searched = searched[np.argsort(-self.sizes[searched], kind="stable")]
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            outcomes = list(pool.map(search, searched.tolist()))
        for k, outcome in zip(searched.tolist(), outcomes, strict=True):
            if outcome is None:
                return None
            piece_bound, found, det = outcome
            spent += det + PIECE_OVERHEAD_S
            bound += piece_bound
            if found is not None:
                values[self.vars_of[k]] = found
        if cut and partial:
            return None
        return Priced(None if partial or not bound_wanted else bound - 1e-7 * abs(bound), values,
                      spent / max(1, workers), runners_up, short)

    def _proven_port_sets(self, priced: np.ndarray, columns: np.ndarray, written: np.ndarray
                          ) -> tuple[np.ndarray, np.ndarray]:
        """The pieces priced by their port sets whose column in `columns` (written: a
        mask over the pieces) costs no more at `priced` than a floor under every
        solution of theirs (subproblems.port_set_floors), and those floors."""
        sets = self.port_sets
        assert sets is not None
        floors = port_set_floors(sets, priced, self.lower, self.upper)
        cost = np.bincount(sets.piece_var_at, minlength=len(sets.pieces),
                           weights=priced[sets.piece_vars] * columns[sets.piece_vars])
        finite = np.isfinite(floors)
        slack = PROVEN_SLACK * np.maximum(1.0, np.abs(np.where(finite, floors, 0.0)))
        proven = written[sets.pieces] & finite \
            & (cost <= np.where(finite, floors, 0.0) + slack)
        return sets.pieces[proven], floors[proven]

    def large_piece_seconds(self, deterministic_s: float, seconds: float, workers: int
                            ) -> float:
        """A large piece's search in a full round: LARGE_PIECE_DETERMINISTIC_S, or
        LARGE_PIECES_SHARE of `seconds` on `workers` shared among the large pieces when
        less, never less than `deterministic_s`."""
        count = int(np.count_nonzero(self.sizes[~self.choose_one] > LARGE_PIECE))
        shared = LARGE_PIECES_SHARE * seconds * max(1, workers) / max(1, count)
        return max(deterministic_s, min(LARGE_PIECE_DETERMINISTIC_S, shared))

    def ranked_choose_one(self, priced: np.ndarray, depth: int) -> list[np.ndarray]:
        """The choose-one pieces' variables by cost at `priced`: the cheapest of each
        piece, then the second cheapest (of the pieces that have one), ... `depth` deep."""
        order = np.lexsort((priced[self._one_vars], self._one_piece))
        sorted_piece = self._one_piece[order]
        rank = np.arange(len(order)) - np.searchsorted(sorted_piece, sorted_piece, side="left")
        return [self._one_vars[order[rank == k]] for k in range(depth)]

    def _piece_model(self, k: int, priced: np.ndarray) -> tuple[cp_model.CpModel, float]:
        """Piece k's model (its rows built once, then copied) with `priced` as its
        objective (lagrange.priced_objective's scale)."""
        variables = self.vars_of[k]
        base = self._models.get(k)
        if base is None:
            base = piece_constraints(self.builder, self.rows_of[k], variables, self.position,
                                     self.lower, self.upper)
            self._models[k] = base
        model = cp_model.CpModel()
        model.proto.copy_from(base.proto)
        return model, priced_objective(model, priced[variables], self.upper[variables])

    # ------------------------------------------------------------------ the master IP

    def spend_substitution(self, columns: sparse.csr_matrix | None = None
                           ) -> SpendSubstitution:
        """The free variables each defined by a coupling row of its own (a spend total:
        sum of the columns' spend - the variable = 0), as functions of the columns
        (`columns`: the coupling rows x columns matrix, when the caller has it)."""
        free_link = self.link[:, self.free].tocsr()
        rows = np.flatnonzero(np.diff(free_link.indptr) == 1)  # one free variable each
        at = free_link.indptr[rows]
        variable, sign = free_link.indices[at], free_link.data[at]
        defines = (np.abs(sign) == 1) & np.isfinite(self.link_lo[rows]) \
            & (self.link_lo[rows] == self.link_hi[rows]) \
            & (self.objective[self.free[variable]] == 0)
        rows, variable, sign = rows[defines], variable[defines], sign[defines]
        variables, first = np.unique(variable, return_index=True)  # one row a variable
        rows, signs = rows[first], sign[first]
        if columns is None:
            columns = self._columns_matrix().tocsr()
        # sum(a x) + sign * variable = rhs: variable = sign * (rhs - sum(a x)), sign +-1
        return SpendSubstitution(
            variables=variables, rows=rows,
            matrix=sparse.csr_matrix(sparse.diags(signs) @ columns[rows]),
            constant=signs * self.link_lo[rows],
            kept=np.setdiff1d(np.arange(len(self.free)), variables))

    def ip_model(self, hint: np.ndarray | None, allowed: np.ndarray | None = None,
                 substitution: SpendSubstitution | None = None) -> cp_model.CpModel:
        """The master in integers: one column per piece (a 0/1 variable each, then the
        free variables that stay), the coupling rows kept; hinted with the columns of
        `hint` (a value per variable) when the master has them all. `allowed`: a mask of
        the columns it may choose (the others are fixed to 0).

        The spend totals are substituted out (`substitution`, by default
        spend_substitution's): the caps become rows over the columns alone, knapsacks
        CP-SAT's search and LP handle directly. On 13 masters of 1,000-workload fleets
        at 10 s, the search over all columns from the same plan, two seeds, 1.2 s: mean
        0.232 % above the master's LP with them substituted, 0.256 % without (seeds 2 and
        3: 0.229 / 0.250 %; 2.5 s: 0.203 / 0.234 %); 21 masters, 1.3 s: 0.208 / 0.223 %
        and 0.206 / 0.227 %. In whole 10 s solves the plans moved within their spread
        (BENCHMARKS.md, thirty-fifth session)."""
        columns = self._columns_matrix().tocsr()
        if substitution is None:
            substitution = self.spend_substitution(columns)
        n_cols, kept = self.columns, substitution.kept
        free_link = self.link[:, self.free].tocsc()
        through = free_link[:, substitution.variables]  # rows x substituted variables
        # a row sum(b x) + sum(d f) over f = c - H x: sum((b - d H) x) + d c
        rows = (columns - through @ substitution.matrix).tocsr()
        shift = through @ substitution.constant
        rows_lo, rows_hi = self.link_lo - shift, self.link_hi - shift
        kept_link = free_link[:, kept].tocsr()
        model = cp_model.CpModel()
        proto = model.proto
        for upper in (np.ones(n_cols, dtype=np.int64) if allowed is None
                      else allowed.astype(np.int64)).tolist():
            proto.variables.add().domain.extend((0, upper))
        for lo, hi in zip(self.lower[self.free[kept]].tolist(),
                          self.upper[self.free[kept]].tolist(), strict=True):
            proto.variables.add().domain.extend((lo, hi))
        order = np.argsort(self.col_piece, kind="stable")
        for group in np.split(order, np.flatnonzero(np.diff(self.col_piece[order])) + 1):
            proto.constraints.add().exactly_one.literals.extend(group.tolist())

        def add_row(cols: np.ndarray, coeffs: np.ndarray, lo: float, hi: float) -> None:
            coeffs = np.rint(coeffs).astype(np.int64)
            nonzero = coeffs != 0
            if not nonzero.any():
                return
            linear = proto.constraints.add().linear
            linear.vars.extend(cols[nonzero].tolist())
            linear.coeffs.extend(coeffs[nonzero].tolist())
            # a bound past INT64_SAFE (a substituted total's unbounded end) is no bound
            linear.domain.extend((int(max(lo, -INT64_SAFE)) if math.isfinite(lo) else -INT64_SAFE,
                                  int(min(hi, INT64_SAFE)) if math.isfinite(hi) else INT64_SAFE))

        defining = np.zeros(len(self.coupling), dtype=bool)
        defining[substitution.rows] = True
        for r in np.flatnonzero(~defining).tolist():
            span = slice(rows.indptr[r], rows.indptr[r + 1])
            free_span = slice(kept_link.indptr[r], kept_link.indptr[r + 1])
            add_row(np.concatenate((rows.indices[span], kept_link.indices[free_span] + n_cols)),
                    np.concatenate((rows.data[span], kept_link.data[free_span])),
                    rows_lo[r], rows_hi[r])
        # the substituted variables' bounds: lo <= c - H x <= hi
        matrix = substitution.matrix
        for j, variable in enumerate(substitution.variables.tolist()):
            span = slice(matrix.indptr[j], matrix.indptr[j + 1])
            lo, hi = self.lower[self.free[variable]], self.upper[self.free[variable]]
            add_row(matrix.indices[span], matrix.data[span],
                    substitution.constant[j] - hi, substitution.constant[j] - lo)
        costs = np.concatenate((np.rint(self.col_cost),
                                self.objective[self.free[kept]])).astype(np.int64)
        keep = np.flatnonzero(costs != 0)
        proto.objective.vars.extend(keep.tolist())
        proto.objective.coeffs.extend(costs[keep].tolist())
        if hint is not None:
            chosen = self.column_of(hint)
            if (chosen >= 0).all():
                on = np.zeros(n_cols, dtype=np.int64)
                on[chosen] = 1
                proto.solution_hint.vars.extend(range(n_cols + len(kept)))
                proto.solution_hint.values.extend(on.tolist() + hint[self.free[kept]].tolist())
        return model

    def free_values(self, chosen: np.ndarray, kept_values: np.ndarray,
                    substitution: SpendSubstitution) -> np.ndarray:
        """The free variables' values for one column per piece (`chosen`): those
        `substitution` defines from the columns, its kept ones `kept_values` (in order)."""
        on = np.zeros(self.columns)
        on[chosen] = 1.0
        values = np.zeros(len(self.free), dtype=np.int64)
        values[substitution.variables] = np.rint(
            substitution.constant - substitution.matrix @ on).astype(np.int64)
        values[substitution.kept] = kept_values
        return values

    def solve_ip(self, hint: np.ndarray | None, deterministic_s: float, wall_s: float,
                 seed: int = 0, allowed: np.ndarray | None = None,
                 log: bool = False, stop: SearchStop | None = None) -> MasterSolution:
        """The master in integers by CP-SAT (ip_model) on one worker, not dwelling on the
        hint; without presolve over all columns (see FULL_MASTER_S), with it over a few
        (`allowed`): there it removes the others. `stop`: another thread may end it."""
        substitution = self.spend_substitution()
        model = self.ip_model(hint, allowed, substitution)
        solver = cp_model.CpSolver()
        params = solver.parameters
        params.num_workers = 1
        params.random_seed = seed
        params.linearization_level = 2
        params.cut_level = MASTER_CUT_LEVEL
        params.cp_model_presolve = allowed is not None
        params.hint_conflict_limit = 0
        params.max_deterministic_time = max(0.01, deterministic_s)
        params.max_time_in_seconds = max(0.01, wall_s)
        params.catch_sigint_signal = False
        if log:
            params.log_search_progress = True
            solver.log_callback = lambda line: print(line, file=sys.stderr)
        if stop is not None and not stop.running(solver):
            return MasterSolution(None, None, "NOT_STARTED", 0.0, False)
        status = solver.solve(model)
        if stop is not None:
            stop.running(None)
        values, objective = None, None
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            solution = np.fromiter(solver.response_proto.solution, dtype=np.int64)
            on = solution[:self.columns] > 0
            chosen = np.zeros(self.pieces, dtype=np.int64)
            chosen[self.col_piece[on]] = np.flatnonzero(on)
            values = self.values(chosen, self.free_values(chosen, solution[self.columns:],
                                                          substitution))
            objective = round(solver.objective_value)
        return MasterSolution(values, objective, solver.status_name(status),
                              solver.deterministic_time,
                              status != cp_model.OPTIMAL
                              and solver.deterministic_time < deterministic_s * 0.999)


def solve_master(master: Master, incumbent: np.ndarray, deterministic_s: float,
                 deadline: float, seed: int = 0, workers: int = 1,
                 log: bool = False, also: np.ndarray | None = None,
                 stop: SearchStop | None = None, lp_seconds: float = 0.0) -> MasterSolution:
    """The master in integers from `incumbent` (a plan whose columns it has): first over
    the columns its LP uses (with presolve, in a fraction of a second); then, one search
    per worker (seeds seed, seed + 1, ...), over some of the columns with presolve and,
    given FULL_MASTER_S or more, over all of them from the cheaper plan; the cheapest
    plan kept (the first on a tie). The first worker's first search has the LP's columns
    and `also` (the LP at the caps' prices leaves out the columns that move spend across
    them, cap_columns; without them it searches all columns at once), the second's these
    and each piece's CHEAPEST_COLUMNS cheapest at the LP's prices
    (Master.cheapest_columns); the others search all columns at once. The LP is the last
    one solved (Master.last_lp: the columns added since are left to the searches over
    all, and to `also`) where a new one should take (`lp_seconds`) more than
    MASTER_LP_SHARE of the time, or does not finish in it.
    The searches over some columns have SUPPORT_SHARE of the wall clock, at least
    SUPPORT_MIN_S, when the searches over all follow. `stop`: another thread may end
    them (the best plan found by then is the answer)."""
    lp = None
    if master.has_lp() or lp_seconds <= MASTER_LP_SHARE * (deadline - time.perf_counter()):
        lp = master.solve_lp(deadline - time.perf_counter())
    if lp is None:
        lp = master.last_lp
    start = MasterSolution(incumbent, None, "NOT_STARTED", 0.0, False)
    workers = max(1, workers)
    subsets: list[np.ndarray | None] = [None] * workers  # per worker: its first search's
    support_ends = deadline
    if lp is not None:
        allowed = np.zeros(master.columns, dtype=bool)
        allowed[:len(lp.weights)] = lp.weights > SUPPORT
        allowed[master.column_of(incumbent)] = True
        wall = deadline - time.perf_counter()
        if deterministic_s >= 2 * FULL_MASTER_S:  # room for both searches
            wall = min(wall, max(SUPPORT_SHARE * wall, SUPPORT_MIN_S))
        support_ends = time.perf_counter() + wall
        support = master.solve_ip(incumbent, deterministic_s, wall, seed, allowed, log, stop)
        if support.values is not None:
            start = support
        # searches after it rather than one over all these columns: its plan stays where
        # a larger one is cut short without a better one
        if also is not None and len(also):
            allowed[also] = True
            subsets[0] = allowed
        if workers >= 2 and CHEAPEST_COLUMNS:
            # its start is over the LP's columns and the incumbent's, all in `allowed`
            subsets[1] = allowed | master.cheapest_columns(lp.duals, CHEAPEST_COLUMNS)
    left = deterministic_s - start.deterministic_time
    if left < FULL_MASTER_S and all(subset is None for subset in subsets):
        return start
    if time.perf_counter() >= deadline or (stop is not None and stop.stopped):
        return replace(start, cut_by_time=True)  # the clock's end, as in search below

    def search(k: int) -> MasterSolution:
        first = replace(start, deterministic_time=0.0, cut_by_time=False)
        subset = subsets[k]
        if subset is not None and time.perf_counter() < support_ends:
            found = master.solve_ip(start.values, left, support_ends - time.perf_counter(),
                                    seed + k, subset, log, stop)
            first = replace(found if _cheaper(found, start) else start,
                            deterministic_time=found.deterministic_time,
                            cut_by_time=found.cut_by_time)
        if left - first.deterministic_time < FULL_MASTER_S:
            return first
        if time.perf_counter() >= deadline or (stop is not None and stop.stopped):
            return replace(first, cut_by_time=True)  # the clock's, not the search's, end
        rest = master.solve_ip(first.values, left - first.deterministic_time,
                               deadline - time.perf_counter(), seed + k, log=log, stop=stop)
        return replace(rest if _cheaper(rest, first) else first,
                       deterministic_time=first.deterministic_time + rest.deterministic_time,
                       cut_by_time=first.cut_by_time or rest.cut_by_time)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        found = list(pool.map(search, range(workers)))
    best = start
    for solution in found:
        if _cheaper(solution, best):
            best = solution
    return MasterSolution(best.values, best.objective, best.status,
                          start.deterministic_time + max(f.deterministic_time for f in found),
                          any(f.cut_by_time for f in (start, *found)))


def _cheaper(solution: MasterSolution, than: MasterSolution) -> bool:
    """`solution` has a plan (an objective: solve_ip gives both or neither), and `than`
    none or a dearer one."""
    return solution.objective is not None and (than.objective is None
                                               or solution.objective < than.objective)


class EarlySearch:
    """The master in integers (solve_master, on one worker) on a thread of its own, over
    the columns the master holds when it starts (Master.frozen), while the rounds go on:
    the master's own searches start from its plan where cheaper. It starts once the
    rounds near their bound (generate_columns' near_bound); `result` stops it.

    On two cores the rounds leave about half a core idle (their partial rounds and LPs
    run on one thread), and the master's search wants three to six times the 1.3 s a
    10 s solve gives it (BENCHMARKS.md). Six 1,000-workload fleets at 10 s, four runs
    each, taking turns with the code before: mean gap 0.252 % against 0.285 % (within
    0.1 %: 3 of 24 against 2); over four such comparisons of it and its drafts, 90 runs
    each way, 0.262 % against 0.291 %. At 100 workloads, seed 4: 0.35 % against 2.16 %.
    Its plan depends on when it is stopped (EarlySearch.result)."""

    def __init__(self, master: Master, incumbent: np.ndarray, deadline: float,
                 seed: int) -> None:
        self.master, self.incumbent, self.deadline, self.seed = master, incumbent, deadline, seed
        self._stop = SearchStop()
        self._future: Future[MasterSolution] | None = None

    def start(self) -> None:
        """Starts the search over the master's columns now (once; not once stopped)."""
        if self._future is not None or self._stop.stopped:
            return
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="early-master")
        self._future = pool.submit(self._search, self.master.frozen())
        pool.shutdown(wait=False)

    def _search(self, frozen: Master) -> MasterSolution:
        _yield_to_other_threads()
        return solve_master(frozen, self.incumbent, math.inf, self.deadline, self.seed, 1,
                            stop=self._stop)

    def result(self, stop: bool = True) -> MasterSolution | None:
        """Its plan when it found one (None: it never started, or found none), the
        search stopped first (`stop`; else it ends by its deadline). Stopped before its
        end, its plan is the clock's: cut_by_time."""
        # done before the stop: it ended on its own (or by its deadline: cut_by_time)
        ended = not stop or (self._future is not None and self._future.done())
        if stop:
            self._stop.stop()
        if self._future is None:
            return None
        # a stop just before CP-SAT sets its search up is lost (ortools stops only a
        # search under way): said again until the search ends
        while stop and not wait([self._future], timeout=STOP_AGAIN_S).done:
            self._stop.stop()
        found = self._future.result()
        if found.objective is None:
            return None
        return found if ended else replace(found, cut_by_time=True)


# The search beside the rounds runs at this nice value (Linux: per thread, and its CP-SAT
# threads inherit it): the rounds' full rounds search pieces on both cores, and they
# give the bound.
EARLY_SEARCH_NICE = 10
STOP_AGAIN_S = 0.05  # how often a stop is said again until the search ends


def _yield_to_other_threads() -> None:
    """This thread at EARLY_SEARCH_NICE, where the system allows (Linux)."""
    if not sys.platform.startswith("linux"):
        return
    thread = threading.get_native_id()
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, thread,
                       max(os.getpriority(os.PRIO_PROCESS, thread), EARLY_SEARCH_NICE))


def perturbed_columns(master: Master, duals: np.ndarray, hint: np.ndarray | None,
                      deadline: float, seed: int, workers: int = 1,
                      should_stop: Callable[[], bool] | None = None,
                      rounds: int = PERTURBED_ROUNDS) -> int:
    """Up to `rounds` partial rounds (_rounds_at) at `duals` (the master's last prices),
    each price times a factor drawn within PERTURBED_SPREAD of 1 (seeded: the same
    `seed`, the same draws). Returns the rounds done."""
    rng = np.random.default_rng(seed)
    perturbed = ((duals * rng.uniform(1 - PERTURBED_SPREAD, 1 + PERTURBED_SPREAD, len(duals)),
                  False) for _ in range(rounds))
    return _rounds_at(master, perturbed, hint, deadline, workers, should_stop)


def cap_columns(master: Master, duals: np.ndarray, hint: np.ndarray | None,
                deadline: float, workers: int = 1,
                should_stop: Callable[[], bool] | None = None) -> np.ndarray:
    """Rounds (_rounds_at) at `duals` (the master's last prices) with the spend rows'
    prices scaled by each of CAP_PRICE_FACTORS in turn, the first CAP_FULL_ROUNDS
    searching every piece. Nothing where no spend row is priced (no cap or budget
    binds). Returns the columns added (the last ones)."""
    families = np.array(master.builder.row_family)[master.coupling]
    spend = (families == "spend") & (duals != 0)
    first = master.columns
    if spend.any():
        scaled = ((np.where(spend, duals * factor, duals), k < CAP_FULL_ROUNDS)
                  for k, factor in enumerate(CAP_PRICE_FACTORS))
        _rounds_at(master, scaled, hint, deadline, workers, should_stop)
    return np.arange(first, master.columns)


def _rounds_at(master: Master, rounds: Iterable[tuple[np.ndarray, bool]],
               hint: np.ndarray | None, deadline: float, workers: int,
               should_stop: Callable[[], bool] | None) -> int:
    """A round at each of `rounds`' prices (of the coupling rows), in turn: every piece
    searched where its flag says so (a full round, whose searches end by `deadline`; no
    bound is wanted of it, so the pieces it reaches after that are left out: a part of
    a 30,000 fleet, 60-93 pieces, ended 0.56-0.86 s past it, and its master, next, had
    that much less time or, where the wall clock then stopped the part, none), else the
    small pieces that need a search; their solutions into the master as columns.
    A partial round is not started where it would end after `deadline` (as long as the
    last partial one), and no round once stopped. Returns the rounds done."""
    needs_search = np.flatnonzero(~master.choose_one)
    small = needs_search[master.sizes[needs_search] <= LARGE_PIECE]
    done, partial_s = 0, 0.0  # partial_s: the last partial round's wall clock
    for prices, full in rounds:
        started = time.perf_counter()
        if started + (0.0 if full else partial_s) > deadline \
                or (should_stop is not None and should_stop()):
            break
        priced = master.price(prices, hint, workers, deadline, should_stop=should_stop,
                              searched=None if full else small, bound_wanted=False)
        if priced is None:
            break
        master.add_priced(priced)
        done += 1
        if not full:
            partial_s = time.perf_counter() - started
    return done


def price_without_search(master: Master, pieces: Pieces) -> int:
    """For a guide, where no bound is wanted: the pending pieces that need no search at
    the pieces' prices, the choose-one ones by an argmin, the serving workloads alone by
    cover_columns and the pieces sharing ports by port_set_columns, written into
    pieces.values and taken off pieces.pending. Their bound stays the LP's value (a
    cover by cells is not always the cheapest, so it proves nothing). Returns how many
    were taken. A part of the 100k fleet: 321 of 374 pending pieces in 0.03 s, where
    their searches one by one took about 4 s; the 53 sharing ports took 2.75 s more."""
    if not pieces.pending:
        return 0
    pending = np.array(pieces.pending, dtype=np.int64)
    # each pending piece's index in the master (every pending piece has rows)
    index = master.piece_of[np.array([pieces.vars_of[p][0] for p in pending.tolist()])]
    is_pending = np.zeros(master.pieces, dtype=bool)
    is_pending[index] = True
    values = pieces.values.copy()
    priced = pieces.priced
    if len(master._one_vars):
        values[master._one_vars] = 0
        values[master.ranked_choose_one(priced, 1)[0]] = 1
    taken = master.choose_one.copy()
    if master.covers is not None and len(master.covers.need):
        own = master.cover_own & is_pending[np.maximum(master.cover_piece, 0)]
        done = cover_columns(master.covers, priced, own, values)
        taken[master.cover_piece[done]] = True
    if master.port_sets is not None:
        taken |= port_set_columns(master.port_sets, priced, values, is_pending & ~taken,
                                  master.lower, master.upper)
    taken &= is_pending
    write = (master.piece_of >= 0) & taken[np.maximum(master.piece_of, 0)]
    pieces.values[write] = values[write]
    pieces.pending = pending[~taken[index]].tolist()
    return int(taken.sum())


def generate_columns(master: Master, center: np.ndarray, center_bound: float,
                     hint: np.ndarray | None, budget_s: float, deadline: float,
                     workers: int = 1, should_stop: Callable[[], bool] | None = None,
                     full_round_s: float = 0.0, full_rounds: bool = True,
                     finish_by: float | None = None, partial_round_s: float = 0.0,
                     near_bound: Callable[[np.ndarray, float], bool] | None = None,
                     stop_above: float = math.inf) -> ColumnGeneration:
    """Rounds of: the master's LP, the pieces priced at its duals smoothed towards
    `center` (prices of the coupling rows whose Lagrangian bound is `center_bound`, the
    LP relaxation's), new columns into the master. Until the master's LP meets the
    bound, `budget_s` (deterministic) is spent, or the wall clock reaches `deadline`.

    A partial round prices the choose-one pieces and the serving workloads alone (Covers)
    without a search, and searches only the other small pieces whose last search gave a
    new column. A full round solves every piece (the only kind that gives a bound), at
    the master's own duals (see the module's docstring): when the partial rounds are
    spent (one found nothing new, or the master's LP stalled, STALLED) and the wall
    clock leaves what the last full round took (`full_round_s` before the first) before
    `deadline`, or for the first one before `finish_by` (default `deadline`), to which a
    full round may run; a full round that finds nothing new ends them. Without
    `full_rounds` (no bound wanted: a guide) every round is partial, and the rounds stop
    where a full round would come, or where the next round's pricing and the master's LP
    after it would not end by `deadline` (the pricing as long as the last round's, the
    first's `partial_round_s`). `near_bound` is called with the master LP's column
    weights and the share it is above the best bound, when that LP first comes within
    NEAR_BOUND of the best bound after a full round, or first follows the
    NEAR_BOUND_FULL_ROUNDS-th full round, and after each full round after that until
    the LP is within NEAR_BOUND: where it returns True the rounds end there (a
    branching goes on from them, placer.solve). They also end once the bound passes
    `stop_above` (a node of a branching above a leaf known lower, placer.port_tree)."""
    started = time.perf_counter()
    finish_by = deadline if finish_by is None else max(deadline, finish_by)
    best, spent, rounds, cut, above = center_bound, 0.0, 0, False, False
    smoothing = SMOOTHING
    lp_objective: float | None = None
    last_duals: np.ndarray | None = None
    last_weights: np.ndarray | None = None
    needs_search = np.flatnonzero(~master.choose_one)
    fresh = np.ones(master.pieces, dtype=bool)  # its last search gave a new column
    spent_partial = False  # the next round wants a full one (with a bound wanted)
    full_done, full_s = 0, 0.0
    objectives: list[float] = []  # the master LP's, round by round since the last full one
    # a guide's partial round prices only where its pricing (as long as the last one's)
    # and the master's LP after it (in proportion to its columns, the round adding as
    # many as the last one, the first CHOOSE_ONE_COLUMNS a piece) end by the deadline:
    # a part of the 100,000 fleet on a busy core started its third round 0.4 s before
    # it and ended 0.3 s after, its master's LP took 0.67 s, and its search in
    # integers, left 0.17 s, found no plan
    pricing_s, adds = partial_round_s, CHOOSE_ONE_COLUMNS * master.pieces
    lp_per_column = 0.0  # the last master LP's wall-clock seconds per column
    asked_after = 0  # near_bound was last asked after this many full rounds

    def round_ends(at: float, with_lp: bool) -> float:
        """When a guide's round from `at` (with its own LP first, when `with_lp`) and the
        master's LP after it would end."""
        return at + pricing_s + lp_per_column * (
            master.columns * (2 if with_lp else 1) + adds)

    while spent < budget_s:
        # after `deadline` only a full round, once wanted, may start (and a guide's round
        # not where its LP, its pricing and the master's LP after it would end later)
        now = time.perf_counter()
        if (should_stop is not None and should_stop()) or \
                (now >= deadline and not (full_rounds and spent_partial)) or \
                (not full_rounds and round_ends(now, with_lp=True) > deadline):
            cut = True
            break
        # with a bound wanted its LP may run on too (it may find the partial rounds spent);
        # a guide's end by the deadline (a part of the 100,000 fleet, on a busy core, had
        # left its master 0.05 s and no plan)
        lp = master.solve_lp((finish_by if full_rounds else deadline) - time.perf_counter())
        if lp is None:
            cut = True
            break
        lp_per_column = lp.seconds / max(1, master.columns)  # a kept LP: its own solve's
        lp_objective, last_duals, last_weights = lp.objective, lp.duals, lp.weights
        if near_bound is not None and full_done > asked_after \
                and (lp.objective - best <= NEAR_BOUND * abs(lp.objective)
                     or full_done >= NEAR_BOUND_FULL_ROUNDS):
            behind = (lp.objective - best) / max(abs(lp.objective), 1e-12)
            if near_bound(lp.weights, behind):
                break
            # asked again after the next full round until the LP is near the bound
            # (NEAR_BOUND_FULL_ROUNDS)
            asked_after = full_done
            if behind <= NEAR_BOUND:
                near_bound = None
        if lp.objective - best <= CONVERGED * abs(lp.objective):
            break
        objectives.append(lp.objective)
        spent_partial |= len(objectives) > STALL_ROUNDS and \
            objectives[-STALL_ROUNDS - 1] - lp.objective <= STALLED * abs(lp.objective)
        full = full_rounds and spent_partial
        if spent_partial and not full:
            break  # a guide: nothing more to gain from partial rounds
        round_started = time.perf_counter()
        if not full_rounds and round_ends(round_started, with_lp=False) > deadline:
            cut = True
            break
        columns_before = master.columns
        # the first full round may run to finish_by (it gives the bound), the others
        # must end by the deadline
        if full and (deadline - round_started < full_round_s if full_done
                     else finish_by - round_started < FIRST_ROUND_FITS * full_round_s):
            cut = True  # the wall clock chose: another run may choose otherwise
            break
        duals = lp.duals if full else smoothing * center + (1 - smoothing) * lp.duals
        # a partial round searches no large piece (workloads sharing a port: 21 of 332
        # searched pieces at 1,000 workloads, half the time of a round; priced by their
        # port sets instead, Master.price)
        searched = None if full else needs_search[fresh[needs_search]
                                                  & (master.sizes[needs_search] <= LARGE_PIECE)]
        priced = master.price(duals, hint, workers, finish_by if full else deadline,
                              should_stop=should_stop, searched=searched)
        rounds += 1
        spent += ROUND_OVERHEAD_S
        if priced is None:
            cut = True
            break
        spent += priced.deterministic_time
        cut |= priced.cut_short
        pricing_s = time.perf_counter() - round_started
        if full:
            full_round_s = time.perf_counter() - round_started
            full_done, full_s = full_done + 1, full_s + full_round_s
            objectives, spent_partial = [], False
        if priced.bound is not None and priced.bound > best:
            best, center = priced.bound, duals
        added = master.add_priced(priced)
        if best > stop_above:  # (not on a tie: two leaves tied would take turns)
            above = True
            break
        searched_now = needs_search if searched is None else searched
        fresh[searched_now] = False
        fresh[added] = True
        adds = master.columns - columns_before
        if len(added) == 0:
            # nothing new at the master's own duals (a full round's are): the next round,
            # at the same duals, would find nothing either
            if full or (smoothing == 0 and not full_rounds):
                break
            # with a bound wanted, the next round a full one, else a partial one at the
            # master's own duals
            smoothing = smoothing if full_rounds else 0.0
            spent_partial = full_rounds
        else:
            smoothing = SMOOTHING
    return ColumnGeneration(best, lp_objective, last_duals, rounds, master.columns, spent,
                            cut, time.perf_counter() - started, full_done, full_s,
                            lp_per_column * master.columns, last_weights, above)
