"""Checking plans without the solver.

`candidate_violations` checks units chosen per candidate row against every rule (used on
warm starts and in tests on every plan the engine returns).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from placer.candidates import Candidates

if TYPE_CHECKING:
    from placer.schema import Policy

REL_TOL = 1e-6


def candidate_violations(candidates: Candidates, units: np.ndarray, left_out: np.ndarray,
                         policy: Policy) -> list[str]:
    """Every rule the chosen units break, in words (empty when the choice is a valid plan)."""
    rows = candidates.rows.with_columns(pl.Series("n", units, dtype=pl.Int64))
    workloads = candidates.workloads.with_columns(pl.Series("left_out", left_out))
    out: list[str] = []
    if (units < 0).any() or (units > rows["max_units"].to_numpy()).any():
        out.append("units outside [0, max_units]")
    per_w = rows.group_by("w").agg(
        pl.col("n").sum().alias("units"),
        (pl.col("n") * pl.col("unit_ref").fill_null(0)).sum().alias("served"),
    )
    w = workloads.join(per_w, on="w", how="left").with_columns(
        pl.col("units").fill_null(0), pl.col("served").fill_null(0.0))
    for name, kind, n, served, demand, out_flag, required in w.select(
        "workload", "kind", "units", "served", "demand", "left_out", "required"
    ).iter_rows():
        if out_flag and required:
            out.append(f"{name}: required but left out")
        elif out_flag and n:
            out.append(f"{name}: left out but placed")
        elif not out_flag and kind == "training" and n != 1:
            out.append(f"{name}: a gang must take exactly one offering, takes {n}")
        elif not out_flag and kind == "inference" and served < demand * (1 - 1e-9):
            out.append(f"{name}: serves {served:g} of {demand:g} H100-equivalents")
    used = rows.filter(pl.col("n") > 0)
    chips = used.group_by("offering").agg((pl.col("n") * pl.col("unit_chips")).sum().alias("c"))
    cap = chips.join(candidates.offerings.select("offering", "capacity_chips"), on="offering")
    for o, c, capacity in cap.filter(pl.col("c") > pl.col("capacity_chips")).iter_rows():
        out.append(f"{o}: {c} chips placed, capacity {capacity}")
    compute = used.with_columns((pl.col("n") * pl.col("unit_compute_usd")).alias("spend"))
    total = float(compute["spend"].sum())
    for dim, share in policy.max_share:
        if share is None or total <= 0:
            continue
        per = compute.group_by(dim).agg(pl.col("spend").sum())
        for key, spend in per.iter_rows():
            if spend > share * total * (1 + REL_TOL) + 0.01:
                out.append(f"max_share.{dim}: {key} takes {spend / total:.4f} of compute spend")
    spread = workloads.filter(pl.col("spread_min_providers") > 1 | (pl.col("spread_max_fraction")
                                                                   < 1))
    if spread.height:
        served = used.filter(pl.col("kind") == "inference").group_by("w", "provider").agg(
            (pl.col("n") * pl.col("unit_ref")).sum().alias("s"))
        for name, wid, demand, mp, mf, lo in spread.select(
            "workload", "w", "demand", "spread_min_providers", "spread_max_fraction",
            "left_out",
        ).iter_rows():
            if lo:
                continue
            mine = served.filter(pl.col("w") == wid)
            if mine.height < mp:
                out.append(f"{name}: served by {mine.height} providers, spread needs {mp}")
            for provider, s in mine.select("provider", "s").iter_rows():
                if s > mf * demand * (1 + 1e-9):
                    out.append(f"{name}: {provider} serves {s:g} > {mf:g} of {demand:g}")
    if policy.min_providers is not None:
        n_providers = used["provider"].n_unique()
        if n_providers < policy.min_providers:
            out.append(f"min_providers: {n_providers} providers used, need "
                       f"{policy.min_providers}")
    return out
