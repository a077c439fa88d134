"""Checking plans without the solver.

`check_plan` re-verifies a plan document against the problem and the catalog: every rule
and every cost is recomputed here from the raw figures, independently of the candidate
table, so a mistake there would show. `candidate_violations` checks units chosen per
candidate row (used on warm starts).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from placer.candidates import Candidates
from placer.geo import country_jurisdiction

if TYPE_CHECKING:
    from placer.errors import Issue
    from placer.problem import Problem
    from placer.schema import PlanDocument, Policy

REL_TOL = 1e-6
PUE = 1.2


def _close(a: float, b: float, rel: float = REL_TOL, abs_: float = 0.01) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


@dataclass(frozen=True)
class Violation:
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"


def read_plan(path: str) -> PlanDocument:
    """A plan document from JSON, validated; InputError with lines otherwise."""
    from pydantic import ValidationError

    from placer.io import collection_paused, issues_from_validation, raise_issues, read_document
    from placer.schema import PlanDocument

    doc = read_document(path)
    try:
        with collection_paused():
            return PlanDocument.model_validate(doc.data)
    except ValidationError as exc:
        raise_issues(issues_from_validation(exc, doc))
        raise


def unknown_references(plan: PlanDocument, problem: Problem, file: str | None = None
                       ) -> list[Issue]:
    """Workloads and offerings the plan names that the fleet or the catalog do not have."""
    from placer.errors import Issue

    names = {w.name for w in problem.workloads}
    offerings = set(problem.catalog.offerings["offering"].to_list())
    issues = []
    for i, a in enumerate(plan.assignments):
        if a.workload not in names:
            issues.append(Issue(f"workload '{a.workload}' is not in the fleet", file,
                                f"assignments[{i}].workload"))
        if a.offering not in offerings:
            issues.append(Issue(f"offering '{a.offering}' is not in the catalog", file,
                                f"assignments[{i}].offering"))
    for i, u in enumerate(plan.unplaced):
        if u.workload not in names:
            issues.append(Issue(f"workload '{u.workload}' is not in the fleet", file,
                                f"unplaced[{i}].workload"))
    return issues


def check_plan(plan: PlanDocument, problem: Problem) -> list[Violation]:
    """Every rule the plan breaks and every figure it states wrongly (empty: all good)."""
    out: list[Violation] = []
    if plan.status not in ("optimal", "feasible"):
        if plan.assignments:
            out.append(Violation("status", f"a plan marked {plan.status} lists placements"))
        return out
    offers = {r["offering"]: r for r in problem.catalog.offerings.to_dicts()}
    speeds = {(r["chip"], r["kind"]): r["speed"] for r in problem.catalog.speeds.to_dicts()}
    egress = {r["provider"]: r for r in problem.catalog.egress.to_dicts()}
    workloads = {w.name: w for w in problem.workloads}
    policy = problem.policy
    horizon_hours = 24.0 * problem.horizon_days
    by_workload: dict[str, list[Any]] = defaultdict(list)
    for a in plan.assignments:
        by_workload[a.workload].append(a)
    chips_used: dict[str, int] = defaultdict(int)
    ports_needed: dict[tuple[str, str], float] = {}
    compute_total = egress_total = carbon_usd_total = tonnes_total = 0.0

    for a in plan.assignments:
        where = f"{a.workload} on {a.offering}"
        w = workloads.get(a.workload)
        o = offers.get(a.offering)
        if w is None or o is None:
            continue  # reported as bad input by the caller
        out += _placement_rules(a, w, o, policy, where)
        price = o[policy.pricing]
        speed = w.speed.get(o["chip"], speeds.get((o["chip"], w.kind)))
        if price is None or speed is None:
            continue
        cpi = o["chips_per_instance"]
        if a.chips % cpi:
            out.append(Violation("whole instances",
                                 f"{where}: {a.chips} chips is not whole instances of {cpi}"))
        if w.kind == "training":
            work = w.chip_hours / speed
            days = w.deadline_days or problem.horizon_days
            need = max(w.min_chips or 1, math.ceil(work / (24 * days) - 1e-9),
                       math.ceil((w.memory_gb or 0) / o["hbm_gb"] - 1e-9))
            gang = math.ceil(need / cpi - 1e-9) * cpi
            if a.chips != gang:
                out.append(Violation("chips", f"{where}: the gang needs {gang} chips "
                                     f"(deadline, memory, min_chips), the plan says {a.chips}"))
            chip_hours = work
            if a.hours is None or not _close(a.hours, work / a.chips, 1e-6, 1e-6):
                out.append(Violation("hours", f"{where}: {work / a.chips:.4f} hours, the plan "
                                     f"says {a.hours}"))
        else:
            chip_hours = a.chips * horizon_hours
            served = a.chips * speed
            if a.reference_chips is None or not _close(a.reference_chips, served, 1e-9, 1e-6):
                out.append(Violation("coverage", f"{where}: serves {served:g} H100-equivalents,"
                                     f" the plan says {a.reference_chips}"))
        compute = chip_hours * price
        tonnes = chip_hours * o["tdp_w"] / 1000.0 * PUE * o["grid_gco2_kwh"] / 1e6
        carbon_usd = tonnes * policy.carbon_usd_per_tonne
        fee = _egress(w, o, egress) if w.data else 0.0
        for label, stated, expected in (("compute_usd", a.compute_usd, compute),
                                        ("carbon_tonnes", a.carbon_tonnes, tonnes),
                                        ("carbon_usd", a.carbon_usd, carbon_usd),
                                        ("egress_usd", a.egress_usd, fee)):
            if not _close(stated, expected):
                out.append(Violation("cost", f"{where}: {label} is {expected:,.4f}, the plan "
                                     f"says {stated:,.4f}"))
        if a.usd_per_chip_hour is None or not _close(a.usd_per_chip_hour, price, 1e-9, 1e-9):
            out.append(Violation("cost", f"{where}: price is {price} per chip-hour, the plan "
                                 f"says {a.usd_per_chip_hour}"))
        compute_total += compute
        egress_total += fee
        carbon_usd_total += carbon_usd
        tonnes_total += tonnes
        chips_used[a.offering] += a.chips
        if o["ecosystem"] not in w.runs_on and o["ecosystem"] in w.port_usd:
            ports_needed[(w.codebase or w.name, o["ecosystem"])] = w.port_usd[o["ecosystem"]]

    out += _workload_rules(problem, plan, by_workload, speeds, offers)
    for offering, used in chips_used.items():
        cap = offers[offering]["capacity_chips"]
        if used > cap:
            out.append(Violation("capacity", f"{offering}: {used:,} chips placed, capacity "
                                 f"{cap:,}"))
    stated_ports = {(p.codebase, p.ecosystem): p.usd for p in plan.ports}
    for key, usd in ports_needed.items():
        if key not in stated_ports:
            out.append(Violation("ports", f"codebase {key[0]} runs on {key[1]} but the port "
                                 "is not paid"))
        elif not _close(stated_ports[key], usd):
            out.append(Violation("ports", f"port {key[0]} → {key[1]} costs {usd:,.2f}, the "
                                 f"plan says {stated_ports[key]:,.2f}"))
    for key in stated_ports.keys() - ports_needed.keys():
        out.append(Violation("ports", f"port {key[0]} → {key[1]} is paid but nothing uses it"))
    porting = sum(ports_needed.values())
    unplaced_value = sum(workloads[u.workload].value_usd or 0.0 for u in plan.unplaced
                         if u.workload in workloads)
    out += _share_rules(plan, policy, offers, compute_total)
    if policy.budget_usd is not None:
        cash = compute_total + porting + egress_total
        if cash > policy.budget_usd * (1 + REL_TOL) + 0.01:
            out.append(Violation("budget_usd", f"cash spend {cash:,.2f} is above the budget "
                                 f"{policy.budget_usd:,.2f}"))
    expected_cost = {"compute_usd": compute_total, "porting_usd": porting,
                     "egress_usd": egress_total, "carbon_usd": carbon_usd_total,
                     "unplaced_usd": unplaced_value, "carbon_tonnes": tonnes_total}
    if plan.cost is not None:
        for key, value in expected_cost.items():
            if not _close(getattr(plan.cost, key), value, 1e-6, 0.05):
                out.append(Violation("totals", f"cost.{key} is {value:,.2f}, the plan says "
                                     f"{getattr(plan.cost, key):,.2f}"))
    total = sum(v for k, v in expected_cost.items() if k != "carbon_tonnes")
    if plan.total_usd is None or not _close(plan.total_usd, total, 1e-6, 0.05):
        out.append(Violation("totals", f"total_usd is {total:,.2f}, the plan says "
                             f"{plan.total_usd}"))
    elif plan.bound_usd is not None and plan.bound_usd > plan.total_usd * (1 + 1e-9) + 0.01:
        out.append(Violation("totals", f"bound_usd {plan.bound_usd:,.2f} is above "
                             f"total_usd {plan.total_usd:,.2f}"))
    if plan.status == "optimal" and plan.gap not in (None, 0.0) and plan.gap > 1e-4:
        out.append(Violation("status", f"marked optimal with a gap of {plan.gap:.4%}"))
    return out


def _placement_rules(a: Any, w: Any, o: dict, policy: Policy, where: str) -> list[Violation]:
    out: list[Violation] = []
    for field in ("provider", "region", "chip", "chip_vendor", "ecosystem"):
        if getattr(a, field) != o[field]:
            out.append(Violation("offering", f"{where}: {field} is {o[field]}, the plan says "
                                 f"{getattr(a, field)}"))
    if a.kind != w.kind:
        out.append(Violation("kind", f"{where}: the workload is {w.kind}"))
    if o[policy.pricing] is None:
        out.append(Violation("pricing", f"{where}: not sold {policy.pricing}"))
    for name, selector, want in (("allow", policy.allow, True), ("deny", policy.deny, False)):
        if selector is None:
            continue
        matches = all(_attribute(o, attr) in values for attr, values in selector.items())
        if matches != want:
            out.append(Violation(f"policy.{name}", f"{where}: the offering is "
                                 f"{'not allowed' if want else 'denied'}"))
    if w.residency:
        allowed = set(w.residency)
        if not ({o["jurisdiction"], o["country"], o["region_id"]} & allowed):
            out.append(Violation("residency", f"{where}: {o['country']}/{o['jurisdiction']} is "
                                 f"outside {', '.join(w.residency)}"))
        if w.sovereign:
            homes = {_home(code, o) for code in w.residency}
            if o["provider_home"] not in homes:
                out.append(Violation("sovereign", f"{where}: the provider is headquartered in "
                                     f"{o['provider_home']}"))
    if o["ecosystem"] not in w.runs_on and o["ecosystem"] not in w.port_usd:
        out.append(Violation("ecosystem", f"{where}: runs on {', '.join(w.runs_on)} and has "
                             f"no port to {o['ecosystem']}"))
    if w.kind == "inference" and w.memory_gb is not None and \
            o["chips_per_instance"] * o["hbm_gb"] < w.memory_gb:
        out.append(Violation("memory", f"{where}: an instance holds "
                             f"{o['chips_per_instance'] * o['hbm_gb']:g} GB, the workload "
                             f"needs {w.memory_gb:g}"))
    return out


def _home(code: str, offering: dict) -> str:
    if "/" in code:
        return offering["jurisdiction"] if code == offering["region_id"] else code
    return country_jurisdiction(code) if len(code) == 2 else code


def _attribute(o: dict, attr: str) -> str:
    return o["region_id"] if attr == "region" else o[attr]


def _egress(w: Any, o: dict, rates: dict) -> float:
    provider = w.data.region.split("/")[0]
    if o["region_id"] == w.data.region:
        return 0.0
    rate = rates[provider]
    per_gb = rate["inter_region_usd_per_gb"] if o["provider"] == provider \
        else rate["internet_usd_per_gb"]
    return w.data.tb * 1000.0 * per_gb


def _workload_rules(problem: Problem, plan: PlanDocument, by_workload: dict,
                    speeds: dict, offers: dict) -> list[Violation]:
    out: list[Violation] = []
    unplaced = {u.workload for u in plan.unplaced}
    for w in problem.workloads:
        rows = by_workload.get(w.name, [])
        if w.name in unplaced:
            if w.required:
                out.append(Violation("required", f"{w.name} is required but left out"))
            if rows:
                out.append(Violation("unplaced", f"{w.name} is listed as left out and placed"))
            continue
        if not rows:
            out.append(Violation("placed", f"{w.name} is neither placed nor listed as left "
                                 "out"))
            continue
        if w.kind == "training":
            if len(rows) != 1:
                out.append(Violation("gang", f"{w.name} is a gang and runs on {len(rows)} "
                                     "offerings"))
            continue
        served_by: dict[str, float] = defaultdict(float)
        for a in rows:
            o = offers.get(a.offering)
            if o is None:
                continue
            speed = w.speed.get(o["chip"], speeds.get((o["chip"], "inference"), 0.0))
            served_by[o["provider"]] += a.chips * speed
        served = sum(served_by.values())
        if served < w.chips * (1 - 1e-9):
            out.append(Violation("coverage", f"{w.name} needs {w.chips:g} H100-equivalents, "
                                 f"gets {served:g}"))
        if w.spread is not None:
            if len(served_by) < w.spread.min_providers:
                out.append(Violation("spread", f"{w.name} is served by {len(served_by)} "
                                     f"providers, needs {w.spread.min_providers}"))
            for provider, amount in served_by.items():
                # max_fraction 1 sets no limit: one provider may serve it all, and more.
                if w.spread.max_fraction < 1 and \
                        amount > w.spread.max_fraction * w.chips * (1 + 1e-9):
                    out.append(Violation("spread", f"{w.name}: {provider} serves {amount:g}, "
                                         f"above {w.spread.max_fraction:g} of {w.chips:g}"))
    names = {w.name for w in problem.workloads}
    for name in set(by_workload) | unplaced:
        if name not in names:
            out.append(Violation("workload", f"{name} is not in the fleet"))
    return out


def _share_rules(plan: PlanDocument, policy: Policy, offers: dict,
                 compute_total: float) -> list[Violation]:
    out: list[Violation] = []
    spend: dict[str, dict[str, float]] = {d: defaultdict(float) for d in
                                          ("provider", "chip_vendor", "ecosystem")}
    for a in plan.assignments:
        o = offers.get(a.offering)
        if o is None:
            continue
        for dim in spend:
            spend[dim][o[dim]] += a.compute_usd
    for dim, groups in spend.items():
        cap = getattr(policy.max_share, dim)
        if cap is not None and compute_total > 0:
            for key, value in groups.items():
                if value > cap * compute_total * (1 + REL_TOL) + 0.01:
                    out.append(Violation(f"max_share.{dim}", f"{key} takes "
                                         f"{value / compute_total:.4%} of compute spend, above "
                                         f"{cap:g}"))
        stated = {r.key: r.share for r in plan.shares[dim].rows} if dim in plan.shares else {}
        for key, value in groups.items():
            share = value / compute_total if compute_total > 0 else 0.0
            if key not in stated or not _close(stated[key], share, 1e-6, 1e-6):
                out.append(Violation("shares", f"{dim} {key}: share {share:.6f}, the plan says "
                                     f"{stated.get(key)}"))
    if policy.min_providers is not None:
        used = len(spend["provider"])
        if used < policy.min_providers:
            out.append(Violation("min_providers", f"{used} providers used, "
                                 f"{policy.min_providers} required"))
    return out


def cash_spend(rows: pl.DataFrame, units: np.ndarray) -> float:
    """What a choice of units on candidate rows spends against a budget: compute, the
    egress of each row used, each port its rows need once."""
    used = rows.filter(pl.Series(units > 0))
    ports = used.filter(pl.col("port_ecosystem").is_not_null()).unique(
        ["port_key", "port_ecosystem"])["port_usd"].sum()
    compute = float((used["unit_compute_usd"] * pl.Series(units[units > 0])).sum())
    return compute + float(used["egress_usd"].sum()) + float(ports)


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
    spread = workloads.filter((pl.col("spread_min_providers") > 1)
                              | (pl.col("spread_max_fraction") < 1))
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
    if policy.budget_usd is not None:
        cash = cash_spend(candidates.rows, units)
        if cash > policy.budget_usd * (1 + REL_TOL) + 0.01:
            out.append(f"budget_usd: cash spend {cash:,.2f} above {policy.budget_usd:,.2f}")
    return out
