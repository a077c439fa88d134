"""The bundled catalog: complete, honest about its sources, and overridable."""

from __future__ import annotations

import re

import polars as pl
import pytest

from placer.catalog import default_catalog, list_offerings, load_catalog
from placer.errors import InputError
from placer.geo import EU_MEMBERS

DESIGN_CHIPS = {
    "trn1", "trn2", "trn3", "inf2", "tpu-v5e", "tpu-v5p", "tpu-v6e", "tpu7x", "maia-100",
    "maia-200", "a100", "h100", "h200", "b200", "gb200", "mi300x", "mi325x", "mi355x",
}
AS_OF = re.compile(r"^(<=|>=|~)?\d{4}(-\d{2}(-\d{2})?)?$")


def test_every_chip_the_design_names_is_in_the_catalog():
    assert set(default_catalog().chips["chip"]) >= DESIGN_CHIPS


def test_every_row_carries_a_source_and_a_date():
    cat = default_catalog()
    for frame in (cat.chips, cat.offerings, cat.speeds, cat.egress):
        assert frame["source"].str.len_chars().min() > 5
        assert all(AS_OF.match(v) for v in frame["as_of"])


def test_estimated_prices_say_so_and_why():
    offers = default_catalog().offerings
    estimates = offers.filter(pl.col("price_basis") == "estimate")
    assert set(estimates["chip"]) >= {"trn3", "tpu7x"}
    assert all("ESTIMATE" in note for note in estimates["notes"])


def test_maia_is_described_but_not_offered():
    cat = default_catalog()
    assert {"maia-100", "maia-200"} <= set(cat.chips["chip"])
    assert cat.offerings.filter(pl.col("chip").str.starts_with("maia")).height == 0


def test_no_trainium_in_an_eu_region_today():
    offers = default_catalog().offerings
    eu_trainium = offers.filter(
        pl.col("chip").str.starts_with("trn") & (pl.col("jurisdiction") == "EU")
    )
    assert eu_trainium.height == 0


def test_us_and_eu_regions_for_hyperscaler_chips():
    offers = default_catalog().offerings
    for provider in ("aws", "gcp", "azure"):
        rows = offers.filter(pl.col("provider") == provider)
        assert {"US", "EU"} <= set(rows["jurisdiction"]), provider


def test_at_least_four_european_providers_with_eu_home():
    offers = default_catalog().offerings
    eu_home = offers.filter(pl.col("provider_home") == "EU")
    assert len(set(eu_home["provider"])) >= 4


def test_eu_countries_are_eu_jurisdiction():
    offers = default_catalog().offerings
    for country, juris in zip(offers["country"], offers["jurisdiction"], strict=True):
        assert (juris == "EU") == (country in EU_MEMBERS)


def test_speeds_exist_for_every_chip_and_kind_relative_to_h100():
    cat = default_catalog()
    speeds = cat.speeds
    assert speeds.height == 2 * cat.chips.height
    h100 = speeds.filter(pl.col("chip") == "h100")
    assert h100["speed"].to_list() == [1.0, 1.0]


def test_egress_rates_for_every_provider_with_offerings():
    cat = default_catalog()
    assert set(cat.offerings["provider"]) <= set(cat.egress["provider"])


def test_list_offerings_filters_combine():
    cat = default_catalog()
    eu_h100 = list_offerings(cat, chip=["h100"], jurisdiction=["EU"])
    assert eu_h100.height > 3
    assert set(eu_h100["chip"]) == {"h100"} and set(eu_h100["jurisdiction"]) == {"EU"}
    spot = list_offerings(cat, pricing="spot")
    assert spot["spot"].null_count() == 0


def test_partial_overlay_replaces_only_the_columns_given(tmp_path):
    (tmp_path / "offerings.csv").write_text(
        "provider,region,chip,capacity_chips,capacity_basis\naws,us-east-2,trn2,96,user\n"
    )
    cat = load_catalog([tmp_path])
    row = cat.offerings.filter(pl.col("offering") == "aws/us-east-2/trn2").row(0, named=True)
    assert row["capacity_chips"] == 96 and row["capacity_basis"] == "user"
    assert row["on_demand"] == 2.235  # untouched column kept
    assert cat.offerings.height == default_catalog().offerings.height


def test_overlay_adds_new_offerings_and_chips(tmp_path):
    (tmp_path / "chips.csv").write_text(
        "chip,name,vendor,ecosystem,bf16_tflops,hbm_gb,tdp_w,tdp_basis,source,as_of\n"
        "gaudi3,Intel Gaudi 3,intel,synapse,1835,128,900,published,intel.com,2025-01\n"
    )
    (tmp_path / "speeds.csv").write_text(
        "chip,kind,speed,basis,source,as_of\n"
        "gaudi3,training,1.1,estimate,mine,2026-11\ngaudi3,inference,1.0,estimate,mine,2026-11\n"
    )
    (tmp_path / "offerings.csv").write_text(
        "provider,region,chip,country,jurisdiction,provider_home,instance,chips_per_instance,"
        "on_demand,price_basis,capacity_chips,grid_gco2_kwh,grid_source,source,as_of\n"
        "ibm,eu-de,gaudi3,DE,EU,US,gx3d,8,3.1,list,64,381,OWID,ibm.com,2026-10-01\n"
    )
    (tmp_path / "egress.csv").write_text(
        "provider,internet_usd_per_gb,inter_region_usd_per_gb,basis,source,as_of\n"
        "ibm,0.09,0.02,published,ibm.com,2026-10\n"
    )
    cat = load_catalog([tmp_path])
    row = cat.offerings.filter(pl.col("offering") == "ibm/eu-de/gaudi3").row(0, named=True)
    assert row["chip_vendor"] == "intel" and row["ecosystem"] == "synapse"
    assert "synapse" in cat.vocab.ecosystems


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"offerings.csv": "provider,region,chip,on_demand\naws,us-east-1,h100,-1\n"},
         "offerings.csv:2: on_demand: must be greater than 0"),
        ({"offerings.csv": "provider,region,chip,colour\naws,us-east-1,h100,red\n"},
         "offerings.csv:1: colour: unknown column 'colour'"),
        ({"offerings.csv": "region,chip,on_demand\nus-east-1,h100,3\n"},
         "offerings.csv:1: provider: key column 'provider' is missing"),
        ({"offering.csv": "x\n1\n"}, "unknown catalog file(s) offering.csv"),
        ({"offerings.csv": "provider,region,chip,country\naws,eu-west-9,h100,DE\n"},
         "offerings.csv:2: required fields are missing: jurisdiction, provider_home, instance, "
         "chips_per_instance, price_basis, capacity_chips, grid_gco2_kwh, grid_source, source, "
         "as_of"),
        ({"speeds.csv": "chip,kind,speed\nh100,training,0\n"},
         "speeds.csv:2: speed: must be greater than 0"),
        ({"offerings.csv": "provider,region,chip,jurisdiction\naws,eu-north-1,h100,US\n"},
         "jurisdiction 'US' does not match country SE (expected 'EU')"),
    ],
)
def test_bad_catalog_rows_name_the_file_line_and_field(tmp_path, files, message):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(InputError) as info:
        load_catalog([tmp_path])
    assert message in str(info.value)
