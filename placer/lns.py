"""Large neighbourhood search: re-solve a few workloads at a time, the rest held in place.

At fleet scale one CP-SAT search of the core (placer.core) hardly moves the warm start
(10,000 workloads: 0.001 % in 27 s), while many small searches do (there: 4.4 % in the
same time; 1,000 workloads: 1.1 % more than one search in 8 s): each frees about a
hundred workloads chosen at random, holds every other one where it is, and lets CP-SAT
find the cheapest way to place the freed ones. The model of a neighbourhood holds only
the freed workloads' rows; what the held ones use and spend enters as data (capacity
left, ports already bought) and as offsets (`model.Held`: lock-in caps, min_providers,
budget), so it has exactly the rules of the whole model with the held workloads fixed,
and builds and solves in milliseconds whatever the fleet's size.

Each small search runs on one worker with a deterministic time limit and a seed drawn
from the options' seed, and the loop stops on a deterministic budget, so the same input
and seed give the same plan unless the wall clock stops it first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from placer.candidates import Candidates, offering_ids, port_ids, restrict
from placer.model import BuiltModel, Held, build_model, group_ids
from placer.schema import Policy
from placer.warmstart import complete_hint

NEIGHBOURHOOD_WORKLOADS = 100
NEIGHBOURHOOD_DETERMINISTIC_S = 0.3
# What one small search costs beyond CP-SAT's deterministic time (building its model,
# loading it), in seconds, so that the budget tracks the wall clock roughly (measured:
# 11 ms at 100,000 workloads).
SEARCH_OVERHEAD_S = 0.02


@dataclass
class Improved:
    """Where the search ended."""

    units: np.ndarray         # per candidate row
    left_out: np.ndarray      # per workload
    searches: int
    improvements: int
    deterministic_time: float
    cut_by_time: bool         # the wall clock stopped it before its budget


def free_workloads(candidates: Candidates) -> np.ndarray:
    """Workloads worth freeing: those with a choice (two rows or more, or optional)."""
    rows_per_w = np.bincount(candidates.rows["w"].to_numpy(),
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
        return cls(
            w_of_row=w_of_row, starts=np.searchsorted(w_of_row, np.arange(n_w)),
            ends=np.searchsorted(w_of_row, np.arange(n_w), side="right"),
            offering=offering_ids(rows, candidates.offerings),
            chips=rows["unit_chips"].to_numpy(), compute_units=built.row_compute_units,
            egress_units=np.rint(rows["egress_usd"].to_numpy() * scale).astype(np.int64),
            port_id=port_id, port_units=port_units,
            groups={dim: group_ids(rows[dim]) for dim in built.spend},
            provider=providers, provider_id=provider_id,
            offerings=candidates.offerings.height)


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
                  freed: np.ndarray) -> tuple[Candidates, Held, np.ndarray]:
    """The candidate table of the freed workloads (`freed`: their ids, ascending), numbered
    0..k-1 in that order, with the capacity the held ones leave and the ports they bought
    at no cost; what the held ones spend (`plan` is what all of them use); and the freed
    rows' indices."""
    rows = np.concatenate([np.arange(fleet.starts[w], fleet.ends[w]) for w in freed.tolist()]
                          or [np.zeros(0, dtype=np.int64)])
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


def improve_by_neighbourhoods(candidates: Candidates, policy: Policy, built: BuiltModel,
                              units: np.ndarray, left_out: np.ndarray, budget_s: float,
                              wall_s: float, seed: int, stop: Callable[[], bool],
                              on_better: Callable[[int], None] | None = None) -> Improved:
    """Improve a plan of `candidates` (`built` is their model) by re-solving random groups
    of NEIGHBOURHOOD_WORKLOADS workloads; stops when `budget_s` (deterministic) or
    `wall_s` (wall clock) is spent, or on `stop()`. `on_better` gets each saving, in
    solver units."""
    started = time.perf_counter()
    fleet = _Fleet.of(candidates, built)
    choice = free_workloads(candidates)
    rng = np.random.default_rng(seed)
    units, left_out = units.copy(), left_out.copy()
    plan = _Usage.of(fleet, np.arange(len(units)), units)
    spent, searches, improvements, cut = 0.0, 0, 0, False
    while len(choice) and spent < budget_s and not stop():
        if time.perf_counter() - started >= wall_s:
            cut = True
            break
        freed = np.sort(rng.choice(choice, size=min(NEIGHBOURHOOD_WORKLOADS, len(choice)),
                                   replace=False))
        sub, held, rows = neighbourhood(candidates, fleet, plan, units, freed)
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
