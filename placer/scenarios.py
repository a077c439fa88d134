"""Comparing strategies: scenario overlays, exit cost, the share frontier and break-even
prices. Each is a set of independent solves, run in a local process pool by default or
on a Ray cluster, with the same deterministic settings whichever runs them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import TypeAdapter, ValidationError

from placer.candidates import selector_expr
from placer.errors import InputError, Issue, fail
from placer.io import Document, issues_from_validation, raise_issues, read_document
from placer.plan import Plan
from placer.problem import KNOWN_FIELDS, Problem, load
from placer.schema import (
    PRICINGS,
    Policy,
    PriceFactor,
    Scenario,
    ScenariosFile,
    Workload,
)
from placer.solve import SolveOptions, solve

BACKENDS = ("pool", "ray", "serial")
Progress = Callable[[int, int], None]  # (done, total)


# ---------------------------------------------------------------------------
# Scenario files and overlays


def _merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Deep merge for mappings (max_share: {provider: 0.4} keeps chip_vendor)."""
    out = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def apply_scenario(problem: Problem, scenario: Scenario) -> Problem:
    """The base problem with one scenario's overlays applied (to the base alone)."""
    offerings = problem.catalog.offerings
    if scenario.only is not None:
        offerings = offerings.filter(selector_expr(scenario.only))
    if scenario.deny is not None:
        offerings = offerings.filter(~selector_expr(scenario.deny))
    for factor in scenario.price or []:
        offerings = _scale_prices(offerings, factor)
    changes: dict[str, Any] = {"catalog": problem.catalog.with_offerings(offerings)}
    vocab = problem.catalog.vocab
    if scenario.policy is not None:
        merged = _merge(problem.policy.model_dump(exclude_none=True), scenario.policy)
        changes["policy"] = Policy.model_validate(merged, context={"vocab": vocab})
    if scenario.workloads is not None:
        overlay = scenario.workloads.model_dump(exclude_none=True)
        adapter = TypeAdapter(Workload)
        changes["workloads"] = tuple(
            adapter.validate_python(w.model_dump() | overlay, context={"vocab": vocab})
            for w in problem.workloads
        )
    if scenario.horizon_days is not None:
        changes["horizon_days"] = scenario.horizon_days
    return problem.replace(**changes)


def _scale_prices(offerings: pl.DataFrame, factor: PriceFactor) -> pl.DataFrame:
    column, value = next((k, v) for k, v in factor if k != "factor" and v is not None)
    match = pl.col("region_id" if column == "region" else column) == value
    return offerings.with_columns(
        pl.when(match).then(pl.col(p) * factor.factor).otherwise(pl.col(p)).alias(p)
        for p in PRICINGS
    )


@dataclass(frozen=True)
class Variants:
    """The base problem and each scenario's problem, in file order (base first)."""

    names: list[str]
    problems: list[Problem]
    file: str


def load_scenarios(path: str | Path, catalog: Sequence[str | Path] | None = None) -> Variants:
    """Read a scenarios file; every overlay validated against the base's catalog."""
    doc = read_document(path)
    if not isinstance(doc.data, dict):
        raise fail("expected a mapping with base and scenarios", file=doc.file,
                   line=doc.line(()))
    try:
        spec = ScenariosFile.model_validate(doc.data)
    except ValidationError as exc:
        raise_issues(issues_from_validation(exc, doc, known_fields=KNOWN_FIELDS | {
            "base", "scenarios", "only", "price", "factor", "catalog", "name"}))
        raise
    folder = Path(path).resolve().parent
    bases = [spec.base] if isinstance(spec.base, str) else spec.base
    dirs = catalog or ([] if spec.catalog is None else
                       [folder / c for c in ([spec.catalog] if isinstance(spec.catalog, str)
                                             else spec.catalog)])
    problem = load(*[folder / b for b in bases],
                   policy=None if spec.policy is None else folder / spec.policy,
                   catalog=list(dirs) if dirs else None)
    names, problems, issues = ["base"], [problem], []
    for i, scenario in enumerate(spec.scenarios):
        if scenario.name in names:
            issues.append(Issue(f"scenario name '{scenario.name}' is used twice", doc.file,
                                f"scenarios[{i}].name", doc.line(("scenarios", i, "name"))))
            continue
        try:
            names.append(scenario.name)
            problems.append(apply_scenario(problem, _checked(scenario, problem, doc, i)))
        except ValidationError as exc:
            issues += issues_from_validation(exc, doc, ("scenarios", i),
                                             known_fields=KNOWN_FIELDS)
        except InputError as exc:
            issues += exc.issues
    raise_issues(issues)
    return Variants(names, problems, doc.file)


