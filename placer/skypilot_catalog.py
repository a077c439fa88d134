"""Import prices from SkyPilot's public catalog (`vms.csv` per cloud) as placer offerings.

SkyPilot's catalog lists one row per instance type, region and zone. The import maps
accelerator names to placer chips, cleans what is known to be wrong in those files and keeps
the best price per (provider, region, chip):

- blank prices, and placeholder prices (0.0 and 700.0) that stand for "no price";
- spot prices above the on-demand price (the spot figure is dropped);
- accelerator counts that disagree with the instance (the instance's real count is used);
- Google Cloud bills GPUs apart from their host VM: a GPU row's price is the GPU's plus the
  host VM's in the same zone (a3-highgpu-8g for H100:8 and so on);
- TPU slices are named by size: tpu-v5litepod-N and tpu-v6e-N hold N chips, tpu-v5p-N holds
  N/2 (N counts TensorCores).

Every row dropped, fixed or flagged is reported with its file and line. The result is an
overlay for `--catalog DIR`: for an offering the bundled catalog already has, only the price
columns are given (a blank cell keeps the bundled value); new offerings are complete rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from placer.catalog import Catalog, default_catalog
from placer.errors import InputError, Issue
from placer.geo import CLOUD_REGION_COUNTRIES, country_jurisdiction
from placer.io import write_atomic
from placer.schema import Offering
from placer.skypilot_names import ACCELERATOR_CHIPS, CLOUD_PROVIDERS, TPU_CHIPS

REQUIRED_COLUMNS = ("InstanceType", "AcceleratorName", "AcceleratorCount", "Region", "Price",
                    "SpotPrice")
PLACEHOLDER_PRICES = (0.0, 700.0)

# Google Cloud host VM family for each GPU; the VM is <family>-<count>g.
GCP_HOST_FAMILIES: dict[str, str] = {
    "H100": "a3-highgpu",
    "H100-MEGA": "a3-megagpu",
    "H200": "a3-ultragpu",
    "B200": "a4-highgpu",
    "GB200": "a4x-highgpu",
    "A100-80GB": "a2-ultragpu",
}

# Accelerators per instance, from the providers' instance type pages; the bundled catalog's
# instances are added to these. SkyPilot's Azure snapshot lists 12 H100 in an ND96isr_H100_v5.
KNOWN_SHAPES: dict[str, int] = {
    "trn1.2xlarge": 1, "trn1.32xlarge": 16, "trn1n.32xlarge": 16,
    "trn2.3xlarge": 1, "trn2.48xlarge": 16,
    "inf2.xlarge": 1, "inf2.8xlarge": 1, "inf2.24xlarge": 6, "inf2.48xlarge": 12,
    "p4d.24xlarge": 8, "p4de.24xlarge": 8, "p5.4xlarge": 1, "p5.48xlarge": 8,
    "p5e.48xlarge": 8, "p5en.48xlarge": 8, "p6-b200.48xlarge": 8,
    "Standard_NC40ads_H100_v5": 1, "Standard_NC80adis_H100_v5": 2,
    "Standard_ND96isr_H100_v5": 8, "Standard_ND96isr_H200_v5": 8,
    "Standard_ND96is_MI300X_v5": 8, "Standard_ND96amsr_A100_v4": 8,
}

PREFERRED_NODE_CHIPS = 8
OUTLIER_FRACTION = 0.5

WORLD_GRID = 480.0
WORLD_GRID_SOURCE = ("estimate: world average power-sector intensity, Ember Global "
                     "Electricity Review 2024 (2023 data); no figure for this country")

REPORT_COLUMNS = ("file", "line", "provider", "instance", "region", "zone", "accelerator",
                  "action", "reason")


@dataclass(frozen=True)
class SkyPilotImport:
    """Offerings to lay over the catalog, and every row the import dropped, fixed or flagged."""

    offerings: pl.DataFrame
    report: pl.DataFrame
    files: tuple[tuple[str, str, int], ...]  # (path, provider, rows read)
    cpu_rows: int  # rows with no accelerator (CPU instances, GCP host VMs)
    priced_rows: int  # accelerator rows with a usable price

    def summary(self) -> pl.DataFrame:
        """Dropped/fixed/flagged counts per reason kind."""
        return (
            self.report.with_columns(pl.col("reason").str.replace(r":.*$", ""))
            .group_by("action", "reason").len("rows")
            .sort("action", "rows", "reason", descending=[False, True, False])
        )


def import_skypilot(
    path: str | Path,
    catalog: Catalog | None = None,
    provider: str | None = None,
    as_of: str | None = None,
) -> SkyPilotImport:
    """Read a SkyPilot catalog folder (aws/vms.csv, gcp/vms.csv, ...) or one vms.csv."""
    catalog = catalog or default_catalog()
    files = _find_files(Path(path), provider)
    rows = pl.concat([_read(p, prov) for p, prov in files], how="vertical")
    as_of = as_of or f"<={dt.date.today().isoformat()}"
    sources = {str(p): _source(p) for p, _ in files}

    cpu = pl.col("accelerator") == ""
    cpu_rows = rows.filter(cpu)
    accel, report = _drop_duplicates(rows.filter(~cpu))
    accel = _map_chips(accel)
    accel, dropped_unmapped = _split(accel, pl.col("chip").is_null(), "dropped", _unmapped_reason())
    accel = _price_states(accel)
    accel = _drop_spot_above_on_demand(accel)
    accel = _add_gcp_hosts(accel, cpu_rows)
    accel = _fix_counts(accel, _known_shapes(catalog))
    accel = _check_place(accel, catalog)
    accel, dropped = _split(accel, pl.col("drop").is_not_null(), "dropped", pl.col("drop"))
    fixed = _report(accel.explode("fixes").filter(pl.col("fixes").is_not_null()), "fixed",
                    pl.col("fixes"))
    offerings, flagged = _best_offerings(accel)
    offerings = _complete(offerings, catalog, sources, as_of)
    report = pl.concat([report, dropped_unmapped, dropped, fixed, flagged],
                       how="vertical").sort("file", "line", "action")
    return SkyPilotImport(
        offerings=offerings,
        report=report,
        files=tuple((str(p), prov, rows.filter(pl.col("file") == str(p)).height)
                    for p, prov in files),
        cpu_rows=cpu_rows.height,
        priced_rows=accel.height,
    )


# ---------------------------------------------------------------------------
# Reading


def _find_files(path: Path, provider: str | None) -> list[tuple[Path, str]]:
    if not path.exists():
        raise InputError([Issue("no such file or folder", str(path))])
    if path.is_file():
        return [(path, _provider_of(path, provider))]
    found = sorted(path.rglob("vms.csv")) or sorted(path.glob("*.csv"))
    if not found:
        raise InputError([Issue("no vms.csv (SkyPilot catalog file) in this folder", str(path))])
    return [(p, _provider_of(p, provider)) for p in found]


def _provider_of(path: Path, provider: str | None) -> str:
    """The cloud a vms.csv describes: --provider, else the folder it sits in (aws/vms.csv)."""
    if provider is not None:
        name = provider.lower()
    else:
        name = path.parent.name.lower()
        if name not in CLOUD_PROVIDERS:
            raise InputError([Issue(
                f"cannot tell which cloud this file describes (its folder is "
                f"'{path.parent.name}', not one of {', '.join(sorted(CLOUD_PROVIDERS))}); "
                "pass --provider", str(path))])
    if name in CLOUD_PROVIDERS:
        return CLOUD_PROVIDERS[name]
    if name in CLOUD_PROVIDERS.values():
        return name
    raise InputError([Issue(f"unknown provider '{name}' (known: "
                            f"{', '.join(sorted(CLOUD_PROVIDERS))})", str(path))])


def _read(path: Path, provider: str) -> pl.DataFrame:
    try:
        raw = pl.read_csv(path, infer_schema=False, truncate_ragged_lines=False)
    except (pl.exceptions.PolarsError, UnicodeDecodeError, OSError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError([Issue(f"not a readable CSV file: {message}", str(path))]) from None
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        raise InputError([Issue(
            f"not a SkyPilot vms.csv: column(s) {', '.join(missing)} missing "
            f"(it has {', '.join(raw.columns) or 'none'})", str(path), missing[0], 1)])

    def text(column: str) -> pl.Expr:
        if column not in raw.columns:
            return pl.lit("")
        return pl.col(column).fill_null("").str.strip_chars()

    def number(column: str) -> pl.Expr:
        return text(column).cast(pl.Float64, strict=False)

    return raw.select(
        pl.lit(str(path)).alias("file"),
        (pl.int_range(pl.len(), dtype=pl.Int64) + 2).alias("line"),
        pl.lit(provider).alias("provider"),
        text("InstanceType").alias("instance"),
        text("AcceleratorName").alias("accelerator"),
        number("AcceleratorCount").alias("count"),
        text("GpuInfo").alias("gpu_info"),
        text("Region").str.to_lowercase().alias("region"),
        text("AvailabilityZone").alias("zone"),
        number("Price").alias("price"),
        number("SpotPrice").alias("spot"),
    )


def _source(path: Path) -> str:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return f"SkyPilot catalog {path.parent.name}/{path.name} (sha256 {digest})"


# ---------------------------------------------------------------------------
# Cleaning: each step appends to `fixes` (a list of "kind: detail", the row is kept and
# corrected) or sets `drop` (why the row cannot be used)


def _report(rows: pl.DataFrame, action: str, reason: pl.Expr) -> pl.DataFrame:
    return rows.select(
        "file", "line", "provider", "instance", "region", "zone", "accelerator",
        pl.lit(action).alias("action"), reason.cast(pl.String).alias("reason"),
    )


def _split(rows: pl.DataFrame, bad: pl.Expr, action: str,
           reason: pl.Expr) -> tuple[pl.DataFrame, pl.DataFrame]:
    marked = rows.with_columns(bad.fill_null(False).alias("_bad"))
    report = _report(marked.filter(pl.col("_bad")), action, reason)
    return marked.filter(~pl.col("_bad")).drop("_bad"), report


def _note(frame: pl.DataFrame, condition: pl.Expr, text: pl.Expr) -> pl.DataFrame:
    """Append `text` to the `fixes` of rows where `condition` holds."""
    return frame.with_columns(
        pl.when(condition.fill_null(False))
        .then(pl.concat_list(pl.col("fixes"), text))
        .otherwise(pl.col("fixes")).alias("fixes")
    )


def _drop_if(frame: pl.DataFrame, condition: pl.Expr, reason: pl.Expr) -> pl.DataFrame:
    """Set `drop` to `reason` where `condition` holds and no earlier reason is set."""
    return frame.with_columns(
        pl.when(pl.col("drop").is_null() & condition.fill_null(False)).then(reason)
        .otherwise(pl.col("drop")).alias("drop")
    )


def _drop_duplicates(rows: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    key = ["file", "provider", "instance", "accelerator", "count", "region", "zone", "price",
           "spot"]
    ranked = rows.with_columns(pl.col("line").min().over(key).alias("first_line"))
    dup = pl.col("line") != pl.col("first_line")
    report = _report(ranked.filter(dup), "dropped",
                     pl.format("duplicate: same as line {}", pl.col("first_line")))
    kept = ranked.filter(~dup).drop("first_line").with_columns(
        pl.lit([], pl.List(pl.String)).alias("fixes"), pl.lit(None, pl.String).alias("drop"))
    return kept, report


def _map_chips(rows: pl.DataFrame) -> pl.DataFrame:
    name = pl.col("accelerator")
    generation = name.str.extract(r"^tpu-([a-z0-9]+)-\d+$", 1)
    cores = name.str.extract(r"^tpu-[a-z0-9]+-(\d+)$", 1).cast(pl.Int64)
    per_chip = generation.replace_strict({g: p for g, (_, p) in TPU_CHIPS.items()},
                                         default=None, return_dtype=pl.Int64)
    tpu_chip = generation.replace_strict({g: c for g, (c, _) in TPU_CHIPS.items()},
                                         default=None, return_dtype=pl.String)
    return rows.with_columns(
        pl.coalesce(name.replace_strict(ACCELERATOR_CHIPS, default=None,
                                        return_dtype=pl.String), tpu_chip).alias("chip"),
        (cores // per_chip).alias("tpu_chips"),
        (cores % per_chip).alias("tpu_odd"),
    ).with_columns(
        # A TPU row names no instance: the slice is the instance.
        pl.when((pl.col("instance") == "") & tpu_chip.is_not_null()).then(name)
        .otherwise(pl.col("instance")).alias("instance"),
    )


def _unmapped_reason() -> pl.Expr:
    return (
        pl.when(pl.col("accelerator") == "A100")
        .then(pl.lit("not a placer chip: A100 is the 40 GB part; placer's a100 is the "
                     "80 GB SXM (A100-80GB)"))
        .otherwise(pl.format("not a placer chip: accelerator '{}'", pl.col("accelerator")))
    )


def _price_states(rows: pl.DataFrame) -> pl.DataFrame:
    """Blank and placeholder prices (0.0, 700.0 stand for 'no price') become nulls, and each
    price's state is kept to explain a row left with none."""
    for column in ("price", "spot"):
        placeholder = pl.col(column).is_in(PLACEHOLDER_PRICES).fill_null(False)
        rows = rows.with_columns(
            pl.when(pl.col(column).is_null()).then(pl.lit("blank"))
            .when(placeholder).then(pl.format("placeholder {}", pl.col(column)))
            .alias(f"{column}_state"),
            pl.when(placeholder).then(None).otherwise(pl.col(column)).alias(column),
        )
    return rows


