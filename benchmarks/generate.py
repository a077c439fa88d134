"""Seeded, realistic fleets on the default catalog, for benchmarks.

A mix of training gangs and split inference: EU residency on about a third, ports on
about a fifth, a 40 % provider cap and a 60 % chip-vendor cap, and capacities scaled to
the fleet and tightened on the cheapest offerings so that several fill up.

    python benchmarks/generate.py 1000 --seed 0 --out /tmp/fleet-1k
    placer solve /tmp/fleet-1k/workloads.parquet --policy /tmp/fleet-1k/policy.yaml \
        --catalog /tmp/fleet-1k/catalog
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import yaml

from placer.catalog import default_catalog

ECOSYSTEM_PORTS = ("neuron", "xla", "rocm")
DATA_REGIONS = ("aws/us-east-1", "aws/us-east-2", "gcp/us-central1", "azure/eastus",
                "gcp/europe-west4", "aws/eu-west-1", "ovhcloud/gra")


@dataclass
class Instance:
    """A generated fleet: workloads (as fleet-file records), policy and capacities."""

    workloads: list[dict[str, Any]]
    policy: dict[str, Any]
    capacities: pl.DataFrame  # provider, region, chip, capacity_chips, capacity_basis
    horizon_days: float = 30.0

    def fleet(self) -> dict[str, Any]:
        return {"horizon_days": self.horizon_days, "policy": self.policy,
                "workloads": self.workloads}

    def table(self) -> pl.DataFrame:
        """The workloads as a workloads table (dotted columns, lists joined by `;`)."""
        flat = [_flatten(w) for w in self.workloads]
        columns = sorted({k for row in flat for k in row})
        return pl.DataFrame([{c: row.get(c) for c in columns} for row in flat],
                            infer_schema_length=None)

    def write(self, folder: str | Path) -> Path:
        """workloads.parquet, policy.yaml and catalog/offerings.csv in `folder`."""
        folder = Path(folder)
        (folder / "catalog").mkdir(parents=True, exist_ok=True)
        self.table().write_parquet(folder / "workloads.parquet")
        (folder / "policy.yaml").write_text(yaml.safe_dump(self.policy, sort_keys=False))
        self.capacities.write_csv(folder / "catalog" / "offerings.csv")
        return folder


def _flatten(record: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            for sub, v in value.items():
                out[f"{key}.{sub}"] = v
        elif isinstance(value, list):
            out[key] = ";".join(value)
        else:
            out[key] = value
    return out


def generate(n: int, seed: int = 0, provider_cap: float = 0.4,
             vendor_cap: float = 0.6) -> Instance:
    """A fleet of n workloads. The same n and seed give the same fleet."""
    rng = np.random.default_rng(seed)
    n_codebases = max(3, n // 40)
    codebase_ports = {
        f"cb{k:04d}": {eco: float(rng.integers(2, 25) * 10_000) for eco in ECOSYSTEM_PORTS
                       if rng.random() < 0.6}
        for k in range(n_codebases)
    }
    workloads = []
    for i in range(n):
        training = rng.random() < 0.55
        w: dict[str, Any] = {"name": f"{'train' if training else 'serve'}-{i:06d}",
                             "kind": "training" if training else "inference"}
        if training:
            w["chip_hours"] = float(np.clip(np.round(rng.lognormal(np.log(1500), 1.3)),
                                            50, 200_000))
            deadline = rng.choice([0, 7, 14, 21, 30])
            if deadline:
                w["deadline_days"] = float(deadline)
            if rng.random() < 0.15:
                w["min_chips"] = int(rng.choice([8, 16, 32, 64]))
            if rng.random() < 0.3:
                w["memory_gb"] = float(rng.choice([80, 160, 640, 1280]))
        else:
            w["chips"] = float(np.clip(np.round(rng.lognormal(np.log(3), 1.0) * 2) / 2,
                                       0.5, 128))
            if rng.random() < 0.2:
                w["memory_gb"] = float(rng.choice([40, 80, 160]))
        eco = rng.random()
        if eco < 0.05:
            w["runs_on"] = ["cuda", "xla"]
        elif eco < 0.08:
            w["runs_on"] = ["rocm"]
        place = rng.random()
        if w.get("runs_on") == ["rocm"]:
            pass  # AMD GPUs are scarce in the EU: keep ROCm-only work unrestricted
        elif place < 0.33:
            w["residency"] = ["EU"]
            if rng.random() < 0.08:
                w["sovereign"] = True
        elif place < 0.38:
            w["residency"] = [str(rng.choice(["FR", "NL", "SE", "FI"]))]
        elif place < 0.48:
            w["residency"] = ["US"]
        spreadable = w.get("residency") in (None, ["EU"], ["US"]) and not w.get("sovereign")
        if not training and spreadable and w["chips"] >= 8 and rng.random() < 0.25:
            w["spread"] = {"min_providers": 2, "max_fraction": 0.7}
        size = w.get("chip_hours", w.get("chips", 0) * 720)
        # the big jobs are the ones worth porting: ports on about a fifth, mostly the largest
        if rng.random() < (0.9 if size > 3000 else 0.04):
            cb = f"cb{int(rng.integers(n_codebases)):04d}"
            ports = {e: usd for e, usd in codebase_ports[cb].items()
                     if e not in w.get("runs_on", ["cuda"])}
            if ports:
                w["codebase"] = cb
                w["port_usd"] = ports
        if rng.random() < 0.4:
            w["data"] = {"region": str(rng.choice(DATA_REGIONS)),
                         "tb": float(np.round(rng.lognormal(np.log(5), 1.2), 1))}
        if rng.random() < 0.05:
            w["required"] = False
            scale = w.get("chip_hours", w.get("chips", 1) * 720)
            w["value_usd"] = float(np.round(scale * rng.uniform(1.5, 8), 0))
        workloads.append(w)
    policy = {"pricing": "on_demand",
              "max_share": {"provider": provider_cap, "chip_vendor": vendor_cap}}
    instance = Instance(workloads, policy, _capacities(workloads))
    _give_every_workload_a_candidate(instance)
    return instance


def _give_every_workload_a_candidate(instance: Instance) -> None:
    """Loosen the few random combinations no offering can serve (e.g. rocm + sovereign)."""
    from placer.candidates import build_candidates
    from placer.catalog import load_catalog
    from placer.problem import problem_from_dict

    with tempfile.TemporaryDirectory() as tmp:
        instance.capacities.write_csv(Path(tmp) / "offerings.csv")
        catalog = load_catalog([tmp])
    for fix in (("sovereign", "residency", "memory_gb", "min_chips"), ("runs_on",)):
        funnel = build_candidates(problem_from_dict(instance.fleet(), catalog)).funnel
        for w in funnel.filter(pl.col("capacity") == 0)["w"].to_list():
            for key in fix:
                instance.workloads[w].pop(key, None)
            if "port_usd" in instance.workloads[w] and "runs_on" in fix:
                del instance.workloads[w]["port_usd"]
                instance.workloads[w].pop("codebase", None)
    # a gang still larger than every offering it may use: the nearest offering grows to hold it
    funnel = build_candidates(problem_from_dict(instance.fleet(), catalog)).funnel
    grow = funnel.filter(pl.col("capacity") == 0).group_by("nearest_offering").agg(
        pl.col("nearest_gang").max())
    needs = dict(zip(grow["nearest_offering"].to_list(), grow["nearest_gang"].to_list(),
                     strict=True))
    if needs:
        offering = pl.concat_str("provider", "region", "chip", separator="/")
        instance.capacities = instance.capacities.with_columns(
            pl.max_horizontal("capacity_chips", offering.replace_strict(
                needs, default=0, return_dtype=pl.Int64)).alias("capacity_chips"))
    # a spread rule no provider's instances can keep (8 H100s a provider when 70 % of the
    # demand is 6) makes the fleet infeasible: drop it
    built = build_candidates(problem_from_dict(instance.fleet(), catalog))
    rows = built.rows
    for w in _unspreadable(rows.join(built.workloads.select("w", "demand"), on="w"),
                           instance.workloads):
        del instance.workloads[w]["spread"]
    # an offering must hold the gangs and serving fleets that can run nowhere else
    instances = (built.workloads["demand"].gather(rows["w"]) / rows["unit_ref"] - 1e-9).ceil()
    forced = (
        rows.with_columns(pl.when(pl.col("kind") == "training").then(pl.col("unit_chips"))
                          .otherwise(instances * pl.col("unit_chips")).alias("chips"))
        .filter(pl.col("offering").n_unique().over("w") == 1)
        .group_by("provider", "region", "chip").agg(pl.col("chips").sum().alias("forced"))
    )
    instance.capacities = (
        instance.capacities.join(forced, on=["provider", "region", "chip"], how="left")
        .with_columns(pl.max_horizontal("capacity_chips",
                                        (pl.col("forced").fill_null(0) * 1.25).ceil()
                                        .cast(pl.Int64)).alias("capacity_chips"))
        .drop("forced")
    )


def _unspreadable(rows: pl.DataFrame, workloads: list[dict[str, Any]]) -> list[int]:
    """Workloads whose spread rule cannot hold even alone (rows: candidate rows with the
    workload's demand): per provider, the most one row can serve within max_fraction of
    the demand, summed, falls short of the demand, or too few providers can serve at all.
    (Conservative: a provider might do better by mixing rows.)"""
    spread = pl.DataFrame([
        {"w": i, "fraction": w["spread"].get("max_fraction", 1.0),
         "need": w["spread"].get("min_providers", 1)}
        for i, w in enumerate(workloads) if "spread" in w
    ], schema={"w": pl.Int64, "fraction": pl.Float64, "need": pl.Int64})
    if spread.height == 0:
        return []
    limit = pl.col("fraction") * pl.col("demand")
    per_provider = (
        rows.join(spread, on="w")
        .with_columns((limit / pl.col("unit_ref")).floor().clip(upper_bound=pl.col("max_units"))
                      .alias("most"))
        .group_by("w", "provider")
        .agg((pl.col("most") * pl.col("unit_ref")).max().alias("cover"),
             pl.col("demand").first(), pl.col("need").first())
        .filter(pl.col("cover") > 0)
        .group_by("w")
        .agg(pl.col("cover").sum(), pl.len().alias("providers"), pl.col("demand").first(),
             pl.col("need").first())
    )
    ok = per_provider.filter((pl.col("cover") >= pl.col("demand") - 1e-9)
                             & (pl.col("providers") >= pl.col("need")))["w"]
    return sorted(set(spread["w"].to_list()) - set(ok.to_list()))


def _capacities(workloads: list[dict[str, Any]]) -> pl.DataFrame:
    """Capacities scaled to what each jurisdiction's workloads ask for, with headroom;
    the six cheapest offerings per unit of work get far less, so they fill up."""
    cat = default_catalog()
    offers = cat.offerings.join(
        cat.speeds.filter(pl.col("kind") == "training").select("chip", "speed"), on="chip")
    eu_home = offers.filter(pl.col("provider_home") == "EU")["capacity_chips"].sum()
    demand = {"EU": 0.0, "EU_HOME": 0.0, "ALL": 0.0}
    for w in workloads:
        chips = (w["chip_hours"] / (24 * w.get("deadline_days", 30)) if w["kind"] == "training"
                 else w["chips"])
        demand["ALL"] += chips
        if w.get("residency") and w["residency"] != ["US"]:
            demand["EU"] += chips
            if w.get("sovereign"):
                demand["EU_HOME"] += chips
    capacity = {j: float(offers.filter(pl.col("jurisdiction") == j)["capacity_chips"].sum())
                for j in ("EU", "US", "UK")}
    headroom = 3.0
    eu_scale = headroom * demand["EU"] / capacity["EU"]
    us_scale = headroom * demand["ALL"] / (capacity["US"] + capacity["EU"])
    home_scale = headroom * 2 * demand["EU_HOME"] / float(eu_home)
    scale = (
        pl.when(pl.col("jurisdiction") == "US").then(us_scale)
        .when(pl.col("provider_home") == "EU").then(max(eu_scale, home_scale))
        .otherwise(eu_scale)
    )
    rank = (pl.col("on_demand") / pl.col("speed")).rank("ordinal")
    # alternatives to NVIDIA are what a chip-vendor cap needs: give them room
    room = pl.when(rank <= 6).then(0.15).when(pl.col("chip_vendor") != "nvidia").then(3.0) \
        .otherwise(1.0)
    return offers.select(
        "provider", "region", "chip",
        (pl.col("capacity_chips") * scale * room)
        .ceil().cast(pl.Int64).clip(lower_bound=pl.col("chips_per_instance"))
        .alias("capacity_chips"),
        pl.lit("user").alias("capacity_basis"),
    ).sort("provider", "region", "chip")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, help="number of workloads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="folder to write into")
    args = parser.parse_args()
    folder = generate(args.n, args.seed).write(args.out)
    print(f"wrote {folder}/workloads.parquet, policy.yaml, catalog/offerings.csv")


if __name__ == "__main__":
    main()
