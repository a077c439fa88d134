"""Workloads × offerings → one row per feasible choice, with every cost term.

This is the only place costs are computed. Everything before it prepares data;
everything after it (model, solve, reports) only reads the table.

A row is a *unit* a workload may take on an offering, `n` times with
`0 <= n <= max_units`:
- training (a gang): one unit = the whole job on `unit_chips` chips; max_units = 1.
- inference: one unit = one instance (`unit_chips` = chips per instance), serving
  `unit_ref` H100-equivalents; the workload's units must cover its `demand`.
`egress_usd` is paid once if the row is used; porting is paid once per
(`port_key`, `port_ecosystem`) if any row needing it is used.

Rules are evaluated as boolean columns over all workload × offering pairs, in the
order of STAGES (the last, capacity, over the pairs the others keep: only they are
sized), so that the funnel (how many offerings survive each rule, per workload)
explains a workload that has no candidate at all.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from placer.geo import ISO_COUNTRIES, country_jurisdiction

if TYPE_CHECKING:
    from placer.problem import Problem
    from placer.schema import Selector

PUE = 1.2
HOURS_PER_DAY = 24.0
EPS = 1e-9  # tolerance before rounding a ratio up to whole chips

# The rules, in the order they are reported.
STAGES: tuple[str, ...] = (
    "policy",      # allow/deny lists
    "pricing",     # the offering is sold with the chosen pricing
    "residency",   # jurisdiction, country or region allowed
    "sovereign",   # provider headquartered in an allowed jurisdiction
    "ecosystem",   # runs natively, or a port_usd entry exists
    "memory",      # inference: one instance holds memory_gb
    "capacity",    # the gang (or one instance) fits in the offering's capacity
)

CANDIDATE_COLUMNS: tuple[str, ...] = (
    "w", "workload", "kind", "offering", "provider", "region", "region_id", "chip",
    "chip_vendor", "ecosystem", "jurisdiction", "price_basis", "usd_per_chip_hour", "speed",
    "chips_per_instance", "unit_chips", "max_units", "unit_ref", "unit_hours", "unit_chip_hours",
    "unit_compute_usd", "unit_carbon_tonnes", "unit_carbon_usd", "egress_usd",
    "port_key", "port_ecosystem", "port_usd", "capacity_chips",
)


@dataclass(frozen=True)
class WorkloadTables:
    """The fleet as frames: one row per workload, and long frames for its lists."""

    main: pl.DataFrame        # w, workload, kind, demand, chip_hours, ...
    runs_on: pl.DataFrame     # w, ecosystem
    ports: pl.DataFrame       # w, ecosystem, port_usd
    residency: pl.DataFrame   # w, code
    speed: pl.DataFrame       # w, chip, speed


@dataclass(frozen=True)
class Candidates:
    """The candidate table and what the model needs beside it."""

    rows: pl.DataFrame          # CANDIDATE_COLUMNS, sorted by (w, offering)
    workloads: pl.DataFrame     # WorkloadTables.main
    offerings: pl.DataFrame     # offerings with capacity (every offering a row may use)
    funnel: pl.DataFrame        # w, workload, one count column per STAGES entry
    horizon_days: float
    carbon_usd_per_tonne: float


def port_ids(rows: pl.DataFrame) -> np.ndarray:
    """Per candidate row, the index of the port it needs (one per port_key and
    port_ecosystem, in sorted order), or -1 when it runs natively."""
    key = pl.when(pl.col("port_ecosystem").is_null()).then(None).otherwise(
        pl.concat_str("port_key", "port_ecosystem", separator="\x00"))
    port = rows.select(key.alias("k"))["k"]
    keys = port.drop_nulls().unique().sort()
    return port.replace_strict(keys, np.arange(len(keys)), default=-1,
                               return_dtype=pl.Int64).to_numpy()


def port_groups(candidates: Candidates) -> np.ndarray:
    """Per workload, its group (0..groups-1, numbered by first workload): workloads
    linked through a port they may both buy are in one group, every other one alone."""
    rows, n = candidates.rows, candidates.workloads.height
    port = port_ids(rows)
    ported = port >= 0
    w_of_row = rows["w"].to_numpy()
    links = sparse.csr_matrix(
        (np.ones(int(ported.sum())), (w_of_row[ported], n + port[ported])),
        shape=(n + int(port.max(initial=-1)) + 1,) * 2)
    _, group = connected_components(links, directed=False)
    return np.unique(group[:n], return_inverse=True)[1]


def restrict(candidates: Candidates, workloads: np.ndarray, rows: np.ndarray,
             capacity: np.ndarray, port_paid: np.ndarray) -> Candidates:
    """The table of some workloads (`workloads`: their ids, ascending; renumbered 0..k-1
    in that order) over their rows `rows`, with each offering's capacity `capacity` and
    no port on the rows where `port_paid` (bought already, elsewhere)."""
    sub_rows = candidates.rows[rows].with_columns(
        pl.Series("w", np.searchsorted(workloads, candidates.rows["w"].to_numpy()[rows]))
        .cast(candidates.rows.schema["w"]))
    if port_paid.any():
        sub_rows = sub_rows.with_columns(
            pl.when(pl.Series(port_paid)).then(None).otherwise(pl.col(c)).alias(c)
            for c in ("port_ecosystem", "port_usd"))
    return replace(
        candidates, rows=sub_rows,
        workloads=candidates.workloads[workloads].with_columns(
            pl.Series("w", np.arange(len(workloads))).cast(candidates.workloads.schema["w"])),
        offerings=candidates.offerings.with_columns(
            pl.Series("capacity_chips", capacity).cast(
                candidates.offerings.schema["capacity_chips"])),
        funnel=candidates.funnel.clear())  # it explains workloads without rows: none here


def offering_ids(rows: pl.DataFrame, offerings: pl.DataFrame) -> np.ndarray:
    """Per candidate row, the position of its offering in `offerings`."""
    ids = {o: i for i, o in enumerate(offerings["offering"].to_list())}
    return rows["offering"].replace_strict(ids, return_dtype=pl.Int64).to_numpy()


def workload_tables(problem: Problem) -> WorkloadTables:
    """Columns of the validated workloads (one pass over the models)."""
    cols: dict[str, list] = {k: [] for k in (
        "workload", "kind", "demand", "chip_hours", "deadline_days", "min_chips",
        "memory_gb", "required", "value_usd", "port_key", "sovereign", "data_region",
        "data_tb", "spread_min_providers", "spread_max_fraction", "runs_on_codes",
        "residency_codes",
    )}
    runs_on: list[tuple[int, str]] = []
    ports: list[tuple[int, str, float]] = []
    residency: list[tuple[int, str]] = []
    speed: list[tuple[int, str, float]] = []
    for w, wl in enumerate(problem.workloads):
        training = wl.kind == "training"
        spread = None if training else wl.spread
        cols["workload"].append(wl.name)
        cols["kind"].append(wl.kind)
        cols["demand"].append(None if training else wl.chips)
        cols["chip_hours"].append(wl.chip_hours if training else None)
        cols["deadline_days"].append(wl.deadline_days if training else None)
        cols["min_chips"].append(wl.min_chips if training else None)
        cols["memory_gb"].append(wl.memory_gb)
        cols["required"].append(wl.required)
        cols["value_usd"].append(wl.value_usd)
        cols["port_key"].append(wl.codebase or wl.name)
        cols["sovereign"].append(wl.sovereign)
        cols["data_region"].append(wl.data.region if wl.data else None)
        cols["data_tb"].append(wl.data.tb if wl.data else 0.0)
        cols["spread_min_providers"].append(spread.min_providers if spread else 1)
        cols["spread_max_fraction"].append(spread.max_fraction if spread else 1.0)
        cols["runs_on_codes"].append(", ".join(wl.runs_on))
        cols["residency_codes"].append(", ".join(wl.residency) if wl.residency else None)
        runs_on += [(w, e) for e in wl.runs_on]
        ports += [(w, e, usd) for e, usd in wl.port_usd.items()]
        residency += [(w, c) for c in wl.residency or []]
        speed += [(w, c, s) for c, s in wl.speed.items()]
    f64, i64, u32 = pl.Float64, pl.Int64, pl.UInt32
    main = pl.DataFrame(
        cols,
        schema={
            "workload": pl.String, "kind": pl.String, "demand": f64, "chip_hours": f64,
            "deadline_days": f64, "min_chips": i64, "memory_gb": f64, "required": pl.Boolean,
            "value_usd": f64, "port_key": pl.String, "sovereign": pl.Boolean,
            "data_region": pl.String, "data_tb": f64, "spread_min_providers": i64,
            "spread_max_fraction": f64, "runs_on_codes": pl.String,
            "residency_codes": pl.String,
        },
    ).with_row_index("w")
    return WorkloadTables(
        main=main.with_columns(
            pl.col("data_region").str.split("/").list.first().alias("data_provider"),
        ),
        runs_on=pl.DataFrame(runs_on, schema={"w": u32, "ecosystem": pl.String},
                             orient="row"),
        ports=pl.DataFrame(ports, schema={"w": u32, "ecosystem": pl.String, "port_usd": f64},
                           orient="row"),
        residency=pl.DataFrame(residency, schema={"w": u32, "code": pl.String}, orient="row"),
        speed=pl.DataFrame(speed, schema={"w": u32, "chip": pl.String, "speed": f64},
                           orient="row"),
    )


_SELECTOR_COLUMNS = {
    "provider": "provider", "region": "region_id", "offering": "offering", "chip": "chip",
    "chip_vendor": "chip_vendor", "ecosystem": "ecosystem", "jurisdiction": "jurisdiction",
    "price_basis": "price_basis",
}


def selector_expr(selector: Selector) -> pl.Expr:
    """True for offerings the selector picks (every attribute given must match)."""
    expr = pl.lit(True)
    for attribute, values in selector.items():
        expr = expr & pl.col(_SELECTOR_COLUMNS[attribute]).is_in(values)
    return expr


def priced_offerings(problem: Problem) -> pl.DataFrame:
    """All offerings with the policy's price as usd_per_chip_hour and the offering-level rules."""
    policy = problem.policy
    allowed = pl.lit(True)
    if policy.allow is not None:
        allowed = allowed & selector_expr(policy.allow)
    if policy.deny is not None:
        allowed = allowed & ~selector_expr(policy.deny)
    return problem.catalog.offerings.with_columns(
        pl.col(policy.pricing).alias("usd_per_chip_hour"),
        allowed.alias("policy_ok"),
        pl.col(policy.pricing).is_not_null().alias("pricing_ok"),
    )


