"""Large neighbourhood search: re-solve a few workloads at a time, the rest held in place.

At fleet scale one CP-SAT search of the core (placer.core) hardly moves the warm start
(10,000 workloads: 0.001 % in 27 s), while many small searches do (there: 4.4 % in the
same time; 1,000 workloads: 1.1 % more than one search in 8 s). The model of a
neighbourhood holds only the freed workloads' rows: what the held ones use and spend
enters as data (capacity left, ports already bought) and as offsets (`model.Held`:
lock-in caps, min_providers, budget), so it has exactly the rules of the whole model with
the held workloads fixed, and builds and solves in milliseconds whatever the fleet's size.

Two kinds take turns. A wide neighbourhood frees about a hundred workloads drawn at
random but sees only their rows in the core (and those they use): over all their rows
CP-SAT often finds no plan in its time. A narrow one frees about ten and sees every row
they have, so a workload can move where neither the LP nor the warm start went. Both
draw whole port groups (workloads that may share a port): buying a port, or giving one
up, pays only when its users move together. At 1,000 workloads, 10 s, three fleets:
wide ones alone $21.79M / $21.53M / $22.20M, both kinds $21.42M / $21.21M / $21.98M.
(Found by pricing the plan at the LP's duals, piece by piece: the gap to the bound lay
in pieces whose plan was far from their priced optimum, and re-placing such a piece,
five workloads sharing a port, over all its rows saved $142k in 0.07 s.)

On small fleets a third kind takes a turn: the workloads around a full offering, some on
it and others that could move onto it, over all their rows. There capacity holds a plan
in place: a cheaper one swaps workloads between full offerings, and neither a draw at
random nor one by port group frees them together (TURNS, SMALL_FLEET_TURNS).

Each small search runs on one worker with a deterministic time limit and a seed drawn
from the options' seed, and the loop stops on a deterministic budget, so the same input
and seed give the same plan unless the wall clock stops it first.

With more than one core, as many such searches run side by side, each from the same
plan with a seed of its own, for a round of ROUND_DETERMINISTIC_S; then all go on from
the cheapest plan any of them reached (improve_by_chains). Two neighbourhoods searched
side by side and both kept had clashed over the capacity and caps they share.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from ortools.sat.python import cp_model

from placer.candidates import Candidates, offering_ids, port_groups, port_ids, restrict
from placer.model import BuiltModel, Held, build_model, group_ids
from placer.schema import Policy
from placer.warmstart import complete_hint

# A plan (units per candidate row, left out per workload) and the wall-clock seconds
# left -> a cheaper plan, or None (improve_by_chains' between_rounds)
Recombine = Callable[[np.ndarray, np.ndarray, float], tuple[np.ndarray, np.ndarray] | None]

# A wide neighbourhood: this many workloads over the core's rows; a narrow one: this
# many over all their rows. Narrow of 3 / 10 / 25 at 1,000 workloads, 10 s: $21.72M /
# $21.55M / $21.65M.
NEIGHBOURHOOD_WORKLOADS = 100
NARROW_WORKLOADS = 10
# Around a full offering (a third kind): this many workloads, up to half of them on it.
OFFERING_WORKLOADS = 30
# The kinds' turns, in order: w wide, n narrow, o around a full offering. The third
# kind pays on small fleets, where capacity holds a plan in place; 100 workloads, 10 s,
# fifteen fleets, the plan "wn" -> "wno" 0.47 % cheaper on average (9 cheaper, 3 dearer
# by at most 0.064 %; "wo" as good; mean above the cheapest of six variants over twelve
# of them, "wno" with 10 / 30 workloads around 0.179 % / 0.096 %, "wn" 0.537 %); at
# 1,000 the same gap (six fleets, twice: mean 0.203 % / 0.209 %), at 10,000 a little
# dearer (+0.017 %, +0.005 %: fewer searches).
TURNS = "wn"
SMALL_FLEET_TURNS = "wno"
NEIGHBOURHOOD_DETERMINISTIC_S = 0.3
# What one small search costs beyond CP-SAT's deterministic time (building its model,
# loading it), in seconds, so that the budget tracks the wall clock roughly (measured:
# 11 ms at 100,000 workloads).
SEARCH_OVERHEAD_S = 0.02
# Chains side by side meet after this much deterministic time each, to go on from the
# cheapest plan. Two chains at 1,000 workloads, 10 s, five fleets: one chain $20.91M
# mean; rounds of about 0.5 / 1.5 / 3 s of wall clock $20.81M / $20.80M / $20.83M.
ROUND_DETERMINISTIC_S = 1.0


@dataclass
class Improved:
    """Where the search ended."""

    units: np.ndarray         # per candidate row
    left_out: np.ndarray      # per workload
    searches: int
    improvements: int
    deterministic_time: float
    cut_by_time: bool         # the wall clock stopped it before its budget


def free_workloads(candidates: Candidates, row_mask: np.ndarray | None = None) -> np.ndarray:
    """Workloads worth freeing: those with a choice (two rows or more, or optional),
    counting only the rows in `row_mask` when given."""
    w_of_row = candidates.rows["w"].to_numpy()
    rows_per_w = np.bincount(w_of_row if row_mask is None else w_of_row[row_mask],
                             minlength=candidates.workloads.height)
    optional = ~candidates.workloads["required"].to_numpy().astype(bool)
    return np.flatnonzero((rows_per_w >= 2) | ((rows_per_w >= 1) & optional))


@dataclass(frozen=True)
class _Fleet:
    """Per-row arrays of a candidate table, computed once for every neighbourhood."""

    w_of_row: np.ndarray
    starts: np.ndarray         # rows of workload w: starts[w]:ends[w]
    ends: np.ndarray
    offering: np.ndarray
    chips: np.ndarray
    compute_units: np.ndarray
    egress_units: np.ndarray
    port_id: np.ndarray        # -1 when native
    port_units: np.ndarray     # per port
    groups: dict[str, tuple[list[str], np.ndarray]]  # capped dimension: keys, id per row
    provider: list[str]
    provider_id: np.ndarray
    offerings: int
    capacity: np.ndarray       # per offering (NaN when unlimited)
    least_unit: np.ndarray     # per offering: the fewest chips a row of it places

    def full(self, plan: _Usage) -> np.ndarray:
        """Offerings whose capacity left cannot take one more unit of any row."""
        with np.errstate(invalid="ignore"):
            return np.flatnonzero(self.capacity - plan.chips < self.least_unit)

    @classmethod
    def of(cls, candidates: Candidates, built: BuiltModel) -> _Fleet:
        rows, scale = candidates.rows, built.scale
        port_id = port_ids(rows)
        port_units = np.zeros(int(port_id.max(initial=-1)) + 1, dtype=np.int64)
        ported = port_id >= 0
        # one price per port (the model buys it at its first row's)
        first = np.unique(port_id[ported], return_index=True)[1]
        port_units[port_id[ported][first]] = np.rint(
            rows["port_usd"].to_numpy()[ported][first] * scale).astype(np.int64)
        w_of_row = rows["w"].to_numpy()
        n_w = candidates.workloads.height
        providers, provider_id = group_ids(rows["provider"])
        offering = offering_ids(rows, candidates.offerings)
        chips = rows["unit_chips"].to_numpy()
        least_unit = np.full(candidates.offerings.height, np.iinfo(np.int64).max)
        np.minimum.at(least_unit, offering, chips.astype(np.int64))
        # an offering no row uses is never full
        least_unit[np.bincount(offering, minlength=len(least_unit)) == 0] = 0
        return cls(
            w_of_row=w_of_row, starts=np.searchsorted(w_of_row, np.arange(n_w)),
            ends=np.searchsorted(w_of_row, np.arange(n_w), side="right"),
            offering=offering, chips=chips, compute_units=built.row_compute_units,
            egress_units=np.rint(rows["egress_usd"].to_numpy() * scale).astype(np.int64),
            port_id=port_id, port_units=port_units,
            groups={dim: group_ids(rows[dim]) for dim in built.spend},
            provider=providers, provider_id=provider_id,
            offerings=candidates.offerings.height,
            capacity=candidates.offerings["capacity_chips"].to_numpy().astype(float),
            least_unit=least_unit)


@dataclass(frozen=True)
class _Usage:
    """What some placements use and spend, in solver units (summed over their rows)."""

    chips: np.ndarray               # per offering
    spend: dict[str, np.ndarray]    # per capped dimension, per group
    compute: int
    egress: int
    port_users: np.ndarray          # rows used, per port
    provider_users: np.ndarray      # rows used, per provider

    @classmethod
    def of(cls, fleet: _Fleet, rows: np.ndarray, units: np.ndarray) -> _Usage:
        """Of `units` on candidate rows `rows`."""
        used = units > 0
        compute = fleet.compute_units[rows] * units
        ports = fleet.port_id[rows][used]
        return cls(
            chips=np.bincount(fleet.offering[rows], weights=fleet.chips[rows] * units,
                              minlength=fleet.offerings).astype(np.int64),
            spend={dim: np.bincount(ids[rows], weights=compute, minlength=len(keys))
                   .astype(np.int64) for dim, (keys, ids) in fleet.groups.items()},
            compute=int(compute.sum()), egress=int(fleet.egress_units[rows][used].sum()),
            port_users=np.bincount(ports[ports >= 0], minlength=len(fleet.port_units)),
            provider_users=np.bincount(fleet.provider_id[rows][used],
                                       minlength=len(fleet.provider)))

    def plus(self, other: _Usage, sign: int = 1) -> _Usage:
        return _Usage(self.chips + sign * other.chips,
                      {d: v + sign * other.spend[d] for d, v in self.spend.items()},
                      self.compute + sign * other.compute, self.egress + sign * other.egress,
                      self.port_users + sign * other.port_users,
                      self.provider_users + sign * other.provider_users)


def neighbourhood(candidates: Candidates, fleet: _Fleet, plan: _Usage, units: np.ndarray,
                  freed: np.ndarray, allowed: np.ndarray | None = None
                  ) -> tuple[Candidates, Held, np.ndarray]:
    """The candidate table of the freed workloads (`freed`: their ids, ascending), numbered
    0..k-1 in that order, over their rows in `allowed` (a mask; all when None) and those
    they use; with the capacity the held ones leave and the ports they bought at no
    cost; what the held ones spend (`plan` is what all of them use); and the freed
    rows' indices."""
    rows = np.concatenate([np.arange(fleet.starts[w], fleet.ends[w]) for w in freed.tolist()]
                          or [np.zeros(0, dtype=np.int64)])
    if allowed is not None:
        rows = rows[allowed[rows] | (units[rows] > 0)]
    held = plan.plus(_Usage.of(fleet, rows, units[rows]), sign=-1)
    bought = held.port_users > 0
    ports = fleet.port_id[rows]
    is_bought = np.zeros(len(rows), dtype=bool)
    is_bought[ports >= 0] = bought[ports[ports >= 0]]
    held_part = Held(
        spend_units={dim: {keys[g]: int(v) for g, v in enumerate(held.spend[dim]) if v}
                     for dim, (keys, _) in fleet.groups.items()},
        total_units=held.compute,
        cash_units=held.compute + held.egress + int(fleet.port_units[bought].sum()),
        providers=frozenset(fleet.provider[p]
                            for p in np.flatnonzero(held.provider_users > 0).tolist()))
    sub = restrict(candidates, freed, rows, candidates.offerings["capacity_chips"].to_numpy()
                   - held.chips, is_bought)
    return sub, held_part, rows


