"""The CP-SAT model, built from the candidate table and nothing else.

Money enters as integers (`scale` units per USD, cents unless the fleet is too large for
int64), inference coverage as integer milli-H100s, shares as exact integer
inequalities. Variables are written straight into the CpModelProto from numpy arrays
and left unnamed (measured: several times faster than the Python expression API).

Constraint families, one function each:
- place_each_training_workload_once / cover_inference_demand / leave_nothing_behind
- round_up_instance_counts (cuts: implied for integers, tighten the LP)
- respect_capacity
- pay_for_ports, pay_for_egress
- spread_inference_across_providers
- cap_lock_in_shares, use_min_providers, respect_budget
- minimise_total_cost
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import polars as pl
from ortools.sat.python import cp_model
from scipy import sparse

from placer.candidates import Candidates, offering_ids
from placer.schema import DIMENSIONS, Policy

COVERAGE_UNITS = 1000  # inference demand and supply in milli-H100s
MAX_CAP_DENOMINATOR = 10_000
INT64_SAFE = 2**62


class ProtoBuilder:
    """Writes variables and linear constraints directly into a CpModelProto."""

    def __init__(self) -> None:
        self.model = cp_model.CpModel()
        self.proto = self.model.proto
        self.num_vars = 0
        # A mirror of what is written, as arrays, for the LP relaxation, each row tagged
        # with the family of rules it belongs to and (explain mode) the literal that
        # switches it on, -1 where it always holds.
        self.lower: list[np.ndarray] = []
        self.upper: list[np.ndarray] = []
        self.rows: list[tuple[np.ndarray, np.ndarray, int, int]] = []
        self.row_family: list[str] = []
        self.row_rule: list[int] = []
        self.family = ""

    @contextmanager
    def tagged(self, family: str) -> Iterator[None]:
        """Tag the rows added inside the block (the LP relaxation treats some families
        as elastic)."""
        previous, self.family = self.family, family
        try:
            yield
        finally:
            self.family = previous

    def new_vars(self, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
        """Integer variables lower[i] <= x_i <= upper[i]; returns their indices."""
        variables = self.proto.variables
        for lo, hi in zip(lower.tolist(), upper.tolist(), strict=True):
            variables.add().domain.extend((lo, hi))
        self.lower.append(np.asarray(lower, dtype=np.int64))
        self.upper.append(np.asarray(upper, dtype=np.int64))
        first = self.num_vars
        self.num_vars += len(lower)
        return np.arange(first, self.num_vars, dtype=np.int64)

    def new_bools(self, count: int) -> np.ndarray:
        zeros = np.zeros(count, dtype=np.int64)
        return self.new_vars(zeros, zeros + 1)

    def add_linear(self, variables: np.ndarray | list[int], coeffs: np.ndarray | list[int],
                   lower: int, upper: int, enforce: int | None = None) -> int:
        """lower <= sum(coeffs * variables) <= upper (only when literal `enforce` is true)."""
        constraint = self.proto.constraints.add()
        if enforce is not None:
            constraint.enforcement_literal.append(enforce)
        # an enforced rule's row (explain mode) is mirrored too: an LP of some rules
        # (explain.lp_infeasible_core) keeps the rows of those switched on
        self.rows.append((np.asarray(variables, dtype=np.int64),
                          np.asarray(coeffs, dtype=np.int64), int(lower), int(upper)))
        self.row_family.append(self.family)
        self.row_rule.append(-1 if enforce is None else enforce)
        linear = constraint.linear
        linear.vars.extend(variables)
        linear.coeffs.extend(coeffs)
        linear.domain.extend((int(lower), int(upper)))
        return len(self.proto.constraints) - 1

    def add_grouped(self, groups: np.ndarray, variables: np.ndarray, coeffs: np.ndarray,
                    lower: np.ndarray, upper: np.ndarray,
                    enforce: np.ndarray | None = None) -> None:
        """One constraint per group id (groups sorted ascending, ids 0..k-1)."""
        if len(groups) == 0:
            return
        bounds = np.flatnonzero(np.diff(groups)) + 1
        starts = np.concatenate(([0], bounds))
        ends = np.concatenate((bounds, [len(groups)]))
        for gid, start, end in zip(groups[starts].tolist(), starts.tolist(), ends.tolist(),
                                   strict=True):
            lit = None if enforce is None else int(enforce[gid])
            self.add_linear(variables[start:end], coeffs[start:end], lower[gid], upper[gid],
                            lit)

    def rule(self, rules: dict[str, int] | None, name: str) -> int | None:
        """In explain mode, the literal that switches rule `name` on (created once)."""
        if rules is None:
            return None
        if name not in rules:
            rules[name] = int(self.new_bools(1)[0])
        return rules[name]

    @property
    def num_constraints(self) -> int:
        return len(self.proto.constraints)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bound of every variable."""
        return np.concatenate(self.lower), np.concatenate(self.upper)

    def matrix(self, rows: np.ndarray | None = None
               ) -> tuple[sparse.csr_matrix, np.ndarray, np.ndarray]:
        """The mirrored rows (all, or those indexed) as a sparse matrix over all variables,
        with their lower and upper bounds (infinite where a side is open)."""
        picked = self.rows if rows is None else [self.rows[i] for i in rows.tolist()]
        lengths = np.fromiter((len(v) for v, _, _, _ in picked), dtype=np.int64,
                              count=len(picked))
        indptr = np.concatenate(([0], np.cumsum(lengths)))
        empty = np.zeros(0, dtype=np.int64)
        matrix = sparse.csr_matrix(
            (np.concatenate([c for _, c, _, _ in picked] or [empty]).astype(np.float64),
             np.concatenate([v for v, _, _, _ in picked] or [empty]), indptr),
            shape=(len(picked), self.num_vars))
        matrix.sum_duplicates()
        lo = np.array([r[2] for r in picked], dtype=np.float64)
        hi = np.array([r[3] for r in picked], dtype=np.float64)
        lo[lo <= -INT64_SAFE] = -np.inf
        hi[hi >= INT64_SAFE] = np.inf
        return matrix, lo, hi

    def objective(self) -> np.ndarray:
        """Objective coefficient of every variable (repeated terms summed)."""
        obj = self.proto.objective
        variables = np.fromiter(obj.vars, dtype=np.int64)
        coeffs = np.fromiter(obj.coeffs, dtype=np.float64)
        return np.bincount(variables, weights=coeffs, minlength=self.num_vars)