def _residency_pairs(tables: WorkloadTables, offers: pl.DataFrame) -> pl.DataFrame:
    """(w, offering) pairs a residency list allows, by jurisdiction, country or region id."""
    codes = pl.concat([
        offers.select("offering", pl.col(c).alias("code"))
        for c in ("jurisdiction", "country", "region_id")
    ])
    return (tables.residency.join(codes, on="code").select("w", "offering").unique()
            .with_columns(pl.lit(True).alias("residency_match")))


_COUNTRY_JURISDICTION = pl.DataFrame(
    {"code": sorted(ISO_COUNTRIES),
     "country_home": [country_jurisdiction(c) for c in sorted(ISO_COUNTRIES)]}
)


def _home_pairs(tables: WorkloadTables, offers: pl.DataFrame) -> pl.DataFrame:
    """(w, provider_home) pairs a sovereign workload accepts: the jurisdictions its residency
    codes belong to (a region id's jurisdiction, a country's, or a jurisdiction itself)."""
    region_home = offers.select(pl.col("region_id").alias("code"),
                                pl.col("jurisdiction").alias("region_home")).unique()
    return (
        tables.residency
        .join(region_home, on="code", how="left")
        .join(_COUNTRY_JURISDICTION, on="code", how="left")
        .select("w", pl.coalesce("region_home", "country_home", "code").alias("provider_home"))
        .unique()
        .with_columns(pl.lit(True).alias("home_match"))
    )