def _checked(scenario: Scenario, problem: Problem, doc: Document, i: int) -> Scenario:
    """The scenario re-validated with the catalog's names (unknown providers etc.)."""
    data = doc.data["scenarios"][i]
    return Scenario.model_validate(data, context={"vocab": problem.catalog.vocab})


# ---------------------------------------------------------------------------
# Running many solves


def _solve_one(args: tuple[Problem, SolveOptions]) -> Plan:
    problem, options = args
    return solve(problem, time_limit=options.time_limit, workers=options.workers,
                 seed=options.seed, gap=options.gap, deterministic=options.deterministic,
                 hint=options.hint, explain=options.explain)


def sweep_options(time_limit: float = 60.0, workers: int | None = 1, seed: int = 0,
                  gap: float | None = None) -> SolveOptions:
    """Options for sweeps: one solver worker per solve, as many solves at once as cores."""
    return SolveOptions(time_limit=time_limit, workers=workers, seed=seed, gap=gap)


def run_many(problems: Sequence[Problem], options: SolveOptions, backend: str = "pool",
             jobs: int | None = None, progress: Progress | None = None,
             ray_address: str | None = None,
             stop_after: Callable[[Plan], bool] | None = None) -> list[Plan | None]:
    """Solve every problem; results in input order, identical whichever backend runs them.

    stop_after(plan): when true for the plan of problem i, the problems after i are not
    needed (their result is None); those not yet started are cancelled.
    """
    if backend not in BACKENDS:
        raise InputError(f"--backend must be one of {', '.join(BACKENDS)}, got '{backend}'")
    tasks = [(p, options) for p in problems]
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, len(tasks))

    results: list[Plan | None] = []
    if backend == "serial" or len(tasks) <= 1 or jobs == 1:
        for task in tasks:
            if results and stop_after is not None and results[-1] is not None \
                    and stop_after(results[-1]):
                results.append(None)
                continue
            results.append(_solve_one(task))
            tick()
        return _after_stop(results, stop_after)
    if backend == "ray":
        return _after_stop(_run_ray(tasks, tick, ray_address), stop_after)
    workers = jobs or min(len(tasks), os.cpu_count() or 1)
    # spawn, not fork: the solver starts threads, and forking a threaded process is unsafe
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_solve_one, task) for task in tasks]
        for i, future in enumerate(futures):
            plan = future.result()
            results.append(plan)
            tick()
            if stop_after is not None and stop_after(plan):
                for later in futures[i + 1:]:
                    later.cancel()
                results += [None] * (len(futures) - i - 1)
                break
    return _after_stop(results, stop_after)


def _after_stop(results: list[Plan | None], stop_after: Callable[[Plan], bool] | None
                ) -> list[Plan | None]:
    """Results after the first stopping plan are dropped, whatever ran them (so that
    every backend returns the same)."""
    if stop_after is None:
        return results
    for i, plan in enumerate(results):
        if plan is not None and stop_after(plan):
            return results[: i + 1] + [None] * (len(results) - i - 1)
    return results


def _run_ray(tasks: list[tuple[Problem, SolveOptions]], tick: Callable[[], None],
             address: str | None) -> list[Plan]:
    try:
        import ray
    except ImportError:
        raise InputError("--backend ray needs Ray: pip install 'placer[ray]'") from None
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 ignore_reinit_error=True)
    remote = ray.remote(_solve_one)
    refs = [remote.remote(task) for task in tasks]
    results = []
    for ref in refs:
        results.append(ray.get(ref))
        tick()
    return results


# ---------------------------------------------------------------------------
# Compare


def eu_share(plan: Plan) -> float:
    """Share of compute spend placed in EU jurisdictions."""
    total = float(plan.assignments["compute_usd"].sum()) if plan.assignments.height else 0.0
    if total <= 0:
        return 0.0
    eu = plan.assignments.filter(pl.col("jurisdiction") == "EU")["compute_usd"].sum()
    return float(eu) / total


