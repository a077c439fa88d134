"""The `placer` command: a thin shell that parses options, calls the library and prints.

Exit codes: 0 a plan (or a clean check), 1 no plan exists / a check found violations,
2 bad input, 3 an internal error (a bug: please report it).
"""

from __future__ import annotations

import os
import re
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from placer import catalog as catalog_mod
from placer.errors import InputError
from placer.io import DOCUMENT_SUFFIXES, read_document
from placer.problem import load, problem_from_document
from placer.report import console, frame_csv, offerings_table, to_json
from placer.schema import DIMENSIONS as DIMENSION_NAMES
from placer.schema import PRICINGS, Fleet, PlanDocument, Policy, json_schema

if TYPE_CHECKING:
    from placer.plan import Plan

app = typer.Typer(
    name="placer",
    help="Decide where AI work should run: the cheapest plan across clouds, regions and "
    "chips that keeps residency, capacity, deadline, budget and lock-in rules.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
catalog_app = typer.Typer(help="Look at the catalog of chips and offerings.",
                          no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")
VERBOSE = {"on": False}


@app.callback()
def _options(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="say what each phase of a "
                                          "solve took, on stderr")] = False,
) -> None:
    """Decide where AI work should run."""
    VERBOSE["on"] = verbose


def _say_phases(plan: Plan) -> None:
    """--verbose: sizes and times of each phase of the solve, on stderr."""
    if not VERBOSE["on"]:
        return
    s = plan.solver
    lp = "-" if s.get("lp_bound_usd") is None else f"${s['lp_bound_usd']:,.0f}"
    console(stderr=True).print(
        f"candidates: {s['candidates']:,} rows in {s['candidates_s']:.2f} s; model: "
        f"{s['variables']:,} variables, {s['constraints']:,} constraints in {s['build_s']:.2f} s;"
        f" LP bound {lp} and warm start in {s.get('warm_start_s', 0):.2f} s; "
        f"{_bound_phase(s)}{_columns_phase(s)}{_first_plan_phase(s)}{_core_phase(s)}"
        f"{_branch_phase(s)}search: "
        f"{s['status']} ({s['stop_reason']}), {s['deterministic_time']:.1f} deterministic s, "
        f"{s['workers']} workers, seed {s['seed']}; total {s['time_s']:.2f} s; "
        f"{'reproducible' if s['deterministic'] else NOT_REPRODUCIBLE}",
        markup=False)


NOT_REPRODUCIBLE = ("not reproducible (stopped by the clock, or searched last by CP-SAT's own "
                     "portfolio: a small fleet given the time)")


def _bound_phase(solver: dict[str, Any]) -> str:
    """--verbose: the Lagrangian bound, or the parts, when there were some."""
    if solver.get("parts"):
        return f"solved in {solver['parts']} parts (times summed over them); "
    if solver.get("lagrangian_bound_usd") is None:
        return ""
    return (f"Lagrangian bound ${solver['lagrangian_bound_usd']:,.0f} in "
            f"{solver['lagrangian_s']:.2f} s beside the search; ")


def _columns_phase(solver: dict[str, Any]) -> str:
    """--verbose: column generation, when it ran."""
    if not solver.get("columns_rounds") and solver.get("master_usd") is None:
        return ""
    bound = solver.get("columns_bound_usd")
    master = solver.get("master_usd")
    early = solver.get("master_early_usd")
    beside = "" if early is None else f" (beside the rounds ${early:,.0f})"
    return (f"column generation: {solver['columns_rounds']} rounds, {solver['columns']:,} "
            f"columns, bound {'-' if bound is None else f'${bound:,.0f}'}, master in "
            f"integers {'-' if master is None else f'${master:,.0f}'}{beside}, "
            f"{solver['columns_s']:.2f} s; ")


def _branch_phase(solver: dict[str, Any]) -> str:
    """--verbose: the branching on the ports column generation's master LP bought in part."""
    nodes = solver.get("branch_nodes") or []
    if not nodes:
        return ""
    in_part = ", ".join(f"{p['codebase']} to {p['ecosystem']} {p['share']:.2f}"
                        for p in solver.get("ports_in_part") or []) or "none"
    return (f"branched on ports (its master LP bought in part: {in_part}): "
            f"{len(nodes)} nodes in {sum(n['time_s'] for n in nodes):.2f} s, "
            f"{solver.get('branch_stop_reason') or 'ended'}; ")