# What every pair carries: the columns the sizes and rules read, and each side's position
# ("at" in the chunk's workloads, "o" in the offerings). The columns only the kept rows need
# (names, costs' inputs) are added to those alone (ROW_*). At 100,000 workloads (7.1M
# pairs, 3.35M kept) a cross join of every column took 2.1 s, joins after it 2.0 s.
PAIR_WORKLOAD_COLUMNS: tuple[str, ...] = (
    "w", "kind", "demand", "chip_hours", "deadline_days", "min_chips", "memory_gb",
    "sovereign", "has_residency",
)
PAIR_OFFER_COLUMNS: tuple[str, ...] = (
    "chips_per_instance", "capacity_chips", "hbm_gb", "policy_ok", "pricing_ok",
)
ROW_WORKLOAD_COLUMNS: tuple[str, ...] = (
    "workload", "port_key", "data_region", "data_tb", "data_provider", "internet_usd_per_gb",
    "inter_region_usd_per_gb",
)
ROW_OFFER_COLUMNS: tuple[str, ...] = (
    "offering", "provider", "region", "region_id", "chip", "chip_vendor", "ecosystem",
    "jurisdiction", "price_basis", "usd_per_chip_hour", "tdp_w", "grid_gco2_kwh",
)


def _chunk_workloads(problem: Problem, tables: WorkloadTables) -> pl.DataFrame:
    """The workloads with their data's egress rates and whether residency binds them."""
    egress = problem.catalog.egress.select(
        pl.col("provider").alias("data_provider"), "internet_usd_per_gb", "inter_region_usd_per_gb",
    )
    has_residency = tables.residency.select("w").unique().with_columns(
        pl.lit(True).alias("has_residency"))
    return (
        tables.main
        .join(egress, on="data_provider", how="left", maintain_order="left")
        .join(has_residency, on="w", how="left", maintain_order="left")
        .with_columns(pl.col("has_residency").fill_null(False))
    )


