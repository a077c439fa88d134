"""A warm start for CP-SAT: a plan built by rounding the LP relaxation (or cheapest
first), repaired to keep lock-in caps, improved by local search, and given as a complete
hint (every auxiliary variable too: a hint on the assignment alone does not help CP-SAT
find a first plan under caps).

Measured on generated 1,000-workload fleets: CP-SAT's own search barely improves a
plan at this size within a minute, while rounding the LP and improving it locally lands
near the LP bound. So the quality at scale comes from here, and CP-SAT polishes and
proves.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from placer.candidates import Candidates, offering_ids, port_ids
from placer.check import candidate_violations
from placer.model import cap_fraction

if TYPE_CHECKING:
    from placer.model import BuiltModel
    from placer.relax import Relaxation
    from placer.schema import Policy

Step = tuple[int, int]  # (row, units)


def _codes(series: pl.Series) -> np.ndarray:
    return series.cast(pl.String).fill_null("").cast(pl.Categorical).to_physical().to_numpy()


@dataclass
class Placement:
    """Units per candidate row, with everything the rules need kept up to date."""

    cost: np.ndarray          # compute + carbon per unit, USD
    compute: np.ndarray       # compute per unit, USD
    egress: np.ndarray        # once per row used
    port_usd: np.ndarray
    port_id: np.ndarray       # -1 when native
    offering_id: np.ndarray
    chips: np.ndarray
    max_units: np.ndarray
    ref: np.ndarray
    provider_id: np.ndarray
    w_of_row: np.ndarray
    starts: np.ndarray        # rows of workload w: starts[w]:ends[w]
    ends: np.ndarray
    remaining: np.ndarray     # capacity left per offering
    port_users: np.ndarray    # rows using each port
    caps: dict[str, Fraction]
    groups: dict[str, np.ndarray]       # per capped dimension: group id per row
    group_spend: dict[str, np.ndarray]  # per capped dimension: compute spend per group
    units: np.ndarray
    rank: np.ndarray | None = None      # LP-guided priority per row (lower first)
    left_out: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    cut_by_time: bool = False           # a wall-clock deadline stopped the search

    @classmethod
    def empty(cls, candidates: Candidates, policy: Policy) -> Placement:
        rows = candidates.rows
        oid = offering_ids(rows, candidates.offerings)
        port_id = port_ids(rows)
        caps = {dim: cap_fraction(v) for dim, v in policy.max_share if v is not None}
        groups = {dim: _codes(rows[dim]) for dim in caps}
        w_of_row = rows["w"].to_numpy()
        n_w = candidates.workloads.height
        return cls(
            cost=(rows["unit_compute_usd"] + rows["unit_carbon_usd"]).to_numpy(),
            compute=rows["unit_compute_usd"].to_numpy(),
            egress=rows["egress_usd"].to_numpy(),
            port_usd=rows["port_usd"].fill_null(0).to_numpy(),
            port_id=port_id,
            offering_id=oid,
            chips=rows["unit_chips"].to_numpy(),
            max_units=rows["max_units"].to_numpy(),
            ref=rows["unit_ref"].fill_null(0).to_numpy(),
            provider_id=_codes(rows["provider"]),
            w_of_row=w_of_row,
            starts=np.searchsorted(w_of_row, np.arange(n_w)),
            ends=np.searchsorted(w_of_row, np.arange(n_w), side="right"),
            remaining=candidates.offerings["capacity_chips"].to_numpy().astype(np.int64),
            port_users=np.zeros(max(int(port_id.max(initial=-1)) + 1, 1), dtype=np.int64),
            caps=caps,
            groups=groups,
            group_spend={d: np.zeros(int(g.max()) + 1 if len(g) else 1)
                         for d, g in groups.items()},
            units=np.zeros(rows.height, dtype=np.int64),
            left_out=np.zeros(n_w, dtype=bool),
        )

    # --- changing the placement -------------------------------------------------

    def place(self, steps: list[Step]) -> None:
        for r, k in steps:
            if self.units[r] == 0 and self.port_id[r] >= 0:
                self.port_users[self.port_id[r]] += 1
            self.units[r] += k
            self.remaining[self.offering_id[r]] -= k * self.chips[r]
            for dim, g in self.groups.items():
                self.group_spend[dim][g[r]] += k * self.compute[r]

    def unplace(self, steps: list[Step]) -> None:
        for r, k in steps:
            self.units[r] -= k
            if self.units[r] == 0 and self.port_id[r] >= 0:
                self.port_users[self.port_id[r]] -= 1
            self.remaining[self.offering_id[r]] += k * self.chips[r]
            for dim, g in self.groups.items():
                self.group_spend[dim][g[r]] -= k * self.compute[r]

    def steps_of(self, w: int) -> list[Step]:
        idx = np.arange(self.starts[w], self.ends[w])
        used = idx[self.units[idx] > 0]
        return [(int(r), int(self.units[r])) for r in used]

    # --- what things cost ----------------------------------------------------------

    def marginal_cost(self, steps: list[Step]) -> float:
        """Cost of adding these steps now: units, egress of new rows, ports not yet bought."""
        cost = 0.0
        new_ports: set[int] = set()
        for r, k in steps:
            cost += k * self.cost[r]
            if self.units[r] == 0:
                cost += self.egress[r]
                p = self.port_id[r]
                if p >= 0 and self.port_users[p] == 0 and p not in new_ports:
                    new_ports.add(p)
                    cost += self.port_usd[r]
        return cost

    def unpaid_ports(self, rows: np.ndarray) -> np.ndarray:
        """Per row, the price of its port when no row in use has bought it yet. Added to
        the guide's rank too (in USD, as the reduced costs there): the LP prices a port
        apart from the rows that need it, and a workload the guide's rows had no room
        for, ranked by reduced cost alone, bought ports to save a little (a 2,000-workload
        part: 55 ports where the guide had 36, $46.48M -> $43.46M with them priced; after
        the caps' repair and the local search, as before)."""
        port = self.port_id[rows]
        unpaid = (port >= 0) & (self.port_users[np.maximum(port, 0)] == 0)
        return np.where(unpaid, self.port_usd[rows], 0.0)

    def total_cost(self) -> float:
        used = self.units > 0
        ports = np.zeros(len(self.port_users))
        mask = used & (self.port_id >= 0)
        ports[self.port_id[mask]] = self.port_usd[mask]
        return float((self.units * self.cost).sum() + self.egress[used].sum() + ports.sum())

    def within_caps(self, before: dict[str, np.ndarray] | None = None) -> bool:
        """Every group within its cap (or, given `before`, none newly above and none above
        growing)."""
        for dim, cap in self.caps.items():
            after = self.group_spend[dim]
            limit_a = float(cap) * after.sum()
            if before is None:
                if np.any(after > limit_a * (1 + 1e-9) + 1e-6):
                    return False
                continue
            b = before[dim]
            limit_b = float(cap) * b.sum()
            ok_before = b <= limit_b * (1 + 1e-9) + 1e-6
            if np.any(ok_before & (after > limit_a * (1 + 1e-9) + 1e-6)):
                return False
            if np.any(~ok_before & (after - limit_a > b - limit_b + 1e-6)):
                return False
        return True

    def cap_excess(self) -> float:
        """Total USD above the caps, over every capped group: 0 when all caps hold."""
        total = 0.0
        for dim, cap in self.caps.items():
            spend = self.group_spend[dim]
            total += float(np.clip(spend - float(cap) * spend.sum(), 0, None).sum())
        return total

    def worst_cap_excess(self) -> tuple[str, int] | None:
        worst = None
        for dim, cap in self.caps.items():
            spend = self.group_spend[dim]
            excess = spend - float(cap) * spend.sum()
            g = int(np.argmax(excess))
            if excess[g] > 1e-6 * max(spend.sum(), 1.0) and (worst is None or excess[g] > worst[2]):
                worst = (dim, g, float(excess[g]))
        return None if worst is None else (worst[0], worst[1])

    # --- choosing rows ---------------------------------------------------------------

    def best_training(self, w: int, banned: np.ndarray | None = None) -> list[Step] | None:
        idx = np.arange(self.starts[w], self.ends[w])
        fits = self.chips[idx] <= self.remaining[self.offering_id[idx]]
        if banned is not None:
            fits &= ~banned[idx]
        if not fits.any():
            return None
        if self.rank is not None:
            key = self.rank[idx] + self.unpaid_ports(idx)
        else:
            key = self.cost[idx] + self.egress[idx] + self.unpaid_ports(idx)
        choice = idx[np.flatnonzero(fits)[np.argmin(key[fits])]]
        return [(int(choice), 1)]

    def best_inference(self, w: int, demand: float, max_fraction: float,
                       banned: np.ndarray | None = None) -> list[Step] | None:
        """Instances covering what the workload's current units do not, best rows first."""
        idx = np.arange(self.starts[w], self.ends[w])
        if self.rank is not None:
            key = self.rank[idx] + self.unpaid_ports(idx)
        else:
            fixed = np.where(self.units[idx] == 0, self.egress[idx], 0.0) / np.maximum(
                self.max_units[idx], 1) + self.unpaid_ports(idx)
            key = (self.cost[idx] + fixed) / np.maximum(self.ref[idx], 1e-12)
        served: dict[int, float] = {}
        for r in idx[self.units[idx] > 0].tolist():
            p = int(self.provider_id[r])
            served[p] = served.get(p, 0.0) + self.units[r] * self.ref[r]
        need = demand - sum(served.values())
        steps: list[Step] = []
        for r in idx[np.argsort(key, kind="stable")].tolist():
            if need <= 1e-9:
                break
            if banned is not None and banned[r]:
                continue
            k = min(int(self.max_units[r] - self.units[r]),
                    int(self.remaining[self.offering_id[r]] // self.chips[r]),
                    int(np.ceil(need / self.ref[r] - 1e-9)))
            if max_fraction < 1:  # spread: no provider serves more than its fraction
                room = max_fraction * demand - served.get(int(self.provider_id[r]), 0.0)
                k = min(k, int(np.floor(room / self.ref[r] + 1e-9)))
            if k <= 0:
                continue
            steps.append((r, k))
            served[int(self.provider_id[r])] = served.get(int(self.provider_id[r]), 0.0) \
                + k * self.ref[r]
            need -= k * self.ref[r]
        return steps if need <= 1e-9 else None


def _lp_floor(p: Placement, w: int, lp: np.ndarray, demand: float,
              max_fraction: float) -> list[Step]:
    """The whole instances the LP places (where capacity allows), never beyond demand."""
    idx = np.arange(p.starts[w], p.ends[w])
    steps: list[Step] = []
    need = demand
    served: dict[int, float] = {}
    for r in idx[np.argsort(-lp[idx], kind="stable")].tolist():
        if p.ref[r] <= 0:
            continue
        k = min(int(np.floor(lp[r] + 1e-6)), int(p.remaining[p.offering_id[r]] // p.chips[r]),
                int(np.floor(need / p.ref[r] + 1e-9)))
        if max_fraction < 1:
            room = max_fraction * demand - served.get(int(p.provider_id[r]), 0.0)
            k = min(k, int(np.floor(room / p.ref[r] + 1e-9)))
        if k > 0:
            steps.append((r, k))
            p.place([(r, k)])
            served[int(p.provider_id[r])] = served.get(int(p.provider_id[r]), 0.0) + k * p.ref[r]
            need -= k * p.ref[r]
    return steps


@dataclass(frozen=True)
class _Workloads:
    kind: list[str]
    value: list[float | None]
    demand: list[float]
    fraction: list[float]

    @classmethod
    def of(cls, candidates: Candidates) -> _Workloads:
        w = candidates.workloads
        return cls(w["kind"].to_list(), w["value_usd"].to_list(),
                   w["demand"].fill_null(0).to_list(), w["spread_max_fraction"].to_list())

    def best(self, p: Placement, w: int, banned: np.ndarray | None = None
             ) -> list[Step] | None:
        if self.kind[w] == "training":
            return p.best_training(w, banned)
        return p.best_inference(w, self.demand[w], self.fraction[w], banned)


def greedy(candidates: Candidates, policy: Policy, lp_units: np.ndarray | None = None,
           reduced_costs: np.ndarray | None = None) -> Placement:
    """A first placement, hardest workloads first; with a guide (`lp_units`: an LP
    solution, or the Lagrangian pieces' plan), the rows it uses come first (rounding
    it), then by `reduced_costs` (USD) with unbought ports priced in, else the
    cheapest."""
    p = Placement.empty(candidates, policy)
    if lp_units is not None:
        rc = reduced_costs if reduced_costs is not None else np.zeros(len(lp_units))
        p.rank = np.where(lp_units > 1e-6, -1e18 * np.minimum(lp_units, 1e3) / 1e3, 0.0) + rc
    info = _Workloads.of(candidates)
    wl = candidates.workloads
    size = np.where(wl["kind"].to_numpy() == "training", wl["chip_hours"].fill_null(0).to_numpy(),
                    wl["demand"].fill_null(0).to_numpy() * 24 * candidates.horizon_days)
    spread = (wl["spread_min_providers"].to_numpy() > 1) | (
        wl["spread_max_fraction"].to_numpy() < 1)
    unsure = np.zeros(len(p.starts), dtype=bool)
    if lp_units is not None:
        # workloads the guide places in whole units on offerings it does not overfill fit
        # together: they go first (an LP never overfills one; the pieces' plan does, and
        # its contested workloads placed last: the first 1,000-workload fleet's 10 s plan
        # $20.98M -> $20.87M)
        off = np.abs(lp_units - np.round(lp_units)) > 1e-6
        used = np.bincount(p.offering_id, weights=lp_units * p.chips,
                           minlength=len(p.remaining))
        overfilled = used > p.remaining * (1 + 1e-9) + 1e-6
        off |= (lp_units > 1e-6) & overfilled[p.offering_id]
        unsure[np.unique(p.w_of_row[off])] = True
    # then the hardest: spread workloads, those with fewest candidates, the biggest
    for w in np.lexsort((-size, p.ends - p.starts, ~spread, unsure)).tolist():
        if p.ends[w] == p.starts[w]:
            p.left_out[w] = info.value[w] is not None
            continue
        floor = []
        if lp_units is not None and info.kind[w] == "inference":
            floor = _lp_floor(p, w, lp_units, info.demand[w], info.fraction[w])
        steps = info.best(p, w)
        cost = p.marginal_cost(steps or []) + sum(k * p.cost[r] for r, k in floor)
        if steps is None or (info.value[w] is not None and cost > info.value[w]):
            p.unplace(floor)
            p.left_out[w] = info.value[w] is not None
            continue
        p.place(steps)
    p.rank = None
    return p


def make_room(p: Placement, candidates: Candidates, deadline: _Deadline | None = None) -> None:
    """Place the required workloads the greedy pass could not fit, by moving other
    workloads off a full offering to their next-best rows (an ejection chain one move
    deep).

    With tight capacities a first-come placement strands a big gang while smaller ones
    sit where it alone could go; the LP's rounding mostly avoids it, cheapest-first does
    not.
    """
    info = _Workloads.of(candidates)
    optional = ~candidates.workloads["required"].to_numpy().astype(bool)
    for w in np.flatnonzero(_unplaced_required(p, optional)).tolist():
        if deadline is not None and deadline.passed():
            return
        idx = np.arange(p.starts[w], p.ends[w])
        for r in idx[np.argsort(p.cost[idx] + p.egress[idx], kind="stable")].tolist():
            if info.kind[w] == "training":
                need = int(p.chips[r])
            else:
                need = int(p.chips[r] * min(p.max_units[r],
                                            np.ceil(info.demand[w] / max(p.ref[r], 1e-12))))
            moved = _evict(p, info, int(p.offering_id[r]), need - int(
                p.remaining[p.offering_id[r]]))
            if moved is None:
                continue
            steps = info.best(p, w)
            if steps is not None:
                p.place(steps)
                p.left_out[w] = False
                break
            for old, new in reversed(moved):  # could not use the room after all: undo
                p.unplace(new)
                p.place(old)


def _unplaced_required(p: Placement, optional: np.ndarray) -> np.ndarray:
    placed = np.bincount(p.w_of_row[p.units > 0], minlength=len(p.starts)) > 0
    return ~placed & ~optional & (p.ends > p.starts)


def _evict(p: Placement, info: _Workloads, offering: int, deficit: int
           ) -> list[tuple[list[Step], list[Step]]] | None:
    """Move workloads off `offering` (a gang, or a serving workload's instances there; the
    least extra cost per chip freed first) until `deficit` chips are free; the moves made,
    or None (and nothing moved) when that is not possible."""
    if deficit <= 0:
        return []
    on_it = p.offering_id == offering
    options = []
    for r in np.flatnonzero((p.units > 0) & on_it).tolist():
        w, moving = int(p.w_of_row[r]), [(r, int(p.units[r]))]
        p.unplace(moving)
        alt = info.best(p, w, banned=on_it)
        p.place(moving)
        if alt is not None:
            extra = p.marginal_cost(alt) - moving[0][1] * p.cost[r] - p.egress[r]
            options.append((extra / (moving[0][1] * p.chips[r]), r, w))
    moved: list[tuple[list[Step], list[Step]]] = []
    for _, r, w in sorted(options):
        if deficit <= 0:
            break
        if p.units[r] == 0:
            continue
        moving = [(r, int(p.units[r]))]
        p.unplace(moving)
        alt = info.best(p, w, banned=on_it)
        if alt is None:
            p.place(moving)
            continue
        p.place(alt)
        moved.append((moving, alt))
        deficit -= moving[0][1] * int(p.chips[r])
    if deficit > 0:
        for old, new in reversed(moved):
            p.unplace(new)
            p.place(old)
        return None
    return moved


def repair_caps(p: Placement, candidates: Candidates, deadline: _Deadline | None = None,
                rounds: int = 200) -> None:
    """Bring every group within its lock-in cap by moving work out of it.

    Each round takes the group furthest above its cap, prices every workload's cheapest
    way out of it (array arithmetic over the candidate rows), and moves workloads in
    order of extra cost per dollar moved. A move is kept when it lowers the total excess
    over all caps: caps interact (NVIDIA's alternatives may sit with a provider that is
    itself over its cap), so excess may move between groups while the total falls.
    """
    info = _Workloads.of(candidates)
    for _ in range(rounds):
        if deadline is not None and deadline.passed():
            return
        over = p.worst_cap_excess()
        if over is None:
            return
        dim, g = over
        banned = p.groups[dim] == g
        order = _cheapest_ways_out(p, banned, banned)
        moved_any = False
        for w in order.tolist():
            if not _above_cap(p, dim, g):
                break
            current = p.steps_of(w)
            moving = [(r, k) for r, k in current if banned[r]]
            excess = p.cap_excess()
            p.unplace(moving)
            steps = info.best(p, w, banned)
            if steps is not None:
                p.place(steps)
                if p.cap_excess() < excess - 1e-6:
                    moved_any = True
                    continue
                p.unplace(steps)
            p.place(moving)
        if not moved_any and not _inflate_others(p, dim, g):
            return


def _inflate_others(p: Placement, dim: str, g: int) -> bool:
    """A share is spend over total: when no work can leave the group, moving training gangs
    outside it to costlier rows raises the total and lowers its share. The LP does the
    same when that is the cheapest way to keep a cap. Smallest extra cost first."""
    outside = p.groups[dim] != g
    current = np.flatnonzero((p.units > 0) & outside & (p.ref == 0))
    if len(current) == 0:
        return False
    moved = False
    now = dict(zip(p.w_of_row[current].tolist(), current.tolist(), strict=True))
    rows = np.flatnonzero(outside & (p.ref == 0) & (p.units == 0)
                          & np.isin(p.w_of_row, list(now)))
    extra = p.compute[rows] - p.compute[[now[w] for w in p.w_of_row[rows].tolist()]]
    for r in rows[np.argsort(np.where(extra > 0, extra, np.inf), kind="stable")].tolist():
        if not _above_cap(p, dim, g):
            break
        w = int(p.w_of_row[r])
        old = now[w]
        if p.compute[r] <= p.compute[old] or p.chips[r] > p.remaining[p.offering_id[r]]:
            continue
        excess = p.cap_excess()
        p.unplace([(old, 1)])
        p.place([(r, 1)])
        if p.cap_excess() < excess - 1e-6:
            now[w] = r
            moved = True
        else:
            p.unplace([(r, 1)])
            p.place([(old, 1)])
    return moved


def _above_cap(p: Placement, dim: str, g: int) -> bool:
    spend = p.group_spend[dim]
    return bool(spend[g] > float(p.caps[dim]) * spend.sum() * (1 + 1e-9) + 1e-6)


def _cheapest_ways_out(p: Placement, banned: np.ndarray, in_group: np.ndarray) -> np.ndarray:
    """Workloads with work in the group, ordered by the estimated extra cost per dollar
    of compute spend moved out of it."""
    fits = (p.chips <= p.remaining[p.offering_id]) & ~banned
    per_ref = np.where(p.ref > 0, p.cost / np.maximum(p.ref, 1e-12), np.inf)
    n_w = len(p.starts)
    alt_gang = np.full(n_w, np.inf)
    alt_ref = np.full(n_w, np.inf)
    ok = np.flatnonzero(fits)
    np.minimum.at(alt_gang, p.w_of_row[ok], (p.cost + p.egress)[ok])
    np.minimum.at(alt_ref, p.w_of_row[ok], per_ref[ok])
    here = np.flatnonzero((p.units > 0) & in_group)
    cost_here = np.bincount(p.w_of_row[here], weights=p.units[here] * p.cost[here]
                            + p.egress[here], minlength=n_w)
    spend_here = np.bincount(p.w_of_row[here], weights=p.units[here] * p.compute[here],
                             minlength=n_w)
    ref_here = np.bincount(p.w_of_row[here], weights=p.units[here] * p.ref[here],
                           minlength=n_w)
    alternative = alt_gang.copy()
    serving = ref_here > 0  # inference: re-cover what it serves here at the best rate
    alternative[serving] = alt_ref[serving] * ref_here[serving]
    movers = np.flatnonzero((spend_here > 0) & np.isfinite(alternative))
    ratio = (alternative[movers] - cost_here[movers]) / spend_here[movers]
    return movers[np.argsort(ratio, kind="stable")]


def improve(p: Placement, candidates: Candidates, deadline: _Deadline,
            passes: int = 8) -> None:
    """Local search: re-place each workload where it costs least (rules kept), and close
    ports whose savings do not pay for them."""
    info = _Workloads.of(candidates)
    n_w = len(p.starts)
    for _ in range(passes):
        improved = False
        for w in range(n_w):
            if deadline.passed():
                return
            if p.left_out[w] or p.ends[w] == p.starts[w]:
                continue
            current = p.steps_of(w)
            before = {d: s.copy() for d, s in p.group_spend.items()}
            p.unplace(current)
            old_cost = p.marginal_cost(current)
            steps = info.best(p, w)
            if steps is not None and p.marginal_cost(steps) < old_cost - 1e-6:
                p.place(steps)
                if p.within_caps(before):
                    improved = True
                    continue
                p.unplace(steps)
            p.place(current)
        improved |= _close_ports(p, info, deadline)
        improved |= _open_ports(p, info, deadline)
        improved |= _swap_into_full(p, info, deadline)
        if not improved:
            return


def _open_ports(p: Placement, info: _Workloads, deadline: _Deadline) -> bool:
    """Buy a port when the workloads that could use it save more than it costs: choosing
    ports is facility location, and workload-by-workload moves never pay for one alone."""
    improved = False
    for port in np.flatnonzero(p.port_users == 0).tolist():
        if deadline.passed():
            break
        rows = np.flatnonzero(p.port_id == port)
        if len(rows) == 0:
            continue
        users = [w for w in np.unique(p.w_of_row[rows]).tolist() if not p.left_out[w]]
        improved |= _re_place_if_cheaper(p, info, users, paid_port=port)
    return improved


def _swap_into_full(p: Placement, info: _Workloads, deadline: _Deadline,
                    tries: int = 1) -> bool:
    """Moves that single re-placements cannot make under tight capacity: a gang takes a
    cheaper row on a full offering, and the gangs it displaces go to their next-best rows
    (possibly where it came from), when the whole exchange costs less and keeps the caps."""
    improved = False
    training = np.flatnonzero(p.ref == 0)
    placed = training[p.units[training] > 0]
    for cur in placed[np.argsort(-p.cost[placed], kind="stable")].tolist():
        if deadline.passed():
            break
        if p.units[cur] == 0:  # moved by an earlier exchange
            continue
        w = int(p.w_of_row[cur])
        idx = np.arange(p.starts[w], p.ends[w])
        cheaper = idx[(p.cost[idx] + p.egress[idx] < p.cost[cur] + p.egress[cur] - 1e-6)
                      & (p.chips[idx] > p.remaining[p.offering_id[idx]])
                      & (p.offering_id[idx] != p.offering_id[cur])]
        for r in cheaper[np.argsort(p.cost[cheaper], kind="stable")][:tries].tolist():
            before_cost = p.total_cost()
            before = {d: sp.copy() for d, sp in p.group_spend.items()}
            p.unplace([(cur, 1)])
            moved = _evict(p, info, int(p.offering_id[r]),
                           int(p.chips[r] - p.remaining[p.offering_id[r]]))
            if moved is not None:
                p.place([(r, 1)])
                if p.total_cost() < before_cost - 1e-6 and p.within_caps(before):
                    improved = True
                    break
                p.unplace([(r, 1)])
                for old, new in reversed(moved):
                    p.unplace(new)
                    p.place(old)
            p.place([(cur, 1)])
    return improved


def _close_ports(p: Placement, info: _Workloads, deadline: _Deadline) -> bool:
    """Buy no port whose workloads could run elsewhere for less than the port costs."""
    improved = False
    for port in np.flatnonzero(p.port_users > 0).tolist():
        if deadline.passed():
            break
        rows = np.flatnonzero((p.port_id == port) & (p.units > 0))
        users = np.unique(p.w_of_row[rows]).tolist()
        improved |= _re_place_if_cheaper(p, info, users, banned=p.port_id == port)
    return improved


def _re_place_if_cheaper(p: Placement, info: _Workloads, users: list[int],
                         banned: np.ndarray | None = None, paid_port: int | None = None
                         ) -> bool:
    """Take `users` out and put each back at its best (avoiding `banned` rows; with
    `paid_port` counted as bought while they choose); keep the result if it costs less
    and keeps the caps, else restore the placement exactly."""
    before_cost = p.total_cost()
    before = {d: s.copy() for d, s in p.group_spend.items()}
    saved = {w: p.steps_of(w) for w in users}
    for steps in saved.values():
        p.unplace(steps)
    if paid_port is not None:
        p.port_users[paid_port] += 1
    placed: list[list[Step]] = []
    ok = True
    for w in users:
        steps = info.best(p, w, banned)
        if steps is None:
            ok = False
            break
        p.place(steps)
        placed.append(steps)
    if paid_port is not None:
        p.port_users[paid_port] -= 1
    if ok and p.within_caps(before) and p.total_cost() < before_cost - 1e-6:
        return True
    for steps in placed:
        p.unplace(steps)
    for steps in saved.values():
        p.place(steps)
    return False


def complete_hint(built: BuiltModel, candidates: Candidates, units: np.ndarray,
                  left_out: np.ndarray) -> None:
    """Write a hint for every variable the plan determines."""
    values = plan_values(built, candidates, units, left_out)
    hint = built.builder.proto.solution_hint
    hint.vars.clear()
    hint.values.clear()
    hint.vars.extend(list(values.keys()))
    hint.values.extend(list(values.values()))


def full_values(built: BuiltModel, candidates: Candidates, units: np.ndarray,
                left_out: np.ndarray) -> np.ndarray:
    """plan_values as a vector over all the model's variables (0 where it sets none)."""
    values = plan_values(built, candidates, units, left_out)
    vector = np.zeros(built.builder.num_vars, dtype=np.int64)
    vector[np.fromiter(values.keys(), dtype=np.int64, count=len(values))] = \
        np.fromiter(values.values(), dtype=np.int64, count=len(values))
    return vector


def plan_values(built: BuiltModel, candidates: Candidates, units: np.ndarray,
                left_out: np.ndarray) -> dict[int, int]:
    """The value of every variable of `built` the plan determines (all of them, in a
    model build_model made), by variable."""
    rows = candidates.rows
    values: dict[int, int] = dict(zip(built.units.tolist(), units.tolist(), strict=True))
    for w, var in enumerate(built.unplaced.tolist()):
        if var >= 0:
            values[var] = int(left_out[w])
    for r, var in enumerate(built.used.tolist()):
        if var >= 0 and var not in values:
            values[var] = int(units[r] > 0)
    placed = rows.with_columns(pl.Series("n", units))
    if built.ports.height:
        chosen = placed.filter((pl.col("n") > 0) & pl.col("port_ecosystem").is_not_null()
                               ).select("port_key", "port_ecosystem").unique()
        bought = built.ports.join(chosen.with_columns(pl.lit(1).alias("b")),
                                  on=["port_key", "port_ecosystem"], how="left")
        values.update(zip(bought["var"].to_list(), bought["b"].fill_null(0).to_list(),
                          strict=True))
    compute = built.row_compute_units * units
    values[built.total_compute] = int(compute.sum())
    for dim, frame in built.spend.items():
        per = rows.select(dim).with_columns(pl.Series("c", compute)).group_by(dim).agg(
            pl.col("c").sum())
        lookup = dict(zip(per[dim].to_list(), per["c"].to_list(), strict=True))
        for key, var in zip(frame["key"].to_list(), frame["var"].to_list(), strict=True):
            values[var] = int(lookup.get(key, 0))
    used = placed.filter(pl.col("n") > 0)
    if built.provider_used is not None:
        providers = set(used["provider"].to_list())
        for prov, var in built.provider_used.iter_rows():
            values[var] = int(prov in providers)
    if built.spread_used is not None:
        serving = set(used.select("w", "provider").iter_rows())
        for w, prov, var in built.spread_used.iter_rows():
            values[var] = int((w, prov) in serving)
    return values


def warm_start(built: BuiltModel, candidates: Candidates, policy: Policy,
               relaxation: Relaxation | None = None, time_budget: float = 10.0,
               should_stop: Callable[[], bool] | None = None,
               guide: np.ndarray | None = None) -> Placement:
    """A plan to start from (rounding `guide`, units per row, or else the relaxation's
    values, ties broken by its reduced costs; cheapest first without a relaxation),
    repaired for caps, improved locally, and written as a complete hint."""
    deadline = _Deadline(time.perf_counter() + time_budget, should_stop)
    if relaxation is not None:
        lp = relaxation.values[built.units]
        reduced_costs = relaxation.reduced_costs[built.units] / built.scale  # USD
        p = _repaired(candidates, policy, lp if guide is None else guide, reduced_costs)
        if guide is not None and candidate_violations(candidates, p.units, p.left_out, policy):
            # rounding the pieces' plan can strand a required gang where the LP's
            # rounding does not (fleet-100, third seed: $2,585,397 without a warm start,
            # $2,496,862 from the LP's)
            p = _repaired(candidates, policy, lp, reduced_costs)
    else:
        p = _repaired(candidates, policy, None, None)
    improve(p, candidates, deadline)
    p.cut_by_time = deadline.hit
    complete_hint(built, candidates, p.units, p.left_out)
    return p


def _repaired(candidates: Candidates, policy: Policy, guide: np.ndarray | None,
              reduced_costs: np.ndarray | None) -> Placement:
    """The greedy placement, repaired. The repairs are what make the start a valid plan,
    and they are quick: nothing cuts them short, so that even Ctrl-C right away leaves a
    plan to return."""
    p = greedy(candidates, policy, guide, reduced_costs)
    make_room(p, candidates)
    repair_caps(p, candidates)
    return p


class _Deadline:
    """A wall-clock deadline that remembers whether it was reached (and Ctrl-C)."""

    def __init__(self, at: float, should_stop: Callable[[], bool] | None = None) -> None:
        self.at = at
        self.should_stop = should_stop
        self.hit = False

    def passed(self) -> bool:
        if time.perf_counter() > self.at or (self.should_stop is not None
                                             and self.should_stop()):
            self.hit = True
        return self.hit
