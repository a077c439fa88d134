"""Solve: candidate table → CP-SAT model → solution → Plan.

Solver control lives here: time limit, workers, seed, gap, determinism, the warm-start
hint, the live progress line and Ctrl-C (which stops the search and keeps the best plan).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
from ortools.sat.python import cp_model

from placer.candidates import Candidates, build_candidates
from placer.check import candidate_violations
from placer.errors import PlacerError
from placer.explain import no_candidate_reasons
from placer.model import BuiltModel, build_model
from placer.plan import Plan, make_plan
from placer.relax import solve_relaxation
from placer.schema import Policy
from placer.warmstart import warm_start

if TYPE_CHECKING:
    from placer.problem import Problem

DEFAULT_TIME_LIMIT = 60.0
ProgressFn = Callable[[dict[str, Any]], None]


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


@dataclass(frozen=True)
class SolveOptions:
    """How hard and how reproducibly to search."""

    time_limit: float = DEFAULT_TIME_LIMIT  # seconds of wall-clock time at most
    workers: int | None = None              # CP-SAT workers (default: cores, up to 8)
    seed: int = 0
    gap: float | None = None                # stop when (total - bound) / total <= gap
    deterministic: bool = True              # same input and seed -> same plan
    progress: ProgressFn | None = None      # called with best/bound/gap/elapsed
    log: bool = False                       # CP-SAT's own log on stderr
    hint: bool = True                       # warm start from a greedy plan

    def resolved_workers(self) -> int:
        return self.workers if self.workers is not None else default_workers()


def solve(problem: Problem, *, time_limit: float = DEFAULT_TIME_LIMIT,
          workers: int | None = None, seed: int = 0, gap: float | None = None,
          deterministic: bool = True, progress: ProgressFn | None = None,
          log: bool = False, hint: bool = True) -> Plan:
    """The cheapest plan for a problem that keeps every rule (or why there is none)."""
    options = SolveOptions(time_limit, workers, seed, gap, deterministic, progress, log, hint)
    started = time.perf_counter()
    candidates = build_candidates(problem)
    return solve_built_candidates(candidates, problem.policy, options,
                                  candidates_s=time.perf_counter() - started)


def solve_candidates(candidates: pl.DataFrame | str | Path,
                     offerings: pl.DataFrame | str | Path,
                     policy: Policy | str | Path | None = None, *,
                     time_limit: float = DEFAULT_TIME_LIMIT, workers: int | None = None,
                     seed: int = 0, gap: float | None = None, deterministic: bool = True,
                     progress: ProgressFn | None = None, log: bool = False,
                     hint: bool = True) -> Plan:
    """Solve exactly the rows given: each workload takes one of its rows, chips per
    offering stay within capacity, and the policy's caps apply where the columns exist."""
    from placer.candidates import candidates_from_table
    from placer.problem import candidate_policy, candidate_tables

    options = SolveOptions(time_limit, workers, seed, gap, deterministic, progress, log, hint)
    started = time.perf_counter()
    table, offers = candidate_tables(candidates, offerings)
    chosen = candidate_policy(policy, table)
    built = candidates_from_table(table, offers)
    return solve_built_candidates(built, chosen, options,
                                  candidates_s=time.perf_counter() - started)


