"""Why there is no plan, in the user's terms.

Two kinds of reason:
- one workload has no candidate at all: the funnel says which rule removed the last
  offering (residency, ecosystem, memory, capacity, ...);
- the workloads each have candidates but the rules cannot all hold together: CP-SAT
  assumptions find a small set of rules (capacity of named offerings, a lock-in cap,
  min_providers, budget, a workload's spread) that conflict, reduced to a minimal set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl
from ortools.sat.python import cp_model

from placer.candidates import STAGES, Candidates

if TYPE_CHECKING:
    from placer.schema import Policy

EXPLAIN_TIME_LIMIT = 20.0


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
                f"offerings, " + ", ".join(steps))
        if row["capacity"] == 0 and row["memory"] > 0:
            if row["kind"] == "training":
                text += (f": the gang needs at least {row['gang_chips_min']:,} chips and the "
                         f"largest capacity among the {row['memory']} is "
                         f"{row['capacity_max']:,}")
            else:
                text += (f": the largest capacity among the {row['memory']} holds no whole "
                         "instance")
        elif row["memory"] == 0 and row["ecosystem"] > 0 and row["memory_chips_min"]:
            text += (f": one instance must hold {row['memory_gb']:,.0f} GB, which needs "
                     f"{row['memory_chips_min']:,.0f} chips on the largest-memory chip")
        reasons[row["w"]] = text
    return reasons


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


def infeasible_core(candidates: Candidates, policy: Policy,
                    time_limit: float = EXPLAIN_TIME_LIMIT) -> list[str] | None:
    """A minimal set of rule names that cannot hold together (None if none was found)."""
    from placer.model import build_model

    built = build_model(candidates, policy, explain=True)
    rules = built.rule_literals
    if not rules:
        return None
    literals = {lit: name for name, lit in rules.items()}

    def infeasible_with(names: list[str]) -> tuple[bool, list[str]]:
        proto = built.builder.proto
        proto.assumptions.clear()
        proto.assumptions.extend([rules[n] for n in names])
        solver = cp_model.CpSolver()
        solver.parameters.num_workers = 1
        solver.parameters.linearization_level = 2
        solver.parameters.max_time_in_seconds = time_limit
        status = solver.solve(built.model)
        if status != cp_model.INFEASIBLE:
            return False, []
        core = [literals[lit] for lit in solver.sufficient_assumptions_for_infeasibility()
                if lit in literals]
        return True, core

    infeasible, core = infeasible_with(sorted(rules))
    if not infeasible:
        return None
    if not core:
        core = sorted(rules)
    # deletion filter: drop each rule whose removal keeps the set infeasible
    minimal = list(core)
    for name in list(core):
        trial = [n for n in minimal if n != name]
        still, smaller = infeasible_with(trial)
        if still:
            minimal = [n for n in trial if n in smaller] or trial
    return minimal


def explain_infeasible(candidates: Candidates, policy: Policy) -> list[str]:
    """Sentences saying which rules cannot hold together."""
    core = infeasible_core(candidates, policy)
    if core is None:
        return ["no plan keeps every rule, and no smaller set of rules could be singled out; "
                "every workload has candidates, so the conflict is among them as a whole"]
    if not core:
        return ["no plan exists even with every capacity, cap, spread, min_providers and "
                "budget rule switched off"]
    names = [_rule_text(n, candidates, policy) for n in core]
    return ["these rules cannot all hold together: " + "; ".join(names)]
