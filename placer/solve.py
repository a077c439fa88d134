"""Solve: candidate table → CP-SAT model → solution → Plan.

Solver control lives here: time limit, workers, seed, gap, determinism, the warm-start
hint, the live progress line and Ctrl-C (which stops the search and keeps the best plan).

The steps: LP relaxation → Lagrangian bound at its duals (placer.lagrange) → warm start
(a plan, given as a hint) → column generation over the Lagrangian pieces and its master
in integers (placer.colgen; a cheaper plan, and a better bound when a round searched
every piece) → a search of the core (placer.core) from the cheaper plan → a search of
the whole model (the proof; only when the core's search ended early, and never on huge
models).
A large fleet (from 10,000 workloads, 4,000 given 20 s) or one whose LP is out of reach
is solved in parts (placer.parts), two side by side in worker processes
(placer.workers), each part by these steps.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
from ortools.sat.python import cp_model
from ortools.sat.python.cp_model_helper import SatParameters

from placer.candidates import Candidates, build_candidates, offering_ids, port_groups
from placer.capacity import proven_short
from placer.check import candidate_violations
from placer.colgen import (
    NEAR_BOUND,
    ColumnGeneration,
    EarlySearch,
    Master,
    cap_columns,
    generate_columns,
    perturbed_columns,
    price_without_search,
    solve_master,
)
from placer.core import CHEAPEST_ROWS_PER_WORKLOAD, cheapest_rows, core_candidates, core_rows
from placer.errors import PlacerError
from placer.explain import (
    Rebuild,
    caps_at_the_edge,
    explain_infeasible,
    lone_workload_reasons,
    no_candidate_reasons,
    policy_reasons,
)
from placer.lagrange import (
    PIECE_DETERMINISTIC_S,
    LagrangianBound,
    Pieces,
    price_pieces,
    search_pieces,
)
from placer.lns import SMALL_FLEET_TURNS, TURNS, Recombine, free_workloads, improve_by_chains
from placer.model import (
    BuiltModel,
    build_model,
    cap_fraction,
    choose_scale,
    fillable_capacity,
    force_unplaced,
    group_ids,
    to_units,
)
from placer.parts import PART_WORKLOADS, partition, solve_in_parts
from placer.plan import Plan, make_plan, part_answer, ports_used
from placer.port_tree import (
    SMALL_FLEET_WORKLOADS,
    PortTree,
    grow_port_tree,
    in_part,
    tree_fits,
    two_nodes_fit,
)
from placer.relax import (
    FULL_LP_COLUMNS,
    INSTANCE_CELLS,
    Caps,
    Infeasible,
    Once,
    Ports,
    PricedCapacity,
    Prices,
    Relaxation,
    Spread,
    price_capacity,
    solve_relaxation,
)
from placer.sample import LPPrices, averaged, sample_prices
from placer.schema import DIMENSIONS, Policy
from placer.spend import Violation, no_plan_by_spend
from placer.subproblems import inference_covers, workload_vars
from placer.warmstart import Placement, complete_hint, full_values, warm_start
from placer.workers import PartWorkers

if TYPE_CHECKING:
    from placer.problem import Problem

DEFAULT_TIME_LIMIT = 60.0
SMALL_MODEL_VARS = 5_000
# The core (placer.core) is searched first unless it holds more than this share of the
# rows (then it is hardly smaller than the whole); the whole model is searched after
# only if the core's search ends before the time limit, and never above
# WHOLE_SEARCH_VARS (CP-SAT's search of the 3.9M-variable model of 100,000 workloads
# took 18 GB).
CORE_MAX_SHARE = 0.5
# A core with more workloads to choose for than this is searched by neighbourhoods alone
# (placer.lns): 1,000 workloads $21.95M at 10 s against $22.20M in one search.
LNS_ABOVE_WORKLOADS = 200
# A smaller core is searched at once for at most this share of the time limit
# (deterministic), which proves small ones optimal (30 workloads: 0.09 s), then, unless
# that proved it, by neighbourhoods from its plan: 100 workloads, three fleets at 10 s,
# one search all along $1.584M / $2.078M / $2.539M, this $1.548M / $2.005M / $2.509M
# (0.1: $1.554M / $2.009M / $2.515M; neighbourhoods alone $1.542M / $2.003M / $2.493M,
# but no proof where one search gives it).
CORE_AT_ONCE_SHARE = 0.02
# On a small core the neighbourhoods get at most this many seconds (deterministic, per
# chain); the time left after them goes to CP-SAT's search of the whole model from their
# plan, with its full portfolio rather than the deterministic interleaved one, which
# raises the bound and may find a cheaper plan, but not reproducibly (the plan says
# deterministic false, as the wall clock made such runs before). 100 workloads, 60 s,
# thirteen fleets: plans the same or cheaper (by up to 1.1 %), mean gap 1.22 % -> 0.49 %,
# six within 0.1 % (one before), four proven optimal (seed 0 in 30-41 s, where HiGHS takes
# six minutes); with the interleaved search instead, bounds hardly moved. At 10 s the
# neighbourhoods reach the wall clock first (5-7 deterministic seconds a chain): no change.
WHOLE_AFTER_NEIGHBOURHOODS_S = 8.0
WHOLE_SEARCH_VARS = 1_000_000
# Where neither the warm start nor column generation's master keeps the rules, the whole
# model is searched for a first plan alone (solve._first_plan), by workers that branch on
# the LP's reduced costs (CP-SAT's LP_SEARCH), one per thread with seeds of their own;
# the core's searches then improve that plan. The 100-workload fleet of seed 2 under
# 20 % / 50 % caps, where CP-SAT's default portfolio (default_lp, first-solution and
# neighbourhood workers) found no plan in 8 s of search for three seeds, nor in 60 s
# solves: six seeds on 2 workers, a plan 1.0-4.6 s into the search (one such worker and
# the first-solution worker: 1.4-7.2 s, and none in 19 s for one seed); as the one full
# worker beside feasibility jump, default_lp, pseudo_costs, max_lp, quick_restart,
# lb_tree_search and no_lp found none in 20 s on seed 10 of those fleets.
# ... in rounds of this many deterministic seconds at first, each twice the one before and
# with the next seeds: the time to a first plan is heavy-tailed (seed 10 above, six seeds:
# 3.2, 8.9 and 9.6 s, and three with none in 12.9-14.7 s).
FIRST_PLAN_ROUND_S = 6.0
# Where a fleet's parts found no plan, CP-SAT's presolve alone looks for a proof that
# none exists in at most this share of the time limit, before the LP (solve._warm_start)
PRESOLVE_CHECK_SHARE = 0.1
NOT_EXPLAINED = "no plan keeps every rule (not explained: explanations were turned off)"
# The LP relaxation's time (lp_seconds): per candidate row, and more per row of a serving
# workload (its covers, instances and spread rules), measured with the rounding cuts on
# the tight sets (gangs alone: 2,000 / 5,000 workloads, 60k / 150k rows, 1.2 / 2.7 s) and
# the generated fleets (1,000 / 2,000 / 3,000 / 5,000 workloads, 32k / 66k / 99k / 166k
# rows of which 15k / 31k / 45k / 76k serving: 1.2 / 2.6 / 5.0 / 7.4 s; estimated 1.5 /
# 3.0 / 4.5 / 7.5 s). Earlier, one figure per row: 18 s for 335k rows (10,000 workloads,
# solved whole); at 3.35M rows (100,000, by column generation) the first restricted LP
# alone took 127 s.
LP_SECONDS_PER_ROW = 1.8e-5
LP_SECONDS_PER_SERVING_ROW = 6e-5
# An LP whose estimate is this many times what it may take is not tried, however small:
# the estimate runs up to 2.7 times the LP's time (a 2,452-workload part of the 100,000
# fleet, 81,742 rows: estimated 3.7 s, 1.4 s), and such a part given 1 s spent 0.78 s
# on its LP (0.35 s given 0.3 s) before pricing capacity instead (0.4 s).
LP_BEYOND_REACH = 5.0
# ... for a guide's LP (a part's), this many: the search after it gains more where the
# LP would take most of the part's time. The 100,000 fleet's parts given 2.2 s (a 60 s
# limit), most of whose LPs did not finish: 29.6 % above the bound with them tried,
# 18.6 % without; given 5.3 s (120 s), every LP finished: 12.8 % with them, 15.3 %
# without. (That part's LP is skipped below 2.6 s at this ceiling, below 1.1 s at 5.)
GUIDE_LP_BEYOND_REACH = 2.0
LP_SHARE = 0.3  # of the time limit, at most, for the LP relaxation
# ... which an LP with the cuts may overrun up to this share of the time left. It was
# solved again without the cuts where it ran out of its share, in as much time again;
# on tight-5000x60 that LP takes as long as with them (with them 2.6-2.9 s in the
# fiftieth session, against a share of 2.9 s), and on a busy machine both ran out:
# its plan 0.64 % above the bound, against 0.26-0.42 % with this limit (two and three
# busy loops beside it; fiftieth session). A fleet's LP with the cuts takes about
# twice as long as without them (a 2,500-workload part: 7.5-10.1 s against 4.0-4.6 s),
# so this covers what the LP without them did.
LP_LIMIT_SHARE = 0.6
# ... when no bound is wanted (a part of a fleet solved in parts), for an LP without the
# rounding cuts: there it is only a guide. A 2,000-workload part's LP took 4.6-5.6 s
# with them, 2.7-3.5 s without, on a machine where its share of a 10,000-workload
# fleet's minute is 11 s: at LP_SHARE it did not finish, and no column generation ran.
# Three such fleets at 11 s on one core, with cuts and without: $45.85M / $44.28M /
# $47.34M against $44.98M / $41.91M / $44.21M (0, 0, 0 and 2, 6, 3 rounds of columns).
GUIDE_LP_SHARE = 0.45
# ... which a guide's LP may overrun up to this share: without an LP its plan follows
# capacity prices alone (parts of the 100,000 fleet on a slow hour, 12.6 s each: two
# LPs of 6.3 s and 7.3 s alone against a share of 5.7 s, and those parts' plans 19-23 %
# dearer per workload than the median part's); the steps after it shrink to the time
# left (_after_lp).
GUIDE_LP_LIMIT_SHARE = 0.7
# The Lagrangian's pieces (placer.lagrange) are searched before the warm start, on every
# worker, for at most this share of the time limit (1,000 workloads: 137 pieces, 1.3 s
# on one thread): their plan guides it. Pieces left then are searched on one thread
# beside the search, for the bound (when wanted), for at most LAGRANGIAN_SHARE of the
# time left.
GUIDE_SHARE = 0.25
# A piece searched for the guide alone (no bound wanted: the parts, where nearly every
# piece is now priced without a search, colgen.price_without_search) needs no proof, so
# its search is cut short: a part of 2,000 workloads on one core in 11 s searched its
# 221 pieces in 2.7 s (cut by GUIDE_SHARE, some left at the LP's values) at
# lagrange.PIECE_DETERMINISTIC_S, 1.7 s at this; six such fleets, mean plan $42.64M ->
# $42.00M (0.002: $42.17M; 0.005 without presolve, 0.9 s: $42.40M). Where the bound is
# wanted the pieces keep their longer search (1,000 workloads at 10 s, five fleets,
# this for both: plans no better, $20.80M -> $20.84M, and the bound 1.6 % lower).
GUIDE_ONLY_PIECE_S = 0.005
# Where the bound is column generation's, the pieces are still searched at the LP's
# prices (after their pricing at once) for at most this share of the time limit: their
# optima there are columns the master in integers needs (100 workloads at 10 s: its plan
# $2.05M without them, $1.88M with, the 10 s plan $1.91M -> $1.88M; at 1,000 workloads,
# where the search takes 2 s and is cut short, mean gaps 0.78 % with and 0.77 % without
# over four fleets).
LP_PRICES_SEARCH_SHARE = 0.05
# Column generation (placer.colgen) after the warm start: its rounds for at most this
# share of the time limit (deterministic), then its master in integers for at most
# MASTER_SHARE; each on the wall clock for at most COLUMNS_WALL_FACTOR times as long.
# The neighbourhoods after the master gain more from its last seconds than it does: 1,000
# workloads at 10 s, three fleets, 0.15 / 0.1 / 0.05: $20.62M / $20.53-20.55M / $20.55M,
# $20.42M / $20.36-20.38M / $20.39M, $21.97M / $21.73M / $21.75M (100 workloads: the same
# within the spread).
COLUMNS_SHARE = 0.3
MASTER_SHARE = 0.1
COLUMNS_WALL_FACTOR = 1.5
# ... and, a guide's master, after the rounds columns from prices near its LP's for at
# most this share (colgen.perturbed_columns), out of what the rounds leave it: the
# 10,000 fleet at 60 s (parts of 27 s), two runs each, seeds 0 / 1: $200.16-200.23M /
# $200.35-200.41M against $200.32-200.33M / $200.58-200.61M; 100,000 workloads 0.95 %
# and 0.98 % (1.03 % the session before). Not with a bound wanted: the 1,000 fleet at
# 10 s, whose master has 1.5 s, three runs, 0.18-0.34 % against 0.15-0.17 % (BENCHMARKS.md,
# What did not help).
PERTURBED_SHARE = 0.1
# ... and then rounds across the caps (colgen.cap_columns) for at most this share: the
# first round (every piece searched, 0.5-0.7 s at 1,000 workloads) and a few of the
# others. 1,000 workloads at 10 s, seeds 0 / 1 / 2, mean gaps over three to six runs:
# 0.25 0.151 / 0.583 / 0.203 %; 0.12 0.144 / 0.561 / 0.174 %; 0.08 0.157 / 0.620 /
# 0.160 %; none 0.230 / 0.689 / 0.168 %
CAP_SHARE = 0.12
# ... and the master this much longer (deterministic) for its search over them, out of the
# search's after it: charged to the master's own time, they left its search over all
# columns too little on one fleet (rounds up to 25 % of the time limit; 1,000 workloads,
# seed 2, four runs each at 10 s: plans $21.2165M on average, the code before
# $21.1999M, this $21.2083M; seeds 0 and 1 $20.2580M / $20.2411M, the code before
# $20.2734M / $20.2586M, this $20.2572M / $20.2375M)
ACROSS_CAPS_MASTER_S = 0.5
# ... and the search after them keeps at least this share; the warm start before them
# has this share rather than WARM_START_SHARE (the master soon does better)
SEARCH_SHARE = 0.1
COLUMNS_WARM_START_SHARE = 0.03
# ... but each of the master and the search after it at most this share of the time left
# when column generation starts: where the LP and the pieces took most of the limit (a
# part of the 100k fleet, 11 s on one core, about 3 s left), fixed shares left the rounds
# no time at all (29 of its 50 parts had none). The 100k fleet's first two parts side by
# side, two fleets, two runs each: $98.9M / $94.1M before, $94.9M / $92.6M with the
# pieces priced without search (below), $94.0M / $90.5M with this as well (0.15: the
# master too short to better the warm start).
LEFT_SHARE = 0.2
# The master's search beside the rounds (colgen.EarlySearch) wants a core of its own:
# with fewer workers (a part of a large fleet, side by side with another) none runs.
EARLY_SEARCH_WORKERS = 2
# Column generation runs when the Lagrangian bound at the LP's duals is above the LP's by
# more than this share: where it is not (the tight candidates-format sets, each workload
# one row of its own), the master's columns are few rows the LP's prices pick, and its
# plan was dearer than the neighbourhoods' over all rows (2,000 x 60, 10 s: $25.39M
# against $25.34M).
PIECES_GAIN = 1e-4
LAGRANGIAN_SHARE = 0.9
# A round at the master's prices runs beside the master and the search after it (when
# none ran among column generation's) only where it should take at most this share of
# the time left on one thread: cut short, its large pieces keep weak bounds (1,000
# workloads: $19.26M, where the LP's duals' pieces searched beside give $19.8M).
BESIDE_ROUND_FITS = 0.5
# The warm start's local search, at most this share of the time limit: the
# neighbourhoods after it gain more a second (10,000 workloads, 60 s: 0.25 / 0.1 / 0.03
# $220.1M / $218.0M / $218.3M; 1,000, 10 s: 0.25 / 0.1 about the same).
WARM_START_SHARE = 0.1
# A plan of the neighbourhoods recombined with a small master's columns (one its search
# proved optimal over them), deterministic seconds: 100 workloads, three fleets, the 10 s
# plan's columns added to the master, optimal in 0.05-0.13 s.
RECOMBINE_DETERMINISTIC_S = 0.5
# The bound without an LP (_price_capacity): subgradient steps from zero, or from the
# prices of a sample's LP (placer.sample), which may take this share of the time. From
# the sample's prices more steps lowered the bound at 100,000 workloads once whole
# instances entered it ($1,887.3M with none, $1,882.9M after 300 in 12 s more); the
# start is kept when it stays better, so a few steps cannot lose.
PRICE_STEPS = 300
START_STEPS = 30
SAMPLE_SHARE = 0.05
# ... but at least SAMPLE_MIN_S where that is at most SAMPLE_MAX_SHARE of the limit: the
# sample's LP (2,000 workloads at most, placer.sample) takes about 2.5 s whatever the
# fleet's size, and without its prices the first bound is priced from zero, which took
# 21-31 s at 100,000 workloads where from them 6 s (under a 30 s limit the sample had
# 1.5 s, and the solve ended at 50.4 s, its bound 2.5 % lower)
SAMPLE_MIN_S = 5.0
SAMPLE_MAX_SHARE = 0.2
LIGHT_PRESOLVE_VARS = 20_000
NO_PRESOLVE_VARS = 200_000
ProgressFn = Callable[[dict[str, Any]], None]


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


@dataclass(frozen=True)
class SolveOptions:
    """How hard and how reproducibly to search."""

    time_limit: float = DEFAULT_TIME_LIMIT  # seconds of wall-clock time at most
    workers: int | None = None              # CP-SAT workers (default: cores, up to 8)
    seed: int = 0
    gap: float | None = None                # stop when (total - bound) / total <= gap
    deterministic: bool = True              # same input and seed -> same plan
    progress: ProgressFn | None = None      # called with best/bound/gap/elapsed
    log: bool = False                       # CP-SAT's own log on stderr
    hint: bool = True                       # warm start from a greedy plan
    explain: bool = True                    # when infeasible, find which rules conflict
    in_parts: bool = True                   # when the whole is too large (placer.parts)
    lagrangian: bool = True                 # the Lagrangian bound (placer.lagrange)
    columns: bool = True                    # column generation (placer.colgen)
    # branching on the ports column generation's master LP buys in part, inside its
    # master, where the time left holds two nodes (placer.port_tree)
    branch: bool = True
    # called with the LP's prices as soon as the LP is solved, and again with column
    # generation's master's after its rounds (a part's, for the bound of the fleet it is
    # a part of: solve._bound_in_parts)
    on_lp_prices: Callable[[LPPrices], None] | None = None
    # where the LP is not solved, capacity's prices step from these rather than from zero
    # (a part of a fleet: its sample's, _solve_in_parts)
    start_prices: LPPrices | None = None

    def resolved_workers(self) -> int:
        return self.workers if self.workers is not None else default_workers()


def solve(problem: Problem, *, time_limit: float = DEFAULT_TIME_LIMIT,
          workers: int | None = None, seed: int = 0, gap: float | None = None,
          deterministic: bool = True, progress: ProgressFn | None = None,
          log: bool = False, hint: bool = True, explain: bool = True) -> Plan:
    """The cheapest plan for a problem that keeps every rule (or why there is none)."""
    options = SolveOptions(time_limit, workers, seed, gap, deterministic, progress, log, hint,
                           explain)
    started = time.perf_counter()
    candidates = build_candidates(problem)

    def rebuild(capacities: dict[str, int]) -> Candidates:
        """The candidate table with other capacities (for explanations)."""
        offerings = problem.catalog.offerings.with_columns(
            pl.col("offering").replace_strict(capacities, default=pl.col("capacity_chips"),
                                              return_dtype=pl.Int64).alias("capacity_chips"))
        return build_candidates(problem.replace(catalog=problem.catalog.with_offerings(
            offerings)))

    return solve_built_candidates(candidates, problem.policy, options,
                                  candidates_s=time.perf_counter() - started, rebuild=rebuild)


def solve_candidates(candidates: pl.DataFrame | str | Path,
                     offerings: pl.DataFrame | str | Path,
                     policy: Policy | str | Path | None = None, *,
                     time_limit: float = DEFAULT_TIME_LIMIT, workers: int | None = None,
                     seed: int = 0, gap: float | None = None, deterministic: bool = True,
                     progress: ProgressFn | None = None, log: bool = False,
                     hint: bool = True) -> Plan:
    """Solve exactly the rows given: each workload takes one of its rows, chips per
    offering stay within capacity, and the policy's caps apply where the columns exist."""
    from placer.candidates import candidates_from_table
    from placer.problem import candidate_policy, candidate_tables

    options = SolveOptions(time_limit, workers, seed, gap, deterministic, progress, log, hint)
    started = time.perf_counter()
    table, offers = candidate_tables(candidates, offerings)
    chosen = candidate_policy(policy, table)
    built = candidates_from_table(table, offers)
    return solve_built_candidates(built, chosen, options,
                                  candidates_s=time.perf_counter() - started)


