"""Capacity and spend: whether any placement within capacity keeps the share caps and
the budget.

The LP of demand, capacity, every share cap and the budget's compute part (spread,
min_providers, ports, egress and whole instances left out): a relaxation of the model,
so where it has no solution no plan exists. It sees the conflicts capacity alone
(placer.capacity) and counting (explain.policy_reasons) cannot: the generated
10,000-workload fleet with a 12 % provider cap, which the parts take 9 s to fail and the
whole's LP 12 s more to prove, and whose rules the whole's LPs could not single out in
30 s.

Workloads merge into classes as in placer.capacity, and also by the groups of each of
their offerings and the spend there relative to their cheapest (the same for every
workload of a kind on the default catalog), required or not, and gangs by their spend
within a factor of SPEND_STEP. Spend is counted in the model's own money units; an
edge's spend per unit of work is its class's least for the capped group's side of a
cap, its most for the total, so every plan is one of the LP's solutions.

Rules are named as the model's (`capacity:<offering>`, `max_share.<dimension>`,
`budget_usd`), so that a conflict reads as the whole model's would.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import polars as pl
from scipy import sparse
from scipy.optimize import linprog

from placer.candidates import Candidates, offering_ids
from placer.capacity import CHIPS_PER_WORK, WORK, merges
from placer.model import cap_fraction, choose_scale, fillable_capacity, to_units
from placer.schema import DIMENSIONS, Policy

# Gangs whose cheapest spend lies within this factor share a class: an edge's least and
# most spend differ by at most that much (at 1.02, the 10,000 fleet's LP takes twice
# as long, 6-7 s, for no verdict that changed).
SPEND_STEP = 1.1
# A violation below this share of what the rows hold is the LP solver's tolerance.
TOLERANCE = 1e-6


class OutOfTime(Exception):
    """An LP was not solved by the SpendLP's deadline."""


@dataclass(frozen=True)
class SpendLP:
    """Classes of workloads against the offerings' capacity, the caps and the budget."""

    klass: np.ndarray        # per edge: its class
    offering: np.ndarray     # per edge: its offering (a position in candidates.offerings)
    chips: np.ndarray        # per edge: chips per unit of work
    spend_low: np.ndarray    # per edge: least spend per unit of work (money units / unit)
    spend_high: np.ndarray   # per edge: most spend per unit of work
    group: dict[str, np.ndarray]  # per capped dimension, per edge: its group
    work: np.ndarray         # per class: units of work (gangs, or H100-equivalents)
    required: np.ndarray     # per class: whether its work must all be placed
    training: np.ndarray     # per class: gangs (each placed at most once) or serving
    members: list[list[int]]  # per class: its workloads (w)
    capacity: np.ndarray     # per offering: the chips whole placements can fill
    caps: dict[str, float]   # per capped dimension: its share, as the model's fraction
    budget: float | None     # the budget, in money units
    scale: float             # money units per USD (the model's)
    offerings: list[str]     # the offerings' names
    rows: int = 0            # the candidate rows the edges stand for
    deadline: float = np.inf  # time.perf_counter() past which its LPs raise OutOfTime

    def rules(self) -> list[str]:
        """Every rule of the LP, by name."""
        return [*(f"capacity:{name}" for name in self.offerings),
                *(f"max_share.{dim}" for dim in self.caps),
                *(["budget_usd"] if self.budget is not None else [])]