def _pairs(problem: Problem, tables: WorkloadTables, workloads: pl.DataFrame,
           offers: pl.DataFrame) -> pl.DataFrame:
    """Every workload × offering (`workloads`: _chunk_workloads, `offers`:
    priced_offerings), workload by workload, with speed and what the rules read. The pairs
    are a cross product, so the facts about some of them (a workload's speed on a chip,
    its native ecosystems and ports, the offerings its residency allows) are scattered to
    their positions rather than joined: a join copies every column of every pair."""
    n_w, n_o = workloads.height, offers.height
    first_w = int(workloads["w"][0]) if n_w else 0
    offer_keys = offers.select("chip", "ecosystem", "offering", "provider_home").with_row_index("o")

    def scattered(facts: pl.DataFrame, value: str | None = None) -> np.ndarray:
        """Per pair, the fact's value at (w, o) (True when `value` is None); NaN / False
        elsewhere."""
        at = (facts["w"].to_numpy().astype(np.int64) - first_w) * n_o \
            + facts["o"].to_numpy().astype(np.int64)
        if value is None:
            out = np.zeros(n_w * n_o, dtype=bool)
            out[at] = True
        else:
            out = np.full(n_w * n_o, np.nan)
            out[at] = facts[value].to_numpy()
        return out

    at = np.repeat(np.arange(n_w), n_o)
    o = np.tile(np.arange(n_o), n_w)
    speed = scattered(tables.speed.join(offer_keys, on="chip"), "speed")
    speed = np.where(np.isnan(speed), _default_speeds(problem, workloads, offer_keys)[at, o],
                     speed)
    return pl.concat([
        pl.DataFrame({"at": at, "o": o}),
        workloads.select(PAIR_WORKLOAD_COLUMNS)[at],
        offers.select(PAIR_OFFER_COLUMNS)[o],
        pl.DataFrame({
            "speed": speed,
            "native": scattered(tables.runs_on.join(offer_keys, on="ecosystem")),
            "port_offer_usd": scattered(tables.ports.join(offer_keys, on="ecosystem"),
                                        "port_usd"),
            "residency_match": scattered(
                _residency_pairs(tables, offers).join(offer_keys, on="offering")),
            "home_match": scattered(
                _home_pairs(tables, offers).join(offer_keys, on="provider_home")),
        }).with_columns(pl.col("speed", "port_offer_usd").fill_nan(None)),
    ], how="horizontal")


