"""The plan for people who will not open a terminal: one HTML page (charts embedded) or a
Markdown file (charts as PNG files beside it).

The page is a list of blocks — headings, paragraphs, key figures, tables, charts — built
from a Plan (and a Comparison for `placer compare`), then rendered to either format.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from placer import charts
from placer.errors import InputError
from placer.io import write_atomic
from placer.plan import Plan
from placer.report import money, no_plan_floor

EU_MARK = "EU"
ESTIMATE_MARK = "†"


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Para:
    text: str
    tone: str = ""  # "", "warn"


@dataclass
class Figures:
    items: list[tuple[str, str, str]]  # label, value, note


@dataclass
class TableBlock:
    headers: list[str]
    rows: list[list[str]]
    numeric: set[int] = field(default_factory=set)  # right-aligned columns
    eu_rows: set[int] = field(default_factory=set)
    caption: str = ""


@dataclass
class Chart:
    name: str
    alt: str
    png: bytes


Block = Heading | Para | Figures | TableBlock | Chart


@dataclass
class Page:
    title: str
    subtitle: str
    blocks: list[Block]

    def charts(self) -> list[Chart]:
        return [b for b in self.blocks if isinstance(b, Chart)]


# ---------------------------------------------------------------------------
# Content


def plan_page(plan: Plan, countries: dict[str, str], source: str) -> Page:
    """A page for one plan. `countries` maps offering → ISO country."""
    subtitle = (f"{source} · {plan.horizon_days:g}-day horizon · {plan.pricing.replace('_', '-')}"
                f" pricing · made {dt.date.today().isoformat()}")
    return Page(f"Placement plan: {source}", subtitle, plan_blocks(plan, countries))


def comparison_page(comparison: Any, countries: dict[str, str], source: str) -> Page:
    """A page for `placer compare`: the scenario table first, then the base plan."""
    base = comparison.plans["base"]
    blocks: list[Block] = [Heading("Scenarios"), *_scenario_blocks(comparison.table),
                           Heading("The base plan in detail"), *plan_blocks(base, countries)]
    subtitle = (f"{source} · {comparison.table.height} scenarios · {base.horizon_days:g}-day "
                f"horizon · made {dt.date.today().isoformat()}")
    return Page(f"Strategy comparison: {source}", subtitle, blocks)


def plan_blocks(plan: Plan, countries: dict[str, str]) -> list[Block]:
    if not plan.has_plan:
        floor = no_plan_floor(plan)
        said = "" if floor is None else f" {floor[0].upper()}{floor[1:]}."
        return [Para(f"No plan ({plan.status}).{said}", "warn"),
                *[Para(line, "warn") for line in plan.explanation]]
    a = plan.assignments.with_columns(
        pl.col("offering").replace_strict(countries, default="?").alias("country"))
    cost = plan.cost or {}
    blocks: list[Block] = [_figures(plan), *_status_notes(plan)]
    blocks += [Heading("Where the money goes"), *_cost_blocks(plan, a)]
    blocks += [Heading("Lock-in: spend shares against the caps"), *_share_blocks(plan)]
    blocks += [Heading("Regions"), *_region_blocks(a, cost)]
    blocks += [Heading("Placements"), _placements_table(a)]
    if plan.estimated_prices:
        blocks += [Heading("Prices that are not list prices"),
                   Para(f"{ESTIMATE_MARK} These offerings are priced from an estimate or a "
                        "capacity-block rate, not a published on-demand list price; the "
                        "catalog's notes say how each was derived: "
                        + "; ".join(plan.estimated_prices) + ".", "warn")]
    if plan.ports.height:
        blocks += [Heading("Ports bought"), TableBlock(
            ["codebase", "to ecosystem", "cost", "for"],
            [[c, e, money(u), ", ".join(ws)] for c, e, u, ws in plan.ports.iter_rows()],
            numeric={2})]
    if plan.unplaced.height:
        blocks += [Heading("Work left out"), TableBlock(
            ["workload", "value", "why"],
            [[w, money(v), r] for w, v, r in plan.unplaced.iter_rows()], numeric={1})]
    if plan.exit_costs is not None and plan.exit_costs.height:
        blocks += [Heading("Exit cost: if one became unavailable"), TableBlock(
            ["without", "share now", "plan then", "extra cost"],
            [[f"{d.replace('_', ' ')} {k}", f"{sh:.0%}", st,
              "no plan" if x is None else f"{x:+,.0f}"]
             for d, k, sh, st, x in plan.exit_costs.select(
                 "dimension", "key", "share", "status", "exit_cost_usd").iter_rows()],
            numeric={1, 3})]
    blocks += [Heading("How this plan was found"), Para(_solver_text(plan))]
    return blocks


def _figures(plan: Plan) -> Figures:
    cost = plan.cost or {}
    from placer.scenarios import eu_share

    gap = "proven optimal" if plan.status == "optimal" else (
        f"within {plan.gap:.2%} of the best possible" if plan.gap is not None
        else "not proven optimal")
    return Figures([
        ("total cost", money(plan.total_usd), gap),
        ("compute", money(cost.get("compute_usd")), f"{plan.assignments['chips'].sum():,} "
                                                     "chips placed"),
        ("porting + egress", money((cost.get("porting_usd") or 0) + (cost.get("egress_usd")
                                                                     or 0)),
         "code ported, data moved"),
        ("emissions", f"{cost.get('carbon_tonnes', 0):,.1f} tCO2e",
         "priced at " + money(cost.get("carbon_usd")) if cost.get("carbon_usd") else
         "not priced"),
        ("in the EU", f"{eu_share(plan):.0%}", "of compute spend"),
    ])


def _status_notes(plan: Plan) -> list[Block]:
    if plan.status == "feasible":
        return [Para(f"This plan is feasible but not proven optimal: the solver stopped "
                     f"({plan.solver.get('stop_reason', 'limit')}) with a gap of "
                     f"{plan.gap:.2%} to its bound {money(plan.bound_usd)}.", "warn")]
    return []


def _cost_blocks(plan: Plan, a: pl.DataFrame) -> list[Block]:
    cost = plan.cost or {}
    terms = [("compute", "compute_usd"), ("porting", "porting_usd"), ("egress", "egress_usd"),
             ("carbon (priced)", "carbon_usd"), ("work left out", "unplaced_usd")]
    present = [(label, cost[key]) for label, key in terms if cost.get(key)]
    blocks: list[Block] = [TableBlock(
        ["cost term", "USD", "share"],
        [[label, money(v), f"{v / plan.total_usd:.1%}" if plan.total_usd else "-"]
         for label, v in present] + [["total", money(plan.total_usd), "100%"]],
        numeric={1, 2})]
    spend = (pl.col("compute_usd") + pl.col("egress_usd")).sum().alias("usd")
    for column, title in (("provider", "Compute and egress by provider"),
                          ("chip", "Compute and egress by chip")):
        frame = a.group_by(column).agg(spend).sort("usd", descending=True)
        blocks.append(Chart(f"cost-by-{column}", title, charts.bars_png(
            frame[column].to_list(), frame["usd"].to_list(), title)))
    return blocks


def _share_blocks(plan: Plan) -> list[Block]:
    rows, caps_set = [], False
    for dim in ("provider", "chip_vendor", "ecosystem"):
        for key, spend, share, cap in plan.shares[dim].select(
                "key", "spend_usd", "share", "cap").iter_rows():
            caps_set |= cap is not None
            headroom = "-" if cap is None else (
                "at the cap" if share >= cap - 5e-4 else f"{(cap - share) * 100:.1f} pts below")
            rows.append([dim.replace("_", " "), key, money(spend), f"{share:.1%}",
                         "-" if cap is None else f"{cap:.0%}", headroom])
    hhi = ", ".join(f"{d.replace('_', ' ')} {plan.hhi[d]:,.0f}"
                    for d in ("provider", "chip_vendor", "ecosystem"))
    intro = ("Share of compute spend held by each provider, chip vendor and software "
             f"ecosystem. Concentration (HHI, 10,000 = one supplier): {hhi}.")
    if not caps_set:
        intro += " No lock-in cap was set for this plan."
    return [Para(intro), Chart("shares", "Spend shares against the caps",
                               charts.shares_png(plan.shares)),
            TableBlock(["by", "who", "compute spend", "share", "cap", "headroom"], rows,
                       numeric={2, 3, 4})]


def _region_blocks(a: pl.DataFrame, cost: dict[str, float]) -> list[Block]:
    regions = (
        a.group_by("provider", "region", "country", "jurisdiction")
        .agg(pl.col("chips").sum(), pl.col("workload").n_unique().alias("workloads"),
             (pl.col("compute_usd") + pl.col("egress_usd")).sum().alias("usd"),
             pl.col("carbon_tonnes").sum())
        .sort("usd", descending=True)
    )
    eu = {i for i, j in enumerate(regions["jurisdiction"].to_list()) if j == "EU"}
    rows = [[f"{p}/{r}", c, j, f"{n:,}", f"{w:,}", money(u), f"{t:,.2f}"]
            for p, r, c, j, n, w, u, t in regions.iter_rows()]
    names = [f"{p}/{r}" for p, r in regions.select("provider", "region").iter_rows()]
    return [
        Para(f"{len(eu)} of {regions.height} regions used are in the EU (marked in blue); "
             "emissions "
             f"total {cost.get('carbon_tonnes', 0):,.1f} tCO2e at each region's grid "
             "intensity."),
        TableBlock(["region", "country", "jurisdiction", "chips", "workloads",
                    "compute + egress", "tCO2e"], rows, numeric={3, 4, 5, 6}, eu_rows=eu),
        Chart("cost-by-region", "Compute and egress by region (EU in dark blue)",
              charts.bars_png(names, regions["usd"].to_list(),
                              "Compute and egress by region",
                              marked=[i in eu for i in range(regions.height)],
                              mark_label="EU region")),
    ]


def _placements_table(a: pl.DataFrame) -> TableBlock:
    rows, eu = [], set()
    for i, r in enumerate(a.sort("workload", "offering").iter_rows(named=True)):
        mark = "" if r["price_basis"] == "list" else f" {ESTIMATE_MARK}"
        price = "-" if r["usd_per_chip_hour"] is None else f"${r['usd_per_chip_hour']:,.3f}"
        rows.append([r["workload"], r["kind"], r["offering"], f"{r['chips']:,}",
                     f"{r['instances']:,}", "-" if r["hours"] is None else f"{r['hours']:,.0f}",
                     price + mark, money(r["compute_usd"]), money(r["egress_usd"])])
        if r["jurisdiction"] == "EU":
            eu.add(i)
    return TableBlock(["workload", "kind", "offering", "chips", "instances", "hours",
                       "$/chip-hour", "compute", "egress"], rows,
                      numeric={3, 4, 5, 6, 7, 8}, eu_rows=eu,
                      caption=f"EU placements marked in blue; {ESTIMATE_MARK} the price is not a "
                      "list price")


def _scenario_blocks(table: pl.DataFrame) -> list[Block]:
    rows = []
    for r in table.iter_rows(named=True):
        top = "-" if r["top_provider"] is None else \
            f"{r['top_provider']} {r['top_provider_share']:.0%}"
        delta = "-" if r["delta_usd"] is None else f"{r['delta_usd']:+,.0f}"
        rows.append([r["name"], r["status"], money(r["total_usd"]), delta,
                     money(r["porting_usd"]), top,
                     "-" if r["hhi_provider"] is None else f"{r['hhi_provider']:,.0f}",
                     "-" if r["eu_share"] is None else f"{r['eu_share']:.0%}",
                     "-" if r["carbon_tonnes"] is None else f"{r['carbon_tonnes']:,.1f}",
                     r["changes"] or r["explanation"] or ""])
    return [
        Para("Each scenario re-solves the base fleet with one strategy applied; the change "
             "is against the base (first row). Infeasible scenarios say which rule blocks "
             "them."),
        TableBlock(["scenario", "status", "total", "vs base", "porting", "top provider",
                    "HHI provider", "EU share", "tCO2e", "largest changes / why not"], rows,
                   numeric={2, 3, 4, 6, 7, 8}),
        Chart("scenarios", "Total cost per scenario", charts.scenarios_png(table)),
    ]


def _solver_text(plan: Plan) -> str:
    s = plan.solver
    stop = s.get("stop_reason")
    status = plan.status if stop in (None, plan.status) else f"{plan.status} ({stop})"
    return (f"{s.get('engine', 'CP-SAT')} over {s.get('candidates', 0):,} candidate "
            f"placements; status {status} after "
            f"{s.get('time_s', 0):.1f} s on {s.get('workers', '-')} workers, seed "
            f"{s.get('seed', '-')}; "
            + ("reproducible with the same input and seed." if s.get("deterministic")
               else "stopped by the clock, so a rerun may differ."))


# ---------------------------------------------------------------------------
# Rendering

CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;
 margin:0;background:#f6f8fa}
main{max-width:1080px;margin:0 auto;padding:28px 32px 48px;background:#fff;min-height:100vh}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:36px 0 10px;padding-bottom:4px;
 border-bottom:1px solid #d0d7de}
.sub{color:#57606a;margin:0 0 20px}
.figures{display:flex;flex-wrap:wrap;gap:12px;margin:18px 0}
.fig{flex:1 1 170px;border:1px solid #d0d7de;border-radius:8px;padding:10px 14px}
.fig .v{font-size:22px;font-weight:600}.fig .l{color:#57606a;font-size:12px;
 text-transform:uppercase;letter-spacing:.04em}.fig .n{color:#57606a;font-size:12px}
table{border-collapse:collapse;width:100%;margin:8px 0 4px;font-size:13px}
th,td{padding:5px 8px;border-bottom:1px solid #eaeef2;text-align:left;vertical-align:top}
td:first-child{white-space:nowrap}
th{background:#f6f8fa;font-weight:600}td.num,th.num{text-align:right;
 font-variant-numeric:tabular-nums;white-space:nowrap}
tr.eu td:first-child{box-shadow:inset 4px 0 #003399}
.caption{color:#57606a;font-size:12px;margin:0 0 8px}
.warn{background:#fff8c5;border:1px solid #d4a72c;border-radius:6px;padding:8px 12px}
img{max-width:100%;height:auto;display:block;margin:10px 0}
.table-wrap{overflow-x:auto}
footer{color:#57606a;font-size:12px;margin-top:36px}
"""


