"""placer export PLAN --to skypilot DIR: a task YAML per placement, checked against
SkyPilot's own schema and task parser (with SkyPilot's catalog rows from tests/data/skypilot
standing in for the network)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

import placer
from placer.export import TASK_DUMPER, ExportedTask, skypilot_tasks, task_yaml
from placer.schema import PlanDocument

DATA = Path(__file__).parent / "data" / "skypilot"

FLEET = """
horizon_days: 30
policy:
  pricing: on_demand
  deny: {chip: [tpu-v5e, tpu-v6e, tpu7x, a100, h200, b200]}
workloads:
  - name: pretrain-h100
    kind: training
    chip_hours: 2000
    deadline_days: 20
    runs_on: [cuda]
    residency: [gcp/europe-west4]
    min_chips: 16
  - name: finetune-tpu
    kind: training
    chip_hours: 500
    deadline_days: 20
    runs_on: [xla]
    residency: [gcp/us-central1]
    min_chips: 8
  - name: chat-us
    kind: inference
    chips: 16
    runs_on: [cuda]
    residency: [aws/us-east-1]
  - name: chat-eu
    kind: inference
    chips: 8
    runs_on: [cuda]
    residency: [scaleway/fr-par-2]
"""


@pytest.fixture(scope="module")
def plan_file(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("export")
    fleet = folder / "fleet.yaml"
    fleet.write_text(FLEET)
    plan = placer.solve(placer.load(fleet), time_limit=20, seed=0)
    assert plan.status == "optimal"
    path = folder / "plan.json"
    path.write_text(plan.to_json())
    return path


def tasks_of(plan_file: Path, template=None):
    doc = PlanDocument.model_validate(json.loads(plan_file.read_text()))
    return {t.workload: t for t in skypilot_tasks(doc, template=template)}


def test_training_gang_is_one_task_with_num_nodes(plan_file):
    task = tasks_of(plan_file)["pretrain-h100"].task
    assert task["num_nodes"] == 2
    assert task["resources"] == {"infra": "gcp/europe-west4", "accelerators": "H100:8",
                                 "use_spot": False, "instance_type": "a3-highgpu-8g"}
    assert task["envs"]["PLACER_CHIPS"] == "16"
    assert "service" not in task


def test_tpu_gang_is_one_slice(plan_file):
    task = tasks_of(plan_file)["finetune-tpu"].task
    # 8 TPU v5p chips are 16 TensorCores: one tpu-v5p-16 slice.
    assert task["resources"]["accelerators"] == "tpu-v5p-16"
    assert task["num_nodes"] == 1
    assert "instance_type" not in task["resources"]


def test_inference_is_a_service_with_a_replica_per_instance(plan_file):
    exported = tasks_of(plan_file)["chat-us"]
    assert exported.task["service"] == {"readiness_probe": "/", "replicas": 2}
    assert exported.task["resources"]["accelerators"] == "H100:8"
    assert "num_nodes" not in exported.task
    assert exported.launch == f"sky serve up -n chat-us-aws-us-east-1-h100 {exported.file}"


def test_unsupported_provider_is_reported_not_exported(plan_file):
    skipped = tasks_of(plan_file)["chat-eu"]
    assert skipped.file is None
    assert skipped.launch == "not exported: SkyPilot cannot launch on scaleway"


def test_template_supplies_the_job(plan_file):
    template = {"setup": "pip install -r requirements.txt", "run": "python train.py",
                "envs": {"WANDB_PROJECT": "x", "PLACER_CHIPS": "ignored"},
                "resources": {"disk_size": 512, "accelerators": "ignored"},
                "num_nodes": 99, "service": {"replica_policy": {"min_replicas": 1},
                                             "readiness_probe": "/health"}}
    tasks = tasks_of(plan_file, template)
    train = tasks["pretrain-h100"].task
    assert (train["setup"], train["run"], train["num_nodes"]) == (
        "pip install -r requirements.txt", "python train.py", 2)
    assert train["resources"]["disk_size"] == 512
    assert train["resources"]["accelerators"] == "H100:8"
    assert train["envs"]["WANDB_PROJECT"] == "x" and train["envs"]["PLACER_CHIPS"] == "16"
    serve = tasks["chat-us"].task
    assert serve["service"] == {"readiness_probe": "/health", "replicas": 2}
    assert template["envs"]["PLACER_CHIPS"] == "ignored"  # the template is not modified


TEMPLATE = {"setup": "pip install -r requirements.txt\nmkdir -p /data",
            "run": "set -e\ntorchrun --nproc_per_node $SKYPILOT_NUM_GPUS_PER_NODE train.py "
                   "--lr 3e-4 # 'quoted': yes\n",
            "envs": {"WANDB_PROJECT": "llm: pretrain", "EMPTY": "", "ON": "yes", "N": 8},
            "file_mounts": {"/data": "s3://bucket/data", "~/.netrc": "~/.netrc"},
            "resources": {"disk_size": 512, "labels": {"team": "ml-platform"}}}


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML here was built without libyaml")
def test_tasks_are_written_by_libyaml_as_pyyamls_own_emitter_writes_them(plan_file):
    # so that the export is the same file on machines without libyaml
    assert TASK_DUMPER is yaml.CSafeDumper
    for template in (None, TEMPLATE):
        for exported in tasks_of(plan_file, template).values():
            if exported.file:
                text = task_yaml(exported, "plan.json")
                assert text.endswith(yaml.safe_dump(exported.task, sort_keys=False,
                                                    allow_unicode=True))


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML here was built without libyaml")
@settings(max_examples=200, deadline=None)
@example(envs={}, run="a\x85b")  # PyYAML's own emitter wrote it as 'a\x85  b', read as "a b"
@given(st.dictionaries(st.text(max_size=12), st.text(max_size=40), max_size=4),
       st.text(max_size=80))
def test_a_task_reads_back_as_written_whatever_text_the_template_holds(envs, run):
    task = ExportedTask(workload="w", offering="aws/us-east-1/h100",
                        task={"name": "w", "envs": envs, "run": run}, file="w.yaml",
                        launch="sky launch w.yaml")
    assert yaml.safe_load(task_yaml(task, "plan.json")) == task.task


def test_a_large_exports_skipped_placements_and_table_are_summed_up(cli, plan_file, tmp_path,
                                                                   monkeypatch):
    # a 10,000-workload plan: 1,464 warnings, one a line, and a table of 10,747 rows
    from placer import cli as cli_module
    from placer import report

    monkeypatch.setattr(cli_module, "SKIPPED_PER_REASON", 0)
    monkeypatch.setattr(report, "PRINTED_PLACEMENTS", 2)
    out = tmp_path / "sky"
    r = cli("export", plan_file, "--to", "skypilot", out)
    assert r.code == 0, r.err
    assert r.err == ("warning: 1 placement not exported: SkyPilot cannot launch on scaleway; "
                     f"{out / 'README.md'} lists every one\n")
    assert f"2 more placements: {out / 'README.md'} lists every one" in r.out
    assert sum(line.startswith("│") for line in r.out.splitlines()) == 2


def test_cli_writes_files_and_refuses_to_overwrite(cli, plan_file, tmp_path):
    out = tmp_path / "sky"
    r = cli("export", plan_file, "--to", "skypilot", out)
    assert r.code == 0, r.err
    assert "3 of 4 placements exported" in r.out
    assert "warning: chat-eu on scaleway/fr-par-2/h100: not exported: SkyPilot cannot launch "\
        "on scaleway" in r.err
    files = sorted(p.name for p in out.iterdir())
    assert files == ["README.md", "chat-us--aws-us-east-1-h100.yaml",
                     "finetune-tpu--gcp-us-central1-tpu-v5p.yaml",
                     "pretrain-h100--gcp-europe-west4-h100.yaml"]
    text = (out / "pretrain-h100--gcp-europe-west4-h100.yaml").read_text()
    assert text.startswith("# SkyPilot task from placer plan plan.json: pretrain-h100 on "
                           "gcp/europe-west4/h100.\n# Launch: sky launch -c "
                           "pretrain-h100-gcp-europe-west4-h100 ")
    assert "| chat-eu | scaleway/fr-par-2/h100 | - | not exported" in \
        (out / "README.md").read_text()
    again = cli("export", plan_file, "--to", "skypilot", out)
    assert again.code == 2 and "pass --force to replace them" in again.err
    assert cli("export", plan_file, "--to", "skypilot", out, "--force", "-q").code == 0


def test_cli_bad_plan(cli, write, tmp_path):
    bad = write("plan.json", '{"status": "optimal"}')
    r = cli("export", bad, "--to", "skypilot", tmp_path / "out")
    assert r.code == 2
    assert "plan.json" in r.err and "Traceback" not in r.err
    assert not (tmp_path / "out").exists()


SKY_CHECK = r"""
import json, sys, yaml
import sky
from sky.utils import common_utils, schemas
for path in sys.argv[1:]:
    config = yaml.safe_load(open(path))
    common_utils.validate_schema(config, schemas.get_task_schema(), "Invalid task YAML: ")
    task = sky.Task.from_yaml(path)
    resources = list(task.resources)
    feasible = resources[0].cloud.get_feasible_launchable_resources(
        resources[0], num_nodes=task.num_nodes).resources_list
    print("CHECKED", json.dumps({"file": path, "nodes": task.num_nodes,
                      "accelerators": resources[0].accelerators,
                      "region": resources[0].region, "service": task.service is not None,
                      "launchable": [str(r.instance_type) for r in feasible]}))
