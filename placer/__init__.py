"""placer: decide where AI work should run.

    import placer
    problem = placer.load("fleet.yaml")
    plan = placer.solve(problem, time_limit=10, seed=0)
    plan.assignments          # polars DataFrame
"""

from placer.catalog import Catalog, default_catalog, load_catalog
from placer.errors import InputError, PlacerError
from placer.plan import Plan
from placer.problem import Problem, load, problem_from_dict
from placer.solve import solve, solve_candidates

__all__ = [
    "Catalog",
    "InputError",
    "PlacerError",
    "Plan",
    "Problem",
    "default_catalog",
    "load",
    "load_catalog",
    "problem_from_dict",
    "solve",
    "solve_candidates",
]
__version__ = "0.1.0"