def placement_changes(base: Plan, other: Plan, top: int = 3) -> list[str]:
    """The largest moves of work against the base: 'w: A → B (+$x)'."""
    def by_workload(plan: Plan) -> dict[str, tuple[str, float]]:
        frame = plan.assignments.group_by("workload").agg(
            pl.col("offering").sort().str.join(" + "),
            (pl.col("compute_usd") + pl.col("egress_usd")).sum().alias("usd"))
        return {w: (o, u) for w, o, u in frame.iter_rows()}

    a, b = by_workload(base), by_workload(other)
    moves = []
    for workload in sorted(set(a) | set(b)):
        before = a.get(workload, ("left out", 0.0))
        after = b.get(workload, ("left out", 0.0))
        if before[0] != after[0]:
            moves.append((abs(after[1] - before[1]), workload, before, after))
    moves.sort(key=lambda m: (-m[0], m[1]))
    return [f"{w}: {x[0]} → {y[0]} ({y[1] - x[1]:+,.0f} USD)" for _, w, x, y in moves[:top]]


@dataclass
class Comparison:
    """One row per scenario (base first) and each scenario's plan."""

    table: pl.DataFrame
    plans: dict[str, Plan]

    def to_list(self) -> list[dict[str, Any]]:
        """The JSON document: a list, base first, each with its plan."""
        out = []
        for row in self.table.to_dicts():
            plan = self.plans[row["name"]]
            out.append({**row, "shares": plan.to_dict()["shares"], "plan": plan.to_dict()})
        return out


def compare_plans(names: Sequence[str], plans: Sequence[Plan]) -> Comparison:
    """The comparison table for plans solved from the base and its scenarios."""
    base = plans[0]
    rows = []
    for name, plan in zip(names, plans, strict=True):
        cost = plan.cost or {}
        top = plan.shares["provider"].row(0, named=True) if plan.has_plan and \
            plan.shares["provider"].height else None
        rows.append({
            "name": name,
            "status": plan.status,
            "total_usd": plan.total_usd,
            "delta_usd": None if plan.total_usd is None or base.total_usd is None
            else plan.total_usd - base.total_usd,
            "gap": plan.gap,
            **{k: cost.get(k) for k in ("compute_usd", "porting_usd", "egress_usd",
                                        "carbon_usd", "unplaced_usd")},
            "carbon_tonnes": cost.get("carbon_tonnes"),
            "top_provider": None if top is None else top["key"],
            "top_provider_share": None if top is None else top["share"],
            "hhi_provider": plan.hhi.get("provider") if plan.has_plan else None,
            "hhi_chip_vendor": plan.hhi.get("chip_vendor") if plan.has_plan else None,
            "hhi_ecosystem": plan.hhi.get("ecosystem") if plan.has_plan else None,
            "eu_share": eu_share(plan) if plan.has_plan else None,
            "changes": "" if name == "base" or not plan.has_plan or not base.has_plan
            else "; ".join(placement_changes(base, plan)),
            "explanation": "; ".join(plan.explanation),
        })
    return Comparison(pl.DataFrame(rows, infer_schema_length=None),
                      dict(zip(names, plans, strict=True)))


def compare(variants: Variants | str | Path, options: SolveOptions | None = None,
            backend: str = "pool", jobs: int | None = None, progress: Progress | None = None,
            ray_address: str | None = None) -> Comparison:
    """Solve the base and every scenario (a scenarios file or loaded Variants); one row each."""
    if isinstance(variants, str | Path):
        variants = load_scenarios(variants)
    plans = run_many(variants.problems, options or sweep_options(), backend, jobs, progress,
                     ray_address)
    return compare_plans(variants.names, plans)


# ---------------------------------------------------------------------------
# Exit cost


def exit_costs(problem: Problem, plan: Plan, dims: Sequence[str] = ("provider", "chip_vendor"),
               options: SolveOptions | None = None, backend: str = "pool",
               jobs: int | None = None, progress: Progress | None = None,
               ray_address: str | None = None) -> pl.DataFrame:
    """For each provider (and chip vendor) the plan uses: the extra cost of re-placing its
    work if it became unavailable, found by solving again without it."""
    from placer.schema import Selector

    keys = [(dim, key, share) for dim in dims
            for key, share in plan.shares[dim].select("key", "share").iter_rows()]
    problems = [apply_scenario(problem, Scenario(name=f"without-{key}",
                                                 deny=Selector(**{dim: [key]})))
                for dim, key, _ in keys]
    plans = run_many(problems, options or sweep_options(), backend, jobs, progress,
                     ray_address)
    return pl.DataFrame([
        {"dimension": dim, "key": key, "share": share, "status": p.status,
         "total_without_usd": p.total_usd,
         "exit_cost_usd": None if p.total_usd is None or plan.total_usd is None
         else p.total_usd - plan.total_usd}
        for (dim, key, share), p in zip(keys, plans, strict=True)
    ], schema={"dimension": pl.String, "key": pl.String, "share": pl.Float64,
               "status": pl.String, "total_without_usd": pl.Float64,
               "exit_cost_usd": pl.Float64})


