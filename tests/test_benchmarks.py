"""The benchmark's generated fleets: every one must have a plan to compare solvers on."""

from __future__ import annotations

import sys

import polars as pl
import pytest

from tests.conftest import ROOT


@pytest.mark.parametrize("seed", range(6))
def test_every_generated_workload_has_a_candidate(seed):
    sys.path.insert(0, str(ROOT))
    from benchmarks.run import fleet_problem
    from placer.candidates import build_candidates

    candidates = build_candidates(fleet_problem(100, seed))
    assert candidates.funnel.filter(pl.col("capacity") == 0)["workload"].to_list() == []


def test_the_parts_line_names_the_dearest_parts_against_the_median_and_their_own_lps():
    sys.path.insert(0, str(ROOT))
    from benchmarks.run import parts_line

    def part(k, total, lp, workloads=100, rounds=3, master="OPTIMAL"):
        return {"part": k, "workloads": workloads, "time_limit_s": 12.5, "time_s": 12.4,
                "total_usd": total, "lp_bound_usd": lp, "columns_rounds": rounds,
                "master_status": master, "stop_reason": "time limit"}

    # per workload: $1,000, $1,100 (no LP), $1,200 (twice the workloads), none, $1,050
    parts = [part(0, 100_000, 92_000), part(1, 110_000, None, rounds=0, master=None),
             part(2, 240_000, 200_000, workloads=200), part(3, None, None),
             part(4, 105_000, 100_000, master="NOT_STARTED")]
    assert parts_line(parts, dearest=2) == (
        "  parts: 5 (1 without a plan, 1 without an LP), per workload median $1,100; "
        "dearest: part 2 +9.1% (+20.0% on its LP, 3 rounds, master OPTIMAL, 12.4 of "
        "12.5 s); part 1 +0.0% (no LP, 0 rounds, master None, 12.4 of 12.5 s)")
    assert parts_line([part(0, None, None)]) == "  parts: 1, none found a plan"


def test_the_runs_line_sums_up_placers_spread_over_repeated_runs():
    sys.path.insert(0, str(ROOT))
    from benchmarks.run import runs_line

    def run(cost, bound, time_s=10.0, violations=()):
        return {"status": "feasible", "cost_usd": cost, "bound_usd": bound,
                "gap": None if cost is None else (cost - bound) / cost, "time_s": time_s,
                "violations": list(violations)}

    # gaps 0.05 % (proven at 9.1 s), 0.2 %, 0.08 % (at 7.0 s), 0.5 % but breaking a rule
    runs = [run(20_000, 19_990, 9.1), run(20_000, 19_960), run(25_000, 24_980, 7.0),
            run(20_000, 19_900, violations=["too much on one provider"]),
            {"status": "unknown", "cost_usd": None, "bound_usd": None, "gap": None,
             "time_s": 10.0, "violations": []}]
    assert runs_line(runs) == (
        "  placer over 5 runs: gap 0.050% / 0.080% / 0.200% (least / median / most), "
        "cost $20,000 / $20,000 / $25,000; within 0.1%: 2 of 5 (median 7.0 s); 2 without "
        "a plan that keeps the rules")
    assert runs_line(runs[3:]) == \
        "  placer over 2 runs: none found a plan that keeps the rules"


def test_the_benchmark_runs_placer_again_on_each_fleet_and_keeps_every_run(tmp_path):
    import json
    import subprocess

    out = tmp_path / "results.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--sizes", "100",
               "--hard", "--peers", "--seed", "3", "4", "--repeat", "2",
               "--time-limit", "1", "--json", str(out)]
    shown = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    results = json.loads(out.read_text())["results"]
    assert [(r["instance"], r["seed"], len(r["placer_runs"])) for r in results] == [
        ("fleet-100, seed 3", 3, 2), ("fleet-100, seed 4", 4, 2)]
    assert all(r["placer"] == r["placer_runs"][0] for r in results)
    assert shown.count("placer over 2 runs: ") == 2
    refused = subprocess.run([*command[:-4], "--repeat", "0"], capture_output=True,
                             text=True)
    assert refused.returncode == 2
    assert refused.stdout == ""
    assert "--repeat must be at least 1" in refused.stderr


def test_the_benchmark_takes_the_fleets_caps(tmp_path):
    import json
    import subprocess

    out = tmp_path / "results.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--sizes", "100",
               "--hard", "--peers", "--seed", "2", "--caps", "0.2", "0.5",
               "--time-limit", "1", "--json", str(out)]
    subprocess.run(command, capture_output=True, text=True, check=True)
    (result,) = json.loads(out.read_text())["results"]
    assert (result["instance"], result["caps"]) == ("fleet-100, seed 2, caps 0.2 / 0.5",
                                                    [0.2, 0.5])
    assert result["placer"]["caps"] == [0.2, 0.5]  # the child solved the fleet so capped
    refused = subprocess.run([*command[:8], "--caps", "0", "0.5"], capture_output=True,
                             text=True)
    assert refused.returncode == 2
    assert "--caps must be shares between 0 and 1, e.g. 0.2 0.5" in refused.stderr


def test_the_load_benchmark_writes_one_fleet_in_every_format_and_loads_each(
        tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT))
    import placer.io
    from benchmarks.load import LOADS, load_once, write_fleet
    from placer.problem import load

    monkeypatch.setattr(placer.io, "WITH_LIBYAML", placer.io.WITH_LIBYAML)  # restored after
    paths = write_fleet(50, 3, tmp_path)
    problems = [load(path) for path in paths.values()]
    assert all(p.workloads == problems[0].workloads for p in problems)
    for _, fmt, pyyaml_parser in LOADS:
        run = load_once(paths[fmt], pyyaml_parser)
        assert run["workloads"] == 50 and run["seconds"] > 0 and run["peak_mb"] > 0
    assert not placer.io.WITH_LIBYAML  # the last YAML load was PyYAML's parser's
