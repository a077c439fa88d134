"""Hand a plan to SkyPilot: one task YAML per placement, plus a README saying how to launch.

A training placement is a gang: one task with `num_nodes` instances (a TPU gang is one slice
of all its chips). An inference placement is a SkyServe service with one replica per
instance. `--template` supplies what placer cannot know — setup, run, file mounts, extra
resources keys — and placer fills in where and on what.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from placer.catalog import Catalog, default_catalog
from placer.check import read_plan
from placer.errors import InputError, Issue
from placer.io import read_document, write_atomic
from placer.schema import PlanDocument
from placer.skypilot_names import (
    CHIP_ACCELERATORS,
    PROVIDER_CLOUDS,
    skypilot_region,
    tpu_accelerator,
)

# Keys of a template that placer sets itself.
PLACER_KEYS = ("name", "num_nodes")
PLACER_RESOURCES = ("infra", "cloud", "region", "zone", "accelerators", "use_spot",
                    "instance_type", "any_of", "ordered")


@dataclass(frozen=True)
class ExportedTask:
    workload: str
    offering: str
    file: str | None  # None when SkyPilot cannot run this placement
    task: dict[str, Any] | None
    launch: str  # the command that launches it, or why it cannot be exported


def skypilot_tasks(plan: PlanDocument, catalog: Catalog | None = None,
                   template: dict[str, Any] | None = None) -> list[ExportedTask]:
    """One SkyPilot task per placement of the plan (or the reason it has none)."""
    catalog = catalog or default_catalog()
    instances = dict(zip(catalog.offerings["offering"], catalog.offerings["instance"],
                         strict=True))
    tasks = []
    used: set[str] = set()
    for a in plan.assignments:
        reason = _unsupported(a.provider, a.chip)
        if reason is not None:
            tasks.append(ExportedTask(a.workload, a.offering, None, None, reason))
            continue
        task = _task(a, plan.pricing, instances.get(a.offering), template or {})
        file = _unique(f"{_slug(a.workload)}--{_slug(a.offering)}.yaml", used)
        launch = (f"sky serve up -n {task['name']} {file}" if "service" in task
                  else f"sky launch -c {task['name']} {file}")
        tasks.append(ExportedTask(a.workload, a.offering, file, task, launch))
    return tasks


def _unsupported(provider: str, chip: str) -> str | None:
    if provider not in PROVIDER_CLOUDS:
        return f"not exported: SkyPilot cannot launch on {provider}"
    if chip not in CHIP_ACCELERATORS and tpu_accelerator(chip, 1) is None:
        return f"not exported: SkyPilot has no accelerator name for {chip}"
    return None


def _task(a: Any, pricing: str, instance: str | None, template: dict[str, Any]) -> dict[str, Any]:
    cloud = PROVIDER_CLOUDS[a.provider]
    per_instance = a.chips // a.instances
    gang_tpu = a.kind == "training" and tpu_accelerator(a.chip, 1) is not None
    if tpu_accelerator(a.chip, 1) is not None:
        accelerators = tpu_accelerator(a.chip, a.chips if gang_tpu else per_instance)
    else:
        accelerators = f"{CHIP_ACCELERATORS[a.chip]}:{per_instance}"
    resources = {
        "infra": f"{cloud}/{skypilot_region(cloud, a.region)}",
        "accelerators": accelerators,
        "use_spot": pricing == "spot",
    }
    if instance and _is_instance_type(instance) and tpu_accelerator(a.chip, 1) is None:
        resources["instance_type"] = instance
    task = copy.deepcopy({k: v for k, v in template.items() if k not in PLACER_KEYS})
    task = {"name": _slug(f"{a.workload}-{a.provider}-{a.region}-{a.chip}"), **task}
    task["resources"] = {**{k: v for k, v in (template.get("resources") or {}).items()
                            if k not in PLACER_RESOURCES}, **resources}
    task["envs"] = {**(template.get("envs") or {}), **_envs(a, pricing)}
    if a.kind == "training":
        task["num_nodes"] = 1 if gang_tpu else a.instances
    else:
        service = dict(template.get("service") or {})
        service.setdefault("readiness_probe", "/")
        service.pop("replica_policy", None)  # the plan fixes the replica count
        service["replicas"] = a.instances
        task["service"] = service
    return task


def _envs(a: Any, pricing: str) -> dict[str, str]:
    envs = {
        "PLACER_WORKLOAD": a.workload,
        "PLACER_OFFERING": a.offering,
        "PLACER_CHIPS": str(a.chips),
        "PLACER_INSTANCES": str(a.instances),
        "PLACER_PRICING": pricing,
    }
    if a.hours is not None:
        envs["PLACER_HOURS"] = f"{a.hours:g}"
    return envs


def _is_instance_type(name: str) -> bool:
    """A provider's instance type name, not a description ('Trn3 UltraServer member (16)')."""
    return re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name) is not None


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or "task"