def _first_plan_phase(solver: dict[str, Any]) -> str:
    """--verbose: the search for a first plan, where there was no plan before it."""
    searches = solver.get("first_plan_searches", 0)
    if not searches:
        return ""
    rounds = f"{searches} searches" if searches > 1 else "1 search"
    return f"first plan searched for ({rounds}) in {solver['first_plan_s']:.2f} s; "


def _core_phase(solver: dict[str, Any]) -> str:
    """--verbose: the core search, when there was one."""
    if not solver.get("core_rows"):
        return ""
    searches = solver.get("core_searches", 1)
    how = f" by {searches:,} neighbourhoods" if searches > 1 else ""
    return f"core of {solver['core_rows']:,} rows searched{how} in {solver['core_s']:.2f} s; "


class TableFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


CatalogOption = Annotated[
    list[Path] | None,
    typer.Option("--catalog", help="catalog folder laid over the bundled one (repeatable)",
                 file_okay=False),
]


ReportOption = Annotated[
    Path | None,
    typer.Option("--report", help="also write the plan for people: report.html (charts "
                 "embedded) or report.md (charts beside it)"),
]


def _check_report_path(report: Path | None) -> None:
    """Fail before solving, not after, when the report cannot be written."""
    if report is None:
        return
    if report.suffix.lower() not in (".html", ".htm", ".md"):
        raise InputError(f"--report: '{report}' should end in .html or .md")
    if not report.absolute().parent.is_dir():
        raise InputError(f"--report: the folder to write into does not exist: {report.parent}")


def _catalog(dirs: list[Path] | None) -> catalog_mod.Catalog:
    return catalog_mod.load_catalog(dirs or [])


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="fleet, policy or plan files")],
    policy: Annotated[Path | None, typer.Option(help="policy file to check with them")] = None,
    together: Annotated[
        bool, typer.Option(help="also check the fleet files combine into one problem, as "
                           "`placer solve FILE...` would combine them")
    ] = False,
    catalog: CatalogOption = None,
) -> None:
    """Check files against the formats and the catalog; print one line per valid file."""
    cat = _catalog(catalog)
    out, err = console(), console(stderr=True)
    failed = False
    fleets: list[Path] = []
    for path in files:
        try:
            kind, described = _describe(path, cat)
            out.print(f"{path}: ok — {described}")
            if kind == "fleet":
                fleets.append(path)
        except InputError as exc:
            failed = True
            for issue in exc.issues:
                err.print(f"error: {issue}", markup=False)
    if not failed and fleets and (together or policy is not None):
        try:
            problem = load(*fleets, policy=policy, catalog=cat)
            out.print(f"together: ok — {problem.summary()}")
        except InputError as exc:
            failed = True
            for issue in exc.issues:
                err.print(f"error: {issue}", markup=False)
    if failed:
        raise typer.Exit(2)


def _kind(data: Any) -> str:
    if isinstance(data, dict) and "assignments" in data and "status" in data:
        return "plan"
    if isinstance(data, dict) and data and set(data) <= set(Policy.model_fields):
        return "policy"
    return "fleet"


def _describe(path: Path, cat: catalog_mod.Catalog) -> tuple[str, str]:
    """The file's kind (fleet, policy or plan) and a line about it, the file read once
    (a 10,000-workload YAML fleet takes 3.7 s to parse)."""
    if path.suffix.lower() not in DOCUMENT_SUFFIXES:
        return "fleet", load(path, catalog=cat).summary()  # a table, or the loader's error
    doc = read_document(path)
    kind = _kind(doc.data)
    if kind == "plan":
        from pydantic import ValidationError

        from placer.io import issues_from_validation, raise_issues

        try:
            plan = PlanDocument.model_validate(doc.data)
        except ValidationError as exc:
            raise_issues(issues_from_validation(exc, doc))
            raise
        return kind, (f"plan, {plan.status}, {len(plan.assignments)} assignments, "
                      f"total {plan.total_usd if plan.total_usd is not None else '-'}")
    if kind == "policy":
        from placer.problem import _validate_policy_file

        pol = _validate_policy_file(doc, cat)
        caps = ", ".join(f"{k} {v:g}" for k, v in pol.max_share if v is not None)
        return kind, f"policy, pricing {pol.pricing}" + (f", max share {caps}" if caps else "")
    return kind, problem_from_document(doc, cat).summary()