def _with_row_columns(kept: pl.DataFrame, workloads: pl.DataFrame, offers: pl.DataFrame
                      ) -> pl.DataFrame:
    """The pairs kept, with the columns of either side only rows need."""
    return pl.concat([
        kept,
        workloads.select(ROW_WORKLOAD_COLUMNS)[kept["at"].to_numpy()],
        offers.select(ROW_OFFER_COLUMNS)[kept["o"].to_numpy()],
    ], how="horizontal")


def _default_speeds(problem: Problem, workloads: pl.DataFrame, offer_keys: pl.DataFrame
                    ) -> np.ndarray:
    """Per workload (row) and offering (column), the catalog's speed of the offering's chip
    for the workload's kind (NaN where it has none)."""
    kinds = workloads.select("kind").unique(maintain_order=True).with_row_index("k")
    by_kind = (
        offer_keys.select("o", "chip").join(kinds, how="cross")
        .join(problem.catalog.speeds.select("chip", "kind", "speed"), on=["chip", "kind"],
              how="left")
    )
    table = np.full((kinds.height, offer_keys.height), np.nan)
    table[by_kind["k"].to_numpy(), by_kind["o"].to_numpy()] = \
        by_kind["speed"].fill_null(np.nan).to_numpy()
    w_kind = workloads.join(kinds, on="kind", how="left", maintain_order="left")["k"].to_numpy()
    return table[w_kind]


def _sizes(pairs: pl.DataFrame, horizon_days: float) -> pl.DataFrame:
    """Chips, units, hours and capacity fit for every pair (training gangs, inference units)."""
    training = pl.col("kind") == "training"
    cpi = pl.col("chips_per_instance")
    work = pl.col("chip_hours") / pl.col("speed")  # chip-hours on this chip
    days = pl.col("deadline_days").fill_null(horizon_days)
    needed = pl.max_horizontal(
        pl.col("min_chips").fill_null(1).cast(pl.Float64),
        (pl.col("memory_gb") / pl.col("hbm_gb") - EPS).ceil().fill_null(1),
        (work / (HOURS_PER_DAY * days) - EPS).ceil(),
        pl.lit(1.0),
    )
    gang = ((needed / cpi - EPS).ceil() * cpi).cast(pl.Int64)
    unit_ref = cpi * pl.col("speed")
    by_capacity = pl.col("capacity_chips") // cpi
    by_demand = (pl.col("demand") / unit_ref - EPS).ceil().cast(pl.Int64)
    horizon_hours = HOURS_PER_DAY * horizon_days
    return pairs.with_columns(
        pl.when(training).then(gang).otherwise(cpi).alias("unit_chips"),
        pl.when(training).then(1).otherwise(pl.min_horizontal(by_capacity, by_demand))
        .cast(pl.Int64).alias("max_units"),
        pl.when(training).then(None).otherwise(unit_ref).alias("unit_ref"),
        pl.when(training).then(work / gang).otherwise(horizon_hours).alias("unit_hours"),
        pl.when(training).then(work).otherwise(cpi * horizon_hours).alias("unit_chip_hours"),
    )


def _rules(pairs: pl.DataFrame) -> pl.DataFrame:
    """The rules that need no sizes (every stage but capacity), on every pair."""
    training = pl.col("kind") == "training"
    return pairs.with_columns(
        (~pl.col("has_residency") | pl.col("residency_match")).alias("residency_ok"),
        (~pl.col("sovereign") | pl.col("home_match")).alias("sovereign_ok"),
        (pl.col("native") | pl.col("port_offer_usd").is_not_null()).alias("ecosystem_ok"),
        (training | pl.col("memory_gb").is_null()
         | (pl.col("chips_per_instance") * pl.col("hbm_gb") >= pl.col("memory_gb")))
        .alias("memory_ok"),
    )


def _capacity_rule(sized: pl.DataFrame) -> pl.DataFrame:
    """The last rule, on the pairs _sizes sized: the gang (or one instance) fits."""
    return sized.with_columns(
        pl.when(pl.col("kind") == "training")
        .then(pl.col("unit_chips") <= pl.col("capacity_chips"))
        .otherwise(pl.col("max_units") >= 1).alias("capacity_ok"))