"""


def test_tasks_are_valid_skypilot(cli, plan_file, tmp_path):
    pytest.importorskip("sky", reason="SkyPilot not installed (pip install 'placer[skypilot]')")
    out = tmp_path / "sky"
    assert cli("export", plan_file, "--to", "skypilot", out, "-q").code == 0
    home = tmp_path / "home"
    for cloud in ("aws", "gcp"):
        catalog = home / ".sky" / "catalogs" / "v8" / cloud
        catalog.mkdir(parents=True)
        shutil.copy(DATA / cloud / "vms.csv", catalog / "vms.csv")
    files = sorted(str(p) for p in out.glob("*.yaml"))
    run = subprocess.run([sys.executable, "-c", SKY_CHECK, *files], capture_output=True,
                         text=True, timeout=300, env={**os.environ, "HOME": str(home)})
    assert run.returncode == 0, run.stderr[-3000:]
    lines = [line.removeprefix("CHECKED ") for line in run.stdout.splitlines()
             if line.startswith("CHECKED ")]
    checked = {Path(r["file"]).name: r for r in map(json.loads, lines)}
    assert set(checked) == {Path(f).name for f in files}
    pretrain = checked["pretrain-h100--gcp-europe-west4-h100.yaml"]
    assert (pretrain["nodes"], pretrain["accelerators"], pretrain["region"]) == (
        2, {"H100": 8}, "europe-west4")
    # SkyPilot's optimizer finds the instance in its catalog rows: the task can launch.
    assert pretrain["launchable"] == ["a3-highgpu-8g"]
    assert checked["chat-us--aws-us-east-1-h100.yaml"]["launchable"] == ["p5.48xlarge"]
    assert checked["chat-us--aws-us-east-1-h100.yaml"]["service"] is True
    assert checked["finetune-tpu--gcp-us-central1-tpu-v5p.yaml"]["accelerators"] == {
        "tpu-v5p-16": 1}
    for path in files:  # and they stay plain YAML
        assert isinstance(yaml.safe_load(Path(path).read_text()), dict)
