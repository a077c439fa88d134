"""Why there is no plan, in the user's terms.

Three kinds of reason, cheapest first:
- a workload has no candidate at all: the funnel says which rule removed the last
  offering (residency, ecosystem, memory, capacity, ...);
- a workload cannot be served on its own: its spread needs more providers than its
  candidates have, or its offerings' capacity cannot cover its demand;
- the workloads each fit, but the rules cannot all hold together: CP-SAT assumptions find
  a small set of rules (capacity of named offerings, a lock-in cap, min_providers, budget,
  a workload's spread), reduced to a minimal set; for each, re-solves find how far it
  would have to move for a plan to exist.

On fleet-sized models CP-SAT finds no such set in its time (1,000 workloads: its first
search, 10 s at most, ended undecided), while HiGHS proves their LP relaxation
infeasible in a third of a second. There, first, counting may show a share cap or
min_providers no plan can keep (policy_reasons), and capacity alone (placer.capacity)
may name the offerings in conflict and the workloads that can run only on them, each in
a fraction of a second even at 100,000 workloads (capacity_shortfall); else the LP finds
the set (lp_infeasible_core) and how far each rule must move at least; CP-SAT only where
the LP has a solution (a conflict of whole instances or gangs alone).
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import polars as pl
from ortools.sat.python import cp_model

from placer.candidates import STAGES, Candidates
from placer.schema import DIMENSIONS

if TYPE_CHECKING:
    from placer.plan import Plan
    from placer.schema import Policy
    from placer.spend import SpendLP, Violation

EXPLAIN_BUDGET_S = 30.0
# Whether one relaxed rule is enough is asked of the solve for this long at most, and it
# stops at its first plan: a gap of 99 % is met by any plan above its bound's 1 %.
FEASIBLE_S = 5.0
FIRST_PLAN_GAP = 0.99
# Above this many candidate rows the LP looks for the rules in conflict first, CP-SAT
# after it (below, CP-SAT first: its set is minimal and its relaxations exact). A
# 1,000-workload fleet has about 30,000 rows, a 100-workload one 3,000.
LP_FIRST_ABOVE_ROWS = 5_000
# Up to this many candidate rows, a capacity conflict's floors are also the whole LP's
# (_lp_capacity_floor), often far higher than capacity alone's where the caps bind too
# (1,000 sovereign workloads, 30,000 rows: 1,317 chips against 28 for one offering; about
# 0.6 s an offering); above, capacity alone's (10,000: 8.5 s an offering for the LP).
WHOLE_LP_FLOORS_UP_TO_ROWS = 50_000
# How far a capacity's relaxation is looked for (the ceiling): this many times it, or
# this many of its instances more, whichever is more.
CEILING_TIMES = 16
CEILING_INSTANCES = 64
# Rebuild the candidate table with other capacities (rows can appear when capacity grows).
Rebuild = Callable[[dict[str, int]], Candidates]
# Where the search found no plan in its time, a share cap the LP relaxation allows only
# within this many hundredths above the least share it can keep is named: few plans keep
# such a cap (100 workloads at a 20 % provider cap, seed 11: no plan keeps 0.19 by the LP,
# and none is found in 10 s, one in 60 s; seed 2, the same, had none in 60 s before the
# search for a first plan, solve._first_plan).
EDGE_HUNDREDTHS = 5


def _stage_label(stage: str, workload: dict, pricing: str) -> str:
    if stage == "policy":
        return "policy allow/deny"
    if stage == "pricing":
        return f"sold {pricing}"
    if stage == "residency":
        return f"residency {workload['residency_codes']}"
    if stage == "sovereign":
        return "sovereign (provider headquartered in an allowed jurisdiction)"
    if stage == "ecosystem":
        return f"ecosystem {workload['runs_on_codes']} (or a port_usd entry)"
    if stage == "memory":
        return f"memory {workload['memory_gb']:,.0f} GB per instance"
    return "capacity"


def no_candidate_reasons(candidates: Candidates, pricing: str = "on_demand") -> dict[int, str]:
    """For each workload without any candidate: which rules removed every offering."""
    funnel = candidates.funnel.filter(pl.col(STAGES[-1]) == 0)
    if funnel.height == 0:
        return {}
    workloads = candidates.workloads.select("w", "kind", "runs_on_codes", "residency_codes",
                                            "memory_gb", "chip_hours", "demand")
    reasons: dict[int, str] = {}
    for row in funnel.join(workloads, on="w").iter_rows(named=True):
        steps = []
        before = row["offerings"]
        for stage in STAGES:
            after = row[stage]
            if after != before:
                steps.append(f"{_stage_label(stage, row, pricing)} leaves {after}")
            before = after
            if after == 0:
                break
        text = (f"{row['workload']}: no offering passes its rules — of {row['offerings']} "
                f"offerings, " + ", ".join(steps)) if steps else \
            f"{row['workload']}: no offering passes its rules — the catalog has none"
        if row["capacity"] == 0 and row["memory"] > 0:
            if row["kind"] == "training":
                text += (f": the gang is larger than the capacity of each of the "
                         f"{row['memory']}; nearest: {row['nearest_offering']} holds "
                         f"{row['nearest_capacity']:,} chips, the gang needs "
                         f"{row['nearest_gang']:,} there")
            else:
                text += (f": the largest capacity among the {row['memory']} holds no whole "
                         "instance")
        elif row["memory"] == 0 and row["ecosystem"] > 0 and row["memory_chips_min"]:
            text += (f": one instance must hold {row['memory_gb']:,.0f} GB, which needs "
                     f"{row['memory_chips_min']:,.0f} chips on the largest-memory chip")
        reasons[row["w"]] = text
    return reasons


def lone_workload_reasons(candidates: Candidates) -> dict[int, str]:
    """Workloads that have candidates but cannot be served even alone: spread beyond their
    providers, or demand beyond their offerings' capacity."""
    rows = candidates.rows.filter(pl.col("kind") == "inference")
    if rows.height == 0:
        return {}
    per_provider = rows.group_by("w", "provider").agg(
        (pl.col("max_units") * pl.col("unit_ref")).sum().alias("most"))
    work = candidates.workloads.filter(pl.col("kind") == "inference").select(
        "w", "workload", "demand", "spread_min_providers", "spread_max_fraction", "required")
    summary = per_provider.join(work, on="w").with_columns(
        pl.min_horizontal("most", pl.col("spread_max_fraction") * pl.col("demand"))
        .alias("capped")
    ).group_by("w", "workload", "demand", "spread_min_providers", "spread_max_fraction",
               "required").agg(pl.len().alias("providers"), pl.col("capped").sum())
    reasons: dict[int, str] = {}
    for r in summary.filter(pl.col("required")).iter_rows(named=True):
        if r["providers"] < r["spread_min_providers"]:
            reasons[r["w"]] = (
                f"{r['workload']}: spread needs {r['spread_min_providers']} providers but its "
                f"candidates come from {r['providers']} (residency, ecosystem and capacity "
                "leave no more)")
        elif r["capped"] < r["demand"] * (1 - 1e-9):
            limit = ("" if r["spread_max_fraction"] >= 1 else
                     f" with no provider above {r['spread_max_fraction']:g}")
            reasons[r["w"]] = (
                f"{r['workload']}: needs {r['demand']:g} H100-equivalents; its offerings can "
                f"serve at most {r['capped']:,.3g}{limit} (whole instances within capacity)")
    return reasons


