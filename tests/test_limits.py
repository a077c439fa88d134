"""Time limits and Ctrl-C: the best plan found is returned, honestly marked."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def fleet_1k(tmp_path_factory):
    sys.path.insert(0, str(ROOT))
    from benchmarks.generate import generate

    return generate(1000, seed=0).write(tmp_path_factory.mktemp("fleet"))


def _command(folder, *extra: str) -> list[str]:
    return [sys.executable, "-m", "placer.cli", "solve", str(folder / "workloads.parquet"),
            "--policy", str(folder / "policy.yaml"), "--catalog", str(folder / "catalog"),
            "--format", "json", *extra]


def test_time_limit_returns_a_feasible_plan_with_its_gap_not_optimal(fleet_1k):
    run = subprocess.run(_command(fleet_1k, "--time-limit", "6"), capture_output=True,
                         text=True, check=False)
    assert run.returncode == 0, run.stderr
    plan = json.loads(run.stdout)
    assert plan["status"] == "feasible"
    assert plan["gap"] > 0
    assert plan["bound_usd"] < plan["total_usd"]
    assert plan["solver"]["stop_reason"] == "time limit"


def _time_to_load(folder) -> float:
    """Seconds a fresh process takes to import placer and load the fleet with its policy
    and catalog (a Ctrl-C before then stops a solve before it has anything to return):
    measured, since a loaded machine may take several seconds."""
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "placer.cli", "validate",
                    str(folder / "workloads.parquet"), "--policy", str(folder / "policy.yaml"),
                    "--catalog", str(folder / "catalog")], capture_output=True, check=True)
    return time.monotonic() - started


@pytest.mark.parametrize("delay", [1.5, 9.0], ids=["early", "during-search"])
def test_ctrl_c_returns_the_best_plan_so_far(fleet_1k, delay):
    # early: in the LP (2 s at 1,000 workloads); later: in the search for a cheaper plan
    loading = _time_to_load(fleet_1k)
    proc = subprocess.Popen(_command(fleet_1k, "--time-limit", "120"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(loading + delay)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert time.monotonic() - sent < 30
    assert proc.returncode == 0, err
    plan = json.loads(out)
    assert plan["status"] == "feasible"
    assert plan["solver"]["stop_reason"] == "interrupted"
    assert plan["solver"]["deterministic"] is False


def test_a_stop_at_the_gap_limit_is_not_called_optimal():
    # CP-SAT says OPTIMAL when it reaches relative_gap_limit; placer must not
    from benchmarks.run import fleet_problem
    from placer.candidates import build_candidates
    from placer.check import candidate_violations
    from placer.plan import placement_of
    from placer.solve import solve

    problem = fleet_problem(100, seed=0)
    plan = solve(problem, time_limit=20, gap=0.5)
    assert plan.status == "feasible"
    assert plan.solver["stop_reason"] == "gap limit"
    assert 0 < plan.gap <= 0.5
    # the warm start is within 50 % of the LP's bound (about 26 % here): neither column
    # generation nor a search runs after it
    info = plan.solver
    assert plan.bound_usd == pytest.approx(info["lp_bound_usd"], abs=0.01)
    assert "columns_rounds" not in info and info["core_searches"] == 0
    assert info["status"] == "NOT_STARTED" and info["deterministic"] is True
    candidates = build_candidates(problem)
    units, left_out = placement_of(plan, candidates)
    assert candidate_violations(candidates, units, left_out, problem.policy) == []


def test_a_search_that_found_nothing_did_not_stop_at_the_gap_limit():
    # the whole model's search may find nothing better than the core's plan: CP-SAT's
    # objective and bound are then 0, and "0 gap" is no reason to have stopped
    from types import SimpleNamespace

    from ortools.sat.python import cp_model

    from placer.solve import SolveOptions, _stop_reason

    nothing = SimpleNamespace(objective_value=0.0, best_objective_bound=0.0,
                              deterministic_time=9.0)
    reason = _stop_reason(cp_model.UNKNOWN, nothing, SolveOptions(time_limit=10, gap=0.001),
                          deterministic_limit=10, interrupted=False)
    assert reason == "time limit"


def test_within_gap_measures_as_the_plan_does():
    # Plan.gap is (cost - bound) / cost
    from placer.solve import within_gap

    assert within_gap(100.0, 90.0, 0.1) and not within_gap(100.0, 89.9, 0.1)
    assert not within_gap(100.0, 99.0, None) and not within_gap(100.0, None, 0.5)
    assert not within_gap(100.0, float("-inf"), 0.5)
    assert within_gap(0.0, 0.0, 0.0) and not within_gap(0.0, -1.0, 0.5)


def test_no_search_starts_once_the_time_is_spent_with_a_plan_in_hand(monkeypatch):
    # column generation's master may end at the limit; a search started then only loads
    # its model past it (tight-5000x60 at 10 s: 0.13 s and 0.46 s more)
    from benchmarks.run import fleet_problem
    from placer.candidates import build_candidates
    from placer.solve import SolveOptions, solve_built_candidates

    engine = sys.modules["placer.solve"]
    real_warm_start = engine._warm_start
    searches: list[str] = []

    def warm_start_to_the_limit(*args, deadline, **kwargs):
        start = real_warm_start(*args, deadline=deadline, **kwargs)
        time.sleep(max(0.0, deadline - time.perf_counter()))
        return start

    monkeypatch.setattr(engine, "_warm_start", warm_start_to_the_limit)
    monkeypatch.setattr(engine, "_search_core", lambda *a, **k: searches.append("core"))
    monkeypatch.setattr(engine, "_run", lambda *a, **k: searches.append("whole"))
    problem = fleet_problem(100, seed=0)
    plan = solve_built_candidates(build_candidates(problem), problem.policy,
                                  SolveOptions(time_limit=3, workers=2, explain=False))
    assert searches == []
    assert plan.status == "feasible" and plan.solver["stop_reason"] == "time limit"
    assert plan.solver["status"] == "NOT_STARTED"
