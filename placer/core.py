"""The core of a problem: the few candidate rows a good plan is likely to use.

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


def core_rows(start_units: np.ndarray, lp_units: np.ndarray | None) -> np.ndarray:
    """Indices of the core's rows: those the warm start or the LP (or, when the LP did
    not finish, the capacity prices standing in for it) uses. The warm start's rows
    keep the warm start a plan of the core."""
    keep = start_units > 0
    if lp_units is not None:
        keep |= lp_units > 1e-6
    return np.flatnonzero(keep)


def core_candidates(candidates: Candidates, rows: np.ndarray) -> Candidates:
    """The candidate table restricted to some rows (workloads and offerings unchanged)."""
    return replace(candidates, rows=candidates.rows[rows])