def to_html(page: Page) -> str:
    parts = [f"<h1>{html.escape(page.title)}</h1>",
             f'<p class="sub">{html.escape(page.subtitle)}</p>']
    for block in page.blocks:
        if isinstance(block, Heading):
            parts.append(f"<h{block.level}>{html.escape(block.text)}</h{block.level}>")
        elif isinstance(block, Para):
            cls = f' class="{block.tone}"' if block.tone else ""
            parts.append(f"<p{cls}>{html.escape(block.text)}</p>")
        elif isinstance(block, Figures):
            parts.append('<div class="figures">' + "".join(
                f'<div class="fig"><div class="l">{html.escape(label)}</div>'
                f'<div class="v">{html.escape(value)}</div>'
                f'<div class="n">{html.escape(note)}</div></div>'
                for label, value, note in block.items) + "</div>")
        elif isinstance(block, TableBlock):
            parts.append(_html_table(block))
        else:
            data = base64.b64encode(block.png).decode("ascii")
            parts.append(f'<img alt="{html.escape(block.alt)}" '
                         f'src="data:image/png;base64,{data}">')
    parts.append("<footer>Made by placer. Prices, carbon intensities and capacities come "
                 "from the catalog; each carries its source and date (placer catalog list "
                 "--format csv).</footer>")
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            f"<title>{html.escape(page.title)}</title><style>{CSS}</style></head>"
            "<body><main>\n" + "\n".join(parts) + "\n</main></body></html>\n")