@dataclass
class BuiltModel:
    """The model and the map from its variables back to the candidate table."""

    builder: ProtoBuilder
    scale: float                      # solver units per USD
    units: np.ndarray                 # var per candidate row (n_r)
    row_cost_units: np.ndarray        # (compute + carbon) per unit, in solver units
    row_compute_units: np.ndarray
    used: np.ndarray                  # var per row saying "row used" (or -1)
    unplaced: np.ndarray              # var per workload (or -1 when required)
    ports: pl.DataFrame               # port_key, port_ecosystem, port_usd, var
    spend: dict[str, pl.DataFrame] = field(default_factory=dict)  # dim -> key, var
    total_compute: int = -1           # var holding total compute spend
    provider_used: pl.DataFrame | None = None  # provider, var (min_providers)
    spread_used: pl.DataFrame | None = None    # w, provider, var
    caps: dict[str, Fraction] = field(default_factory=dict)
    rule_literals: dict[str, int] = field(default_factory=dict)  # for explanations

    @property
    def model(self) -> cp_model.CpModel:
        return self.builder.model


@dataclass(frozen=True)
class Held:
    """What the workloads held in place spend and use, when a model is built for the
    others only (placer.lns): the rules that sum over the whole fleet count it too.
    In solver units of the model being built (its `scale` must be given)."""

    spend_units: dict[str, dict[str, int]]  # per capped dimension: compute spend per group
    total_units: int                        # compute spend
    cash_units: int                         # compute + egress + ports (for the budget)
    providers: frozenset[str]               # providers carrying some placement


