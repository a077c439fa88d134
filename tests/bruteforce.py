"""An exhaustive solver over a candidate table, written independently of placer.model:
the reference the engine's optimum is checked against on small instances."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import polars as pl

from placer.candidates import Candidates


def _choices(rows: list[dict], workload: dict) -> Iterator[tuple[tuple[int, int], ...]]:
    """Every way one workload can be placed: ((row index, units), ...); () = left out."""
    if not workload["required"]:
        yield ()
    if workload["kind"] == "training":
        for r in rows:
            yield ((r["i"], 1),)
        return
    ranges = [range(r["max_units"] + 1) for r in rows]
    for combo in itertools.product(*ranges):
        served = sum(n * r["unit_ref"] for n, r in zip(combo, rows, strict=True))
        if served >= workload["demand"] * (1 - 1e-12) and any(combo):
            yield tuple((r["i"], n) for n, r in zip(combo, rows, strict=True) if n)


def brute_force(c: Candidates, policy) -> float | None:
    """The cheapest total over every assignment that keeps every rule (None if none)."""
    rows = c.rows.with_row_index("i").to_dicts()
    capacity = dict(zip(c.offerings["offering"], c.offerings["capacity_chips"], strict=True))
    per_w = {w["w"]: [r for r in rows if r["w"] == w["w"]] for w in c.workloads.to_dicts()}
    options = [list(_choices(per_w[w["w"]], w)) for w in c.workloads.to_dicts()]
    if any(not o for o in options):
        return None
    workloads = c.workloads.to_dicts()
    best = None
    for combo in itertools.product(*options):
        chosen = [(rows[i], n) for part in combo for i, n in part]
        used_chips: dict[str, int] = {}
        for r, n in chosen:
            used_chips[r["offering"]] = used_chips.get(r["offering"], 0) + n * r["unit_chips"]
        if any(v > capacity[o] for o, v in used_chips.items()):
            continue
        compute = sum(n * r["unit_compute_usd"] for r, n in chosen)
        ok = True
        for dim, cap in policy.max_share:
            if cap is None or compute <= 0:
                continue
            spend: dict[str, float] = {}
            for r, n in chosen:
                spend[r[dim]] = spend.get(r[dim], 0.0) + n * r["unit_compute_usd"]
            if any(s > cap * compute * (1 + 1e-12) for s in spend.values()):
                ok = False
        if policy.min_providers is not None:
            ok &= len({r["provider"] for r, n in chosen}) >= policy.min_providers
        for w, part in zip(workloads, combo, strict=True):
            if not part or w["kind"] != "inference":
                continue
            if w["spread_min_providers"] > 1 or w["spread_max_fraction"] < 1:
                served: dict[str, float] = {}
                for i, n in part:
                    served[rows[i]["provider"]] = served.get(rows[i]["provider"], 0.0) \
                        + n * rows[i]["unit_ref"]
                ok &= len(served) >= w["spread_min_providers"]
                ok &= all(s <= w["spread_max_fraction"] * w["demand"] * (1 + 1e-12)
                          for s in served.values())
        if not ok:
            continue
        ports = {(r["port_key"], r["port_ecosystem"]): r["port_usd"]
                 for r, _ in chosen if r["port_ecosystem"] is not None}
        egress = sum(r["egress_usd"] for r, _ in chosen)
        carbon = sum(n * r["unit_carbon_usd"] for r, n in chosen)
        left_out = sum(w["value_usd"] for w, part in zip(workloads, combo, strict=True)
                       if not part)
        cash = compute + egress + sum(ports.values())
        if policy.budget_usd is not None and cash > policy.budget_usd * (1 + 1e-12):
            continue
        total = cash + carbon + left_out
        if best is None or total < best:
            best = total
    return best


def assert_close(a: float, b: float, rows: int) -> None:
    """Equal up to the cent rounding of each cost term in the solver."""
    assert math.isclose(a, b, rel_tol=1e-9, abs_tol=0.01 * (rows + 5)), (a, b)


def cent_rounding(c: Candidates) -> float:
    """Dollars the solver's rounding of each cost to cents may move a total: half a cent
    per unit placed and per row's egress (generously, a cent)."""
    return 0.01 * (int(c.rows["max_units"].sum()) + c.rows.height + 1)


def frame_rows(c: Candidates) -> int:
    return c.rows.height if isinstance(c.rows, pl.DataFrame) else 0