def _funnel(pairs: pl.DataFrame, sized: pl.DataFrame, workloads: pl.DataFrame,
            offers: pl.DataFrame, horizon_days: float) -> pl.DataFrame:
    """Per workload: offerings left after each rule in STAGES (cumulatively), and the
    figures that explain the memory and capacity stages. `pairs` as _pairs makes them,
    one per offering for each workload in turn: a workload's are a row of a matrix (a
    group-by over the 7.1M pairs of 100,000 workloads took 0.9 s); `sized`: those that
    pass every stage before capacity, with their sizes and the capacity rule."""
    shape = (workloads.height, offers.height)

    def matrix(column: pl.Expr) -> np.ndarray:
        return pairs.select(column).to_series().to_numpy().reshape(shape)

    sized_at = (sized["at"].to_numpy().astype(np.int64) * shape[1]
                + sized["o"].to_numpy().astype(np.int64))

    def sized_matrix(column: pl.Expr, elsewhere: Any) -> np.ndarray:
        values = sized.select(column).to_series().to_numpy()
        out = np.full(shape[0] * shape[1], elsewhere, dtype=values.dtype)
        out[sized_at] = values
        return out.reshape(shape)

    survive = np.ones(shape, dtype=bool)
    counts, passed = [], {}
    for stage in STAGES:
        ok = sized_matrix(pl.col("capacity_ok").fill_null(False), False) \
            if stage == "capacity" else matrix(pl.col(f"{stage}_ok").fill_null(False))
        survive = survive & ok
        passed[stage] = survive
        counts.append(pl.Series(stage, survive.sum(axis=1), dtype=pl.UInt32))
    fit_chips = np.where(
        passed["ecosystem"],
        matrix((pl.col("memory_gb") / pl.col("hbm_gb") - EPS).ceil().fill_null(np.inf)),
        np.inf).min(axis=1, initial=np.inf)
    # the nearest miss: the offering whose capacity falls least short of the gang there
    # (the first by name among equals)
    never = np.iinfo(np.int64).max
    shortfall = np.where(
        passed["memory"],
        sized_matrix((pl.col("unit_chips") - pl.col("capacity_chips")).fill_null(never),
                     never), never)
    # (a workload none passes the memory stage has none: null, also with no offerings)
    nearest = shortfall.argmin(axis=1) if shape[1] else np.zeros(shape[0], dtype=np.int64)
    none = ~passed["memory"].any(axis=1)

    def at_nearest(values: pl.Series, positions: np.ndarray) -> pl.Series:
        with_null = pl.concat([values, pl.Series([None], dtype=values.dtype)])
        return with_null.gather(np.where(none, len(values), positions))

    return workloads.select("w", "workload").with_columns(
        pl.lit(shape[1], dtype=pl.UInt32).alias("offerings"), *counts,
        pl.Series("memory_chips_min", fit_chips).replace(np.inf, None),
        at_nearest(offers["offering"], nearest).alias("nearest_offering"),
        # the nearest pairs sized here: where no pair past the memory stage has a
        # shortfall (no capacity known) the nearest is the first offering, which `sized`
        # may lack
        at_nearest(_sizes(pairs[np.flatnonzero(~none) * shape[1] + nearest[~none]],
                          horizon_days)["unit_chips"],
                   np.cumsum(~none) - 1).alias("nearest_gang"),
        at_nearest(offers["capacity_chips"], nearest).alias("nearest_capacity"),
    )


