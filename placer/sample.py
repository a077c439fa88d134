"""Prices for a fleet too large for its LP, from the LP of a like sample of it.

At 100,000 workloads the LP of the whole does not finish in the time there is, so the
bound there is the one without an LP (relax.price_capacity): capacity and the lock-in
caps priced, every workload then on its cheapest rows. Any prices give a valid bound,
and its subgradient steps from zero end below the LP's duals (1,000 workloads, with
instances by the fraction: $18.48M at its prices, $18.73M at the LP's). A sample of the
fleet, dealt as the parts are (placer.parts.partition: like workloads spread evenly)
with its share of each offering's capacity, has nearly the whole's duals, and its LP
takes a second or two.
Measured with whole instances in the bound (relax.whole_instances), from zero -> from
a sample of about 2,000 workloads: 10,000 workloads $188.8M -> $193.4M (samples of 500
/ 1,000 / 2,000 within 0.1 % of each other, measured before ports' whole instances);
100,000 $1,871.9M in 17.1 s -> $1,921.1M in 8.5 s, the sample's LP included (2.2 s).
The sample is a tenth of the fleet up to 2,000 workloads, so that its LP finishes in
its share of the time on a slower machine too: 10,000 workloads, a sample of 500 /
1,000 / 2,000, its LP 1.1 / 1.9 / 5.4 s, the bound $194.0M / $195.3M / $195.8M (at 60
s the sample has 3 s: 2,000 did not finish, and the bound was $192.0M, from zero);
100,000: 1,000 / 2,000, 2.7 / 6.0 s, $1,942.8M / $1,947.5M.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from placer.candidates import Candidates, offering_ids, restrict
from placer.model import BuiltModel, build_model, force_unplaced, group_ids
from placer.parts import partition
from placer.relax import Prices, Relaxation, solve_relaxation
from placer.schema import Policy

SAMPLE_WORKLOADS = 2_000   # at most
SAMPLE_PARTS = 10          # ... and at most this part of the fleet


def sample_prices(candidates: Candidates, policy: Policy, seed: int, seconds: float,
                  stop: Callable[[], bool]) -> LPPrices | None:
    """Capacity's prices (USD per chip) and the caps' (by group key: LPPrices.on_fleet
    puts them on the fleet's groups, or a part's) from the LP of a sample of a tenth of
    the fleet, up to SAMPLE_WORKLOADS workloads; None for a fleet not twice that, or when
    the LP does not finish in `seconds`."""
    started = time.perf_counter()
    if candidates.workloads.height < 2 * SAMPLE_WORKLOADS:
        return None
    parts = max(SAMPLE_PARTS, candidates.workloads.height // SAMPLE_WORKLOADS)
    workloads = np.flatnonzero(partition(candidates, parts, seed) == 0)
    rows = np.flatnonzero(np.isin(candidates.rows["w"].to_numpy(), workloads))
    share = np.floor(candidates.offerings["capacity_chips"].to_numpy() / parts)
    sample = restrict(candidates, workloads, rows, share.astype(np.int64),
                      np.zeros(len(rows), dtype=bool))
    built = build_model(sample, policy)
    force_unplaced(built, set(sample.rows["w"].unique().to_list()))
    relaxation = solve_relaxation(
        built.builder, time_limit=max(0.0, seconds - (time.perf_counter() - started)),
        unit_vars=built.units, unit_owner=sample.rows["w"].to_numpy(), should_stop=stop)
    # a sample's LP without a solution proves nothing of the fleet's (its capacity is a
    # share of the fleet's)
    if not isinstance(relaxation, Relaxation) or not relaxation.optimal \
            or relaxation.duals is None:
        return None
    return LPPrices.at_duals(built, sample, relaxation.duals)


@dataclass(frozen=True)
class LPPrices:
    """An LP's prices, with each cap's by group key: the sample's, and a part's of a
    fleet (solve.SolveOptions.on_lp_prices); a fleet, or a part, which may have groups
    the LP had not, is priced at them (on_fleet)."""

    capacity: np.ndarray                        # USD per chip, per offering
    caps: dict[str, tuple[list[str], np.ndarray]]  # per capped dimension: keys, prices
    # the LP of column generation's master after its rounds (placer.colgen), not the
    # relaxation's
    after_columns: bool = False

    @classmethod
    def at_duals(cls, built: BuiltModel, candidates: Candidates, duals: np.ndarray,
                 after_columns: bool = False) -> LPPrices:
        """The duals (one per row of the model, `c - A^T duals` the reduced costs) of the
        capacity rows (USD per chip, per offering) and of the caps' rows (as relax.Caps
        prices them: a cap den * S_g <= num * T priced y >= 0 charges each unit of spend
        in g y * den, less y * num on every unit)."""
        family = np.array(built.builder.row_family)
        price = np.maximum(-duals, 0.0)  # a price on a row's upper side (<=)
        row_of_var = np.full(built.builder.num_vars, -1)
        row_of_var[built.units] = np.arange(len(built.units))
        # only the rows read here: a part reports twice, and the whole model's matrix is
        # a Python pass over every row
        capacity_rows = np.flatnonzero(family == "capacity")
        capacity_matrix, _, _ = built.builder.matrix(capacity_rows)
        first_var = capacity_matrix.indices[capacity_matrix.indptr[:-1]]
        capacity = np.zeros(candidates.offerings.height)
        capacity[offering_ids(candidates.rows, candidates.offerings)[row_of_var[first_var]]] \
            = price[capacity_rows] / built.scale
        caps = {}
        cap_rows = np.flatnonzero(family == "cap")
        cap_matrix = built.builder.matrix(cap_rows)[0].tocsc()
        for dim, frame in built.spend.items():
            # each group's spend variable sits in its own cap row (with the total's)
            group_rows = cap_matrix[:, frame["var"].to_numpy()]
            row_of_group = np.full(frame.height, -1)
            cap_row, group = group_rows.nonzero()
            row_of_group[group] = cap_row
            dim_prices = np.zeros(frame.height)
            has_row = row_of_group >= 0
            dim_prices[has_row] = price[cap_rows[row_of_group[has_row]]] \
                * built.caps[dim].denominator
            caps[dim] = (frame["key"].to_list(), dim_prices)
        return cls(capacity, caps, after_columns)

    def on_fleet(self, fleet_rows: pl.DataFrame) -> Prices:
        """As price_capacity takes them: the caps' per group of `fleet_rows`, 0 for a
        group these prices have none for (a sample may lack a provider the fleet has)."""
        caps = []
        for dim, (keys, prices) in self.caps.items():
            # (of the distinct values: 3.35M rows at 100,000 workloads)
            fleet_keys = group_ids(fleet_rows[dim].unique())[0]
            on_fleet = np.zeros(len(fleet_keys))
            on_fleet[np.searchsorted(fleet_keys, keys)] = prices
            caps.append(on_fleet)
        return Prices(self.capacity, caps)


def averaged(prices: list[LPPrices], fleet_rows: pl.DataFrame) -> Prices:
    """The mean of several LPs' prices (the parts' of a fleet), on the fleet's groups."""
    on_fleet = [p.on_fleet(fleet_rows) for p in prices]
    return Prices(np.mean([p.capacity for p in on_fleet], axis=0),
                  [np.mean(caps, axis=0) for caps in zip(*(p.caps or [] for p in on_fleet),
                                                         strict=True)])
