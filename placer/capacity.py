"""Capacity alone: whether the offerings can hold the fleet's work at all.

The LP of the capacity rows and the required workloads' demand, every other rule (caps,
spread, ports, budget, whole instances) left out: a relaxation of the model, so where it
has no solution no plan exists. Workloads with the same candidate offerings and the same
chips per unit of work on each form one class (their columns are the same), which makes
the LP small: the generated 10,000-workload fleet's 309,000 candidate rows are 1,437
classes on 54,644 edges, decided in 0.2 s; its 100,000 one's in about 1-4 s.

Where it has no solution, the offerings its least overflow prices (a Farkas
certificate's support), narrowed by a deletion filter, hold less than the workloads that
can run only on them need, and one LP per offering says how far its capacity must grow
at least.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy import sparse
from scipy.optimize import linprog

from placer.candidates import Candidates, offering_ids
from placer.model import fillable_capacity

# Overflow below this many chips in all is the LP solver's tolerance, not a shortfall.
OVERFLOW_TOLERANCE = 1e-6
# The LP is cheap where workloads merge into classes: the generated fleets' edges are a
# third (1,000 workloads) to a tenth (100,000) of their rows, decided in 0.03-2 s. Where
# they hardly merge it is not: the candidates-format tight-5000x60, 150,000 rows, one
# class per workload, takes 3.9 s of a 10 s limit (tight-2000x60 0.55 s) for an LP whose
# answer its own LP relaxation gives anyway.
MERGED_SHARE = 0.5


@dataclass(frozen=True)
class CapacityLP:
    """Classes of required workloads against the offerings' capacity."""

    klass: np.ndarray       # per edge: its class
    offering: np.ndarray    # per edge: its offering (a position in candidates.offerings)
    chips: np.ndarray       # per edge: chips per unit of the class's work there
    work: np.ndarray        # per class: units of work (gangs, or H100-equivalents)
    members: list[list[int]]  # per class: its workloads (w)
    capacity: np.ndarray    # per offering: the chips whole placements can fill
    rows: int = 0           # the candidate rows the edges stand for

    @property
    def merged(self) -> bool:
        """Whether the workloads merge into classes enough for the LP to be cheap."""
        return merges(len(self.klass), self.rows)

    def confined_to(self, offerings: np.ndarray) -> np.ndarray:
        """The classes whose every edge is on one of `offerings` (a mask per offering)."""
        outside = np.bincount(self.klass, weights=(~offerings[self.offering]).astype(float),
                              minlength=len(self.work))
        return outside == 0


# A unit of work: a gang, or an H100-equivalent of serving (the workload table's columns)
WORK = pl.when(pl.col("kind") == "training").then(1.0).otherwise(pl.col("demand")).alias("work")
# Chips per unit of work (the candidate table's columns): a gang takes its chips once,
# serving takes them per H100-equivalent
CHIPS_PER_WORK = pl.when(pl.col("kind") == "training") \
    .then(pl.col("unit_chips").cast(pl.Float64)) \
    .otherwise(pl.col("unit_chips") / pl.col("unit_ref"))


def merges(edges: int, rows: int) -> bool:
    """Whether classes of `edges` edges over `rows` candidate rows merge enough for an
    LP over them to be cheap (MERGED_SHARE)."""
    return edges <= MERGED_SHARE * rows


def capacity_lp(candidates: Candidates) -> CapacityLP:
    """The capacity LP of a candidate table, its identical workloads merged."""
    rows = candidates.rows
    offerings = offering_ids(rows, candidates.offerings)
    capacity = fillable_capacity(rows["unit_chips"].to_numpy(), offerings,
                                 candidates.offerings["capacity_chips"].to_numpy())
    workloads = candidates.workloads
    classes = (
        rows.select("w", pl.Series("o", offerings), CHIPS_PER_WORK.alias("r"))
        .join(workloads.filter(pl.col("required")).select("w", WORK), on="w")
        .group_by("w", maintain_order=True).agg("o", "r", pl.col("work").first())
        .group_by("o", "r", maintain_order=True).agg(pl.col("work").sum(), pl.col("w"))
        .with_row_index("k")
    )
    edges = classes.select("k", "o", "r").explode("o", "r")
    return CapacityLP(edges["k"].to_numpy().astype(np.int64),
                      edges["o"].to_numpy().astype(np.int64), edges["r"].to_numpy(),
                      classes["work"].to_numpy(), classes["w"].to_list(),
                      capacity.astype(np.float64), rows.height)