def policy_reasons(candidates: Candidates, policy: Policy) -> list[str]:
    """Rules of the policy no plan can keep whatever it places, told by counting: a share
    cap below one over the number of groups the candidates fall in (their shares add up
    to all the spend, which is positive where a required workload has only priced
    rows), or min_providers above the providers they come from."""
    from placer.model import cap_fraction

    capped = [dim for dim in DIMENSIONS if getattr(policy.max_share, dim) is not None]
    if not capped and not policy.min_providers:
        return []
    rows = candidates.rows
    workloads = candidates.workloads
    required = np.zeros(workloads.height, dtype=bool)
    required[workloads["w"].to_numpy()] = workloads["required"].to_numpy()
    w = rows["w"].to_numpy()
    unpriced = np.bincount(w, weights=(rows["unit_compute_usd"].to_numpy() <= 0) * 1.0,
                           minlength=len(required))
    has_rows = np.bincount(w, minlength=len(required)) > 0
    priced = bool((required & has_rows & (unpriced == 0)).any())
    reasons = []
    for dim in capped if priced else []:
        share = getattr(policy.max_share, dim)
        groups = rows[dim].unique().sort().to_list()
        cap = cap_fraction(share)
        if len(groups) * cap.numerator < cap.denominator:
            least = math.ceil(10_000 / len(groups)) / 10_000
            most = len(groups) * share * 100
            reasons.append(
                f"max_share.{dim} {share:g} leaves no plan: the candidates come from "
                f"{_counted(groups, _PLURAL[dim])}, so at most {most:.3g} % of the spend "
                f"can be placed; raise it to at least {least:g}, or allow more "
                f"{_PLURAL[dim]}")
    providers = rows["provider"].unique().sort().to_list() if policy.min_providers else []
    if policy.min_providers and policy.min_providers > len(providers) and required.any():
        reasons.append(f"min_providers {policy.min_providers} leaves no plan: the candidates "
                       f"come from {_counted(providers, 'providers')}; lower it to "
                       f"{len(providers)} or fewer, or allow more providers")
    return reasons


_PLURAL = {"provider": "providers", "chip_vendor": "chip vendors", "ecosystem": "ecosystems"}


def _counted(names: list[str], plural: str) -> str:
    """'3 providers (a, b, c)', the first five named."""
    shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
    return f"{len(names)} {plural} ({shown})" if len(names) != 1 else \
        f"one {plural.removesuffix('s')} ({shown})"


def _rule_text(name: str, candidates: Candidates, policy: Policy) -> str:
    kind, _, subject = name.partition(":")
    if kind == "capacity":
        cap = candidates.offerings.filter(pl.col("offering") == subject)["capacity_chips"]
        return f"capacity of {subject} ({cap.item():,} chips)"
    if kind == "spread":
        w = candidates.workloads.filter(pl.col("workload") == subject).row(0, named=True)
        return (f"spread of {subject} (min_providers {w['spread_min_providers']}, "
                f"max_fraction {w['spread_max_fraction']:g})")
    if kind.startswith("max_share."):
        dim = kind.split(".", 1)[1]
        return f"max_share.{dim} {getattr(policy.max_share, dim):g}"
    if kind == "min_providers":
        return f"min_providers {policy.min_providers}"
    if kind == "budget_usd":
        return f"budget_usd {policy.budget_usd:,.0f}"
    return name


Verdict = TypeVar("Verdict")


class _Clock:
    """The explanation's time, and whether a question asked in it went unanswered (a
    search or an LP that ended without a verdict): then "not enough" is not known.
    `check_s`: how long one check by a solve may take (_feasible)."""

    def __init__(self, budget: float) -> None:
        self.budget = budget
        self.deadline = time.perf_counter() + budget
        self.unanswered = False
        self.named_open = False  # a move named values its checks left open (_Least.claim)
        self.plan: Plan | None = None  # the plan the last check by a solve found (_feasible)
        self.check_s = FEASIBLE_S
        # the checks that had a verdict, by what they asked (_check_key): asked again,
        # they are answered at once (a second pass over the moves, explain_infeasible)
        self.verdicts: dict[tuple[Any, ...], tuple[bool, Plan | None]] = {}

    def answer(self, verdict: Verdict) -> Verdict:
        self.unanswered = self.unanswered or verdict is None
        return verdict

    def left(self, cap: float = 10.0) -> float:
        return max(0.0, min(cap, self.deadline - time.perf_counter()))

    @contextmanager
    def only(self, seconds: float) -> Iterator[None]:
        """Within the block, `seconds` from now at most, and a check may take all of it."""
        deadline, check_s = self.deadline, self.check_s
        self.deadline = min(deadline, time.perf_counter() + seconds)
        self.check_s = math.inf
        try:
            yield
        finally:
            self.deadline, self.check_s = deadline, check_s

    def remembering(self, feasible: Feasible) -> Feasible:
        """`feasible`, its verdicts kept: a check asked again is answered from them (and
        the plan it found is the clock's again), one that had none is asked again."""
        def checked(candidates: Candidates, policy: Policy, clock: _Clock) -> bool | None:
            key = _check_key(candidates, policy)
            if key in self.verdicts:
                verdict, self.plan = self.verdicts[key]
                return verdict
            verdict = feasible(candidates, policy, clock)
            if verdict is not None:
                self.verdicts[key] = (verdict, self.plan)
            return verdict

        return checked


