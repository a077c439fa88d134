"""`placer solve`: output formats, files, exit codes, and the candidates route."""

from __future__ import annotations

import json
import sys

import polars as pl
import pytest

from tests.conftest import EXAMPLES

STARTUP = EXAMPLES / "startup.yaml"
INFEASIBLE = (
    "workloads:\n"
    "  - {name: big, kind: training, chip_hours: 5000000, deadline_days: 7, residency: [EU]}\n"
)


def test_json_on_stdout_is_only_json_with_the_design_keys(cli):
    result = cli("solve", STARTUP, "--format", "json", "--time-limit", "20")
    assert result.code == 0
    plan = json.loads(result.out)
    for key in ("status", "total_usd", "bound_usd", "gap", "cost", "assignments", "ports",
                "unplaced", "shares", "solver"):
        assert key in plan
    for key in ("workload", "offering", "provider", "region", "chip", "chips", "hours",
                "compute_usd"):
        assert key in plan["assignments"][0]
    assert plan["status"] == "optimal"


def test_table_summary_shows_cost_and_shares(cli):
    result = cli("solve", STARTUP, "--time-limit", "20")
    assert result.code == 0
    assert result.out.startswith("optimal: $245,468 (bound $245,468, gap 0.00%) in ")
    assert "Spend by provider (HHI" in result.out
    assert "verda/fin-03/b200" in result.out


def test_out_writes_the_plan_atomically(cli, tmp_path):
    out = tmp_path / "plan.json"
    result = cli("solve", STARTUP, "--out", out, "--time-limit", "20")
    assert result.code == 0
    assert json.loads(out.read_text())["status"] == "optimal"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.json"]
    csv_out = tmp_path / "plan.csv"
    assert cli("solve", STARTUP, "--out", csv_out, "--time-limit", "20").code == 0
    assert pl.read_csv(csv_out)["workload"].to_list() == ["chat-eu", "chat-eu", "pretrain-8b"]
    pq = tmp_path / "plan.parquet"
    assert cli("solve", STARTUP, "--out", pq, "--time-limit", "20").code == 0
    assert pl.read_parquet(pq).height == 3


def test_markdown_report(cli):
    result = cli("solve", STARTUP, "--format", "md", "--time-limit", "20")
    assert result.out.startswith("# placer plan\n\n**optimal: $245,468")
    assert "## Spend by provider" in result.out


def test_parquet_needs_out(cli):
    result = cli("solve", STARTUP, "--format", "parquet")
    assert (result.code, result.err) == (2, "error: --format parquet writes binary: give "
                                            "--out FILE\n")


def test_no_plan_exits_1_and_says_why(cli, write):
    path = write("f.yaml", INFEASIBLE)
    result = cli("solve", path, "--time-limit", "10")
    assert result.code == 1
    assert result.out.startswith("infeasible: no plan\n  big: no offering passes its rules")
    result = cli("solve", path, "--format", "json", "--time-limit", "10")
    assert result.code == 1
    assert json.loads(result.out)["status"] == "infeasible"
    assert result.err.startswith("no plan: big: no offering passes its rules")


def test_bad_option_values_are_bad_input(cli):
    assert cli("solve", STARTUP, "--time-limit", "0").err == (
        "error: --time-limit must be greater than 0, got 0\n")
    assert cli("solve", STARTUP, "--gap", "1.5").err == (
        "error: --gap must be a fraction in [0, 1), got 1.5\n")
    assert cli("solve").err == ("error: no fleet file given (or use --candidates with "
                                "--offerings)\n")


def test_candidates_route(cli, write):
    cand = write("c.csv", "workload,offering,chips,cost_usd,provider\n"
                          "a,o1,4,100,p1\na,o2,4,120,p2\nb,o1,4,90,p1\nb,o2,2,95,p2\n"
                          "c,o1,2,50,p1\nc,o3,2,60,p3\n")
    offers = write("o.csv", "offering,capacity_chips\no1,6\no2,8\no3,4\n")
    result = cli("solve", "--candidates", cand, "--offerings", offers, "--format", "json")
    assert result.code == 0
    plan = json.loads(result.out)
    assert plan["total_usd"] == 245.0  # a and c on o1 (6 chips), b on o2
    assert {(a["workload"], a["offering"]) for a in plan["assignments"]} == {
        ("a", "o1"), ("b", "o2"), ("c", "o1")}
    policy = write("p.yaml", "max_share: {provider: 0.5}\n")
    capped = json.loads(cli("solve", "--candidates", cand, "--offerings", offers, "--policy",
                            policy, "--format", "json").out)
    assert max(r["share"] for r in capped["shares"]["provider"]["rows"]) <= 0.5