@dataclass(frozen=True)
class _Groups:
    """Workloads split into groups, with each group's size."""

    members: list[np.ndarray]
    sizes: np.ndarray

    @property
    def workloads(self) -> int:
        return int(self.sizes.sum())

    @property
    def ids(self) -> np.ndarray:
        """All the workloads in the groups, by id."""
        return np.concatenate(self.members) if self.members else np.zeros(0, dtype=np.int64)

    @classmethod
    def of(cls, workloads: np.ndarray, group: np.ndarray) -> _Groups:
        """`workloads` split by `group` (one id per workload)."""
        order = np.argsort(group, kind="stable")
        bounds = np.flatnonzero(np.diff(group[order])) + 1
        return cls(np.split(workloads[order], bounds), np.diff(np.r_[0, bounds, len(order)]))


def _draw(rng: np.random.Generator, groups: _Groups, size: int) -> np.ndarray:
    """Whole groups in a random order until `size` workloads are drawn (ascending):
    workloads that share a port move together or not at all, so a neighbourhood of
    single workloads drawn at random hardly ever frees them all."""
    order = rng.permutation(len(groups.members))
    taken = int(np.searchsorted(np.cumsum(groups.sizes[order]), size)) + 1
    freed = np.concatenate([groups.members[g] for g in order[:taken].tolist()])
    if len(freed) > 2 * size:  # one group alone is that large
        freed = rng.choice(freed, size=size, replace=False)
    return np.sort(freed)