def _add_gcp_hosts(rows: pl.DataFrame, cpu_rows: pl.DataFrame) -> pl.DataFrame:
    """A Google Cloud GPU row prices the GPUs only: add the host VM in the same zone."""
    family = pl.col("accelerator").replace_strict(GCP_HOST_FAMILIES, default=None,
                                                  return_dtype=pl.String)
    needs_host = (pl.col("provider") == "gcp") & (pl.col("instance") == "") & family.is_not_null()
    hosts = (
        cpu_rows.filter(pl.col("provider") == "gcp")
        .select("region", "zone", pl.col("instance").alias("host"),
                pl.col("price").alias("host_price"), pl.col("spot").alias("host_spot"))
        .unique(["region", "zone", "host"], keep="first", maintain_order=True)
    )
    rows = rows.with_columns(
        pl.when(needs_host)
        .then(pl.concat_str(family, pl.lit("-"), pl.col("count").cast(pl.Int64), pl.lit("g")))
        .alias("host")
    ).join(hosts, on=["region", "zone", "host"], how="left")
    host = pl.col("host").is_not_null()
    usable = pl.col("host_price").is_not_null() & ~pl.col("host_price").is_in(PLACEHOLDER_PRICES)
    spot_usable = pl.col("host_spot").is_not_null() & ~pl.col("host_spot").is_in(
        PLACEHOLDER_PRICES)
    rows = _drop_if(rows, host & pl.col("host_price").is_null(),
                    pl.format("no host VM price: {} in {} (Google Cloud bills the GPUs and the "
                              "VM apart)", pl.col("host"), pl.col("zone")))
    rows = _drop_if(rows, host & ~usable,
                    pl.format("no host VM price: {} has placeholder price {} in {}",
                              pl.col("host"), pl.col("host_price"), pl.col("zone")))
    rows = _note(rows, host & usable,
                 pl.format("host VM added: {} at ${}/h", pl.col("host"), pl.col("host_price")))
    return rows.with_columns(
        pl.when(host).then(pl.col("price") + pl.col("host_price"))
        .otherwise(pl.col("price")).alias("price"),
        pl.when(host & ~spot_usable).then(None)
        .when(host).then(pl.col("spot") + pl.col("host_spot"))
        .otherwise(pl.col("spot")).alias("spot"),
        pl.when(host).then(pl.col("host")).otherwise(pl.col("instance")).alias("instance"),
    ).drop("host", "host_price", "host_spot")


