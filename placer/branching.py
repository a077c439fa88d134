"""Branching on ports: a bound above column generation's, and the plans that come with it.

Column generation's bound (placer.colgen) is the Dantzig-Wolfe dual: each piece (a
workload, or the workloads sharing a port) convexified alone, the rules that tie them
priced. Where its master LP buys a port in part (say 0.69 of a $200,000 port to XLA, the
rest of that codebase on Nvidia), it pays a share of the port for a share of the
capacity the port opens, which no plan can do: that is most of the gap left on the
generated 1,000-workload fleets. With the ports' costs set to zero they are proven within
0.05 % in 10 s; with them, seeds 1 and 3 stay 0.27 % and 0.17 % above their bound even
after 600 s (BENCHMARKS.md, forty-fifth session).

So the fleet is solved again twice: once with the port forbidden (its rows dropped) and
once with it bought (its rows run natively, the port's price added to the cost). Every
plan is in one of the two, so the lower of their bounds is a bound on the fleet; each
child's master can no longer buy that port in part, and its bound rises. The tree grows
best-first: the leaf with the lowest bound is branched on the port its master LP buys
most in part (price times the share it lacks of whole or none), until the best plan is
within the gap limit of the lowest leaf, no time is left for two more solves, or that
leaf's master buys no port in part: then it is solved again with the time left (another
seed), for its plan. Where a branching raises the bound by less than a tenth of the gap,
the ports do not hold that gap (the plan does), and the time left goes to the whole
fleet again. Each solve is placer's own (placer.solve), as long as the first.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import polars as pl

from placer.candidates import Candidates
from placer.check import candidate_violations
from placer.explain import no_candidate_reasons
from placer.plan import Plan, make_plan, placement_of, ports_used
from placer.schema import Policy

if TYPE_CHECKING:
    from placer.solve import SolveOptions

# A port's share in the master LP counts as in part between this and 1 minus it (below
# it, the LP's own tolerance).
PORT_IN_PART = 1e-4
# Each solve (the first, and each node) gets the time limit over this many, and at least
# NODE_S per 1,000 workloads (NODE_S below that): column generation at 1,000 workloads
# reaches its bound in about 7 s; at 2,000 workloads nodes of 10 s ended 0.1-0.2 % below
# the whole fleet's bound. So branching starts at three times that (the first solve and
# two children): 30 s up to 1,000 workloads, 60 s at 2,000.
SOLVES = 6
NODE_S = 10.0
# A solve may end this share of its time after its limit: two children are started where
# what is left is within it of their time.
OVERRUN = 0.1
# A branching whose lower child's bound rose by less than this share of the gap above the
# leaf it split ends the tree, the time left going to the whole fleet again, for its
# plan: there the gap is the plan's. 1,000 workloads at 60 s: seed 4's lower child at
# its parent's bound (0.131 % -> 0.078-0.085 % with this rule); seeds 1, 3 and 5 go on
# branching (at a tenth, seed 3 once stopped after its first branching: 0.107 %).
STALLED = 0.05
# Fleets of at most this many workloads are not branched on: their whole model is searched
# after their neighbourhoods (solve.LNS_ABOVE_WORKLOADS), which proves many in 60 s and
# would lose its time to the tree (100 workloads at 60 s, seeds 0 / 1 / 2: 0.00 / 0.99 /
# 1.08 % above their bounds; branched on, 1.05 / 0.96 / 2.24 %).
SMALL_FLEET_WORKLOADS = 200

Port = tuple[str, str]  # codebase, ecosystem
SolveNode = Callable[[Candidates, Policy, "SolveOptions"], Plan]


def node_seconds(candidates: Candidates, options: SolveOptions) -> float | None:
    """The time of each solve, or None where the fleet is not branched on: a small fleet,
    no port to buy, no column generation, or too little time for the first solve and two
    more."""
    seconds = max(NODE_S * max(1.0, candidates.workloads.height / 1000),
                  options.time_limit / SOLVES)
    if not (options.branch and options.columns) or options.time_limit < 3 * seconds \
            or candidates.workloads.height <= SMALL_FLEET_WORKLOADS:
        return None
    if candidates.rows["port_ecosystem"].is_null().all():
        return None
    return seconds


@dataclass
class Node:
    """A fleet with some ports bought and some forbidden, and what its solve found."""

    bought: tuple[Port, ...]
    forbidden: tuple[Port, ...]
    bound_usd: float                # a bound on every plan of this node (math.inf: none)
    plan: Plan | None = None        # its plan, of the whole fleet's candidates
    in_part: list[dict[str, Any]] = field(default_factory=list)  # its master's ports
    solves: int = 0

    def port_to_branch_on(self) -> Port | None:
        """The port its master LP buys most in part: price times the share it lacks of
        whole or none (on a tie the first, in the order the solve lists them)."""
        if not self.in_part:
            return None
        best = max(self.in_part,
                   key=lambda p: p["usd"] * min(p["share"], 1 - p["share"]))
        return best["codebase"], best["ecosystem"]


def node_problem(candidates: Candidates, policy: Policy, bought: tuple[Port, ...],
                 forbidden: tuple[Port, ...]) -> tuple[Candidates, Policy, float]:
    """The fleet with `forbidden` ports' rows dropped and `bought` ports' rows run as if
    native; the bought ports' price (to add to its costs) comes out of the budget."""
    rows = candidates.rows

    def needs(ports: tuple[Port, ...]) -> pl.Expr:
        expr = pl.lit(False)
        for codebase, ecosystem in ports:
            expr = expr | ((pl.col("port_key") == codebase)
                           & (pl.col("port_ecosystem") == ecosystem)).fill_null(False)
        return expr

    paid = 0.0
    for port in bought:  # at its first row's price, as placer.model buys it
        prices = rows.filter(needs((port,)))["port_usd"]
        paid += float(prices[0]) if len(prices) else 0.0
    rows = rows.filter(~needs(forbidden)).with_columns(
        pl.when(needs(bought)).then(None).otherwise(pl.col("port_ecosystem"))
        .alias("port_ecosystem"),
        pl.when(needs(bought)).then(0.0).otherwise(pl.col("port_usd")).alias("port_usd"))
    if policy.budget_usd is not None and paid:
        policy = policy.model_copy(update={"budget_usd": policy.budget_usd - paid})
    return replace(candidates, rows=rows), policy, paid