@dataclass(frozen=True)
class _Draws:
    """What the neighbourhoods are drawn from, whatever the plan: the fleet's rows and
    the workloads with a choice, in port groups (wide: within the core; narrow: all)."""

    fleet: _Fleet
    wide: _Groups
    narrow: _Groups

    @classmethod
    def of(cls, candidates: Candidates, built: BuiltModel, core: np.ndarray | None) -> _Draws:
        group = port_groups(candidates)
        wide, narrow = free_workloads(candidates, core), free_workloads(candidates)
        return cls(_Fleet.of(candidates, built), _Groups.of(wide, group[wide]),
                   _Groups.of(narrow, group[narrow]))

    @cached_property
    def could_use(self) -> list[np.ndarray]:
        """Per offering, the workloads with a choice and a row on it (ascending); made on
        first use, as only the turns around an offering need it."""
        fleet, n_w = self.fleet, len(self.fleet.starts)
        choice = np.isin(fleet.w_of_row, self.narrow.ids)
        offering, workload = np.divmod(np.unique(  # (offering, workload) pairs, sorted
            fleet.offering[choice].astype(np.int64) * n_w + fleet.w_of_row[choice]), n_w)
        return np.split(workload, np.cumsum(np.bincount(offering,
                                                        minlength=fleet.offerings))[:-1])