def _check_key(candidates: Candidates, policy: Policy) -> tuple[Any, ...]:
    """What a check asks: the policy, and what a move may change in the candidate table
    (capacities, spread rules; rows that a capacity adds come with it)."""
    spread = candidates.workloads.select("spread_min_providers", "spread_max_fraction")
    return (policy.model_dump_json(), candidates.rows.height,
            candidates.offerings["capacity_chips"].to_numpy().tobytes(),
            spread.to_numpy().tobytes())


def infeasible_core(candidates: Candidates, policy: Policy,
                    time_limit: float = EXPLAIN_BUDGET_S) -> list[str] | None:
    """A minimal set of rule names that cannot hold together (None if none was found): the
    set CP-SAT's assumptions name, then a deletion filter. Each smaller set is asked of its
    LP first, where no solution means no plan (0.03-0.06 s, CP-SAT 0.5-0.9 s), and of
    CP-SAT only where the LP has one: the seed-14 fleet under 20 % / 50 % caps, 3 searches
    rather than 13, 3.0 s rather than 7.3 s."""
    from placer.model import build_model
    from placer.relax import lp_has_solution

    clock = _Clock(time_limit)
    built = build_model(candidates, policy, explain=True)
    rules = built.rule_literals
    if not rules:
        return None
    literals = {lit: name for name, lit in rules.items()}

    def infeasible_with(names: list[str]) -> tuple[bool | None, list[str]]:
        proto = built.builder.proto
        proto.assumptions.clear()
        proto.assumptions.extend([rules[n] for n in names])
        solver = cp_model.CpSolver()
        solver.parameters.num_workers = 1
        solver.parameters.linearization_level = 2
        solver.parameters.max_time_in_seconds = max(clock.left(), 0.05)
        status = solver.solve(built.model)
        if status == cp_model.INFEASIBLE:
            return True, [literals[lit] for lit in
                          solver.sufficient_assumptions_for_infeasibility() if lit in literals]
        return (False if status in (cp_model.OPTIMAL, cp_model.FEASIBLE) else None), []

    rule_of_row = np.asarray(built.builder.row_rule, dtype=np.int64)

    def lp_rules_out(names: list[str]) -> bool:
        rows = _rows_under(rule_of_row, [rules[n] for n in names])
        return lp_has_solution(built.builder, rows, clock.left()) is False

    infeasible, core = infeasible_with(sorted(rules))
    if not infeasible:
        return None
    minimal = core or sorted(rules)
    for name in list(minimal):  # deletion filter: drop what the conflict does not need
        if clock.left() <= 0:
            break
        if name not in minimal:
            continue  # dropped already, with a smaller set CP-SAT found
        trial = [n for n in minimal if n != name]
        if lp_rules_out(trial):
            minimal = trial
            continue
        still, smaller = infeasible_with(trial)
        if still:
            minimal = [n for n in trial if n in smaller] or trial
    return minimal


def _rows_under(rule_of_row: np.ndarray, rules: np.ndarray | list[int]) -> np.ndarray:
    """The model's rows that always hold or that one of `rules` (their literals) enforces."""
    return np.flatnonzero((rule_of_row < 0) | np.isin(rule_of_row, rules))


def lp_infeasible_core(candidates: Candidates, policy: Policy,
                       time_limit: float = EXPLAIN_BUDGET_S) -> list[str] | None:
    """A set of rule names whose LP relaxation has no solution (so neither has the
    model), minimal as far as the LP tells (a smaller set may still have no plan of whole
    instances); None when the LP of every rule has one, or time ran out first. Narrowed
    to the rules the least violation of them all prices, then a deletion filter, one LP
    each."""
    from placer.model import build_model
    from placer.relax import lp_has_solution, rows_in_conflict

    clock = _Clock(time_limit)
    built = build_model(candidates, policy, explain=True)
    rule_of_row = np.asarray(built.builder.row_rule, dtype=np.int64)
    names = {lit: name for name, lit in built.rule_literals.items()}

    def infeasible_with(rules: np.ndarray) -> bool | None:
        if clock.left() <= 0:
            return None
        has = lp_has_solution(built.builder, _rows_under(rule_of_row, rules), clock.left())
        return None if has is None else not has

    core = np.array(sorted(names), dtype=np.int64)
    if infeasible_with(core) is not True:
        return None
    priced = rows_in_conflict(built.builder, _rows_under(rule_of_row, core),
                              np.flatnonzero(rule_of_row >= 0), clock.left())
    if priced is not None:
        narrowed = np.unique(rule_of_row[priced])
        if len(narrowed) < len(core) and infeasible_with(narrowed) is True:
            core = narrowed
    # deletion filter: drop what the conflict does not need, first each kind of rule
    # whole (a fleet's many spread rules in one LP), then one rule at a time
    kind = np.array([names[rule].partition(":")[0] for rule in core.tolist()])
    for each in sorted(set(kind.tolist())):
        trial = core[kind != each]
        if len(trial) and infeasible_with(trial) is True:
            core, kind = trial, kind[kind != each]
    for rule in core.tolist():
        trial = core[core != rule]
        if infeasible_with(trial) is True:
            core = trial
    return sorted(names[rule] for rule in core.tolist())


