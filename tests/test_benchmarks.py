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
