"""Fleets too large for one LP relaxation, solved in parts.

At 100,000 workloads the LP of the whole fleet cannot finish in the time there is, and
without it the warm start follows capacity prices alone, blind to the lock-in caps (and,
when this was measured, the ports): $2,839M in 300 s. Split into 50 parts of 2,000
workloads, each solved by the pipeline of a whole fleet (LP, warm start, neighbourhoods;
no Lagrangian bound, since a part's bound is not the whole's, unless the part has the
time for it: solve.PART_LAGRANGIAN_SECONDS) in an equal share of the
time left, the same fleet costs $2,167M-$2,350M in three runs (-17 to -24 %). On two
cores two parts are solved side by side, each with one core and twice the time (a
part's own searches run on one core; at 2,000 workloads 6 s each side by side gave what
6 s each in turn did, and 3 s each in turn 13 % more; the caller may solve them in
processes of their own, placer.workers): 100k, $2,108M; with parts of
1,000 or 4,000 workloads instead, $2,118M or $2,162M. From 10,000 workloads (4,000 given
20 s or more), where the whole's LP is within reach but its search finds dearer plans,
the fleet is solved in parts too (placer.solve.in_parts): 10k at 60 s, two fleets,
$214.2M / $212.7M, against $233.5M / $225.6M with the parts one at a time while the
other core proved the whole's LP and Lagrangian bounds, and $241.7M whole.

A plan made of the parts' plans is a plan of the whole:
- capacity: part k of K may use, of each offering, (k + 1) / K of its chips less what
  the parts before it use (so what one part leaves, the next may take); of two parts
  side by side, the second may use only its own share, 1 / K;
- the budget likewise: part k may spend (k + 1) / K of it less what came before (the
  second of two side by side: 1 / K);
- lock-in caps and min_providers: each part keeps them on its own, so the union does
  (a share at most the cap in every part is at most the cap in their sum);
- ports: workloads that share a port are in the same part, and a port one part buys is
  free for the parts after it.
Each of those is stricter than the whole problem's rule, so a part may find no plan
where the whole has one: the parts of a batch that found none are then solved again as
one part, with one share more of capacity and budget, in a share of the time left as if
it were one more batch (solved again one by one, each in its batch's time, they had
overrun the time limit and left the last batch 0.1 s; and in the last batch the first
took all that was left), and if that fails too the caller solves the whole at once in
the time left
(in one run of four at 100,000 workloads, before the partition dealt like workloads out
evenly and the retry was limited to one share, a late part found no plan: $2,960M).
The plan's bound is computed for the whole.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass

import numpy as np

from placer.candidates import Candidates, offering_ids, port_groups, port_ids, restrict
from placer.check import cash_spend
from placer.schema import Policy

# Since the pieces sharing ports are priced without a search (placer.subproblems) a part
# converges sooner, and larger parts pay: 10,000 workloads at 60 s, parts of at most
# 2,000 / 2,500 / 5,000 (6 / 4 / 2 parts), seed 0 $201.0M / $200.4M / $200.5M, seed 1
# $201.5M / $200.6M / $200.1M; 100,000 at 300 s, 2,000 / 2,500: $1,988.9M-$1,989.5M /
# $1,986.1M. (5,000 would leave fleets of 4,000-5,000 whole: see solve.in_parts.)
PART_WORKLOADS = 2_500

# A part's solver: its plan as (units per row, left-out per workload), or None. It gets
# the part's table and policy, its seconds, and its deadline (time.perf_counter's clock),
# which may come sooner while it runs: solved side by side, a part is cut short when its
# neighbour finds no plan, so that the neighbour's retry has time (_solve_batch).
PartSolver = Callable[[Candidates, Policy, float, Callable[[], float]],
                      "tuple[np.ndarray, np.ndarray] | None"]


@dataclass
class InParts:
    """A plan of the whole fleet put together from its parts' plans."""

    units: np.ndarray      # per candidate row
    left_out: np.ndarray   # per workload
    parts: int
    retries: int = 0       # batches whose failed parts were solved again, together