def _feasible(candidates: Candidates, policy: Policy, clock: _Clock) -> bool | None:
    """Whether any plan keeps every rule (None when not decided in the time left): by the
    solve itself, stopped at its first plan (FIRST_PLAN_GAP). Its checks and LP prove most
    "no" at once, and its warm start, column generation and first-plan search find the
    "yes" that CP-SAT alone misses: on the 100-workload fleet of seed 14 under 20 % / 50 %
    caps, CP-SAT on the model with no objective decided none of eleven caps in 5 s each
    (and the explanation said no single cap was enough), the solve each in 0.1-2.4 s."""
    from placer.solve import SolveOptions, solve_built_candidates

    seconds = clock.left(clock.check_s)
    if seconds <= 0:
        return clock.answer(None)
    # in one piece: this route is for small models (up to LP_FIRST_ABOVE_ROWS rows)
    plan = solve_built_candidates(candidates, policy, SolveOptions(
        time_limit=seconds, gap=FIRST_PLAN_GAP, explain=False, in_parts=False))
    clock.plan = plan if plan.has_plan else None
    return clock.answer(_verdict(plan))


def _verdict(plan: Plan) -> bool | None:
    """A solve's answer to whether any plan exists: yes, no (proven), or not known."""
    return True if plan.has_plan else (False if plan.status == "infeasible" else None)


def _lp_feasible(candidates: Candidates, policy: Policy, clock: _Clock) -> bool | None:
    """Whether the LP relaxation of the model has a solution (None when not decided in
    the time left): where it has none, neither has the model."""
    from placer.model import build_model
    from placer.relax import lp_has_solution

    if clock.left() <= 0:
        return clock.answer(None)
    built = build_model(candidates, policy)
    return clock.answer(lp_has_solution(built.builder, None, clock.left()))


# What a move says of the values its checks left open.
OPEN = "was not decided in its time"


@dataclass(frozen=True)
class _Least:
    """What a search over a rule's moves found: the least move shown to work and, where a
    check of a smaller move ended without a verdict, the open moves between it and the
    largest shown not to work, the one nearest the rule first (their answers are not
    known)."""

    value: Any
    undecided: tuple[Any, Any] | None = None

    def claim(self, at_least: bool, show: Callable[[Any], str], clock: _Clock
              ) -> tuple[Any, str]:
        """The value a move names, and what it says after it: where checks ended without
        a verdict, which (and the clock's `named_open` says so); by the LP (`at_least`)
        the move named is then the open one nearest the rule, since the LP only ruled out
        the moves smaller than it."""
        if self.undecided is None:
            return self.value, ""
        clock.named_open = True
        first = self.undecided[0]  # the open value nearest the rule
        low, high = sorted(self.undecided)
        span = show(low) if low == high else f"{show(low)} to {show(high)}"
        if at_least:
            return first, f" (by the LP {show(self.value)} is enough; whether {span} is {OPEN})"
        return self.value, f" (whether {span} is enough {OPEN})"


def _smallest(values: list, works: Callable[[Any], bool | None],
              shown: Callable[[], int | None] | None = None) -> _Least | None:
    """The first value for which works() is True, by bisection over an increasing list
    (None when even the last fails or is not decided). Where a check ends without a
    verdict, the bisection stops there with the least value shown to work so far.
    `shown`, asked after works() said True: the index of the first value the plan it
    found keeps as well (a plan found under a 0.5 cap whose largest share is 0.41 keeps
    0.41), which the bisection then takes as its upper end."""

    def upper(index: int, lo: int) -> int:
        seen = shown() if shown is not None else None
        return index if seen is None else max(lo + 1, min(index, seen))

    if not values or works(values[-1]) is not True:
        return None
    lo = -1
    hi = upper(len(values) - 1, lo)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        result = works(values[mid])
        if result is None:
            return _Least(values[hi], (values[lo + 1], values[hi - 1]))
        if result:
            hi = upper(mid, lo)
        else:
            lo = mid
    return _Least(values[hi])


def _first_that_works(values: list, works: Callable[[Any], bool | None]) -> _Least | None:
    """The first value for which works() is True, each asked in turn (the value nearest
    the rule first); the values asked since the last one shown not to work whose checks
    ended without a verdict are left open (one that does not work shows that none nearer
    the rule does)."""
    undecided: list[Any] = []
    for value in values:
        verdict = works(value)
        if verdict:
            return _Least(value, (undecided[0], undecided[-1]) if undecided else None)
        undecided = [*undecided, value] if verdict is None else []
    return None


def _cap_kept(plan: Plan | None, dim: str, grid: list[float]) -> int | None:
    """The index of the first cap in `grid` that `plan` keeps in `dim`, or None (no plan,
    or none kept). A share within a millionth under a cap counts as over it: the model
    counts spend in whole units of money, the plan's shares in dollars."""
    if plan is None:
        return None
    shares = plan.shares.get(dim)
    largest = float(shares["share"].max()) if shares is not None and shares.height else 0.0
    index = bisect.bisect_left(grid, largest + 1e-6)
    return index if index < len(grid) else None


# Whether a plan (or, for the LP, a solution of the relaxation) exists in the time left
Feasible = Callable[[Candidates, "Policy", _Clock], "bool | None"]


def _suggest_once(rule: str, candidates: Candidates, policy: Policy,
                  rebuild: Rebuild | None, clock: _Clock, feasible: Feasible,
                  by_lp: bool) -> tuple[str | None, bool]:
    """_suggest, and whether it is left open: a check of it ended without a verdict
    and no move was found, or the move names values left open (a check without a
    verdict nearer the rule than one that does not work is not: lowering min_providers
    from 5, no verdict for 4 and none keeps 3). The clock's `unanswered` keeps it."""
    before, clock.unanswered, clock.named_open = clock.unanswered, False, False
    hint = _suggest(rule, candidates, policy, rebuild, clock, feasible, at_least=by_lp)
    still_open = clock.unanswered and (hint is None or clock.named_open)
    clock.unanswered = before or still_open
    return hint, still_open


