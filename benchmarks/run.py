"""The benchmark suite in one command: placer against HiGHS, CBC and a greedy pass, on the
same instances, in the same run.

    python benchmarks/run.py                         # fleets of 100, 1k, 10k; two hard sets
    python benchmarks/run.py --sizes 100000 --hard   # the 100k fleet alone (placer, greedy)
    python benchmarks/run.py --json results.json     # also keep every figure
    python benchmarks/run.py --sizes --peer-factor 10  # hard sets, peers get 10x the time
    python benchmarks/run.py --sizes 1000 10000 --hard --time-limit 60 --peers  # placer alone
    python benchmarks/run.py --sizes 1000 --hard --peers --seed 0 1 2 --repeat 5  # spread
    python benchmarks/run.py --sizes --hard --sovereign 300 1000 10000  # no plan exists
    python benchmarks/run.py --sizes 100 --hard --seed 2 --caps 0.2 0.5 --time-limit 60

Every solver gets the same wall-clock limit per instance and stops early once its proven
gap is 0.1 %: the cost columns compare plans at equal time limits, and "to 0.1 %" is the
time a solver took to prove its plan within 0.1 % of optimal ("-" when it did not). The
peers solve exactly placer's model (benchmarks/peers.py); every plan, placer's included,
is checked against placer's rules. placer runs in its own process so that its peak memory
is its own. A solve cut by the wall clock differs from run to run (the 1,000 fleet's gap
at 10 s: 0.08-0.17 % over a dozen runs), so --repeat runs placer again and sums up the
spread, and --seed takes several fleets: one run of one fleet is one draw. Peers are
extras: pip install pulp highspy (HiGHS runs in a subprocess; set PLACER_HIGHS_PYTHON to
an interpreter that has highspy if this one does not).

--sovereign takes the same fleets with every EU-resident workload made sovereign: the
EU-headquartered providers' offerings cannot hold them, so no plan exists, and what is
measured is the time to prove it (the ratio: placer's / the peer's) and placer's
explanation (its time, wall clock, after the proof).

--caps sets the fleets' share caps (per provider, per chip vendor; the benchmark's are
40 % and 60 %): tighter ones are where plans are hard to find (100 workloads, seed 2, at
20 % / 50 %: at 10 s only placer has one; at 60 s placer's is 1 % cheaper than HiGHS's).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_LIMITS = {100: 10.0, 1000: 10.0, 10000: 60.0, 100000: 300.0}
CAPS = (0.4, 0.6)  # the fleets' share caps: per provider, per chip vendor
TARGET_GAP = 0.001
PEERS = ("highs", "cbc", "greedy")
PEER_LIMIT = 10000  # above this many workloads the peers are not run (model too large)


# ---------------------------------------------------------------------------
# Instances


# solver.infeasible_by, in the note's words
PROVEN_BY = {"policy": "counting the caps' groups", "capacity": "capacity alone's LP",
             "spend": "the LP of capacity, caps and budget",
             "lp relaxation": "the lp relaxation",
             "cp-sat presolve": "the cp-sat presolve", "cp-sat": "cp-sat's search"}


def fleet_problem(n: int, seed: int, sovereign: bool = False, provider_cap: float = CAPS[0],
                  vendor_cap: float = CAPS[1]) -> Any:
    """The generated fleet; `sovereign`: its EU-resident workloads made sovereign."""
    from benchmarks.generate import generate
    from placer.catalog import load_catalog
    from placer.problem import problem_from_dict

    instance = generate(n, seed, provider_cap, vendor_cap)
    for workload in instance.workloads if sovereign else []:
        if workload.get("residency") == ["EU"]:
            workload["sovereign"] = True
    with tempfile.TemporaryDirectory() as tmp:
        instance.capacities.write_csv(Path(tmp) / "offerings.csv")
        catalog = load_catalog([tmp])
    return problem_from_dict(instance.fleet(), catalog)


def instance_candidates(kind: str, n: int, seed: int, caps: tuple[float, float] = CAPS
                        ) -> tuple[Any, Any]:
    """(Candidates, Policy) for an instance, as placer builds them (`caps`: a fleet's)."""
    if kind in ("fleet", "sovereign"):
        from placer.candidates import build_candidates

        problem = fleet_problem(n, seed, kind == "sovereign", *caps)
        return build_candidates(problem), problem.policy
    from benchmarks.hard import generate_hard
    from placer.candidates import candidates_from_table
    from placer.problem import candidate_policy, candidate_tables

    hard = generate_hard(n, seed=seed)
    table, offers = candidate_tables(hard.candidates, hard.offerings)
    from placer.schema import Policy

    policy = candidate_policy(Policy.model_validate(hard.policy), table)
    return candidates_from_table(table, offers), policy


def run_placer(kind: str, n: int, seed: int, time_limit: float,
               caps: tuple[float, float] = CAPS) -> dict[str, Any]:
    """placer on one instance, in this process (called in a child process)."""
    from placer.solve import SolveOptions, solve_built_candidates

    if kind in ("fleet", "sovereign"):
        from placer.candidates import build_candidates

        problem = fleet_problem(n, seed, kind == "sovereign", *caps)
        started = time.perf_counter()
        candidates, policy = build_candidates(problem), problem.policy
    else:
        started = time.perf_counter()
        candidates, policy = instance_candidates(kind, n, seed, caps)
    candidates_s = time.perf_counter() - started  # the candidate table alone
    options = SolveOptions(time_limit=time_limit, seed=seed, gap=TARGET_GAP,
                           explain=kind == "sovereign")
    plan = solve_built_candidates(candidates, policy, options, candidates_s=candidates_s)
    with_explanation_s = time.perf_counter() - started
    from placer.check import candidate_violations

    units = plan_units(plan, candidates)
    left = candidates.workloads["workload"].is_in(plan.unplaced["workload"].implode()).to_numpy()
    violations = candidate_violations(candidates, units, left, policy) if plan.has_plan else []
    s = plan.solver
    # "cp-sat 9.x (branched on ports: 4 nodes) (plan from the core search)"
    engine = s["engine"].partition(" (")[0]
    note = ", ".join(re.findall(r"\(([^()]*)\)", s["engine"]))
    retried = s.get("part_retries") or 0
    proven_by = PROVEN_BY.get(s.get("infeasible_by") or "", s.get("infeasible_by"))
    explained = f"by {proven_by}; explained at {with_explanation_s:.1f} s: " \
        + " / ".join(plan.explanation) if plan.status == "infeasible" and plan.explanation \
        and s.get("infeasible_by") else ""
    return {
        "solver": f"placer ({engine})", "status": plan.status,
        "note": ", ".join(part for part in (
            note, f"{retried} batches retried" if retried else "", explained) if part),
        "cost_usd": plan.total_usd, "bound_usd": plan.bound_usd, "gap": plan.gap,
        "time_s": s["time_s"], "candidates": s["candidates"], "candidates_s": candidates_s,
        "build_s": s["build_s"], "warm_start_s": s.get("warm_start_s"),
        "variables": s["variables"], "violations": violations,
        # the parts' worker processes ran beside this one: their peaks count too
        "peak_mb": peak_mb() + (s.get("part_workers_peak_mb") or 0),
        "part_plans": s.get("part_plans") or [],
        # the caps it solved under (provider, chip vendor): what --caps asked for
        "caps": [policy.max_share.provider, policy.max_share.chip_vendor],
    }


def peak_mb() -> int:
    """This process's peak resident memory. VmHWM, not ru_maxrss: on Linux ru_maxrss
    survives exec, so a child would report its parent's peak when that was higher."""
    from placer.workers import peak_mb as vm_hwm_mb

    return vm_hwm_mb() or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def plan_units(plan: Any, candidates: Any) -> Any:
    """Units chosen per candidate row, read back from the plan's assignments."""
    import numpy as np

    rows = candidates.rows.with_row_index("r").select("r", "workload", "offering",
                                                     "unit_chips")
    chosen = plan.assignments.select("workload", "offering", "chips").join(
        rows, on=["workload", "offering"])
    units = np.zeros(candidates.rows.height, dtype=np.int64)
    units[chosen["r"].to_numpy()] = (chosen["chips"] // chosen["unit_chips"]).to_numpy()
    return units


# ---------------------------------------------------------------------------
# The suite


def placer_in_child(kind: str, n: int, seed: int, limit: float,
                    caps: tuple[float, float] = CAPS) -> dict[str, Any]:
    run = subprocess.run([sys.executable, __file__, "--child", kind, str(n), str(seed),
                          str(limit), *map(str, caps)], capture_output=True, text=True,
                         timeout=limit * 4 + 600)
    if run.returncode != 0:
        lines = run.stderr.strip().splitlines()
        # a native abort's reason comes before its stack trace
        failed = [line for line in lines if "Check failed" in line]
        return {"solver": "placer", "status": "error", "cost_usd": None, "bound_usd": None,
                "gap": None, "time_s": 0.0, "violations": [],
                "note": (failed or lines or [""])[-1][:300]}
    return json.loads(run.stdout.strip().splitlines()[-1])


def peers(kind: str, n: int, seed: int, limit: float, which: list[str],
          caps: tuple[float, float] = CAPS) -> list[dict]:
    from benchmarks import peers as pe
    from placer.model import build_model

    candidates, policy = instance_candidates(kind, n, seed, caps)
    out = []
    if "greedy" in which:
        out.append(vars(pe.run_greedy(candidates, policy)))
    if n > PEER_LIMIT or not ({"highs", "cbc"} & set(which)):
        return out
    built = build_model(candidates, policy)
    folder = Path(tempfile.mkdtemp(prefix="placer-bench-"))
    mps = folder / "model.mps"
    pe.write_mps(built, mps)
    if "highs" in which:
        out.append(vars(pe.run_highs(mps, candidates, built, policy, limit, TARGET_GAP)))
    if "cbc" in which:
        out.append(vars(pe.run_cbc(mps, candidates, built, policy, limit, TARGET_GAP)))
    for f in folder.iterdir():
        f.unlink()
    folder.rmdir()
    return out


def gap_of(r: dict) -> float | None:
    if r.get("gap") is not None:
        return r["gap"]
    cost, bound = r.get("cost_usd"), r.get("bound_usd")
    if cost is None or bound is None or cost <= 0:
        return None
    return max(0.0, (cost - bound) / cost)


def proved_infeasible(r: dict) -> bool:
    """placer's plan says infeasible; a peer found none and says why: infeasible."""
    return r["status"] == "infeasible" or (
        r["status"] == "no plan" and "infeasible" in (r.get("note") or "").lower())


def reached(r: dict) -> float | None:
    g = gap_of(r)
    ok = r["status"] in ("optimal", "feasible") and not r.get("violations")
    return r["time_s"] if ok and g is not None and g <= TARGET_GAP + 1e-12 else None


def fmt_money(v: float | None) -> str:
    return "-" if v is None else f"{v:,.0f}"


def parts_line(part_plans: list[dict], dearest: int = 3) -> str:
    """The parts' plans at a glance: the median part's cost per workload (the parts are
    like samples of the fleet), and the dearest parts, each against it and against its
    own LP, with what they got."""
    found = [p for p in part_plans if p["total_usd"] is not None]
    if not found:
        return f"  parts: {len(part_plans)}, none found a plan"
    per_workload = sorted(p["total_usd"] / max(1, p["workloads"]) for p in found)
    median = per_workload[len(per_workload) // 2]

    def said(p: dict) -> str:
        # a part dear against its own LP lost its plan; one dear against the median only
        # had dearer workloads, or a smaller share of the cheap offerings
        lp = "no LP" if p["lp_bound_usd"] is None else \
            f"{p['total_usd'] / p['lp_bound_usd'] - 1:+.1%} on its LP"
        return (f"part {p['part']} {p['total_usd'] / max(1, p['workloads']) / median - 1:+.1%}"
                f" ({lp}, {p['columns_rounds']} rounds, master {p['master_status']}, "
                f"{p['time_s']:.1f} of {p['time_limit_s']:.1f} s)")

    worst = sorted(found, key=lambda p: -p["total_usd"] / max(1, p["workloads"]))[:dearest]
    without_lp = sum(p["lp_bound_usd"] is None for p in found)
    return (f"  parts: {len(part_plans)} ({len(part_plans) - len(found)} without a plan, "
            f"{without_lp} without an LP), per workload median ${median:,.0f}; dearest: "
            + "; ".join(said(p) for p in worst))


def print_row(r: dict, base: dict | None) -> None:
    g = gap_of(r)
    gap = "-" if g is None else f"{g * 100:.2f}%"
    to_target = reached(r)
    broken = r.get("violations") or []
    status = r["status"] + (" (breaks rules)" if broken and "breaks" not in r["status"] else "")
    ratio = ""
    if base is not None:
        if base.get("cost_usd") and r.get("cost_usd") and not broken:
            ratio = f"{base['cost_usd'] / r['cost_usd']:.4f}"
        elif r.get("cost_usd") is None:
            ratio = "peer: no plan"
        else:
            ratio = "not comparable"
        mine, theirs = reached(base), to_target
        if proved_infeasible(base) and proved_infeasible(r) and r["time_s"] > 0:
            ratio = f"{base['time_s'] / r['time_s']:.2f}x time to infeasible"
        elif proved_infeasible(base):
            ratio = "peer did not prove it infeasible"
        elif mine is not None and theirs is not None and theirs > 0:
            ratio += f"  {mine / theirs:.2f}x time"
        elif mine is not None:
            ratio += "  peer never reached 0.1 %"
    print(f"  {r['solver'][:34]:<34} {status:<26} {fmt_money(r.get('cost_usd')):>15} "
          f"{fmt_money(r.get('bound_usd')):>15} {gap:>8} {r['time_s']:>8.1f} "
          f"{'-' if to_target is None else f'{to_target:.1f}':>8}  {ratio}", flush=True)
    for v in broken[:2]:
        print(f"  {'':<34}   breaks: {v[:110]}")
    if r.get("note") and not broken:
        for line in textwrap.wrap(r["note"], 110)[:4]:
            print(f"  {'':<34}   {line}")


def runs_line(runs: list[dict]) -> str:
    """placer's runs of one instance at a glance: the least, median and largest gap and
    cost (runs without a plan, or whose plan breaks a rule, counted apart), and how many
    proved the target gap, with the median time they took."""
    # gap_of is None without a cost (no plan)
    found = [r for r in runs if gap_of(r) is not None and not r.get("violations")]
    if not found:
        return f"  placer over {len(runs)} runs: none found a plan that keeps the rules"

    def median(ordered: list[float]) -> float:
        return ordered[(len(ordered) - 1) // 2]  # the lower one of an even count

    def spread(values: list[float], fmt: str) -> str:
        ordered = sorted(values)
        return " / ".join(fmt.format(v) for v in (ordered[0], median(ordered), ordered[-1]))

    gaps = spread([gap_of(r) * 100 for r in found], "{:.3f}%")
    costs = spread([r["cost_usd"] for r in found], "${:,.0f}")
    times = sorted(t for t in (reached(r) for r in found) if t is not None)
    within = f"{len(times)} of {len(runs)}" + (
        f" (median {median(times):.1f} s)" if times else "")
    missing = len(runs) - len(found)
    return (f"  placer over {len(runs)} runs: gap {gaps} (least / median / most), "
            f"cost {costs}; within {TARGET_GAP:.1%}: {within}"
            + (f"; {missing} without a plan that keeps the rules" if missing else ""))


def machine() -> str:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    from ortools import __version__ as ortools_version

    return (f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, Python "
            f"{platform.python_version()}, ortools {ortools_version}")


def main() -> None:
    # the docstring's first paragraph, then its examples and notes as written
    summary, rest = __doc__.split("\n\n", 1)
    parser = argparse.ArgumentParser(description=" ".join(summary.split()), epilog=rest,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[100, 1000, 10000],
                        help="generated fleets of these many workloads (none: the hard sets "
                             "alone)")
    parser.add_argument("--hard", type=int, nargs="*", default=[2000, 5000],
                        help="hard candidates-format instances (workloads × 60 offerings)")
    parser.add_argument("--sovereign", type=int, nargs="*", default=[],
                        help="fleets of these many workloads, the EU-resident ones "
                             "sovereign: no plan exists (none by default)")
    parser.add_argument("--seed", type=int, nargs="+", default=[0],
                        help="the fleets' and hard sets' seeds (and placer's): one or more")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run placer this many times on each instance (peers once)")
    parser.add_argument("--time-limit", type=float, help="one limit for every instance")
    parser.add_argument("--peers", nargs="*", default=list(PEERS), choices=PEERS,
                        help="the peers to run (none: placer alone)")
    parser.add_argument("--peer-factor", type=float, default=1.0,
                        help="peers get this many times placer's time limit")
    parser.add_argument("--caps", type=float, nargs=2, default=list(CAPS),
                        metavar=("PROVIDER", "CHIP_VENDOR"),
                        help="the fleets' share caps (default: 0.4 0.6)")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, n, seed, limit, provider, vendor = args.child
        print(json.dumps(run_placer(kind, int(n), int(seed), float(limit),
                                    (float(provider), float(vendor)))))
        return
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if not all(0 < cap <= 1 for cap in args.caps):
        parser.error("--caps must be shares between 0 and 1, e.g. 0.2 0.5")
    caps = (args.caps[0], args.caps[1])
    print(f"machine: {machine()}")
    limits = "the time limit" if args.peer_factor == 1 else \
        f"its time limit (peers: {args.peer_factor:g}x placer's)"
    print(f"every solver stops at a proven gap of {TARGET_GAP:.1%} or at {limits}; "
          "ratio = placer cost / peer cost (below 1: placer cheaper), and placer's time to "
          "0.1 % / the peer's\n")
    header = (f"  {'solver':<34} {'status':<26} {'cost $':>15} {'bound $':>15} {'gap':>8} "
              f"{'time s':>8} {'to 0.1%':>8}  ratio")
    results = []
    jobs = [("fleet", n, seed) for n in args.sizes for seed in args.seed] \
        + [("hard", n, seed) for n in args.hard for seed in args.seed] \
        + [("sovereign", n, seed) for n in args.sovereign for seed in args.seed]
    for kind, n, seed in jobs:
        limit = args.time_limit or (DEFAULT_LIMITS.get(n, 60.0) if kind != "hard" else 10.0)
        name = {"fleet": f"fleet-{n}", "hard": f"tight-{n}x60",
                "sovereign": f"sovereign-{n}"}[kind] \
            + (f", seed {seed}" if args.seed != [0] else "") \
            + (f", caps {caps[0]:g} / {caps[1]:g}" if caps != CAPS and kind != "hard" else "")
        runs = [placer_in_child(kind, n, seed, limit, caps) for _ in range(args.repeat)]
        mine = runs[0]
        extra = ""
        if mine.get("candidates") is not None:
            # everything before the search after the master (solve's warm_start_s)
            summed = " (both summed over its parts)" if mine.get("part_plans") else ""
            extra = (f"; {mine['candidates']:,} candidate rows in {mine['candidates_s']:.2f} s, "
                     f"model {mine['build_s']:.2f} s, LP, warm start and columns "
                     f"{mine['warm_start_s'] or 0:.2f} s{summed}, peak {mine['peak_mb']:,} MB")
        print(f"{name} (limit {limit:g} s{extra})")
        print(header)
        print_row(mine, None)
        if mine.get("part_plans"):
            print(parts_line(mine["part_plans"]))
        if len(runs) > 1:
            print(runs_line(runs))
        others = peers(kind, n, seed, limit * args.peer_factor, args.peers, caps)
        for r in others:
            print_row(r, mine)
        print()
        results.append({"instance": name, "seed": seed,
                        "caps": None if kind == "hard" else list(caps), "time_limit": limit,
                        "peer_time_limit": limit * args.peer_factor, "placer": mine,
                        "placer_runs": runs, "peers": others})
    if args.json:
        from placer.io import write_atomic

        write_atomic(args.json, json.dumps({"machine": machine(), "results": results},
                                           indent=2, default=str))


if __name__ == "__main__":
    main()
