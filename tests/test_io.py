"""Loaders: YAML, JSON, CSV and Parquet give the same problem; YAML is read safely;
files are written atomically."""

from __future__ import annotations

import csv
import gc
import io
import json
from pathlib import Path

import polars as pl
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import placer.io as placer_io
from placer.errors import InputError
from placer.io import atomic_path, parse_yaml, read_document, write_atomic
from placer.problem import load, problem_from_dict

ECOSYSTEMS = ["cuda", "neuron", "xla", "rocm"]
CHIPS = ["h100", "trn2", "tpu-v6e", "mi300x"]
RESIDENCY = ["EU", "US", "DE", "FR", "aws/us-east-1", "gcp/europe-west4"]
DATA_REGIONS = ["aws/us-east-1", "gcp/europe-west4", "azure/westeurope"]
positive = st.floats(min_value=0.5, max_value=1e5, allow_nan=False, allow_infinity=False)


@st.composite
def workload(draw, index: int) -> dict:
    kind = draw(st.sampled_from(["training", "inference"]))
    runs_on = draw(st.lists(st.sampled_from(ECOSYSTEMS), min_size=1, max_size=2, unique=True))
    others = [e for e in ECOSYSTEMS if e not in runs_on]
    ported = draw(st.lists(st.sampled_from(others), unique=True)) if others else []
    w: dict = {"name": f"w{index}-{draw(st.sampled_from(['a', 'b c', 'd_e']))}", "kind": kind,
               "runs_on": runs_on}
    if ported:
        # one price per (codebase, ecosystem): derive it from the ecosystem
        w["port_usd"] = {e: 1000.0 * (ECOSYSTEMS.index(e) + 1) for e in ported}
    if kind == "training":
        w["chip_hours"] = draw(positive)
        if draw(st.booleans()):
            w["deadline_days"] = draw(st.floats(min_value=1, max_value=60))
        if draw(st.booleans()):
            w["min_chips"] = draw(st.integers(1, 64))
    else:
        w["chips"] = draw(positive)
        if draw(st.booleans()):
            w["spread"] = {"min_providers": draw(st.integers(1, 3)),
                           "max_fraction": draw(st.floats(min_value=0.3, max_value=1))}
    if draw(st.booleans()):
        w["residency"] = draw(st.lists(st.sampled_from(RESIDENCY), min_size=1, max_size=3,
                                       unique=True))
    if draw(st.booleans()):
        w["data"] = {"region": draw(st.sampled_from(DATA_REGIONS)), "tb": draw(positive)}
    if draw(st.booleans()):
        w["speed"] = {draw(st.sampled_from(CHIPS)): draw(st.floats(min_value=0.1, max_value=3))}
    if draw(st.booleans()):
        w["required"] = False
        w["value_usd"] = draw(positive)
    if draw(st.booleans()):
        w["codebase"] = draw(st.sampled_from(["llm", "recsys"]))
    return w


@st.composite
def fleets(draw) -> dict:
    n = draw(st.integers(1, 6))
    return {"horizon_days": draw(st.sampled_from([7, 30, 90])),
            "workloads": [draw(workload(i)) for i in range(n)]}


def flatten(record: dict) -> dict:
    out = {}
    for key, value in record.items():
        if isinstance(value, dict):
            for sub, v in value.items():
                out[f"{key}.{sub}"] = v
        elif isinstance(value, list):
            out[key] = ";".join(value)
        else:
            out[key] = value
    return out


def write_csv(path: Path, rows: list[dict]) -> None:
    flat = [flatten(r) for r in rows]
    columns = sorted({c for r in flat for c in r})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    for r in flat:
        writer.writerow({c: repr(v) if isinstance(v, float) else v for c, v in r.items()})
    path.write_text(buffer.getvalue())


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fleet=fleets())
def test_yaml_json_csv_and_parquet_give_the_same_workloads(tmp_path, fleet):
    (tmp_path / "f.yaml").write_text(yaml.safe_dump(fleet))
    (tmp_path / "f.json").write_text(json.dumps(fleet))
    write_csv(tmp_path / "w.csv", fleet["workloads"])
    pl.DataFrame([flatten(w) for w in fleet["workloads"]]).write_parquet(tmp_path / "w.parquet")
    expected = problem_from_dict(fleet).workloads
    assert load(tmp_path / "f.yaml").workloads == expected
    assert load(tmp_path / "f.json").workloads == expected
    assert load(tmp_path / "w.csv").workloads == expected
    assert load(tmp_path / "w.parquet").workloads == expected


def test_yaml_uses_yaml_1_2_booleans_so_norway_stays_a_country():
    doc = parse_yaml("residency: [NO, no, on, yes]\nflag: true\n", "f.yaml")
    assert doc.data == {"residency": ["NO", "no", "on", "yes"], "flag": True}