def solve_built_candidates(candidates: Candidates, policy: Policy, options: SolveOptions,
                           candidates_s: float = 0.0, rebuild: Rebuild | None = None) -> Plan:
    """Solve a candidate table under a policy."""
    started = time.perf_counter() - candidates_s
    _check_options(options)
    workers = options.resolved_workers()
    base_info = {
        "engine": f"cp-sat {_ortools_version()}", "workers": workers, "seed": options.seed,
        "time_limit_s": options.time_limit, "gap_limit": options.gap,
        "candidates": candidates.rows.height, "candidates_s": round(candidates_s, 4),
    }
    caps = policy.max_share.by_dimension()
    reasons = no_candidate_reasons(candidates, policy.pricing)
    placed_w = set(candidates.rows["w"].unique().to_list())
    blocked = [
        text for w, text in reasons.items()
        if w not in placed_w and candidates.workloads["required"][w]
    ]
    if blocked:
        return _no_plan(candidates, policy, base_info, caps, "infeasible", blocked,
                        stop_reason="no candidate")
    lone = lone_workload_reasons(candidates)
    if lone:
        return _no_plan(candidates, policy, base_info, caps, "infeasible", list(lone.values()),
                        stop_reason="infeasible")

    def proven(by: str, spend: Violation | None = None) -> Plan:
        """The plan of a fleet proven to have none, with its explanation (`spend`: the
        least violation of placer.spend's LP, where that proved it)."""
        info = {**base_info, "infeasible_by": by,
                "time_s": round(time.perf_counter() - started, 4)}
        explanation = explain_infeasible(candidates, policy, rebuild, spend=spend) \
            if options.explain else [NOT_EXPLAINED]
        return _no_plan(candidates, policy, info, caps, "infeasible", explanation,
                        stop_reason="infeasible")

    # the policy or capacity alone may rule out every plan, told by counting or by
    # capacity's LP where workloads merge into classes (placer.capacity) in a fraction of
    # a second, where a large fleet's parts take minutes to fail and the whole's LP a
    # quarter of one (10,000 workloads whose EU-resident ones must be sovereign: 0.5 s
    # against 19 s; 1,000: 0.1 s against 0.7 s)
    if policy_reasons(candidates, policy):
        return proven("policy")
    if proven_short(candidates):
        return proven("capacity")

    parts_failed = False  # a part found no plan: the whole is solved at once
    if options.in_parts and in_parts(candidates, options.time_limit):
        plan = _solve_in_parts(candidates, policy, options, started, base_info, caps, reasons)
        if plan is not None:
            return plan
        parts_failed = True
        # maybe no plan exists: the LP of capacity, the caps and the budget, its
        # workloads merged into classes (placer.spend), may prove it where counting and
        # capacity alone did not (10,000 workloads under a 12 % provider cap: 4 s, where
        # CP-SAT's presolve and the whole's LP took 12 s more; 100,000: 77 s, where the
        # whole searched at once had no verdict in 300 s at 16 GB); not before the parts,
        # which a fleet with a plan would wait for (2.5 s at 10,000 workloads)
        spend = no_plan_by_spend(candidates, policy, deadline=started + options.time_limit)
        if spend is not None:
            return proven("spend", spend)
    build_started = time.perf_counter()
    built = build_model(candidates, policy)
    force_unplaced(built, placed_w)
    build_s = time.perf_counter() - build_started

    with _interruptible() as stop:
        # the live line ticks from here: the warm start may be most of a short solve
        # (300 workloads in 3 s on a busy machine: all of it, and nothing was shown)
        before_search = _Progress(options.progress, built.scale, started)
        search_whole = built.builder.num_vars <= WHOLE_SEARCH_VARS
        warm_started = time.perf_counter()
        # where the parts found no plan, maybe none exists: CP-SAT's presolve may prove it
        # in a second, where the LP takes a quarter of a minute (10,000 workloads whose
        # EU-resident ones must be sovereign: 0.8 s against 16 s); not above
        # WHOLE_SEARCH_VARS, where its memory is the search's
        start = WarmStart.proven_infeasible("cp-sat presolve") \
            if parts_failed and search_whole \
            and _presolve_proves_infeasible(built, options, started, stop) \
            else _warm_start(built, candidates, policy, options, stop,
                             deadline=started + options.time_limit)
        fallback, cut = start.plan, start.cut_by_time
        warm_s = time.perf_counter() - warm_started
        fallback_units = None if fallback is None else \
            objective_units(built, candidates, fallback.units, fallback.left_out)
        before_search.close(fallback_units, start.bound_units)
        # a plan the bound known already proves within the gap limit needs no search
        proven = fallback_units is not None and within_gap(fallback_units, start.bound_units,
                                                           options.gap)
        # no plan keeps the rules yet: the whole model searched for one first, which the
        # searches after it improve (FIRST_PLAN_ROUND_S)
        first_plan = CoreSearch()
        if options.hint and fallback is None and start.infeasible_by is None and not stop() \
                and not _time_spent(started, options):
            first_plan = _first_plan(built, options, workers, started, stop, _Progress(
                options.progress, built.scale, started, known_bound_units=start.bound_units))
            cut |= first_plan.cut_by_time
            if first_plan.status == "MODEL_INVALID":
                raise PlacerError("internal error: CP-SAT rejected the model")
            if first_plan.status == "INFEASIBLE":
                start = replace(start, infeasible_by="cp-sat")
            if first_plan.found is not None:
                fallback = first_plan.found
                fallback_units = objective_units(built, candidates, fallback.units,
                                                 fallback.left_out)
                complete_hint(built, candidates, fallback.units, fallback.left_out)
        core = CoreSearch()
        if fallback is not None and not stop() and not proven \
                and not _time_spent(started, options):
            core = _search_core(built, candidates, policy, options, workers, fallback,
                                start.core_units, start.columns,
                                time_left=options.time_limit - (time.perf_counter() - started),
                                bound_units=start.bound_units, stop=stop,
                                search_started=started)
            cut |= core.cut_by_time
            if core.found is not None:
                fallback = core.found
                fallback_units = objective_units(built, candidates, fallback.units,
                                                 fallback.left_out)
                complete_hint(built, candidates, fallback.units, fallback.left_out)
        solver = cp_model.CpSolver()
        time_left = max(0.1, options.time_limit - (time.perf_counter() - started))
        # after a small core's neighbourhoods, CP-SAT's own portfolio, not interleaved and
        # with no deterministic limit: the bound rises where the interleaved one's hardly
        # does (WHOLE_AFTER_NEIGHBOURHOODS_S)
        whole_options = replace(options, deterministic=False) if core.whole_after else options
        # the first-plan search counted at its rounds' limits: stopped at its first plan,
        # its own deterministic time varies in the last digits (the other worker's batch
        # is cut where it is), and this limit must not
        deterministic_limit = max(0.1, options.time_limit - _first_plan_rounds_s(first_plan)
                                  - core.deterministic_time)
        _set_parameters(solver, whole_options, workers, time_left=time_left,
                        num_vars=built.builder.num_vars,
                        deterministic_limit=deterministic_limit,
                        bound_worker=built.builder.num_vars > SMALL_MODEL_VARS or core.rows > 0)
        reporter = _Progress(options.progress, built.scale, started, best_units=fallback_units,
                             known_bound_units=start.bound_units)
        status, searched = cp_model.UNKNOWN, False
        # the whole model, when no core was searched or after one searched to its end;
        # above WHOLE_SEARCH_VARS only when there is no plan at all to start from and no
        # search for a first plan ran (it had this time; none runs with no warm start)
        if (core.rows == 0 or core.solved or core.whole_after) \
                and (search_whole or fallback is None) and not stop() and not proven \
                and start.infeasible_by is None \
                and (fallback is not None or not first_plan.searches) \
                and (fallback is None or not _time_spent(started, options)):
            status, searched = _run(solver, built.model, reporter, stop), True
        reporter.close()
        lagrangian = start.lagrangian.result() if start.lagrangian is not None else None
        cut |= lagrangian is not None and lagrangian.cut_by_time

    info = {
        **base_info, "status": solver.status_name(status) if searched else "NOT_STARTED",
        "time_s": round(time.perf_counter() - started, 4),
        "build_s": round(build_s, 4), "warm_start_s": round(warm_s, 4),
        "lp_bound_usd": _usd(start.lp_bound_units, built.scale),
        "lagrangian_bound_usd": _usd(lagrangian.bound if lagrangian else None, built.scale),
        "lagrangian_s": round(lagrangian.time_s, 4) if lagrangian else 0.0,
        **_columns_info(start.columns, built.scale),
        "ports_in_part": _ports_in_part(built, start.columns),
        **_tree_info(built, start.columns),
        "money_scale": built.scale,
        "variables": built.builder.num_vars, "constraints": built.builder.num_constraints,
        "deterministic_time": round(first_plan.deterministic_time + core.deterministic_time
                                    + (solver.deterministic_time if searched else 0.0), 4),
        "first_plan_searches": first_plan.searches, "first_plan_s": round(first_plan.time_s, 4),
        "core_rows": core.rows, "core_s": round(core.time_s, 4),
        "core_searches": core.searches,
        "stop_reason": _stop_reason(status, solver, whole_options, deterministic_limit, stop())
        if searched
        else "interrupted" if stop() else "gap limit" if proven
        else "core searched" if core.solved else "time limit",
        "deterministic": not cut and (_deterministic(
            status, solver, whole_options, deterministic_limit, stop()) if searched
            else not stop()),
    }
    if not searched and core.rows:
        info["status"] = core.status
    elif not searched and first_plan.searches:
        info["status"] = first_plan.status
    if info.get("branch_nodes"):
        info["engine"] += f" (branched on ports: {len(info['branch_nodes'])} nodes)"
    if status == cp_model.MODEL_INVALID:
        raise PlacerError(f"internal error: CP-SAT rejected the model ({solver.solution_info})")
    if status == cp_model.INFEASIBLE or start.infeasible_by is not None:
        info |= {"status": "INFEASIBLE", "stop_reason": "infeasible", "deterministic": True,
                 "infeasible_by": start.infeasible_by or "cp-sat"}
        explanation = explain_infeasible(candidates, policy, rebuild) if options.explain \
            else [NOT_EXPLAINED]
        return _no_plan(candidates, policy, info, caps, "infeasible", explanation)
    found = searched and status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    cp_bound = solver.best_objective_bound if searched else -np.inf
    bound_units = max([cp_bound if np.isfinite(cp_bound) else -np.inf]
                      + [b for b in (start.bound_units, lagrangian.bound if lagrangian else None)
                         if b is not None])
    bound_usd = bound_units / built.scale if np.isfinite(bound_units) else None
    if found:
        values = np.fromiter(solver.response_proto.solution, dtype=np.int64)
        units = values[built.units]
        left_out = _left_out(built, values)
        if fallback_units is None or \
                objective_units(built, candidates, units, left_out) <= fallback_units:
            info |= {"objective_units": round(solver.objective_value),
                     "bound_units": round(bound_units)}
            return make_plan(
                candidates, units, left_out, ports_used(candidates, units),
                status="optimal" if _proved_optimal(status, solver) else "feasible",
                bound_usd=bound_usd, solver=info, pricing=policy.pricing, caps=caps,
                unplaced_reasons=reasons)
    if fallback is not None:
        # the search found nothing better in the time it had
        info["engine"] += f" (plan from {_plan_source(core, first_plan, start)})"
        return make_plan(candidates, fallback.units, fallback.left_out,
                         ports_used(candidates, fallback.units), status="feasible",
                         bound_usd=bound_usd, solver=info, pricing=policy.pricing, caps=caps,
                         unplaced_reasons=reasons)
    if stop():
        return _no_plan(candidates, policy, info, caps, "unknown",
                        ["the search was interrupted before it found a plan"],
                        bound_usd=bound_usd)
    # a cap near the least share any plan can keep may be why none was found
    return _no_plan(candidates, policy, info, caps, "unknown", [
        f"no plan found within {options.time_limit:g} s; the problem is not proven "
        "infeasible: give it more time (--time-limit)",
        *(caps_at_the_edge(candidates, policy) if options.explain else [])],
        bound_usd=bound_usd)