def branch_on_ports(candidates: Candidates, policy: Policy, options: SolveOptions,
                    seconds: float, started: float, stop: Callable[[], bool],
                    solve_first: Callable[[SolveOptions], Plan], solve_node: SolveNode
                    ) -> Plan:
    """The fleet's plan and bound from a tree of solves (the module's docstring).
    `solve_first(options)` solves the fleet itself, `solve_node` a node's problem (each
    with options that branch no further)."""
    deadline = started + options.time_limit
    first = solve_first(replace(options, time_limit=seconds, branch=False))
    if not first.has_plan:
        # nothing to branch from: proven infeasible, or no plan found in the first solve's
        # time, which the whole limit might have found (the time left is the whole's)
        left = deadline - time.perf_counter()
        if first.status == "infeasible" or stop() or left < seconds / 2:
            return first
        return solve_first(replace(options, time_limit=left, branch=False))
    root = Node((), (), _bound(first, 0.0, -math.inf), first,
                first.solver.get("ports_in_part", []), 1)
    leaves, solved = [root], [root]
    reasons = no_candidate_reasons(candidates, policy.pricing)
    caps = policy.max_share.by_dimension()
    nodes_info: list[dict[str, Any]] = []

    def best_plan() -> Plan:
        return min((n.plan for n in solved if n.plan is not None),
                   key=lambda p: p.total_usd or math.inf)

    def fleet_bound() -> float:
        """The lowest leaf's bound, or the whole fleet's solved again where higher."""
        return max(min((n.bound_usd for n in leaves), default=math.inf), root.bound_usd)

    def solve(node: Node, time_limit: float, seed: int) -> None:
        """Solve `node` (again) and keep what it found."""
        sub, sub_policy, paid = node_problem(candidates, policy, node.bought, node.forbidden)
        best_usd = best_plan().total_usd
        node_started = time.perf_counter()

        def progress(snapshot: dict[str, Any]) -> None:
            if options.progress is None:
                return
            found = snapshot.get("best_usd")
            best = best_usd if found is None else min(best_usd or math.inf, found + paid)
            bound = fleet_bound()
            options.progress({
                "best_usd": best, "bound_usd": bound if math.isfinite(bound) else None,
                "gap": None if not best or not math.isfinite(bound)
                else max(0.0, (best - bound) / best),
                "elapsed_s": time.perf_counter() - started})

        plan = solve_node(sub, sub_policy, replace(
            options, time_limit=time_limit, seed=seed, progress=progress, explain=False,
            branch=False))
        node.solves += 1
        node.bound_usd = _bound(plan, paid, node.bound_usd)
        node.in_part = plan.solver.get("ports_in_part", [])
        if plan.has_plan:
            units, left_out = placement_of(plan, candidates)
            if not candidate_violations(candidates, units, left_out, policy):
                whole = make_plan(candidates, units, left_out, ports_used(candidates, units),
                                  status="feasible", bound_usd=None, solver=plan.solver,
                                  pricing=policy.pricing, caps=caps, unplaced_reasons=reasons)
                if node.plan is None or (whole.total_usd or 0) < (node.plan.total_usd or 0):
                    node.plan = whole
        nodes_info.append({
            "bought": [_port(p) for p in node.bought],
            "forbidden": [_port(p) for p in node.forbidden],
            "total_usd": None if node.plan is None else round(node.plan.total_usd or 0, 2),
            "bound_usd": round(node.bound_usd, 2) if math.isfinite(node.bound_usd) else None,
            "time_s": round(time.perf_counter() - node_started, 4),
            "stop_reason": plan.solver.get("stop_reason", ""),
            "deterministic": bool(plan.solver.get("deterministic", False))})

    while not stop():
        best_total = best_plan().total_usd or 0.0
        # leaves that cannot hold a cheaper plan are closed
        leaves = [n for n in leaves if n.bound_usd < best_total]
        bound = fleet_bound()
        if not leaves or (options.gap is not None
                          and best_total - bound <= options.gap * best_total):
            break
        left = deadline - time.perf_counter()
        lowest = min(leaves, key=lambda n: n.bound_usd)
        port = lowest.port_to_branch_on()
        if port is None or left < 2 * seconds * (1 - OVERRUN):
            # its master buys no port in part, or no time for two children: the time
            # left goes to solving it again, for its plan
            if left < seconds / 2:
                break
            solve(lowest, left, options.seed + lowest.solves)
            break
        children = [Node(lowest.bought, (*lowest.forbidden, port), lowest.bound_usd),
                    Node((*lowest.bought, port), lowest.forbidden, lowest.bound_usd)]
        leaves.remove(lowest)
        for child in children:
            solve(child, min(seconds, deadline - time.perf_counter()), options.seed)
            solved.append(child)
            leaves.append(child)
        rise = min(child.bound_usd for child in children) - lowest.bound_usd
        if rise < STALLED * (best_total - lowest.bound_usd) and not stop():
            # the ports do not hold this gap: the time left goes to the whole fleet
            left = deadline - time.perf_counter()
            if left >= seconds / 2:
                solve(root, left, options.seed + root.solves)
            break
    return _tree_plan(best_plan(), fleet_bound(), first.solver, nodes_info, started, stop())


