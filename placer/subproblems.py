"""Pieces priced without a search, for column generation's rounds that need no bound
and for a guide: a serving workload alone by a covering programme over its demand cut
into cells (Covers, cover_columns); the workloads that share ports, and serving
workloads with a spread rule, by trying every set of their piece's ports (PortSets,
port_set_columns). For each set every workload is priced alone on the rows the set
allows: a gang on its cheapest, a serving workload by the covering programme, one with
a spread rule by a programme per provider and a knapsack over its providers; the
cheapest set is kept.

A cover by cells is a real one but not always the cheapest, so these columns prove no
bound (a full round of column generation searches every piece by CP-SAT) unless a floor
under every cover meets it (cover_floors, proven_cover_columns: a serving workload
alone), and every column written is checked against its piece's rows first.

A part of the 100,000-workload fleet has 53 pieces of workloads sharing ports (about 600
variables each): CP-SAT searched them in 2.75 s, cut short, at the LP's duals, and
column generation's partial rounds never searched them; priced by their port sets,
they and the part's 321 other pending pieces take 0.2 s, 0.54 % above their optima.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from placer.model import COVERAGE_UNITS, BuiltModel

if TYPE_CHECKING:
    from scipy import sparse

    from placer.candidates import Candidates

# Cells of a serving workload's demand in the covering programmes.
COVER_CELLS = 64
# A piece with more ports than this is left to CP-SAT (its sets: 2 ** MAX_PORTS).
MAX_PORTS = 6
# The providers a spread workload's knapsack weighs: the cheapest per cell covered.
SPREAD_PROVIDERS = 4


@dataclass(frozen=True)
class Covers:
    """Serving workloads, each with rows of its own (sorted by workload): their
    variables of the model and what covering the demand needs."""

    units: np.ndarray      # per row: its units variable
    used: np.ndarray       # per row: its "used" variable (egress), or -1
    supply: np.ndarray     # per row: coverage of a unit, as the model counts it
    max_units: np.ndarray  # per row
    owner: np.ndarray      # per row: its workload's index in `need`
    need: np.ndarray       # per workload: its demand, as the model counts it
    left_out: np.ndarray   # per workload: its "left out" variable, or -1


# ---------------------------------------------------------------- covering programmes

@dataclass(frozen=True)
class _Items:
    """A covering programme's items, sorted by the table (owner) they belong to: a row's
    units taken `m` at a time (a row paid once, egress, in blocks of m; any other one
    unit at a time, taken as often as needed)."""

    row: np.ndarray       # index into the programme's rows
    m: np.ndarray
    cost: np.ndarray
    size: np.ndarray      # cells covered
    use: np.ndarray       # what counts against the table's limit (spread)
    slot: np.ndarray      # its table
    segments: np.ndarray  # per table, its first item
    owners: np.ndarray    # per table, its owner


def _items(rows: np.ndarray, owner: np.ndarray, row_cost: np.ndarray, once: np.ndarray,
           size: np.ndarray, max_units: np.ndarray, use: np.ndarray | None = None) -> _Items:
    """The items of `rows` (sorted by owner; each row's size in cells above 0)."""
    blocks = np.where(once[rows] > 0,
                      np.minimum(-(-COVER_CELLS // size[rows]), max_units[rows]), 1)
    item_row = np.repeat(rows, blocks)
    m = np.arange(len(item_row)) - np.repeat(np.cumsum(blocks) - blocks, blocks) + 1
    item_owner = owner[item_row]
    owners, slot = np.unique(item_owner, return_inverse=True)
    return _Items(row=item_row, m=m, cost=m * row_cost[item_row] + once[item_row],
                  size=np.minimum(m * size[item_row], COVER_CELLS),
                  use=np.zeros(len(item_row)) if use is None else m * use[item_row],
                  slot=slot, segments=np.flatnonzero(np.r_[True, np.diff(item_owner) != 0]),
                  owners=owners)


def _programme(items: _Items, exact: bool, limit: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """Per table and number of cells c (0..COVER_CELLS), the cheapest cost of items
    covering at least c cells (`exact`: exactly c), and the last item of it. With
    `limit` (per table), only items whose solution's use stays within it (each state
    extends the cheapest solution of the state before it: a real solution, not always
    the cheapest)."""
    tables = len(items.owners)
    best = np.full((tables, COVER_CELLS + 1), np.inf)
    best[:, 0] = 0.0
    arg = np.zeros((tables, COVER_CELLS + 1), dtype=np.int64)
    used = np.zeros((tables, COVER_CELLS + 1))
    index = np.arange(len(items.row))
    for covered in range(1, COVER_CELLS + 1):
        before = covered - items.size
        at = np.maximum(0, before)
        total = items.cost + best[items.slot, at]
        if exact:
            total = np.where(before >= 0, total, np.inf)
        if limit is not None:
            total = np.where(used[items.slot, at] + items.use > limit[items.slot],
                             np.inf, total)
        least = np.minimum.reduceat(total, items.segments)
        best[:, covered] = least
        # the first item reaching the least
        hit = np.where(total <= least[items.slot], index, len(index))
        first = np.minimum.reduceat(hit, items.segments)
        arg[:, covered] = first
        if limit is not None:
            first = np.minimum(first, len(index) - 1)
            used[:, covered] = items.use[first] + used[
                np.arange(tables), np.maximum(0, covered - items.size[first])]
    return best, arg


def _walk_back(items: _Items, arg: np.ndarray, start: np.ndarray, n_rows: int) -> np.ndarray:
    """Units per row of the tables' solutions from `start` cells (per table; 0: none)."""
    units = np.zeros(n_rows, dtype=np.int64)
    covered = start.astype(np.int64)
    while True:
        live = np.flatnonzero(covered > 0)
        if len(live) == 0:
            return units
        item = arg[live, covered[live]]
        np.add.at(units, items.row[item], items.m[item])
        covered[live] = np.maximum(0, covered[live] - items.size[item])


@dataclass(frozen=True)
class _Chosen:
    """Per workload of a priced set, whether it was priced, its cost, whether it is best
    left out; per row, its units."""

    done: np.ndarray
    cost: np.ndarray
    leave: np.ndarray
    units: np.ndarray


def _once_and_value(covers: Covers, priced: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, what using it costs once (egress); per workload, leaving it out."""
    once = np.where(covers.used >= 0, priced[np.maximum(covers.used, 0)], 0.0)
    value = np.where(covers.left_out >= 0, priced[np.maximum(covers.left_out, 0)], np.inf)
    return once, value


def _priced_covers(covers: Covers, priced: np.ndarray, take: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per row what a unit costs and what using it costs once, per workload what leaving
    it out costs; and `take` less the workloads the programmes do not price (a negative
    price somewhere, or no demand)."""
    row_cost = priced[covers.units]
    once, value = _once_and_value(covers, priced)
    bad = np.bincount(covers.owner, weights=(row_cost < 0) | (once < 0),
                      minlength=len(covers.need)) > 0
    return row_cost, once, value, take & ~bad & (covers.need > 0)


def cheapest_covers(covers: Covers, priced: np.ndarray, take: np.ndarray) -> _Chosen:
    """For each workload of `covers` in `take` (a mask), its cheapest cover at `priced`
    (cost per variable) by dynamic programming over its demand cut into COVER_CELLS
    cells, each unit's supply rounded down to whole cells (so the cover it finds is a
    real one, if not always the cheapest), or leaving it out where that is cheaper.
    Not priced: a workload with a negative price somewhere, or whose cover would need
    more units than a row has."""
    owner = covers.owner
    workloads = len(covers.need)
    row_cost, once, value, take = _priced_covers(covers, priced, take)
    cell = covers.need / COVER_CELLS
    size = np.floor(covers.supply / np.maximum(cell[owner], 1e-12) + 1e-9).astype(np.int64)
    rows = np.flatnonzero(take[owner] & (size > 0) & (covers.max_units > 0))
    nothing = _Chosen(np.zeros(workloads, dtype=bool), np.full(workloads, np.inf),
                      np.zeros(workloads, dtype=bool), np.zeros(len(owner), dtype=np.int64))
    if len(rows) == 0:
        return nothing
    items = _items(rows, owner, row_cost, once, size, covers.max_units)
    best, arg = _programme(items, exact=False)
    reachable = np.isfinite(best[:, COVER_CELLS])
    units = _walk_back(items, arg, np.where(reachable, COVER_CELLS, 0), len(owner))
    found = np.zeros(workloads, dtype=bool)
    found[items.owners[reachable]] = True
    units = _trim(covers, units, row_cost, once, found)
    over = np.bincount(owner, weights=units > covers.max_units, minlength=workloads) > 0
    cost = np.where(found, _paid(covers, units, row_cost, once), np.inf)
    leave = take & (value < cost)
    done = (np.isfinite(cost) & ~over) | leave
    return _Chosen(done, np.where(leave, value, np.where(done, cost, np.inf)), leave,
                   np.where(leave[owner], 0, units))


def _paid(covers: Covers, units: np.ndarray, row_cost: np.ndarray, once: np.ndarray
          ) -> np.ndarray:
    """Per workload, what its units cost (each row used paying its once cost once)."""
    return np.bincount(covers.owner, weights=units * row_cost + (units > 0) * once,
                       minlength=len(covers.need))


def _trim(covers: Covers, units: np.ndarray, row_cost: np.ndarray, once: np.ndarray,
          live: np.ndarray, providers: tuple[np.ndarray, np.ndarray] | None = None
          ) -> np.ndarray:
    """The covers of the workloads `live` (a mask) less the units they do not need:
    while a workload covers its need without one, its dearest such unit (with its row's
    once cost when it is the row's last) goes. Cells rounded down leave such units: 10
    units of 0.1 of a need count as 6 cells of 64 each, so the programme takes 11.
    `providers` (per row its (workload, provider) pair, per workload its
    min_providers): never the last unit of a provider the workload needs to keep."""
    units = units.copy()
    owner, workloads = covers.owner, len(covers.need)
    for _ in range(COVER_CELLS):
        slack = np.bincount(owner, weights=covers.supply * units, minlength=workloads) \
            - covers.need
        can = (units > 0) & live[owner] & (covers.supply <= slack[owner])
        if providers is not None:
            pair, min_providers = providers
            pair_units = np.bincount(pair, weights=units)
            pair_owner = np.zeros(len(pair_units), dtype=np.int64)
            pair_owner[pair] = owner
            serving = np.bincount(pair_owner, weights=pair_units > 0, minlength=workloads)
            can &= (pair_units[pair] > 1) | (serving[owner] > min_providers[owner])
        rows = np.flatnonzero(can)
        if len(rows) == 0:
            return units
        saving = row_cost[rows] + np.where(units[rows] == 1, once[rows], 0.0)
        order = np.lexsort((-saving, owner[rows]))
        first = np.r_[True, np.diff(owner[rows][order]) != 0]
        units[rows[order][first]] -= 1
    return units


def _write(covers: Covers, chosen: _Chosen, values: np.ndarray) -> None:
    """The chosen covers (their units, used and left-out variables) into `values`."""
    write = chosen.done[covers.owner]
    values[covers.units[write]] = chosen.units[write]
    with_used = write & (covers.used >= 0)
    values[covers.used[with_used]] = chosen.units[with_used] > 0
    optional = chosen.done & (covers.left_out >= 0)
    values[covers.left_out[optional]] = chosen.leave[optional]


def cover_columns(covers: Covers, priced: np.ndarray, pieces: np.ndarray,
                  values: np.ndarray) -> np.ndarray:
    """For each workload of `covers` whose piece is in `pieces` (a mask over the
    workloads), its cheapest cover at `priced` (cheapest_covers) written into `values`.
    Returns the workloads written (a mask)."""
    chosen = cheapest_covers(covers, priced, pieces)
    _write(covers, chosen, values)
    return chosen.done


def cover_floors(covers: Covers, priced: np.ndarray, take: np.ndarray) -> np.ndarray:
    """For each workload of `covers` in `take` (a mask), a lower bound on what any of its
    covers costs at `priced`, or leaving it out: the covering programme with each unit's
    supply rounded up to whole cells (a real cover covers every cell with them too), a
    row's units uncapped but where paid once (-inf: not bounded here, such as a workload
    with a negative price somewhere, or with no demand)."""
    owner = covers.owner
    workloads = len(covers.need)
    row_cost, once, value, take = _priced_covers(covers, priced, take)
    need = np.maximum(covers.need[owner], 1).astype(np.int64)
    # in integers: ceil(COVER_CELLS * supply / need)
    size = (COVER_CELLS * covers.supply.astype(np.int64) + need - 1) // need
    rows = np.flatnonzero(take[owner] & (size > 0) & (covers.max_units > 0))
    cover = np.full(workloads, np.inf)
    if len(rows):
        items = _items(rows, owner, row_cost, once, size, covers.max_units)
        best, _ = _programme(items, exact=False)
        cover[items.owners] = best[:, COVER_CELLS]
    return np.where(take, np.minimum(cover, value), -np.inf)


# Covers are taken as proven cheapest where they cost at most this share above their floor
# (the floor, not the cover, then counts in a bound).
PROVEN = 1e-9


def proven_cover_columns(covers: Covers, priced: np.ndarray, pieces: np.ndarray,
                         values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cover_columns for the workloads whose cheapest cover by cells costs no more than
    their floor (cover_floors): their cheapest covers, found without a search (289 of
    the 305 serving workloads alone of the 1,000-workload fleet, at its master's prices).
    Returns per workload whether it was written, and its floor there (0 elsewhere)."""
    chosen = cheapest_covers(covers, priced, pieces)
    floors = cover_floors(covers, priced, pieces)
    finite = np.isfinite(floors)
    slack = PROVEN * np.maximum(1.0, np.abs(np.where(finite, floors, 0.0)))
    proven = chosen.done & finite & (chosen.cost <= np.where(finite, floors, 0.0) + slack)
    _write(covers, _only(chosen, proven, covers.owner), values)
    return proven, np.where(proven, floors, 0.0)


# ---------------------------------------------------------------- spread workloads

@dataclass(frozen=True)
class SpreadCovers:
    """Serving workloads with a spread rule, each with rows of its own: a provider
    serves at most `limit` (counted in `use` per unit), at least `min_providers` serve."""

    covers: Covers
    provider: np.ndarray       # per row
    use: np.ndarray            # per row: a unit's count against the limit
    limit: np.ndarray          # per workload (inf: none)
    min_providers: np.ndarray  # per workload


def cheapest_spread(spread: SpreadCovers, priced: np.ndarray) -> _Chosen:
    """For each workload of `spread`, a cheap spread cover at `priced`: per provider the
    cheapest way to cover each number of cells exactly within its limit (a programme
    per provider), then a knapsack over the SPREAD_PROVIDERS cheapest providers per
    cell for a whole cover by at least min_providers of them; or leaving it out where
    that is cheaper."""
    covers = spread.covers
    owner, workloads = covers.owner, len(covers.need)
    row_cost = priced[covers.units]
    once, value = _once_and_value(covers, priced)
    bad = np.bincount(owner, weights=(row_cost < 0) | (once < 0), minlength=workloads) > 0
    take = ~bad & (covers.need > 0)
    cell = covers.need / COVER_CELLS
    size = np.floor(covers.supply / np.maximum(cell[owner], 1e-12) + 1e-9).astype(np.int64)
    # a table per (workload, provider)
    pair_key = owner.astype(np.int64) * (int(spread.provider.max(initial=0)) + 1) \
        + spread.provider
    pair_of_row = np.unique(pair_key, return_inverse=True)[1]
    rows = np.flatnonzero(take[owner] & (size > 0) & (covers.max_units > 0)
                          & (spread.use <= spread.limit[owner]))
    rows = rows[np.argsort(pair_of_row[rows], kind="stable")]
    nothing = _Chosen(take & (covers.left_out >= 0), np.where(take, value, np.inf),
                      take & (covers.left_out >= 0), np.zeros(len(owner), dtype=np.int64))
    if len(rows) == 0:
        return nothing
    items = _items(rows, pair_of_row, row_cost, once, size, covers.max_units, spread.use)
    pair_owner = owner[items.row[items.segments]]
    curve, arg = _programme(items, exact=True, limit=spread.limit[pair_owner])
    # the providers weighed: the cheapest per cell at their best
    per_cell = np.min(curve[:, 1:] / np.arange(1, COVER_CELLS + 1), axis=1)
    order = np.lexsort((per_cell, pair_owner))
    rank = np.arange(len(order)) - np.searchsorted(pair_owner[order], pair_owner[order])
    kept = order[(rank < SPREAD_PROVIDERS) & np.isfinite(per_cell[order])]
    spread_ws = np.unique(pair_owner[kept])
    at = np.searchsorted(spread_ws, pair_owner[kept])
    slots = np.full((len(spread_ws), SPREAD_PROVIDERS), -1, dtype=np.int64)
    slots[at, rank[np.argsort(order)][kept]] = kept
    steps = _knapsack(curve, slots, spread.min_providers[spread_ws])
    start = np.zeros(len(items.owners), dtype=np.int64)
    cost = np.full(workloads, np.inf)
    if steps is not None:
        chosen_cells, total = steps
        live = np.isfinite(total)
        for j in range(SPREAD_PROVIDERS):
            pick = live & (slots[:, j] >= 0)
            start[slots[pick, j]] = chosen_cells[pick, j]
        cost[spread_ws[live]] = total[live]
    units = _trim(covers, _walk_back(items, arg, start, len(owner)), row_cost, once,
                  np.isfinite(cost), (pair_of_row, spread.min_providers))
    cost = np.where(np.isfinite(cost), _paid(covers, units, row_cost, once), np.inf)
    over = np.bincount(owner, weights=units > covers.max_units, minlength=workloads) > 0
    leave = take & (value < cost)
    done = (np.isfinite(cost) & ~over) | leave
    return _Chosen(done, np.where(leave, value, np.where(done, cost, np.inf)), leave,
                   np.where(leave[owner], 0, units))


def _knapsack(curve: np.ndarray, slots: np.ndarray, min_providers: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray] | None:
    """Per workload (a row of `slots`: its providers' tables in `curve`, -1 none), the
    cells each provider covers (exactly, by `curve`) for the cheapest whole cover with
    at least `min_providers` providers serving, and its cost (inf: none).

    A state is (cells covered, capped at the last; providers serving, capped at the
    most any workload needs); each provider in turn adds y cells or none. Ties go to no
    cells, then the fewest, then the fewest covered before and the fewer providers
    before. Per provider the states it can reach from are laid out once (`merged`, and
    for the last cell the least over all states from c cells on, `suffix`), so that
    each y is a few operations over whole arrays: at 1,000 workloads, 27 calls of 49
    workloads took 0.12 s, a loop over y that shifted the states for each 0.76 s."""
    count, width = slots.shape
    if count == 0:
        return None
    most = int(max(1, min_providers.max()))
    cells = COVER_CELLS + 1
    top = cells - 1
    state = np.full((count, cells, most + 1), np.inf)
    state[:, 0, 0] = 0.0
    history: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    rows = np.arange(count)
    at = np.broadcast_to(np.arange(cells)[None, :, None], state.shape)  # each state's c
    for j in range(width):
        table = np.where(slots[:, j, None] >= 0, curve[np.maximum(slots[:, j], 0)], np.inf)
        # what reaches providers q from (c, q - 1); at `most`, from (c, most) too where
        # that is cheaper (from most - 1 on a tie), and from which
        merged = np.full_like(state, np.inf)
        merged[:, :, 1:] = state[:, :, :-1]
        merged_q = np.broadcast_to(np.arange(most + 1) - 1, state.shape).copy()
        from_most = state[:, :, most] < state[:, :, most - 1]
        merged[:, :, most] = np.where(from_most, state[:, :, most], merged[:, :, most])
        merged_q[:, :, most] = np.where(from_most, most, most - 1)
        # the last cell is reached from any c >= top - y: the least from c on, and the
        # first c reaching it
        suffix = np.minimum.accumulate(merged[:, ::-1], axis=1)[:, ::-1]
        suffix_at = np.minimum.accumulate(
            np.where(merged == suffix, at, cells)[:, ::-1], axis=1)[:, ::-1]
        new = state.copy()
        took = np.zeros(state.shape, dtype=np.int64)
        for y in range(1, cells):
            extra = table[:, y]
            if not np.isfinite(extra).any():
                continue
            below = merged[:, :top - y] + extra[:, None, None]
            better = below < new[:, y:top]
            np.copyto(new[:, y:top], below, where=better)
            np.copyto(took[:, y:top], y, where=better)
            last = suffix[:, top - y] + extra[:, None]
            better = last < new[:, top]
            np.copyto(new[:, top], last, where=better)
            np.copyto(took[:, top], y, where=better)
        history.append((took, merged_q, suffix_at))
        state = new
    enough = np.arange(most + 1)[None, :] >= min_providers[:, None]
    final = np.where(enough, state[:, top], np.inf)
    q = final.argmin(axis=1)
    total = final[rows, q]
    c = np.full(count, top)
    chosen = np.zeros((count, width), dtype=np.int64)
    for j in range(width - 1, -1, -1):
        took, merged_q, suffix_at = history[j]
        y = took[rows, c, q]
        chosen[:, j] = y
        moved = y > 0
        from_c = np.where(moved, np.where(c < top, c - y, suffix_at[rows, top - y, q]), c)
        q = np.where(moved, merged_q[rows, from_c, q], q)
        c = from_c
    return chosen, total


# ---------------------------------------------------------------- pieces sharing ports

@dataclass(frozen=True)
class WorkloadVars:
    """The model's variables of every candidate row and workload, and what pricing a
    workload alone needs of them."""

    row_w: np.ndarray          # per row: its workload
    training: np.ndarray       # per row: a gang's
    units: np.ndarray          # per row: its units variable
    used: np.ndarray           # per row: its "used" variable (egress), or -1
    supply: np.ndarray         # per row: coverage of a unit, as the model counts it
    use: np.ndarray            # per row: a unit's count against a spread limit
    max_units: np.ndarray      # per row
    provider: np.ndarray       # per row: its provider's index
    port: np.ndarray           # per row: the port variable it needs, or -1
    serves: np.ndarray         # per row: its (workload, provider) "serves" variable, or -1
    need: np.ndarray           # per workload: its serving demand, as the model counts it
    left_out: np.ndarray       # per workload: its "left out" variable, or -1
    spread: np.ndarray         # per workload: has a spread rule
    limit: np.ndarray          # per workload: what a provider may serve (inf: no limit)
    min_providers: np.ndarray  # per workload


def workload_vars(candidates: Candidates, built: BuiltModel) -> WorkloadVars:
    """The variables of `built` (the model of `candidates`) by row and workload."""
    rows, workloads = candidates.rows, candidates.workloads
    # serving demand as the model counts it (0 for a gang)
    demand = np.ceil(workloads["demand"].fill_null(0).to_numpy() * COVERAGE_UNITS - 1e-9)
    row_w = rows["w"].to_numpy()
    unit_ref = rows["unit_ref"].fill_null(0).to_numpy()
    providers = rows["provider"].rank("dense").to_numpy().astype(np.int64) - 1
    indexed = rows.select("w", "provider", "port_key", "port_ecosystem").with_row_index("r")
    port = np.full(rows.height, -1, dtype=np.int64)
    if built.ports.height:
        linked = indexed.join(built.ports.select("port_key", "port_ecosystem", "var"),
                              on=["port_key", "port_ecosystem"])
        port[linked["r"].to_numpy()] = linked["var"].to_numpy()
    serves = np.full(rows.height, -1, dtype=np.int64)
    if built.spread_used is not None and built.spread_used.height:
        linked = indexed.join(built.spread_used, on=["w", "provider"])
        serves[linked["r"].to_numpy()] = linked["var"].to_numpy()
    fraction = workloads["spread_max_fraction"].fill_null(1.0).to_numpy()
    min_providers = workloads["spread_min_providers"].fill_null(1).to_numpy()
    spread = (workloads["kind"] == "inference").to_numpy() \
        & ((min_providers > 1) | (fraction < 1))
    return WorkloadVars(
        row_w=row_w, training=(rows["kind"] == "training").to_numpy(), units=built.units,
        used=built.used, supply=np.minimum(np.floor(unit_ref * COVERAGE_UNITS + 1e-9),
                                           demand[row_w]),
        use=np.ceil(unit_ref * COVERAGE_UNITS - 1e-9), max_units=rows["max_units"].to_numpy(),
        provider=providers, port=port, serves=serves, need=demand,
        left_out=built.unplaced, spread=spread,
        limit=np.where(fraction < 1, np.floor(fraction * workloads["demand"].fill_null(0)
                                              .to_numpy() * COVERAGE_UNITS + 1e-9), np.inf),
        min_providers=min_providers.astype(np.int64))


def inference_covers(wv: WorkloadVars) -> Covers:
    """Covers for every serving workload with no spread rule and no row needing a port
    (colgen.Master keeps those that are a piece of their own)."""
    ported = np.zeros(len(wv.need), dtype=bool)
    ported[wv.row_w[wv.port >= 0]] = True
    rows = np.flatnonzero(~wv.training & ~(ported | wv.spread)[wv.row_w])
    rows = rows[np.argsort(wv.row_w[rows], kind="stable")]
    workloads, owner = np.unique(wv.row_w[rows], return_inverse=True)
    return _covers_of(wv, rows, owner, workloads)


def _covers_of(wv: WorkloadVars, rows: np.ndarray, owner: np.ndarray,
               workloads: np.ndarray) -> Covers:
    """Covers of `rows` (sorted by owner): per row its owner, per owner its workload."""
    return Covers(units=wv.units[rows], used=wv.used[rows], supply=wv.supply[rows],
                  max_units=wv.max_units[rows], owner=owner, need=wv.need[workloads],
                  left_out=wv.left_out[workloads])


@dataclass(frozen=True)
class PortSets:
    """The pieces priced by their port sets (those holding a port or a spread workload,
    with MAX_PORTS ports at most, every variable one of their workloads' or ports'),
    laid out once: per piece its sets of ports (a set: a bitmask over the piece's
    ports), per set a copy of each of the piece's workloads on the rows the set allows."""

    pieces: np.ndarray         # the pieces' indices (of the caller's pieces)
    piece_vars: np.ndarray     # their variables
    piece_var_at: np.ndarray   # per variable of piece_vars, its piece's position
    set_piece: np.ndarray      # per set: its piece's position
    bought_set: np.ndarray     # per (set, port bought): the set
    bought_port: np.ndarray    # ... and the port's variable
    copy_set: np.ndarray       # per copy: its set
    gang_copy: np.ndarray      # per row of a gang's copy, sorted by copy: the copy
    gang_units: np.ndarray     # ... and the row's units variable
    gang_left_out: np.ndarray  # per copy: its workload's "left out" variable, or -1
    cover_copy: np.ndarray     # per workload of `covers`: its copy
    covers: Covers
    spread_copy: np.ndarray    # per workload of `spread`: its copy
    spread: SpreadCovers
    spread_serves: np.ndarray  # per row of `spread`: its "serves" variable
    check: sparse.csr_matrix   # the pieces' own rows, to check what is written
    check_lo: np.ndarray
    check_hi: np.ndarray
    check_at: np.ndarray       # per row of `check`: its piece's position

    @classmethod
    def of(cls, wv: WorkloadVars, piece_of: np.ndarray, vars_of: list[np.ndarray],
           rows_of: list[np.ndarray], matrix: sparse.csr_matrix, row_lo: np.ndarray,
           row_hi: np.ndarray) -> PortSets | None:
        """The layout for pieces `vars_of` (their variables), `rows_of` (their rows of
        `matrix`), `piece_of` (per variable, its piece or -1); None when no piece has a
        port or a spread workload."""
        n_pieces, n_w = len(vars_of), len(wv.need)
        if len(wv.row_w) == 0:
            return None
        with_rows, first_row = np.unique(wv.row_w, return_index=True)
        first = np.full(n_w, -1, dtype=np.int64)  # per workload, its first row
        first[with_rows] = first_row
        w_piece = np.where(first >= 0, piece_of[wv.units[np.maximum(first, 0)]], -1)
        ported = np.unique(wv.port[wv.port >= 0])
        port_piece = piece_of[ported]
        wanted = np.zeros(n_pieces, dtype=bool)
        wanted[port_piece[port_piece >= 0]] = True
        wanted[w_piece[wv.spread & (w_piece >= 0)]] = True
        # every variable of a piece priced is one this layout writes
        known = np.unique(np.concatenate([wv.units] + [
            v[v >= 0] for v in (wv.used, wv.left_out, wv.serves, wv.port)]))
        known_piece = piece_of[known]
        sizes = np.array([len(v) for v in vars_of], dtype=np.int64)
        wanted &= np.bincount(known_piece[known_piece >= 0], minlength=n_pieces) == sizes
        port_count = np.bincount(port_piece[port_piece >= 0], minlength=n_pieces)
        wanted &= port_count <= MAX_PORTS
        pieces = np.flatnonzero(wanted)
        if len(pieces) == 0:
            return None
        at = np.full(n_pieces, -1, dtype=np.int64)
        at[pieces] = np.arange(len(pieces))
        # the ports of each piece priced, by piece then variable: a port's bit is its rank
        ports = ported[(port_piece >= 0) & wanted[np.maximum(port_piece, 0)]]
        ports = ports[np.lexsort((ports, piece_of[ports]))]
        ports_at = at[piece_of[ports]]
        bit = np.arange(len(ports)) - np.searchsorted(ports_at, ports_at)
        n_sets = 2 ** port_count[pieces]
        set_start = np.cumsum(n_sets) - n_sets
        set_piece = np.repeat(np.arange(len(pieces)), n_sets)
        mask = np.arange(len(set_piece)) - set_start[set_piece]
        # per (set, port): bought when its bit is in the set's mask
        per_port = n_sets[ports_at]
        pair_set = np.repeat(set_start[ports_at], per_port) + _within(per_port)
        pair_port, pair_bit = np.repeat(ports, per_port), np.repeat(bit, per_port)
        bought = (mask[pair_set] >> pair_bit) & 1 == 1
        # copies: each workload of a piece priced, once per set of its piece
        priced_w = np.flatnonzero((w_piece >= 0) & wanted[np.maximum(w_piece, 0)])
        w_at = at[w_piece[priced_w]]
        copies_of = n_sets[w_at]
        copy_w = np.repeat(priced_w, copies_of)
        copy_set = np.repeat(set_start[w_at], copies_of) + _within(copies_of)
        copy_start = np.full(n_w, -1, dtype=np.int64)
        copy_start[priced_w] = np.cumsum(copies_of) - copies_of
        # rows of the copies: a row needing a port only in the sets that buy it
        rows = np.flatnonzero(copy_start[wv.row_w] >= 0)
        per_row = n_sets[at[w_piece[wv.row_w[rows]]]]
        copy_row = np.repeat(rows, per_row)
        in_set = _within(per_row)
        bit_of = np.full(len(piece_of), -1, dtype=np.int64)  # per port variable
        bit_of[ports] = bit
        b = np.where(wv.port[copy_row] >= 0, bit_of[wv.port[copy_row]], -1)
        allowed = (b < 0) | ((in_set >> np.maximum(b, 0)) & 1 == 1)
        copy_row, in_set = copy_row[allowed], in_set[allowed]
        row_copy = copy_start[wv.row_w[copy_row]] + in_set
        copy_kind = np.where(wv.training[first[copy_w]], 0,
                             np.where(wv.spread[copy_w], 2, 1))
        row_kind = copy_kind[row_copy]
        gang = np.lexsort((copy_row, row_copy))
        gang = gang[row_kind[gang] == 0]
        cover_copy, covers, _ = _copy_covers(wv, copy_w, np.flatnonzero(copy_kind == 1),
                                             copy_row, row_copy, row_kind == 1)
        spread_copy, spread_covers, spread_row = _copy_covers(
            wv, copy_w, np.flatnonzero(copy_kind == 2), copy_row, row_copy, row_kind == 2,
            by_provider=True)
        spread = SpreadCovers(spread_covers, wv.provider[spread_row], wv.use[spread_row],
                        wv.limit[copy_w[spread_copy]], wv.min_providers[copy_w[spread_copy]])
        check_rows = np.concatenate([rows_of[p] for p in pieces.tolist()])
        check_at = np.repeat(np.arange(len(pieces)),
                             [len(rows_of[p]) for p in pieces.tolist()])
        piece_vars = np.concatenate([vars_of[p] for p in pieces.tolist()])
        return cls(
            pieces=pieces, piece_vars=piece_vars, piece_var_at=at[piece_of[piece_vars]],
            set_piece=set_piece, bought_set=pair_set[bought], bought_port=pair_port[bought],
            copy_set=copy_set, gang_copy=row_copy[gang], gang_units=wv.units[copy_row[gang]],
            gang_left_out=wv.left_out[copy_w], cover_copy=cover_copy, covers=covers,
            spread_copy=spread_copy, spread=spread, spread_serves=wv.serves[spread_row],
            check=matrix[check_rows], check_lo=row_lo[check_rows],
            check_hi=row_hi[check_rows], check_at=check_at)


def _within(counts: np.ndarray) -> np.ndarray:
    """0, 1, ... counts[i] - 1 for each i, concatenated."""
    return np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)


def _copy_covers(wv: WorkloadVars, copy_w: np.ndarray, copies: np.ndarray,
                 copy_row: np.ndarray, row_copy: np.ndarray, of_kind: np.ndarray,
                 by_provider: bool = False) -> tuple[np.ndarray, Covers, np.ndarray]:
    """Covers for `copies` (sorted): the copy rows `of_kind` picks, sorted by copy (then
    provider) and row; returns the copies, the covers and their rows."""
    picked = np.flatnonzero(of_kind)
    row, copy = copy_row[picked], row_copy[picked]
    order = picked[np.lexsort((row, wv.provider[row], copy) if by_provider else (row, copy))]
    row = copy_row[order]
    return copies, _covers_of(wv, row, np.searchsorted(copies, row_copy[order]),
                              copy_w[copies]), row


def port_set_columns(sets: PortSets, priced: np.ndarray, values: np.ndarray,
                     wanted: np.ndarray, lower: np.ndarray | None = None,
                     upper: np.ndarray | None = None) -> np.ndarray:
    """For each piece of `sets` in `wanted` (a mask over the caller's pieces), its
    cheapest set of ports at `priced` (cost per variable) with each workload priced
    alone on the rows the set allows, written into `values` where the piece's own rows
    all hold for it. `lower` and `upper` (per variable): only the sets that buy each
    port within them. Returns the pieces written (a mask over the caller's pieces)."""
    copies = len(sets.copy_set)
    cost = np.zeros(copies)
    gang_best, gang_pick, leave_value = _gang_costs(sets, priced)
    gang_leave = leave_value < gang_best
    gangs = np.ones(copies, dtype=bool)
    gangs[sets.cover_copy] = False
    gangs[sets.spread_copy] = False
    cost[gangs] = np.minimum(gang_best, leave_value)[gangs]
    covers = cheapest_covers(sets.covers, priced, np.ones(len(sets.cover_copy), dtype=bool))
    cost[sets.cover_copy] = covers.cost
    spread = cheapest_spread(sets.spread, priced)
    cost[sets.spread_copy] = spread.cost
    # per set: its copies and the ports it buys
    set_cost = np.bincount(sets.copy_set, weights=cost, minlength=len(sets.set_piece)) \
        + np.bincount(sets.bought_set, weights=priced[sets.bought_port],
                      minlength=len(sets.set_piece))
    if lower is not None and upper is not None:
        set_cost[_sets_outside(sets, lower, upper)] = np.inf
    order = np.lexsort((set_cost, sets.set_piece))
    first = np.flatnonzero(np.r_[True, np.diff(sets.set_piece[order]) != 0])
    best_set = order[first]  # per piece position (every piece has a set)
    write = np.isfinite(set_cost[best_set]) & wanted[sets.pieces]
    chosen = np.zeros(len(sets.set_piece), dtype=bool)
    chosen[best_set[write]] = True
    taken = chosen[sets.copy_set]
    # clear the pieces written, then write each chosen copy
    clear = write[sets.piece_var_at]
    before = values[sets.piece_vars[clear]].copy()
    values[sets.piece_vars[clear]] = 0
    on = taken & gangs & ~gang_leave & (gang_pick >= 0)
    values[sets.gang_units[gang_pick[on]]] = 1
    out = taken & gangs & (sets.gang_left_out >= 0)
    values[sets.gang_left_out[out]] = gang_leave[out]
    _write(sets.covers, _only(covers, taken[sets.cover_copy], sets.covers.owner), values)
    spread_done = _only(spread, taken[sets.spread_copy], sets.spread.covers.owner)
    _write(sets.spread.covers, spread_done, values)
    serving = spread_done.done[sets.spread.covers.owner] & (spread_done.units > 0)
    values[sets.spread_serves[serving]] = 1
    values[sets.bought_port[chosen[sets.bought_set]]] = 1
    # the pieces' own rows: a piece breaking one keeps what it had
    activity = sets.check @ values.astype(np.float64)
    broken = (activity < sets.check_lo - 1e-9) | (activity > sets.check_hi + 1e-9)
    bad = np.bincount(sets.check_at[broken], minlength=len(sets.pieces)) > 0
    bad &= write
    if bad.any():
        restore = bad[sets.piece_var_at[clear]]
        values[sets.piece_vars[clear][restore]] = before[restore]
    done = np.zeros(len(wanted), dtype=bool)
    done[sets.pieces[write & ~bad]] = True
    return done


def _gang_costs(sets: PortSets, priced: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per copy of a gang: the cheapest row the set allows (its cost, and its index in
    sets.gang_units; inf and -1 where none or not a gang) and leaving it out (inf where
    it is required)."""
    copies = len(sets.copy_set)
    gang_cost = priced[sets.gang_units]
    gang_best = np.full(copies, np.inf)
    gang_pick = np.full(copies, -1, dtype=np.int64)
    if len(gang_cost):
        starts = np.flatnonzero(np.r_[True, np.diff(sets.gang_copy) != 0])
        least = np.minimum.reduceat(gang_cost, starts)
        index = np.arange(len(gang_cost))
        owner = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(gang_cost)]))
        hit = np.where(gang_cost <= least[owner], index, len(index))
        gang_best[sets.gang_copy[starts]] = least
        gang_pick[sets.gang_copy[starts]] = np.minimum.reduceat(hit, starts)
    leave_value = np.where(sets.gang_left_out >= 0,
                           priced[np.maximum(sets.gang_left_out, 0)], np.inf)
    return gang_best, gang_pick, leave_value


def port_set_floors(sets: PortSets, priced: np.ndarray, lower: np.ndarray | None = None,
                    upper: np.ndarray | None = None) -> np.ndarray:
    """Per piece of `sets` (by position), a lower bound on what any of its solutions
    costs at `priced` (-inf where none is known): the least over its sets of ports
    (within `lower` and `upper`) of what the set's ports cost and a floor under each of
    its workloads on the rows the set allows. Given its ports, a piece's workloads share
    no row, so each is priced alone: a gang exactly (its cheapest row, or leaving it
    out), a serving workload by cover_floors, one with a spread rule by cover_floors
    without that rule (dropping a rule only lowers a floor) and its "serves" variables
    where their prices are negative."""
    gang_best, _, leave_value = _gang_costs(sets, priced)
    floor = np.minimum(gang_best, leave_value)  # exact for a gang; the others' follow
    floor[sets.cover_copy] = cover_floors(sets.covers, priced,
                                          np.ones(len(sets.cover_copy), dtype=bool))
    spread = sets.spread.covers
    serves_floor = np.zeros(len(sets.spread_copy))
    with_serves = np.flatnonzero(sets.spread_serves >= 0)
    if len(with_serves):
        # each (workload, provider) "serves" variable once
        pairs = np.unique(np.column_stack((spread.owner[with_serves],
                                           sets.spread_serves[with_serves])), axis=0)
        serves_floor = np.bincount(pairs[:, 0], weights=np.minimum(priced[pairs[:, 1]], 0.0),
                                   minlength=len(sets.spread_copy))
    floor[sets.spread_copy] = cover_floors(
        spread, priced, np.ones(len(sets.spread_copy), dtype=bool)) + serves_floor
    set_floor = np.bincount(sets.copy_set, weights=floor, minlength=len(sets.set_piece)) \
        + np.bincount(sets.bought_set, weights=priced[sets.bought_port],
                      minlength=len(sets.set_piece))
    # a copy with no floor (nan from -inf + inf, or -inf) leaves its set none
    set_floor = np.where(np.isnan(set_floor), -np.inf, set_floor)
    if lower is not None and upper is not None:
        set_floor[_sets_outside(sets, lower, upper)] = np.inf
    piece_floor = np.full(len(sets.pieces), np.inf)
    np.minimum.at(piece_floor, sets.set_piece, set_floor)
    return piece_floor


def _sets_outside(sets: PortSets, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """A mask of the sets that buy a port its `upper` forbids or leave out one its
    `lower` requires."""
    n_sets = len(sets.set_piece)
    forbidden = np.bincount(sets.bought_set, weights=upper[sets.bought_port] < 1,
                            minlength=n_sets) > 0
    required = np.bincount(sets.bought_set, weights=lower[sets.bought_port] >= 1,
                           minlength=n_sets)
    # every port of a piece is bought in its last set (all bits on)
    of_piece = np.zeros(int(sets.set_piece.max(initial=-1)) + 1)
    np.maximum.at(of_piece, sets.set_piece, required)
    return forbidden | (required < of_piece[sets.set_piece])


def _only(chosen: _Chosen, keep: np.ndarray, owner: np.ndarray) -> _Chosen:
    """`chosen` for the workloads `keep` picks (the others not written)."""
    done = chosen.done & keep
    return _Chosen(done, chosen.cost, chosen.leave & keep,
                   np.where(done[owner], chosen.units, 0))
