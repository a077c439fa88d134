"""A Plan: what runs where, what it costs, and how concentrated the spend is.

Every number comes from the candidate table (the rows chosen and how many units of
each); nothing here prices anything anew.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from placer.candidates import Candidates
from placer.io import write_atomic
from placer.schema import DIMENSIONS, PlanDocument

COST_TERMS = ("compute_usd", "porting_usd", "egress_usd", "carbon_usd", "unplaced_usd")


@dataclass
class Plan:
    """The result of a solve. Tables are polars DataFrames."""

    status: str                              # optimal | feasible | infeasible | unknown
    total_usd: float | None
    bound_usd: float | None
    gap: float | None
    cost: dict[str, float] | None
    assignments: pl.DataFrame
    ports: pl.DataFrame
    unplaced: pl.DataFrame
    shares: dict[str, pl.DataFrame]
    hhi: dict[str, float]
    estimated_prices: list[str]
    solver: dict[str, Any]
    horizon_days: float
    pricing: str
    explanation: list[str] = field(default_factory=list)
    exit_costs: pl.DataFrame | None = None

    @property
    def has_plan(self) -> bool:
        return self.status in ("optimal", "feasible")

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (keys as in DESIGN.md), validated against PlanDocument."""
        doc = {
            "status": self.status,
            "total_usd": _round(self.total_usd),
            "bound_usd": _round(self.bound_usd),
            "gap": None if self.gap is None else round(self.gap, 8),
            "horizon_days": self.horizon_days,
            "pricing": self.pricing,
            "cost": None if self.cost is None else {k: _round(v) for k, v in self.cost.items()},
            "assignments": [_round_values(r) for r in self.assignments.to_dicts()],
            "ports": [_round_values(r) for r in self.ports.to_dicts()],
            "unplaced": [_round_values(r) for r in self.unplaced.to_dicts()],
            "shares": {
                dim: {"rows": [_round_values(r) for r in frame.to_dicts()],
                      "hhi": round(self.hhi.get(dim, 0.0), 4)}
                for dim, frame in self.shares.items()
            },
            "estimated_prices": self.estimated_prices,
            "solver": self.solver,
            "explanation": self.explanation,
            "exit_costs": None if self.exit_costs is None
            else [_round_values(r) for r in self.exit_costs.to_dicts()],
        }
        return PlanDocument.model_validate(doc).model_dump(mode="json")

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"

    def write(self, path: str | Path, format: str | None = None) -> None:
        """Write atomically as json (default), csv (assignments), parquet or md."""
        path = Path(path)
        fmt = format or {".csv": "csv", ".parquet": "parquet", ".md": "md"}.get(
            path.suffix.lower(), "json")
        if fmt == "json":
            write_atomic(path, self.to_json())
        elif fmt == "csv":
            from placer.report import frame_csv

            write_atomic(path, frame_csv(self.assignments))
        elif fmt == "parquet":
            from placer.io import atomic_path

            with atomic_path(path) as tmp:
                self.assignments.write_parquet(tmp)
        elif fmt == "md":
            from placer.report import plan_markdown

            write_atomic(path, plan_markdown(self))
        else:
            raise ValueError(f"unknown format {fmt!r}")


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(float(value), digits)


def _round_values(row: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in row.items()}


