"""Build and solve time of placer at fleet sizes, on generated fleets with a 40 % provider
cap and a 60 % chip-vendor cap, and the gap reached within the time limit.

    python benchmarks/scaling.py                      # 1,000 and 10,000 workloads, 60 s
    python benchmarks/scaling.py --sizes 1000 --time-limit 10

Each size runs in its own process so that peak memory is that instance's alone.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_one(n: int, seed: int, time_limit: float) -> dict:
    """Solve one generated fleet in this process; the figures as a dict."""
    sys.path.insert(0, str(ROOT))
    from benchmarks.generate import generate
    from placer.catalog import load_catalog
    from placer.problem import problem_from_dict
    from placer.solve import solve

    instance = generate(n, seed)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        instance.capacities.write_csv(Path(tmp) / "offerings.csv")
        catalog = load_catalog([tmp])
    started = time.perf_counter()
    problem = problem_from_dict(instance.fleet(), catalog)
    load_s = time.perf_counter() - started
    plan = solve(problem, time_limit=time_limit, seed=seed)
    s = plan.solver
    return {
        "workloads": n, "candidates": s["candidates"], "status": plan.status,
        "total_usd": plan.total_usd, "bound_usd": plan.bound_usd, "gap": plan.gap,
        "validate_s": round(load_s, 2), "candidates_s": s["candidates_s"],
        "build_s": s["build_s"], "warm_start_s": s.get("warm_start_s"),
        "solve_s": s["time_s"], "lp_bound_usd": s.get("lp_bound_usd"),
        "variables": s["variables"], "engine": s["engine"],
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(run_one(args.one, args.seed, args.time_limit)))
        return
    print(f"{'workloads':>9} {'rows':>9} {'status':>9} {'cost $':>14} {'bound $':>14} "
          f"{'gap':>7} {'cands s':>7} {'build s':>7} {'warm s':>7} {'total s':>7} "
          f"{'peak MB':>7}")
    for n in args.sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(n), "--seed", str(args.seed),
             "--time-limit", str(args.time_limit)],
            capture_output=True, text=True, check=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        gap = "-" if r["gap"] is None else f"{r['gap'] * 100:.2f}%"
        cost = "-" if r["total_usd"] is None else f"{r['total_usd']:,.0f}"
        bound = "-" if r["bound_usd"] is None else f"{r['bound_usd']:,.0f}"
        print(f"{n:>9,} {r['candidates']:>9,} {r['status']:>9} {cost:>14} {bound:>14} "
              f"{gap:>7} {r['candidates_s']:>7.2f} {r['build_s']:>7.2f} "
              f"{r['warm_start_s'] or 0:>7.2f} {r['solve_s']:>7.1f} {r['peak_mb']:>7}",
              flush=True)


if __name__ == "__main__":
    main()