def _drop_spot_above_on_demand(rows: pl.DataFrame) -> pl.DataFrame:
    rows = rows.with_columns((pl.col("spot") > pl.col("price")).fill_null(False).alias("above"))
    above = pl.col("above")
    rows = rows.with_columns(
        pl.when(above).then(pl.format("{} above on-demand {}", pl.col("spot"), pl.col("price")))
        .otherwise(pl.col("spot_state")).alias("spot_state"),
        pl.when(above).then(None).otherwise(pl.col("spot")).alias("spot"),
    )
    unpriced = pl.col("price").is_null() & pl.col("spot").is_null()
    rows = _drop_if(rows, unpriced, pl.format("no price: on-demand {}, spot {}",
                                              pl.col("price_state"), pl.col("spot_state")))
    for column, label in (("price", "on-demand"), ("spot", "spot")):
        state = pl.col(f"{column}_state")
        rows = _note(rows, ~unpriced & state.str.starts_with("placeholder"),
                     pl.format(f"placeholder price: {label} {{}} ignored",
                               state.str.strip_prefix("placeholder ")))
    rows = _note(rows, ~unpriced & above,
                 pl.format("spot above on-demand: spot {} ignored", pl.col("spot_state")))
    return rows.drop("above")


def _known_shapes(catalog: Catalog) -> dict[str, int]:
    shapes = dict(zip(catalog.offerings["instance"], catalog.offerings["chips_per_instance"],
                      strict=True))
    return {**shapes, **KNOWN_SHAPES}


