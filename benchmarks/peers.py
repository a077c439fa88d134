"""The same MIP for other solvers, and a greedy cheapest-first pass.

placer's model is linear with integer variables: the benchmark writes exactly the model
CP-SAT gets (same variables, constraints and objective, in solver units) as a free MPS
file, hands it to HiGHS (highspy, in its own process: it cannot share one with ortools) and
to CBC (the binary PuLP ships and runs, as SkyPilot's optimizer does), then reads each
solution back and checks it with placer's own rules. The greedy pass places each workload
on its cheapest offering with room left, as SkyPilot and dstack pick offers; it knows
nothing of caps, spread or budgets, so its plan is checked and may break them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from placer.candidates import Candidates
from placer.check import candidate_violations
from placer.model import INT64_SAFE, BuiltModel, build_model
from placer.schema import Policy
from placer.solve import objective_units

INFINITE = INT64_SAFE // 2  # bounds this large are "none" for a floating-point solver


@dataclass
class PeerResult:
    solver: str
    status: str                      # optimal | feasible | no plan | error
    cost_usd: float | None = None
    bound_usd: float | None = None
    time_s: float = 0.0
    violations: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def gap(self) -> float | None:
        if self.cost_usd is None or self.bound_usd is None or self.cost_usd <= 0:
            return None
        return max(0.0, (self.cost_usd - self.bound_usd) / self.cost_usd)


# ---------------------------------------------------------------------------
# The MIP as MPS


def write_mps(built: BuiltModel, path: Path) -> None:
    """Free-format MPS of the model: min c·x, lo <= A x <= hi, integer x in [lb, ub]."""
    b = built.builder
    lower, upper = b.bounds()
    cost = b.objective()
    n = len(lower)
    lines = ["NAME placer", "ROWS", " N obj"]
    row_kind, rhs, ranges = [], [], []
    entries: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for i, (variables, coeffs, lo, hi) in enumerate(b.rows):
        lo_inf, hi_inf = lo <= -INFINITE, hi >= INFINITE
        if lo_inf and hi_inf:
            continue
        name = f"r{i}"
        if lo == hi:
            row_kind.append(f" E {name}")
            rhs.append((name, lo))
        elif lo_inf:
            row_kind.append(f" L {name}")
            rhs.append((name, hi))
        elif hi_inf:
            row_kind.append(f" G {name}")
            rhs.append((name, lo))
        else:
            row_kind.append(f" G {name}")
            rhs.append((name, lo))
            ranges.append((name, hi - lo))
        entries.append((variables, coeffs, np.full(len(variables), i)))
    lines += row_kind
    lines.append("COLUMNS")
    lines.append("    MARKER                 'MARKER'                 'INTORG'")
    cols = np.concatenate([e[0] for e in entries]) if entries else np.zeros(0, np.int64)
    vals = np.concatenate([e[1] for e in entries]) if entries else np.zeros(0, np.int64)
    rows = np.concatenate([e[2] for e in entries]) if entries else np.zeros(0, np.int64)
    # objective entries as row -1
    obj_cols = np.flatnonzero(cost)
    cols = np.concatenate((cols, obj_cols))
    vals = np.concatenate((vals.astype(np.float64), cost[obj_cols]))
    rows = np.concatenate((rows, np.full(len(obj_cols), -1)))
    order = np.lexsort((rows, cols))
    cols, vals, rows = cols[order], vals[order], rows[order]
    present = np.zeros(n, dtype=bool)
    present[cols] = True
    for c, r, v in zip(cols.tolist(), rows.tolist(), vals.tolist(), strict=True):
        lines.append(f"    x{c} {'obj' if r < 0 else f'r{r}'} {v:.17g}")
    for c in np.flatnonzero(~present).tolist():  # a variable in no row still needs a column
        lines.append(f"    x{c} obj 0")
    lines.append("    MARKER                 'MARKER'                 'INTEND'")
    lines.append("RHS")
    lines += [f"    rhs {name} {value}" for name, value in rhs]
    if ranges:
        lines.append("RANGES")
        lines += [f"    rng {name} {value}" for name, value in ranges]
    lines.append("BOUNDS")
    for j, (lo, hi) in enumerate(zip(lower.tolist(), upper.tolist(), strict=True)):
        lo_text = "-inf" if lo <= -INFINITE else str(lo)
        hi_text = "inf" if hi >= INFINITE else str(hi)
        if lo_text == hi_text:
            lines.append(f" FX bnd x{j} {lo}")
            continue
        lines.append(f" LO bnd x{j} {lo_text}" if lo_text != "-inf" else f" MI bnd x{j}")
        if hi_text != "inf":
            lines.append(f" UP bnd x{j} {hi_text}")
    lines.append("ENDATA")
    path.write_text("\n".join(lines) + "\n")


def evaluate(candidates: Candidates, built: BuiltModel, policy: Policy, x: np.ndarray
             ) -> tuple[float, list[str]]:
    """Cost (USD) of a peer's solution and every placer rule it breaks.

    Judged on the placement alone (units per row, workloads left out), recomputed exactly:
    a MIP solver's auxiliary values (spend totals in cents, up to 1e12) carry its
    feasibility tolerance and may round off by a unit without any rule being broken."""
    x = np.rint(np.asarray(x, dtype=np.float64)).astype(np.int64)
    units = x[built.units]
    left_out = np.zeros(candidates.workloads.height, dtype=bool)
    optional = built.unplaced >= 0
    left_out[optional] = x[built.unplaced[optional]] > 0
    broken = candidate_violations(candidates, units, left_out, policy)
    cost = objective_units(built, candidates, units, left_out) / built.scale
    return cost, broken


# ---------------------------------------------------------------------------
# Solvers

HIGHS_SCRIPT = r"""
import json, sys, time
import numpy as np
import highspy
path, limit, gap, out = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
h = highspy.Highs()
h.setOptionValue("output_flag", False)
h.setOptionValue("time_limit", limit)
h.setOptionValue("mip_rel_gap", gap)
h.setOptionValue("threads", 2)
h.readModel(path)
started = time.perf_counter()
h.run()
elapsed = time.perf_counter() - started
info = h.getInfo()
status = h.modelStatusToString(h.getModelStatus())
has = info.primal_solution_status == 2
if has:
    np.save(out, np.asarray(h.getSolution().col_value))