def _presolve_proves_infeasible(built: BuiltModel, options: SolveOptions, started: float,
                                stop: _Interrupt) -> bool:
    """Whether CP-SAT's presolve alone (one worker, in at most PRESOLVE_CHECK_SHARE of the
    time limit) proves the model has no solution."""
    solver = cp_model.CpSolver()
    left = options.time_limit - (time.perf_counter() - started)
    solver.parameters.num_workers = 1
    solver.parameters.stop_after_presolve = True
    solver.parameters.max_time_in_seconds = max(0.1, min(left, PRESOLVE_CHECK_SHARE
                                                         * options.time_limit))
    return not stop() and left > 0 and \
        _run(solver, built.model, _Progress(None, built.scale, started), stop) \
        == cp_model.INFEASIBLE


def _plan_source(core: CoreSearch, first_plan: CoreSearch, start: WarmStart) -> str:
    """Which step found the plan returned where the last search found nothing cheaper."""
    if core.found is not None:
        return "the core search"
    if first_plan.found is not None:
        return "the search for a first plan"
    if start.columns is not None and start.columns.found is not None:
        return "column generation's master"
    return "the warm start"


def _time_spent(started: float, options: SolveOptions) -> bool:
    """Whether the time limit is spent: a search started then, with a plan in hand, only
    loads its model past the limit (column generation's master may end at the limit:
    tight-5000x60 at 10 s, the searches after it 0.13 s and 0.46 s more)."""
    return time.perf_counter() - started >= options.time_limit


@dataclass
class WarmStart:
    """What comes before the search, in solver units."""

    lp_bound_units: float | None   # the LP's bound, when it was solved to the end
    # the warm start, or the plan column generation's master found when cheaper; when it
    # keeps every rule (also the hint)
    plan: Placement | Found | None
    cut_by_time: bool              # a wall clock cut either short: may not reproduce
    # per row, the units of the LP (or the capacity prices) and the pieces' plan: the
    # rows either uses join the core
    core_units: np.ndarray | None
    no_lp_bound: float | None      # when the LP did not finish, the Lagrangian bound
    # at the LP's duals or column generation's master's prices, when the LP finished;
    # perhaps computed beside the search (None: cut short)
    lagrangian: Future[LagrangianBound | None] | None = None
    columns: Columns | None = None  # column generation, when it ran
    # what proved no plan exists before any search: "lp relaxation" (HiGHS proved it has
    # no solution), "cp-sat presolve"
    infeasible_by: str | None = None

    @classmethod
    def proven_infeasible(cls, by: str, cut_by_time: bool = False) -> WarmStart:
        """No plan exists, proven before any search (`by`: what proved it)."""
        return cls(None, None, cut_by_time, None, None, infeasible_by=by)

    @property
    def bound_units(self) -> float | None:
        """The best bound known before the search."""
        known = [b for b in (self.lp_bound_units, self.no_lp_bound,
                             self.columns.bound if self.columns else None)
                 if b is not None]
        return max(known) if known else None


def _warm_start(built: BuiltModel, candidates: Candidates, policy: Policy,
                options: SolveOptions, stop: Callable[[], bool], deadline: float) -> WarmStart:
    """The LP relaxation (or capacity prices standing in for it), then a warm-start plan
    guided by it, written into the model as a complete hint."""
    relaxation, cut = _guide_lp(built, candidates, options, stop, deadline)
    if isinstance(relaxation, Infeasible):
        # then no plan keeps every rule: nothing to start from, nothing to search
        return WarmStart.proven_infeasible("lp relaxation", cut)
    options = _after_lp(options, deadline)
    lp_bound_units = no_lp_bound = None
    lagrangian = None
    guide = None
    pieces = None
    master = None  # column generation's, when built for the guide
    priced_at_once = 0  # the guide's pieces priced without a search
    bound_by_columns = False  # the Lagrangian bound left to column generation
    full_round_s = None  # what searching every piece takes, when not pieces.time_s
    at_once_s = 0.0  # what pricing the pieces without a search took: a partial round's floor
    if relaxation is not None and relaxation.optimal:
        lp_bound_units = _lp_bound(relaxation)
        if options.on_lp_prices is not None and relaxation.duals is not None:
            options.on_lp_prices(LPPrices.at_duals(built, candidates, relaxation.duals))
        pieces = price_pieces(built.builder, relaxation) \
            if (options.hint or options.lagrangian) and not stop() else None
        unsearched = [] if pieces is None else list(pieces.pending)
        if pieces is not None and options.hint:
            # the pieces' plan guides the warm start and joins the core. With a bound
            # wanted, it comes from column generation's full rounds at its master's
            # prices when some pieces can be priced all at once (as with none wanted),
            # not from a search of every piece at the LP's, which price lower (1,000
            # workloads: $20.11M at the LP's, $20.15M at the master's after its partial
            # rounds; each search about 2 s). Not in a part, which reports its prices for
            # the fleet's bound: its own is not wanted, and there a first full round on
            # its one core took the time its master needed (the 100,000 fleet's plan
            # 2.3 % -> 7.9-9.2 % above its bound)
            at_once = not options.lagrangian or options.on_lp_prices is None
            if at_once:
                master = _master(built, candidates, pieces)
                at_once_started = time.perf_counter()
                priced_at_once = price_without_search(master, pieces)
                at_once_s = time.perf_counter() - at_once_started
            bound_by_columns = options.lagrangian and priced_at_once > 0
            search_pieces(pieces, GUIDE_SHARE * options.time_limit, options.resolved_workers(),
                          stop, PIECE_DETERMINISTIC_S if options.lagrangian and not bound_by_columns
                          else GUIDE_ONLY_PIECE_S)
            if bound_by_columns:
                # their optima at the LP's prices, where there is time, for the columns;
                # and what searching them all takes, for column generation's full rounds
                pieces.pending = list(unsearched)
                search_started = time.perf_counter()
                search_pieces(pieces, LP_PRICES_SEARCH_SHARE * options.time_limit,
                              options.resolved_workers(), stop, presolve_small=False)
                assert master is not None
                full_round_s = full_round_seconds(
                    master, pieces, set(unsearched) - set(pieces.pending),
                    time.perf_counter() - search_started)
            cut |= pieces.cut_by_time
            guide = pieces.values[built.units]
        if pieces is not None and options.lagrangian and not pieces.pending \
                and not bound_by_columns:
            # every piece searched for the guide: the bound at the LP's duals is known
            lagrangian = Future()
            lagrangian.set_result(pieces.result())
        elif pieces is not None and options.lagrangian and not bound_by_columns:
            lagrangian = _lagrangian_beside(pieces, pieces.pending, deadline, stop)
    elif relaxation is None and not stop():
        # the LP did not finish (100,000 workloads): capacity prices stand in for it
        relaxation = _priced_relaxation(built, candidates, policy, options.start_prices)
        no_lp_bound = relaxation.objective
    lp_units = None if relaxation is None else relaxation.values[built.units]
    core_units = lp_units if guide is None else np.maximum(lp_units, guide)
    if not options.hint:
        return WarmStart(lp_bound_units, None, cut, core_units, no_lp_bound, lagrangian)
    # column generation, unless the pieces are whole at the LP's prices (then the LP is
    # the master's LP, and the master holds no plan the core's search would not find);
    # pieces priced without a search raise no bound, but were fractional in the LP
    columns = pieces is not None and options.columns and lp_bound_units is not None \
        and (priced_at_once > 0
             or pieces.result().bound > lp_bound_units + PIECES_GAIN * abs(lp_bound_units))
    start = warm_start(built, candidates, policy, relaxation, guide=guide,
                       time_budget=options.time_limit * (
                           COLUMNS_WARM_START_SHARE if columns else WARM_START_SHARE),
                       should_stop=stop)
    cut |= start.cut_by_time
    broken = candidate_violations(candidates, start.units, start.left_out, policy)
    # the warm start within the gap limit of the LP's bound: nothing more to prove (100
    # workloads at a 50 % gap limit: 10.4 s before the search, 8.8 s of it columns)
    proven = not broken and within_gap(
        objective_units(built, candidates, start.units, start.left_out),
        lp_bound_units if no_lp_bound is None else no_lp_bound, options.gap)
    if broken:
        # a hint that breaks a rule only sends CP-SAT repairing it (and CP-SAT 9.15
        # aborted doing so on a 100k-workload model whose search stopped while loading)
        built.model.clear_hints()
    if not columns or stop() or proven:
        if bound_by_columns and not proven:
            assert pieces is not None
            lagrangian = _lagrangian_beside(pieces, unsearched, deadline, stop)
        return WarmStart(lp_bound_units, None if broken else start, cut, core_units,
                         no_lp_bound, lagrangian)
    assert pieces is not None and relaxation is not None and relaxation.duals is not None
    # column generation also from a start that breaks a rule, its master's LP relaxed
    # until its columns keep them (colgen.Master.artificial): where the caps are tight
    # the repair fails, and the search of the whole model alone found no plan in 10 s
    columns = _by_columns(built, candidates, policy, pieces, relaxation.duals, start,
                          options, stop, deadline, master, bound_by_columns, full_round_s,
                          at_once_s, start_broken=bool(broken))
    cut |= columns.cut_by_time
    if bound_by_columns:
        lagrangian = columns.lagrangian
    plan: Placement | Found | None = None if broken else start
    if columns.found is not None:
        plan = columns.found
        complete_hint(built, candidates, plan.units, plan.left_out)
    return WarmStart(lp_bound_units, plan, cut, core_units, no_lp_bound, lagrangian, columns)