@catalog_app.command("list")
def catalog_list(
    chip: Annotated[list[str] | None, typer.Option(help="chip slug, e.g. trn2")] = None,
    provider: Annotated[list[str] | None, typer.Option(help="provider, e.g. aws")] = None,
    vendor: Annotated[list[str] | None, typer.Option(help="chip vendor, e.g. nvidia")] = None,
    ecosystem: Annotated[list[str] | None, typer.Option(help="e.g. cuda, neuron")] = None,
    jurisdiction: Annotated[list[str] | None, typer.Option(help="e.g. EU, US")] = None,
    pricing: Annotated[
        str | None,
        typer.Option(help="only offerings sold with this pricing: on_demand, spot, "
                     "commit_1y, commit_3y", autocompletion=lambda: list(PRICINGS)),
    ] = None,
    format: Annotated[TableFormat, typer.Option("--format", help="table, csv or json")] = (
        TableFormat.table
    ),
    catalog: CatalogOption = None,
) -> None:
    """List offerings (cloud × region × chip) with prices, capacity and carbon."""
    cat = _catalog(catalog)
    filters = {"chip": chip, "provider": provider, "chip_vendor": vendor,
               "ecosystem": ecosystem, "jurisdiction": jurisdiction}
    vocab = cat.vocab
    known = {"chip": vocab.chips, "provider": vocab.providers, "chip_vendor": vocab.chip_vendors,
             "ecosystem": vocab.ecosystems, "jurisdiction": vocab.jurisdictions}
    for name, values in filters.items():
        for value in values or []:
            if value not in known[name]:
                raise InputError(f"--{name.replace('chip_vendor', 'vendor')}: unknown value "
                                 f"'{value}' (known: {', '.join(sorted(known[name]))})")
    if pricing is not None and pricing not in ("on_demand", "spot", "commit_1y", "commit_3y"):
        raise InputError(f"--pricing: '{pricing}' is not one of on_demand, spot, commit_1y, "
                         "commit_3y")
    frame = catalog_mod.list_offerings(
        cat, chip=chip or (), provider=provider or (), vendor=vendor or (),
        ecosystem=ecosystem or (), jurisdiction=jurisdiction or (), pricing=pricing,
    )
    if format is TableFormat.json:
        sys.stdout.write(to_json(frame.to_dicts()))
    elif format is TableFormat.csv:
        sys.stdout.write(frame_csv(frame))
    else:
        out = console()
        out.print(offerings_table(frame, title=f"{frame.height} offerings"))
        if frame.filter(frame["price_basis"] == "estimate").height:
            out.print("* estimate: not a published price; the notes column (--format csv) "
                      "says why, and models/SOURCES.md how")