def spend_lp(candidates: Candidates, policy: Policy) -> SpendLP:
    """The LP of a candidate table's capacity, caps and budget, its workloads merged."""
    rows = candidates.rows
    offerings = offering_ids(rows, candidates.offerings)
    capacity = fillable_capacity(rows["unit_chips"].to_numpy(), offerings,
                                 candidates.offerings["capacity_chips"].to_numpy())
    scale = choose_scale(rows, candidates.workloads)
    capped = [dim for dim in DIMENSIONS if getattr(policy.max_share, dim) is not None]
    training = pl.col("kind") == "training"
    table = rows.select(
        "w", pl.Series("o", offerings), training.alias("training"),
        *(pl.col(dim).rank("dense").alias(f"g_{dim}") for dim in capped),
        # a gang spends its row's cost; serving, per H100-equivalent
        CHIPS_PER_WORK.alias("chips"),
        (pl.Series(to_units(rows["unit_compute_usd"], scale).astype(np.float64))
         / pl.when(training).then(1.0).otherwise(pl.col("unit_ref"))).alias("spend"),
        # the key: what a unit of work spends there, relative to the workload's cheapest
        # (a gang) or as it is (serving), to six figures
        (pl.col("unit_compute_usd") / pl.when(training)
         .then(pl.col("unit_compute_usd").min().over("w").clip(lower_bound=1e-9))
         .otherwise(pl.col("unit_ref"))).round_sig_figs(6).alias("relative"))
    per_workload = (
        table.group_by("w", maintain_order=True)
        .agg("o", "chips", "relative", *(f"g_{dim}" for dim in capped),
             pl.col("training").first(), pl.col("spend").min().alias("least"))
        .join(candidates.workloads.select("w", "required", WORK), on="w")
        .with_columns(step=pl.when("training").then(
            (pl.col("least").clip(lower_bound=1.0).log() / np.log(SPEND_STEP)).floor())
            .otherwise(0.0)))
    key = ["o", "chips", "relative", *(f"g_{dim}" for dim in capped), "training",
           "required", "step"]
    classes = (per_workload.group_by(key, maintain_order=True)
               .agg(pl.col("work").sum(), pl.col("w")).with_row_index("k"))
    edges = (table.join(classes.select("k", "w").explode("w"), on="w")
             .group_by("k", "o", maintain_order=True)
             .agg(pl.col("chips").first(), pl.col("spend").min().alias("low"),
                  pl.col("spend").max().alias("high"),
                  *(pl.col(f"g_{dim}").first() for dim in capped)))
    return SpendLP(
        klass=edges["k"].to_numpy().astype(np.int64),
        offering=edges["o"].to_numpy().astype(np.int64), chips=edges["chips"].to_numpy(),
        spend_low=edges["low"].to_numpy(), spend_high=edges["high"].to_numpy(),
        group={dim: edges[f"g_{dim}"].to_numpy().astype(np.int64) - 1 for dim in capped},
        work=classes["work"].to_numpy(), required=classes["required"].to_numpy(),
        training=classes["training"].to_numpy(), members=classes["w"].to_list(),
        capacity=capacity.astype(np.float64),
        caps={dim: float(cap_fraction(getattr(policy.max_share, dim))) for dim in capped},
        budget=None if policy.budget_usd is None else float(np.floor(policy.budget_usd
                                                                      * scale)),
        scale=scale, offerings=candidates.offerings["offering"].to_list(), rows=rows.height)


@dataclass(frozen=True)
class Violation:
    """The LP's least violation of its rules: chips beyond capacity and money beyond
    the caps and the budget, and the rules it prices (those a conflict needs)."""

    chips: float
    money: float
    priced: list[str]
    # per capped dimension, the largest share a group takes in the solution found (its
    # least spend over everyone's most): where the violation is nil with that cap
    # switched off, the LP has a solution with the cap at that share
    shares: dict[str, float]

    @property
    def broken(self) -> bool:
        """Whether the rules cannot all hold (some violation is left)."""
        return self.chips > 0 or self.money > 0


