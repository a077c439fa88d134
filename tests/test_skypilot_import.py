"""placer catalog import --skypilot: rows copied from SkyPilot's public catalog files
(skypilot-org/skypilot-catalog: catalogs/v8/aws/vms.csv @00148f2a, catalogs/v8/gcp/vms.csv
@006059e0, catalogs/v6/azure/vms.csv @098741e7, catalogs/v8/verda/vms.csv @000c1d0b)."""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from placer.catalog import load_catalog
from placer.skypilot_catalog import import_skypilot

DATA = Path(__file__).parent / "data" / "skypilot"


def approx(value: float):
    """Prices are written to 6 decimals."""
    return pytest.approx(value, abs=1e-6)


@pytest.fixture(scope="module")
def result():
    return import_skypilot(DATA, as_of="2025-10-01")


def offering(result, key: str) -> dict:
    provider, region, chip = key.split("/")
    rows = result.offerings.filter((pl.col("provider") == provider) & (pl.col("region") == region)
                                   & (pl.col("chip") == chip))
    assert rows.height == 1, key
    return rows.row(0, named=True)


def reasons(result, file: str, line: int) -> list[tuple[str, str]]:
    rows = result.report.filter(pl.col("file").str.ends_with(file) & (pl.col("line") == line))
    return list(rows.select("action", "reason").iter_rows())


def test_best_price_per_provider_region_chip(result):
    # trn1: trn1.32xlarge and trn1.2xlarge cost the same per chip; the 16-chip node wins,
    # and its spot is the lowest zone's (us-east-1: 2.4334 in use1-az6).
    trn1 = offering(result, "aws/us-east-1/trn1")
    assert (trn1["instance"], trn1["chips_per_instance"]) == ("trn1.32xlarge", 16)
    assert trn1["on_demand"] == approx(21.5 / 16)
    assert trn1["spot"] == approx(2.4334 / 16)
    # p5.48xlarge in eu-north-1: one zone has no spot price, another 28.3188.
    h100 = offering(result, "aws/eu-north-1/h100")
    assert h100["on_demand"] == approx(58.8928 / 8)
    assert h100["spot"] == approx(28.3188 / 8)


def test_gcp_gpu_price_adds_the_host_vm(result):
    h100 = offering(result, "gcp/europe-west4/h100")
    assert h100["instance"] == "a3-highgpu-8g"
    assert h100["on_demand"] == approx((101.88413 + 9.93306) / 8)
    assert h100["spot"] == approx((23.2896 + 2.27469) / 8)
    assert ("fixed", "host VM added: a3-highgpu-8g at $9.93306/h") in reasons(
        result, "gcp/vms.csv", 12)
    # No a3-highgpu-8g row in europe-west9-c: the GPU price alone would understate it.
    assert reasons(result, "gcp/vms.csv", 13) == [
        ("dropped", "no host VM price: a3-highgpu-8g in europe-west9-c (Google Cloud bills "
                    "the GPUs and the VM apart)")]


def test_tpu_slices_count_chips(result):
    # tpu-v5p-8 is 8 TensorCores = 4 chips at $16.80/h: $4.20 per chip-hour.
    v5p = offering(result, "gcp/us-central1/tpu-v5p")
    assert (v5p["instance"], v5p["chips_per_instance"]) == ("tpu-v5p-8", 4)
    assert v5p["on_demand"] == approx(4.2)
    v5p_eu = offering(result, "gcp/europe-west1/tpu-v5p")
    assert (v5p_eu["instance"], v5p_eu["chips_per_instance"]) == ("tpu-v5p-16", 8)
    # tpu-v5litepod-N holds N chips: -1 and -256 cost the same per chip; 1 is nearer a node.
    v5e = offering(result, "gcp/europe-west4/tpu-v5e")
    assert (v5e["instance"], v5e["chips_per_instance"], v5e["on_demand"]) == (
        "tpu-v5litepod-1", 1, 1.56)
    assert reasons(result, "gcp/vms.csv", 26) == [
        ("dropped", "not a placer chip: accelerator 'tpu-v4-8'")]


def test_placeholder_prices(result):
    # tpu-v6e-1 in southamerica-west1: on-demand 2.7, spot 700.0 (placeholder).
    v6e = offering(result, "gcp/southamerica-west1/tpu-v6e")
    assert v6e["on_demand"] == 2.7 and v6e["spot"] is None
    assert reasons(result, "gcp/vms.csv", 28) == [
        ("fixed", "placeholder price: spot 700.0 ignored")]
    assert reasons(result, "gcp/vms.csv", 30) == [
        ("dropped", "no price: on-demand placeholder 700.0, spot placeholder 700.0")]
    # a4-highgpu-8g host VMs are priced 0.0: not offerings, and no B200 row pairs with them.
    assert not result.offerings.filter(pl.col("chip") == "b200").filter(
        pl.col("provider") == "gcp").height