def _tree_plan(best: Plan, bound: float, first_info: dict[str, Any],
               nodes_info: list[dict[str, Any]], started: float, interrupted: bool) -> Plan:
    """The best plan with the tree's bound (at most its cost; None where a leaf has none),
    and the first solve's info with how the tree went."""
    total = best.total_usd or 0.0
    # math.inf: every leaf closed (the plan is proven); -math.inf: a leaf with no bound
    known: float | None = min(bound, total) if bound > -math.inf else None
    proven = known is not None and known >= total
    gap_limit = first_info.get("gap_limit")
    scale = first_info["money_scale"]
    info = first_info | {
        "time_s": round(time.perf_counter() - started, 4),
        "branch_nodes": nodes_info,
        "deterministic": bool(first_info.get("deterministic"))
        and all(n["deterministic"] for n in nodes_info),
        "objective_units": round(total * scale),
        "bound_units": None if known is None else round(known * scale),
    }
    if nodes_info:
        solves = 1 + len(nodes_info)
        info["engine"] = f"{best.solver['engine']} (branched on ports: {solves} solves)"
    if interrupted:
        info["stop_reason"] = "interrupted"
    elif proven:
        info["stop_reason"] = "optimal"
    elif known is not None and gap_limit is not None and total - known <= gap_limit * total:
        info["stop_reason"] = "gap limit"
    elif nodes_info:
        info["stop_reason"] = "time limit"
    gap = None if known is None else (total - known) / total if total > 0 else 0.0
    return replace(best, status="optimal" if proven else "feasible", bound_usd=known,
                   gap=gap, solver=info)


def _bound(plan: Plan, paid: float, parent: float) -> float:
    """A node's bound from its solve: what it proved (plus the ports it bought), never
    below its parent's; none (math.inf) where it has no plan and is proven infeasible."""
    if plan.status == "infeasible":
        return math.inf
    if plan.bound_usd is None:
        return parent
    return max(parent, plan.bound_usd + paid)


def _port(port: Port) -> dict[str, str]:
    return {"codebase": port[0], "ecosystem": port[1]}

