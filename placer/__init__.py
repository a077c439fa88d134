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
from placer.scenarios import (
    breakeven,
    compare,
    exit_costs,
    frontier,
    load_scenarios,
    sweep_options,
)
from placer.skypilot_catalog import import_skypilot
from placer.solve import solve, solve_candidates

__all__ = [
    "Catalog",
    "InputError",
    "PlacerError",
    "Plan",
    "Problem",
    "breakeven",
    "compare",
    "default_catalog",
    "exit_costs",
    "frontier",
    "import_skypilot",
    "load",
    "load_catalog",
    "load_scenarios",
    "problem_from_dict",
    "solve",
    "solve_candidates",
    "sweep_options",
]
__version__ = "0.1.0"