def partition(candidates: Candidates, parts: int, seed: int) -> np.ndarray:
    """Per workload, its part (0..parts-1): workloads that share a port together, and
    every part a like sample of the fleet. Groups are sorted by how few rows their first
    workload has and which offerings they span, then dealt to the parts in turn, so that
    workloads held to the same few offerings are spread evenly (each part's share of an
    offering then matches its need; cut into runs of a random order instead, a late
    part of the 100k fleet found no plan in what the earlier ones left)."""
    rows, n = candidates.rows, candidates.workloads.height
    w_of_row = rows["w"].to_numpy()
    group = port_groups(candidates)
    groups = int(group.max(initial=-1)) + 1
    first = np.full(groups, n, dtype=np.int64)
    np.minimum.at(first, group, np.arange(n))
    starts = np.searchsorted(w_of_row, first)
    ends = np.searchsorted(w_of_row, first, side="right")
    offering = np.append(offering_ids(rows, candidates.offerings), -1)  # -1: no rows
    first_offering = np.where(ends > starts, offering[starts], -1)
    last_offering = np.where(ends > starts, offering[ends - 1], -1)
    shuffled = np.random.default_rng(seed).permutation(groups)
    order = np.lexsort((shuffled, last_offering, first_offering, ends - starts))
    part_of_group = np.empty(groups, dtype=np.int64)
    part_of_group[order] = np.arange(groups) % parts
    return part_of_group[group]


@dataclass
class _Part:
    """One part as offered to its solver."""

    workloads: np.ndarray   # its workloads' ids, ascending
    rows: np.ndarray        # their candidate rows
    table: Candidates       # its candidate table, with the capacity it may use
    policy: Policy          # with the budget it may spend


def solve_in_parts(candidates: Candidates, policy: Policy, part_of: np.ndarray,
                   time_limit: float, solve_part: PartSolver, stop: Callable[[], bool],
                   at_once: int = 1) -> InParts | None:
    """Solve the parts `at_once` at a time (in threads), batch after batch in the time
    left, each batch given an equal share of it. In a batch the first part may use its
    share and all the earlier parts left; each other part, its own share; those of them
    that find no plan are solved again together, with one share more. None when they
    find none either (or a stop comes before every part has one)."""
    started = time.perf_counter()
    rows = candidates.rows
    parts = int(part_of.max(initial=-1)) + 1
    w_of_row = rows["w"].to_numpy()
    offering = offering_ids(rows, candidates.offerings)
    chips = rows["unit_chips"].to_numpy()
    capacity = candidates.offerings["capacity_chips"].to_numpy().astype(np.int64)
    port = port_ids(rows)
    paid = np.zeros(int(port.max(initial=-1)) + 1, dtype=bool)
    units = np.zeros(rows.height, dtype=np.int64)
    left_out = np.zeros(candidates.workloads.height, dtype=bool)
    used_chips = np.zeros(len(capacity), dtype=np.int64)
    spent = 0.0

    def offer(ks: list[int], allowed: np.ndarray, part_policy: Policy) -> _Part:
        workloads = np.flatnonzero(np.isin(part_of, ks))
        part_rows = np.flatnonzero(np.isin(w_of_row, workloads))
        part_port = port[part_rows]
        port_paid = (part_port >= 0) & paid[np.maximum(part_port, 0)]
        table = restrict(candidates, workloads, part_rows, np.maximum(0, allowed), port_paid)
        return _Part(workloads, part_rows, table, part_policy)

    def record(part: _Part, plan: tuple[np.ndarray, np.ndarray]) -> None:
        nonlocal spent
        part_units, part_left_out = plan
        units[part.rows] = part_units
        left_out[part.workloads] = part_left_out
        placed = part_units > 0
        used_chips[:] += np.bincount(offering[part.rows], weights=chips[part.rows] * part_units,
                                     minlength=len(capacity)).astype(np.int64)
        # its table has no price on the ports bought before it: only those it buys count
        spent += cash_spend(part.table.rows, part_units)
        part_port = port[part.rows]
        paid[part_port[placed & (part_port >= 0)]] = True

    batches = [range(first, min(first + at_once, parts)) for first in range(0, parts, at_once)]
    retries = 0
    for b, batch in enumerate(batches):
        if stop():
            return None
        seconds = _share_of_time_left(time_limit, started, len(batches) - b)
        budget = policy.budget_usd or 0.0
        offered = {
            k: offer([k], capacity * (k + 1) // parts - (used_chips if k == batch[0]
                                                         else capacity * k // parts),
                     _budget(policy, (k + 1) / parts,
                             spent if k == batch[0] else budget * k / parts))
            for k in batch if (part_of == k).any()}
        found = _solve_batch(solve_part, offered, seconds)
        for k in offered:  # the plans first: what they leave, the retry may use
            if (plan := found[k]) is not None:
                record(offered[k], plan)
        failed = [k for k in offered if found[k] is None]
        if not failed:
            continue
        if stop():
            return None
        # their shares left them no plan: solved again as one part, which may use one
        # share more (not all that is left, which had left a later part of the 100k fleet
        # with none), in a share of the time left as if it were one more batch
        more = min(batch[-1] + 2, parts)
        retry = offer(failed, capacity * more // parts - used_chips,
                      _budget(policy, more / parts, spent))
        if len(failed) == 1 and not _offers_more(retry, offered[failed[0]]):
            return None
        retries += 1
        seconds = _share_of_time_left(time_limit, started, len(batches) - b)
        plan = _solve_batch(solve_part, {-1: retry}, seconds)[-1]  # a batch of its own
        if plan is None:
            return None
        record(retry, plan)
    return InParts(units, left_out, parts, retries)