def _draw_around_offering(rng: np.random.Generator, draws: _Draws, plan: _Usage,
                          units: np.ndarray, size: int) -> np.ndarray | None:
    """Workloads around a full offering drawn at random (ascending): of those with a
    choice, up to half of `size` (one at least) on it and the rest from those that could
    move onto it;
    None when no full offering has a workload with a choice on it or able to use it."""
    full = [o for o in draws.fleet.full(plan).tolist() if len(draws.could_use[o])]
    if not full:
        return None
    offering = full[int(rng.integers(len(full)))]
    # a pass over every row: these turns run on small fleets only
    used = (draws.fleet.offering == offering) & (units > 0)
    on = np.intersect1d(draws.fleet.w_of_row[used], draws.could_use[offering])
    others = np.setdiff1d(draws.could_use[offering], on)
    half = max(1, size // 2)  # at least one, so that a draw is never empty
    if len(on) > half:
        on = rng.choice(on, size=half, replace=False)
    if len(others) > size - len(on):
        others = rng.choice(others, size=size - len(on), replace=False)
    return np.sort(np.concatenate([on, others])).astype(np.int64)


def improve_by_neighbourhoods(candidates: Candidates, policy: Policy, built: BuiltModel,
                              units: np.ndarray, left_out: np.ndarray, budget_s: float,
                              wall_s: float, seed: int, stop: Callable[[], bool],
                              on_better: Callable[[int], None] | None = None,
                              core: np.ndarray | None = None,
                              draws: _Draws | None = None, turns: str = TURNS) -> Improved:
    """Improve a plan of `candidates` (`built` is their model) by re-solving a few
    workloads at a time, in turn: a wide neighbourhood (NEIGHBOURHOOD_WORKLOADS workloads
    drawn at random, over their rows in `core`, a mask, or all rows when None) and a
    narrow one (NARROW_WORKLOADS, over all their rows), and when `turns` has an "o", one
    around a full offering (OFFERING_WORKLOADS, over all their rows). Stops when `budget_s`
    (deterministic) or `wall_s` (wall clock) is spent, or on `stop()`. `on_better` gets
    each saving, in solver units. `draws`: _Draws.of(candidates, built, core), when
    already made."""
    started = time.perf_counter()
    draws = draws or _Draws.of(candidates, built, core)
    fleet, wide_groups, narrow_groups = draws.fleet, draws.wide, draws.narrow
    rng = np.random.default_rng(seed)
    units, left_out = units.copy(), left_out.copy()
    plan = _Usage.of(fleet, np.arange(len(units)), units)
    spent, searches, improvements, cut = 0.0, 0, 0, False
    while narrow_groups.workloads and spent < budget_s and not stop():
        if time.perf_counter() - started >= wall_s:
            cut = True
            break
        turn = turns[searches % len(turns)]
        freed = _draw_around_offering(rng, draws, plan, units, OFFERING_WORKLOADS) \
            if turn == "o" else None
        if freed is None:  # wide or narrow; narrow for a turn with nothing to draw from
            turn = "w" if turn == "w" and wide_groups.workloads else "n"
            freed = _draw(rng, narrow_groups, NARROW_WORKLOADS) if turn == "n" \
                else _draw(rng, wide_groups, NEIGHBOURHOOD_WORKLOADS)
        narrow_turn = turn != "w"  # the narrow and the offering's see all their rows
        sub, held, rows = neighbourhood(candidates, fleet, plan, units, freed,
                                        None if narrow_turn else core)
        model = build_model(sub, policy, scale=built.scale, held=held)
        complete_hint(model, sub, units[rows], left_out[freed])
        hint = model.model.proto.solution_hint
        current = int(model.builder.objective()[np.fromiter(hint.vars, dtype=np.int64)]
                      @ np.fromiter(hint.values, dtype=np.int64))
        solver = cp_model.CpSolver()
        params = solver.parameters
        params.num_workers = 1
        params.random_seed = (seed + searches) % 2**31
        params.linearization_level = 2
        params.max_deterministic_time = min(NEIGHBOURHOOD_DETERMINISTIC_S, budget_s - spent)
        params.max_time_in_seconds = max(0.05, wall_s - (time.perf_counter() - started))
        params.catch_sigint_signal = False
        # light presolve: as good, faster. 109 models of a 2,000-workload part, three
        # times each: narrow 12.2 -> 8.7 ms, all optimal; wide 83.9 -> 74.4 ms, 153 -> 159
        # of 165 optimal (no probing alone, narrow: 1k 22 -> 12 ms, 10k 12 -> 11 ms)
        params.cp_model_probing_level = 0
        params.symmetry_level = 0
        params.max_presolve_iterations = 1
        status = solver.solve(model.model)
        searches += 1
        spent += solver.deterministic_time + SEARCH_OVERHEAD_S
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE) and \
                round(solver.objective_value) < current:
            values = np.fromiter(solver.response_proto.solution, dtype=np.int64)
            before = _Usage.of(fleet, rows, units[rows])
            units[rows] = values[model.units]
            plan = plan.plus(before, sign=-1).plus(_Usage.of(fleet, rows, units[rows]))
            optional = model.unplaced >= 0
            left_out[freed[optional]] = values[model.unplaced[optional]] > 0
            improvements += 1
            if on_better is not None:
                on_better(current - round(solver.objective_value))
    return Improved(units, left_out, searches, improvements, spent, cut)