def choose_scale(rows: pl.DataFrame, workloads: pl.DataFrame) -> float:
    """Units per USD: cents unless the largest conceivable spend would overflow int64."""
    worst = float(
        rows.select(
            ((pl.col("unit_compute_usd") + pl.col("unit_carbon_usd")) * pl.col("max_units")
             + pl.col("egress_usd") + pl.col("port_usd").fill_null(0)).sum()
        ).item() or 0.0
    ) + float(workloads["value_usd"].fill_null(0).sum())
    scale = 100.0
    while scale > 1e-6 and worst * scale * MAX_CAP_DENOMINATOR >= INT64_SAFE:
        scale /= 10
    return scale


def to_units(values: pl.Series | np.ndarray, scale: float) -> np.ndarray:
    return np.rint(np.asarray(values, dtype=np.float64) * scale).astype(np.int64)


def place_each_training_workload_once(b: ProtoBuilder, rows: pl.DataFrame, units: np.ndarray,
                                      unplaced: np.ndarray) -> None:
    """A gang runs whole on exactly one offering (or, if optional, maybe nowhere)."""
    training = (rows["kind"] == "training").to_numpy()
    w = rows["w"].to_numpy()[training]
    if len(w) == 0:
        return
    variables, coeffs = units[training], np.ones(len(w), dtype=np.int64)
    groups = w
    lower = np.ones(int(w.max()) + 1, dtype=np.int64)
    # an optional workload's "left out" literal joins its group: sum n + u = 1
    extra_w = np.unique(w)
    extra_w = extra_w[unplaced[extra_w] >= 0]
    if len(extra_w):
        groups = np.concatenate((groups, extra_w))
        variables = np.concatenate((variables, unplaced[extra_w]))
        coeffs = np.concatenate((coeffs, np.ones(len(extra_w), dtype=np.int64)))
    order = np.argsort(groups, kind="stable")
    b.add_grouped(groups[order], variables[order], coeffs[order], lower, lower)


def cover_inference_demand(b: ProtoBuilder, rows: pl.DataFrame, workloads: pl.DataFrame,
                           units: np.ndarray, unplaced: np.ndarray) -> None:
    """Instances placed serve at least the demand (in H100-equivalents), unless left out."""
    inference = (rows["kind"] == "inference").to_numpy()
    if not inference.any():
        return
    w = rows["w"].to_numpy()[inference]
    supply = np.floor(rows["unit_ref"].to_numpy()[inference] * COVERAGE_UNITS + 1e-9)
    demand_all = np.ceil(workloads["demand"].fill_null(0).to_numpy() * COVERAGE_UNITS - 1e-9)
    demand_all = demand_all.astype(np.int64)
    # Coefficient strengthening, valid for integer instances: one instance never needs to
    # count for more than the whole demand (tightens the LP for big instances, small demand).
    supply = np.minimum(supply, demand_all[w])
    groups, variables, coeffs = w, units[inference], supply.astype(np.int64)
    extra_w = np.unique(w)
    extra_w = extra_w[unplaced[extra_w] >= 0]
    if len(extra_w):
        groups = np.concatenate((groups, extra_w))
        variables = np.concatenate((variables, unplaced[extra_w]))
        coeffs = np.concatenate((coeffs, demand_all[extra_w]))
    order = np.argsort(groups, kind="stable")
    upper = np.full(len(demand_all), INT64_SAFE, dtype=np.int64)
    b.add_grouped(groups[order], variables[order], coeffs[order], demand_all, upper)
    with b.tagged("cut"):
        round_up_instance_counts(b, rows, units, unplaced, inference, supply.astype(np.int64),
                                 demand_all)
    leave_nothing_behind(b, rows, units, unplaced, inference)


ROUNDING_CUTS_PER_WORKLOAD = 3


