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
from placer.relax import lowest_per_group

# A core searched by neighbourhoods (placer.lns) also holds each workload's cheapest rows
# per unit of work, so that a wide neighbourhood has somewhere to move to (the narrow
# ones see every row). With 1 / 2 / 3 of them, 1,000 workloads at 10 s (three fleets,
# mean) $21.51M / $21.54M / $21.64M; 10,000 at 60 s, 2 / 3 / 4: $218.8M / $218.0M /
# $218.0M. (Before the narrow neighbourhoods, 0 / 2 / 3 / 4 at 10,000: $223.6M / $221.5M /
# $219.3M / $219.7M. One search of a core wider than the LP's and the warm start's rows
# was slower to improve: $22.99M against $21.95M at 1k.)
CHEAPEST_ROWS_PER_WORKLOAD = 2


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


def cheapest_rows(candidates: Candidates, per_workload: int) -> np.ndarray:
    """Indices of each workload's `per_workload` cheapest rows per unit of work (a gang;
    one H100-equivalent served), compute and carbon."""
    rows = candidates.rows
    training = (rows["kind"] == "training").to_numpy()
    cost = (rows["unit_compute_usd"] + rows["unit_carbon_usd"]).to_numpy() / np.where(
        training, 1.0, rows["unit_ref"].fill_null(1.0).to_numpy())
    return np.flatnonzero(lowest_per_group(cost, rows["w"].to_numpy(), per_workload))
