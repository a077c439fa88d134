"""Bad input: one clear message per problem (file, field, line), exit code 2, no traceback."""

from __future__ import annotations

import pytest

GOOD_TRAINING = "  - {name: job, kind: training, chip_hours: 100}\n"

CASES = [
    # (id, file name, content, expected message lines on stderr)
    ("unknown-field", "f.yaml",
     "workloads:\n  - name: a\n    kind: training\n    chip_hour: 5\n",
     ["error: f.yaml:2: workloads[0] (a).chip_hours: required field is missing",
      "error: f.yaml:4: workloads[0] (a).chip_hour: unknown field 'chip_hour'; did you mean "
      "'chip_hours'?"]),
    ("negative-chip-hours", "f.yaml",
     "workloads:\n  - {name: a, kind: training, chip_hours: -3}\n",
     ["error: f.yaml:2: workloads[0] (a).chip_hours: must be greater than 0"]),
    ("share-above-one", "f.yaml",
     "policy:\n  max_share:\n    provider: 1.5\n",
     ["error: f.yaml:3: policy.max_share.provider: must be less than or equal to 1"]),
    ("deadline-zero", "f.yaml",
     "workloads:\n  - {name: a, kind: training, chip_hours: 5, deadline_days: 0}\n",
     ["error: f.yaml:2: workloads[0] (a).deadline_days: must be greater than 0"]),
    ("unknown-chip", "f.yaml",
     "workloads:\n  - {name: a, kind: training, chip_hours: 5, speed: {h10: 0.5}}\n",
     ["error: f.yaml:2: workloads[0] (a).speed: unknown chip 'h10'; did you mean 'h100'? "
      "(known: a100, b200, gb200, h100, h200, inf2, maia-100, maia-200, mi300x, mi325x, "
      "mi355x, tpu-v5e, tpu-v5p, tpu-v6e, tpu7x, trn1, trn2, trn3)"]),
    ("unknown-ecosystem", "f.yaml",
     "workloads:\n  - {name: a, kind: training, chip_hours: 5, runs_on: [cdua]}\n",
     ["error: f.yaml:2: workloads[0] (a).runs_on: unknown ecosystem 'cdua'; did you mean "
      "'cuda'? (known: cuda, maia, neuron, rocm, xla)"]),
    ("unknown-port-ecosystem", "f.yaml",
     "workloads:\n  - {name: a, kind: training, chip_hours: 5, port_usd: {nueron: 5}}\n",
     ["error: f.yaml:2: workloads[0] (a).port_usd: unknown ecosystem 'nueron'; did you mean "
      "'neuron'? (known: cuda, maia, neuron, rocm, xla)"]),
    ("bad-residency-code", "f.yaml",
     "workloads:\n  - name: a\n    kind: inference\n    chips: 2\n    residency: [EUR]\n",
     ["error: f.yaml:5: workloads[0] (a).residency: 'EUR' is neither a jurisdiction (e.g. EU, "
      "US, UK), an ISO country code (e.g. DE) nor a region id (e.g. aws/eu-west-1)"]),
    ("unknown-region-id", "f.yaml",
     "workloads:\n  - {name: a, kind: inference, chips: 2, residency: [aws/eu-west-9]}\n",
     ["error: f.yaml:2: workloads[0] (a).residency: unknown region id 'aws/eu-west-9'; did you "
      "mean 'aws/eu-west-3'? (known: aws/eu-central-1, aws/eu-north-1, aws/eu-west-1, "
      "aws/eu-west-2, aws/eu-west-3, aws/us-east-1, aws/us-east-1-dfw-2a, aws/us-east-2, "
      "aws/us-west-2, azure/eastus, azure/eastus2, azure/francecentral, azure/swedencentral, "
      "digitalocean/us, gcp/europe-west1, gcp/europe-west4, gcp/us-central1, gcp/us-east1, "
      "nebius/eu-north1, nebius/eu-west1, nebius/us-central1, oci/us-ashburn-1, ovhcloud/gra, "
      "scaleway/fr-par-2, seeweb/it-fr2, verda/fin-02, verda/fin-03)"]),
    ("bad-kind", "f.yaml",
     "workloads:\n  - {name: a, kind: trainig, chip_hours: 5}\n",
     ["error: f.yaml:2: workloads[0] (a).kind: kind 'trainig' is not one of: training, "
      "inference"]),
    ("missing-kind", "f.yaml",
     "workloads:\n  - {name: a, chip_hours: 5}\n",
     ["error: f.yaml:2: workloads[0] (a).kind: kind is required: training or inference"]),
    ("optional-without-value", "f.yaml",
     "workloads:\n  - {name: a, kind: training, chip_hours: 5, required: false}\n",
     ["error: f.yaml:2: workloads[0] (a): an optional workload (required: false) needs "
      "value_usd, the cost of leaving it out"]),
    ("sovereign-without-residency", "f.yaml",
     "workloads:\n  - {name: a, kind: inference, chips: 1, sovereign: true}\n",
     ["error: f.yaml:2: workloads[0] (a): sovereign: true needs a residency list to take "
      "jurisdictions from"]),
    ("port-for-native-ecosystem", "f.yaml",
     "workloads:\n  - {name: a, kind: inference, chips: 1, port_usd: {cuda: 10}}\n",
     ["error: f.yaml:2: workloads[0] (a): port_usd names cuda, which runs_on already lists"]),
    ("duplicate-names", "f.yaml",
     "workloads:\n" + GOOD_TRAINING + GOOD_TRAINING,
     ["error: f.yaml:3: workloads[1] (job).name: duplicate workload name 'job' "
      "(first at f.yaml:2)"]),
    ("yaml-syntax", "f.yaml",
     "workloads:\n  - name: a\n   kind: training\n",
     ["error: f.yaml:3: invalid YAML: expected <block end>, but found '<block mapping start>' "
      "(is the indentation consistent with the lines above?)"]),
    ("duplicate-yaml-key", "f.yaml",
     "workloads:\n  - name: a\n    kind: training\n    chip_hours: 4\n    chip_hours: 5\n",
     ["error: f.yaml:5: workloads[0]: duplicate key 'chip_hours' (first at line 4)"]),
    ("empty-file", "f.yaml", "",
     ["error: f.yaml: empty file: expected workloads, policy or horizon_days"]),
    ("not-a-mapping", "f.yaml", "- name: a\n",
     ["error: f.yaml:1: expected a mapping with workloads, policy or horizon_days, got a list"]),
    ("json-nan", "f.json",
     '{"workloads": [{"name": "a", "kind": "training", "chip_hours": NaN}]}',
     ["error: f.json: invalid JSON: NaN is not a number placer accepts"]),
    ("json-syntax", "f.json", '{"workloads": [}',
     ["error: f.json:1: invalid JSON: Expecting value"]),
    ("unsupported-suffix", "f.txt", "hello",
     ["error: f.txt: unsupported file type '.txt'; use .yaml, .yml, .json, .csv, .parquet, .pq"]),
    ("unknown-pricing", "f.yaml", "policy: {pricing: reserved}\n",
     ["error: f.yaml:1: policy.pricing: must be 'on_demand', 'spot', 'commit_1y' or "
      "'commit_3y'"]),
    ("deny-unknown-provider", "f.yaml", "policy:\n  deny: {provider: [ocii]}\n",
     ["error: f.yaml:2: policy.deny: unknown provider 'ocii'; did you mean 'oci'? (known: aws, "
      "azure, digitalocean, gcp, nebius, oci, ovhcloud, scaleway, seeweb, verda)"]),
    ("data-region-format", "f.yaml",
     "workloads:\n  - {name: a, kind: training, chip_hours: 5, data: {region: us-east-1, tb: 1}}\n",
     ["error: f.yaml:2: workloads[0] (a).data.region: 'us-east-1' is not a region id of the "
      "form provider/region"]),
    ("data-provider-unknown", "f.yaml",
     "workloads:\n  - {name: a, kind: training, chip_hours: 5, data: {region: ibm/eu, tb: 1}}\n",
     ["error: f.yaml:2: workloads[0] (a).data.region: provider 'ibm' has no egress rates in the "
      "catalog (egress.csv knows: aws, azure, digitalocean, gcp, nebius, oci, ovhcloud, scaleway, "
      "seeweb, verda)"]),
    ("absurd-horizon", "f.yaml", "horizon_days: 1e9\n",
     ["error: f.yaml:1: horizon_days: must be less than or equal to 3650"]),
    ("yaml-nan", "f.yaml",
     "workloads:\n  - {name: a, kind: inference, chips: .nan}\n",
     ["error: f.yaml:2: workloads[0] (a).chips: must be a finite number (not NaN or infinity)"]),
    ("yaml-infinity", "f.yaml",
     "workloads:\n  - {name: a, kind: training, chip_hours: .inf}\n",
     ["error: f.yaml:2: workloads[0] (a).chip_hours: must be a finite number (not NaN or "
      "infinity)"]),
    ("text-for-number", "f.yaml",
     "workloads:\n  - {name: a, kind: inference, chips: lots}\n",
     ["error: f.yaml:2: workloads[0] (a).chips: must be a valid number, unable to parse string "
      "as a number, got 'lots'"]),
    ("min-chips-zero", "f.yaml",
     "workloads:\n  - {name: a, kind: training, chip_hours: 5, min_chips: 0}\n",
     ["error: f.yaml:2: workloads[0] (a).min_chips: must be greater than or equal to 1"]),
    ("codebase-port-conflict", "f.yaml",
     "workloads:\n"
     "  - {name: a, kind: training, chip_hours: 5, codebase: c, port_usd: {xla: 10}}\n"
     "  - {name: b, kind: training, chip_hours: 5, codebase: c, port_usd: {xla: 20}}\n",
     ["error: f.yaml:3: workloads[1] (b).port_usd.xla: codebase 'c' has two prices for "
      "porting to xla: 10 ('a') and 20; one port serves the whole codebase, so give the "
      "same port_usd"]),
    ("csv-bad-number", "f.csv", "name,kind,chip_hours\na,training,abc\n",
     ["error: f.csv:2: workloads[0] (a).chip_hours: must be a valid number, unable to parse "
      "string as a number, got 'abc'"]),
    ("csv-empty", "f.csv", "",
     ["error: f.csv: empty file: expected a header row"]),
    ("csv-ragged", "f.csv", "name,kind\na,training,5,6\n",
     ["error: f.csv: invalid CSV: found more fields than defined in 'Schema'"]),
    ("parquet-garbage", "f.parquet", b"PAR1 this is not parquet",
     None),  # message from the Parquet reader varies by version; exit code and prefix checked
    ("not-utf8", "f.yaml", b"workloads: \xff\xfe\n",
     ["error: f.yaml: not UTF-8 text (byte 11)"]),
    ("top-level-unknown", "f.yaml", "horizon: 30\n",
     ["error: f.yaml:1: horizon: unknown field 'horizon'; did you mean 'horizon_days'?"]),
    ("spread-fraction-zero", "f.yaml",
     "workloads:\n  - {name: a, kind: inference, chips: 4, spread: {max_fraction: 0}}\n",
     ["error: f.yaml:2: workloads[0] (a).spread.max_fraction: must be greater than 0"]),
    ("empty-residency", "f.yaml",
     "workloads:\n  - {name: a, kind: inference, chips: 4, residency: []}\n",
     ["error: f.yaml:2: workloads[0] (a).residency: List should have at least 1 item after "
      "validation, not 0"]),
]