def _guide_lp(built: BuiltModel, candidates: Candidates, options: SolveOptions,
              stop: Callable[[], bool], deadline: float
              ) -> tuple[Relaxation | Infeasible | None, bool]:
    """The LP relaxation, with the rounding cuts when a bound is wanted, and whether the
    clock cut it short. With no bound wanted (a part) the LP is only a guide: no cuts,
    and more of the time. Either LP is tried where its estimate (lp_within_reach) fits
    its share of the time, and may overrun it: a guide's up to GUIDE_LP_LIMIT_SHARE of
    its whole time, an LP with the cuts up to LP_LIMIT_SHARE of the time left before
    `deadline` (the time limit counts the candidate table and the model's build: 5,000
    candidates-format workloads at 10 s, a slow hour, the table 4.7 s, and LPs in shares
    of the whole limit ran the plan to 15.2 s)."""
    # a guide's shares are of its whole time, an LP with the cuts' of the time left
    left = max(0.0, deadline - time.perf_counter()) if options.lagrangian else math.inf
    shared = min(options.time_limit, left)
    share = shared * _lp_share(options)
    seconds = shared * (LP_LIMIT_SHARE if options.lagrangian else GUIDE_LP_LIMIT_SHARE)
    ceiling = seconds * (LP_BEYOND_REACH if options.lagrangian else GUIDE_LP_BEYOND_REACH)
    if stop() or not lp_within_reach(candidates.rows, share, ceiling):
        return None, False
    started = time.perf_counter()
    relaxation = _relax(built, candidates, seconds, stop, cuts=options.lagrangian)
    return relaxation, relaxation is None and time.perf_counter() - started >= seconds * 0.99


def _lp_share(options: SolveOptions) -> float:
    """The LP's share of the time limit: more for a guide's LP, which has no cuts."""
    return LP_SHARE if options.lagrangian else GUIDE_LP_SHARE


def _after_lp(options: SolveOptions, deadline: float) -> SolveOptions:
    """The options whose shares of the time limit size the steps after the LP: the same,
    unless the LP (or the model's build) took more than its share, and then shrunk to
    what is left, so that column generation's master keeps its time (a 2,500-workload
    part given 24 s whose LP with the cuts ran out: the pieces and the rounds, each on
    their shares of the 24 s, left the master none, and the plan was the warm start's,
    15 % dearer)."""
    left = max(0.0, deadline - time.perf_counter())
    squeeze = min(1.0, left / (options.time_limit * (1 - _lp_share(options))))
    return options if squeeze >= 1 else replace(options, time_limit=options.time_limit * squeeze)


def full_round_seconds(master: Master, pieces: Pieces, searched: set[int],
                       seconds: float) -> float:
    """What a full round of column generation (every piece of `master` that needs a
    search) takes, from `seconds` spent searching the pieces `searched` (of `pieces`),
    scaled by their variables. The search reaches the large pieces first, and they are
    most of a round's time (21 of 332 pieces at 1,000 workloads, 87-91 % of it): scaled
    by the pieces' count, 13 pieces searched in 0.51 s said 5.4 s for a round that took
    2.7 s; by their variables 2.1 s (four fleets: 1.9-3.9 s for 2.2-3.1 s)."""
    done = sum(len(pieces.vars_of[p]) for p in searched)
    return seconds * float(master.sizes[~master.choose_one].sum()) / max(1, done)


def _master(built: BuiltModel, candidates: Candidates, pieces: Pieces) -> Master:
    """Column generation's master over the pieces, with the serving workloads alone and
    the pieces sharing ports priced without a search (placer.subproblems)."""
    workloads = workload_vars(candidates, built)
    return Master(built.builder, pieces, inference_covers(workloads), workloads)


@dataclass
class Columns:
    """What column generation and its master in integers found."""

    generated: ColumnGeneration
    found: Found | None        # the master's plan, when cheaper than the warm start
    master_units: int | None   # its objective (solver units), when it found a plan
    master_status: str
    time_s: float
    cut_by_time: bool
    # the Lagrangian bound at the master's prices, when asked for (bound_wanted)
    lagrangian: Future[LagrangianBound | None] | None = None
    columns: int = 0           # the master's at the end
    perturbed_rounds: int = 0  # rounds at prices near its LP's (colgen.perturbed_columns)
    across_caps: int = 0       # columns from rounds across the caps (colgen.cap_columns)
    early_units: int | None = None  # the plan of the master's search beside the rounds
    # the master, when its search proved its plan the best over its columns (a small
    # one) and nothing prices at it beside: the search after it recombines with it
    master: Master | None = None
    # per port (BuiltModel.ports' rows), what its master's last LP buys of it
    port_shares: np.ndarray | None = None
    tree: PortTree | None = None  # the branching on those ports, where one grew

    @property
    def bound(self) -> float:
        """The rounds' bound, or the tree's where one grew (solver units)."""
        return _columns_bound(self.generated, self.tree)


def _columns_bound(generated: ColumnGeneration, tree: PortTree | None) -> float:
    return generated.bound if tree is None else max(generated.bound, tree.bound)


def _by_columns(built: BuiltModel, candidates: Candidates, policy: Policy, pieces: Pieces,
                duals: np.ndarray, start: Placement, options: SolveOptions,
                stop: Callable[[], bool], deadline: float,
                master: Master | None = None, bound_wanted: bool = False,
                full_round_s: float | None = None, partial_round_s: float = 0.0,
                start_broken: bool = False) -> Columns:
    """Column generation over the pieces (placer.colgen) from the LP's duals, with the
    warm start's and the pieces' solutions as the first columns; then its master in
    integers from the warm start (colgen.solve_master). `bound_wanted`: the Lagrangian
    bound at the master's prices, from its last full round or, when none was done, by
    one at its last prices beside the master and the search after it, when it fits;
    else the bound at the LP's duals, its pieces left searched beside.
    `full_round_s`: what searching every piece takes (default: the pieces' search so
    far); `partial_round_s`: what a partial round should take at least; `start_broken`:
    the warm start breaks a rule (any plan of the master's that keeps them is better)."""
    started = time.perf_counter()
    if master is None:
        master = _master(built, candidates, pieces)
    if full_round_s is None:
        full_round_s = pieces.time_s
    incumbent = full_values(built, candidates, start.units, start.left_out)
    master.artificial = start_broken
    master.add(incumbent)
    master.add_integral(pieces.values)
    budget = COLUMNS_SHARE * options.time_limit
    left = max(0.0, deadline - started)
    master_limit = min(MASTER_SHARE * options.time_limit, LEFT_SHARE * left)
    # the master and the search after it keep their shares of the time
    search_share = min(SEARCH_SHARE * options.time_limit, LEFT_SHARE * left)
    rounds_deadline = min(deadline - master_limit - search_share,
                          started + budget * COLUMNS_WALL_FACTOR)
    # the master in integers over the columns so far, beside the rounds once they near
    # their bound, on the core they leave idle (one of two); stopped before the master's
    # own searches, which start from its plan where cheaper, and by the latest they may
    # start in any case (the full rounds' finish_by below)
    early = EarlySearch(master, incumbent, deadline - search_share - master_limit / 2,
                        options.seed) \
        if options.resolved_workers() >= EARLY_SEARCH_WORKERS else None
    tree_deadline = deadline - search_share - master_limit
    ports = built.ports["var"].to_numpy()
    branching = bound_wanted and options.branch and len(ports) > 0 \
        and candidates.workloads.height > SMALL_FLEET_WORKLOADS

    def near_bound(weights: np.ndarray, behind: float) -> bool:
        """The search beside the rounds starts; the rounds end where their LP is within
        NEAR_BOUND of their bound (`behind`: the share it is above) and a tree on the
        ports it buys in part fits in the time left: the nodes converge further than the
        root's rounds would (seed 0 of the 1,000 fleets at 30 s: after its second full
        round its rounds went on for 2.5 s and raised the bound by $730, where its first
        branching raised it by $48,000)."""
        if early is not None:
            early.start()
        return branching and behind <= NEAR_BOUND \
            and bool(in_part(master.lp_values(weights, ports)).any()) \
            and two_nodes_fit(time.perf_counter() - started,
                              tree_deadline - time.perf_counter())

    generated = generate_columns(
        master, duals[master.coupling], pieces.result().bound, incumbent, budget_s=budget,
        deadline=rounds_deadline,
        workers=options.resolved_workers(), should_stop=stop,
        full_round_s=full_round_s, partial_round_s=partial_round_s,
        full_rounds=options.lagrangian,
        # a full round, once started, may take half the master's time: it gives the bound
        finish_by=deadline - search_share - master_limit / 2,
        near_bound=near_bound)
    cut = generated.cut_by_time
    tree: PortTree | None = None
    if branching and tree_fits(generated, tree_deadline - time.perf_counter()):
        # the search beside the rounds goes on beside the tree, for the master's plan
        # (stopped first, seeds 1 and 5 at 60 s ended 0.102-0.110 % and 0.137-0.138 %
        # above their bounds; not, 0.057 % and 0.074-0.109 %)
        tree = _port_tree(master, generated, ports, incumbent, options, stop, tree_deadline)
        cut |= tree.cut_by_time
    perturbed = 0
    if not options.lagrangian:
        if generated.duals is not None:
            # columns the master can combine better, from prices near its LP's
            # (colgen.PERTURBED_ROUNDS), out of the time its rounds leave it; these and
            # the rounds across the caps leave the master's LP over the columns they add
            # its time too (generated.lp_s: a part's master otherwise ran no search)
            perturbed = perturbed_columns(
                master, generated.duals, incumbent,
                min(time.perf_counter() + PERTURBED_SHARE * options.time_limit,
                    deadline - master_limit - search_share - generated.lp_s),
                options.seed, options.resolved_workers(), stop)
        # a guide's rounds spent before their deadline leave their time to the master,
        # not to the search after it, which gains less there: the 10,000 fleet's parts
        # (27 s each, their rounds spent about 6 s before their deadline), with the
        # master's cuts off and its support's search capped (colgen), had their masters'
        # searches over all columns 0-0.05 s before and 4.8-8.7 s after, and the fleet's
        # plan went from 0.93-1.15 % above its bound (17 runs) to 0.86-0.95 % (6 runs)
        master_limit += max(0.0, rounds_deadline - time.perf_counter())
    # columns across the caps, for the master's first search (colgen.cap_columns)
    across_caps = np.zeros(0, dtype=np.int64)
    if generated.duals is not None:
        across_caps = cap_columns(
            master, generated.duals, incumbent,
            min(time.perf_counter() + CAP_SHARE * options.time_limit,
                deadline - search_share - master_limit / 2 - generated.lp_s),
            options.resolved_workers(), stop)
    lagrangian: Future[LagrangianBound | None] | None = None
    priced_beside = False  # a thread prices at the master while the searches run
    if bound_wanted and (generated.full_rounds or tree is not None):
        # the rounds' bound, raised by the tree's where one grew
        lagrangian = Future()
        lagrangian.set_result(LagrangianBound(
            _columns_bound(generated, tree), master.pieces, int((~master.choose_one).sum()), 0,
            generated.full_rounds_s, False))
    elif bound_wanted and full_round_s * options.resolved_workers() \
            <= BESIDE_ROUND_FITS * (deadline - time.perf_counter()):
        # on one thread beside the master and the search after it: where it fits, or it
        # only takes their time (a part of 2,500 workloads on one core: 10 s, cut short)
        prices = duals[master.coupling] if generated.duals is None else generated.duals
        priced_beside = True
        lagrangian = _beside("lagrangian", _price_for_bound, master, prices, incumbent,
                             deadline, stop, generated.bound)
    elif bound_wanted:
        # no time for a round at the master's prices: the bound at the LP's, its pieces
        # not searched yet searched beside where there is time (1,000 workloads, its
        # partial rounds not spent by their deadline: $20.10M, not the LP's $18.96M)
        lagrangian = _lagrangian_beside(pieces, pieces.pending, deadline, stop)
    if options.on_lp_prices is not None and generated.duals is not None:
        # prices that have seen the columns: the 10,000 fleet's bound at its first two
        # parts' was $198.53M / $198.48M (seeds 0 / 1) against $198.16M / $198.20M at
        # their relaxations'
        duals = np.zeros(len(built.builder.rows))
        duals[master.coupling] = generated.duals
        options.on_lp_prices(LPPrices.at_duals(built, candidates, duals, after_columns=True))
    if len(across_caps):
        master_limit += ACROSS_CAPS_MASTER_S
    start_units = math.inf if start_broken else \
        objective_units(built, candidates, start.units, start.left_out)
    early_found = early.result() if early is not None else None
    early_units = None if early_found is None else objective_units(
        built, candidates, early_found.values[built.units], _left_out(built, early_found.values))
    master_start = incumbent
    if early_units is not None and early_units < start_units:
        master_start = early_found.values
        cut |= early_found.cut_by_time  # stopped by the rounds' end: not reproducible
    if tree is not None:
        # the master's first search over the columns of the lowest leaf's LP, whose ports
        # are bought or not (the searches after it have every column)
        master.fix(tree.lowest.fixed)
    # the master keeps its share of the wall clock even where the rounds ran late (on a
    # busy core), out of the search's after it: its plan is the better start (parts of
    # the 100,000 fleet left 0.05-0.5 s found none, and their plans were 5-15 % dearer)
    # master_limit is its search's; its LP comes first, as long as the rounds' last per
    # column (a part of the 100,000 fleet: 0.67 s of the 0.84 s the master had); counted
    # from here, so that waiting for the early search is not taken out of it (an LP the
    # rounds ended on, no column added since, is kept: none to wait for)
    lp_done = time.perf_counter() + (0.0 if master.has_lp() else generated.lp_s)
    master_deadline = min(deadline, max(lp_done + master_limit, min(
        deadline - search_share, lp_done + master_limit * COLUMNS_WALL_FACTOR)))
    solved = solve_master(master, master_start, master_limit, master_deadline, options.seed,
                          options.resolved_workers(), options.log, also=across_caps,
                          lp_seconds=generated.lp_s) if not stop() else None
    master.fix({})
    status = solved.status if solved is not None else "NOT_STARTED"
    cut |= solved is not None and solved.cut_by_time
    found, master_units = None, None
    if solved is not None and solved.values is not None:
        units = solved.values[built.units]
        left_out = _left_out(built, solved.values)
        master_units = objective_units(built, candidates, units, left_out)
        if master_units < start_units \
                and not candidate_violations(candidates, units, left_out, policy):
            found = Found(units, left_out)
    port_shares = None if generated.weights is None else \
        master.lp_values(generated.weights, built.ports["var"].to_numpy())
    return Columns(generated, found, master_units, status, time.perf_counter() - started, cut,
                   lagrangian, master.columns, perturbed,
                   len(across_caps), early_units,
                   master if status == "OPTIMAL" and not priced_beside else None, port_shares,
                   tree)