def _html_table(block: TableBlock) -> str:
    def cell(tag: str, i: int, text: str) -> str:
        cls = ' class="num"' if i in block.numeric else ""
        return f"<{tag}{cls}>{html.escape(text)}</{tag}>"

    eu_row = ' class="eu"'
    head = "".join(cell("th", i, h) for i, h in enumerate(block.headers))
    body = "".join(
        f"<tr{eu_row if n in block.eu_rows else ''}>"
        + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>"
        for n, row in enumerate(block.rows))
    caption = f'<p class="caption">{html.escape(block.caption)}</p>' if block.caption else ""
    return (f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>{caption}")


def to_markdown(page: Page, chart_dir: str) -> str:
    parts = [f"# {page.title}", "", f"_{page.subtitle}_", ""]
    for block in page.blocks:
        if isinstance(block, Heading):
            parts += ["#" * block.level + " " + block.text, ""]
        elif isinstance(block, Para):
            parts += [("> **Note:** " if block.tone == "warn" else "") + block.text, ""]
        elif isinstance(block, Figures):
            parts += ["| " + " | ".join(label for label, _, _ in block.items) + " |",
                      "|" + "---|" * len(block.items),
                      "| " + " | ".join(f"**{v}**<br>{n}" for _, v, n in block.items) + " |",
                      ""]
        elif isinstance(block, TableBlock):
            parts += [_md_table(block), ""]
        else:
            parts += [f"![{block.alt}]({chart_dir}/{block.name}.png)", ""]
    return "\n".join(parts) + "\n"


def _md_table(block: TableBlock) -> str:
    def esc(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    align = ["---:" if i in block.numeric else "---" for i in range(len(block.headers))]
    lines = ["| " + " | ".join(block.headers) + " |", "|" + "|".join(align) + "|"]
    for n, row in enumerate(block.rows):
        cells = [esc(v) for v in row]
        if n in block.eu_rows:
            cells[0] = f"{cells[0]} ({EU_MARK})"
        lines.append("| " + " | ".join(cells) + " |")
    if block.caption:
        lines += ["", f"_{block.caption}_"]
    return "\n".join(lines)


def write_page(page: Page, path: str | Path) -> list[Path]:
    """Write the page as .html (charts embedded) or .md (charts in <stem>-charts/),
    atomically; returns the files written."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        write_atomic(path, to_html(page))
        return [path]
    if suffix == ".md":
        chart_dir = f"{path.stem}-charts"
        written = []
        (path.parent / chart_dir).mkdir(parents=True, exist_ok=True)
        for chart in page.charts():
            target = path.parent / chart_dir / f"{chart.name}.png"
            write_atomic(target, chart.png)
            written.append(target)
        write_atomic(path, to_markdown(page, chart_dir))
        return [path, *written]
    raise InputError(f"--report: '{path}' should end in .html or .md")


def offering_countries(offerings: pl.DataFrame) -> dict[str, str]:
    return dict(zip(offerings["offering"], offerings["country"], strict=True))
