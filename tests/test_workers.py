"""Parts solved in worker processes (placer.workers)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from placer.candidates import build_candidates
from placer.plan import placement_of
from placer.solve import SolveOptions, solve_built_candidates
from placer.workers import PartWorkers
from tests.test_engine import _fleet

OPTIONS = SolveOptions(time_limit=20, workers=1, seed=3, explain=False, in_parts=False,
                       lagrangian=False)


def _never() -> bool:
    return False


@pytest.fixture(scope="module")
def small():
    problem = _fleet(12)
    return build_candidates(problem), problem.policy


def test_a_part_solved_by_a_worker_is_the_plan_solved_here(small):
    candidates, policy = small
    here = solve_built_candidates(candidates, policy, OPTIONS)
    assert here.status == "optimal" and here.solver["deterministic"]  # the same anywhere
    with PartWorkers(1) as workers:
        answer = workers.solve(candidates, policy, OPTIONS, _never)
        assert workers.peak_mb > 0
    assert answer is not None
    (units, left_out), info = answer
    expected_units, expected_left_out = placement_of(here, candidates)
    assert np.array_equal(units, expected_units)
    assert np.array_equal(left_out, expected_left_out)
    assert info["objective_units"] == here.solver["objective_units"]


def test_a_worker_reports_its_lps_prices_before_its_answer_as_solved_here(small):
    # its LP's prices, then its master's after the rounds of columns
    from dataclasses import replace

    candidates, policy = small
    here, there = [], []
    solve_built_candidates(candidates, policy, replace(OPTIONS, on_lp_prices=here.append))
    with PartWorkers(1) as workers:
        answer = workers.solve(candidates, policy, replace(OPTIONS, on_lp_prices=there.append),
                               _never)
        assert answer is not None
        # and a job that asks for none gets none
        assert workers.solve(candidates, policy, OPTIONS, _never) is not None
    assert [p.after_columns for p in here] == [p.after_columns for p in there] == [False, True]
    assert here[0].capacity.any()  # the fleet fills an offering: it has a price
    for mine, theirs in zip(here, there, strict=True):
        assert np.array_equal(mine.capacity, theirs.capacity)
        assert mine.caps.keys() == theirs.caps.keys()
        for dim, (keys, prices) in mine.caps.items():
            assert keys == theirs.caps[dim][0] and np.array_equal(prices, theirs.caps[dim][1])


def test_a_worker_is_given_its_callers_deadline_not_its_time_limit_from_when_sent(small):
    # the caller stops the part at its deadline: a worker sent the part late must not
    # think it has the whole time limit (its phases would leave its master none)
    candidates, policy = small
    with PartWorkers(1) as workers:
        # no deadline: the time limit, from when the worker is sent the part (after its
        # imports, which this first job waits for)
        answer = workers.solve(candidates, policy, OPTIONS, _never)
        assert answer is not None
        assert 3.0 < answer[1]["time_limit_s"] <= OPTIONS.time_limit
        sent = time.perf_counter()
        answer = workers.solve(candidates, policy, OPTIONS, _never, deadline=sent + 3.0)
        assert answer is not None
        assert 2.0 < answer[1]["time_limit_s"] <= 3.0


def test_a_job_that_fails_answers_none_and_the_worker_takes_the_next(small):
    candidates, policy = small
    with PartWorkers(1) as workers:
        # 0 workers are refused in the worker (InputError)
        bad = SolveOptions(time_limit=5, workers=0, in_parts=False)
        assert workers.solve(candidates, policy, bad, _never) is None
        assert workers.solve(candidates, policy, OPTIONS, _never) is not None


def test_a_dead_worker_answers_none_and_is_not_waited_for(small):
    candidates, policy = small
    with PartWorkers(1) as workers:
        workers._all[0].kill()
        workers._all[0].wait()
        assert workers.solve(candidates, policy, OPTIONS, _never) is None
        assert workers.solve(candidates, policy, OPTIONS, _never) is None  # none left


def test_a_worker_does_not_run_the_callers_script_again(tmp_path):
    # multiprocessing's spawn would re-run a script with no __main__ guard in the child
    marks = tmp_path / "marks.txt"
    script = tmp_path / "plain.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
        from placer.candidates import build_candidates
        from placer.solve import SolveOptions
        from placer.workers import PartWorkers
        from tests.test_engine import _fleet

        with open({str(marks)!r}, "a") as out:
            out.write("ran\\n")
        problem = _fleet(12)
        options = SolveOptions(time_limit=5, workers=1, in_parts=False, explain=False)
        with PartWorkers(1) as workers:
            answer = workers.solve(build_candidates(problem), problem.policy, options,
                                   lambda: False)
        print("answered" if answer is not None else "none")
    """))
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "answered\n"
    assert marks.read_text() == "ran\n"


def test_a_worker_imports_the_callers_placer_not_one_in_its_working_directory(
        small, tmp_path, monkeypatch):
    # `python -c` puts the working directory first on the path: a worker started from a
    # checkout of another placer imported that one
    (tmp_path / "placer").mkdir()
    (tmp_path / "placer" / "__init__.py").write_text('raise ImportError("another placer")\n')
    monkeypatch.chdir(tmp_path)
    candidates, policy = small
    with PartWorkers(1) as workers:
        assert workers.solve(candidates, policy, OPTIONS, _never) is not None