def round_up_instance_counts(b: ProtoBuilder, rows: pl.DataFrame, units: np.ndarray,
                             unplaced: np.ndarray, inference: np.ndarray, supply: np.ndarray,
                             demand: np.ndarray) -> None:
    """Chvátal-Gomory cuts on demand cover: for an instance size s of the workload,
    sum ceil(s_r / s) n_r + ceil(D / s) u >= ceil(D / s).

    Implied for whole instances, so no plan changes; but the LP relaxation otherwise buys
    2.5 instances where 3 are needed. One cut for each of the sizes of the workload's
    three cheapest rows per unit of supply (those the LP picks). Measured on the generated
    fleets: LP bound +1.6 % at 100 workloads, +2.4 % at 1,000, +2.2 % at 10,000 (where
    the LP took twice as long, see relax.CUT_ROWS_UP_TO_COLUMNS). A cut for every size
    gained another 1.1 % of LP bound at 100 but no clear gain in 10 s solves (gap 9.6 %
    against 7.1 % at 100, 15.3 % against 16.2 % at 1,000), so the smaller model is kept."""
    r_idx = np.flatnonzero(inference)
    w_of_row = rows["w"].to_numpy()[r_idx]
    table = pl.DataFrame({
        "r": r_idx, "w": w_of_row, "supply": supply, "demand": demand[w_of_row],
        "per_supply": (rows["unit_compute_usd"] + rows["unit_carbon_usd"]).to_numpy()[r_idx]
        / np.maximum(supply, 1),
    }).filter(pl.col("supply") > 0)
    sizes = (
        table.group_by("w", "supply").agg(pl.col("per_supply").min(), pl.col("demand").first())
        .with_columns(((pl.col("demand") + pl.col("supply") - 1) // pl.col("supply"))
                      .alias("rhs"))
        # a cut with rhs 1 is implied (every supply is at most the demand)
        .filter((pl.col("rhs") > 1) & (pl.col("demand") % pl.col("supply") != 0))
        .sort("w", "per_supply", "supply")
        .group_by("w", maintain_order=True).head(ROUNDING_CUTS_PER_WORKLOAD)
        .with_row_index("cut")
    )
    if sizes.height == 0:
        return
    terms = (
        sizes.select("cut", "w", pl.col("supply").alias("size"), "rhs")
        .join(table.select("w", "r", "supply"), on="w")
        .with_columns(pl.min_horizontal((pl.col("supply") + pl.col("size") - 1)
                                        // pl.col("size"), pl.col("rhs")).alias("coeff"))
        .sort("cut", "r")
    )
    cut = terms["cut"].to_numpy()
    variables, coeffs = units[terms["r"].to_numpy()], terms["coeff"].to_numpy()
    rhs = sizes["rhs"].to_numpy()
    w_of_cut = sizes["w"].to_numpy()
    optional = unplaced[w_of_cut] >= 0
    if optional.any():
        cuts = np.flatnonzero(optional)
        cut = np.concatenate((cut, cuts))
        variables = np.concatenate((variables, unplaced[w_of_cut[cuts]]))
        coeffs = np.concatenate((coeffs, rhs[cuts]))
        order = np.argsort(cut, kind="stable")
        cut, variables, coeffs = cut[order], variables[order], coeffs[order]
    b.add_grouped(cut, variables, coeffs.astype(np.int64), rhs,
                  np.full(len(rhs), INT64_SAFE, dtype=np.int64))


def leave_nothing_behind(b: ProtoBuilder, rows: pl.DataFrame, units: np.ndarray,
                         unplaced: np.ndarray, inference: np.ndarray) -> None:
    """A serving workload left out places no instance at all: n + max_units * u <= max_units.
    (Without it, an instance of a left-out workload could count towards min_providers
    while the workload escapes its spread rule.)"""
    w = rows["w"].to_numpy()
    optional = inference & (unplaced[w] >= 0)
    max_units = rows["max_units"].to_numpy()
    for r in np.flatnonzero(optional).tolist():
        m = int(max_units[r])
        b.add_linear([int(units[r]), int(unplaced[w[r]])], [1, m], 0, m)


def fillable_capacity(chips: np.ndarray, offering_of_row: np.ndarray, capacity: np.ndarray
                      ) -> np.ndarray:
    """Per offering, its capacity rounded down to a multiple of the greatest common
    divisor of its rows' chips per unit: no plan can fill more.

    The same rule in integers, but the LP and the Lagrangian no longer count chips no
    plan can use (eight-chip instances against a capacity of 358 chips fill 352): the
    generated 1,000-workload fleet's bound at 10 s $20.18M -> $20.19-20.21M (the
    master's own integrality gap, 0.40 % -> 0.25-0.28 %), tight-2000x60's +0.19 %."""
    divisor = np.zeros(len(capacity), dtype=np.int64)
    np.gcd.at(divisor, offering_of_row, np.asarray(chips, dtype=np.int64))
    capacity = np.asarray(capacity, dtype=np.int64)
    return np.where(divisor > 0, capacity // np.maximum(divisor, 1) * divisor, capacity)


def respect_capacity(b: ProtoBuilder, rows: pl.DataFrame, offerings: pl.DataFrame,
                     units: np.ndarray, rules: dict[str, int] | None = None) -> None:
    """Per offering, the chips held by all placements stay within capacity."""
    oid = offering_ids(rows, offerings)
    if len(oid) == 0:
        return
    chips = rows["unit_chips"].to_numpy()
    need = np.bincount(oid, weights=chips * rows["max_units"].to_numpy(),
                       minlength=offerings.height)
    capacity = fillable_capacity(chips, oid, offerings["capacity_chips"].to_numpy())
    binding = need > capacity  # constraints that cannot bind are left out
    keep = binding[oid]
    order = np.argsort(oid[keep], kind="stable")
    lower = np.zeros(offerings.height, dtype=np.int64)
    enforce = None
    if rules is not None:
        names = offerings["offering"].to_list()
        enforce = np.array([b.rule(rules, f"capacity:{names[i]}") if binding[i] else -1
                            for i in range(len(names))], dtype=np.int64)
    b.add_grouped(oid[keep][order], units[keep][order], chips[keep][order], lower, capacity,
                  enforce)


def pay_for_ports(b: ProtoBuilder, rows: pl.DataFrame, units: np.ndarray) -> pl.DataFrame:
    """A port is bought once per (codebase, ecosystem) if any placement needs it."""
    ported = rows.with_row_index("r").filter(pl.col("port_ecosystem").is_not_null())
    keys = ported.select("port_key", "port_ecosystem", "port_usd").unique(
        subset=["port_key", "port_ecosystem"], keep="first", maintain_order=True
    ).sort("port_key", "port_ecosystem")
    port_vars = b.new_bools(keys.height)
    keys = keys.with_columns(pl.Series("var", port_vars))
    linked = ported.join(keys.select("port_key", "port_ecosystem", "var"),
                         on=["port_key", "port_ecosystem"])
    # training: per (workload, port) the gang's rows sum to at most the port literal (tight,
    # since a gang takes one row); inference: per row, instances <= max_units * port.
    training = linked.filter(pl.col("kind") == "training").group_by(
        "w", "var", maintain_order=True).agg("r")
    for r_list, var in zip(training["r"].to_list(), training["var"].to_list(), strict=True):
        b.add_linear([*units[r_list].tolist(), var], [1] * len(r_list) + [-1], -INT64_SAFE, 0)
    inference = linked.filter(pl.col("kind") == "inference")
    for r, var, cap in zip(inference["r"].to_list(), inference["var"].to_list(),
                           inference["max_units"].to_list(), strict=True):
        b.add_linear([int(units[r]), var], [1, -cap], -INT64_SAFE, 0)
    return keys


def pay_for_egress(b: ProtoBuilder, rows: pl.DataFrame, units: np.ndarray) -> np.ndarray:
    """Egress is paid once per placement row used; returns the 'used' literal per row."""
    used = np.full(rows.height, -1, dtype=np.int64)
    training = (rows["kind"] == "training").to_numpy()
    used[training] = units[training]  # a gang row is used iff n = 1
    needs = (~training) & (rows["egress_usd"].to_numpy() > 0)
    idx = np.flatnonzero(needs)
    if len(idx):
        lits = b.new_bools(len(idx))
        used[idx] = lits
        caps = rows["max_units"].to_numpy()[idx]
        for r, lit, cap in zip(idx.tolist(), lits.tolist(), caps.tolist(), strict=True):
            b.add_linear([int(units[r]), lit], [1, -cap], -INT64_SAFE, 0)
    return used


def spread_inference_across_providers(b: ProtoBuilder, rows: pl.DataFrame,
                                      workloads: pl.DataFrame, units: np.ndarray,
                                      unplaced: np.ndarray,
                                      rules: dict[str, int] | None = None
                                      ) -> pl.DataFrame | None:
    """No provider serves more than max_fraction of the demand; at least min_providers serve."""
    spread = workloads.filter(
        (pl.col("kind") == "inference")
        & ((pl.col("spread_min_providers") > 1) | (pl.col("spread_max_fraction") < 1))
        & pl.col("w").is_in(rows["w"].unique().implode())  # not those held elsewhere
    )
    if spread.height == 0:
        return None
    r = rows.with_row_index("r").filter(pl.col("w").is_in(spread["w"].implode()))
    groups = r.group_by("w", "provider", maintain_order=True).agg("r", "unit_ref",
                                                                   "max_units").sort("w",
                                                                                     "provider")
    limits = dict(zip(spread["w"].to_list(), zip(
        spread["demand"].to_list(), spread["spread_max_fraction"].to_list(),
        spread["spread_min_providers"].to_list(), strict=True), strict=True))
    serve_vars = b.new_bools(groups.height)
    names = workloads["workload"].to_list()
    by_w: dict[int, list[int]] = {}
    for (wid, r_list, refs, caps), z in zip(
        groups.select("w", "r", "unit_ref", "max_units").iter_rows(), serve_vars.tolist(),
        strict=True,
    ):
        demand, fraction, _ = limits[wid]
        lit = b.rule(rules, f"spread:{names[wid]}")
        # the provider counts as serving only if it places at least one instance
        b.add_linear([z, *units[r_list].tolist()], [1] + [-1] * len(r_list), -INT64_SAFE, 0)
        supply_ceil = [math.ceil(ref * COVERAGE_UNITS - 1e-9) for ref in refs]
        limit = math.floor(fraction * demand * COVERAGE_UNITS + 1e-9)
        if sum(s * c for s, c in zip(supply_ceil, caps, strict=True)) > limit:
            b.add_linear(units[r_list], supply_ceil, 0, limit, lit)
        by_w.setdefault(wid, []).append(z)
    for wid in spread["w"].to_list():
        need = limits[wid][2]
        if need <= 1:
            continue
        zs = by_w.get(wid, [])
        lit = b.rule(rules, f"spread:{names[wid]}")
        if unplaced[wid] >= 0:  # sum z >= need * (1 - u)
            b.add_linear([*zs, int(unplaced[wid])], [1] * len(zs) + [need], need, INT64_SAFE,
                         lit)
        else:
            b.add_linear(zs, [1] * len(zs), need, INT64_SAFE, lit)
    return groups.select("w", "provider").with_columns(pl.Series("var", serve_vars))


def track_spend(b: ProtoBuilder, rows: pl.DataFrame, units: np.ndarray,
                compute_units: np.ndarray, policy: Policy) -> tuple[int, dict[str, pl.DataFrame]]:
    """Auxiliary spend variables: total compute spend and, per capped dimension, per group."""
    upper_all = int((compute_units * rows["max_units"].to_numpy()).sum())
    (total,) = b.new_vars(np.array([0]), np.array([upper_all]))
    b.add_linear([*units.tolist(), int(total)], [*compute_units.tolist(), -1], 0, 0)
    spend: dict[str, pl.DataFrame] = {}
    for dim in DIMENSIONS:
        if getattr(policy.max_share, dim) is None:
            continue
        keys, gid = group_ids(rows[dim])
        uppers = np.bincount(gid, weights=compute_units * rows["max_units"].to_numpy(),
                             minlength=len(keys)).astype(np.int64)
        svars = b.new_vars(np.zeros(len(keys), dtype=np.int64), uppers)
        # S_g - sum_{r in g} c_r n_r = 0
        order = np.argsort(gid, kind="stable")
        variables = np.concatenate((units[order], svars))
        coeffs = np.concatenate((compute_units[order], -np.ones(len(keys), dtype=np.int64)))
        groups = np.concatenate((gid[order], np.arange(len(keys))))
        regroup = np.argsort(groups, kind="stable")
        zeros = np.zeros(len(keys), dtype=np.int64)
        b.add_grouped(groups[regroup], variables[regroup], coeffs[regroup], zeros, zeros)
        spend[dim] = pl.DataFrame({"key": keys, "var": svars})
    return int(total), spend


def group_ids(column: pl.Series) -> tuple[list[str], np.ndarray]:
    """Sorted distinct values and, per row, the index of its value."""
    keys = column.unique().sort().to_list()
    ids = column.replace_strict({k: i for i, k in enumerate(keys)}, return_dtype=pl.Int64)
    return keys, ids.to_numpy().astype(np.int64)


def cap_fraction(share: float) -> Fraction:
    """A share as an exact fraction (0.4 -> 2/5), denominators up to 10,000."""
    return Fraction(str(share)).limit_denominator(MAX_CAP_DENOMINATOR)


def cap_lock_in_shares(b: ProtoBuilder, total: int, spend: dict[str, pl.DataFrame],
                       policy: Policy, rules: dict[str, int] | None = None,
                       held: Held | None = None) -> dict[str, Fraction]:
    """den * spend_g <= num * total for every group g of every capped dimension (with
    what held workloads spend added to both sides)."""
    caps = {}
    for dim, frame in spend.items():
        cap = cap_fraction(getattr(policy.max_share, dim))
        caps[dim] = cap
        lit = b.rule(rules, f"max_share.{dim}")
        held_spend = held.spend_units.get(dim, {}) if held is not None else {}
        held_total = held.total_units if held is not None else 0
        for key, var in zip(frame["key"].to_list(), frame["var"].to_list(), strict=True):
            rhs = cap.numerator * held_total - cap.denominator * held_spend.get(key, 0)
            b.add_linear([var, total], [cap.denominator, -cap.numerator], -INT64_SAFE, rhs,
                         lit)
        # a group only held workloads spend on: the others' spend must dilute it enough
        for key in sorted(set(held_spend) - set(frame["key"].to_list())):
            rhs = cap.numerator * held_total - cap.denominator * held_spend[key]
            if rhs < 0:
                b.add_linear([total], [-cap.numerator], -INT64_SAFE, rhs, lit)
    return caps


def use_min_providers(b: ProtoBuilder, rows: pl.DataFrame, units: np.ndarray,
                      minimum: int, rules: dict[str, int] | None = None,
                      already: frozenset[str] = frozenset()) -> pl.DataFrame:
    """At least `minimum` providers carry some placement (hence some compute spend);
    those `already` used (by held workloads) count without any placement here."""
    providers, gid = group_ids(rows["provider"])
    counted = np.array([p not in already for p in providers], dtype=bool)
    minimum -= len(already)
    lits = b.new_bools(len(providers))
    # used_p - sum_{r in p} n_r <= 0
    groups = np.concatenate((gid, np.arange(len(providers))))
    variables = np.concatenate((units, lits))
    coeffs = np.concatenate((-np.ones(len(units), dtype=np.int64),
                             np.ones(len(lits), dtype=np.int64)))
    order = np.argsort(groups, kind="stable")
    lower = np.full(len(providers), -INT64_SAFE, dtype=np.int64)
    b.add_grouped(groups[order], variables[order], coeffs[order], lower,
                  np.zeros(len(providers), dtype=np.int64))
    if minimum > 0:
        b.add_linear(lits[counted], [1] * int(counted.sum()), minimum, INT64_SAFE,
                     b.rule(rules, "min_providers"))
    return pl.DataFrame({"provider": providers, "var": lits})


def minimise_total_cost(b: ProtoBuilder, units: np.ndarray, row_cost: np.ndarray,
                        used: np.ndarray, egress: np.ndarray, ports: pl.DataFrame,
                        port_cost: np.ndarray, unplaced: np.ndarray,
                        value: np.ndarray) -> None:
    """Compute + carbon per unit, egress per row used, ports once, value of work left out."""
    has_egress = (egress > 0) & (used >= 0)
    optional = unplaced >= 0
    variables = np.concatenate((units, used[has_egress], ports["var"].to_numpy(),
                                unplaced[optional]))
    coeffs = np.concatenate((row_cost, egress[has_egress], port_cost, value[optional]))
    keep = coeffs != 0
    objective = b.proto.objective
    objective.vars.extend(variables[keep])
    objective.coeffs.extend(coeffs[keep])


def respect_budget(b: ProtoBuilder, total_compute: int, used: np.ndarray, egress: np.ndarray,
                   ports: pl.DataFrame, port_cost: np.ndarray, budget_units: int,
                   rules: dict[str, int] | None = None) -> int:
    """Cash spend (compute + porting + egress) stays within budget_usd."""
    has_egress = (egress > 0) & (used >= 0)
    variables = [total_compute, *used[has_egress].tolist(), *ports["var"].to_list()]
    coeffs = [1, *egress[has_egress].tolist(), *port_cost.tolist()]
    return b.add_linear(variables, coeffs, -INT64_SAFE, budget_units,
                        b.rule(rules, "budget_usd"))


def force_unplaced(built: BuiltModel, placed_w: set[int]) -> None:
    """Optional workloads with no candidate row (here) are left out."""
    for w, var in enumerate(built.unplaced.tolist()):
        if var >= 0 and w not in placed_w:
            built.builder.add_linear([var], [1], 1, 1)


def build_model(candidates: Candidates, policy: Policy, explain: bool = False,
                scale: float | None = None, held: Held | None = None) -> BuiltModel:
    """The whole CP-SAT model for a candidate table and a policy.

    explain=True switches each rule (capacity of an offering, a lock-in cap,
    min_providers, budget, a workload's spread) on through its own literal, in
    `rule_literals`, so that assumptions can find which rules cannot hold together.
    scale and held: a model of some workloads while the others are held in place
    (placer.lns) counts money exactly as the model of all of them does.
    """
    rows, workloads = candidates.rows, candidates.workloads
    scale = choose_scale(rows, workloads) if scale is None else scale
    rules: dict[str, int] | None = {} if explain else None
    b = ProtoBuilder()
    units = b.new_vars(np.zeros(rows.height, dtype=np.int64), rows["max_units"].to_numpy())
    optional = ~workloads["required"].to_numpy()
    unplaced = np.full(workloads.height, -1, dtype=np.int64)
    unplaced[optional] = b.new_bools(int(optional.sum()))

    compute = to_units(rows["unit_compute_usd"], scale)
    row_cost = to_units(rows["unit_compute_usd"] + rows["unit_carbon_usd"], scale)
    egress = to_units(rows["egress_usd"], scale)

    with b.tagged("demand"):
        place_each_training_workload_once(b, rows, units, unplaced)
        cover_inference_demand(b, rows, workloads, units, unplaced)
    with b.tagged("capacity"):
        respect_capacity(b, rows, candidates.offerings, units, rules)
    with b.tagged("port"):
        ports = pay_for_ports(b, rows, units)
    port_cost = to_units(ports["port_usd"], scale)
    with b.tagged("egress"):
        used = pay_for_egress(b, rows, units)
    with b.tagged("spread"):
        spread = spread_inference_across_providers(b, rows, workloads, units, unplaced, rules)
    with b.tagged("spend"):
        total, spend = track_spend(b, rows, units, compute, policy)
    with b.tagged("cap"):
        caps = cap_lock_in_shares(b, total, spend, policy, rules, held)
    providers = None
    if policy.min_providers is not None:
        with b.tagged("min_providers"):
            providers = use_min_providers(b, rows, units, policy.min_providers, rules,
                                          held.providers if held is not None else frozenset())
    if policy.budget_usd is not None:
        with b.tagged("budget"):
            respect_budget(b, total, used, egress, ports, port_cost,
                           math.floor(policy.budget_usd * scale)
                           - (held.cash_units if held is not None else 0), rules)
    value = to_units(workloads["value_usd"].fill_null(0), scale)
    if not explain:
        minimise_total_cost(b, units, row_cost, used, egress, ports, port_cost, unplaced, value)
    return BuiltModel(
        builder=b, scale=scale, units=units, row_cost_units=row_cost,
        row_compute_units=compute, used=used, unplaced=unplaced, ports=ports, spend=spend,
        total_compute=total, provider_used=providers, spread_used=spread, caps=caps,
        rule_literals=rules or {},
    )