def assignments_from_units(rows: pl.DataFrame, units: np.ndarray) -> pl.DataFrame:
    """One row per (workload, offering) used, with its costs taken from the candidate row."""
    chosen = rows.with_columns(pl.Series("n", units, dtype=pl.Int64)).filter(pl.col("n") > 0)
    training = pl.col("kind") == "training"
    return chosen.select(
        "workload", "offering", "provider", "region", "jurisdiction", "chip", "chip_vendor",
        "ecosystem", "kind",
        (pl.col("n") * pl.col("unit_chips") // pl.col("chips_per_instance")).alias("instances"),
        (pl.col("n") * pl.col("unit_chips")).alias("chips"),
        pl.col("unit_hours").alias("hours"),
        (pl.col("n") * pl.col("unit_compute_usd")).alias("compute_usd"),
        "egress_usd",
        (pl.col("n") * pl.col("unit_carbon_tonnes")).alias("carbon_tonnes"),
        (pl.col("n") * pl.col("unit_carbon_usd")).alias("carbon_usd"),
        "usd_per_chip_hour", "price_basis",
        pl.when(training).then(0.0).otherwise(pl.col("n") * pl.col("unit_ref"))
        .alias("reference_chips"),
    ).cast({"instances": pl.Int64, "chips": pl.Int64})


def shares_of(assignments: pl.DataFrame, caps: dict[str, float | None]
              ) -> tuple[dict[str, pl.DataFrame], dict[str, float]]:
    """Share of compute spend per provider / chip vendor / ecosystem, and each HHI."""
    total = float(assignments["compute_usd"].sum()) if assignments.height else 0.0
    shares: dict[str, pl.DataFrame] = {}
    hhi: dict[str, float] = {}
    for dim in DIMENSIONS:
        frame = (
            assignments.group_by(dim).agg(pl.col("compute_usd").sum().alias("spend_usd"))
            .rename({dim: "key"})
            .with_columns(
                (pl.col("spend_usd") / total if total > 0 else pl.lit(0.0)).alias("share"),
                pl.lit(caps.get(dim), dtype=pl.Float64).alias("cap"),
            )
            .sort(["spend_usd", "key"], descending=[True, False])
        )
        shares[dim] = frame
        hhi[dim] = float((frame["share"] * 100).pow(2).sum()) if frame.height else 0.0
    return shares, hhi


def part_answer(plan: Plan, candidates: Candidates
                ) -> tuple[tuple[np.ndarray, np.ndarray] | None, dict[str, Any]]:
    """A part's plan as its solver hands it back: its placement (None: no plan), and its
    solver info with its cost."""
    placement = placement_of(plan, candidates) if plan.has_plan else None
    return placement, {**plan.solver, "total_usd": plan.total_usd}


def ports_used(candidates: Candidates, units: np.ndarray) -> pl.DataFrame:
    """The ports a plan needs: those of the rows it uses (each at its first row's price,
    as placer.model buys it)."""
    keys = ["port_key", "port_ecosystem"]
    ports = candidates.rows.filter(pl.col("port_ecosystem").is_not_null()).select(
        *keys, "port_usd").unique(subset=keys, keep="first", maintain_order=True).sort(keys)
    used = candidates.rows.filter(pl.Series(units > 0)).select(keys)
    return ports.join(used.unique(), on=keys)


def placement_of(plan: Plan, candidates: Candidates) -> tuple[np.ndarray, np.ndarray]:
    """Units per candidate row and left-out flags, read back from a plan of `candidates`."""
    rows = candidates.rows.with_row_index("r")
    chosen = plan.assignments.select("workload", "offering", "chips").join(
        rows.select("r", "workload", "offering", "unit_chips"), on=["workload", "offering"])
    units = np.zeros(rows.height, dtype=np.int64)
    units[chosen["r"].to_numpy()] = (chosen["chips"] // chosen["unit_chips"]).to_numpy()
    left_out = candidates.workloads["workload"].is_in(
        plan.unplaced["workload"].implode()).to_numpy()
    return units, left_out


def make_plan(
    candidates: Candidates,
    units: np.ndarray,
    left_out: np.ndarray,
    ports_bought: pl.DataFrame,
    *,
    status: str,
    bound_usd: float | None,
    solver: dict[str, Any],
    pricing: str,
    caps: dict[str, float | None],
    explanation: list[str] | None = None,
    unplaced_reasons: dict[int, str] | None = None,
) -> Plan:
    """Assemble a Plan from the units chosen per candidate row.

    left_out: one bool per workload; ports_bought: port_key, port_ecosystem, port_usd.
    """
    rows, workloads = candidates.rows, candidates.workloads
    assignments = assignments_from_units(rows, units)
    used_ports = (
        assignments.join(rows.select("workload", "offering", "port_key", "port_ecosystem"),
                         on=["workload", "offering"])
        .filter(pl.col("port_ecosystem").is_not_null())
        .group_by("port_key", "port_ecosystem")
        .agg(pl.col("workload").unique().sort().alias("workloads"))
    )
    ports = (
        ports_bought.join(used_ports, on=["port_key", "port_ecosystem"], how="left")
        .select(pl.col("port_key").alias("codebase"), pl.col("port_ecosystem").alias("ecosystem"),
                pl.col("port_usd").alias("usd"),
                pl.col("workloads").fill_null(pl.lit([], dtype=pl.List(pl.String))))
        .sort("codebase", "ecosystem")
    )
    reasons = unplaced_reasons or {}
    out = workloads.with_columns(pl.Series("left_out", left_out)).filter(pl.col("left_out"))
    unplaced = out.select(
        "workload",
        pl.col("value_usd").fill_null(0.0),
        pl.Series("reason", [
            reasons.get(w, f"optional: leaving it out (value ${v:,.0f}) costs less than "
                           "placing it")
            for w, v in zip(out["w"].to_list(), out["value_usd"].fill_null(0).to_list(),
                            strict=True)
        ], dtype=pl.String),
    )
    shares, hhi = shares_of(assignments, caps)
    has_plan = status in ("optimal", "feasible")
    cost = None
    total = None
    gap = None
    if has_plan:
        cost = {
            "compute_usd": float(assignments["compute_usd"].sum()),
            "porting_usd": float(ports["usd"].sum()),
            "egress_usd": float(assignments["egress_usd"].sum()),
            "carbon_usd": float(assignments["carbon_usd"].sum()),
            "unplaced_usd": float(unplaced["value_usd"].sum()),
            "carbon_tonnes": float(assignments["carbon_tonnes"].sum()),
        }
        total = sum(cost[k] for k in COST_TERMS)
        if status == "optimal":
            bound_usd = total
        if bound_usd is not None:
            bound_usd = min(bound_usd, total)
            gap = (total - bound_usd) / total if total > 0 else 0.0
    estimated = sorted(
        f"{o} ({b})" for o, b in assignments.select("offering", "price_basis").unique()
        .filter(pl.col("price_basis") != "list").iter_rows()
    )
    return Plan(
        # where no plan was found in time, the bound still says what any plan costs at least
        status=status, total_usd=total, bound_usd=None if status == "infeasible" else bound_usd,
        gap=gap,
        cost=cost, assignments=assignments.sort("workload", "offering"), ports=ports,
        unplaced=unplaced.sort("workload"), shares=shares, hhi=hhi,
        estimated_prices=estimated, solver=solver, horizon_days=candidates.horizon_days,
        pricing=pricing, explanation=explanation or [],
    )
