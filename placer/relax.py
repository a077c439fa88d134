"""The LP relaxation of the CP-SAT model: a lower bound, and prices that guide the warm
start. Built from the arrays ProtoBuilder mirrors, solved by GLOP."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from ortools.linear_solver.python import model_builder_helper as mbh
from scipy import sparse

from placer.model import INT64_SAFE, ProtoBuilder


@dataclass(frozen=True)
class Relaxation:
    optimal: bool
    objective: float        # in solver units
    values: np.ndarray      # per variable
    reduced_costs: np.ndarray
    time_s: float


def solve_relaxation(builder: ProtoBuilder, time_limit: float = 30.0,
                     fixed: dict[int, int] | None = None) -> Relaxation | None:
    """Solve the LP relaxation (with some variables fixed to values, if given); None when
    GLOP fails or finds no solution in time."""
    started = time.perf_counter()
    lower, upper = builder.bounds()
    if fixed:
        at = np.fromiter(fixed.keys(), dtype=np.int64)
        values = np.fromiter(fixed.values(), dtype=np.int64)
        lower, upper = lower.copy(), upper.copy()
        lower[at] = values
        upper[at] = values
    if not builder.rows:
        return None
    lengths = np.fromiter((len(v) for v, _, _, _ in builder.rows), dtype=np.int64,
                          count=len(builder.rows))
    indptr = np.concatenate(([0], np.cumsum(lengths)))
    indices = np.concatenate([v for v, _, _, _ in builder.rows])
    data = np.concatenate([c for _, c, _, _ in builder.rows]).astype(np.float64)
    matrix = sparse.csr_matrix((data, indices, indptr),
                               shape=(len(builder.rows), builder.num_vars))
    matrix.sum_duplicates()
    lo = np.array([r[2] for r in builder.rows], dtype=np.float64)
    hi = np.array([r[3] for r in builder.rows], dtype=np.float64)
    lo[lo <= -INT64_SAFE] = -np.inf
    hi[hi >= INT64_SAFE] = np.inf
    # Rows mix chips, milli-H100s and cents (1 to 1e10): scale each row to a largest
    # coefficient of 1 and the objective to a largest of 1000, or GLOP can fail.
    row_max = np.maximum(abs(matrix).max(axis=1).toarray().ravel(), 1e-12)
    scaled = sparse.diags(1.0 / row_max) @ matrix
    objective = builder.objective()
    obj_scale = 1000.0 / max(float(np.abs(objective).max()), 1e-12)
    model = mbh.ModelBuilderHelper()
    model.fill_model_from_sparse_data(lower.astype(np.float64), upper.astype(np.float64),
                                      objective * obj_scale, lo / row_max, hi / row_max,
                                      scaled.tocsr())
    solver = mbh.ModelSolverHelper("glop")
    if not solver.solver_is_supported():
        return None
    solver.set_time_limit_in_seconds(time_limit)
    solver.solve(model)
    if not solver.has_solution():
        return None
    optimal = solver.status() == mbh.SolveStatus.OPTIMAL
    return Relaxation(
        optimal=optimal,
        objective=float(solver.objective_value()) / obj_scale,
        values=np.asarray(solver.variable_values()),
        reduced_costs=np.asarray(solver.reduced_costs()) / obj_scale,
        time_s=time.perf_counter() - started,
    )