# ---------------------------------------------------------------------------
# Frontier


def frontier(problem: Problem, by: str = "provider", step: float = 0.05,
             options: SolveOptions | None = None, backend: str = "pool",
             jobs: int | None = None, progress: Progress | None = None,
             ray_address: str | None = None) -> pl.DataFrame:
    """The cost of every level of the largest allowed share for one dimension, from the
    loosest cap (none) down to the tightest feasible one.

    Costs never decrease as the cap tightens: a plan found under a tighter cap also keeps
    every looser one, so a looser level whose search ended higher takes the tighter plan.
    """
    if by not in ("provider", "chip_vendor", "ecosystem"):
        raise InputError(f"--by must be provider, chip_vendor or ecosystem, got '{by}'")
    if not 0 < step < 1:
        raise InputError(f"--step must be between 0 and 1, got {step:g}")
    def with_cap(cap: float | None) -> Problem:
        return problem.replace(policy=problem.policy.with_cap(by, cap))

    opts = replace(options or sweep_options(), explain=False)
    uncapped = run_many([with_cap(None)], opts, backend, jobs, None, ray_address)[0]
    largest = _largest(uncapped, by)
    # levels above the uncapped plan's largest share change nothing: start below it
    levels = [round(1 - k * step, 6) for k in range(1, math.ceil(1 / step))]
    levels = [c for c in levels if largest is not None and c < largest - 1e-9]
    # every cap tighter than an infeasible one is infeasible too
    plans = [uncapped, *run_many([with_cap(c) for c in levels], opts, backend, jobs, progress,
                                 ray_address, stop_after=lambda p: p.status == "infeasible")]
    rows = []
    for cap, plan in zip([1.0, *levels], plans, strict=True):
        if plan is None:
            break
        rows.append({"cap": cap, "status": plan.status, "total_usd": plan.total_usd,
                     "largest_share": _largest(plan, by), "gap": plan.gap, "from_cap": None})
    # monotone: a tighter level's plan is valid for every looser level
    best: dict | None = None
    for row in reversed(rows):
        if row["total_usd"] is None:
            continue
        if best is not None and row["total_usd"] > best["total_usd"] + 1e-6:
            row.update(total_usd=best["total_usd"], largest_share=best["largest_share"],
                       from_cap=best["cap"])
        elif best is None or row["total_usd"] <= best["total_usd"]:
            best = dict(row)
    base = rows[0]["total_usd"]
    for row in rows:
        row["delta_usd"] = None if row["total_usd"] is None or base is None \
            else row["total_usd"] - base
    return pl.DataFrame(rows, schema={"cap": pl.Float64, "status": pl.String,
                                      "total_usd": pl.Float64, "largest_share": pl.Float64,
                                      "gap": pl.Float64, "from_cap": pl.Float64,
                                      "delta_usd": pl.Float64})


def _largest(plan: Plan | None, by: str) -> float | None:
    if plan is None or not plan.has_plan or plan.shares[by].height == 0:
        return None
    return float(plan.shares[by]["share"].max())


# ---------------------------------------------------------------------------
# Break-even