def least_overflow(lp: CapacityLP, classes: np.ndarray, violable: np.ndarray
                   ) -> tuple[float, np.ndarray]:
    """The fewest chips in all by which the offerings `violable` (a mask) must overflow
    their capacity for the classes `classes` (a mask) to fit, the others held, with the
    price of each offering's capacity (a Farkas certificate where the overflow is
    positive); infinity where no overflow of those is enough."""
    edges = np.flatnonzero(classes[lp.klass])
    n_offerings = len(lp.capacity)
    prices = np.zeros(n_offerings)
    if len(edges) == 0:
        return 0.0, prices
    klass = np.unique(lp.klass[edges], return_inverse=True)[1]
    offering = lp.offering[edges]
    n_edges, n_classes = len(edges), int(klass.max()) + 1
    slack_of = np.flatnonzero(violable)
    at = np.arange(n_edges)
    demand = sparse.csr_matrix((-np.ones(n_edges), (klass, at)), shape=(n_classes, n_edges))
    held = sparse.csr_matrix((lp.chips[edges], (offering, at)), shape=(n_offerings, n_edges))
    overflow = sparse.csr_matrix((-np.ones(len(slack_of)), (slack_of, np.arange(len(slack_of)))),
                                 shape=(n_offerings, len(slack_of)))
    matrix = sparse.vstack([
        sparse.hstack([demand, sparse.csr_matrix((n_classes, len(slack_of)))]),
        sparse.hstack([held, overflow])]).tocsr()
    work = lp.work[classes]
    cost = np.r_[np.zeros(n_edges), np.ones(len(slack_of))]
    solved = linprog(cost, A_ub=matrix, b_ub=np.r_[-work, lp.capacity], bounds=(0, None),
                     method="highs")
    if solved.status == 2:
        return float("inf"), prices
    if solved.status != 0:
        raise RuntimeError(f"HiGHS could not solve the capacity LP: {solved.message}")
    prices = -solved.ineqlin.marginals[n_classes:]
    return float(solved.fun), prices


def _beyond_tolerance(lp: CapacityLP, overflow: float, offerings: np.ndarray) -> bool:
    """Whether an overflow of those offerings (a mask) is a shortfall, not the LP
    solver's tolerance."""
    return overflow > OVERFLOW_TOLERANCE * max(1.0, float(lp.capacity[offerings].sum()))


def has_room(lp: CapacityLP) -> bool:
    """Whether the capacity LP has a solution (if not, no plan has one)."""
    return not overflows(lp, np.ones(len(lp.capacity), dtype=bool))


def proven_short(candidates: Candidates) -> bool:
    """Whether capacity's LP, run where the workloads merge into classes (else it is not
    cheap), proves that no plan exists."""
    lp = capacity_lp(candidates)
    return lp.merged and not has_room(lp)


def overflows(lp: CapacityLP, offerings: np.ndarray) -> bool:
    """Whether the classes confined to `offerings` (a mask) overflow them."""
    overflow, _ = least_overflow(lp, lp.confined_to(offerings), offerings)
    return _beyond_tolerance(lp, overflow, offerings)


def offerings_in_conflict(lp: CapacityLP, order: list[int] | None = None) -> np.ndarray | None:
    """A set of offerings (a mask) whose capacity cannot hold the workloads that can run
    only on them, minimal (dropping any one lets them fit); None where the capacity LP
    has a solution. The deletion filter tries the offerings in `order` (default: by
    position)."""
    every_offering = np.ones(len(lp.capacity), dtype=bool)
    overflow, prices = least_overflow(lp, lp.confined_to(every_offering), every_offering)
    if not _beyond_tolerance(lp, overflow, every_offering):
        return None
    conflict = prices > 1e-9
    if not conflict.any() or not overflows(lp, conflict):  # numerically unclear: start wide
        conflict = every_offering.copy()
    for offering in order if order is not None else range(len(lp.capacity)):
        if not conflict[offering]:
            continue
        conflict[offering] = False  # its capacity unlimited: whoever can leaves the set
        if not overflows(lp, conflict):
            conflict[offering] = True
    return conflict


def growth_needed(lp: CapacityLP, conflict: np.ndarray, offering: int) -> float:
    """How many chips at the least the capacity of `offering` must grow, the others
    held, for the workloads that can run only on the conflict's offerings (a mask) to
    fit; infinity where no growth of it alone is enough."""
    overflow, _ = least_overflow(lp, lp.confined_to(conflict),
                                 np.arange(len(lp.capacity)) == offering)
    return overflow