@catalog_app.command("import")
def catalog_import(
    skypilot: Annotated[Path, typer.Option(
        "--skypilot", help="SkyPilot catalog folder (aws/vms.csv, gcp/vms.csv, ...) or one "
        "vms.csv")],
    out: Annotated[Path | None, typer.Option(
        help="folder to write offerings.csv (use it with --catalog) and import-report.md; "
        "without it the offerings go to stdout as CSV")] = None,
    provider: Annotated[str | None, typer.Option(
        help="the cloud a single vms.csv describes, when its folder does not say (aws, gcp, "
        "azure, ...)")] = None,
    as_of: Annotated[str | None, typer.Option(
        help="date of the SkyPilot snapshot (YYYY-MM-DD); default '<=' today")] = None,
    force: Annotated[bool, typer.Option(help="replace files already in --out")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no summary")] = False,
    catalog: CatalogOption = None,
) -> None:
    """Import prices from SkyPilot's catalog CSVs; report every row dropped, fixed or flagged."""
    from placer.report import import_table
    from placer.skypilot_catalog import import_skypilot, write_import

    if as_of is not None and not re.fullmatch(r"(<=|>=|~)?\d{4}(-\d{2}(-\d{2})?)?", as_of):
        raise InputError(f"--as-of: '{as_of}' is not a date (YYYY-MM-DD, optionally after <=)")
    result = import_skypilot(skypilot, _catalog(catalog), provider=provider, as_of=as_of)
    say = console(stderr=out is None)
    if out is None:
        sys.stdout.write(result.offerings.write_csv())
    else:
        written = write_import(result, out, force=force)
    if quiet:
        return
    say.print(import_table(result))
    if out is not None:
        say.print(f"wrote {written[0]} (use: --catalog {out}) and {written[1]} (every row "
                  "dropped, fixed or flagged)", markup=False, soft_wrap=True)


@catalog_app.command("chips")
def catalog_chips(
    format: Annotated[TableFormat, typer.Option("--format", help="table, csv or json")] = (
        TableFormat.table
    ),
    catalog: CatalogOption = None,
) -> None:
    """List chips with their specs and default speeds (H100 SXM = 1.0)."""
    from rich.table import Table

    cat = _catalog(catalog)
    speeds = cat.speeds.pivot(on="kind", index="chip", values="speed")
    frame = cat.chips.join(speeds, on="chip", how="left").sort("vendor", "chip")
    if format is TableFormat.json:
        sys.stdout.write(to_json(frame.to_dicts()))
        return
    if format is TableFormat.csv:
        sys.stdout.write(frame_csv(frame))
        return
    table = Table(title=f"{frame.height} chips", header_style="bold")
    for col in ("chip", "vendor", "ecosystem", "BF16 TF", "FP8 TF", "HBM GB", "TDP W",
                "train speed", "infer speed", "offered"):
        table.add_column(col, justify="left" if col in ("chip", "vendor", "ecosystem") else "right")
    offered = cat.offerings.group_by("chip").len()
    counts = dict(zip(offered["chip"], offered["len"], strict=True))
    for row in frame.iter_rows(named=True):
        tdp = f"{row['tdp_w']:g}" + ("*" if row["tdp_basis"] == "estimate" else "")
        table.add_row(
            row["chip"], row["vendor"], row["ecosystem"],
            "-" if row["bf16_tflops"] is None else f"{row['bf16_tflops']:g}",
            "-" if row["fp8_tflops"] is None else f"{row['fp8_tflops']:g}",
            f"{row['hbm_gb']:g}", tdp, f"{row['training']:g}", f"{row['inference']:g}",
            str(counts.get(row["chip"], 0)),
        )
    out = console()
    out.print(table)
    out.print("* estimated TDP; speeds' basis (measured, vendor-claim, peak-ratio) is in "
              "speeds.csv")


class PlanFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    parquet = "parquet"
    md = "md"


TimeLimit = Annotated[float, typer.Option(
    "--time-limit", help="seconds for a solve, its candidate table included (a large "
    "fleet's steps that do not shrink with it may run past it)")]
Workers = Annotated[int | None, typer.Option(help="solver workers (default: cores, up to 8)")]
Seed = Annotated[int, typer.Option(help="random seed; same input and seed, same plan")]
Gap = Annotated[float | None, typer.Option(help="stop at this relative gap, e.g. 0.01")]


def _progress_printer(quiet: bool):
    if quiet or not sys.stderr.isatty():
        return None

    def show(state: dict) -> None:
        best = "-" if state["best_usd"] is None else f"${state['best_usd']:,.0f}"
        bound = "-" if state["bound_usd"] is None else f"${state['bound_usd']:,.0f}"
        gap = "-" if state["gap"] is None else f"{state['gap'] * 100:.2f}%"
        sys.stderr.write(f"\r  best {best}  bound {bound}  gap {gap}  "
                         f"{state['elapsed_s']:.0f} s   ")
        sys.stderr.flush()

    return show


@app.command()
def solve(
    files: Annotated[list[Path] | None, typer.Argument(help="fleet files (YAML, JSON, CSV, "
                                                       "Parquet)")] = None,
    policy: Annotated[Path | None, typer.Option(help="policy file (replaces a fleet file's "
                                                "policy)")] = None,
    candidates: Annotated[Path | None, typer.Option(
        help="your own candidates table (workload, offering, chips, cost_usd): solves "
        "exactly these rows, no catalog")] = None,
    offerings: Annotated[Path | None, typer.Option(
        help="with --candidates: offering, capacity_chips")] = None,
    catalog: CatalogOption = None,
    time_limit: TimeLimit = 60.0,
    workers: Workers = None,
    seed: Seed = 0,
    gap: Gap = None,
    out: Annotated[Path | None, typer.Option(help="write the plan here (atomically); the "
                                             "format follows --format or the suffix")] = None,
    format: Annotated[PlanFormat | None, typer.Option(
        "--format", help="table (default), json, csv (placements), parquet "
        "(placements, needs --out) or md")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress line")] = False,
    log: Annotated[bool, typer.Option(help="CP-SAT's search log on stderr")] = False,
    exit_cost: Annotated[bool, typer.Option(
        "--exit-cost", help="also re-solve without each provider and chip vendor used: the "
        "extra cost of leaving it")] = False,
    report: ReportOption = None,
) -> None:
    """Find the cheapest plan that keeps every rule. Exit 0 with a plan, 1 without."""
    from placer.report import overrun_warning, plan_markdown, print_plan
    from placer.solve import solve as solve_problem
    from placer.solve import solve_candidates

    fmt = format
    if fmt is None and out is not None:
        fmt = {".json": PlanFormat.json, ".csv": PlanFormat.csv, ".parquet": PlanFormat.parquet,
               ".md": PlanFormat.md}.get(out.suffix.lower(), PlanFormat.json)
    fmt = fmt or PlanFormat.table
    _check_report_path(report)
    if fmt is PlanFormat.parquet and out is None:
        raise InputError("--format parquet writes binary: give --out FILE")
    if fmt is PlanFormat.table and out is not None:
        raise InputError("--format table is for the terminal; use json, csv, parquet or md "
                         "with --out")
    options = {"time_limit": time_limit, "workers": workers, "seed": seed, "gap": gap,
               "progress": _progress_printer(quiet or (fmt is not PlanFormat.table and
                                             out is None)),
               "log": log}
    if candidates is not None or offerings is not None:
        if candidates is None or offerings is None:
            raise InputError("--candidates and --offerings go together")
        if files:
            raise InputError("give either fleet files or --candidates/--offerings, not both")
        plan = solve_candidates(candidates, offerings, policy, **options)
    else:
        if not files:
            raise InputError("no fleet file given (or use --candidates with --offerings)")
        problem = load(*files, policy=policy, catalog=_catalog(catalog))
        plan = solve_problem(problem, **options)
        if options["progress"] is not None:
            sys.stderr.write("\r" + " " * 70 + "\r")
        if exit_cost and plan.has_plan:
            from placer.scenarios import exit_costs

            bar, tick = _sweep_progress("exit costs", quiet)
            with bar:
                plan.exit_costs = exit_costs(problem, plan, options=_sweep_options(
                    time_limit, workers, seed, gap), progress=tick)
    if options["progress"] is not None:
        sys.stderr.write("\r" + " " * 70 + "\r")
    _say_phases(plan)
    if (overrun := overrun_warning(plan)) is not None:
        console(stderr=True).print(f"warning: {overrun}", markup=False)
    if out is not None:
        plan.write(out, fmt.value)
    if report is not None:
        from placer.report_page import offering_countries, plan_page, write_page

        countries = {} if candidates is not None else offering_countries(
            problem.catalog.offerings)
        source = ", ".join(p.name for p in files) if files else candidates.name
        written = write_page(plan_page(plan, countries, source), report)
        console(stderr=True).print(f"report written to {written[0]}", markup=False)
    if fmt is PlanFormat.json and out is None:
        sys.stdout.write(plan.to_json())
    elif fmt is PlanFormat.csv and out is None:
        sys.stdout.write(frame_csv(plan.assignments))
    elif fmt is PlanFormat.md and out is None:
        sys.stdout.write(plan_markdown(plan))
    elif not quiet or fmt is PlanFormat.table:
        print_plan(plan, console())
        if plan.exit_costs is not None:
            from placer.report import exit_cost_table

            console().print(exit_cost_table(plan.exit_costs))
        if out is not None:
            console().print(f"plan written to {out}")
    if not plan.has_plan:
        if fmt is not PlanFormat.table:
            for line in plan.explanation:
                console(stderr=True).print(f"no plan: {line}", markup=False)
        raise typer.Exit(1)


@app.command()
def check(
    plan_file: Annotated[Path, typer.Argument(metavar="PLAN", help="a plan written by "
                                              "`placer solve --format json`")],
    files: Annotated[list[Path], typer.Argument(help="the fleet files it was made for")],
    policy: Annotated[Path | None, typer.Option(help="policy file, as given to solve")] = None,
    catalog: CatalogOption = None,
) -> None:
    """Re-verify a plan against the fleet and the catalog without the solver: every rule
    and every cost recomputed. Exit 0 clean, 1 violated, 2 bad input."""
    from placer.check import check_plan, read_plan, unknown_references
    from placer.io import raise_issues

    plan = read_plan(str(plan_file))
    problem = load(*files, policy=policy, catalog=_catalog(catalog))
    raise_issues(unknown_references(plan, problem, str(plan_file)))
    violations = check_plan(plan, problem)
    out = console()
    if violations:
        for v in violations:
            out.print(f"violation: {v}", markup=False, soft_wrap=True)
        out.print(f"{plan_file}: {len(violations)} violation(s)")
        raise typer.Exit(1)
    total = "-" if plan.total_usd is None else f"${plan.total_usd:,.2f}"
    out.print(f"{plan_file}: ok — {plan.status}, {len(plan.assignments)} placements, total "
              f"{total}; every rule and cost checks out")


class SweepFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    md = "md"


Backend = Annotated[str, typer.Option(help="pool (local processes), ray, or serial")]
Jobs = Annotated[int | None, typer.Option(help="solves at once (default: cores)")]
RayAddress = Annotated[str | None, typer.Option(help="Ray cluster address (default: local)")]


def _sweep_progress(label: str, quiet: bool):
    """A rich progress bar on stderr for a sweep of solves (silent when piped or quiet)."""
    from contextlib import nullcontext

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    if quiet or not sys.stderr.isatty():
        return nullcontext(), None
    bar = Progress("[progress.description]{task.description}", BarColumn(),
                   MofNCompleteColumn(), TimeElapsedColumn(), console=console(stderr=True),
                   transient=True)
    task = bar.add_task(label, total=None)

    def tick(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return bar, tick


def _sweep_options(time_limit: float, workers: int | None, seed: int, gap: float | None):
    from placer.scenarios import sweep_options

    return sweep_options(time_limit=time_limit, workers=workers or 1, seed=seed, gap=gap)


@app.command()
def compare(
    scenarios_file: Annotated[Path, typer.Argument(metavar="SCENARIOS",
                                                   help="base problem and named overlays")],
    catalog: CatalogOption = None,
    time_limit: TimeLimit = 60.0,
    workers: Annotated[int | None, typer.Option(help="solver workers per solve (default 1; "
                                                "scenarios run in parallel)")] = None,
    seed: Seed = 0,
    gap: Gap = None,
    backend: Backend = "pool",
    jobs: Jobs = None,
    ray_address: RayAddress = None,
    exit_cost: Annotated[bool, typer.Option("--exit-cost", help="also re-solve the base "
                                            "without each provider and chip vendor")] = False,
    format: Annotated[SweepFormat, typer.Option("--format")] = SweepFormat.table,
    out: Annotated[Path | None, typer.Option(help="write the result here (atomically)")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
    report: ReportOption = None,
) -> None:
    """Solve a base problem and each scenario; one row each, with the change against the
    base. Exit 0 when the base has a plan, 1 when it has none."""
    from placer import scenarios as sc
    from placer.io import write_atomic
    from placer.report import comparison_markdown, comparison_table, exit_cost_table

    _check_report_path(report)
    variants = sc.load_scenarios(scenarios_file, catalog=catalog)
    options = _sweep_options(time_limit, workers, seed, gap)
    bar, tick = _sweep_progress(f"solving {len(variants.names)} scenarios", quiet)
    with bar:
        result = sc.compare(variants, options, backend, jobs, tick, ray_address)
    costs = None
    if exit_cost and result.plans["base"].has_plan:
        bar, tick = _sweep_progress("exit costs", quiet)
        with bar:
            costs = sc.exit_costs(variants.problems[0], result.plans["base"], options=options,
                                  backend=backend, jobs=jobs, progress=tick,
                                  ray_address=ray_address)
        result.plans["base"].exit_costs = costs
    if format is SweepFormat.json:
        text = to_json(result.to_list())
    elif format is SweepFormat.csv:
        text = frame_csv(result.table)
    elif format is SweepFormat.md:
        text = comparison_markdown(result.table)
    else:
        text = None
    if out is not None:
        write_atomic(out, text if text is not None else to_json(result.to_list()))
    if report is not None:
        from placer.report_page import comparison_page, offering_countries, write_page

        page = comparison_page(result, offering_countries(variants.problems[0].catalog.offerings),
                               scenarios_file.name)
        written = write_page(page, report)
        console(stderr=True).print(f"report written to {written[0]}", markup=False)
    if text is not None and out is None:
        sys.stdout.write(text)
    elif text is None:
        console().print(comparison_table(result.table))
        if costs is not None:
            console().print(exit_cost_table(costs))
    if not result.plans["base"].has_plan:
        raise typer.Exit(1)


@app.command()
def frontier(
    file: Annotated[Path, typer.Argument(help="fleet file")],
    by: Annotated[str, typer.Option(help="provider, chip_vendor or ecosystem",
                                    autocompletion=lambda: list(DIMENSION_NAMES))] = "provider",
    step: Annotated[float, typer.Option(help="cap step, e.g. 0.05 = 5 points")] = 0.05,
    policy: Annotated[Path | None, typer.Option(help="policy file")] = None,
    catalog: CatalogOption = None,
    time_limit: TimeLimit = 60.0,
    workers: Annotated[int | None, typer.Option(help="solver workers per solve (default 1)")]
    = None,
    seed: Seed = 0,
    gap: Gap = None,
    backend: Backend = "pool",
    jobs: Jobs = None,
    ray_address: RayAddress = None,
    plot: Annotated[Path | None, typer.Option(help="write the frontier chart (PNG)")] = None,
    format: Annotated[SweepFormat, typer.Option("--format")] = SweepFormat.table,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """The cost of every level of the largest allowed share (provider, chip vendor or
    ecosystem), from no cap down to the tightest feasible one."""
    from placer import scenarios as sc
    from placer.report import frontier_table

    if plot is not None and plot.suffix.lower() != ".png":
        raise InputError(f"--plot: '{plot}' should end in .png (the chart is a PNG)")
    problem = load(file, policy=policy, catalog=_catalog(catalog))
    options = _sweep_options(time_limit, workers, seed, gap)
    bar, tick = _sweep_progress(f"frontier by {by}", quiet)
    with bar:
        frame = sc.frontier(problem, by, step, options, backend, jobs, tick, ray_address)
    if plot is not None:
        from placer.charts import frontier_png
        from placer.io import write_atomic

        write_atomic(plot, frontier_png(frame, by))
    if format is SweepFormat.json:
        sys.stdout.write(to_json(frame.to_dicts()))
    elif format is SweepFormat.csv:
        sys.stdout.write(frame_csv(frame))
    elif format is SweepFormat.md:
        from placer.report import _md_table, money

        sys.stdout.write(f"# Frontier by {by}\n\n" + _md_table(
            ["cap", "status", "total", "vs no cap", "largest share"],
            [["none" if r["cap"] >= 1 else f"{r['cap']:.0%}", r["status"],
              money(r["total_usd"]), "-" if r["delta_usd"] is None
              else f"{r['delta_usd']:+,.0f}", "-" if r["largest_share"] is None
              else f"{r['largest_share']:.0%}"] for r in frame.iter_rows(named=True)]) + "\n")
    else:
        console().print(frontier_table(frame, by))
        if plot is not None:
            console().print(f"chart written to {plot}")


@app.command()
def breakeven(
    file: Annotated[Path, typer.Argument(help="fleet file")],
    chip: Annotated[str | None, typer.Option(help="chip slug, e.g. trn2")] = None,
    offering: Annotated[str | None, typer.Option(help="one offering instead of a chip")]
    = None,
    tolerance: Annotated[float, typer.Option(help="USD per chip-hour")] = 0.01,
    policy: Annotated[Path | None, typer.Option(help="policy file")] = None,
    catalog: CatalogOption = None,
    time_limit: TimeLimit = 30.0,
    workers: Workers = None,
    seed: Seed = 0,
    gap: Gap = None,
    format: Annotated[SweepFormat, typer.Option("--format")] = SweepFormat.table,
) -> None:
    """The price per chip-hour at which a chip starts (or stops) winning work in this
    fleet, by bisection over re-solves, and the work it takes at that price."""
    from placer import scenarios as sc
    from placer.solve import SolveOptions

    if tolerance <= 0:
        raise InputError(f"--tolerance must be greater than 0, got {tolerance:g}")
    problem = load(file, policy=policy, catalog=_catalog(catalog))
    result = sc.breakeven(problem, chip=chip, offering=offering, tolerance=tolerance,
                          options=SolveOptions(time_limit=time_limit, workers=workers,
                                               seed=seed, gap=gap))
    if format is SweepFormat.json:
        sys.stdout.write(to_json(result.to_dict()))
        return
    out = console()
    if result.breakeven_price is None:
        out.print(f"{result.chip} never {'stops' if 'stops' in result.direction else 'starts'}"
                  f" winning work in this fleet (searched from ${result.current_price:g} per "
                  f"chip-hour at {result.reference_offering}; {result.solves} solves)")
        return
    out.print(f"{result.chip} {result.direction} ${result.breakeven_price:,.4f} per chip-hour "
              f"at {result.reference_offering} (now ${result.current_price:,.4f}, factor "
              f"{result.factor:.4f}, within ±${result.tolerance:g}; {result.solves} solves)")
    out.print(f"at that price it takes {result.chip_hours_at_breakeven:,.0f} chip-hours, "
              f"{result.spend_share_at_breakeven:.1%} of compute spend: "
              + (", ".join(result.workloads_at_breakeven) or "no workload"), soft_wrap=True)


SCHEMAS = {
    "fleet": "the fleet file: workloads, policy, horizon_days",
    "policy": "a policy in its own file (--policy)",
    "scenarios": "a scenarios file for placer compare",
    "plan": "a plan written by placer solve --format json",
    "candidates": "a row of the candidates table (--candidates)",
    "catalog-offering": "a row of a catalog offerings.csv",
    "catalog-chip": "a row of a catalog chips.csv",
    "catalog-speed": "a row of a catalog speeds.csv",
    "catalog-egress": "a row of a catalog egress.csv",
}


def _schema_models() -> dict:
    from placer.schema import (
        CandidateRow,
        Chip,
        Egress,
        Offering,
        PolicyFile,
        ScenariosFile,
        Speed,
    )

    return {"fleet": Fleet, "policy": PolicyFile, "scenarios": ScenariosFile,
            "plan": PlanDocument, "candidates": CandidateRow, "catalog-offering": Offering,
            "catalog-chip": Chip, "catalog-speed": Speed, "catalog-egress": Egress}


class ExportTarget(str, Enum):
    skypilot = "skypilot"


# Skipped placements named one by one per reason, at most (then counted, with examples)
SKIPPED_PER_REASON = 3


@app.command()
def export(
    plan: Annotated[Path, typer.Argument(help="plan JSON from placer solve --format json")],
    to: Annotated[ExportTarget, typer.Option("--to", help="what to export to")],
    out: Annotated[Path, typer.Argument(help="folder for the task files")],
    template: Annotated[Path | None, typer.Option(
        help="SkyPilot task YAML whose setup, run, envs, file_mounts, other resources keys "
        "and service settings every exported task keeps")] = None,
    force: Annotated[bool, typer.Option(help="replace files already in the folder")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no summary")] = False,
    catalog: CatalogOption = None,
) -> None:
    """Write a SkyPilot task YAML per placement of a plan, and a README with the launch
    commands."""
    from placer.export import tasks_frame, write_skypilot
    from placer.report import PRINTED_PLACEMENTS, export_table

    tasks = write_skypilot(plan, out, _catalog(catalog), template=template, force=force)
    skipped = [t for t in tasks if t.file is None]
    listed = f"{out / 'README.md'} lists every one"
    err = console(stderr=True)
    by_reason: dict[str, list[str]] = {}
    for t in skipped:
        by_reason.setdefault(t.launch, []).append(f"{t.workload} on {t.offering}")
    for reason, alike in sorted(by_reason.items()):
        if len(alike) <= SKIPPED_PER_REASON:
            for placement in alike:
                err.print(f"warning: {placement}: {reason}", markup=False)
        else:  # a fleet's thousands on one provider, one line
            such = alike[:SKIPPED_PER_REASON]
            err.print(f"warning: {len(alike):,} placement{'s' * (len(alike) > 1)} {reason}"
                      + (f" (such as {'; '.join(such)})" if such else "") + f"; {listed}",
                      markup=False)
    if quiet:
        return
    frame = tasks_frame(tasks)
    console().print(export_table(frame.head(PRINTED_PLACEMENTS),
                                 f"{len(tasks) - len(skipped)} of {len(tasks)} placements "
                                 f"exported to {out}"))
    if frame.height > PRINTED_PLACEMENTS:
        console().print(f"{frame.height - PRINTED_PLACEMENTS:,} more placements: {listed}",
                        markup=False)


@app.command()
def schema(
    kind: Annotated[str, typer.Argument(help="which file: " + ", ".join(SCHEMAS))] = "fleet",
    all: Annotated[Path | None, typer.Option("--all", help="write every schema into this "
                                             "folder as <kind>.schema.json", file_okay=False)]
    = None,
) -> None:
    """Print the JSON Schema of a file format (the fleet file by default), for editors."""
    from placer.io import write_atomic

    models = _schema_models()
    if all is not None:
        all.mkdir(parents=True, exist_ok=True)
        for name, model in models.items():
            write_atomic(all / f"{name}.schema.json", to_json(json_schema(model)))
        console().print(f"wrote {len(models)} schemas to {all}: "
                        + ", ".join(f"{n}.schema.json" for n in models))
        return
    if kind not in models:
        raise InputError(f"unknown schema '{kind}' (known: {', '.join(models)})")
    sys.stdout.write(to_json(json_schema(models[kind])))


def main() -> None:
    """Entry point: run the app, turning InputError into exit code 2."""
    try:
        app(prog_name="placer")  # also under `python -m placer`: same usage, completion
    except InputError as exc:
        err = console(stderr=True)
        for issue in exc.issues:
            err.print(f"error: {issue}", markup=False)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # a bug: say so briefly unless asked for the traceback
        if os.environ.get("PLACER_DEBUG"):
            raise
        err = console(stderr=True)
        err.print(f"internal error: {type(exc).__name__}: {exc}", markup=False)
        err.print("this is a bug in placer; rerun with PLACER_DEBUG=1 for the traceback",
                  markup=False)
        sys.exit(3)


if __name__ == "__main__":
    main()