def _suggest(rule: str, candidates: Candidates, policy: Policy,
             rebuild: Rebuild | None, clock: _Clock, feasible: Feasible,
             at_least: bool) -> str | None:
    """How far one rule would have to move, others kept, for `feasible` to hold;
    `at_least`: feasible is the LP's, so the move found is a floor."""
    kind, _, subject = rule.partition(":")
    least, most = (" at least", " or fewer") if at_least else ("", "")
    if kind.startswith("max_share."):
        dim = kind.split(".", 1)[1]
        cap = getattr(policy.max_share, dim)
        grid = [round(c / 100, 2) for c in range(math.floor(cap * 100) + 1, 101)]

        def with_cap(c: object) -> bool | None:
            return feasible(candidates, policy.with_cap(dim, float(c)), clock)

        found = _smallest(grid, with_cap, lambda: _cap_kept(clock.plan, dim, grid))
        if found is None:
            return None
        share, note = found.claim(at_least, lambda c: f"{c:g}", clock)
        return f"raise max_share.{dim} from {cap:g} to{least} {share:g}{note}"
    if kind == "min_providers":
        found = _first_that_works(
            list(range(policy.min_providers - 1, 0, -1)),
            lambda k: feasible(candidates, policy.model_copy(update={"min_providers": k}),
                               clock))
        if found is None:
            return None
        providers, note = found.claim(at_least, str, clock)
        return f"lower min_providers from {policy.min_providers} to {providers}{most}{note}"
    if kind == "budget_usd":
        return _budget_needed(candidates, policy, clock)
    if kind == "capacity":
        if at_least:
            return _capacity_floor(subject, candidates, policy, rebuild, clock)
        return _capacity_needed(subject, candidates, policy, rebuild, clock, feasible, least)
    if kind == "spread":
        return _spread_needed(subject, candidates, policy, clock, feasible, least, most)
    return None


def _budget_needed(candidates: Candidates, policy: Policy, clock: _Clock) -> str | None:
    from placer.solve import SolveOptions, solve_built_candidates

    seconds = clock.left(10.0)
    if seconds <= 0:
        return clock.answer(None)
    plan = solve_built_candidates(candidates, policy.model_copy(update={"budget_usd": None}),
                                  SolveOptions(time_limit=seconds, explain=False))
    if not plan.has_plan or plan.cost is None:
        clock.answer(_verdict(plan))
        return None
    cash = plan.cost["compute_usd"] + plan.cost["porting_usd"] + plan.cost["egress_usd"]
    word = "to" if plan.status == "optimal" else "to at most"
    return f"raise budget_usd from {policy.budget_usd:,.0f} {word} {math.ceil(cash):,}"


def _capacity_range(offering: str, candidates: Candidates) -> tuple[int, int, int]:
    """The offering's capacity now, the step its rows' instances take and how far a
    relaxation of it is looked for (the ceiling)."""
    return _capacity_ranges([offering], candidates)[offering]


def _capacity_ranges(offerings: list[str], candidates: Candidates
                     ) -> dict[str, tuple[int, int, int]]:
    """_capacity_range of each offering, in one pass over the rows."""
    mine = pl.col("offering").is_in(offerings)
    current = dict(candidates.offerings.filter(mine)
                   .select("offering", "capacity_chips").iter_rows())
    steps = dict(candidates.rows.filter(mine).group_by("offering")
                 .agg(pl.col("chips_per_instance").min()).iter_rows())
    ranges = {}
    for offering in offerings:
        now, step = int(current[offering]), max(1, int(steps.get(offering) or 1))
        ranges[offering] = (now, step, max(now * CEILING_TIMES, now + CEILING_INSTANCES * step))
    return ranges


def _with_capacity(offering: str, capacity: int, candidates: Candidates,
                   rebuild: Rebuild | None) -> Candidates:
    """The candidate table with the offering's capacity set: rebuilt where it can be
    (rows can appear when capacity grows), else the same rows."""
    if rebuild is not None:
        return rebuild({offering: capacity})
    return replace(candidates, offerings=candidates.offerings.with_columns(
        pl.when(pl.col("offering") == offering).then(pl.lit(capacity))
        .otherwise(pl.col("capacity_chips")).alias("capacity_chips")))