def test_spot_above_on_demand_is_dropped(result):
    # H200 GPUs in europe-west4: spot 39.1096 above on-demand 36.60258 (before the host VM).
    h200 = offering(result, "gcp/europe-west4/h200")
    assert h200["on_demand"] == approx((36.60258 + 12.8793) / 8)
    assert h200["spot"] is None
    assert ("fixed", "spot above on-demand: spot 39.1096 above on-demand 36.60258 ignored") in \
        reasons(result, "gcp/vms.csv", 16)


def test_count_that_disagrees_with_the_instance(result):
    # SkyPilot's Azure snapshot lists 12 H100 in a Standard_ND96isr_H100_v5; it holds 8.
    h100 = offering(result, "azure/westus/h100")
    assert h100["chips_per_instance"] == 8
    assert h100["on_demand"] == approx(127.816 / 8)
    assert reasons(result, "azure/vms.csv", 9) == [
        ("fixed", "count disagrees with the instance: AcceleratorCount 12, but "
                  "Standard_ND96isr_H100_v5 holds 8 H100")]


def test_blank_duplicate_and_foreign_rows(result):
    assert reasons(result, "aws/vms.csv", 5) == [
        ("dropped", "no price: on-demand blank, spot blank")]
    assert reasons(result, "aws/vms.csv", 13) == [
        ("dropped", "not a placer chip: A100 is the 40 GB part; placer's a100 is the 80 GB "
                    "SXM (A100-80GB)")]
    assert reasons(result, "gcp/vms.csv", 23) == [("dropped", "duplicate: same as line 22")]
    # Trainium2 with only a spot price: kept, on-demand left to the bundled catalog.
    trn2 = offering(result, "aws/us-east-2/trn2")
    assert trn2["on_demand"] is None and trn2["spot"] == approx(23.0631 / 16)
    assert trn2["price_basis"] is None
    assert "on_demand and price_basis kept from the bundled catalog" in trn2["notes"]


def test_suspicious_price_is_flagged(result):
    flagged = result.report.filter(pl.col("action") == "flagged")
    assert flagged.select("provider", "region", "accelerator").rows() == [
        ("gcp", "us-central1", "H100")]
    assert "FLAG: price outlier" in offering(result, "gcp/us-central1/h100")["notes"]


def test_every_accelerator_row_is_accounted_for(result):
    rows = 0
    for path in DATA.rglob("vms.csv"):
        with path.open() as f:
            rows += sum(1 for r in csv.DictReader(f) if r["AcceleratorName"].strip())
    dropped = result.report.filter(pl.col("action") == "dropped").height
    assert result.priced_rows + dropped == rows


def test_new_offerings_are_complete_and_existing_ones_only_priced(result):
    new = offering(result, "aws/ap-northeast-1/h200")  # Tokyo: not in the bundled catalog
    assert (new["country"], new["jurisdiction"], new["provider_home"]) == ("JP", "JP", "US")
    assert new["grid_source"].startswith("estimate: world average")
    assert (new["capacity_chips"], new["capacity_basis"]) == (512, "default")
    known = offering(result, "aws/us-east-1/h100")
    assert known["country"] is None and known["capacity_chips"] is None
    assert known["source"].startswith("SkyPilot catalog aws/vms.csv (sha256 ")
    assert known["as_of"] == "2025-10-01"


def test_imported_offerings_overlay_the_catalog(result, tmp_path):
    (tmp_path / "offerings.csv").write_text(result.offerings.write_csv())
    catalog = load_catalog([tmp_path])
    rows = catalog.offerings.filter(pl.col("offering") == "aws/us-east-1/h100").row(
        0, named=True)
    assert rows["on_demand"] == approx(6.88)
    assert rows["capacity_chips"] == 2048  # the bundled default, kept
    assert catalog.offerings.filter(pl.col("offering") == "verda/fin-03/h200").row(
        0, named=True)["instance"] == "2H200.141S.88V"


# ---------------------------------------------------------------------------
# CLI