def _costs(rows: pl.DataFrame, carbon_price: float) -> pl.DataFrame:
    tonnes = (pl.col("unit_chip_hours") * pl.col("tdp_w") / 1000.0 * PUE
              * pl.col("grid_gco2_kwh") / 1e6)
    rate = (
        pl.when(pl.col("data_region").is_null()).then(0.0)
        .when(pl.col("region_id") == pl.col("data_region")).then(0.0)
        .when(pl.col("provider") == pl.col("data_provider")).then(pl.col("inter_region_usd_per_gb"))
        .otherwise(pl.col("internet_usd_per_gb"))
    )
    return rows.with_columns(
        (pl.col("unit_chip_hours") * pl.col("usd_per_chip_hour")).alias("unit_compute_usd"),
        tonnes.alias("unit_carbon_tonnes"),
        (tonnes * carbon_price).alias("unit_carbon_usd"),
        (pl.col("data_tb") * 1000.0 * rate).alias("egress_usd"),
        pl.when(pl.col("native")).then(None).otherwise(pl.col("ecosystem")).alias("port_ecosystem"),
        pl.when(pl.col("native")).then(0.0).otherwise(pl.col("port_offer_usd")).alias("port_usd"),
    )


# Workload x offering pairs are built for this many pairs at a time (whole workloads):
# every pair carries every column of both sides. 100,000 workloads, 71 offerings (7.1M
# pairs, a table of 3.35M rows, 0.7 GB): all at once, peak 7.3 GB in 3.35 s; 4M / 1M /
# 250k / 100k at a time, 5.9 / 2.9 / 1.9 / 1.8 GB in 2.85 / 2.22 / 2.29 / 2.35 s.
PAIRS_AT_ONCE = 250_000


