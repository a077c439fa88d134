"""A Problem: validated workloads, policy and horizon, with the catalog they refer to.

`load()` reads fleet files (YAML/JSON documents or CSV/Parquet workloads tables) and an
optional policy file, checks everything against the catalog and reports every problem
with its file, field and line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, get_args

import polars as pl
from pydantic import ValidationError

from placer.catalog import Catalog, default_catalog, load_catalog
from placer.errors import InputError, Issue, fail
from placer.io import (
    DOCUMENT_SUFFIXES,
    TABLE_SUFFIXES,
    Document,
    collection_paused,
    frame_document,
    issues_from_validation,
    raise_issues,
    read_document,
    read_table,
    table_columns,
    table_document,
)
from placer.schema import (
    WORKLOAD_FIELDS,
    CandidateRow,
    CandidatesFile,
    Dimension,
    Fleet,
    InferenceWorkload,
    OfferingCapacity,
    OfferingsFile,
    Policy,
    TrainingWorkload,
)

DEFAULT_HORIZON_DAYS = 30.0
FLEET_KEYS = frozenset(Fleet.model_fields)
POLICY_KEYS = frozenset(Policy.model_fields)
KNOWN_FIELDS = FLEET_KEYS | POLICY_KEYS | WORKLOAD_FIELDS | {
    "region", "tb", "min_providers", "max_fraction", "provider", "chip_vendor", "ecosystem",
    "chip", "offering", "jurisdiction", "price_basis",
}

AnyWorkload = TrainingWorkload | InferenceWorkload


@dataclass(frozen=True)
class Origin:
    """Where a workload was written, for messages."""

    file: str
    known_line: int | None
    index: int = 0  # position in the file's workloads list
    # where the file's lines are found only on demand (JSON: by parsing it again as YAML,
    # 10 s for 10,000 workloads), the file, to look its line up for a message
    doc: Document | None = field(default=None, repr=False, compare=False)

    @property
    def line(self) -> int | None:
        return self.known_line if self.doc is None else self.doc.line(("workloads", self.index))

    def field(self, name: str, attribute: str) -> str:
        """'workloads[3] (pretrain-70b).name' for messages."""
        return f"workloads[{self.index}] ({name}).{attribute}"


@dataclass(frozen=True)
class Problem:
    """Everything a solve needs. Build it with `load()` or `problem_from_dict()`."""

    workloads: tuple[AnyWorkload, ...]
    policy: Policy
    horizon_days: float
    catalog: Catalog
    origins: tuple[Origin, ...] = field(default=(), compare=False)

    def replace(self, **changes: Any) -> Problem:
        """A copy with some fields changed (scenarios build on this)."""
        return replace(self, **changes)

    def summary(self) -> str:
        """'42 workloads (30 training, 12 inference), horizon 30 days, on_demand'."""
        training = sum(w.kind == "training" for w in self.workloads)
        inference = len(self.workloads) - training
        parts = [
            f"{len(self.workloads)} workloads ({training} training, {inference} inference)",
            f"horizon {self.horizon_days:g} days",
            f"pricing {self.policy.pricing}",
        ]
        caps = [f"{k} {v:g}" for k, v in self.policy.max_share if v is not None]
        if caps:
            parts.append("max share " + ", ".join(caps))
        return ", ".join(parts)


def _catalog(catalog: Catalog | str | Path | Sequence[str | Path] | None) -> Catalog:
    if catalog is None:
        return default_catalog()
    if isinstance(catalog, Catalog):
        return catalog
    if isinstance(catalog, str | Path):
        return load_catalog([catalog])
    return load_catalog(list(catalog))


def _read(path: Path) -> Document:
    suffix = path.suffix.lower()
    if suffix in TABLE_SUFFIXES:
        return table_document(path, "workloads", list_fields=("runs_on", "residency"))
    if suffix in DOCUMENT_SUFFIXES:
        return read_document(path)
    raise fail(
        f"unsupported file type '{suffix or '(none)'}'; use "
        + ", ".join(DOCUMENT_SUFFIXES + TABLE_SUFFIXES),
        file=str(path),
    )


def _workload_label(doc: Document):
    def label(loc: tuple[str | int, ...]) -> str | None:
        if len(loc) == 2 and loc[0] == "workloads" and isinstance(loc[1], int):
            items = doc.data.get("workloads") if isinstance(doc.data, dict) else None
            if isinstance(items, list) and loc[1] < len(items) and isinstance(items[loc[1]], dict):
                name = items[loc[1]].get("name")
                return str(name) if name is not None else None
        return None

    return label


def _validate_fleet(doc: Document, catalog: Catalog) -> Fleet:
    data = doc.data
    if data is None:
        raise fail("empty file: expected workloads, policy or horizon_days", file=doc.file)
    if not isinstance(data, dict):
        raise fail(
            f"expected a mapping with workloads, policy or horizon_days, got a "
            f"{type(data).__name__}",
            file=doc.file, line=doc.line(()),
        )
    try:
        return Fleet.model_validate(data, context={"vocab": catalog.vocab})
    except ValidationError as exc:
        raise_issues(issues_from_validation(exc, doc, known_fields=KNOWN_FIELDS,
                                            label=_workload_label(doc)))
        raise


def _validate_policy_file(doc: Document, catalog: Catalog) -> Policy:
    data = doc.data
    prefix: tuple[str, ...] = ()
    if isinstance(data, dict) and set(data) == {"policy"}:
        data, prefix = data["policy"], ("policy",)
    if not isinstance(data, dict):
        raise fail("expected a mapping of policy fields (pricing, max_share, ...)",
                   file=doc.file, line=doc.line(()))
    try:
        return Policy.model_validate(data, context={"vocab": catalog.vocab})
    except ValidationError as exc:
        raise_issues(issues_from_validation(exc, doc, prefix, known_fields=KNOWN_FIELDS))
        raise


def _cross_checks(workloads: list[AnyWorkload], origins: list[Origin]) -> None:
    """Rules that span workloads (and files): unique names, one port price per codebase."""
    issues: list[Issue] = []
    first: dict[str, Origin] = {}
    for workload, origin in zip(workloads, origins, strict=True):
        if workload.name in first:
            prior = first[workload.name]
            where = f"{prior.file}:{prior.line}" if prior.line else prior.file
            issues.append(Issue(f"duplicate workload name '{workload.name}' (first at {where})",
                                origin.file, origin.field(workload.name, "name"), origin.line))
        else:
            first[workload.name] = origin
    ports: dict[tuple[str, str], tuple[float, str]] = {}
    for workload, origin in zip(workloads, origins, strict=True):
        codebase = workload.codebase or workload.name
        for eco, usd in workload.port_usd.items():
            known = ports.setdefault((codebase, eco), (usd, workload.name))
            if known[0] != usd:
                issues.append(Issue(
                    f"codebase '{codebase}' has two prices for porting to {eco}: "
                    f"{known[0]:g} ('{known[1]}') and {usd:g}; one port serves the whole "
                    "codebase, so give the same port_usd", origin.file,
                    origin.field(workload.name, f"port_usd.{eco}"), origin.line))
    raise_issues(issues)


def build_problem(
    fleets: Sequence[tuple[Fleet, Document]],
    catalog: Catalog,
    policy: tuple[Policy, str] | None = None,
) -> Problem:
    """Combine validated fleet files (and a policy file) into one Problem."""
    workloads: list[AnyWorkload] = []
    origins: list[Origin] = []
    horizon: tuple[float, str] | None = None
    file_policy: tuple[Policy, str] | None = None
    for fleet, doc in fleets:
        for i, workload in enumerate(fleet.workloads):
            workloads.append(workload)
            origins.append(Origin(doc.file, known_line=None, index=i, doc=doc)
                           if doc.lines_on_demand
                           else Origin(doc.file, doc.line(("workloads", i)), index=i))
        if fleet.horizon_days is not None:
            if horizon is not None and horizon[0] != fleet.horizon_days:
                raise fail(f"horizon_days {fleet.horizon_days:g} differs from "
                           f"{horizon[0]:g} in {horizon[1]}", file=doc.file,
                           field="horizon_days", line=doc.line(("horizon_days",)))
            horizon = (fleet.horizon_days, doc.file)
        if fleet.policy is not None:
            if file_policy is not None and policy is None:
                raise fail(f"a policy is also given in {file_policy[1]}; keep one, or pass "
                           "--policy to choose", file=doc.file, field="policy",
                           line=doc.line(("policy",)))
            file_policy = (fleet.policy, doc.file)
    _cross_checks(workloads, origins)
    chosen = policy or file_policy
    return Problem(
        workloads=tuple(workloads),
        policy=chosen[0] if chosen else Policy(),
        horizon_days=horizon[0] if horizon else DEFAULT_HORIZON_DAYS,
        catalog=catalog,
        origins=tuple(origins),
    )


@collection_paused()
def load(
    *paths: str | Path,
    policy: str | Path | None = None,
    catalog: Catalog | str | Path | Sequence[str | Path] | None = None,
) -> Problem:
    """Read fleet files (and optionally a policy file) into a validated Problem.

    Raises InputError listing every problem found, each with file, field and line.
    """
    if not paths:
        raise InputError("no fleet file given")
    cat = _catalog(catalog)
    fleets: list[tuple[Fleet, Document]] = []
    issues: list[Issue] = []
    for path in paths:
        try:
            doc = _read(Path(path))
            fleets.append((_validate_fleet(doc, cat), doc))
        except InputError as exc:
            issues += exc.issues
    policy_pair: tuple[Policy, str] | None = None
    if policy is not None:
        try:
            doc = read_document(policy)
            policy_pair = (_validate_policy_file(doc, cat), doc.file)
        except InputError as exc:
            issues += exc.issues
    raise_issues(issues)
    return build_problem(fleets, cat, policy_pair)


@collection_paused()
def problem_from_dict(
    data: dict[str, Any],
    catalog: Catalog | str | Path | Sequence[str | Path] | None = None,
    name: str = "<dict>",
) -> Problem:
    """Validate plain data shaped like a fleet file (for notebooks and scripts)."""
    return problem_from_document(Document(data, name, {}), catalog)


@collection_paused()
def problem_from_document(
    doc: Document,
    catalog: Catalog | str | Path | Sequence[str | Path] | None = None,
) -> Problem:
    """Validate a fleet file already read (placer.io.read_document): errors name its
    file, field and line."""
    cat = _catalog(catalog)
    return build_problem([(_validate_fleet(doc, cat), doc)], cat)


# The candidates route's two tables as candidate_tables returns them
CANDIDATE_SCHEMA = {"workload": pl.String, "offering": pl.String, "chips": pl.Int64,
                    "cost_usd": pl.Float64, "provider": pl.String, "chip_vendor": pl.String,
                    "ecosystem": pl.String}
OFFERING_SCHEMA = {"offering": pl.String, "capacity_chips": pl.Int64}
# a candidates table's optional columns, each given on every row or on none
CANDIDATE_DIMENSIONS: tuple[str, ...] = get_args(Dimension)


def candidate_tables(
    candidates: pl.DataFrame | str | Path,
    offerings: pl.DataFrame | str | Path,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Validate the candidates route's two tables (frames or CSV/Parquet paths).

    Raises InputError naming file, row line and field for every bad row, unknown
    offerings and duplicates.
    """
    cand_frame, cand_file = _table_frame(candidates, "candidates")
    offer_frame, offer_file = _table_frame(offerings, "offerings")
    clean = _clean_candidate_tables(cand_frame, offer_frame)
    if clean is not None:
        return clean
    # some row may break a rule: row by row, to name each
    return _candidate_tables_by_rows(frame_document(cand_frame, cand_file, "candidates"),
                                     frame_document(offer_frame, offer_file, "offerings"))