def solve_built_candidates(candidates: Candidates, policy: Policy, options: SolveOptions,
                           candidates_s: float = 0.0) -> Plan:
    """Solve a candidate table under a policy."""
    started = time.perf_counter() - candidates_s
    _check_options(options)
    workers = options.resolved_workers()
    base_info = {
        "engine": f"cp-sat {_ortools_version()}", "workers": workers, "seed": options.seed,
        "time_limit_s": options.time_limit, "gap_limit": options.gap,
        "candidates": candidates.rows.height, "candidates_s": round(candidates_s, 4),
    }
    caps = {dim: getattr(policy.max_share, dim) for dim in ("provider", "chip_vendor",
                                                             "ecosystem")}
    reasons = no_candidate_reasons(candidates)
    placed_w = set(candidates.rows["w"].unique().to_list())
    blocked = [
        (w, text) for w, text in reasons.items()
        if w not in placed_w and candidates.workloads["required"][w]
    ]
    if blocked:
        return _no_plan(candidates, policy, base_info, caps, "infeasible",
                        [text for _, text in blocked], stop_reason="no candidate")

    build_started = time.perf_counter()
    built = build_model(candidates, policy)
    _force_unplaced(built, candidates, placed_w)
    build_s = time.perf_counter() - build_started

    warm_started = time.perf_counter()
    relaxation = solve_relaxation(built.builder, time_limit=options.time_limit * 0.3,
                                  unit_vars=built.units,
                                  unit_owner=candidates.rows["w"].to_numpy())
    lp_bound_units = None
    if relaxation is not None and relaxation.optimal:
        # a float LP bound: shave a hair off for rounding noise
        lp_bound_units = relaxation.objective - 1e-7 * abs(relaxation.objective)
    fallback = None
    if options.hint:
        start = warm_start(built, candidates, policy, relaxation,
                           time_budget=options.time_limit * 0.25)
        if not candidate_violations(candidates, start.units, start.left_out, policy):
            fallback = start  # a valid plan already, in case the search finds nothing
    warm_s = time.perf_counter() - warm_started

    solver = cp_model.CpSolver()
    _set_parameters(solver, options, workers,
                    time_left=max(0.1, options.time_limit - (time.perf_counter() - started)))
    reporter = _Progress(options.progress, built.scale)
    with _stop_on_interrupt(solver) as interrupted:
        status = solver.solve(built.model, reporter)
    reporter.close()

    name = solver.status_name(status)
    info = {
        **base_info, "status": name, "time_s": round(time.perf_counter() - started, 4),
        "build_s": round(build_s, 4), "warm_start_s": round(warm_s, 4),
        "lp_bound_usd": None if lp_bound_units is None else round(lp_bound_units / built.scale, 2),
        "money_scale": built.scale,
        "variables": built.builder.num_vars, "constraints": built.builder.num_constraints,
        "deterministic_time": round(solver.deterministic_time, 4),
    }
    if status == cp_model.MODEL_INVALID:
        raise PlacerError(f"internal error: CP-SAT rejected the model ({solver.solution_info})")
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE, cp_model.INFEASIBLE) \
            and fallback is not None:
        # the search found nothing better within the time: the warm start is the plan
        bound_units = max(solver.best_objective_bound if status != cp_model.UNKNOWN
                          else -np.inf, lp_bound_units or -np.inf)
        info |= {"stop_reason": "interrupted" if interrupted[0] else "time limit",
                 "deterministic": _deterministic(status, solver, options, interrupted[0]),
                 "engine": info["engine"] + " (plan from the warm start)"}
        ports = _ports_used(built, candidates, fallback.units)
        return make_plan(candidates, fallback.units, fallback.left_out, ports,
                         status="feasible", bound_usd=bound_units / built.scale
                         if np.isfinite(bound_units) else None, solver=info,
                         pricing=policy.pricing, caps=caps, unplaced_reasons=reasons)
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        values = np.fromiter(solver.response_proto.solution, dtype=np.int64)
        bound_units = max(solver.best_objective_bound, lp_bound_units or -np.inf)
        info |= {
            "objective_units": round(solver.objective_value),
            "bound_units": round(bound_units),
            "stop_reason": _stop_reason(status, solver, options, interrupted[0]),
            "deterministic": _deterministic(status, solver, options, interrupted[0]),
        }
        plan_status = "optimal" if status == cp_model.OPTIMAL else "feasible"
        return _plan_from_values(candidates, built, values, plan_status,
                                 bound_units / built.scale, info, policy, caps, reasons)
    if status == cp_model.INFEASIBLE:
        from placer.explain import explain_infeasible

        info |= {"stop_reason": "infeasible", "deterministic": True}
        return _no_plan(candidates, policy, info, caps, "infeasible",
                        explain_infeasible(candidates, policy))
    info |= {"stop_reason": "interrupted" if interrupted[0] else "time limit",
             "deterministic": False}
    return _no_plan(candidates, policy, info, caps, "unknown", [
        f"no plan found within {options.time_limit:g} s; the problem is not proven "
        "infeasible: give it more time (--time-limit)"])


def _check_options(options: SolveOptions) -> None:
    from placer.errors import InputError

    if not options.time_limit > 0:
        raise InputError(f"--time-limit must be greater than 0, got {options.time_limit:g}")
    if options.workers is not None and not 1 <= options.workers <= 256:
        raise InputError(f"--workers must be between 1 and 256, got {options.workers}")
    if options.gap is not None and not 0 <= options.gap < 1:
        raise InputError(f"--gap must be a fraction in [0, 1), got {options.gap:g}")
    if not 0 <= options.seed < 2**31:
        raise InputError(f"--seed must be between 0 and 2147483647, got {options.seed}")


def _ortools_version() -> str:
    import ortools

    return ortools.__version__


def _set_parameters(solver: cp_model.CpSolver, options: SolveOptions, workers: int,
                    time_left: float) -> None:
    params = solver.parameters
    params.num_workers = workers
    params.random_seed = options.seed
    params.max_time_in_seconds = time_left
    # The LP at linearization level 2 holds the port and egress links that presolve turns
    # into enforced constraints; at level 1 they drop out and the bound collapses.
    params.linearization_level = 2
    if workers > 1:
        params.subsolvers.append("max_lp")
    if options.deterministic:
        # Wall-clock limits make a run depend on machine load; a deterministic time
        # limit and interleaved workers make it depend only on the input and the seed.
        params.max_deterministic_time = time_left
        params.interleave_search = workers > 1
        params.interleave_batch_size = workers
    if options.gap is not None:
        params.relative_gap_limit = options.gap
    params.log_search_progress = options.log
    params.log_to_stdout = False
    if options.log:
        solver.log_callback = lambda line: print(line, file=sys.stderr)


