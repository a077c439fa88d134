"""The catalog: chips, offerings, speeds and egress rates, loaded into polars frames.

`models/` (shipped inside the package) is the default; each `--catalog DIR` is laid over
it. A row whose key matches a default row replaces the columns it gives (so a file of
just `provider,region,chip,capacity_chips` overrides capacities); a new key adds a row.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import ValidationError

from placer.errors import InputError, Issue
from placer.geo import ISO_COUNTRIES, known_jurisdictions
from placer.io import Document, issues_from_validation, raise_issues, read_table, table_records
from placer.schema import CATALOG_KEYS, CATALOG_ROWS, Vocabulary

TABLES = tuple(CATALOG_ROWS)


def default_catalog_dir() -> Path:
    """models/ inside an installed wheel, or beside the package in a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "models", here.parent / "models"):
        if (candidate / "offerings.csv").is_file():
            return candidate
    raise InputError("the bundled catalog (models/) is missing from this installation")


@dataclass(frozen=True)
class Catalog:
    """Validated catalog tables. `offerings` carries each chip's attributes joined in."""

    chips: pl.DataFrame
    offerings: pl.DataFrame
    speeds: pl.DataFrame
    egress: pl.DataFrame
    dirs: tuple[str, ...] = ()

    @cached_property
    def vocab(self) -> Vocabulary:
        o = self.offerings
        jurisdictions = set(o["jurisdiction"]) | set(o["provider_home"]) | known_jurisdictions()
        return Vocabulary(
            chips=frozenset(self.chips["chip"]),
            ecosystems=frozenset(self.chips["ecosystem"]),
            chip_vendors=frozenset(self.chips["vendor"]),
            providers=frozenset(o["provider"]),
            regions=frozenset(o["region_id"]),
            offerings=frozenset(o["offering"]),
            jurisdictions=frozenset(jurisdictions),
            countries=ISO_COUNTRIES,
            egress_providers=frozenset(self.egress["provider"]),
        )

    def with_offerings(self, offerings: pl.DataFrame) -> Catalog:
        """A copy with other offerings (scenario price factors, removals)."""
        return replace(self, offerings=offerings)


@dataclass
class _Row:
    values: dict[str, Any]
    file: str
    line: int


def _read_rows(path: Path, table: str) -> list[_Row]:
    model = CATALOG_ROWS[table]
    frame = read_table(path)
    keys = CATALOG_KEYS[table]
    fields = set(model.model_fields)
    unknown = [c for c in frame.columns if c not in fields]
    issues = [
        Issue(f"unknown column '{c}' (columns: {', '.join(model.model_fields)})", str(path), c, 1)
        for c in unknown
    ]
    issues += [
        Issue(f"key column '{k}' is missing", str(path), k, 1)
        for k in keys
        if k not in frame.columns
    ]
    raise_issues(issues)
    return [_Row(values, str(path), i + 2) for i, values in enumerate(table_records(frame))]


def _overlay(base: list[_Row], extra: list[_Row], keys: tuple[str, ...]) -> list[_Row]:
    """Rows of `extra` replace the columns they give on rows with the same key."""
    index = {tuple(r.values.get(k) for k in keys): i for i, r in enumerate(base)}
    merged = list(base)
    for row in extra:
        key = tuple(row.values.get(k) for k in keys)
        if key in index:
            old = merged[index[key]]
            merged[index[key]] = _Row({**old.values, **row.values}, row.file, row.line)
        else:
            index[key] = len(merged)
            merged.append(row)
    return merged


def _validate(rows: list[_Row], table: str) -> list[dict[str, Any]]:
    """Validate each row; report every bad row with its file and line."""
    model = CATALOG_ROWS[table]
    known = frozenset(model.model_fields)
    records: list[dict[str, Any]] = []
    issues: list[Issue] = []
    for row in rows:
        try:
            records.append(model.model_validate(row.values).model_dump())
        except ValidationError as exc:
            issues += issues_from_validation(exc, Document(None, row.file, {(): row.line}),
                                             known_fields=known)
    raise_issues(issues)
    keys = CATALOG_KEYS[table]
    first: dict[tuple[Any, ...], int] = {}
    for row, record in zip(rows, records, strict=True):
        key = tuple(record[k] for k in keys)
        if key in first:
            issues.append(Issue(f"duplicate key {'/'.join(map(str, key))} (also line "
                                f"{first[key]})", row.file, None, row.line))
        first.setdefault(key, row.line)
    raise_issues(issues)
    return records


