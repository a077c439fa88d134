"""Comparing strategies: overlays, compare, exit cost, frontier and break-even."""

from __future__ import annotations

import itertools
import json

import polars as pl
import pytest

from placer.check import check_plan
from placer.problem import problem_from_dict
from placer.scenarios import (
    apply_scenario,
    breakeven,
    compare,
    exit_costs,
    frontier,
    load_scenarios,
    run_many,
    sweep_options,
    variants_from,
)
from placer.schema import TIMINGS, PlanDocument, Scenario
from placer.solve import SolveOptions, solve
from tests.conftest import EXAMPLES

TWO = ["aws/us-east-1/h100", "aws/us-east-2/trn2"]


def jobs(n: int = 6, **extra) -> dict:
    return {"workloads": [{"name": f"job{i}", "kind": "training",
                           "chip_hours": 1000 * (i + 1), **extra} for i in range(n)]}


def same(a, b) -> bool:
    """Plans equal apart from timings."""
    def strip(plan) -> dict:
        doc = plan.to_dict()
        for key in TIMINGS:
            doc["solver"].pop(key)
        return doc

    return json.dumps(strip(a), sort_keys=True) == json.dumps(strip(b), sort_keys=True)


def test_overlays_apply_to_the_base_alone():
    base = problem_from_dict(jobs(2) | {"policy": {"max_share": {"chip_vendor": 0.8}}})
    cheaper = apply_scenario(base, Scenario(name="x", price=[{"chip": "trn2", "factor": 0.5}]))
    trn2 = cheaper.catalog.offerings.filter(pl.col("chip") == "trn2")["on_demand"].item()
    assert trn2 == pytest.approx(2.235 * 0.5)
    assert base.catalog.offerings.filter(pl.col("chip") == "trn2")["on_demand"].item() == 2.235
    merged = apply_scenario(base, Scenario(name="y", policy={"max_share": {"provider": 0.4}}))
    assert (merged.policy.max_share.provider, merged.policy.max_share.chip_vendor) == (0.4, 0.8)
    only = apply_scenario(base, Scenario(name="z", only={"chip_vendor": ["amd"]}))
    assert set(only.catalog.offerings["chip_vendor"]) == {"amd"}
    gone = apply_scenario(base, Scenario(name="w", deny={"provider": ["aws"]}))
    assert "aws" not in set(gone.catalog.offerings["provider"])
    eu = apply_scenario(base, Scenario(name="v", workloads={"residency": ["EU"],
                                                            "sovereign": True}))
    assert all(w.residency == ["EU"] and w.sovereign for w in eu.workloads)


def test_compare_startup_scenarios_every_plan_checks_out(tmp_path):
    scenarios = tmp_path / "s.yaml"
    scenarios.write_text(f"""
base: {EXAMPLES / 'startup.yaml'}
scenarios:
  - {{name: no-neoclouds, deny: {{provider: [verda, seeweb, nebius, ovhcloud, scaleway]}}}}
  - {{name: cheap-trainium, price: [{{chip: trn2, factor: 0.3}}]}}
  - {{name: nvidia-only, only: {{chip_vendor: [nvidia]}}}}
""")
    variants = load_scenarios(scenarios)
    result = compare(variants, sweep_options(time_limit=30), backend="serial")
    rows = result.table.to_dicts()
    assert [r["name"] for r in rows] == ["base", "no-neoclouds", "cheap-trainium",
                                         "nvidia-only"]
    assert rows[0]["delta_usd"] == 0
    for name, problem in zip(variants.names, variants.problems, strict=True):
        plan = result.plans[name]
        assert plan.status == "optimal", name
        assert check_plan(PlanDocument.model_validate(plan.to_dict()), problem) == [], name
    by = {r["name"]: r for r in rows}
    assert by["no-neoclouds"]["delta_usd"] > 0
    assert by["cheap-trainium"]["delta_usd"] < 0
    assert "trn2" in by["cheap-trainium"]["changes"]
    doc = result.to_list()
    assert set(doc[0]) >= {"name", "status", "total_usd", "delta_usd", "shares", "plan"}


def test_compare_from_python_takes_a_scenarios_file(tmp_path):
    import placer

    scenarios = tmp_path / "s.yaml"
    scenarios.write_text(f"""
base: {EXAMPLES / 'startup.yaml'}
scenarios:
  - {{name: no-verda, deny: {{provider: [verda]}}}}
""")
    result = placer.compare(scenarios, placer.sweep_options(time_limit=30), backend="serial")
    assert result.table["name"].to_list() == ["base", "no-verda"]
    assert result.table["total_usd"][0] == pytest.approx(245468.46238, abs=0.01)
    assert result.table["delta_usd"][1] > 0


def test_compare_cli_json(cli, tmp_path):
    scenarios = tmp_path / "s.yaml"
    scenarios.write_text(f"base: {EXAMPLES / 'startup.yaml'}\nscenarios:\n"
                         "  - {name: leave-verda, deny: {provider: [verda]}}\n")
    result = cli("compare", scenarios, "--format", "json", "--backend", "serial",
                 "--time-limit", "20")
    assert result.code == 0
    doc = json.loads(result.out)
    assert [d["name"] for d in doc] == ["base", "leave-verda"]
    assert doc[1]["delta_usd"] > 0