def _port_tree(master: Master, generated: ColumnGeneration, ports: np.ndarray,
               incumbent: np.ndarray, options: SolveOptions, stop: Callable[[], bool],
               deadline: float) -> PortTree:
    """The master's branch and price on `ports` (their variables; placer.port_tree) until
    `deadline`, from column generation's rounds, to a bound within the gap limit of the
    incumbent."""
    return grow_port_tree(master, generated, ports, master.objective[ports], incumbent,
                          deadline, options.resolved_workers(), stop,
                          float(master.objective @ incumbent), options.gap or 0.0)


def _price_for_bound(master: Master, prices: np.ndarray, hint: np.ndarray, deadline: float,
                     stop: Callable[[], bool], known: float) -> LagrangianBound | None:
    """The Lagrangian bound at `prices` (of the master's coupling rows), every piece
    searched on one thread until `deadline` (those not done by then keep the bound they
    reached), or the bound `known` when higher; None when stopped."""
    started = time.perf_counter()
    priced = master.price(prices, hint, 1, deadline, should_stop=stop)
    if priced is None or priced.bound is None:
        return None
    return LagrangianBound(max(priced.bound, known), master.pieces,
                           int((~master.choose_one).sum()), 0, time.perf_counter() - started,
                           priced.cut_short)


PARTS_AT_ONCE = 2
# Fleets are solved in parts when the LP of the whole is out of reach, and also from
# this many workloads, or from PARTS_GIVEN_TIME_WORKLOADS when the time limit is at
# least PARTS_GIVEN_TIME_SECONDS: see in_parts.
PARTS_WORKLOADS = 10_000
PARTS_GIVEN_TIME_WORKLOADS = 4_000
PARTS_GIVEN_TIME_SECONDS = 20.0
# A part given this long is solved as a fleet that wants its bound (LP with the rounding
# cuts, the Lagrangian's pieces searched to their proof, full rounds of columns): its
# bound is not the whole's, but its plan is cheaper. Three parts of 2,500 workloads of
# the 10,000 fleet, on one core each side by side: at 28 s $49.61M / $50.36M / $50.08M
# against $49.71M / $50.37M / $50.47M as guides; at 14 s (a part's time at 100,000)
# $49.75M / $50.43M / $51.87M against $49.79M / $50.46M / $51.28M. But in the fleet,
# in a slower hour, each part's Lagrangian pieces searched on a thread of their own
# (10-14 s) and the fleet's bound priced beside the parts made five busy threads on two
# cores: at 28 s a part's LP with the cuts ran out in 6 of 32 parts logged, every part
# reached its master at its deadline, and some parts' plans were their warm starts'
# (15-20 % dearer).
# The 10,000 fleet (seed 0) in parts of 28 s (60 s), ten runs at 20 (half of them with
# _guide_lp's fallback): $200.6M-$217.7M (1.7-9.4 %); as guides, three runs:
# $200.88M-$200.90M (1.08-1.10 %). In parts of 43 s (90 s) $200.35M / $200.57M against
# $200.51M / $200.56M as guides; of 72 s (150 s) $199.81M / $199.76M against $200.25M /
# $200.11M.
PART_LAGRANGIAN_SECONDS = 45.0
# The bound at the parts' prices is priced only when the time left exceeds this many
# times what the first one took (it runs beside the last parts, and is waited for),
# and the first took at most this share of a batch of parts' time. At 100,000 workloads
# (22-30 s, batches of 15 s, in a slow hour) it never raised the bound from the sample's
# prices ($1,950.6M and $1,957.5M in earlier sessions, $750.5M at one part's prices in
# this one, against $1,963.3M), and its core, taken from the parts for 45 s, left their
# LPs out of time; at 10,000 (1.7 s, batches of 30 s) it raised it from $197.3M to
# $198.7M.
BOUND_AGAIN_FACTOR = 1.5
BOUND_AGAIN_SHARE = 0.5
# The parts' prices are priced with serving workloads' demand cut into this many cells
# (relax.whole_instances: a unit's supply rounds up to whole cells, so the bound gains
# with them), when the time left allows BOUND_AGAIN_FACTOR times what the first took
# times BOUND_CELLS_COST (what the finer cells cost against INSTANCE_CELLS). The 10,000
# fleet, every part's prices: with 256 / 1,024 / 4,096 cells $198.68M / $198.99M /
# $199.07M in 1.0-1.4 / 2.8-3.6 / 13.2-16.1 s alone (the Lagrangian there, its pieces
# searched, is about 0.3 % above the 256 cells' bound at 1,000 workloads); in the fleet
# at 60 s, 1,024 cells: seeds 0 / 1 0.83 % / 0.95-0.98 % -> 0.62-0.66 % / 0.82-0.84 %,
# the plans within their spread.
BOUND_CELLS = 1024
BOUND_CELLS_COST = 3.0
SUMMED_OVER_PARTS = ("build_s", "warm_start_s", "core_rows", "core_s",
                     "core_searches", "deterministic_time", "variables", "constraints")


def in_parts(candidates: Candidates, time_limit: float) -> bool:
    """Whether to solve in parts (placer.parts): when there are parts to make, and the LP
    of the whole may not finish in its share of the time (lp_seconds, LP_SHARE:
    without it the whole's plan follows capacity prices alone; 3,000 workloads at 10 s,
    whole $71.95M / 18.2 %, in two parts $61.73M / 2.61 %; 5,000 at 10 s $124.1M / 21.9
    % against $100.8M / 2.20 %; at 20 s, the LP in reach, 3,000 whole $60.77M / 0.73 %,
    in parts $61.24M / 1.83 %), or the fleet is large enough that the parts find
    cheaper plans than the whole's search. Measured, 10,000 workloads at 60 s on two
    cores: whole $241.7M; in parts one at a time while the other core proved the whole's
    LP and Lagrangian bounds (46 s for the LP, and both below the bound without an LP)
    $228.1M; in parts two side by side $212.9M (five parts, seed 0). Earlier, on a
    machine three times as fast, in parts against whole (one at a time beside the
    bound): 5,000 at 60 s $105.7M / $104.1M against $106.4M / $105.5M, at 20 s $108.4M
    against $110.7M; 4,000 at 60 s $83.7M / $82.2M against $84.1M / $83.1M, but at 10 s
    $91.4M against $89.2M (each part's LP and warm start take most of its share); 3,000
    at 60 s $63.5M against $63.3M."""
    workloads = candidates.workloads.height
    return workloads > PART_WORKLOADS and (
        lp_seconds(candidates.rows) > time_limit * LP_SHARE
        or workloads >= PARTS_WORKLOADS
        or (workloads >= PARTS_GIVEN_TIME_WORKLOADS and time_limit >= PARTS_GIVEN_TIME_SECONDS))


def _relax(built: BuiltModel, candidates: Candidates, seconds: float,
           stop: Callable[[], bool], cuts: bool = True) -> Relaxation | Infeasible | None:
    """The LP relaxation of the model of `candidates`, by column generation over its rows
    when they are many (placer.relax); `cuts`: with the rounding cuts, where not too
    many rows (relax.CUT_ROWS_UP_TO_COLUMNS)."""
    return solve_relaxation(built.builder, time_limit=seconds, unit_vars=built.units,
                            unit_owner=candidates.rows["w"].to_numpy(), should_stop=stop,
                            cuts=cuts)


def _lagrangian_beside(pieces: Pieces, pending: list[int], deadline: float,
                       stop: Callable[[], bool]) -> Future[LagrangianBound | None]:
    """The Lagrangian bound at the LP's duals once the pieces `pending` are searched:
    beside the search (on one thread), since it is needed only at the end, for at most
    LAGRANGIAN_SHARE of the time left."""
    pieces.pending = list(pending)
    return _beside("lagrangian", _finish_pieces, pieces,
                   LAGRANGIAN_SHARE * max(0.0, deadline - time.perf_counter()), stop)


def _finish_pieces(pieces: Pieces, seconds: float, stop: Callable[[], bool]
                   ) -> LagrangianBound:
    """The Lagrangian bound, once the pieces left are searched (on one thread)."""
    if pieces.pending:
        search_pieces(pieces, seconds, 1, stop)
    return pieces.result()


def _lp_bound(relaxation: Relaxation) -> float:
    """The LP's bound, a hair below its float objective (rounding noise)."""
    return relaxation.objective - 1e-7 * abs(relaxation.objective)


def _beside(name: str, fn: Callable[..., Any], *args: Any) -> Future[Any]:
    """`fn(*args)` on a thread of its own; its result when asked for."""
    background = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
    future = background.submit(fn, *args)
    background.shutdown(wait=False)
    return future


def part_count(workloads: int, workers: int) -> tuple[int, int]:
    """How many parts, of at most PART_WORKLOADS workloads, and how many of them side by
    side: each part's searches run on its share of the cores, with more time (2,000
    workloads: 6 s each side by side as good as 6 s each in turn, 3 s each 13 % dearer),
    and the parts make full batches, so that no core idles in the last."""
    at_once = min(workers, PARTS_AT_ONCE)
    return at_once * math.ceil(workloads / (PART_WORKLOADS * at_once)), at_once