_F, _I = pl.Float64(), pl.Int64()
NUMERIC_COLUMNS: dict[str, dict[str, pl.DataType]] = {
    "chips": {"bf16_tflops": _F, "fp8_tflops": _F, "hbm_gb": _F, "tdp_w": _F},
    "offerings": {"chips_per_instance": _I, "on_demand": _F, "spot": _F, "commit_1y": _F,
                  "commit_3y": _F, "capacity_chips": _I, "grid_gco2_kwh": _F},
    "speeds": {"speed": _F},
    "egress": {"internet_usd_per_gb": _F, "inter_region_usd_per_gb": _F},
}


def _frame(records: list[dict[str, Any]], table: str) -> pl.DataFrame:
    numeric = NUMERIC_COLUMNS[table]
    schema = {name: numeric.get(name, pl.String()) for name in CATALOG_ROWS[table].model_fields}
    return pl.DataFrame(records, schema=schema)


def _cross_check(tables: dict[str, list[_Row]], frames: dict[str, pl.DataFrame]) -> None:
    chips = set(frames["chips"]["chip"])
    issues = []
    for table in ("offerings", "speeds"):
        for row, chip in zip(tables[table], frames[table]["chip"], strict=True):
            if chip not in chips:
                issues.append(Issue(f"chip '{chip}' is not in chips.csv", row.file, "chip",
                                    row.line))
    have = set(zip(frames["speeds"]["chip"], frames["speeds"]["kind"], strict=True))
    for chip in sorted(chips):
        for kind in ("training", "inference"):
            if (chip, kind) not in have:
                issues.append(Issue(f"no speed for chip '{chip}', kind '{kind}'",
                                    "speeds.csv"))
    raise_issues(issues)


def _join_chip_attributes(offerings: pl.DataFrame, chips: pl.DataFrame) -> pl.DataFrame:
    attrs = chips.select(
        "chip",
        pl.col("vendor").alias("chip_vendor"),
        "ecosystem",
        "hbm_gb",
        "tdp_w",
    )
    return (
        offerings.join(attrs, on="chip", how="left")
        .with_columns(
            pl.concat_str("provider", "region", separator="/").alias("region_id"),
            pl.concat_str("provider", "region", "chip", separator="/").alias("offering"),
        )
        .sort("offering")
    )


def load_catalog(dirs: Sequence[str | Path] = (), include_default: bool = True) -> Catalog:
    """Load the bundled catalog and lay each directory in `dirs` over it."""
    if include_default and not dirs:
        return _default_catalog()
    layers = ([default_catalog_dir()] if include_default else []) + [Path(d) for d in dirs]
    for layer in layers:
        if not layer.is_dir():
            raise InputError([Issue("catalog directory not found", str(layer))])
        strays = sorted(
            p.name for p in layer.glob("*.csv") if p.stem not in TABLES
        )
        if strays:
            raise InputError([Issue(
                f"unknown catalog file(s) {', '.join(strays)}; expected any of "
                + ", ".join(f"{t}.csv" for t in TABLES), str(layer))])
    tables: dict[str, list[_Row]] = {}
    for table in TABLES:
        rows: list[_Row] = []
        for layer in layers:
            path = layer / f"{table}.csv"
            if path.is_file():
                rows = _overlay(rows, _read_rows(path, table), CATALOG_KEYS[table])
        if not rows:
            raise InputError([Issue(f"no {table}.csv in any catalog layer",
                                    str(layers[-1]) if layers else None)])
        tables[table] = rows
    frames = {t: _frame(_validate(rows, t), t) for t, rows in tables.items()}
    _cross_check(tables, frames)
    return Catalog(
        chips=frames["chips"].sort("chip"),
        offerings=_join_chip_attributes(frames["offerings"], frames["chips"]),
        speeds=frames["speeds"].sort("chip", "kind"),
        egress=frames["egress"].sort("provider"),
        dirs=tuple(str(p) for p in layers),
    )


@functools.cache
def _default_catalog() -> Catalog:
    return load_catalog([default_catalog_dir()], include_default=False)


def default_catalog() -> Catalog:
    """The bundled catalog (loaded once per process)."""
    return _default_catalog()


def list_offerings(
    catalog: Catalog,
    chip: Sequence[str] = (),
    provider: Sequence[str] = (),
    vendor: Sequence[str] = (),
    ecosystem: Sequence[str] = (),
    jurisdiction: Sequence[str] = (),
    pricing: str | None = None,
) -> pl.DataFrame:
    """Offerings matching every filter given (each filter matches any of its values)."""
    frame = catalog.offerings
    for column, values in (
        ("chip", chip),
        ("provider", provider),
        ("chip_vendor", vendor),
        ("ecosystem", ecosystem),
        ("jurisdiction", jurisdiction),
    ):
        if values:
            frame = frame.filter(pl.col(column).is_in(list(values)))
    if pricing is not None:
        frame = frame.filter(pl.col(pricing).is_not_null())
    return frame