@dataclass(frozen=True)
class Breakeven:
    chip: str
    offerings: list[str]
    reference_offering: str
    current_price: float         # USD per chip-hour of the reference offering
    breakeven_price: float | None
    factor: float | None         # breakeven / current
    direction: str               # "starts winning below" | "stops winning above"
    chip_hours_at_breakeven: float
    spend_share_at_breakeven: float
    workloads_at_breakeven: list[str]
    tolerance: float
    solves: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def breakeven(problem: Problem, chip: str | None = None, offering: str | None = None,
              tolerance: float = 0.01, options: SolveOptions | None = None,
              max_factor: float = 64.0) -> Breakeven:
    """The price per chip-hour at which a chip starts (or stops) winning work in this fleet,
    by bisection over re-solves. Every offering of the chip (or the one offering given)
    is scaled by the same factor; prices are quoted for the cheapest of them."""
    from placer.candidates import priced_offerings

    offers = problem.catalog.offerings
    usable = priced_offerings(problem).filter(pl.col("policy_ok") & pl.col("pricing_ok"))
    if chip is not None:
        if chip not in problem.catalog.vocab.chips:
            raise InputError(f"--chip: unknown chip '{chip}'")
        targets = usable.filter(pl.col("chip") == chip)
    elif offering is not None:
        if offering not in problem.catalog.vocab.offerings:
            raise InputError(f"--offering: unknown offering '{offering}'")
        targets = usable.filter(pl.col("offering") == offering)
        chip = offering.split("/")[-1]
    else:
        raise InputError("give --chip or --offering")
    pricing = problem.policy.pricing
    if targets.height == 0:
        raise InputError(f"{chip}: no offering the policy allows is sold {pricing}")
    ids = targets["offering"].to_list()
    reference = targets.sort(pricing).row(0, named=True)
    price0 = float(reference[pricing])
    opts = options or SolveOptions(time_limit=60.0)
    solves = 0

    def placed(factor: float) -> tuple[float, float, list[str]]:
        nonlocal solves
        solves += 1
        scaled = offers.with_columns(
            pl.when(pl.col("offering").is_in(ids)).then(pl.col(p) * factor)
            .otherwise(pl.col(p)).alias(p) for p in PRICINGS)
        # a probe without a plan places nothing: why is not asked (an explanation may
        # take up to EXPLAIN_BUDGET_S)
        plan = solve(problem.replace(catalog=problem.catalog.with_offerings(scaled)),
                     time_limit=opts.time_limit, workers=opts.workers, seed=opts.seed,
                     gap=opts.gap, explain=False)
        if not plan.has_plan:
            return 0.0, 0.0, []
        mine = plan.assignments.filter(pl.col("offering").is_in(ids))
        hours = float((mine["chips"] * mine["hours"].fill_null(0)).sum())
        total = float(plan.assignments["compute_usd"].sum()) or 1.0
        return hours, float(mine["compute_usd"].sum()) / total, \
            sorted(set(mine["workload"].to_list()))

    now = placed(1.0)
    step = tolerance / price0  # the tolerance, as a factor
    if now[0] > 0:  # wins at today's price: find where it stops
        direction = "stops winning above"
        lo, hi = 1.0, 2.0
        while placed(hi)[0] > 0:
            lo, hi = hi, hi * 2
            if hi > max_factor:
                return _breakeven_result(chip, ids, reference, price0, None, direction,
                                         now, tolerance, solves)
    else:  # wins nothing today: find where it starts
        direction = "starts winning below"
        lo, hi = step, 1.0
        if placed(step)[0] <= 0:
            return _breakeven_result(chip, ids, reference, price0, None, direction, now,
                                     tolerance, solves)
    # the chip wins work at price factor lo and none at hi
    while hi - lo > step:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if placed(mid)[0] > 0 else (lo, mid)
    at = placed(lo)
    return _breakeven_result(chip, ids, reference, price0, lo, direction, at, tolerance,
                             solves)


def _breakeven_result(chip: str, ids: list[str], reference: dict, price0: float,
                      factor: float | None, direction: str,
                      at: tuple[float, float, list[str]], tolerance: float,
                      solves: int) -> Breakeven:
    return Breakeven(
        chip=chip, offerings=ids, reference_offering=reference["offering"],
        current_price=price0,
        breakeven_price=None if factor is None else round(price0 * factor, 6),
        factor=None if factor is None else round(factor, 6), direction=direction,
        chip_hours_at_breakeven=at[0], spend_share_at_breakeven=at[1],
        workloads_at_breakeven=at[2], tolerance=tolerance, solves=solves,
    )


def variants_from(problem: Problem, scenarios: Sequence[Scenario]) -> Variants:
    """Variants for a problem already loaded (Python use: placer.compare)."""
    return Variants(["base", *[s.name for s in scenarios]],
                    [problem, *[apply_scenario(problem, s) for s in scenarios]], "<python>")


__all__ = ["Breakeven", "Comparison", "Variants", "apply_scenario", "breakeven", "compare",
           "compare_plans", "exit_costs", "frontier", "load_scenarios", "run_many",
           "sweep_options", "variants_from"]