def test_candidates_route_bad_rows(cli, write, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write("c.csv", "workload,offering,chips,cost_usd\na,o1,0,10\na,o9,2,10\na,o1,2,5\n")
    write("o.csv", "offering,capacity_chips\no1,6\n")
    result = cli("solve", "--candidates", "c.csv", "--offerings", "o.csv")
    assert result.code == 2
    assert result.err.splitlines() == [
        "error: c.csv:2: candidates[0].chips: must be greater than or equal to 1",
    ]
    write("c.csv", "workload,offering,chips,cost_usd\na,o1,2,10\na,o9,2,10\na,o1,2,5\n")
    result = cli("solve", "--candidates", "c.csv", "--offerings", "o.csv")
    assert result.err.splitlines() == [
        "error: c.csv:3: candidates[1].offering: unknown offering 'o9' (not in the offerings "
        "table)",
        "error: c.csv:4: candidates[2]: workload 'a' lists offering 'o1' twice (also row 1)",
    ]
    assert cli("solve", "--candidates", "c.csv").err == (
        "error: --candidates and --offerings go together\n")


def test_candidates_route_policy_needs_the_columns(cli, write):
    cand = write("c.csv", "workload,offering,chips,cost_usd\na,o1,2,10\n")
    offers = write("o.csv", "offering,capacity_chips\no1,6\n")
    policy = write("p.yaml", "max_share: {chip_vendor: 0.5}\n")
    result = cli("solve", "--candidates", cand, "--offerings", offers, "--policy", policy)
    assert result.code == 2
    assert result.err == (f"error: {policy}: max_share.chip_vendor: max_share.chip_vendor "
                          "needs a chip_vendor column in the candidates table\n")


def test_progress_reports_best_bound_gap_and_time():
    import sys

    sys.path.insert(0, str(EXAMPLES.parent))
    from benchmarks.generate import generate
    from placer.problem import problem_from_dict
    from placer.solve import solve

    seen: list[dict] = []
    problem = problem_from_dict(generate(300, seed=1).fleet())
    plan = solve(problem, time_limit=3, progress=seen.append)
    assert seen, "no progress reported on a 3-second solve"
    assert set(seen[-1]) == {"best_usd", "bound_usd", "gap", "elapsed_s"}
    assert seen[-1]["elapsed_s"] >= 1.0
    # the warm start's plan is shown once known (a busy machine may spend all 3 s on
    # it), and no report shows a plan cheaper than the one returned (in solver units,
    # whose costs are rounded to cents row by row)
    shown = [r["best_usd"] for r in seen if r["best_usd"] is not None]
    assert shown and min(shown) >= plan.total_usd * (1 - 1e-7)
    assert all(r["bound_usd"] <= plan.total_usd for r in seen if r["bound_usd"] is not None)


def test_progress_shows_the_warm_starts_plan_when_no_search_follows(monkeypatch):
    # the warm start may be all of a short solve on a busy machine: its plan is reported
    import sys

    sys.path.insert(0, str(EXAMPLES.parent))
    from benchmarks.generate import generate
    from placer.problem import problem_from_dict
    from placer.solve import solve
    from tests.conftest import no_search_after_the_warm_start

    no_search_after_the_warm_start(monkeypatch)
    seen: list[dict] = []
    problem = problem_from_dict(generate(300, seed=1).fleet())
    plan = solve(problem, time_limit=3, progress=seen.append)
    assert seen and seen[-1]["elapsed_s"] >= 1.0
    # in solver units, whose costs are rounded to cents row by row
    assert seen[-1]["best_usd"] == pytest.approx(plan.total_usd, rel=1e-7)
    assert seen[-1]["bound_usd"] <= plan.bound_usd


def test_the_live_line_starts_from_the_plan_and_the_bound_known_before_the_search():
    # a search's live line shows the plan it starts from and the bound known until it
    # finds better; the plan returned is the cheaper of its own and that one
    import time

    from ortools.sat.python import cp_model

    from placer.solve import _Progress

    seen: list[dict] = []
    line = _Progress(seen.append, scale=100.0, started=time.perf_counter() - 2.0,
                     best_units=400, known_bound_units=250)
    assert line.snapshot(2.0) == {"best_usd": 4.0, "bound_usd": 2.5, "gap": 0.375,
                                  "elapsed_s": 2.0}
    model = cp_model.CpModel()
    x = model.new_int_var(300, 1000, "x")
    model.minimize(x)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    assert solver.solve(model, line) == cp_model.OPTIMAL
    # the search proves 300 units: cheaper than the plan before, above the bound known
    assert line.snapshot(3.0)["best_usd"] == 3.0 and line.snapshot(3.0)["bound_usd"] == 3.0
    before = _Progress(None, scale=100.0, started=0.0, best_units=290, known_bound_units=250)
    solver.solve(model, before)
    assert before.snapshot(3.0)["best_usd"] == 2.9  # the plan before stays the best
    line.close()


def test_a_large_plan_lists_its_dearest_placements_and_says_where_every_one_is(monkeypatch):
    # rich lays out 10,000 rows in 6 s; the terminal shows the dearest, the formats all
    import io

    from rich.console import Console

    from placer import report
    from placer.problem import problem_from_dict
    from placer.solve import solve

    monkeypatch.setattr(report, "PRINTED_PLACEMENTS", 2)
    monkeypatch.setattr(report, "PRINTED_LEFT_OUT", 1)
    plan = solve(problem_from_dict({"workloads": [
        *({"name": f"serve-{k}", "kind": "inference", "chips": k} for k in range(1, 6)),
        *({"name": f"extra-{k}", "kind": "training", "chip_hours": 1000, "required": False,
           "value_usd": k} for k in range(1, 4))]}), time_limit=10)
    assert plan.status == "optimal" and plan.unplaced.height == 3
    text = io.StringIO()
    report.print_plan(plan, Console(file=text, width=300))
    printed = text.getvalue()
    every_one = "--format csv, json or md, or --out FILE, lists every one"
    assert f"Placements: the 2 dearest of {plan.assignments.height}" in printed
    assert f"\n{plan.assignments.height - 2} more placements: {every_one}\n" in printed
    dearest = plan.assignments.sort("compute_usd", descending=True).head(2)
    table = printed.split("Placements:")[1].split("└")[0]
    listed = [line.split("│")[1].strip() for line in table.splitlines()
              if line.startswith("│")]
    assert listed == sorted(dearest["workload"].to_list())
    assert ("Left out: extra-3: optional: leaving it out (value $3) costs less than placing "
            f"it; and 2 more of less value ({every_one})") in printed


@pytest.mark.parametrize(("took", "limit", "parts", "said"), [
    (10.9, 10.0, None, None),  # a tenth past: not said
    (11.1, 10.0, None, "the solve took 11.1 s, past its time limit of 10 s: the candidate "
     "table and the model's build do not shrink with the limit"),
    (60.9, 60.0, 40, None),
    (66.5, 60.0, 40, "the solve took 66.5 s, past its time limit of 60 s: the candidate "
     "table and the model's build, and each of the fleet's 40 parts' model and warm start "
     "do not shrink with the limit"),
    (1.9, 1.0, None, None),  # a second past: not said
    (2.1, 1.0, None, "the solve took 2.1 s, past its time limit of 1 s: the candidate "
     "table and the model's build do not shrink with the limit"),
])
def test_a_solve_past_its_time_limit_is_said_to_be(cli, monkeypatch, took, limit, parts, said):
    engine = sys.modules["placer.solve"]
    solve = engine.solve

    def overran(*args, **kwargs):
        plan = solve(*args, **kwargs)
        plan.solver.update({"time_s": took, "time_limit_s": limit,
                            **({"parts": parts} if parts else {})})
        return plan

    monkeypatch.setattr(engine, "solve", overran)
    result = cli("solve", STARTUP, "--time-limit", "20")
    assert result.code == 0
    assert result.out.startswith("optimal: $245,468 (bound $245,468, gap 0.00%) in ")
    warnings = [line for line in result.err.splitlines() if line.startswith("warning: ")]
    assert warnings == ([] if said is None else [f"warning: {said}"])


def test_a_solve_within_its_time_limit_says_nothing_of_it(cli):
    result = cli("solve", STARTUP, "--time-limit", "20")
    assert result.code == 0 and "time limit" not in result.err
