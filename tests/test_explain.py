"""When there is no plan, the explanation names the rules that block it."""

from __future__ import annotations

import pytest
import yaml

from placer.problem import problem_from_dict
from placer.solve import solve

CASES = [
    ("residency", """
workloads:
  - {name: job, kind: inference, chips: 4, residency: [AU]}
""", ["job: no offering passes its rules — of 71 offerings, sold on_demand leaves 70, "
      "residency AU leaves 0"]),
    ("ecosystem", """
workloads:
  - {name: job, kind: training, chip_hours: 1000, runs_on: [rocm], residency: [FR]}
""", ["job: no offering passes its rules — of 71 offerings, sold on_demand leaves 70, "
      "residency FR leaves 8, ecosystem rocm (or a port_usd entry) leaves 0"]),
    ("memory", """
workloads:
  - {name: job, kind: inference, chips: 1, memory_gb: 50000}
""", ["job: no offering passes its rules — of 71 offerings, sold on_demand leaves 70, "
      "ecosystem cuda (or a port_usd entry) leaves 42, memory 50,000 GB per instance leaves "
      "0: one instance must hold 50,000 GB, which needs 269 chips on the largest-memory "
      "chip"]),
    ("gang", """
workloads:
  - {name: job, kind: training, chip_hours: 3000000, deadline_days: 7}
""", ["job: no offering passes its rules — of 71 offerings, sold on_demand leaves 70, "
      "ecosystem cuda (or a port_usd entry) leaves 42, capacity leaves 0: the gang is larger "
      "than the capacity of each of the 42; nearest: azure/eastus/gb200 holds 2,048 chips, "
      "the gang needs 5,832 there"]),
    ("sovereign", """
workloads:
  - {name: job, kind: inference, chips: 2, residency: [DE], sovereign: true}
""", ["job: no offering passes its rules — of 71 offerings, sold on_demand leaves 70, "
      "residency DE leaves 1, sovereign (provider headquartered in an allowed jurisdiction) "
      "leaves 0"]),
    ("deny", """
policy: {deny: {chip_vendor: [nvidia, amd, google, aws]}}
workloads:
  - {name: job, kind: inference, chips: 2}
""", ["job: no offering passes its rules — of 71 offerings, policy allow/deny leaves 0"]),
    ("pricing", """
policy: {pricing: commit_1y}
workloads:
  - {name: job, kind: inference, chips: 2, residency: [FR]}
""", ["job: no offering passes its rules — of 71 offerings, sold commit_1y leaves 11, "
      "residency FR leaves 0"]),
    ("spread-providers", """
workloads:
  - {name: chat, kind: inference, chips: 16, residency: [NL], spread: {min_providers: 2}}
""", ["chat: spread needs 2 providers but its candidates come from 1 (residency, ecosystem "
      "and capacity leave no more)"]),
    ("demand-capacity", """
workloads:
  - {name: chat-uk, kind: inference, chips: 2000, residency: [UK], port_usd: {neuron: 1000}}
""", ["chat-uk: needs 2000 H100-equivalents; its offerings can serve at most 96.8 (whole "
      "instances within capacity)"]),
    ("spread-capacity", """
policy: {allow: {offering: [nebius/eu-north1/h100, scaleway/fr-par-2/h100]}}
workloads:
  - {name: chat, kind: inference, chips: 1000, spread: {min_providers: 2, max_fraction: 0.6}}
""", ["chat: needs 1000 H100-equivalents; its offerings can serve at most 856 with no "
      "provider above 0.6 (whole instances within capacity)"]),
    ("capacity-conflict", """
policy: {allow: {offering: [nebius/eu-north1/h100]}}
workloads:
  - {name: a, kind: training, chip_hours: 500000, deadline_days: 30}
  - {name: b, kind: training, chip_hours: 500000, deadline_days: 30}
""", ["these rules cannot all hold together: capacity of nebius/eu-north1/h100 (1,024 chips)",
      "relaxing one of them is enough: add 368 chips to nebius/eu-north1/h100 (1,024 → "
      "1,392)"]),
    ("provider-cap", """
policy: {allow: {provider: [aws, gcp]}, max_share: {provider: 0.3}}
workloads:
  - {name: a, kind: training, chip_hours: 1000}
  - {name: b, kind: training, chip_hours: 1000}
  - {name: c, kind: training, chip_hours: 1000}
""", ["these rules cannot all hold together: max_share.provider 0.3",
      "relaxing one of them is enough: raise max_share.provider from 0.3 to 0.51"]),
    ("min-providers", """
policy: {allow: {provider: [aws, gcp]}, min_providers: 5}
workloads:
  - {name: a, kind: training, chip_hours: 1000}
  - {name: b, kind: training, chip_hours: 1000}
""", ["these rules cannot all hold together: min_providers 5",
      "relaxing one of them is enough: lower min_providers from 5 to 2"]),
    ("budget", """
policy: {budget_usd: 1000}
workloads:
  - {name: a, kind: training, chip_hours: 1000}
""", ["these rules cannot all hold together: budget_usd 1,000",
      "relaxing one of them is enough: raise budget_usd from 1,000 to 1,696"]),
    ("vendor-cap", """
policy: {allow: {chip_vendor: [nvidia]}, max_share: {chip_vendor: 0.5}}
workloads:
  - {name: a, kind: training, chip_hours: 1000}
  - {name: b, kind: training, chip_hours: 1000}
""", ["these rules cannot all hold together: max_share.chip_vendor 0.5",
      "relaxing one of them is enough: raise max_share.chip_vendor from 0.5 to 1"]),
    ("spread-and-gang", """
policy: {allow: {offering: [nebius/eu-north1/h100, scaleway/fr-par-2/h100]}}
workloads:
  - {name: train, kind: training, chip_hours: 662400, deadline_days: 30}
  - {name: chat, kind: inference, chips: 300, spread: {min_providers: 2, max_fraction: 0.6}}
""", None),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_each_kind_of_infeasibility_names_the_right_rules(text, expected):
    plan = solve(problem_from_dict(yaml.safe_load(text)), time_limit=20)
    assert plan.status == "infeasible"
    if expected is not None:
        assert plan.explanation == expected


def test_a_conflict_across_workloads_names_both_rules():
    text = CASES[-1][1]
    plan = solve(problem_from_dict(yaml.safe_load(text)), time_limit=20)
    conflict, relax = plan.explanation
    assert conflict.startswith("these rules cannot all hold together: ")
    assert "capacity of nebius/eu-north1/h100 (1,024 chips)" in conflict
    assert "spread of chat (min_providers 2, max_fraction 0.6)" in conflict
    assert relax.startswith("relaxing one of them is enough: ")
    assert "add " in relax and "chips to nebius/eu-north1/h100" in relax


def test_explanation_is_in_the_json_plan():
    text = CASES[0][1]
    doc = solve(problem_from_dict(yaml.safe_load(text)), time_limit=5).to_dict()
    assert doc["status"] == "infeasible"
    assert doc["explanation"] == CASES[0][2]
    assert doc["assignments"] == [] and doc["total_usd"] is None


def test_a_catalog_without_offerings_says_so():
    problem = problem_from_dict(yaml.safe_load(CASES[0][1]))
    catalog = problem.catalog
    empty = problem.replace(catalog=catalog.with_offerings(catalog.offerings.head(0)))
    plan = solve(empty, time_limit=5)
    assert plan.status == "infeasible"
    assert plan.explanation == ["job: no offering passes its rules — the catalog has none"]
