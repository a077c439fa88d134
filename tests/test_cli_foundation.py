"""`placer validate`, `placer catalog`, `placer schema` and the examples."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from tests.conftest import EXAMPLES, warm_start_places_nothing

EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml")) + sorted(EXAMPLES.glob("*.csv"))


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[p.name for p in EXAMPLE_FILES])
def test_every_example_validates(cli, path):
    result = cli("validate", path)
    assert result.code == 0, result.err
    assert result.out.startswith(f"{path}: ok — ")


def test_enterprise_example_has_40_plus_mixed_workloads(cli):
    result = cli("validate", EXAMPLES / "enterprise.yaml")
    assert "44 workloads (16 training, 28 inference)" in result.out


def test_validate_together_combines_files(cli, write):
    a = write("a.yaml", "workloads:\n  - {name: x, kind: inference, chips: 1}\n")
    b = write("b.yaml", "workloads:\n  - {name: x, kind: inference, chips: 2}\n")
    assert cli("validate", a, b).code == 0
    result = cli("validate", "--together", a, b)
    assert result.code == 2
    assert f"duplicate workload name 'x' (first at {a}:2)" in result.err


def test_validate_a_policy_file(cli, write):
    p = write("p.yaml", "pricing: spot\nmax_share: {provider: 0.4}\n")
    result = cli("validate", p)
    assert result.out == f"{p}: ok — policy, pricing spot, max share provider 0.4\n"


def test_validate_reads_each_file_once(cli, write, monkeypatch):
    # a 10,000-workload YAML fleet takes seconds to parse: read three times, `placer
    # validate` took 12.6 s on one, read once 5.3 s
    import placer.io

    parse, parsed = placer.io.parse_yaml, []
    monkeypatch.setattr(placer.io, "parse_yaml",
                        lambda text, file: parsed.append(file) or parse(text, file))
    fleet = write("fleet.yaml", "workloads:\n  - {name: x, kind: inference, chips: 1}\n")
    policy = write("p.yaml", "pricing: spot\n")
    result = cli("validate", fleet, policy, EXAMPLES / "fleet-table.csv")
    assert result.code == 0, result.err
    assert result.out.splitlines()[0] == (
        f"{fleet}: ok — 1 workloads (0 training, 1 inference), horizon 30 days, pricing "
        "on_demand")
    assert parsed == [str(fleet), str(policy)]


def test_catalog_list_json_filters(cli):
    result = cli("catalog", "list", "--chip", "trn2", "--format", "json")
    rows = json.loads(result.out)
    assert [r["offering"] for r in rows] == ["aws/us-east-2/trn2"]
    assert rows[0]["price_basis"] == "capacity_block"


def test_catalog_list_pricing_filter_and_csv(cli):
    result = cli("catalog", "list", "--pricing", "commit_3y", "--provider", "azure",
                 "--format", "csv")
    lines = result.out.splitlines()
    assert lines[0].startswith("provider,region,chip,")
    assert len(lines) == 1 + 5  # a100, h100, h200, gb200, mi300x sold with 3-yr terms


def test_catalog_list_table_marks_estimates(cli):
    result = cli("catalog", "list", "--chip", "tpu7x")
    assert "gcp/us-central1/tpu7x" in result.out
    assert "estimate*" in result.out


def test_catalog_list_unknown_filter_value_is_bad_input(cli):
    result = cli("catalog", "list", "--vendor", "intel")
    assert result.code == 2
    assert result.err.startswith("error: --vendor: unknown value 'intel' (known: amd, aws,")


def test_catalog_chips_lists_speeds(cli):
    rows = json.loads(cli("catalog", "chips", "--format", "json").out)
    h100 = next(r for r in rows if r["chip"] == "h100")
    assert (h100["training"], h100["inference"]) == (1.0, 1.0)


def test_schema_is_json_schema_of_the_fleet_file(cli):
    schema = json.loads(cli("schema").out)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert set(schema["properties"]) == {"horizon_days", "policy", "workloads"}


def test_real_entry_point_exits_2_without_traceback(tmp_path):
    bad = tmp_path / "f.yaml"
    bad.write_text("workloads: [{name: a, kind: training, chip_hours: 0}]\n")
    run = subprocess.run([sys.executable, "-m", "placer.cli", "validate", str(bad)],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr == f"error: {bad}:1: workloads[0] (a).chip_hours: must be greater than 0\n"


def test_committed_schemas_match_the_models(tmp_path, cli):
    assert cli("schema", "--all", tmp_path).code == 0
    committed = EXAMPLES.parent / "schemas"
    for fresh in sorted(tmp_path.glob("*.schema.json")):
        assert (committed / fresh.name).read_text() == fresh.read_text(), fresh.name


def test_examples_point_editors_at_the_schema():
    for path in sorted(EXAMPLES.glob("*.yaml")):
        assert path.read_text().startswith(
            "# yaml-language-server: $schema=../schemas/fleet.schema.json\n"), path


def test_examples_validate_against_the_json_schema():
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    schema = json.loads((EXAMPLES.parent / "schemas" / "fleet.schema.json").read_text())
    for path in sorted(EXAMPLES.glob("*.yaml")):
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)


def test_verbose_reports_the_phases(cli):
    result = cli("-v", "solve", EXAMPLES / "startup.yaml", "--format", "json")
    assert result.code == 0
    json.loads(result.out)  # stdout stays pure JSON
    assert result.err.startswith("candidates: ")
    assert "reproducible" in result.err


def test_verbose_reports_the_phases_of_a_fleet_proven_to_have_no_plan(cli, tmp_path):
    # capacity alone rules it out, told before any model is built: 100 one-chip jobs,
    # 22 chips (it used to fail on the deterministic time its plan did not give)
    candidates, offerings = tmp_path / "candidates.csv", tmp_path / "offerings.csv"
    candidates.write_text("workload,offering,chips,cost_usd\n" + "".join(
        f"j{i:02d},{o},1,1.0\n" for i in range(100) for o in ("o0", "o1")))
    offerings.write_text("offering,capacity_chips\no0,2\no1,20\n")
    result = cli("-v", "solve", "--candidates", candidates, "--offerings", offerings,
                 "--format", "json")
    assert result.code == 1
    plan = json.loads(result.out)
    assert plan["status"] == "infeasible" and plan["solver"]["infeasible_by"] == "capacity"
    assert result.err.startswith("candidates: 200 rows in ")
    assert "search: INFEASIBLE (infeasible), 0.0 deterministic s, " in result.err


def test_verbose_says_when_a_core_was_searched(cli):
    # enterprise: 2,039 candidate rows, of which the LP and the warm start use 68
    result = cli("-v", "solve", EXAMPLES / "enterprise.yaml", "--format", "json")
    assert result.code == 0
    plan = json.loads(result.out)
    assert 0 < plan["solver"]["core_rows"] < 2039 / 2
    assert f"; core of {plan['solver']['core_rows']:,} rows searched in " in result.err
    assert plan["status"] == "optimal"  # the whole model, searched after, proves it
    lagrangian = plan["solver"]["lagrangian_bound_usd"]
    assert f"; Lagrangian bound ${lagrangian:,.0f} in " in result.err
    assert lagrangian <= plan["total_usd"]


def test_verbose_says_when_a_first_plan_was_searched_for(cli, monkeypatch):
    # a warm start that places nothing keeps no rule: the whole model is searched for a
    # first plan, which the core's search then starts from
    warm_start_places_nothing(monkeypatch)
    result = cli("-v", "solve", EXAMPLES / "startup.yaml", "--format", "json")
    assert result.code == 0
    plan = json.loads(result.out)
    assert plan["solver"]["first_plan_searches"] == 1
    assert (f"; first plan searched for (1 search) in {plan['solver']['first_plan_s']:.2f} s; "
            in result.err)


# ---------------------------------------------------------------------------
# Shells, colours and pipes: the real entry point in a subprocess


def _placer(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "placer", *args], capture_output=True,
                          text=True, timeout=300, env={**os.environ, **(env or {})})


@pytest.mark.parametrize(("words", "cword", "expected"), [
    ("placer cat", 1, ["catalog"]),
    ("placer catalog ", 2, ["list", "import", "chips"]),
    ("placer solve --format ", 3, ["table", "json", "csv", "parquet", "md"]),
    ("placer frontier f.yaml --by ", 4, ["provider", "chip_vendor", "ecosystem"]),
    ("placer export plan.json --to ", 4, ["skypilot"]),
])
def test_shell_completion(words, cword, expected):
    r = _placer(env={"_PLACER_COMPLETE": "complete_bash", "COMP_WORDS": words,
                     "COMP_CWORD": str(cword)})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == expected


def test_json_output_pipes_cleanly():
    r = _placer("solve", str(EXAMPLES / "startup.yaml"), "--format", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["status"] == "optimal"  # nothing but JSON on stdout
    assert "\r" not in r.stderr and "\x1b" not in r.stderr  # no progress line into a pipe
    listed = _placer("catalog", "list", "--format", "json", "--chip", "trn2")
    assert [row["offering"] for row in json.loads(listed.stdout)] == ["aws/us-east-2/trn2"]


def _in_terminal(env: dict[str, str]) -> str:
    """Run `placer catalog list` with a pseudo-terminal as stdout, as a user would; `env` is
    the whole environment."""
    import os
    import pty

    leader, follower = pty.openpty()
    with os.fdopen(leader, "rb", buffering=0) as reader:
        proc = subprocess.Popen([sys.executable, "-m", "placer", "catalog", "list", "--chip",
                                 "trn3"], stdout=follower, stderr=subprocess.DEVNULL,
                                env={**env, "TERM": "xterm-256color", "COLUMNS": "160"})
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = reader.read(65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        proc.wait(timeout=120)
    return b"".join(chunks).decode("utf-8", "replace")


def test_no_color_is_respected():
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    coloured = _in_terminal(env)
    plain = _in_terminal({**env, "NO_COLOR": "1"})
    def colours(text: str) -> set[int]:
        """SGR colour parameters (30-49, 90-107) in the text; bold and italic are not colour."""
        return {int(p) for sgr in re.findall(r"\x1b\[([0-9;]*)m", text)
                for p in sgr.split(";") if p and (30 <= int(p) <= 49 or 90 <= int(p) <= 107)}

    assert "aws/us-east-2/trn3" in plain and "aws/us-east-2/trn3" in coloured
    assert colours(coloured)  # the estimated price is yellow in a terminal...
    assert not colours(plain)  # ...and not with NO_COLOR