def test_yaml_dates_stay_text():
    assert parse_yaml("as_of: 2026-09-19\n", "f.yaml").data == {"as_of": "2026-09-19"}


def test_yaml_alias_bomb_is_refused_quickly():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 9):
        prev = chr(ord("a") + i - 1)
        cur = chr(ord("a") + i)
        bomb += f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 10) + "]\n"
    with pytest.raises(InputError, match=r"expands to .* values"):
        parse_yaml(bomb, "bomb.yaml")


def test_yaml_anchors_and_merge_keys_work(tmp_path):
    path = tmp_path / "f.yaml"
    path.write_text(
        "x-base: &base {kind: training, runs_on: [cuda]}\n"
        "workloads:\n  - {name: a, chip_hours: 10, <<: *base}\n"
        "  - {name: b, chip_hours: 20, <<: *base}\n"
    )
    problem = load(path)
    assert [w.chip_hours for w in problem.workloads] == [10, 20]


def test_yaml_python_tags_are_not_executed():
    with pytest.raises(InputError, match="invalid YAML"):
        parse_yaml("a: !!python/object/apply:os.system ['echo hi']\n", "f.yaml")


def test_json_duplicate_keys_are_refused(tmp_path):
    path = tmp_path / "f.json"
    path.write_text('{"horizon_days": 3, "horizon_days": 4}')
    with pytest.raises(InputError, match="duplicate key 'horizon_days'"):
        read_document(path)


@pytest.mark.parametrize(("text", "message"), [
    ('{\n  "workloads": [\n    {"name": "a", "kind": "training",\n     "chip_hours": -1}\n'
     '  ]\n}\n', "{path}:4: workloads[0] (a).chip_hours: must be greater than 0"),
    # a rule across workloads: its lines are looked up only now (the next test)
    ('{"workloads": [\n  {"name": "a", "kind": "inference", "chips": 1},\n'
     '  {"name": "a", "kind": "inference", "chips": 2}\n]}\n',
     "{path}:3: workloads[1] (a).name: duplicate workload name 'a' (first at {path}:2)")],
    ids=["a field", "across workloads"])
def test_json_errors_carry_the_line_of_the_field(tmp_path, text, message):
    path = tmp_path / "f.json"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        load(path)
    assert str(info.value) == message.format(path=path)


def test_a_valid_json_fleet_is_not_parsed_again_for_its_lines(tmp_path, monkeypatch):
    # its lines come from parsing it again as YAML, for messages only: every workload's
    # line was looked up, and 10,000 workloads took 10.9 s to load, now 0.15 s
    import placer.io

    path = tmp_path / "f.json"
    path.write_text(json.dumps({"workloads": [
        {"name": f"w{i}", "kind": "inference", "chips": 1} for i in range(3)]}))
    parsed_as_yaml = []
    loader = placer.io._Loader
    monkeypatch.setattr(placer.io, "_Loader",
                        lambda text: parsed_as_yaml.append(text) or loader(text))
    assert [w.name for w in load(path).workloads] == ["w0", "w1", "w2"]
    assert parsed_as_yaml == []


def test_policy_file_overrides_the_fleet_policy(tmp_path):
    fleet = tmp_path / "f.yaml"
    fleet.write_text("policy: {pricing: spot}\n"
                     "workloads:\n  - {name: a, kind: inference, chips: 1}\n")
    policy = tmp_path / "p.yaml"
    policy.write_text("pricing: commit_1y\nmax_share: {provider: 0.4}\n")
    problem = load(fleet, policy=policy)
    assert problem.policy.pricing == "commit_1y"
    assert problem.policy.max_share.provider == 0.4


def test_horizon_conflict_between_files_is_an_error(tmp_path):
    (tmp_path / "a.yaml").write_text("horizon_days: 30\n")
    (tmp_path / "b.yaml").write_text("horizon_days: 60\n")
    with pytest.raises(InputError, match="horizon_days 60 differs from 30"):
        load(tmp_path / "a.yaml", tmp_path / "b.yaml")


def test_default_horizon_is_30_days():
    assert problem_from_dict({"workloads": []}).horizon_days == 30


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "plan.json"
    target.write_text("old")
    write_atomic(target, "new content")
    assert target.read_text() == "new content"
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "plan.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]


# ---------------------------------------------------------------------------
# libyaml where it reads a text as PyYAML's own parser does


