"""`placer check`: an independent re-verification catches every kind of corrupted plan."""

from __future__ import annotations

import copy
import json

import pytest

from placer.check import check_plan
from placer.schema import PlanDocument
from tests.conftest import EXAMPLES

ENTERPRISE = EXAMPLES / "enterprise.yaml"


@pytest.fixture(scope="module")
def enterprise(enterprise_plan):
    problem, plan = enterprise_plan
    assert plan.status == "optimal"
    return problem, plan.to_dict()


def _first(doc: dict, **match) -> dict:
    return next(a for a in doc["assignments"] if all(a[k] == v for k, v in match.items()))


def _training(doc: dict) -> dict:
    return _first(doc, workload="pretrain-34b")


def corrupt_chips(doc):
    _training(doc)["chips"] += 1


def corrupt_compute(doc):
    _training(doc)["compute_usd"] *= 0.9


def corrupt_price(doc):
    _training(doc)["usd_per_chip_hour"] += 0.5


def corrupt_egress(doc):
    _training(doc)["egress_usd"] = 0.0


def corrupt_residency(doc):
    a = _first(doc, workload="fraud-scoring-eu")
    a |= {"offering": "aws/us-east-1/h100", "provider": "aws", "region": "us-east-1",
          "chip": "h100"}


def corrupt_gang(doc):
    doc["assignments"].append(copy.deepcopy(_training(doc)) | {
        "offering": "aws/us-east-1/h100", "provider": "aws", "region": "us-east-1",
        "chip": "h100", "chip_vendor": "nvidia", "ecosystem": "cuda"})


def corrupt_drop(doc):
    doc["assignments"] = [a for a in doc["assignments"] if a["workload"] != "chat-eu"]


def corrupt_unplaced_required(doc):
    doc["assignments"] = [a for a in doc["assignments"] if a["workload"] != "tts-api"]
    doc["unplaced"].append({"workload": "tts-api", "value_usd": 0.0, "reason": "x"})


def corrupt_coverage(doc):
    a = _first(doc, workload="code-assistant")
    per_instance = a["chips"] // a["instances"]
    a["chips"] -= per_instance
    a["instances"] -= 1
    a["reference_chips"] = 0.0


def corrupt_port(doc):
    doc["ports"] = []


def corrupt_extra_port(doc):
    doc["ports"].append({"codebase": "vision", "ecosystem": "xla", "usd": 60000.0,
                         "workloads": []})


def corrupt_total(doc):
    doc["total_usd"] -= 1000


def corrupt_cost_term(doc):
    doc["cost"]["egress_usd"] += 50


def corrupt_share(doc):
    doc["shares"]["provider"]["rows"][0]["share"] += 0.01


def corrupt_optimal_gap(doc):
    doc["gap"] = 0.05
    doc["bound_usd"] = doc["total_usd"] * 0.95


def corrupt_hours(doc):
    _training(doc)["hours"] *= 2


def corrupt_carbon(doc):
    _training(doc)["carbon_tonnes"] *= 3


CORRUPTIONS = [
    (corrupt_chips, {"chips", "whole instances", "cost", "hours"}),
    (corrupt_compute, {"cost", "totals", "shares"}),
    (corrupt_price, {"cost"}),
    (corrupt_egress, {"cost", "totals"}),
    (corrupt_residency, {"residency"}),
    (corrupt_gang, {"gang"}),
    (corrupt_drop, {"placed"}),
    (corrupt_unplaced_required, {"required"}),
    (corrupt_coverage, {"coverage"}),
    (corrupt_port, {"ports"}),
    (corrupt_extra_port, {"ports"}),
    (corrupt_total, {"totals"}),
    (corrupt_cost_term, {"totals"}),
    (corrupt_share, {"shares"}),
    (corrupt_optimal_gap, {"status"}),
    (corrupt_hours, {"hours"}),
    (corrupt_carbon, {"cost"}),
]


def test_the_engine_plan_is_clean(enterprise):
    problem, doc = enterprise
    assert check_plan(PlanDocument.model_validate(doc), problem) == []


@pytest.mark.parametrize(("corrupt", "rules"), CORRUPTIONS, ids=[c[0].__name__ for c in
                                                                 CORRUPTIONS])
def test_each_corruption_is_caught(enterprise, corrupt, rules):
    problem, doc = enterprise
    bad = copy.deepcopy(doc)
    corrupt(bad)
    found = {v.rule for v in check_plan(PlanDocument.model_validate(bad), problem)}
    assert found & rules, found


def test_a_tighter_policy_shows_the_broken_cap(enterprise, tmp_path, cli):
    _, doc = enterprise
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(doc))
    policy = tmp_path / "policy.yaml"
    policy.write_text("max_share: {provider: 0.3, chip_vendor: 0.8}\nmin_providers: 9\n"
                      "budget_usd: 1000000\n")
    result = cli("check", plan, ENTERPRISE, "--policy", policy)
    assert result.code == 1
    lines = result.out.splitlines()
    assert any(line.startswith("violation: max_share.provider: verda takes 49.") for line in lines)
    assert any(line.startswith("violation: min_providers: 6 providers used, 9 required")
               for line in lines)
    assert any(line.startswith("violation: budget_usd: cash spend") for line in lines)


def test_cli_check_clean_and_unknown_offering(enterprise, tmp_path, cli):
    _, doc = enterprise
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(doc))
    result = cli("check", plan, ENTERPRISE)
    assert result.code == 0
    assert "every rule and cost checks out" in result.out
    bad = copy.deepcopy(doc)
    bad["assignments"][0]["offering"] = "aws/mars-1/h100"
    plan.write_text(json.dumps(bad))
    result = cli("check", plan, ENTERPRISE)
    assert result.code == 2
    assert result.err == (f"error: {plan}: assignments[0].offering: offering "
                          "'aws/mars-1/h100' is not in the catalog\n")


def test_cli_check_bad_plan_file(tmp_path, cli):
    plan = tmp_path / "plan.json"
    plan.write_text('{"status": "optimal"}')
    result = cli("check", plan, ENTERPRISE)
    assert result.code == 2
    assert result.err.startswith(f"error: {plan}:1: required fields are missing: total_usd")