def _solve_in_parts(candidates: Candidates, policy: Policy, options: SolveOptions,
                    started: float, base_info: dict[str, Any], caps: dict[str, float | None],
                    reasons: dict[int, str]) -> Plan | None:
    """The plan put together from its parts' plans, each part solved as a fleet of its
    own, PARTS_AT_ONCE side by side; None when a part finds no plan (the whole is then
    solved at once, in the time left). The bound is the one without an LP
    (_price_capacity's, priced beside the parts), from a sample's prices when the
    sample's LP finishes in time, and again at the prices of the first batch's parts,
    which each part reports as soon as its LP is solved and again after its rounds of
    columns (_bound_in_parts)."""
    workers = options.resolved_workers()
    parts, at_once = part_count(candidates.workloads.height, workers)
    scale = choose_scale(candidates.rows, candidates.workloads)
    # per part solved: its number, workloads, seconds given and solver info
    solved: list[tuple[int, int, float, dict[str, Any]]] = []
    pool: PartWorkers | None = None  # side by side, each part in a process of its own
    # per part, the last prices it reported (its LP's, then its master's after the rounds
    # of columns), for the bound: the first batch's, set when as many parts as a batch
    # holds have reported their master's, when the first batch is in, or at the end; and
    # every part's, set when every part has reported its master's, or at the end
    latest: dict[int, LPPrices] = {}
    first_prices: Future[list[LPPrices]] = Future()
    every_prices: Future[list[LPPrices]] = Future()
    answered = threading.Lock()
    numbering = itertools.count()

    def report(part: int = -1, prices: LPPrices | None = None, batch_in: bool = False,
               all_in: bool = False) -> None:
        with answered:
            if prices is not None:
                latest[part] = prices
            after_columns = sum(p.after_columns for p in latest.values())
            for future, ready in ((first_prices, after_columns >= at_once or batch_in),
                                  (every_prices, after_columns >= parts)):
                if (ready or all_in) and not future.done():
                    future.set_result(list(latest.values()))

    def solve_part(sub: Candidates, part_policy: Policy, seconds: float,
                   until: Callable[[], float]) -> tuple[np.ndarray, np.ndarray] | None:
        # a part's bound is not the whole's, but with time the steps to it guide better
        number = next(numbering)
        options = replace(part_options, time_limit=seconds,
                          lagrangian=seconds >= PART_LAGRANGIAN_SECONDS,
                          on_lp_prices=functools.partial(report, number))
        answer = pool.solve(sub, part_policy, options,
                            lambda: stop() or time.perf_counter() >= until(), until()
                            ) if pool is not None else None
        if answer is None:  # no worker, or it failed: in this process, in the time left
            # (to its deadline: in this process only Ctrl-C cuts it short)
            left = max(0.1 * seconds, until() - time.perf_counter())
            plan = solve_built_candidates(sub, part_policy, replace(options, time_limit=left))
            answer = part_answer(plan, sub)
        with answered:
            solved.append((number, sub.workloads.height, seconds, answer[1]))
            batch_in = len(solved) >= at_once
        report(batch_in=batch_in)
        return answer[0]

    with _interruptible() as stop:
        start = sample_prices(candidates, policy, options.seed,
                              sample_seconds(options.time_limit), stop)
        # a part whose LP is out of reach steps its capacity prices from the sample's:
        # 100,000 workloads, five parts given 1.2 s, plans 3.3-8.1 % cheaper than from
        # zero; given 0.1 s, 3.6-6.6 % cheaper, in 0.62-0.73 s against 0.85-0.92 s
        part_options = replace(options, progress=None, explain=False, in_parts=False,
                               branch=False, workers=max(1, workers // at_once),
                               start_prices=start)
        # the workers start (2.3 s of imports each) only now, not beside the sample's LP
        # and its short time (10,000 workloads: no prices from it then)
        pool = _part_workers(at_once) if at_once > 1 else None
        with pool or contextlib.nullcontext():
            # the bound from the sample's prices before the parts, not beside them: there
            # its core (100,000 workloads, a slow hour: 30 s) was taken from the first
            # batches' parts, whose LPs then ran out (7 of 40 parts; the first 10 parts'
            # plans $52.9M-$61.7M, most later ones' $45.4M-$52.7M)
            reporter = _Progress(options.progress, scale, started)  # ticks from here
            first = _first_bound(candidates, policy, scale, start)
            reporter.show_bound(first[0])
            priced = _beside("bound", _bound_in_parts, candidates, policy, scale, first,
                             [first_prices, every_prices], started + options.time_limit,
                             options.time_limit * at_once / parts)
            priced.add_done_callback(lambda done: reporter.show_bound(done.result()))
            try:
                whole = solve_in_parts(candidates, policy,
                                       partition(candidates, parts, options.seed),
                                       options.time_limit - (time.perf_counter() - started),
                                       solve_part, stop, at_once)
            finally:
                report(all_in=True)  # parts that never reported (a stop): the bound goes on
            bound_units = priced.result()
            reporter.close()
    if whole is None and stop():
        return _no_plan(candidates, policy, {**base_info, "parts": parts, "deterministic": False},
                        caps, "unknown",
                        ["the search was interrupted before every part had a plan"],
                        stop_reason="interrupted", bound_usd=bound_units / scale)
    if whole is None or candidate_violations(candidates, whole.units, whole.left_out, policy):
        return None
    info = {
        **base_info, "engine": base_info["engine"] + f" (in {parts} parts)",
        "status": "FEASIBLE", "time_s": round(time.perf_counter() - started, 4),
        # sizes and times: summed over the parts' solves
        **{key: round(sum(part[-1][key] for part in solved), 4) for key in SUMMED_OVER_PARTS},
        "money_scale": scale, "parts": parts, "part_retries": whole.retries,
        "part_plans": [_part_info(*part) for part in sorted(solved, key=lambda part: part[0])],
        **({"part_workers_peak_mb": pool.peak_mb} if pool is not None else {}),
        "stop_reason": "interrupted" if stop() else "time limit",
        # each part's time is a share of what the wall clock left
        "deterministic": False,
    }
    return make_plan(candidates, whole.units, whole.left_out,
                     ports_used(candidates, whole.units), status="feasible",
                     bound_usd=bound_units / scale, solver=info, pricing=policy.pricing,
                     caps=caps, unplaced_reasons=reasons)


def _part_info(number: int, workloads: int, seconds: float, info: dict[str, Any]
               ) -> dict[str, Any]:
    """SolverInfo.part_plans' entry for a part: its `info` as its solver returned it
    (plan.part_answer's; the steps it did not reach are left out of it)."""
    return {"part": number, "workloads": workloads, "time_limit_s": round(seconds, 4),
            "time_s": info["time_s"], "total_usd": info["total_usd"],
            "lp_bound_usd": info.get("lp_bound_usd"),
            "columns_rounds": info.get("columns_rounds", 0),
            "columns_perturbed_rounds": info.get("columns_perturbed_rounds", 0),
            "master_status": info.get("master_status"), "stop_reason": info["stop_reason"]}


def sample_seconds(time_limit: float) -> float:
    """What a fleet solved in parts gives its sample's LP (SAMPLE_SHARE, SAMPLE_MIN_S)."""
    return max(SAMPLE_SHARE * time_limit, min(SAMPLE_MIN_S, SAMPLE_MAX_SHARE * time_limit))


def _first_bound(candidates: Candidates, policy: Policy, scale: float,
                 start: LPPrices | None) -> tuple[float, float]:
    """The bound without an LP (_price_capacity) from the sample's prices (from zero
    without them), and the seconds its pricing took."""
    started = time.perf_counter()
    bound = _price_capacity(candidates, policy, scale, None,
                            None if start is None else start.on_fleet(candidates.rows)).bound
    return bound, time.perf_counter() - started


def _bound_in_parts(candidates: Candidates, policy: Policy, scale: float,
                    first: tuple[float, float], price_sets: list[Future[list[LPPrices]]],
                    deadline: float, batch_seconds: float) -> float:
    """The bound of a fleet solved in parts: the `first` (_first_bound's), or higher, at
    the mean of each set of prices the parts report in turn (`price_sets`: the first
    batch's, then every part's; each part's masters' after the rounds of columns where
    it has them, else its LP's) when the set has more parts than the last one priced,
    there is time for it before `deadline`, and the first took at most BOUND_AGAIN_SHARE
    of `batch_seconds`, a batch of parts' time (the pricing takes a core from the parts
    beside it); the best one. Those parts are far larger samples (2,500 workloads each
    against 1,000 at 10,000 workloads), and their LPs' prices (with the rounding cuts,
    as a part given PART_LAGRANGIAN_SECONDS solves it) did better than even the whole's
    LP's: 10,000 workloads, seed 1, $196.4M from the sample's, $197.6M from the whole's
    LP, $198.2M from the first two parts' mean (seed 0: $197.3M, $197.7M, $198.2M);
    their masters' after the rounds, $198.5M on both; all four parts' masters' (seed 0),
    $198.6M; as guides (without the cuts), $198.7M (seed 0). Where there is time, at
    BOUND_CELLS cells."""
    bound, took = first
    if took > BOUND_AGAIN_SHARE * batch_seconds:
        return bound
    priced = 0  # parts in the set last priced
    for future in price_sets:
        prices = future.result()
        left = deadline - time.perf_counter()
        if len(prices) > priced and left > BOUND_AGAIN_FACTOR * took:
            cells = BOUND_CELLS if left > BOUND_AGAIN_FACTOR * took * BOUND_CELLS_COST \
                else INSTANCE_CELLS
            bound = max(bound, _price_capacity(candidates, policy, scale, None,
                                               averaged(prices, candidates.rows),
                                               cells).bound)
            priced = len(prices)
    return bound


def _part_workers(count: int) -> PartWorkers | None:
    """Worker processes for the parts; None (the parts then run in threads) where they
    cannot be started."""
    try:
        return PartWorkers(count)
    except OSError:
        return None


def _columns_info(columns: Columns | None, scale: float) -> dict[str, Any]:
    """SolverInfo's fields for column generation (placer.colgen)."""
    if columns is None:
        return {}
    generated = columns.generated
    return {"columns_rounds": generated.rounds, "columns": columns.columns,
            "columns_perturbed_rounds": columns.perturbed_rounds,
            "columns_across_caps": columns.across_caps,
            "columns_s": round(columns.time_s, 4),
            "columns_bound_usd": _usd(generated.bound, scale),
            "master_usd": _usd(columns.master_units, scale),
            "master_early_usd": _usd(columns.early_units, scale),
            "master_status": columns.master_status}


def _ports_in_part(built: BuiltModel, columns: Columns | None) -> list[dict[str, Any]]:
    """The ports column generation's master LP buys in part, and how much of each."""
    if columns is None or columns.port_shares is None:
        return []
    shares = columns.port_shares
    part = np.flatnonzero(in_part(shares))
    ports = built.ports
    return [{"codebase": ports["port_key"][i], "ecosystem": ports["port_ecosystem"][i],
             "usd": float(ports["port_usd"][i]), "share": round(float(shares[i]), 6)}
            for i in part.tolist()]


def _tree_info(built: BuiltModel, columns: Columns | None) -> dict[str, Any]:
    """SolverInfo's fields for the branching on ports (placer.port_tree)."""
    tree = None if columns is None else columns.tree
    if tree is None:
        return {}
    ports = dict(zip(built.ports["var"].to_list(), zip(
        built.ports["port_key"].to_list(), built.ports["port_ecosystem"].to_list(),
        strict=True), strict=True))

    def refs(fixed: dict[int, int], value: int) -> list[dict[str, str]]:
        return [{"codebase": ports[v][0], "ecosystem": ports[v][1]}
                for v, at in fixed.items() if at == value]

    return {"branch_nodes": [
        {"bought": refs(node.fixed, 1), "forbidden": refs(node.fixed, 0),
         "bound_usd": _usd(node.bound, built.scale), "rounds": node.rounds,
         "time_s": round(node.time_s, 4), "deterministic": not node.cut_by_time,
         "finished": not node.unfinished}
        for node in tree.nodes], "branch_stop_reason": tree.stop_reason}


def _usd(units: float | None, scale: float) -> float | None:
    return None if units is None else round(units / scale, 2)


def lp_seconds(rows: pl.DataFrame) -> float:
    """The LP relaxation's time on these candidate rows, estimated (LP_SECONDS_PER_ROW)."""
    serving = rows.height - int((rows["kind"] == "training").sum())
    return rows.height * LP_SECONDS_PER_ROW + serving * LP_SECONDS_PER_SERVING_ROW


def lp_within_reach(rows: pl.DataFrame, seconds: float, ceiling: float = math.inf) -> bool:
    """Whether the LP relaxation may finish in its share of the time (`seconds`); when it
    cannot, its time goes to the search instead (100,000 workloads, 300 s: 90 s of LP
    that never finished). Below FULL_LP_COLUMNS rows it is tried even so (a fleet too
    small for parts has no better way to its guide), unless its estimate passes
    `ceiling` (LP_BEYOND_REACH, GUIDE_LP_BEYOND_REACH)."""
    estimate = lp_seconds(rows)
    return estimate <= seconds or (rows.height <= FULL_LP_COLUMNS and estimate <= ceiling)


def _priced_relaxation(built: BuiltModel, candidates: Candidates, policy: Policy,
                       start: LPPrices | None = None) -> Relaxation:
    """The Lagrangian relaxation over capacity and the caps in the shape of an (unproven)
    LP solution: its bound, each workload's choice at the best prices, and the priced
    reduced costs; its steps from `start` where given (START_STEPS), else from zero."""
    started = time.perf_counter()
    priced = _price_capacity(candidates, policy, built.scale, None,
                             None if start is None else start.on_fleet(candidates.rows))
    values = np.zeros(built.builder.num_vars)
    values[built.units] = priced.units
    reduced = np.zeros(built.builder.num_vars)
    reduced[built.units] = priced.reduced_costs
    return Relaxation(optimal=False, objective=priced.bound, values=values,
                      reduced_costs=reduced, time_s=time.perf_counter() - started)


@dataclass
class Found:
    """A plan as the solver sees it: units per candidate row, workloads left out."""

    units: np.ndarray
    left_out: np.ndarray


@dataclass
class CoreSearch:
    """What searching the core found (nothing when it did not run)."""

    found: Found | None = None  # a plan cheaper than the warm start
    solved: bool = False        # to optimality, or to the gap limit (on the core)
    rows: int = 0
    time_s: float = 0.0
    deterministic_time: float = 0.0
    status: str = "NOT_STARTED"
    cut_by_time: bool = False   # stopped by the wall clock before its deterministic limit
    searches: int = 0           # 1, or the neighbourhoods searched (placer.lns)
    whole_after: bool = False   # left time for the whole model's search


def _search_core(built: BuiltModel, candidates: Candidates, policy: Policy,
                 options: SolveOptions, workers: int, start: Placement | Found,
                 core_units: np.ndarray | None, columns: Columns | None, time_left: float,
                 bound_units: float | None, stop: _Interrupt,
                 search_started: float) -> CoreSearch:
    """Search the core (placer.core) from the warm start, with all the time left: on
    fleet-sized models even one search of it improves the plan all along (1,000
    workloads: 23.09M -> 22.84M at 0.3 s, 22.10M at 4.7 s), while the whole model's search
    adds to the bound but not to the plan. A core with many workloads to choose for is
    widened (core.cheapest_rows) and searched a neighbourhood at a time (placer.lns; the
    narrow neighbourhoods also reach rows outside it); a small one in one short search
    first, which may prove it, then by neighbourhoods, those around full offerings too
    (lns.SMALL_FLEET_TURNS), for at most WHOLE_AFTER_NEIGHBOURHOODS_S: time left after
    them goes to the whole model's search (`whole_after`)."""
    started = time.perf_counter()
    rows = core_rows(start.units, core_units)
    if len(rows) > CORE_MAX_SHARE * candidates.rows.height:
        return CoreSearch()
    # the core's bound is not the problem's: the live line shows the one known before
    reporter = _Progress(options.progress, built.scale, started=search_started,
                         bound_units=bound_units,
                         best_units=objective_units(built, candidates, start.units,
                                                    start.left_out))
    core = np.zeros(candidates.rows.height, dtype=bool)
    core[rows] = True
    found = Found(start.units, start.left_out)
    search = CoreSearch()
    small = len(free_workloads(candidates, core)) <= LNS_ABOVE_WORKLOADS
    if small:
        core_table = core_candidates(candidates, rows)
        model = build_model(core_table, policy, scale=built.scale)  # the progress's units
        force_unplaced(model, set(core_table.rows["w"].unique().to_list()))
        complete_hint(model, core_table, start.units[rows], start.left_out)
        search, at_once = _core_at_once(model, options, workers, time_left, stop, reporter,
                                        CORE_AT_ONCE_SHARE * options.time_limit)
        if at_once is not None:
            units = np.zeros(candidates.rows.height, dtype=np.int64)
            units[rows] = at_once.units
            found = Found(units, at_once.left_out)
    time_left -= time.perf_counter() - started
    if not search.solved and not stop() and time_left > 0:
        rows = np.union1d(rows, cheapest_rows(candidates, CHEAPEST_ROWS_PER_WORKLOAD))
        core[rows] = True
        recombine = None if columns is None or columns.master is None else \
            _recombiner(built, candidates, policy, columns.master, options.seed, stop)
        budget_s = min(options.time_limit, WHOLE_AFTER_NEIGHBOURHOODS_S) if small \
            else options.time_limit
        by_neighbourhoods, found = _core_by_neighbourhoods(
            candidates, policy, built, core, found, options, time_left, stop, reporter,
            recombine, SMALL_FLEET_TURNS if small else TURNS, budget_s)
        search = CoreSearch(
            status=by_neighbourhoods.status,
            searches=search.searches + by_neighbourhoods.searches,
            deterministic_time=search.deterministic_time
            + by_neighbourhoods.deterministic_time,
            cut_by_time=search.cut_by_time or by_neighbourhoods.cut_by_time,
            whole_after=small and not by_neighbourhoods.cut_by_time)
    reporter.close()
    search.rows = len(rows)
    if objective_units(built, candidates, found.units, found.left_out) \
            < objective_units(built, candidates, start.units, start.left_out):
        search.found = found
    search.time_s = time.perf_counter() - started
    return search


def _first_plan(built: BuiltModel, options: SolveOptions, workers: int, started: float,
                stop: _Interrupt, reporter: _Progress) -> CoreSearch:
    """The whole model searched for a first plan only, where the warm start and column
    generation found none that keeps the rules: the searches after it (the core's,
    placer.lns) improve a plan better than CP-SAT's own neighbourhoods. By workers that
    branch on the LP's reduced costs (_first_plan_workers), in rounds of
    FIRST_PLAN_ROUND_S deterministic seconds, twice as long each time, each with the next
    seeds: the time to a first plan is heavy-tailed across seeds.

    The model's hint (the warm start, which breaks a rule) is dropped: OR-Tools 9.15
    aborts the process when a search stopped at its first solution finds it in a
    complete hint, and the next search's hint is written from the plan found."""
    began = time.perf_counter()
    built.model.clear_hints()
    search = CoreSearch()
    limit, seed = FIRST_PLAN_ROUND_S, options.seed
    while not stop():
        time_left = options.time_limit - (time.perf_counter() - started)
        if time_left <= 0:
            search.cut_by_time = True
            break
        solver = cp_model.CpSolver()
        _set_parameters(solver, replace(options, seed=seed), workers, time_left=time_left,
                        num_vars=built.builder.num_vars, deterministic_limit=limit,
                        bound_worker=False)
        _first_plan_workers(solver.parameters, workers, seed)
        solver.parameters.max_deterministic_time = limit  # the round's end, in any mode
        solver.parameters.stop_after_first_solution = True
        status = _run(solver, built.model, reporter, stop)
        search.searches += 1
        search.deterministic_time += solver.deterministic_time
        search.status = solver.status_name(status)
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            values = np.fromiter(solver.response_proto.solution, dtype=np.int64)
            search.found = Found(values[built.units], _left_out(built, values))
            search.solved = status == cp_model.OPTIMAL
            break
        if status != cp_model.UNKNOWN:
            break  # INFEASIBLE (or MODEL_INVALID, which the caller raises)
        if solver.deterministic_time < limit * 0.999:
            search.cut_by_time = True  # the wall clock's stop, not the round's
            break
        limit, seed = 2 * limit, seed + max(1, workers)
    reporter.close()
    search.time_s = time.perf_counter() - began
    return search


def _core_at_once(model: BuiltModel, options: SolveOptions, workers: int, time_left: float,
                  stop: _Interrupt, reporter: _Progress, deterministic_limit: float
                  ) -> tuple[CoreSearch, Found | None]:
    """One CP-SAT search of the core, from the hint."""
    solver = cp_model.CpSolver()
    _set_parameters(solver, options, workers, time_left=max(0.1, time_left),
                    num_vars=model.builder.num_vars, deterministic_limit=deterministic_limit,
                    bound_worker=False)
    status = _run(solver, model.model, reporter, stop)
    gap = _own_gap(solver) if status == cp_model.FEASIBLE else None
    search = CoreSearch(
        status=solver.status_name(status), searches=1,
        solved=status == cp_model.OPTIMAL or (
            gap is not None and options.gap is not None and gap <= options.gap),
        deterministic_time=solver.deterministic_time,
        cut_by_time=options.deterministic and _stopped_by_wall(status, solver,
                                                               deterministic_limit, options.gap))
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return search, None
    values = np.fromiter(solver.response_proto.solution, dtype=np.int64)
    return search, Found(values[model.units], _left_out(model, values))


def _core_by_neighbourhoods(candidates: Candidates, policy: Policy, built: BuiltModel,
                            core: np.ndarray, start: Found, options: SolveOptions,
                            time_left: float, stop: _Interrupt, reporter: _Progress,
                            recombine: Recombine | None, turns: str, budget_s: float
                            ) -> tuple[CoreSearch, Found]:
    """Many small searches, each re-placing a few workloads (placer.lns), their kinds in
    `turns`: the wide ones over the core's rows (a mask), the others over all rows; each
    cheaper plan recombined with column generation's master's columns by `recombine`,
    when given."""
    reporter.best = objective_units(built, candidates, start.units, start.left_out) \
        / built.scale

    def better(saving_units: int) -> None:
        reporter.best -= saving_units / built.scale

    improved = improve_by_chains(
        candidates, policy, built, start.units, start.left_out, budget_s=budget_s,
        wall_s=max(0.1, time_left), seed=options.seed, stop=stop,
        chains=options.resolved_workers(),
        cost=lambda units, left_out: objective_units(built, candidates, units, left_out),
        on_better=better, core=core, between_rounds=recombine, turns=turns)
    search = CoreSearch(status="FEASIBLE", searches=improved.searches,
                        deterministic_time=improved.deterministic_time,
                        cut_by_time=improved.cut_by_time)
    return search, Found(improved.units, improved.left_out)


def _recombiner(built: BuiltModel, candidates: Candidates, policy: Policy, master: Master,
                seed: int, stop: _Interrupt) -> Recombine:
    """A plan of the search's recombined with `master`'s columns: its pieces added as
    columns, the master searched again from it (RECOMBINE_DETERMINISTIC_S); its plan
    when cheaper and keeping every rule, else None (also where the wall clock stopped
    the search: the same input and seed then give the same plan)."""
    def recombined(units: np.ndarray, left_out: np.ndarray, seconds: float
                   ) -> tuple[np.ndarray, np.ndarray] | None:
        if stop() or seconds <= 0:
            return None
        values = full_values(built, candidates, units, left_out)
        master.add(values)
        solved = master.solve_ip(values, RECOMBINE_DETERMINISTIC_S, seconds, seed)
        if solved.values is None or solved.cut_by_time:
            return None
        found = solved.values[built.units], _left_out(built, solved.values)
        if objective_units(built, candidates, *found) \
                >= objective_units(built, candidates, units, left_out) \
                or candidate_violations(candidates, *found, policy):
            return None
        return found

    return recombined


def _price_capacity(candidates: Candidates, policy: Policy, scale: float,
                    upper: float | None = None, start: Prices | None = None,
                    cells: int = INSTANCE_CELLS) -> PricedCapacity:
    """relax.price_capacity in solver units (`scale` per USD; a unit's cost is its
    compute and carbon), with a hair off the bound for rounding. Terms the model has
    are kept, as each holds for every plan: a row's egress, paid once for up to
    max_units units, is at least egress / max_units a unit (and paid once a row where
    whole instances are bought, relax.Once); an instance serves at most
    the whole demand (coefficient strengthening, as model.cover_inference_demand does);
    ports are bought whole, once for all who use them; the caps are priced; an instance
    a spread rule forbids is not bought. Measured on
    the generated fleets, bound with the first two -> with ports too (the LP's): 1,000
    workloads $16.25M -> $17.92M ($18.96M); 10,000 $160.2M -> $179.7M ($183.6M); 100,000
    $1,579.5M -> $1,771.6M, in 11.2 s against 7.3 s (then relax.TARGET_ABOVE_BEST:
    $1,792.0M; then the caps, relax.CAP_ROUNDS: $1,812.4M in 17.0 s; then whole
    instances and prices from a sample, placer.sample: $1,921.1M; then no instance a
    spread rule forbids: 1,000 $19.13M -> $19.27M, 10,000 $193.4M -> $194.8M, 100,000
    $1,937.4M; then each provider's share of a spread workload, relax.spread_covers:
    $19.37M, $195.4M, $1,943.9M; then egress once a row in whole instances: $19.43M,
    $195.8M, $1,947.5M, in 7.2-8.0 s against 6.2 s before both). `start`: prices in USD
    (placer.sample's), with START_STEPS steps from them rather than 300 from zero;
    `cells`: relax.whole_instances'."""
    rows, workloads = candidates.rows, candidates.workloads
    training = (rows["kind"] == "training").to_numpy()
    wl_training = (workloads["kind"] == "training").to_numpy()
    value = np.where(workloads["required"].to_numpy(), np.nan,
                     workloads["value_usd"].fill_null(0).to_numpy() * scale)
    demand = np.where(wl_training, 1.0, workloads["demand"].fill_null(0).to_numpy())
    w_of_row = rows["w"].to_numpy()
    supply = np.where(training, 1.0, np.minimum(rows["unit_ref"].fill_null(1).to_numpy(),
                                                demand[w_of_row]))
    row_cost = to_units(rows["unit_compute_usd"] + rows["unit_carbon_usd"], scale)
    # a spread rule holds each provider's instances to max_fraction of the demand
    # (model.spread_inference_across_providers): a larger instance is never bought
    fraction = workloads["spread_max_fraction"].fill_null(1.0).to_numpy()
    too_large = ~training & (fraction < 1)[w_of_row] & (
        rows["unit_ref"].fill_null(1).to_numpy() > (fraction * demand)[w_of_row] * (1 + 1e-6))
    chips, offering_of_row = rows["unit_chips"].to_numpy(), offering_ids(rows, candidates.offerings)
    capacity = fillable_capacity(chips, offering_of_row,
                                 candidates.offerings["capacity_chips"].to_numpy())
    priced = price_capacity(
        np.where(too_large, np.inf, row_cost), w_of_row, supply, demand, value,
        chips.astype(np.float64), offering_of_row, capacity.astype(np.float64), upper,
        ports=_ports(candidates, scale), caps=_caps(candidates, policy, scale),
        start=None if start is None else start.scaled(scale),
        iterations=PRICE_STEPS if start is None else START_STEPS,
        spread=Spread(np.where(wl_training, 1.0, fraction), group_ids(rows["provider"])[1]),
        once=Once(to_units(rows["egress_usd"], scale).astype(np.float64),
                  rows["max_units"].to_numpy()), cells=cells)
    return replace(priced, bound=priced.bound - 1e-7 * abs(priced.bound)
                   if math.isfinite(priced.bound) else priced.bound)


def _caps(candidates: Candidates, policy: Policy, scale: float) -> Caps:
    """The lock-in caps, as model.cap_lock_in_shares states them, for
    relax.price_capacity."""
    rows = candidates.rows
    return Caps(to_units(rows["unit_compute_usd"], scale).astype(np.float64), tuple(
        (group_ids(rows[dim])[1], float(cap_fraction(share)))
        for dim in DIMENSIONS if (share := getattr(policy.max_share, dim)) is not None))


def _ports(candidates: Candidates, scale: float) -> Ports:
    """The ports, as model.pay_for_ports buys them, for relax.price_capacity."""
    rows = candidates.rows
    ported = rows["port_ecosystem"].is_not_null().to_numpy()
    ecosystems, ecosystem = group_ids(rows["port_ecosystem"].fill_null(""))
    native = 1 if "" in ecosystems else 0  # "" sorts first: the native rows' value
    ecosystem = np.where(ported, ecosystem - native, -1)
    group = port_groups(candidates)
    cost = np.zeros((int(group.max(initial=-1)) + 1, len(ecosystems) - native))
    cost[group[rows["w"].to_numpy()[ported]], ecosystem[ported]] = \
        to_units(rows["port_usd"], scale)[ported]
    return Ports(ecosystem, group, cost)


def _left_out(built: BuiltModel, values: np.ndarray) -> np.ndarray:
    left_out = np.zeros(len(built.unplaced), dtype=bool)
    optional = built.unplaced >= 0
    left_out[optional] = values[built.unplaced[optional]] > 0
    return left_out


def objective_units(built: BuiltModel, candidates: Candidates, units: np.ndarray,
                    left_out: np.ndarray) -> int:
    """The objective of a plan in solver units (to compare two plans exactly)."""
    egress = np.rint(candidates.rows["egress_usd"].to_numpy() * built.scale).astype(np.int64)
    ports = ports_used(candidates, units)["port_usd"].to_numpy()
    values = np.rint(candidates.workloads["value_usd"].fill_null(0).to_numpy()
                     * built.scale).astype(np.int64)
    return int((built.row_cost_units * units).sum() + egress[units > 0].sum()
               + np.rint(ports * built.scale).astype(np.int64).sum() + values[left_out].sum())


def within_gap(cost_units: float, bound_units: float | None, gap: float | None) -> bool:
    """Whether a plan of `cost_units` is proven within the relative gap limit `gap` by
    `bound_units` (as Plan.gap measures it)."""
    if gap is None or bound_units is None or not np.isfinite(bound_units):
        return False
    return cost_units - bound_units <= gap * cost_units if cost_units > 0 \
        else bound_units >= cost_units


def _check_options(options: SolveOptions) -> None:
    from placer.errors import InputError

    if not options.time_limit > 0:
        raise InputError(f"--time-limit must be greater than 0, got {options.time_limit:g}")
    if options.workers is not None and not 1 <= options.workers <= 256:
        raise InputError(f"--workers must be between 1 and 256, got {options.workers}")
    if options.gap is not None and not 0 <= options.gap < 1:
        raise InputError(f"--gap must be a fraction in [0, 1), got {options.gap:g}")
    if not 0 <= options.seed < 2**31:
        raise InputError(f"--seed must be between 0 and 2147483647, got {options.seed}")


def _ortools_version() -> str:
    import ortools

    return ortools.__version__


def _set_parameters(solver: cp_model.CpSolver, options: SolveOptions, workers: int,
                    time_left: float, num_vars: int, deterministic_limit: float,
                    bound_worker: bool) -> None:
    """bound_worker: add CP-SAT's worker with the fullest LP (for the bound)."""
    params = solver.parameters
    params.num_workers = workers
    params.random_seed = options.seed
    params.max_time_in_seconds = time_left
    # The LP at linearization level 2 holds the port and egress links that presolve turns
    # into enforced constraints; at level 1 they drop out and the bound collapses.
    params.linearization_level = 2
    # A worker with the fullest LP proves more on fleet-sized models (1,000 workloads:
    # bound $19.9M against $19.0M at 10 s); on small ones CP-SAT's own portfolio finds
    # better plans (100 workloads, three seeds: gap 13.0/7.4/14.9 % -> 4.2/6.9/8.3 %)
    # unless the core's search found them already (then the search is for the bound:
    # 100 workloads, $1.510M against $1.466M). Never in the core's search: its bound
    # is not reported.
    if workers > 1 and bound_worker:
        params.subsolvers.append("max_lp")
    # Presolve took 8 s on a 36k-variable model (1,000 workloads) before the search saw
    # the hint; lighter presolve starts the search at 3 s, none at 0.1 s.
    if num_vars > LIGHT_PRESOLVE_VARS:
        params.cp_model_probing_level = 0
        params.symmetry_level = 0
        params.max_presolve_iterations = 1
    if num_vars > NO_PRESOLVE_VARS:
        params.cp_model_presolve = False
    if options.deterministic:
        # Wall-clock limits make a run depend on machine load; a deterministic time
        # limit (a function of the options alone) and interleaved workers make it depend
        # only on the input and the seed. The wall clock stays as a hard cap.
        params.max_deterministic_time = deterministic_limit
        params.interleave_search = workers > 1
        params.interleave_batch_size = workers
    if options.gap is not None:
        params.relative_gap_limit = options.gap
    params.log_search_progress = options.log
    params.log_to_stdout = False
    if options.log:
        solver.log_callback = lambda line: print(line, file=sys.stderr)


def _first_plan_rounds_s(first_plan: CoreSearch) -> float:
    """The deterministic seconds of the rounds the first-plan search ran, each counted at
    its limit (FIRST_PLAN_ROUND_S, then twice the one before)."""
    return FIRST_PLAN_ROUND_S * (2 ** first_plan.searches - 1)


def _first_plan_workers(params: SatParameters, workers: int, seed: int) -> None:
    """One worker per thread branching on the LP's reduced costs (CP-SAT's LP_SEARCH, as
    its own reduced_costs worker), each with a seed of its own (FIRST_PLAN_ROUND_S)."""
    for k in range(max(1, workers)):
        worker = SatParameters()
        worker.name = f"first_plan_{k}"
        worker.search_branching = SatParameters.LP_SEARCH
        worker.linearization_level = 2
        worker.random_seed = seed + k
        params.subsolver_params.append(worker)
        params.subsolvers.append(worker.name)


def _run(solver: cp_model.CpSolver, model: cp_model.CpModel,
         callback: cp_model.CpSolverSolutionCallback, stop: _Interrupt) -> int:
    """Solve in a helper thread, so that Ctrl-C reaches this thread's handler, which
    stops the search (CP-SAT's own handler, off here, would stop it without telling)."""
    solver.parameters.catch_sigint_signal = False
    outcome: dict[str, Any] = {}

    def search() -> None:
        try:
            outcome["status"] = solver.solve(model, callback)
        except BaseException as error:  # re-raised in the caller's thread
            outcome["error"] = error

    thread = threading.Thread(target=search, name="cp-sat", daemon=True)
    thread.start()
    while thread.is_alive():
        if stop():
            solver.stop_search()  # again if the search had not started yet
        thread.join(0.1)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["status"]


def _stop_reason(status: int, solver: cp_model.CpSolver, options: SolveOptions,
                 deterministic_limit: float, interrupted: bool) -> str:
    if _proved_optimal(status, solver):
        return "optimal"
    if status == cp_model.INFEASIBLE:
        return "infeasible"
    if interrupted:
        return "interrupted"
    if options.gap is not None and status in (cp_model.OPTIMAL, cp_model.FEASIBLE) and \
            _own_gap(solver) <= options.gap + 1e-12:  # (no plan, no gap: 0 / 0)
        return "gap limit"
    if options.deterministic and solver.deterministic_time >= deterministic_limit * 0.999:
        return "deterministic time limit"
    return "time limit"


def _proved_optimal(status: int, solver: cp_model.CpSolver) -> bool:
    """OPTIMAL with no gap left: CP-SAT also says OPTIMAL when it stops at the gap limit."""
    return status == cp_model.OPTIMAL and \
        solver.objective_value - solver.best_objective_bound < 1  # integer objective


def _own_gap(solver: cp_model.CpSolver) -> float:
    """The gap CP-SAT proved on the model it searched."""
    objective, bound = solver.objective_value, solver.best_objective_bound
    return (objective - bound) / abs(objective) if objective else 0.0


def _deterministic(status: int, solver: cp_model.CpSolver, options: SolveOptions,
                   deterministic_limit: float, interrupted: bool) -> bool:
    """Whether rerunning with the same input and seed reproduces this plan."""
    if interrupted:
        return False
    if not options.deterministic and options.resolved_workers() > 1:
        return False
    return not _stopped_by_wall(status, solver, deterministic_limit, options.gap)


def _stopped_by_wall(status: int, solver: cp_model.CpSolver, deterministic_limit: float,
                     gap_limit: float | None) -> bool:
    """A stop before the deterministic limit and without a proof: the wall clock's (it
    depends on machine speed). Not judged by the wall time itself: the interleaved
    search stops a batch early, about a second before the wall-clock limit."""
    if status in (cp_model.OPTIMAL, cp_model.INFEASIBLE):
        return False
    if status == cp_model.FEASIBLE and gap_limit is not None and \
            _own_gap(solver) <= gap_limit + 1e-12:
        return False
    return solver.deterministic_time < deterministic_limit * 0.999


def _no_plan(candidates: Candidates, policy: Policy, info: dict[str, Any],
             caps: dict[str, float | None], status: str, explanation: list[str],
             stop_reason: str | None = None, bound_usd: float | None = None) -> Plan:
    info = {"status": status.upper(), "time_s": 0.0, "build_s": 0.0, "money_scale": 100.0,
            "variables": 0, "constraints": 0, "deterministic_time": 0.0,
            "deterministic": True, **info}
    if stop_reason is not None:
        info["stop_reason"] = stop_reason
    empty_ports = pl.DataFrame(schema={"port_key": pl.String, "port_ecosystem": pl.String,
                                       "port_usd": pl.Float64})
    return make_plan(
        candidates, np.zeros(candidates.rows.height, dtype=np.int64),
        np.zeros(candidates.workloads.height, dtype=bool), empty_ports,
        status=status, bound_usd=bound_usd, solver=info, pricing=policy.pricing, caps=caps,
        explanation=explanation,
    )


class _Progress(cp_model.CpSolverSolutionCallback):
    """Feeds best cost, bound, gap and elapsed time to a progress function."""

    def __init__(self, report: ProgressFn | None, scale: float, started: float,
                 bound_units: float | None = None, best_units: float | None = None,
                 known_bound_units: float | None = None) -> None:
        """bound_units: a fixed bound to show instead of the search's own; best_units: the
        plan before the search (shown until it finds a cheaper one); known_bound_units: a
        bound known before it (shown until its own is higher)."""
        super().__init__()
        self.report = report
        self.scale = scale
        self.started = started
        self.best: float | None = None if best_units is None else best_units / scale
        self.fixed_bound = None if bound_units is None else bound_units / scale
        self.known_bound = None if known_bound_units is None or not np.isfinite(
            known_bound_units) else known_bound_units / scale
        self.bound: float | None = self.fixed_bound if self.fixed_bound is not None \
            else self.known_bound
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if report is not None:
            self._thread = threading.Thread(target=self._tick, daemon=True)
            self._thread.start()

    def show_bound(self, bound_units: float) -> None:
        """A fixed bound, known only now."""
        self.fixed_bound = self.bound = bound_units / self.scale

    def on_solution_callback(self) -> None:
        # the plan returned is the cheaper of the search's and the one before it
        found = self.objective_value / self.scale
        self.best = found if self.best is None else min(self.best, found)
        if self.fixed_bound is None:
            own = self.best_objective_bound / self.scale
            self.bound = own if self.known_bound is None else max(own, self.known_bound)

    def _tick(self) -> None:
        while not self._stop.wait(0.5):
            self._report_if_due()

    def _report_if_due(self) -> None:
        """Report, once a second has passed since the start (a shorter solve shows none)."""
        elapsed = time.perf_counter() - self.started
        if elapsed >= 1.0 and self.report is not None:
            self.report(self.snapshot(elapsed))

    def snapshot(self, elapsed: float) -> dict[str, Any]:
        gap = None
        if self.best is not None and self.bound is not None and self.best > 0:
            gap = max(0.0, (self.best - self.bound) / self.best)
        return {"best_usd": self.best, "bound_usd": self.bound, "gap": gap,
                "elapsed_s": elapsed}

    def close(self, best_units: float | None = None,
              bound_units: float | None = None) -> None:
        """Stop ticking; a last report with the plan (`best_units`) and the bound known
        now, when given and a report was due."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1)
        if best_units is not None:
            self.best = best_units / self.scale
            if bound_units is not None and np.isfinite(bound_units):
                self.show_bound(bound_units)
            self._report_if_due()


class _Interrupt:
    """Ctrl-C: asks every phase to stop (a running search is stopped by _run)."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self) -> bool:
        return self.requested

    def handle(self, signum: int, frame: Any) -> None:
        self.requested = True


@contextmanager
def _interruptible() -> Iterator[_Interrupt]:
    """Ctrl-C stops the search; the best plan found so far is kept."""
    interrupt = _Interrupt()
    outer = getattr(signal.getsignal(signal.SIGINT), "__self__", None)
    if isinstance(outer, _Interrupt):  # a solve inside a solve (placer.parts): one Ctrl-C
        yield outer
        return
    if threading.current_thread() is not threading.main_thread():
        yield interrupt  # only the main thread may handle signals
        return
    previous = signal.signal(signal.SIGINT, interrupt.handle)
    try:
        yield interrupt
    finally:
        signal.signal(signal.SIGINT, previous)