def improve_by_chains(candidates: Candidates, policy: Policy, built: BuiltModel,
                      units: np.ndarray, left_out: np.ndarray, budget_s: float,
                      wall_s: float, seed: int, stop: Callable[[], bool], chains: int,
                      cost: Callable[[np.ndarray, np.ndarray], int],
                      on_better: Callable[[int], None] | None = None,
                      core: np.ndarray | None = None,
                      between_rounds: Recombine | None = None, turns: str = TURNS
                      ) -> Improved:
    """improve_by_neighbourhoods on `chains` threads, in rounds: each chain from the
    round's plan with a seed of its own, then the cheapest plan among them by `cost`
    (units, left_out -> solver units; the first chain's on a tie) starts the next round.
    `budget_s` is each chain's. `between_rounds`: called with a round's plan when it is
    cheaper than the last (and the wall-clock seconds left); a plan it returns, when
    cheaper still, starts the next round."""
    if chains <= 1 and between_rounds is None:
        return improve_by_neighbourhoods(candidates, policy, built, units, left_out, budget_s,
                                         wall_s, seed, stop, on_better, core, turns=turns)
    started = time.perf_counter()
    draws = _Draws.of(candidates, built, core)
    current = cost(units, left_out)
    searches, improvements, spent, total_time, cut, round_ = 0, 0, 0.0, 0.0, False, 0
    chains = max(1, chains)
    with ThreadPoolExecutor(max_workers=chains, thread_name_prefix="chain") as pool:
        while spent < budget_s and not stop():
            wall_left = wall_s - (time.perf_counter() - started)
            if wall_left <= 0:
                cut = True
                break
            budget = min(ROUND_DETERMINISTIC_S, budget_s - spent)
            ends = [future.result() for future in [
                pool.submit(improve_by_neighbourhoods, candidates, policy, built, units,
                            left_out, budget, wall_left, seed + (round_ * chains + k) * 7_919,
                            stop, None, core, draws, turns)
                for k in range(chains)]]
            round_ += 1
            costs = [cost(end.units, end.left_out) for end in ends]
            best = int(np.argmin(costs))
            searches += sum(end.searches for end in ends)
            improvements += sum(end.improvements for end in ends)
            spent += max(end.deterministic_time for end in ends)
            total_time += sum(end.deterministic_time for end in ends)
            cut |= any(end.cut_by_time for end in ends)
            if costs[best] < current:
                if on_better is not None:
                    on_better(current - costs[best])
                units, left_out, current = ends[best].units, ends[best].left_out, costs[best]
                other = None if between_rounds is None else between_rounds(
                    units, left_out, wall_s - (time.perf_counter() - started))
                if other is not None and (other_cost := cost(*other)) < current:
                    if on_better is not None:
                        on_better(current - other_cost)
                    (units, left_out), current = other, other_cost
    return Improved(units, left_out, searches, improvements, total_time, cut)