def least_violation(lp: SpendLP, rules: set[str], only: str | None = None) -> Violation:
    """The least violation of `rules` (by name; the others switched off). With `only`,
    every rule of `rules` but that one is kept, and the violation is that one's."""
    n_edges, n_classes = len(lp.klass), len(lp.work)
    at = np.arange(n_edges)
    # spend in a unit near one per edge, so that chips and money weigh alike
    unit = max(1.0, float(np.median(lp.spend_high))) if n_edges else 1.0
    money = [rule for rule in (f"max_share.{dim}" for dim in lp.caps) if rule in rules]
    budgeted = lp.budget is not None and "budget_usd" in rules
    # spend is summed per cell: an offering and its groups (which a candidates-format
    # table may give per row)
    cells, cell = np.unique(np.column_stack([lp.offering, *lp.group.values()]), axis=0,
                            return_inverse=True)
    cell = cell.ravel()
    n_cells = len(cells) if lp.caps or lp.budget is not None else 0
    group_of_cell = {dim: np.unique(cells[:, 1 + at_dim], return_inverse=True)[1].ravel()
                     for at_dim, dim in enumerate(lp.group)}
    n_columns = n_edges + 2 * n_cells
    low, high = n_edges + np.arange(n_cells), n_edges + n_cells + np.arange(n_cells)
    rows = _Rows(n_columns)
    # demand: a class's gangs at most once each, all of them where required; serving at
    # least its demand where required (more only spends more)
    rows.add(lp.klass, at, np.ones(n_edges), n_classes, np.where(lp.required, lp.work, 0.0),
             np.where(lp.training, lp.work, np.inf))
    kept = np.flatnonzero([f"capacity:{name}" in rules for name in lp.offerings])
    on_kept = np.isin(lp.offering, kept)
    rows.add(np.searchsorted(kept, lp.offering[on_kept]), at[on_kept], lp.chips[on_kept],
             len(kept), np.full(len(kept), -np.inf), lp.capacity[kept],
             [f"capacity:{lp.offerings[o]}" for o in kept.tolist()],
             max(1.0, float(lp.capacity.sum())))
    each = np.arange(n_cells)
    for column, spend in ((low, lp.spend_low), (high, lp.spend_high)):
        if n_cells:  # per cell, the least and the most its edges spend
            rows.add(np.r_[cell, each], np.r_[at, column], np.r_[spend / unit, -np.ones(n_cells)],
                     n_cells, np.zeros(n_cells), np.zeros(n_cells))
    # what violations of money are measured against: about what the fleet spends
    spent = float(np.bincount(lp.klass, weights=lp.spend_high / unit, minlength=n_classes)
                  @ (lp.work / np.maximum(1, np.bincount(lp.klass, minlength=n_classes))))
    for rule in money:
        dim = rule.removeprefix("max_share.")
        groups = group_of_cell[dim]
        n_groups = int(groups.max()) + 1
        # per group: its least spend <= the share of everyone's most
        rows.add(np.r_[groups, np.repeat(np.arange(n_groups), n_cells)],
                 np.r_[low, np.tile(high, n_groups)],
                 np.r_[np.ones(n_cells), np.full(n_groups * n_cells, -lp.caps[dim])],
                 n_groups, np.full(n_groups, -np.inf), np.zeros(n_groups), [rule] * n_groups,
                 max(1.0, spent))
    if budgeted:
        rows.add(np.zeros(n_cells, dtype=np.int64), low, np.ones(n_cells), 1,
                 np.array([-np.inf]), np.array([lp.budget / unit]), ["budget_usd"],
                 max(1.0, spent))
    solved, used, values = rows.least_violation(only, lp.deadline)
    if solved is None:  # only with `only`: the other rules cannot hold whatever it is
        return Violation(np.inf, np.inf, [], {})
    beyond = used > TOLERANCE * np.array(rows.scales)
    chips = np.array([bool(name) and name.startswith("capacity:") for name in rows.rules])
    priced = sorted({rows.rules[r] for r in np.flatnonzero(np.abs(solved) > 1e-9)
                     if rows.rules[r]})
    shares = {}
    for dim in lp.caps if n_cells else []:
        spent_low = np.bincount(group_of_cell[dim], weights=values[low])
        shares[dim] = float(spent_low.max() / max(values[high].sum(), 1e-12))
    return Violation(float(used[beyond & chips].sum()),
                     float(used[beyond & ~chips].sum()) * unit, priced, shares)


