"""--report: the plan for people, as HTML (charts embedded) or Markdown (charts beside it),
and how the page renders in a real browser (headless Chromium, when installed)."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import placer
from placer.report_page import offering_countries, plan_page, to_html, write_page
from tests.conftest import EXAMPLES

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def startup():
    problem = placer.load(EXAMPLES / "startup.yaml")
    return problem, placer.solve(problem, time_limit=30, seed=0)


def page_of(startup):
    problem, plan = startup
    return plan_page(plan, offering_countries(problem.catalog.offerings), "startup.yaml")


def images(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"',
                                                    html)]


def test_html_has_the_figures_people_look_for(startup):
    _, plan = startup
    html = to_html(page_of(startup))
    assert "<h1>Placement plan: startup.yaml</h1>" in html
    assert "$245,468" in html and "proven optimal" in html
    for heading in ("Where the money goes", "Lock-in: spend shares against the caps",
                    "Regions", "Placements", "How this plan was found"):
        assert f"<h2>{heading}</h2>" in html
    pngs = images(html)
    assert len(pngs) == 4 and all(p.startswith(PNG) for p in pngs)
    # Every EU region row is marked, and only those.
    eu_regions = {f"{p}/{r}" for p, r, j in plan.assignments.select(
        "provider", "region", "jurisdiction").iter_rows() if j == "EU"}
    regions_table = html.split("<h2>Regions</h2>")[1].split("<h2>")[0]
    marked = set(re.findall(r'<tr class="eu"><td>([^<]+)</td>', regions_table))
    assert marked == eu_regions and eu_regions


def test_estimated_prices_are_flagged(tmp_path):
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text("""
horizon_days: 30
policy:
  deny: {chip: [inf2, trn1, trn2]}
workloads:
  - name: serve
    kind: inference
    chips: 16
    runs_on: [neuron]
    residency: [aws/us-east-2]
""")
    problem = placer.load(fleet)
    plan = placer.solve(problem, time_limit=20, seed=0)
    assert plan.estimated_prices == ["aws/us-east-2/trn3 (estimate)"]
    html = to_html(plan_page(plan, offering_countries(problem.catalog.offerings), "f"))
    assert "Prices that are not list prices" in html
    assert "aws/us-east-2/trn3 (estimate)" in html
    placements = html.split("<h2>Placements</h2>")[1].split("</table>")[0]
    assert re.search(r"<td>aws/us-east-2/trn3</td>.*\$[0-9.]+ †</td>", placements)


def test_markdown_writes_charts_beside_it(startup, tmp_path):
    written = write_page(page_of(startup), tmp_path / "plan.md")
    md = (tmp_path / "plan.md").read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(links) == 4
    for link in links:
        assert (tmp_path / link).read_bytes().startswith(PNG)
    assert {p.name for p in written} == {"plan.md", *(Path(link).name for link in links)}
    assert "| region | country | jurisdiction |" in md
    assert "(EU)" in md


def test_same_plan_same_page(startup):
    assert to_html(page_of(startup)) == to_html(page_of(startup))


def test_cli_report_and_bad_paths(cli, tmp_path):
    report = tmp_path / "plan.html"
    r = cli("solve", EXAMPLES / "startup.yaml", "-q", "--report", report, "--format", "json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["status"] == "optimal"  # stdout stays pure JSON
    assert report.read_text().startswith("<!doctype html>")
    assert f"report written to {report}" in r.err
    bad = cli("solve", EXAMPLES / "startup.yaml", "--report", tmp_path / "plan.pdf")
    assert bad.code == 2 and "--report: " in bad.err and "should end in .html or .md" in bad.err
    missing = cli("solve", EXAMPLES / "startup.yaml", "--report", tmp_path / "no" / "r.html")
    assert missing.code == 2 and "the folder to write into does not exist" in missing.err


def test_compare_report_has_the_scenario_table(cli, write, tmp_path):
    scenarios = write("scenarios.yaml", f"""
base: {EXAMPLES / 'startup.yaml'}
scenarios:
  - name: no-aws
    deny: {{provider: [aws]}}
""")
    report = tmp_path / "compare.html"
    r = cli("compare", scenarios, "-q", "--time-limit", "20", "--jobs", "1", "--report", report)
    assert r.code == 0, r.err
    html = report.read_text()
    assert "<h1>Strategy comparison: scenarios.yaml</h1>" in html
    assert "<td>no-aws</td>" in html and "<td>base</td>" in html
    assert len(images(html)) == 5  # scenario totals + the base plan's four


# ---------------------------------------------------------------------------
# As a user sees it: lay the page out in headless Chromium at a desktop and a phone width
# and measure it from inside the page.

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or \
    shutil.which("google-chrome")
PROBE = """<script>
window.addEventListener("load", () => {
  const main = document.querySelector("main").getBoundingClientRect();
  const imgs = [...document.images].map(i => ({w: i.naturalWidth,
                                                 right: i.getBoundingClientRect().right}));
  const tables = [...document.querySelectorAll(".table-wrap")].map(
    t => t.getBoundingClientRect().right);
  document.body.setAttribute("data-probe", JSON.stringify({
    viewport: window.innerWidth, page: document.documentElement.scrollWidth,
    mainRight: main.right, imgs, tables}));
});
</script></body>"""


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed (apt install chromium)")
@pytest.mark.parametrize("width", [1280, 500])  # 500: headless Chromium's narrowest
def test_page_lays_out_in_a_browser(startup, tmp_path, width):
    page = tmp_path / "plan.html"
    page.write_text(to_html(page_of(startup)).replace("</body>", PROBE))
    run = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--window-size={width},900",
         "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120)
    found = re.search(r'data-probe="([^"]+)"', run.stdout)
    assert found, run.stderr[-2000:]
    probe = json.loads(found.group(1).replace("&quot;", '"'))
    assert probe["viewport"] == width
    assert probe["page"] <= width, "the page scrolls sideways"
    assert len(probe["imgs"]) == 4
    for image in probe["imgs"]:
        assert image["w"] > 0, "a chart did not load"
        assert image["right"] <= probe["mainRight"] + 1, "a chart overflows the page"
    for right in probe["tables"]:
        assert right <= probe["mainRight"] + 1, "a table overflows the page"