def _capacity_needed(offering: str, candidates: Candidates, policy: Policy,
                     rebuild: Rebuild | None, clock: _Clock, feasible: Feasible,
                     least: str) -> str | None:
    current, step, ceiling = _capacity_range(offering, candidates)

    def with_capacity(cap: object) -> bool | None:
        return feasible(_with_capacity(offering, int(cap), candidates, rebuild), policy, clock)

    # capacities a multiple of its instances' chips: whole instances fill no others
    first = (current // step + 1) * step
    found = _smallest(list(range(first, ceiling + 1, step)), with_capacity)
    if found is None:
        return None
    chips, note = found.claim(bool(least), lambda c: f"{int(c):,}", clock)
    return (f"add{least} {int(chips) - current:,} chips to {offering} "
            f"({current:,} → {int(chips):,}){note}")


def _capacity_floor(offering: str, candidates: Candidates, policy: Policy,
                    rebuild: Rebuild | None, clock: _Clock) -> str | None:
    """_lp_capacity_floor, in words."""
    current, _, _ = _capacity_range(offering, candidates)
    more = _lp_capacity_floor(offering, candidates, policy, rebuild, clock)
    return None if more is None else _add_at_least(offering, current, more)


def _add_at_least(offering: str, current: int, more: int) -> str:
    chips = "chip" if more == 1 else "chips"
    return f"add at least {more:,} {chips} to {offering} ({current:,} → {current + more:,})"


def _lp_capacity_floor(offering: str, candidates: Candidates, policy: Policy,
                       rebuild: Rebuild | None, clock: _Clock) -> int | None:
    """The fewest chips the offering's capacity must grow by, others kept, for the LP to
    have a solution: one LP of the table rebuilt at _capacity_needed's ceiling (every row
    the offering could then have) with only the offering's capacity now violable. A
    floor for the model: at any capacity up to the ceiling its table's LP is a
    restriction of that one (bisection by LPs took 12 s an offering at 1,000 workloads,
    this about 1 s)."""
    from placer.model import build_model
    from placer.relax import violation_needed

    current, _, ceiling = _capacity_range(offering, candidates)
    if clock.left() <= 0:
        return None
    table = _with_capacity(offering, ceiling, candidates, rebuild)
    built = build_model(table, policy)
    on_it = np.flatnonzero((table.rows["offering"] == offering).to_numpy())
    # its capacity now, as one more row (the model's own, at the ceiling, is looser)
    chips = table.rows["unit_chips"].to_numpy()[on_it]
    built.builder.add_linear(built.units[on_it], chips, 0, current)
    row = len(built.builder.rows) - 1
    needed = clock.answer(violation_needed(built.builder, row, clock.left()))
    if needed is None or needed > ceiling - current:
        return None
    return _whole_chips(current + needed, current, chips)


def _whole_chips(target: float, current: int, chips: np.ndarray) -> int:
    """The fewest chips to add to a capacity of `current` for whole placements of the
    offering's rows (`chips` each) to fill `target` chips: the model counts capacity as
    the chips they can fill, a multiple of their greatest common divisor
    (model.fillable_capacity)."""
    divisor = int(np.gcd.reduce(chips.astype(np.int64))) if len(chips) else 1
    return max(0, math.ceil((target - 1e-6) / divisor) * divisor - current)


def capacity_shortfall(candidates: Candidates, policy: Policy, rebuild: Rebuild | None,
                       clock: _Clock) -> list[str] | None:
    """Where capacity alone rules out a plan (placer.capacity): the offerings in
    conflict, the workloads that can run only on them, and how far each offering must
    grow at least; None where capacity alone leaves room."""
    from placer.capacity import capacity_lp, offerings_in_conflict

    lp = capacity_lp(candidates)
    names = candidates.offerings["offering"].to_list()
    conflict = offerings_in_conflict(lp, sorted(range(len(names)), key=names.__getitem__))
    if conflict is None:
        return None
    chosen = sorted(names[o] for o in np.flatnonzero(conflict).tolist())
    ids = [w for k in np.flatnonzero(lp.confined_to(conflict)) for w in lp.members[k]]
    mine = candidates.workloads.filter(pl.col("w").is_in(ids))
    confined = sorted(mine["workload"].to_list())
    shown = ", ".join(confined[:3]) + (f" and {len(confined) - 3:,} more"
                                       if len(confined) > 3 else "") + _their_rules(mine)
    lines = [
        "capacity alone rules out a plan (the LP of capacity and demand has no solution, "
        f"every cap, spread and budget aside): the {len(confined):,} workloads that can "
        f"run only on these offerings ({shown}) need more than they hold: "
        + "; ".join(_rule_text(f"capacity:{name}", candidates, policy) for name in chosen)]
    ranges = _capacity_ranges(chosen, candidates)
    floors = _capacity_floors(ranges, candidates, policy, rebuild, clock)
    found = [_add_at_least(name, ranges[name][0], more) for name, more in floors.items()
             if more is not None]
    beyond = [name for name, more in floors.items() if more is None]
    others = _no_growth_within_reach(beyond)
    if found:
        lines.append("relaxing one of them alone takes, by the LP: " + "; or ".join(found)
                     + (f"; {others}" if beyond else ""))
    else:
        lines.append(f"relaxing one of them alone, by the LP: {others}")
    return lines


def spend_shortfall(candidates: Candidates, policy: Policy, rebuild: Rebuild | None,
                    clock: _Clock, found: Violation | None = None) -> list[str] | None:
    """Where the LP of capacity, the caps and the budget (placer.spend) rules out a plan:
    a set of its rules that cannot hold together, minimal where time allows, and how far
    each must move at least, every other rule kept; None where it has a solution. The
    caps' moves come first, the set after them: at 10,000 workloads each LP takes 1-4 s,
    and the set alone may take the explanation's time. `found`: the LP's least violation
    of every rule, where the solve has it (at 100,000 workloads that LP takes over a
    minute, more than the explanation's time)."""
    from placer.spend import OutOfTime, least_violation, limits_spend, rules_in_conflict, spend_lp

    if not limits_spend(policy):
        return None  # capacity alone's, which capacity_shortfall has told
    lp = replace(spend_lp(candidates, policy), deadline=clock.deadline)
    try:
        found = found if found is not None else least_violation(lp, set(lp.rules()))
    except OutOfTime:
        return None
    if not found.broken:
        return None
    moves = [move for rule in found.priced if rule.startswith("max_share.")
             if (move := _cap_move(lp, rule, policy, clock)) is not None]
    core = rules_in_conflict(lp, deadline=clock.deadline, found=found) or []
    # the deletion filter stops where time runs out: the set may not be minimal then
    unsure = "" if clock.left() > 0 else \
        f" (fewer may be enough: they were not narrowed further within {clock.budget:g} s)"
    moves += _spend_moves(core, candidates, policy, rebuild, clock)
    lines = ["these rules cannot all hold together (the LP of demand, capacity, the caps "
             "and the budget has no solution, spread, ports and whole instances aside): "
             + "; ".join(_rule_text(name, candidates, policy) for name in core) + unsure]
    if moves:
        lines.append("relaxing one of them alone takes, by the LP: " + "; or ".join(moves))
    elif clock.left() <= 0:
        lines.append(f"(no relaxation was tried to the end within {clock.budget:g} s)")
    else:
        lines.append("relaxing any single one of them alone is not enough")
    return lines


def _cap_move(lp: SpendLP, rule: str, policy: Policy, clock: _Clock) -> str | None:
    """The least share, in hundredths, at which placer.spend's LP holds with this cap
    raised and every other rule kept (None where none does, or time runs out)."""
    from placer.spend import OutOfTime, least_violation, violated, with_cap

    rules = set(lp.rules())
    dim = rule.removeprefix("max_share.")
    cap = getattr(policy.max_share, dim)
    try:
        # with the cap switched off, the largest share a group takes in the LP's
        # solution is one at which it holds: none above need be tried
        free = least_violation(lp, rules - {rule})
        if free.broken:
            return None  # no share of this cap alone is enough
        grid = [round(c / 100, 2) for c in range(
            math.floor(cap * 100) + 1, min(100, math.ceil(free.shares[dim] * 100)) + 1)]
        share = _smallest(grid, lambda c: not violated(with_cap(lp, dim, float(c)), rules))
    except OutOfTime:
        return None
    # every check here has a verdict (out of time raises)
    return None if share is None else \
        f"raise max_share.{dim} from {cap:g} to at least {share.value:g}"


def _spend_moves(core: list[str], candidates: Candidates, policy: Policy,
                 rebuild: Rebuild | None, clock: _Clock) -> list[str]:
    """Per capacity and budget rule of a conflict of placer.spend's LP, the least move
    that lets the LP of every rule hold, the others kept (a floor for the model's: rows
    that appear as capacity grows only make room), while time lasts."""
    from placer.spend import OutOfTime, growth_needed, spend_lp

    offerings = [name.removeprefix("capacity:") for name in core
                 if name.startswith("capacity:")]
    if clock.left() <= 0 or (not offerings and "budget_usd" not in core):
        return []
    ranges = _capacity_ranges(offerings, candidates)
    table = _rows_at_ceilings(ranges, candidates, rebuild)
    lp = replace(spend_lp(table, policy), deadline=clock.deadline)
    rules = set(lp.rules())
    moves, beyond = [], []
    for name in [rule for rule in core if rule == "budget_usd"] + \
            [f"capacity:{offering}" for offering in offerings]:
        try:
            needed = growth_needed(lp, rules, name)
        except OutOfTime:
            break
        if name == "budget_usd":
            more = needed / lp.scale
            if math.isfinite(more):
                moves.append(f"raise budget_usd from {policy.budget_usd:,.0f} to at least "
                             f"{math.ceil(policy.budget_usd + more):,}")
            continue
        offering = name.removeprefix("capacity:")
        current, _, ceiling = ranges[offering]
        at = lp.offerings.index(offering)
        chips = table.rows.filter(pl.col("offering") == offering)["unit_chips"].to_numpy()
        more = _whole_chips(lp.capacity[at] + needed, current, chips) \
            if math.isfinite(needed) else None
        if more is not None and more <= ceiling - current:
            moves.append(_add_at_least(offering, current, more))
        else:
            beyond.append(offering)
    if beyond:
        moves.append(_no_growth_within_reach(beyond))
    return moves


def _rows_at_ceilings(ranges: dict[str, tuple[int, int, int]], candidates: Candidates,
                      rebuild: Rebuild | None) -> Candidates:
    """The table with every offering of `ranges` (_capacity_ranges) given the rows it
    would have at its ceiling (rebuilt, where it can be), its capacity held at today's:
    an LP of it makes at least the room any capacity up to the ceilings would."""
    table = rebuild({name: ceiling for name, (_, _, ceiling) in ranges.items()}) \
        if rebuild is not None and ranges else candidates
    now = {name: current for name, (current, _, _) in ranges.items()}
    return replace(table, offerings=table.offerings.with_columns(
        pl.col("offering").replace_strict(now, default=pl.col("capacity_chips"),
                                          return_dtype=pl.Int64).alias("capacity_chips")))


def _no_growth_within_reach(offerings: list[str]) -> str:
    return f"no growth up to {CEILING_TIMES} times its capacity (or {CEILING_INSTANCES} " \
        f"instances more) is enough for {', '.join(offerings)}"


def _their_rules(workloads: pl.DataFrame) -> str:
    """Which of their own rules keep workloads on few offerings: how many must be
    sovereign, and their most common residencies."""
    parts = []
    sovereign = int(workloads["sovereign"].sum())
    if sovereign:
        parts.append(f"{sovereign:,} sovereign")
    residency = (workloads.drop_nulls("residency_codes").group_by("residency_codes").len()
                 .sort(["len", "residency_codes"], descending=[True, False]).head(3))
    parts += [f"residency {code}: {n:,}" for code, n in residency.iter_rows()]
    return f"; their rules: {', '.join(parts)}" if parts else ""


def _capacity_floors(ranges: dict[str, tuple[int, int, int]], candidates: Candidates,
                     policy: Policy, rebuild: Rebuild | None, clock: _Clock
                     ) -> dict[str, int | None]:
    """Per offering of a capacity conflict (its _capacity_ranges), the fewest chips its
    capacity must grow by, the others kept: by capacity alone (the table rebuilt at
    every one's ceiling, each held at its capacity now but the one that grows), and by
    the whole LP (_lp_capacity_floor) up to WHOLE_LP_FLOORS_UP_TO_ROWS, the larger of
    the two; None where neither found one up to its ceiling."""
    from placer.capacity import capacity_lp, growth_needed

    chosen = list(ranges)
    table = _rows_at_ceilings(ranges, candidates, rebuild)
    lp = capacity_lp(table)
    names = table.offerings["offering"].to_list()
    conflict = np.isin(np.array(names), chosen)
    chips_of = dict(table.rows.filter(pl.col("offering").is_in(chosen)).group_by("offering")
                    .agg(pl.col("unit_chips").unique()).iter_rows())
    floors: dict[str, int | None] = {}
    for name in chosen:
        current, _, ceiling = ranges[name]
        at = names.index(name)
        needed = growth_needed(lp, conflict, at)  # beyond the chips it can fill now
        more = _whole_chips(lp.capacity[at] + needed, current,
                            np.asarray(chips_of.get(name, []), dtype=np.int64)) \
            if math.isfinite(needed) else None
        found = [more] if more is not None and more <= ceiling - current else []
        if candidates.rows.height <= WHOLE_LP_FLOORS_UP_TO_ROWS:
            whole = _lp_capacity_floor(name, candidates, policy, rebuild, clock)
            found += [whole] if whole is not None else []
        floors[name] = max(found) if found else None
    return floors


def _spread_needed(workload: str, candidates: Candidates, policy: Policy,
                   clock: _Clock, feasible: Feasible, least: str, most: str) -> str | None:
    w = candidates.workloads.filter(pl.col("workload") == workload).row(0, named=True)

    def with_spread(min_providers: int, fraction: float) -> bool | None:
        table = replace(candidates, workloads=candidates.workloads.with_columns(
            pl.when(pl.col("workload") == workload).then(pl.lit(min_providers))
            .otherwise(pl.col("spread_min_providers")).alias("spread_min_providers"),
            pl.when(pl.col("workload") == workload).then(pl.lit(fraction))
            .otherwise(pl.col("spread_max_fraction")).alias("spread_max_fraction")))
        return feasible(table, policy, clock)

    mp, mf = w["spread_min_providers"], w["spread_max_fraction"]
    fewer = _first_that_works(list(range(mp - 1, 0, -1)), lambda k: with_spread(k, mf))
    if fewer is not None:
        providers, note = fewer.claim(bool(least), str, clock)
        return (f"lower spread.min_providers of {workload} from {mp} to {providers}{most}"
                f"{note}")
    grid = [round(c / 100, 2) for c in range(math.floor(mf * 100) + 1, 101)]
    found = _smallest(grid, lambda f: with_spread(mp, float(f)))
    if found is None:
        return None
    fraction, note = found.claim(bool(least), lambda f: f"{f:g}", clock)
    return f"raise spread.max_fraction of {workload} from {mf:g} to{least} {fraction:g}{note}"


def caps_at_the_edge(candidates: Candidates, policy: Policy,
                     budget_s: float = EXPLAIN_BUDGET_S) -> list[str]:
    """Where the search found no plan in its time and none is proven impossible: each
    share cap at which the LP relaxation (above LP_FIRST_ABOVE_ROWS candidate rows,
    placer.spend's LP of capacity, the caps and the budget) has no solution some
    hundredths below it, within EDGE_HUNDREDTHS; the highest such share, so that no plan
    keeps that share or less. One LP per hundredth, the nearest first, while time lasts."""
    from placer.spend import OutOfTime, spend_lp, violated, with_cap

    caps = {dim: cap for dim in DIMENSIONS if (cap := getattr(policy.max_share, dim)) is not None}
    if not caps:
        return []
    clock = _Clock(budget_s)
    large = candidates.rows.height > LP_FIRST_ABOVE_ROWS
    lp = replace(spend_lp(candidates, policy), deadline=clock.deadline) if large else None
    by = "the LP of capacity, the caps and the budget" if large else "the LP relaxation"

    def lp_holds(dim: str, share: float) -> bool | None:
        if lp is not None:
            try:
                return not violated(with_cap(lp, dim, share), set(lp.rules()))
            except OutOfTime:
                return None
        return _lp_feasible(candidates, policy.with_cap(dim, share), clock)

    lines = []
    for dim, cap in caps.items():
        below = math.ceil(round(cap * 100, 6)) - 1  # the first hundredth under the cap
        edge = None  # the highest share tried at which the LP has no solution
        for hundredths in range(below, max(0, below - EDGE_HUNDREDTHS), -1):
            holds = lp_holds(dim, hundredths / 100)
            if holds is None:
                break
            if not holds:  # nor at any lower share
                edge = hundredths / 100
                break
        if edge is not None:
            lines.append(
                f"max_share.{dim} {cap:g} leaves little room: by {by} no plan keeps it at "
                f"{edge:g} or less, so few plans (if any) keep {cap:g}, and they are hard to "
                f"find; a higher cap, or more time, may find one")
    return lines


def explain_infeasible(candidates: Candidates, policy: Policy,
                       rebuild: Rebuild | None = None,
                       budget_s: float = EXPLAIN_BUDGET_S,
                       spend: Violation | None = None) -> list[str]:
    """Sentences saying which rules cannot hold together and how to relax each. `spend`:
    placer.spend's least violation, where the solve proved no plan exists by it."""
    lone = lone_workload_reasons(candidates)
    if lone:
        return list(lone.values())
    clock = _Clock(budget_s)
    finders = (infeasible_core, lp_infeasible_core)
    if candidates.rows.height > LP_FIRST_ABOVE_ROWS:
        # on large models the counting and capacity's LP, at once; below, CP-SAT's exact
        # figures ("raise max_share.provider from 0.3 to 0.51", where counting says 0.5)
        counted = policy_reasons(candidates, policy)
        if counted:
            return counted
        short = capacity_shortfall(candidates, policy, rebuild, clock)
        if short is None:
            short = spend_shortfall(candidates, policy, rebuild, clock, found=spend)
        if short is not None:
            return short
        finders = finders[::-1]
    core = None
    for find in finders:  # each gets half the time left
        if clock.left() <= 0:
            break  # not a model built for no time (100,000 workloads: gigabytes)
        core = find(candidates, policy, time_limit=clock.left(budget_s) * 0.5)
        if core is not None:
            break
    by_lp = find is lp_infeasible_core
    if core is None:
        return ["no plan keeps every rule, and no smaller set of rules could be singled out "
                f"within {budget_s:g} s; every workload has candidates, so the conflict is "
                "among them as a whole"]
    if not core:
        return ["no plan exists even with every capacity, cap, spread, min_providers and "
                "budget rule switched off"]
    lines = [("these rules cannot all hold together (their LP relaxation has no solution): "
              if by_lp else "these rules cannot all hold together: ")
             + "; ".join(_rule_text(n, candidates, policy) for n in core)]
    feasible = clock.remembering(_lp_feasible if by_lp else _feasible)
    hints: dict[str, str | None] = {}
    open_rules: list[str] = []  # whose moves a check left open
    for name in core:
        hints[name], still_open = _suggest_once(name, candidates, policy, rebuild, clock,
                                                feasible, by_lp)
        if still_open:
            open_rules.append(name)
    # the time left settles the checks left open, each rule in turn its share of it and
    # each check all of that; a check that had a verdict is not asked again (the seed-13
    # fleet under 20 % / 50 % caps: "raise max_share.chip_vendor from 0.5 to 0.71 (whether
    # 0.61 to 0.7 is enough was not decided in its time)" after 17 s of the 30; with the
    # rest, "to 0.65 (whether 0.64 is enough ...)" at 29 s)
    clock.unanswered = False
    for turn, name in enumerate(open_rules):
        share = clock.left(math.inf) / (len(open_rules) - turn)
        if share <= 0:
            clock.unanswered = True  # this rule's values, and the rest's, stay open
            break
        with clock.only(share):
            hints[name], _ = _suggest_once(name, candidates, policy, rebuild, clock,
                                           feasible, by_lp)
    suggestions = [hint for hint in hints.values() if hint is not None]
    if suggestions:
        lines.append(("relaxing one of them alone takes, by the LP: "
                      if by_lp else "relaxing one of them is enough: ")
                     + "; or ".join(suggestions))
    elif clock.left() <= 0:
        lines.append(f"(no relaxation was tried to the end within {budget_s:g} s)")
    elif clock.unanswered:
        lines.append("(no relaxation was shown to be enough, nor that none is: a check of "
                     "one ended without a verdict in its time)")
    else:
        lines.append("relaxing any single one of them alone is not enough")
    return lines
