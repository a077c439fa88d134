"""Shared test helpers: run the real CLI entry point in-process and capture its output."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys, monkeypatch):
    """cli('validate', 'f.yaml') -> Result(code, out, err), through placer.cli.main."""
    from placer.cli import main

    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("NO_COLOR", "1")

    def run(*args: str) -> Result:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["placer", *map(str, args)])
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def write(tmp_path):
    """write('name.yaml', text) -> Path in a fresh temporary folder."""

    def make(name: str, text: str | bytes) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
        return path

    return make


def no_search_after_the_warm_start(monkeypatch: pytest.MonkeyPatch) -> list:
    """Make solves end after their warm start (the LP, the pieces, column generation and
    the bounds they give), with its plan: for tests of that phase, which need not pay for
    the search after it. Returns, per solve, the units per row (the LP's, and the
    pieces' plan's where higher) from which its core would have been chosen."""
    engine = sys.modules["placer.solve"]
    core_units: list = []

    def search_core(built, candidates, policy, options, workers, start, units, *args,
                    **kwargs):
        core_units.append(units)
        return engine.CoreSearch()

    monkeypatch.setattr(engine, "_search_core", search_core)
    # with a plan to fall back on, the whole model is then not searched either
    monkeypatch.setattr(engine, "WHOLE_SEARCH_VARS", -1)
    return core_units


def warm_start_places_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the warm start leave every workload out: a plan that breaks a rule (every
    required workload unplaced), as where tight caps defeat its repair."""
    engine = sys.modules["placer.solve"]
    original_warm_start = engine.warm_start

    def leaves_everything_out(*args, **kwargs):
        start = original_warm_start(*args, **kwargs)
        start.units[:] = 0
        return start

    monkeypatch.setattr(engine, "warm_start", leaves_everything_out)


@pytest.fixture(scope="session")
def enterprise_plan():
    """The enterprise example and its plan (seed 3), solved once for the tests that only
    read it: the search proves it optimal, which takes about 10 s."""
    from placer.problem import load
    from placer.solve import solve

    problem = load(EXAMPLES / "enterprise.yaml")
    return problem, solve(problem, time_limit=30, seed=3)
