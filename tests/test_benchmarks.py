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