def build_candidates(problem: Problem) -> Candidates:
    """The candidate table for a problem, with the per-workload funnel."""
    tables = workload_tables(problem)
    # in the order of their names: the pairs of a workload are in its offerings' order,
    # so the rows come out sorted by (w, offering)
    offerings = priced_offerings(problem).sort("offering")
    # sizes only for the pairs every rule before capacity keeps (47 % at 100,000
    # workloads, as many as capacity keeps): sizing all 7.1M pairs took 0.8 s
    before_capacity = pl.all_horizontal([f"{stage}_ok" for stage in STAGES[:-1]])
    rows, funnels = [], []
    workloads = tables.main.height
    per_chunk = max(1, PAIRS_AT_ONCE // max(1, offerings.height))
    for first in range(0, max(1, workloads), per_chunk):
        chunk = _chunk(tables, first, per_chunk)
        chunk_workloads = _chunk_workloads(problem, chunk)
        pairs = _rules(_pairs(problem, chunk, chunk_workloads, offerings))
        sized = _capacity_rule(_sizes(pairs.filter(before_capacity), problem.horizon_days))
        kept = _with_row_columns(sized.filter(pl.col("capacity_ok")), chunk_workloads,
                                 offerings)
        rows.append(_costs(kept, problem.policy.carbon_usd_per_tonne).select(CANDIDATE_COLUMNS))
        funnels.append(_funnel(pairs, sized, chunk_workloads, offerings,
                               problem.horizon_days))
    return Candidates(
        rows=pl.concat(rows),  # chunks of ascending workloads: still sorted
        workloads=tables.main,
        offerings=offerings.select(
            "offering", "provider", "chip_vendor", "ecosystem", "capacity_chips",
            "price_basis"),
        funnel=pl.concat(funnels),
        horizon_days=problem.horizon_days,
        carbon_usd_per_tonne=problem.policy.carbon_usd_per_tonne,
    )


def _chunk(tables: WorkloadTables, first: int, count: int) -> WorkloadTables:
    """The workloads first .. first + count - 1 (numbered as in the whole)."""
    def mine(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.filter(pl.col("w").is_between(first, first + count - 1))

    return WorkloadTables(mine(tables.main), mine(tables.runs_on), mine(tables.ports),
                          mine(tables.residency), mine(tables.speed))


def candidates_from_table(table: pl.DataFrame, offerings: pl.DataFrame,
                          carbon_usd_per_tonne: float = 0.0) -> Candidates:
    """The candidates route: a planner's own rows (workload, offering, chips, cost_usd and
    optionally provider, chip_vendor, ecosystem) become the candidate table as they are.
    Each workload takes exactly one of its rows."""
    order = table.select("workload").unique(maintain_order=True).with_row_index("w")
    for column in ("provider", "chip_vendor", "ecosystem"):
        if column not in table.columns:
            table = table.with_columns(pl.lit(None, dtype=pl.String).alias(column))
    rows = (
        table.join(order, on="workload")
        .join(offerings.select("offering", "capacity_chips"), on="offering", how="left")
        .select(
            "w", "workload", pl.lit("training").alias("kind"), "offering",
            pl.col("provider").fill_null(""),
            pl.lit("").alias("region"), pl.lit("").alias("region_id"), pl.lit("").alias("chip"),
            pl.col("chip_vendor").fill_null(""), pl.col("ecosystem").fill_null(""),
            pl.lit("").alias("jurisdiction"), pl.lit("list").alias("price_basis"),
            pl.lit(None, dtype=pl.Float64).alias("usd_per_chip_hour"),
            pl.lit(None, dtype=pl.Float64).alias("speed"),
            pl.col("chips").alias("chips_per_instance"), pl.col("chips").alias("unit_chips"),
            pl.lit(1, dtype=pl.Int64).alias("max_units"),
            pl.lit(None, dtype=pl.Float64).alias("unit_ref"),
            pl.lit(None, dtype=pl.Float64).alias("unit_hours"),
            pl.lit(None, dtype=pl.Float64).alias("unit_chip_hours"),
            pl.col("cost_usd").cast(pl.Float64).alias("unit_compute_usd"),
            pl.lit(0.0).alias("unit_carbon_tonnes"), pl.lit(0.0).alias("unit_carbon_usd"),
            pl.lit(0.0).alias("egress_usd"), pl.col("workload").alias("port_key"),
            pl.lit(None, dtype=pl.String).alias("port_ecosystem"), pl.lit(0.0).alias("port_usd"),
            "capacity_chips",
        )
        .with_columns(pl.col("w").cast(pl.UInt32), pl.col("chips_per_instance").cast(pl.Int64),
                      pl.col("unit_chips").cast(pl.Int64),
                      pl.col("capacity_chips").cast(pl.Int64))
        .sort("w", "offering")
    )
    workloads = order.select(
        pl.col("w").cast(pl.UInt32), "workload", pl.lit("training").alias("kind"),
        pl.lit(None, dtype=pl.Float64).alias("demand"),
        pl.lit(None, dtype=pl.Float64).alias("chip_hours"),
        pl.lit(None, dtype=pl.Float64).alias("deadline_days"),
        pl.lit(None, dtype=pl.Int64).alias("min_chips"),
        pl.lit(None, dtype=pl.Float64).alias("memory_gb"), pl.lit(True).alias("required"),
        pl.lit(None, dtype=pl.Float64).alias("value_usd"), pl.col("workload").alias("port_key"),
        pl.lit(False).alias("sovereign"), pl.lit(None, dtype=pl.String).alias("data_region"),
        pl.lit(0.0).alias("data_tb"), pl.lit(1, dtype=pl.Int64).alias("spread_min_providers"),
        pl.lit(1.0).alias("spread_max_fraction"), pl.lit("").alias("runs_on_codes"),
        pl.lit(None, dtype=pl.String).alias("residency_codes"),
        pl.lit(None, dtype=pl.String).alias("data_provider"),
    )
    per_w = rows.group_by("w").len().sort("w")["len"].to_list()
    funnel = order.select(pl.col("w").cast(pl.UInt32), "workload").with_columns(
        pl.Series("offerings", per_w), *[pl.Series(st, per_w) for st in STAGES],
        pl.lit(None, dtype=pl.Float64).alias("memory_chips_min"),
        pl.lit(None, dtype=pl.String).alias("nearest_offering"),
        pl.lit(None, dtype=pl.Int64).alias("nearest_gang"),
        pl.lit(None, dtype=pl.Int64).alias("nearest_capacity"),
    )
    offers = offerings.select(
        "offering", pl.lit("").alias("provider"), pl.lit("").alias("chip_vendor"),
        pl.lit("").alias("ecosystem"), pl.col("capacity_chips").cast(pl.Int64),
        pl.lit("list").alias("price_basis"),
    ).sort("offering")
    return Candidates(rows=rows, workloads=workloads, offerings=offers, funnel=funnel,
                      horizon_days=0.0, carbon_usd_per_tonne=carbon_usd_per_tonne)