def test_scenario_file_errors_name_the_line(cli, tmp_path):
    scenarios = tmp_path / "s.yaml"
    scenarios.write_text(f"base: {EXAMPLES / 'startup.yaml'}\nscenarios:\n"
                         "  - {name: a, deny: {provider: [awz]}}\n"
                         "  - {name: a, policy: {max_share: {provider: 2}}}\n"
                         "  - {name: b, price: [{factor: 0.5}]}\n")
    result = cli("compare", scenarios)
    assert result.code == 2
    assert result.err.splitlines() == [
        f"error: {scenarios}:5: scenarios[2].price[0]: name exactly one of chip, provider, "
        "offering, region, chip_vendor, with a factor",
    ]
    scenarios.write_text(f"base: {EXAMPLES / 'startup.yaml'}\nscenarios:\n"
                         "  - {name: a, deny: {provider: [awz]}}\n"
                         "  - {name: a, policy: {max_share: {provider: 2}}}\n")
    result = cli("compare", scenarios)
    assert result.err.splitlines() == [
        f"error: {scenarios}:3: scenarios[0].deny: unknown provider 'awz'; did you mean 'aws'? "
        "(known: aws, azure, digitalocean, gcp, nebius, oci, ovhcloud, scaleway, seeweb, verda)",
        f"error: {scenarios}:4: scenarios[1].name: scenario name 'a' is used twice",
    ]


def test_frontier_costs_never_fall_as_the_cap_tightens():
    problem = problem_from_dict(jobs(6))
    points = frontier(problem, "provider", step=0.1, options=sweep_options(time_limit=20),
                      backend="serial")
    totals = [t for t in points["total_usd"].to_list() if t is not None]
    assert len(totals) >= 4
    assert all(b >= a - 1e-6 for a, b in itertools.pairwise(totals))
    for cap, share in points.select("cap", "largest_share").iter_rows():
        if share is not None:
            assert share <= cap + 1e-9
    assert points["status"].to_list()[-1] == "infeasible"  # swept to the tightest feasible


def test_frontier_plot_is_written(cli, tmp_path):
    fleet = tmp_path / "f.yaml"
    fleet.write_text(json.dumps(jobs(3)))
    png = tmp_path / "frontier.png"
    result = cli("frontier", fleet, "--step", "0.25", "--plot", png, "--backend", "serial",
                 "--time-limit", "10")
    assert result.code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(("port", "expected"), [(0.0, 6.88 * 0.674),
                                                (20000.0, (68800 - 20000) * 0.674 / 10000)])
def test_breakeven_matches_the_hand_computed_price(port, expected):
    # one 10,000 H100-hour job; H100 at $6.88 vs Trainium2 at $2.235 with speed 0.674:
    # Trainium2 costs 10,000 / 0.674 * p + port, H100 costs 68,800
    problem = problem_from_dict({"policy": {"allow": {"offering": TWO}}, "workloads": [
        {"name": "job", "kind": "training", "chip_hours": 10000,
         "port_usd": {"neuron": port}}]})
    result = breakeven(problem, chip="trn2", tolerance=0.01,
                       options=SolveOptions(time_limit=20))
    assert result.direction == "stops winning above"
    assert abs(result.breakeven_price - expected) <= 0.01
    assert result.workloads_at_breakeven == ["job"]
    assert result.chip_hours_at_breakeven == pytest.approx(10000 / 0.674)


def test_breakeven_probes_ask_no_explanation(monkeypatch):
    # a probe without a plan places nothing: an explanation (up to 30 s each) is not asked
    import placer.scenarios as scenarios

    asked = []

    def recording_solve(*args: object, **kwargs: object) -> object:
        asked.append(kwargs.get("explain", True))
        return solve(*args, **kwargs)

    monkeypatch.setattr(scenarios, "solve", recording_solve)
    problem = problem_from_dict({"policy": {"allow": {"offering": TWO}}, "workloads": [
        {"name": "job", "kind": "training", "chip_hours": 10000}]})
    breakeven(problem, chip="trn2", tolerance=0.5, options=SolveOptions(time_limit=20))
    assert asked and not any(asked)


def test_exit_cost_is_the_re_solved_difference():
    problem = problem_from_dict({"policy": {"allow": {"offering": [
        "verda/fin-03/b200", "nebius/us-central1/b200", "aws/us-east-1/h100"]}},
        "workloads": [{"name": "job", "kind": "training", "chip_hours": 2884}]})
    plan = solve(problem, time_limit=20)
    assert plan.assignments["offering"].to_list() == ["verda/fin-03/b200"]
    costs = exit_costs(problem, plan, options=sweep_options(time_limit=20), backend="serial")
    verda = costs.filter(pl.col("key") == "verda").row(0, named=True)
    # without Verda the job moves to Nebius's B200 at $8.50 instead of $4.89 (1,000 B200-hours)
    assert verda["exit_cost_usd"] == pytest.approx(1000 * (8.50 - 4.89))
    nvidia = costs.filter(pl.col("key") == "nvidia").row(0, named=True)
    assert nvidia["status"] == "infeasible" and nvidia["exit_cost_usd"] is None


def test_pool_and_serial_give_identical_plans():
    base = problem_from_dict(jobs(4))
    variants = variants_from(base, [Scenario(name="x", deny={"provider": ["verda"]}),
                                    Scenario(name="y", price=[{"chip": "b200", "factor": 2}])])
    opts = sweep_options(time_limit=20)
    serial = run_many(variants.problems, opts, backend="serial")
    pooled = run_many(variants.problems, opts, backend="pool", jobs=2)
    assert all(same(a, b) for a, b in zip(serial, pooled, strict=True))


def test_ray_gives_the_same_plans_as_the_pool():
    ray = pytest.importorskip("ray")
    base = problem_from_dict(jobs(4))
    variants = variants_from(base, [Scenario(name="x", deny={"provider": ["verda"]})])
    opts = sweep_options(time_limit=20)
    try:
        on_ray = run_many(variants.problems, opts, backend="ray")
    finally:
        ray.shutdown()
    pooled = run_many(variants.problems, opts, backend="pool", jobs=2)
    assert all(same(a, b) for a, b in zip(on_ray, pooled, strict=True))