def _outcome(text: str, with_libyaml: bool) -> tuple:
    """What parse_yaml makes of `text`, with libyaml or with PyYAML's parser alone."""
    was = placer_io.WITH_LIBYAML
    placer_io.WITH_LIBYAML = with_libyaml and was
    try:
        doc = parse_yaml(text, "f.yaml")
        return "read", repr(doc.data), doc._positions
    except InputError as exc:
        return "refused", str(exc)
    finally:
        placer_io.WITH_LIBYAML = was


# fragments of YAML syntax, scalars that resolve to other types, escapes, odd spaces and
# line breaks; at times one of the characters that send a text to PyYAML's parser
YAML_PIECES = [
    "a", "b", "0", "1", " ", "  ", "\n", "\n  ", "\n- ", "- ", ": ", ":", ",", ", ", "-",
    ".", "#", " #", "\n#c\n", "'", "''", '"', "\\", "\\n", '\\"', "\\/", "\\x41", "\\u00e9",
    "\\U0001F600", "\\0", "\\ ", "\\_", "\\N", "\\L", "\\P", "\\e", "\\t", "\\u2028", "[",
    "]", "{", "}", "name: x", "key:", "null", "~", "true", "No", "yes", "1e3", "0x1", "0o7",
    "+1", "-1", ".5", "1_000", ".inf", ".NaN", "2001-12-14", "---", "...", "@", "`", "=",
    "<<", "\r\n", "\r", "é", "\u00a0", "\u3000", "\U0001F600", "\x7f",
]
OTHERWISE = ["", "", "", "\t", "!", "%", "|", ">", "?", "&", "*", "\ufeff", "\u2028"]


@st.composite
def yaml_texts(draw) -> str:
    pieces = draw(st.lists(st.sampled_from(YAML_PIECES), min_size=1, max_size=30))
    pieces.insert(draw(st.integers(0, len(pieces))), draw(st.sampled_from(OTHERWISE)))
    # a start that makes a collection more often (libyaml reads only those)
    return draw(st.sampled_from(["", "a: ", "- ", "x:\n  ", "- a: ", "x:\n  - "])) \
        + "".join(pieces)


@pytest.mark.skipif(not placer_io.WITH_LIBYAML, reason="PyYAML here was built without libyaml")
@settings(max_examples=1500, deadline=None)
@given(text=yaml_texts())
def test_libyaml_reads_every_text_as_pyyamls_own_parser_does(text):
    # the same data and lines, or the same message: a file reads the same on a machine
    # without libyaml
    assert _outcome(text, with_libyaml=True) == _outcome(text, with_libyaml=False)


@pytest.mark.skipif(not placer_io.WITH_LIBYAML, reason="PyYAML here was built without libyaml")
@pytest.mark.parametrize("text, libyaml_reads", [
    ("key: !\n", {"key": ""}),              # a bare tag: PyYAML's parser reads null
    ("a: 1\n\ufeff", {"a": 1}),             # a second byte-order mark: refused
    ("a: b\t\n", {"a": "b"}),               # a tab after a scalar: refused
    ("a: >#\n", {"a": ""}),                 # a comment without its space: refused
    ("[a\n    ?b]\n", ["a ?b"]),           # a key indicator in a flow: refused
])
def test_texts_libyaml_reads_otherwise_go_to_pyyamls_parser(text, libyaml_reads):
    assert yaml.load(text, Loader=placer_io._LibyamlLoader) == libyaml_reads
    assert placer_io._composed_by_libyaml(text) is None
    pure = _outcome(text, with_libyaml=False)
    assert pure[:2] != ("read", repr(libyaml_reads))
    assert _outcome(text, with_libyaml=True) == pure


@pytest.mark.skipif(not placer_io.WITH_LIBYAML, reason="PyYAML here was built without libyaml")
@settings(max_examples=40, deadline=None)
@given(fleet=fleets())
def test_a_fleet_written_by_pyyaml_is_read_by_libyaml(fleet):
    text = yaml.safe_dump(fleet, sort_keys=False)
    assert placer_io._composed_by_libyaml(text) is not None
    assert parse_yaml(text, "f.yaml").data == fleet


def test_reading_pauses_the_garbage_collector_and_gives_it_back(tmp_path):
    seen: list[bool] = []
    with placer_io.collection_paused():
        seen.append(gc.isenabled())
        with placer_io.collection_paused():
            seen.append(gc.isenabled())
        seen.append(gc.isenabled())  # the inner block leaves it paused
    assert seen == [False, False, False] and gc.isenabled()
    gc.disable()
    try:
        with placer_io.collection_paused():
            pass
        assert not gc.isenabled()  # paused by the caller: left so
    finally:
        gc.enable()
    bad = tmp_path / "bad.yaml"
    bad.write_text("workloads:\n  - {name: a, kind: training}\n")
    with pytest.raises(InputError, match="chip_hours"):
        load(bad)
    assert gc.isenabled()
