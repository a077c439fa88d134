"""What people read: terminal tables (rich), and table/JSON renderings of frames."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import polars as pl
from rich.console import Console
from rich.table import Table


def money(value: float | None, digits: int = 0) -> str:
    """$1,234,567 (or '-' for None)."""
    if value is None:
        return "-"
    return f"${value:,.{digits}f}"


def price(value: float | None) -> str:
    """USD per chip-hour, up to 4 decimals as the sources give them."""
    return "-" if value is None else f"{value:.4f}".rstrip("0").rstrip(".")


def offerings_table(frame: pl.DataFrame, title: str | None = None) -> Table:
    """Catalog offerings for the terminal; estimated prices are marked with *."""
    table = Table(title=title, header_style="bold", show_lines=False)
    for name, justify in (
        ("offering", "left"), ("vendor", "left"), ("eco", "left"), ("instance", "left"),
        ("on-demand", "right"), ("spot", "right"), ("1y", "right"), ("3y", "right"),
        ("basis", "left"), ("capacity", "right"), ("juris.", "left"), ("home", "left"),
        ("gCO2/kWh", "right"), ("as of", "left"),
    ):
        table.add_column(name, justify=justify, no_wrap=name in ("offering", "instance"))
    for row in frame.iter_rows(named=True):
        basis = row["price_basis"]
        table.add_row(
            row["offering"], row["chip_vendor"], row["ecosystem"],
            f"{row['instance']} ×{row['chips_per_instance']}",
            price(row["on_demand"]), price(row["spot"]), price(row["commit_1y"]),
            price(row["commit_3y"]),
            f"[yellow]{basis}*[/yellow]" if basis == "estimate" else basis,
            f"{row['capacity_chips']:,}", row["jurisdiction"], row["provider_home"],
            f"{row['grid_gco2_kwh']:g}", row["as_of"],
        )
    return table


def frame_csv(frame: pl.DataFrame) -> str:
    buffer = io.StringIO()
    frame.write_csv(buffer)
    return buffer.getvalue()


def to_json(data: Any) -> str:
    """Stable, pretty JSON (sorted keys would scramble the documented order, so no sort)."""
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def console(stderr: bool = False) -> Console:
    """A console that respects NO_COLOR and pipes (rich does both).

    Messages never wrap (one line per message keeps them greppable); tables written to a
    pipe or file get a wide page instead of rich's 80-column default.
    """
    import os
    import sys

    stream = sys.stderr if stderr else sys.stdout
    width = None
    if not stream.isatty() and "COLUMNS" not in os.environ:
        width = 200
    return Console(stderr=stderr, highlight=False, soft_wrap=stderr, width=width)


# ---------------------------------------------------------------------------
# Plans


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def no_plan_floor(plan: Any) -> str | None:
    """Where no plan was found but a bound is known: 'any plan costs at least $X'."""
    return None if plan.bound_usd is None else \
        f"any plan costs at least {money(plan.bound_usd)}"


def plan_headline(plan: Any) -> str:
    """'optimal: $1,723,205 (bound $1,723,205, gap 0.00%) in 2.1 s'."""
    if not plan.has_plan:
        floor = no_plan_floor(plan)
        return f"{plan.status}: no plan" + (f" ({floor})" if floor else "")
    gap = "-" if plan.gap is None else f"{plan.gap * 100:.2f}%"
    seconds = plan.solver.get("time_s", 0)
    took = f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.0f} s"
    return (f"{plan.status}: {money(plan.total_usd)} (bound {money(plan.bound_usd)}, gap {gap}) "
            f"in {took}")


# A solve past its time limit by more than this share and this many seconds is said to
# be: the 100,000-workload fleet at 60 s ends about a second past it, at 30 s 5-11 s
# (its 40 parts take 0.7-1.0 s each whatever their share of the time), and a 1,000
# fleet at 10 s a few tenths.
OVERRUN_SHARE = 0.1
OVERRUN_S = 1.0


def overrun_warning(plan: Any) -> str | None:
    """Why the solve ran past its time limit, where it did by more than OVERRUN_SHARE
    and OVERRUN_S: steps that do not shrink with the limit took longer than it."""
    took, limit = plan.solver.get("time_s"), plan.solver.get("time_limit_s")
    if took is None or not limit or took <= max(limit * (1 + OVERRUN_SHARE), limit + OVERRUN_S):
        return None
    parts = plan.solver.get("parts")
    steps = "the candidate table and the model's build" + (
        f", and each of the fleet's {parts} parts' model and warm start" if parts else "")
    return (f"the solve took {took:.1f} s, past its time limit of {limit:g} s: {steps} do "
            "not shrink with the limit")


# The terminal lists this many placements (the dearest) and left-out workloads (the most
# valuable) at most: rich lays out 10,000 rows in 6 s (100,000 in about a minute), and
# nobody reads them there; --format csv, json or md and --out write every one.
PRINTED_PLACEMENTS = 200
PRINTED_LEFT_OUT = 20
EVERY_ONE = "--format csv, json or md, or --out FILE, lists every one"


def _assignments_table(plan: Any) -> Table:
    rows, total = plan.assignments, plan.assignments.height
    title = "Placements"
    if total > PRINTED_PLACEMENTS:
        rows = rows.sort("compute_usd", "workload", "offering", descending=[True, False, False]
                         ).head(PRINTED_PLACEMENTS).sort("workload", "offering")
        title = f"Placements: the {PRINTED_PLACEMENTS:,} dearest of {total:,}"
    table = Table(title=title, header_style="bold")
    for name in ("workload", "kind", "offering", "chips", "hours", "compute", "egress",
                 "tCO2"):
        table.add_column(name, justify="left" if name in ("workload", "kind", "offering")
                         else "right")
    for r in rows.iter_rows(named=True):
        basis = "" if r["price_basis"] == "list" else f" [yellow]({r['price_basis']})[/yellow]"
        table.add_row(r["workload"], r["kind"], r["offering"] + basis, f"{r['chips']:,}",
                      f"{r['hours']:,.0f}", money(r["compute_usd"]), money(r["egress_usd"]),
                      f"{r['carbon_tonnes']:,.2f}")
    return table


def _cost_table(plan: Any) -> Table:
    table = Table(title="Cost", header_style="bold")
    table.add_column("term")
    table.add_column("USD", justify="right")
    for key, label in (("compute_usd", "compute"), ("porting_usd", "porting"),
                       ("egress_usd", "egress"), ("carbon_usd", "carbon (priced)"),
                       ("unplaced_usd", "value of work left out")):
        table.add_row(label, money(plan.cost[key]))
    table.add_row("[bold]total[/bold]", f"[bold]{money(plan.total_usd)}[/bold]")
    table.add_row("emissions", f"{plan.cost['carbon_tonnes']:,.1f} tCO2")
    return table


def _shares_table(plan: Any, dim: str) -> Table:
    frame = plan.shares[dim]
    table = Table(title=f"Spend by {dim.replace('_', ' ')} (HHI {plan.hhi[dim]:,.0f})",
                  header_style="bold")
    for name in (dim, "compute", "share", "cap"):
        table.add_column(name, justify="left" if name == dim else "right")
    for key, spend, share, cap in frame.select("key", "spend_usd", "share", "cap").iter_rows():
        table.add_row(key, money(spend), _pct(share), _pct(cap))
    return table


def print_plan(plan: Any, out: Console) -> None:
    """The plan for the terminal: placements, cost by term, shares, ports, flags."""
    colour = {"optimal": "green", "feasible": "yellow"}.get(plan.status, "red")
    out.print(f"[bold {colour}]{plan_headline(plan)}[/bold {colour}]")
    if not plan.has_plan:
        for line in plan.explanation:
            out.print(f"  {line}", markup=False, soft_wrap=True)
        return
    out.print(_assignments_table(plan))
    if plan.assignments.height > PRINTED_PLACEMENTS:
        out.print(f"{plan.assignments.height - PRINTED_PLACEMENTS:,} more placements: "
                  f"{EVERY_ONE}", markup=False)
    out.print(_cost_table(plan))
    for dim in ("provider", "chip_vendor", "ecosystem"):
        out.print(_shares_table(plan, dim))
    if plan.ports.height:
        out.print("Ports bought: " + "; ".join(
            f"{c} → {e} {money(u)} ({', '.join(ws)})"
            for c, e, u, ws in plan.ports.iter_rows()), markup=False)
    if plan.unplaced.height:
        left_out = plan.unplaced.sort("value_usd", "workload", descending=[True, False])
        shown = left_out.head(PRINTED_LEFT_OUT).sort("workload")
        more = left_out.height - shown.height
        out.print("Left out: " + "; ".join(
            f"{w}: {reason}" for w, _, reason in shown.iter_rows())
            + (f"; and {more:,} more of less value ({EVERY_ONE})" if more else ""),
            markup=False)
    if plan.estimated_prices:
        out.print("[yellow]Uses prices that are not list prices:[/yellow] "
                  + ", ".join(plan.estimated_prices))


def _md_table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def plan_markdown(plan: Any) -> str:
    """The plan as a Markdown report."""
    parts = ["# placer plan", "", f"**{plan_headline(plan)}**", ""]
    if not plan.has_plan:
        parts += [f"- {line}" for line in plan.explanation]
        return "\n".join(parts) + "\n"
    parts += ["## Placements", "", _md_table(
        ["workload", "kind", "offering", "chips", "hours", "compute", "egress", "tCO2"],
        [[r["workload"], r["kind"], r["offering"] + ("" if r["price_basis"] == "list"
                                                     else f" ({r['price_basis']})"),
          f"{r['chips']:,}", f"{r['hours']:,.0f}", money(r["compute_usd"]),
          money(r["egress_usd"]), f"{r['carbon_tonnes']:,.2f}"]
         for r in plan.assignments.iter_rows(named=True)]), ""]
    parts += ["## Cost", "", _md_table(["term", "USD"], [
        ["compute", money(plan.cost["compute_usd"])],
        ["porting", money(plan.cost["porting_usd"])],
        ["egress", money(plan.cost["egress_usd"])],
        ["carbon (priced)", money(plan.cost["carbon_usd"])],
        ["value of work left out", money(plan.cost["unplaced_usd"])],
        ["**total**", f"**{money(plan.total_usd)}**"],
        ["emissions", f"{plan.cost['carbon_tonnes']:,.1f} tCO2"],
    ]), ""]
    for dim in ("provider", "chip_vendor", "ecosystem"):
        parts += [f"## Spend by {dim.replace('_', ' ')} (HHI {plan.hhi[dim]:,.0f})", "",
                  _md_table([dim, "compute", "share", "cap"], [
                      [k, money(s), _pct(sh), _pct(c)] for k, s, sh, c in
                      plan.shares[dim].select("key", "spend_usd", "share", "cap").iter_rows()]),
                  ""]
    if plan.ports.height:
        parts += ["## Ports bought", "", _md_table(["codebase", "ecosystem", "USD", "for"], [
            [c, e, money(u), ", ".join(ws)] for c, e, u, ws in plan.ports.iter_rows()]), ""]
    if plan.unplaced.height:
        parts += ["## Left out", "", _md_table(["workload", "value", "why"], [
            [w, money(v), reason] for w, v, reason in plan.unplaced.iter_rows()]), ""]
    if plan.estimated_prices:
        parts += ["## Prices that are not list prices", "",
                  *[f"- {e}" for e in plan.estimated_prices], ""]
    return "\n".join(parts) + "\n"


# ---------------------------------------------------------------------------
# Sweeps: compare, frontier, exit cost, break-even


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def _delta(value: float | None) -> str:
    return "-" if value is None else f"{value:+,.0f}"


def comparison_table(table: pl.DataFrame) -> Table:
    """One row per scenario: cost, change against the base, concentration, EU share."""
    out = Table(title="Scenarios (base first)", header_style="bold", show_lines=True)
    for name in ("scenario", "status", "total", "vs base", "compute", "porting", "egress",
                 "tCO2", "top provider", "HHI prov/vendor/eco", "EU", "largest changes"):
        out.add_column(name, justify="left" if name in ("scenario", "status", "top provider",
                                                        "largest changes") else "right",
                       overflow="fold")
    for r in table.iter_rows(named=True):
        top = "-" if r["top_provider"] is None else \
            f"{r['top_provider']} {_share(r['top_provider_share'])}"
        hhi = "-" if r["hhi_provider"] is None else \
            f"{r['hhi_provider']:,.0f}/{r['hhi_chip_vendor']:,.0f}/{r['hhi_ecosystem']:,.0f}"
        out.add_row(r["name"], r["status"], money(r["total_usd"]), _delta(r["delta_usd"]),
                    money(r["compute_usd"]), money(r["porting_usd"]), money(r["egress_usd"]),
                    "-" if r["carbon_tonnes"] is None else f"{r['carbon_tonnes']:,.1f}",
                    top, hhi, _share(r["eu_share"]),
                    (r["changes"] or r["explanation"] or "").replace("; ", "\n"))
    return out


def comparison_markdown(table: pl.DataFrame) -> str:
    rows = []
    for r in table.iter_rows(named=True):
        top = "-" if r["top_provider"] is None else \
            f"{r['top_provider']} {_share(r['top_provider_share'])}"
        rows.append([r["name"], r["status"], money(r["total_usd"]), _delta(r["delta_usd"]),
                     money(r["porting_usd"]), top,
                     "-" if r["hhi_provider"] is None else f"{r['hhi_provider']:,.0f}",
                     _share(r["eu_share"]),
                     "-" if r["carbon_tonnes"] is None else f"{r['carbon_tonnes']:,.1f}",
                     (r["changes"] or r["explanation"] or "").replace("|", "/")])
    return "# Scenarios\n\n" + _md_table(
        ["scenario", "status", "total", "vs base", "porting", "top provider", "HHI provider",
         "EU share", "tCO2", "largest changes"], rows) + "\n"


def frontier_table(frame: pl.DataFrame, by: str) -> Table:
    out = Table(title=f"Cost of the largest allowed {by.replace('_', ' ')} share",
                header_style="bold")
    for name in ("cap", "status", "total", "vs no cap", f"largest {by} share"):
        out.add_column(name, justify="left" if name == "status" else "right")
    for r in frame.iter_rows(named=True):
        cap = "none" if r["cap"] >= 1.0 else _share(r["cap"])
        note = "" if r["from_cap"] is None else f" (the {_share(r['from_cap'])} plan)"
        out.add_row(cap, r["status"], money(r["total_usd"]) + note, _delta(r["delta_usd"]),
                    _share(r["largest_share"]))
    return out


def exit_cost_table(frame: pl.DataFrame) -> Table:
    out = Table(title="Exit cost: re-placing the work if one became unavailable",
                header_style="bold")
    for name in ("without", "share now", "plan then", "extra cost"):
        out.add_column(name, justify="left" if name == "without" else "right")
    for r in frame.iter_rows(named=True):
        extra = "no plan" if r["exit_cost_usd"] is None else _delta(r["exit_cost_usd"])
        out.add_row(f"{r['dimension'].replace('_', ' ')} {r['key']}", _share(r["share"]),
                    r["status"], extra)
    return out


def import_report_markdown(result: Any) -> str:
    """Every row a SkyPilot catalog import dropped, fixed or flagged, as Markdown."""
    files = "\n".join(f"- `{path}` ({provider}): {rows:,} rows" for path, provider, rows
                      in result.files)
    summary = _md_table(["action", "reason", "rows"],
                        [[a, r, f"{n:,}"] for a, r, n in result.summary().iter_rows()])
    detail = _md_table(
        ["file", "line", "instance", "region", "zone", "accelerator", "action", "reason"],
        [[f"{Path(f).parent.name}/{Path(f).name}", str(line), i or "-", r, z or "-", a, act, why]
         for f, line, _p, i, r, z, a, act, why in result.report.iter_rows()])
    return (
        "# SkyPilot catalog import\n\n"
        f"{result.offerings.height:,} offerings (best price per provider, region and chip) "
        f"from {result.priced_rows:,} priced accelerator rows; {result.cpu_rows:,} rows "
        "without an accelerator (CPU instances, Google Cloud host VMs) were not offerings.\n\n"
        f"{files}\n\n## Summary\n\n{summary}\n\n## Every row dropped, fixed or flagged\n\n"
        f"{detail}\n"
    )


def import_table(result: Any) -> Table:
    """The import's counts per action and reason, for the terminal."""
    table = Table(title=f"{result.offerings.height:,} offerings imported from "
                  f"{result.priced_rows:,} priced accelerator rows", title_justify="left")
    for name in ("action", "reason", "rows"):
        table.add_column(name, justify="right" if name == "rows" else "left")
    for action, reason, rows in result.summary().iter_rows():
        table.add_row(action, reason, f"{rows:,}")
    return table


def export_table(frame: pl.DataFrame, title: str) -> Table:
    """Exported tasks: where each placement went and how to launch it."""
    table = Table(title=title, title_justify="left")
    for name in frame.columns:
        table.add_column(name)
    for row in frame.iter_rows():
        table.add_row(*row)
    return table