print(json.dumps({"status": status, "has_solution": has, "objective":
                  info.objective_function_value if has else None,
                  "bound": info.mip_dual_bound, "time": elapsed,
                  "version": highspy.Highs().version()}))
"""


def highs_python() -> str | None:
    """An interpreter that can import highspy (PLACER_HIGHS_PYTHON, else this one)."""
    for python in (os.environ.get("PLACER_HIGHS_PYTHON"), sys.executable):
        if python and subprocess.run([python, "-c", "import highspy"],
                                     capture_output=True).returncode == 0:
            return python
    return None


def _run_peer(name: str, command: list[str], time_limit: float
              ) -> subprocess.CompletedProcess[str] | PeerResult:
    """Run a peer's process; an error result when it overruns its limit by far (both
    HiGHS and CBC were seen ignoring theirs on big models)."""
    started = time.perf_counter()
    try:
        return subprocess.run(command, capture_output=True, text=True,
                              timeout=time_limit * 3 + 120)
    except subprocess.TimeoutExpired:
        elapsed = time.perf_counter() - started
        return PeerResult(name, "error", time_s=elapsed,
                          note=f"ignored its {time_limit:g} s limit; stopped after {elapsed:.0f} s")


def run_highs(mps: Path, candidates: Candidates, built: BuiltModel, policy: Policy,
              time_limit: float, gap: float) -> PeerResult:
    python = highs_python()
    if python is None:
        return PeerResult("HiGHS", "error", note="highspy not installed")
    sol = mps.with_suffix(".highs.npy")
    run = _run_peer("HiGHS", [python, "-c", HIGHS_SCRIPT, str(mps), str(time_limit), str(gap),
                              str(sol)], time_limit)
    if isinstance(run, PeerResult):
        return run
    if run.returncode != 0:
        return PeerResult("HiGHS", "error", note=run.stderr.strip().splitlines()[-1][:200])
    r = json.loads(run.stdout.strip().splitlines()[-1])
    bound = None if r["bound"] is None or abs(r["bound"]) > 1e29 else r["bound"] / built.scale
    result = PeerResult(f"HiGHS {r['version']}", "no plan", bound_usd=bound, time_s=r["time"],
                        note=r["status"])
    if r["has_solution"]:
        result.cost_usd, result.violations = evaluate(candidates, built, policy, np.load(sol))
        result.status = "optimal" if r["status"] == "Optimal" else "feasible"
    return result


def cbc_path() -> str | None:
    try:
        from pulp.apis import PULP_CBC_CMD
    except ImportError:
        return None
    path = PULP_CBC_CMD().path
    return path if path and Path(path).exists() else None


def run_cbc(mps: Path, candidates: Candidates, built: BuiltModel, policy: Policy,
            time_limit: float, gap: float) -> PeerResult:
    """CBC as PuLP runs it (PULP_CBC_CMD's options); status read from CBC's own result line,
    not PuLP's, which says Optimal when CBC stopped on its time limit."""
    cbc = cbc_path()
    if cbc is None:
        return PeerResult("CBC", "error", note="pulp not installed")
    sol = mps.with_suffix(".cbc.sol")
    started = time.perf_counter()
    run = _run_peer("CBC", [cbc, str(mps), "-sec", str(time_limit), "-timeMode", "elapsed",
                            "-ratio", str(gap), "-threads", "2", "-solve", "-solu", str(sol)],
                    time_limit)
    if isinstance(run, PeerResult):
        return run
    elapsed = time.perf_counter() - started
    out = run.stdout
    version = re.search(r"Version: (\S+)", out)
    name = f"CBC {version.group(1)}" if version else "CBC"
    # "Result - ..." after a search; its presolve says "Problem is infeasible" alone
    result_line = re.search(r"Result - (.+)", out) or re.search(r"(Problem is infeasible)", out)
    status_text = result_line.group(1).strip() if result_line else "no result"
    bound = re.search(r"Lower bound:\s+(-?[\d.e+]+)", out)
    objective = re.search(r"Objective value:\s+(-?[\d.e+]+)", out)
    result = PeerResult(name, "no plan", time_s=elapsed, note=status_text,
                        bound_usd=float(bound.group(1)) / built.scale if bound else None)
    if objective and sol.exists() and "infeasible" not in status_text.lower():
        x = np.zeros(built.builder.num_vars)
        for line in sol.read_text().splitlines()[1:]:
            parts = line.split()
            if len(parts) >= 3 and parts[1].startswith("x"):
                x[int(parts[1][1:])] = float(parts[2])
        result.cost_usd, result.violations = evaluate(candidates, built, policy, x)
        result.status = "optimal" if status_text.startswith("Optimal") else "feasible"
        claimed = float(objective.group(1)) / built.scale
        if abs(claimed - result.cost_usd) > 1e-3 * max(abs(claimed), 1.0):
            # seen with -threads 2 on a time limit: the objective CBC reports is not that
            # of the solution it writes; the plan a user gets is the one written
            result.note += f"; CBC reported ${claimed:,.0f}, its solution costs " \
                           f"${result.cost_usd:,.0f}"
        if result.status == "optimal":
            result.bound_usd = result.bound_usd or result.cost_usd
    return result


def run_greedy(candidates: Candidates, policy: Policy) -> PeerResult:
    """Each workload, in fleet order, on its cheapest offering with room left (inference
    fills its demand from the cheapest coverage first); caps and spread are not known."""
    started = time.perf_counter()
    rows = candidates.rows.with_row_index("r").with_columns(
        (pl.col("unit_compute_usd") + pl.col("unit_carbon_usd")).alias("unit_cost"))
    room = dict(zip(candidates.offerings["offering"], candidates.offerings["capacity_chips"],
                    strict=True))
    units = np.zeros(rows.height, dtype=np.int64)
    left_out = np.zeros(candidates.workloads.height, dtype=bool)
    bought: set[tuple[str, str]] = set()
    demand = candidates.workloads["demand"].to_list()
    for (w,), group in rows.group_by(["w"], maintain_order=True):
        kind = group["kind"][0]
        options = group.to_dicts()

        def extra(o: dict[str, Any]) -> float:
            port = o["port_usd"] or 0.0
            if (o["port_key"], o["port_ecosystem"]) in bought:
                port = 0.0
            return (o["egress_usd"] or 0.0) + port

        if kind == "training":
            fits = [o for o in options if room[o["offering"]] >= o["unit_chips"]]
            if not fits:
                left_out[w] = True
                continue
            best = min(fits, key=lambda o: o["unit_cost"] + extra(o))
            units[best["r"]] = 1
            room[best["offering"]] -= best["unit_chips"]
            if best["port_ecosystem"]:
                bought.add((best["port_key"], best["port_ecosystem"]))
            continue
        need = demand[w]
        for o in sorted(options, key=lambda o: o["unit_cost"] / max(o["unit_ref"], 1e-12)):
            if need <= 1e-9:
                break
            can = min(o["max_units"], room[o["offering"]] // o["unit_chips"],
                      int(np.ceil(need / o["unit_ref"] - 1e-9)))
            if can <= 0:
                continue
            units[o["r"]] = can
            room[o["offering"]] -= can * o["unit_chips"]
            need -= can * o["unit_ref"]
            if o["port_ecosystem"]:
                bought.add((o["port_key"], o["port_ecosystem"]))
        if need > 1e-9:
            left_out[w] = True
    elapsed = time.perf_counter() - started
    chosen = rows.with_columns(pl.Series("n", units)).filter(pl.col("n") > 0)
    used_ports = chosen.filter(pl.col("port_ecosystem").is_not_null()).unique(
        ["port_key", "port_ecosystem"])
    cost = float((chosen["n"] * chosen["unit_cost"]).sum() + chosen["egress_usd"].sum()
                 + used_ports["port_usd"].sum())
    values = candidates.workloads["value_usd"].fill_null(0.0).to_numpy()
    cost += float(values[left_out].sum())
    violations = candidate_violations(candidates, units, left_out, policy)
    status = "feasible" if not violations else "breaks rules"
    return PeerResult("greedy cheapest-first", status, cost_usd=cost, time_s=elapsed,
                      violations=violations)


def model_for(candidates: Candidates, policy: Policy) -> BuiltModel:
    return build_model(candidates, policy)


def temp_folder() -> Path:
    return Path(tempfile.mkdtemp(prefix="placer-bench-"))