def _stop_reason(status: int, solver: cp_model.CpSolver, options: SolveOptions,
                 interrupted: bool) -> str:
    if status == cp_model.OPTIMAL:
        return "optimal"
    if interrupted:
        return "interrupted"
    if options.gap is not None and solver.objective_value > 0 and (
        (solver.objective_value - solver.best_objective_bound) / solver.objective_value
        <= options.gap + 1e-12
    ):
        return "gap limit"
    if options.deterministic and solver.deterministic_time >= options.time_limit * 0.999:
        return "deterministic time limit"
    return "time limit"


def _deterministic(status: int, solver: cp_model.CpSolver, options: SolveOptions,
                   interrupted: bool) -> bool:
    """Whether rerunning with the same input and seed reproduces this plan."""
    if interrupted:
        return False
    if not options.deterministic and options.resolved_workers() > 1:
        return False
    # a wall-clock stop before the deterministic limit depends on machine speed
    stopped_by_wall = (status != cp_model.OPTIMAL
                       and solver.wall_time >= options.time_limit * 0.999
                       and solver.deterministic_time < options.time_limit * 0.999)
    return not stopped_by_wall


def _force_unplaced(built: BuiltModel, candidates: Candidates, placed_w: set[int]) -> None:
    """Optional workloads with no candidate at all are left out."""
    for w, var in enumerate(built.unplaced.tolist()):
        if var >= 0 and w not in placed_w:
            built.builder.add_linear([var], [1], 1, 1)


def _plan_from_values(candidates: Candidates, built: BuiltModel, values: np.ndarray,
                      status: str, bound_usd: float, info: dict[str, Any], policy: Policy,
                      caps: dict[str, float | None], reasons: dict[int, str]) -> Plan:
    units = values[built.units]
    left_out = np.zeros(candidates.workloads.height, dtype=bool)
    optional = built.unplaced >= 0
    left_out[optional] = values[built.unplaced[optional]] > 0
    ports = built.ports.filter(pl.Series(values[built.ports["var"].to_numpy()] > 0)
                               if built.ports.height else pl.lit(False))
    return make_plan(
        candidates, units, left_out, ports.select("port_key", "port_ecosystem", "port_usd"),
        status=status, bound_usd=bound_usd, solver=info, pricing=policy.pricing, caps=caps,
        unplaced_reasons=reasons,
    )


def _ports_used(built: BuiltModel, candidates: Candidates, units: np.ndarray) -> pl.DataFrame:
    """The ports a plan needs: those of the rows it uses."""
    used = candidates.rows.filter(pl.Series(units > 0)).select("port_key", "port_ecosystem")
    return built.ports.join(used.unique(), on=["port_key", "port_ecosystem"]).select(
        "port_key", "port_ecosystem", "port_usd")


def _no_plan(candidates: Candidates, policy: Policy, info: dict[str, Any],
             caps: dict[str, float | None], status: str, explanation: list[str],
             stop_reason: str | None = None) -> Plan:
    info = {"status": status.upper(), "time_s": 0.0, "build_s": 0.0, "money_scale": 100.0,
            "variables": 0, "constraints": 0, "deterministic": True,
            **info}
    if stop_reason is not None:
        info["stop_reason"] = stop_reason
    empty_ports = pl.DataFrame(schema={"port_key": pl.String, "port_ecosystem": pl.String,
                                       "port_usd": pl.Float64})
    return make_plan(
        candidates, np.zeros(candidates.rows.height, dtype=np.int64),
        np.zeros(candidates.workloads.height, dtype=bool), empty_ports,
        status=status, bound_usd=None, solver=info, pricing=policy.pricing, caps=caps,
        explanation=explanation,
    )


class _Progress(cp_model.CpSolverSolutionCallback):
    """Feeds best cost, bound, gap and elapsed time to a progress function."""

    def __init__(self, report: ProgressFn | None, scale: float) -> None:
        super().__init__()
        self.report = report
        self.scale = scale
        self.started = time.perf_counter()
        self.best: float | None = None
        self.bound: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if report is not None:
            self._thread = threading.Thread(target=self._tick, daemon=True)
            self._thread.start()

    def on_solution_callback(self) -> None:
        self.best = self.objective_value / self.scale
        self.bound = self.best_objective_bound / self.scale

    def _tick(self) -> None:
        while not self._stop.wait(0.5):
            elapsed = time.perf_counter() - self.started
            if elapsed >= 1.0 and self.report is not None:
                self.report(self.snapshot(elapsed))

    def snapshot(self, elapsed: float) -> dict[str, Any]:
        gap = None
        if self.best is not None and self.bound is not None and self.best > 0:
            gap = max(0.0, (self.best - self.bound) / self.best)
        return {"best_usd": self.best, "bound_usd": self.bound, "gap": gap,
                "elapsed_s": elapsed}

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1)


@contextmanager
def _stop_on_interrupt(solver: cp_model.CpSolver) -> Iterator[list[bool]]:
    """Ctrl-C stops the search; the best plan found so far is kept."""
    interrupted = [False]
    if threading.current_thread() is not threading.main_thread():
        yield interrupted
        return

    def handler(signum: int, frame: Any) -> None:
        interrupted[0] = True
        solver.stop_search()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, previous)