def _unique(name: str, used: set[str]) -> str:
    stem, n = name.removesuffix(".yaml"), 1
    while name in used:
        n += 1
        name = f"{stem}-{n}.yaml"
    used.add(name)
    return name


# ---------------------------------------------------------------------------
# Files


def read_template(path: str | Path) -> dict[str, Any]:
    doc = read_document(path)
    if not isinstance(doc.data, dict):
        raise InputError([Issue("a SkyPilot task template must be a mapping (setup, run, "
                                "envs, ...)", str(path))])
    for key in ("envs", "resources", "service"):
        if key in doc.data and not isinstance(doc.data[key], dict | None):
            raise InputError([Issue(f"'{key}' must be a mapping", str(path), key,
                                    doc.line((key,)))])
    return doc.data


# libyaml's emitter where PyYAML has it (its wheels do), PyYAML's own elsewhere: the same
# text for each of the 9,270 tasks of a 10,000-workload plan, in 0.8 s rather than 3.7 s.
# Over 20,000 random documents the two differed only on an empty key and on a NEL
# character, which PyYAML's own emitter does not read back as written ("a\x85b" as "a b").
TASK_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def task_yaml(task: ExportedTask, plan_file: str) -> str:
    header = (f"# SkyPilot task from placer plan {plan_file}: {task.workload} on "
              f"{task.offering}.\n# Launch: {task.launch}\n")
    if "run" not in (task.task or {}):
        header += "# Add setup/run (or pass --template) before launching the job itself.\n"
    return header + yaml.dump(task.task, Dumper=TASK_DUMPER, sort_keys=False,
                              allow_unicode=True)


def readme(tasks: list[ExportedTask], plan: PlanDocument, plan_file: str) -> str:
    rows = "\n".join(
        f"| {t.workload} | {t.offering} | "
        + (f"`{t.file}` | `{t.launch}` |" if t.file else f"- | {t.launch} |")
        for t in tasks)
    total = f"${plan.total_usd:,.2f}" if plan.total_usd is not None else "-"
    return (
        f"# SkyPilot tasks for {plan_file}\n\n"
        f"Plan status {plan.status}, total {total}, pricing {plan.pricing}. One task per "
        "placement: training gangs are tasks with `num_nodes`; inference placements are "
        "SkyServe services with one replica per instance.\n\n"
        "| workload | offering | task | launch |\n|---|---|---|---|\n"
        f"{rows}\n"
    )


def write_skypilot(plan_path: str | Path, out: str | Path, catalog: Catalog | None = None,
                   template: str | Path | None = None, force: bool = False
                   ) -> list[ExportedTask]:
    """Write DIR/<workload>--<offering>.yaml per placement and DIR/README.md, atomically;
    refuse to replace files already there unless `force`."""
    plan = read_plan(str(plan_path))
    tasks = skypilot_tasks(plan, catalog, read_template(template) if template else None)
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise InputError([Issue("not a folder", str(folder))])
    targets = [folder / t.file for t in tasks if t.file] + [folder / "README.md"]
    clash = [p for p in targets if p.exists()]
    if clash and not force:
        raise InputError([Issue(f"already exists ({len(clash)} file(s) would be replaced); "
                                "pass --force to replace them", str(clash[0]))])
    folder.mkdir(parents=True, exist_ok=True)
    name = Path(plan_path).name
    for t in tasks:
        if t.file:
            write_atomic(folder / t.file, task_yaml(t, name))
    write_atomic(folder / "README.md", readme(tasks, plan, name))
    return tasks


def tasks_frame(tasks: list[ExportedTask]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"workload": t.workload, "offering": t.offering, "file": t.file or "-",
          "launch": t.launch} for t in tasks],
        schema={"workload": pl.String, "offering": pl.String, "file": pl.String,
                "launch": pl.String},
    )