def test_cli_writes_overlay_and_report(cli, tmp_path):
    out = tmp_path / "sky"
    r = cli("catalog", "import", "--skypilot", DATA, "--out", out)
    assert r.code == 0, r.err
    assert (out / "offerings.csv").is_file() and (out / "import-report.md").is_file()
    assert "count disagrees with the instance" in r.out
    report = (out / "import-report.md").read_text()
    assert "| azure/vms.csv | 9 | Standard_ND96isr_H100_v5 |" in report
    listed = cli("catalog", "list", "--catalog", out, "--provider", "gcp", "--chip", "h100",
                 "--format", "csv")
    assert listed.code == 0, listed.err
    assert "a3-highgpu-8g" in listed.out
    again = cli("catalog", "import", "--skypilot", DATA, "--out", out)
    assert again.code == 2
    assert "offerings.csv: already exists; pass --force to replace it" in again.err
    assert cli("catalog", "import", "--skypilot", DATA, "--out", out, "--force").code == 0


def test_cli_without_out_prints_csv(cli):
    r = cli("catalog", "import", "--skypilot", DATA / "verda" / "vms.csv", "-q")
    assert r.code == 0, r.err
    frame = pl.read_csv(r.out.encode())
    assert frame.height == 5 and set(frame["provider"]) == {"verda"}


@pytest.mark.parametrize(("content", "message"), [
    ("Name,Price\nx,1\n", "not a SkyPilot vms.csv: column(s) InstanceType, AcceleratorName, "
                          "AcceleratorCount, Region, SpotPrice missing"),
    ("", "not a readable CSV file"),
])
def test_cli_bad_files(cli, write, content, message):
    path = write("aws/vms.csv", content)
    r = cli("catalog", "import", "--skypilot", path)
    assert r.code == 2
    assert message in r.err
    assert "Traceback" not in r.err


def test_cli_unknown_cloud_folder(cli, write):
    path = write("prices/vms.csv", (DATA / "aws" / "vms.csv").read_text())
    r = cli("catalog", "import", "--skypilot", path)
    assert r.code == 2
    assert "cannot tell which cloud this file describes (its folder is 'prices'" in r.err
    assert cli("catalog", "import", "--skypilot", path, "--provider", "aws", "-q").code == 0


# ---------------------------------------------------------------------------
# Property: whatever the rows, every accelerator row is accounted for and each offering's
# price is the cheapest usable row of its group.

ACCELERATORS = {"Trainium2": ("trn2.48xlarge", 16), "H100": ("p5.48xlarge", 8),
                "L4": ("g6.xlarge", 1)}
REGIONS = ["us-east-1", "us-east-2", "eu-west-1", "mars-north-1"]
price = st.one_of(st.none(), st.sampled_from([0.0, 700.0]),
                  st.floats(min_value=0.5, max_value=200, allow_nan=False).map(
                      lambda x: round(x, 4)))
row = st.tuples(st.sampled_from(sorted(ACCELERATORS)), st.sampled_from(REGIONS),
                st.sampled_from(["a", "b"]), price, price)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row, min_size=1, max_size=12))
def test_import_property(tmp_path_factory, rows):
    folder = tmp_path_factory.mktemp("sky") / "aws"
    folder.mkdir()
    lines = ["InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,"
             "SpotPrice,Region,AvailabilityZone,Arch"]
    for accel, region, zone, od, spot in rows:
        instance, count = ACCELERATORS[accel]
        lines.append(f"{instance},{accel},{count}.0,8.0,32.0,,{'' if od is None else od},"
                     f"{'' if spot is None else spot},{region},{region}-{zone},x86_64")
    (folder / "vms.csv").write_text("\n".join(lines) + "\n")
    result = import_skypilot(folder / "vms.csv")

    dropped = result.report.filter(pl.col("action") == "dropped").height
    assert result.priced_rows + dropped == len(rows)
    usable = {}
    for accel, region, _zone, od, spot in rows:
        od = None if od in (None, 0.0, 700.0) else od
        spot = None if spot in (None, 0.0, 700.0) or (od is not None and spot > od) else spot
        if accel == "L4" or region == "mars-north-1" or (od is None and spot is None):
            continue
        usable.setdefault((region, accel), []).append((od, spot))
    assert result.offerings.height == len(usable)
    for (region, accel), prices in usable.items():
        chips = ACCELERATORS[accel][1]
        got = offering(result, f"aws/{region}/{'trn2' if accel == 'Trainium2' else 'h100'}")
        ods = [od for od, _ in prices if od is not None]
        assert got["on_demand"] == (approx(min(ods) / chips) if ods else None)
        if got["spot"] is not None:
            assert got["on_demand"] is None or got["spot"] <= got["on_demand"] + 1e-9
            assert got["spot"] == approx(min(s for _, s in prices if s is not None)
                                                / chips)