def _fix_counts(rows: pl.DataFrame, shapes: dict[str, int]) -> pl.DataFrame:
    """Chips per instance: the TPU slice size, else AcceleratorCount checked against the
    instance's known shape and the count inside GpuInfo."""
    listed = pl.col("count")
    info = pl.col("gpu_info").str.extract(r"""["']Count["']:\s*(\d+)""", 1).cast(pl.Int64)
    known = pl.coalesce(
        pl.col("instance").replace_strict(shapes, default=None, return_dtype=pl.Int64), info)
    whole = listed.is_not_null() & (listed > 0) & (listed == listed.round(0))
    tpu = pl.col("tpu_chips").is_not_null()
    rows = rows.with_columns(
        pl.when(tpu).then(pl.col("tpu_chips") * pl.coalesce(listed.cast(pl.Int64), pl.lit(1)))
        .when(known.is_not_null()).then(known)
        .when(whole).then(listed.cast(pl.Int64))
        .alias("chips_per_instance")
    )
    wrong = ~tpu & known.is_not_null() & (~whole | (listed != known)) & pl.col("drop").is_null()
    shown = pl.when(whole).then(listed.cast(pl.Int64).cast(pl.String)).otherwise(
        pl.col("count").cast(pl.String))
    rows = _note(rows, wrong,
                 pl.format("count disagrees with the instance: AcceleratorCount {}, but {} "
                           "holds {} {}", shown, pl.col("instance"), known,
                           pl.col("accelerator")))
    rows = _drop_if(rows, tpu & (pl.col("tpu_odd") != 0),
                    pl.format("not whole chips: {} (N counts TensorCores, 2 per chip)",
                              pl.col("accelerator")))
    return _drop_if(rows, pl.col("chips_per_instance").is_null()
                    | (pl.col("chips_per_instance") < 1),
                    pl.format("bad count: AcceleratorCount '{}' is not a positive whole "
                              "number", shown))