@pytest.mark.parametrize(("name", "content", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_input_gives_exit_2_and_the_exact_message(cli, write, monkeypatch, tmp_path,
                                                      name, content, expected):
    write(name, content)
    monkeypatch.chdir(tmp_path)
    result = cli("validate", name)
    assert result.code == 2, result
    assert result.out == ""
    assert "Traceback" not in result.err
    lines = result.err.splitlines()
    if expected is None:
        assert lines and lines[0].startswith(f"error: {name}: invalid Parquet"), lines
    else:
        assert lines == expected


def test_missing_file(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli("validate", "nope.yaml")
    assert (result.code, result.err) == (2, "error: nope.yaml: file not found\n")


def test_bad_catalog_dir_is_bad_input(cli, write, tmp_path):
    fleet = write("f.yaml", "workloads:\n" + GOOD_TRAINING)
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "speeds.csv").write_text("chip,kind,speed\nh100,training,-1\n")
    result = cli("validate", fleet, "--catalog", tmp_path / "cat")
    assert result.code == 2
    assert result.err == f"error: {tmp_path}/cat/speeds.csv:2: speed: must be greater than 0\n"


def test_all_problems_in_a_file_are_reported_at_once(cli, write, monkeypatch, tmp_path):
    write("f.yaml", "workloads:\n  - {name: a, kind: training, chip_hours: -1}\n"
                    "  - {name: b, kind: inference, chips: 0}\n")
    monkeypatch.chdir(tmp_path)
    result = cli("validate", "f.yaml")
    assert result.err.splitlines() == [
        "error: f.yaml:2: workloads[0] (a).chip_hours: must be greater than 0",
        "error: f.yaml:3: workloads[1] (b).chips: must be greater than 0",
    ]


def test_huge_document_is_refused_with_advice(cli, write, monkeypatch, tmp_path):
    import placer.io

    monkeypatch.setattr(placer.io, "MAX_DOCUMENT_BYTES", 1000)
    write("f.yaml", "workloads:\n" + "  - {name: a, kind: inference, chips: 1}\n" * 100)
    monkeypatch.chdir(tmp_path)
    result = cli("validate", "f.yaml")
    assert (result.code, result.err) == (
        2, "error: f.yaml: file is 4.1 kB; documents are limited to 1.0 kB (put large fleets "
           "in a CSV or Parquet workloads table)\n")


def test_bad_input_writes_no_output_file(cli, write, tmp_path):
    fleet = write("f.yaml", "workloads:\n  - {name: a, kind: training, chip_hours: -1}\n")
    out = tmp_path / "plan.json"
    result = cli("solve", fleet, "--out", out)
    assert result.code == 2
    assert not out.exists()
    out.write_text("previous plan")
    assert cli("solve", fleet, "--out", out).code == 2
    assert out.read_text() == "previous plan"