def _candidate_tables_by_rows(cand_doc: Document, offer_doc: Document
                              ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """candidate_tables, each row validated by its pydantic model, every issue named."""
    issues: list[Issue] = []
    parsed: dict[str, Any] = {}
    for doc, model, key in ((cand_doc, CandidatesFile, "candidates"),
                            (offer_doc, OfferingsFile, "offerings")):
        try:
            parsed[key] = getattr(model.model_validate(doc.data), key)
        except ValidationError as exc:
            issues += issues_from_validation(exc, doc, known_fields=frozenset(
                CandidateRow.model_fields) | frozenset(OfferingCapacity.model_fields))
    raise_issues(issues)
    offers = pl.DataFrame([o.model_dump() for o in parsed["offerings"]], schema=OFFERING_SCHEMA)
    seen: dict[str, int] = {}
    for i, name in enumerate(offers["offering"].to_list()):
        if name in seen:
            issues.append(Issue(f"offering '{name}' appears twice (also row {seen[name] + 1})",
                                offer_doc.file, f"offerings[{i}].offering", i + 2))
        seen.setdefault(name, i)
    rows = parsed["candidates"]
    present = {c for c in CANDIDATE_DIMENSIONS if any(getattr(r, c) is not None for r in rows)}
    pairs: dict[tuple[str, str], int] = {}
    for i, row in enumerate(rows):
        where = (cand_doc.file, i + 2)
        if row.offering not in seen:
            issues.append(Issue(f"unknown offering '{row.offering}' (not in the offerings "
                                "table)", where[0], f"candidates[{i}].offering", where[1]))
        if (row.workload, row.offering) in pairs:
            issues.append(Issue(f"workload '{row.workload}' lists offering '{row.offering}' "
                                f"twice (also row {pairs[(row.workload, row.offering)] + 1})",
                                where[0], f"candidates[{i}]", where[1]))
        pairs.setdefault((row.workload, row.offering), i)
        for column in present:
            if getattr(row, column) is None:
                issues.append(Issue(f"{column} is empty here but given on other rows",
                                    where[0], f"candidates[{i}].{column}", where[1]))
    raise_issues(issues)
    table = pl.DataFrame([r.model_dump() for r in rows], schema=CANDIDATE_SCHEMA).select(
        "workload", "offering", "chips", "cost_usd", *sorted(present))
    return table, offers


def _table_frame(source: pl.DataFrame | str | Path, key: str) -> tuple[pl.DataFrame, str]:
    """A table of the candidates route and the file it is named by in messages."""
    if isinstance(source, pl.DataFrame):
        return source, f"<{key} frame>"
    path = Path(source)
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise fail(f"the {key} table must be CSV or Parquet", file=str(path))
    return read_table(path), str(path)


def _clean_candidate_tables(candidates: pl.DataFrame, offerings: pl.DataFrame
                            ) -> tuple[pl.DataFrame, pl.DataFrame] | None:
    """candidate_tables' two tables, validated a column at a time (io.table_columns), or
    None where any row would raise an issue there."""
    offer_columns = table_columns(offerings, OfferingCapacity)
    cand_columns = table_columns(candidates, CandidateRow)
    if offer_columns is None or cand_columns is None:
        return None
    offers = pl.DataFrame(offer_columns, schema=OFFERING_SCHEMA)
    table = pl.DataFrame(cand_columns, schema={
        name: dtype for name, dtype in CANDIDATE_SCHEMA.items() if name in cand_columns})
    present = sorted(c for c in CANDIDATE_DIMENSIONS
                     if c in table.columns and table[c].null_count() < table.height)
    if offers["offering"].is_duplicated().any() \
            or not table["offering"].is_in(offers["offering"].implode()).all() \
            or table.select(pl.struct("workload", "offering").is_duplicated().any()).item() \
            or any(table[c].null_count() for c in present):
        return None
    return table.select("workload", "offering", "chips", "cost_usd", *present), offers


def candidate_policy(policy: Policy | str | Path | None, table: pl.DataFrame,
                     file: str | None = None) -> Policy:
    """The policy for the candidates route: caps need the column they cap; allow/deny
    lists need the catalog, which this route does not use."""
    if policy is None:
        return Policy()
    if not isinstance(policy, Policy):
        doc = read_document(policy)
        file = doc.file
        data = doc.data
        if isinstance(data, dict) and set(data) == {"policy"}:
            data = data["policy"]
        try:
            policy = Policy.model_validate(data)
        except ValidationError as exc:
            raise_issues(issues_from_validation(exc, doc, known_fields=KNOWN_FIELDS))
            raise
    issues = []
    for dim, share in policy.max_share:
        if share is not None and dim not in table.columns:
            issues.append(Issue(f"max_share.{dim} needs a {dim} column in the candidates table",
                                file, f"max_share.{dim}"))
    if policy.min_providers is not None and "provider" not in table.columns:
        issues.append(Issue("min_providers needs a provider column in the candidates table",
                            file, "min_providers"))
    for name in ("allow", "deny"):
        if getattr(policy, name) is not None:
            issues.append(Issue(f"{name} lists filter catalog offerings; the candidates route "
                                "solves exactly the rows given, so leave them out", file, name))
    if policy.carbon_usd_per_tonne:
        issues.append(Issue("carbon_usd_per_tonne needs the catalog's carbon figures; put the "
                            "carbon price into cost_usd instead", file, "carbon_usd_per_tonne"))
    raise_issues(issues)
    return policy