def _check_place(rows: pl.DataFrame, catalog: Catalog) -> pl.DataFrame:
    """Drop rows placer cannot place: a provider outside its catalog, a region in no known
    country."""
    providers = sorted(set(catalog.offerings["provider"]))
    listed = [(p, r) for p, regions in CLOUD_REGION_COUNTRIES.items() for r in regions]
    listed += list(catalog.offerings.select("provider", "region").iter_rows())
    known = pl.DataFrame(listed, schema=["provider", "region"], orient="row").unique()
    rows = rows.join(known.with_columns(pl.lit(True).alias("known_region")),
                     on=["provider", "region"], how="left")
    rows = _drop_if(rows, ~pl.col("provider").is_in(providers),
                    pl.format("unknown provider: '{}' is not in placer's catalog (no egress "
                              "rates or home jurisdiction); add it to the catalog first",
                              pl.col("provider")))
    rows = _drop_if(rows, pl.col("known_region").is_null(),
                    pl.format("unknown region: '{}' of {} is in no known country, so "
                              "residency rules could not apply to it", pl.col("region"),
                              pl.col("provider")))
    return rows.drop("known_region")


# ---------------------------------------------------------------------------
# Best price per (provider, region, chip)


def _best_offerings(rows: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    per_chip = rows.with_columns(
        (pl.col("price") / pl.col("chips_per_instance")).alias("on_demand"),
        (pl.col("spot") / pl.col("chips_per_instance")).alias("spot_chip"),
    )
    key = ["provider", "region", "chip"]
    # One price per instance type: its lowest on-demand and lowest spot among its zones.
    instances = per_chip.group_by(*key, "instance", "chips_per_instance").agg(
        pl.col("on_demand").min(),
        pl.col("spot_chip").min().alias("spot"),
        pl.col("file", "line", "accelerator").sort_by(
            pl.col("on_demand").fill_null(float("inf"))).first(),
        pl.col("fixes").list.explode(keep_nulls=False, empty_as_null=False).unique().sort(),
    )
    # Among equal per-chip prices prefer a node of about 8 chips: gangs want the interconnect
    # of a full node, and a 256-chip TPU slice would make every placement a multiple of 256.
    node_distance = (pl.col("chips_per_instance").log(2) - math.log2(PREFERRED_NODE_CHIPS)).abs()
    best = (
        instances.sort(
            pl.col("on_demand").is_null(),
            pl.coalesce("on_demand", "spot").round(6),
            node_distance,
            pl.col("chips_per_instance"),
            "instance",
            descending=[False, False, False, True, False],
        )
        .group_by(key, maintain_order=True).first()
        .sort(key)
    )
    # Zones can price differently: the lowest spot may exceed the lowest on-demand.
    best = best.with_columns(
        pl.when(pl.col("spot") > pl.col("on_demand")).then(None).otherwise(pl.col("spot"))
        .alias("spot"))
    median = pl.col("on_demand").median().over("provider", "chip")
    regions = pl.col("on_demand").count().over("provider", "chip")
    outlier = (regions >= 3) & (pl.col("on_demand") < OUTLIER_FRACTION * median)
    best = best.with_columns(
        pl.when(outlier)
        .then(pl.format("price outlier: on-demand ${}/chip-hour is under half the median of "
                        "{} {} across its regions (${}); check it before relying on it",
                        pl.col("on_demand").round(4), pl.col("provider"), pl.col("chip"),
                        median.round(4)))
        .alias("flag")
    )
    flagged = best.filter(pl.col("flag").is_not_null()).select(
        "file", "line", "provider", "instance", "region", pl.lit("").alias("zone"),
        "accelerator", pl.lit("flagged").alias("action"), pl.col("flag").alias("reason"))
    return best, flagged


def _complete(best: pl.DataFrame, catalog: Catalog, sources: dict[str, str],
              as_of: str) -> pl.DataFrame:
    """Offering rows: price columns always; the rest only for offerings new to the catalog."""
    base = catalog.offerings
    existing = base.select("provider", "region", "chip", pl.lit(True).alias("existing"))
    region_facts = (base.group_by("provider", "region")
                    .agg(pl.col("country", "grid_gco2_kwh", "grid_source").first()))
    country_grid = (base.filter(pl.col("grid_source").str.contains("country"))
                    .group_by("country").agg(pl.col("grid_gco2_kwh", "grid_source").first())
                    .rename({"grid_gco2_kwh": "country_grid", "grid_source": "country_source"}))
    homes = base.group_by("provider").agg(pl.col("provider_home").first())
    cloud_country = pl.DataFrame(
        [{"provider": p, "region": r, "listed_country": c}
         for p, regions in CLOUD_REGION_COUNTRIES.items() for r, c in regions.items()],
        schema={"provider": pl.String, "region": pl.String, "listed_country": pl.String},
    )
    frame = (
        best.join(existing, on=["provider", "region", "chip"], how="left")
        .join(region_facts, on=["provider", "region"], how="left")
        .join(cloud_country, on=["provider", "region"], how="left")
        .with_columns(pl.coalesce("country", "listed_country").alias("country"))
        .join(country_grid, on="country", how="left")
        .join(homes, on="provider", how="left")
    )
    new = pl.col("existing").is_null()
    hyperscaler_us = pl.col("provider").is_in(["aws", "gcp", "azure"]) & (
        pl.col("country") == "US")
    grid = pl.coalesce("grid_gco2_kwh", "country_grid", pl.lit(WORLD_GRID))
    grid_source = pl.coalesce("grid_source", "country_source", pl.lit(WORLD_GRID_SOURCE))
    jurisdiction = pl.col("country").map_elements(country_jurisdiction, return_dtype=pl.String)
    notes = pl.concat_str(
        pl.format("imported from SkyPilot {} line {}; spot is the lowest zone's",
                  pl.col("file").replace_strict(_short_names(sources), return_dtype=pl.String),
                  pl.col("line")),
        pl.when(pl.col("fixes").list.len() > 0)
        .then(pl.format("; fixed: {}", pl.col("fixes").list.join("; ")))
        .otherwise(pl.lit("")),
        pl.when(pl.col("flag").is_not_null()).then(pl.format("; FLAG: {}", pl.col("flag")))
        .otherwise(pl.lit("")),
        pl.when(~new & pl.col("on_demand").is_null())
        .then(pl.lit("; no on-demand price in SkyPilot: on_demand and price_basis kept from "
                     "the bundled catalog"))
        .otherwise(pl.lit("")),
        pl.when(~new).then(pl.lit("; capacity, carbon and commitment prices are the bundled "
                                  "catalog's")).otherwise(pl.lit("")),
    )

    def if_new(expr: pl.Expr) -> pl.Expr:
        return pl.when(new).then(expr)

    columns: dict[str, pl.Expr] = {
        "provider": pl.col("provider"),
        "region": pl.col("region"),
        "chip": pl.col("chip"),
        "country": if_new(pl.col("country")),
        "jurisdiction": if_new(jurisdiction),
        "provider_home": if_new(pl.col("provider_home")),
        "instance": pl.col("instance"),
        "chips_per_instance": pl.col("chips_per_instance"),
        "on_demand": pl.col("on_demand").round(6),
        "spot": pl.col("spot").round(6),
        "commit_1y": pl.lit(None, pl.Float64),
        "commit_3y": pl.lit(None, pl.Float64),
        "price_basis": pl.when(pl.col("on_demand").is_not_null() | new).then(pl.lit("list")),
        "capacity_chips": if_new(pl.when(hyperscaler_us).then(2048).otherwise(512)),
        "capacity_basis": if_new(pl.lit("default")),
        "grid_gco2_kwh": if_new(grid),
        "grid_source": if_new(grid_source),
        "source": pl.col("file").replace_strict(sources, return_dtype=pl.String),
        "as_of": pl.lit(as_of),
        "notes": notes,
    }
    assert tuple(columns) == tuple(Offering.model_fields), "offering columns changed"
    return frame.select(**columns).sort("provider", "region", "chip")


def _short_names(sources: dict[str, str]) -> dict[str, str]:
    return {path: short_name(path) for path in sources}


def short_name(path: str) -> str:
    """aws/vms.csv: the file and the folder naming its cloud."""
    p = Path(path)
    return f"{p.parent.name}/{p.name}"


def write_import(result: SkyPilotImport, out: str | Path, force: bool = False) -> list[Path]:
    """offerings.csv (an overlay for --catalog) and import-report.md, written atomically."""
    from placer.report import import_report_markdown

    folder = Path(out)
    targets = [folder / "offerings.csv", folder / "import-report.md"]
    if folder.exists() and not folder.is_dir():
        raise InputError([Issue("not a folder", str(folder))])
    clash = [t for t in targets if t.exists()]
    if clash and not force:
        raise InputError([Issue("already exists; pass --force to replace it", str(clash[0]))])
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(targets[0], result.offerings.write_csv())
    write_atomic(targets[1], import_report_markdown(result))
    return targets