class _Rows:
    """An LP's rows, block by block, each either always kept or a rule's (elastic)."""

    def __init__(self, n_columns: int) -> None:
        self.n_columns = n_columns
        self.blocks: list[sparse.csr_matrix] = []
        self.lower: list[np.ndarray] = []
        self.upper: list[np.ndarray] = []
        self.rules: list[str] = []     # per row: the rule it keeps ("": always kept)
        self.scales: list[float] = []  # per row: what its violation is measured against

    def add(self, row: np.ndarray, column: np.ndarray, value: np.ndarray, n_rows: int,
            lower: np.ndarray, upper: np.ndarray, rules: list[str] | None = None,
            against: float = 1.0) -> None:
        self.blocks.append(sparse.csr_matrix((value, (row, column)),
                                             shape=(n_rows, self.n_columns)))
        self.lower.append(lower)
        self.upper.append(upper)
        self.rules.extend(rules if rules is not None else [""] * n_rows)
        self.scales.extend([against] * n_rows)

    def least_violation(self, only: str | None, deadline: float
                        ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
        """Per row, its price at the least violation of the rules' rows (with `only`,
        that rule's alone, the others kept); per row, the violation; per column, its
        value (None for the prices where the rows kept have no solution)."""
        matrix = sparse.vstack(self.blocks).tocsr()
        lower, upper = np.concatenate(self.lower), np.concatenate(self.upper)
        rules = np.array(self.rules, dtype=object)
        violable = np.flatnonzero(rules != "" if only is None else rules == only)
        matrix = sparse.hstack([matrix, sparse.csr_matrix(
            (-np.ones(len(violable)), (violable, np.arange(len(violable)))),
            shape=(matrix.shape[0], len(violable)))]).tocsr()
        equal = lower == upper
        above, below = ~equal & np.isfinite(upper), ~equal & np.isfinite(lower)
        seconds = deadline - time.perf_counter()
        if seconds <= 0:
            raise OutOfTime
        solved = linprog(np.r_[np.zeros(self.n_columns), np.ones(len(violable))],
                         A_ub=sparse.vstack([matrix[above], -matrix[below]]),
                         b_ub=np.r_[upper[above], -lower[below]], A_eq=matrix[equal],
                         b_eq=lower[equal], bounds=(0, None), method="highs",
                         options={"time_limit": min(seconds, 1e7)})
        if solved.status == 1:
            raise OutOfTime
        if solved.status == 2:
            return None, np.zeros(0), np.zeros(0)
        if solved.status != 0:
            raise RuntimeError("HiGHS could not solve the LP of capacity and spend: "
                               f"{solved.message}")
        prices = np.zeros(matrix.shape[0])
        n_above = int(above.sum())
        prices[above] = solved.ineqlin.marginals[:n_above]
        prices[below] = solved.ineqlin.marginals[n_above:]
        used = np.zeros(matrix.shape[0])
        used[violable] = solved.x[self.n_columns:]
        return prices, used, solved.x[:self.n_columns]


def violated(lp: SpendLP, rules: set[str]) -> bool:
    """Whether the rules (by name) cannot all hold in the LP."""
    return least_violation(lp, rules).broken


def has_room(lp: SpendLP) -> bool:
    """Whether the LP has a solution with every rule kept (if not, no plan has one)."""
    return not violated(lp, set(lp.rules()))


def limits_spend(policy: Policy) -> bool:
    """Whether the policy has a share cap or a budget (else the LP is capacity alone's,
    placer.capacity)."""
    return policy.budget_usd is not None or \
        any(getattr(policy.max_share, dim) is not None for dim in DIMENSIONS)


def no_plan_by_spend(candidates: Candidates, policy: Policy, deadline: float
                     ) -> Violation | None:
    """The LP's least violation of every rule, where it has no solution (then no plan
    has one) by `deadline` (a time.perf_counter()); else None. Run only where the policy
    limits spend and the workloads merge into classes (else capacity alone, or the
    whole's LP, is as good)."""
    if not limits_spend(policy):
        return None
    lp = replace(spend_lp(candidates, policy), deadline=deadline)
    if not merges(len(lp.klass), lp.rows):
        return None
    try:
        found = least_violation(lp, set(lp.rules()))
    except OutOfTime:
        return None
    return found if found.broken else None


def rules_in_conflict(lp: SpendLP, deadline: float = np.inf,
                      found: Violation | None = None) -> list[str] | None:
    """A set of rules (by name) the LP cannot keep together, minimal (dropping any one
    lets the others hold) unless time.perf_counter() passes `deadline` first (then as
    far as it was narrowed, at worst the rules the least violation prices); None where
    the LP has a solution. Narrowed to the rules the least violation prices, then a
    deletion filter in name order: each kind of rule whole first (every capacity at
    once), then each provider's capacities (an offering's name up to its first "/"),
    then one rule at a time (at 10,000 workloads each LP takes 1-4 s). `found`: the
    least violation of every rule, where it is known (else its LP may raise
    OutOfTime)."""
    every = set(lp.rules())
    lp = replace(lp, deadline=min(lp.deadline, deadline))
    found = found if found is not None else least_violation(lp, every)
    if not found.broken:
        return None
    try:
        conflict = set(found.priced) if found.priced and violated(lp, set(found.priced)) \
            else every
    except OutOfTime:
        # unchecked, the priced rules still cannot hold: by LP duality, the rows the least
        # violation prices alone have the same least violation
        return sorted(found.priced or every)
    kinds = [lambda rule: rule.partition(":")[0],
             lambda rule: rule.partition("/")[0] if rule.startswith("capacity:") else rule,
             lambda rule: rule]
    for kind in kinds:
        for each in sorted({kind(rule) for rule in conflict}):
            trial = {rule for rule in conflict if kind(rule) != each}
            if time.perf_counter() > deadline:
                return sorted(conflict)
            try:
                if trial and trial != conflict and violated(lp, trial):
                    conflict = trial
            except OutOfTime:
                return sorted(conflict)
    return sorted(conflict)


def growth_needed(lp: SpendLP, rules: set[str], rule: str) -> float:
    """How far at the least one rule of `rules` (a capacity, in chips, or the budget, in
    money units) must move, the others kept; infinity where no move of it alone is
    enough."""
    if violated(lp, rules - {rule}):
        return np.inf
    found = least_violation(lp, rules, only=rule)
    return found.chips if rule.startswith("capacity:") else found.money


def with_cap(lp: SpendLP, dim: str, share: float) -> SpendLP:
    """The LP with one dimension's cap at another share."""
    return replace(lp, caps={**lp.caps, dim: float(cap_fraction(share))})