def _share_of_time_left(time_limit: float, started: float, steps_left: int) -> float:
    """An equal share of the time left among `steps_left` batches (at least 0.1 s)."""
    return max(0.1, (time_limit - (time.perf_counter() - started)) / steps_left)


def _offers_more(retry: _Part, part: _Part) -> bool:
    """Whether `retry` may use more of some offering, or spend more, than `part` could."""
    return bool((retry.table.offerings["capacity_chips"].to_numpy()
                 > part.table.offerings["capacity_chips"].to_numpy()).any()
                or (retry.policy.budget_usd or 0) > (part.policy.budget_usd or 0))


def _solve_batch(solve_part: PartSolver, offered: dict[int, _Part], seconds: float
                 ) -> dict[int, tuple[np.ndarray, np.ndarray] | None]:
    """Each part's plan (or None), the parts solved side by side, one thread each. When a
    part finds no plan while others still run, they are given half the batch's time left,
    and its retry has the other half (they had kept it all: the 300-workload fleet in two
    parts at 12 s, one part's share of the budget proved too small in 3 s, its neighbour
    ran its 12 s, and the retry had 0.1 s)."""
    end = time.perf_counter() + seconds
    deadline = [end]

    def until() -> float:
        return deadline[0]

    if len(offered) <= 1:
        return {k: solve_part(part.table, part.policy, seconds, until)
                for k, part in offered.items()}
    with ThreadPoolExecutor(max_workers=len(offered), thread_name_prefix="part") as pool:
        futures = {pool.submit(solve_part, part.table, part.policy, seconds, until): k
                   for k, part in offered.items()}
        running = set(futures)
        while running:
            done, running = wait(running, return_when=FIRST_COMPLETED)
            if running and any(future.result() is None for future in done):
                now = time.perf_counter()
                deadline[0] = min(deadline[0], now + (end - now) / 2)
        return {k: future.result() for future, k in futures.items()}


def _budget(policy: Policy, share: float, spent: float) -> Policy:
    """The policy with, as budget, `share` of the budget less what is `spent` already."""
    if policy.budget_usd is None:
        return policy
    cash = math.floor(policy.budget_usd * share - spent)
    return policy.model_copy(update={"budget_usd": float(max(0, cash))})
