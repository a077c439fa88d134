"""The core of a big problem: the few candidate rows a good plan is likely to use.

On fleet-sized models CP-SAT's search hardly moves a warm start in seconds (1,000
generated workloads, 32k candidate rows: not at all in 10 s), while the same search over
the rows the LP relaxation or the warm start uses (1.7k rows) finds a plan 5 % cheaper
in 6 s. A plan of the core is a plan of the whole problem (the same rules over fewer
rows); the core's bound is not a bound of the whole problem, so it is never reported.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from placer.candidates import Candidates

# Without an LP solution, the core holds each workload's cheapest rows per unit beside
# the warm start's.
CHEAPEST_ROWS_WITHOUT_LP = 2


def core_rows(candidates: Candidates, start_units: np.ndarray,
              lp_units: np.ndarray | None, unit_cost: np.ndarray) -> np.ndarray:
    """Indices of the core's rows: those the warm start or the LP uses, or (without an
    LP) each workload's cheapest few. Including the warm start's rows keeps it a plan of
    the core."""
    keep = start_units > 0
    if lp_units is not None:
        keep |= lp_units > 1e-6
    else:
        w = candidates.rows["w"].to_numpy()
        order = np.lexsort((unit_cost, w))
        first = np.searchsorted(w[order], w[order], side="left")
        rank = np.empty(len(w), dtype=np.int64)
        rank[order] = np.arange(len(w)) - first
        keep |= rank < CHEAPEST_ROWS_WITHOUT_LP
    return np.flatnonzero(keep)


def core_candidates(candidates: Candidates, rows: np.ndarray) -> Candidates:
    """The candidate table restricted to some rows (workloads and offerings unchanged)."""
    return replace(candidates, rows=candidates.rows[rows])
