"""Every file format placer reads or writes, as pydantic models.

Catalog rows (chips, offerings, speeds, egress), the fleet file (workloads, policy,
horizon) and the plan document. Rules that need the catalog (is this chip known? is
this residency code a jurisdiction, a country or a region?) read it from the
validation context: ``Model.model_validate(data, context={"vocab": catalog.vocab})``.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from placer.geo import ISO_COUNTRIES, country_jurisdiction

# ---------------------------------------------------------------------------
# Shared types

Kind = Literal["training", "inference"]
Pricing = Literal["on_demand", "spot", "commit_1y", "commit_3y"]
PRICINGS: tuple[Pricing, ...] = ("on_demand", "spot", "commit_1y", "commit_3y")
PriceBasis = Literal["list", "capacity_block", "estimate"]
Dimension = Literal["provider", "chip_vendor", "ecosystem"]
DIMENSIONS: tuple[Dimension, ...] = ("provider", "chip_vendor", "ecosystem")

# Upper bounds keep every money figure representable as int64 cents in the solver.
MAX_USD = 1e12
MAX_CHIPS = 1e7
MAX_DAYS = 3650

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=64)]
Text = Annotated[str, Field(min_length=1, max_length=2000)]
AsOf = Annotated[
    str,
    Field(
        pattern=r"^(<=|>=|~)?\d{4}(-\d{2}(-\d{2})?)?$",
        description="date of the figure: YYYY, YYYY-MM or YYYY-MM-DD; '<=' when only a "
        "latest possible date is known",
    ),
]
Share = Annotated[float, Field(gt=0, le=1)]
Usd = Annotated[float, Field(ge=0, le=MAX_USD)]
PricePerChipHour = Annotated[float, Field(gt=0, le=10_000)]
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")]


class Strict(BaseModel):
    """Unknown fields, NaN and infinity are errors everywhere."""

    model_config = ConfigDict(
        extra="forbid", allow_inf_nan=False, str_strip_whitespace=True, coerce_numbers_to_str=True
    )


def _vocab(info: ValidationInfo) -> Vocabulary | None:
    return (info.context or {}).get("vocab")


def _unknown(kind: str, value: str, known: set[str] | frozenset[str]) -> ValueError:
    """'unknown chip 'h10'; known: a100, h100, ...' with a close match first when there is one."""
    import difflib

    close = difflib.get_close_matches(value, sorted(known), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    listing = ", ".join(sorted(known)) if len(known) <= 40 else f"{len(known)} known"
    return ValueError(f"unknown {kind} '{value}'{hint} (known: {listing})")


class Vocabulary(BaseModel):
    """The names a catalog defines; fleet files are checked against it."""

    model_config = ConfigDict(frozen=True)

    chips: frozenset[str]
    ecosystems: frozenset[str]
    chip_vendors: frozenset[str]
    providers: frozenset[str]
    regions: frozenset[str]  # "provider/region"
    offerings: frozenset[str]  # "provider/region/chip"
    jurisdictions: frozenset[str]
    countries: frozenset[str]
    egress_providers: frozenset[str]


# ---------------------------------------------------------------------------
# Catalog rows (models/*.csv)


class Chip(Strict):
    chip: Slug
    name: Text
    vendor: Slug
    ecosystem: Slug
    bf16_tflops: Annotated[float, Field(gt=0)] | None = None
    fp8_tflops: Annotated[float, Field(gt=0)] | None = None
    hbm_gb: Annotated[float, Field(gt=0)]
    tdp_w: Annotated[float, Field(gt=0, le=100_000)]
    tdp_basis: Literal["published", "estimate"]
    source: Text
    as_of: AsOf
    notes: str = ""


class Offering(Strict):
    provider: Slug
    region: Slug
    chip: Slug
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
    jurisdiction: Annotated[str, Field(pattern=r"^[A-Z]{2,8}$")]
    provider_home: Annotated[str, Field(pattern=r"^[A-Z]{2,8}$")]
    instance: Text
    chips_per_instance: Annotated[int, Field(ge=1, le=4096)]
    on_demand: PricePerChipHour | None = None
    spot: PricePerChipHour | None = None
    commit_1y: PricePerChipHour | None = None
    commit_3y: PricePerChipHour | None = None
    price_basis: PriceBasis
    capacity_chips: Annotated[int, Field(ge=0, le=int(MAX_CHIPS))]
    capacity_basis: Literal["default", "published", "user"] = "user"
    grid_gco2_kwh: Annotated[float, Field(ge=0, le=2000)]
    grid_source: Text
    source: Text
    as_of: AsOf
    notes: str = ""

    @field_validator("country")
    @classmethod
    def _iso_country(cls, v: str) -> str:
        if v not in ISO_COUNTRIES:
            raise ValueError(f"'{v}' is not an ISO 3166-1 alpha-2 country code")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Offering:
        expected = country_jurisdiction(self.country)
        if self.jurisdiction != expected:
            raise ValueError(
                f"jurisdiction '{self.jurisdiction}' does not match country {self.country} "
                f"(expected '{expected}')"
            )
        if all(getattr(self, p) is None for p in PRICINGS):
            raise ValueError("no price in any of on_demand, spot, commit_1y, commit_3y")
        return self


class Speed(Strict):
    chip: Slug
    kind: Kind
    speed: Annotated[float, Field(gt=0, le=100)]
    basis: Literal["measured", "vendor-claim", "peak-ratio", "estimate"]
    source: Text
    as_of: AsOf
    notes: str = ""


class Egress(Strict):
    provider: Slug
    internet_usd_per_gb: Annotated[float, Field(ge=0, le=10)]
    inter_region_usd_per_gb: Annotated[float, Field(ge=0, le=10)]
    basis: Literal["published", "estimate"]
    source: Text
    as_of: AsOf
    notes: str = ""


CATALOG_ROWS: dict[str, type[Strict]] = {
    "chips": Chip,
    "offerings": Offering,
    "speeds": Speed,
    "egress": Egress,
}
CATALOG_KEYS: dict[str, tuple[str, ...]] = {
    "chips": ("chip",),
    "offerings": ("provider", "region", "chip"),
    "speeds": ("chip", "kind"),
    "egress": ("provider",),
}


# ---------------------------------------------------------------------------
# Fleet file: workloads, policy, horizon


class DataLocation(Strict):
    """Where a workload's data lives; running anywhere else pays egress to move it."""

    region: Annotated[str, Field(description="region id 'provider/region', e.g. aws/us-east-1")]
    tb: Annotated[float, Field(ge=0, le=1e6, description="terabytes moved to the placement")]

    @field_validator("region")
    @classmethod
    def _region(cls, v: str, info: ValidationInfo) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9._-]*/[a-z0-9][a-z0-9._-]*", v):
            raise ValueError(f"'{v}' is not a region id of the form provider/region")
        vocab = _vocab(info)
        provider = v.split("/")[0]
        if vocab is not None and provider not in vocab.egress_providers:
            known = ", ".join(sorted(vocab.egress_providers))
            raise ValueError(f"provider '{provider}' has no egress rates in the catalog "
                             f"(egress.csv knows: {known})")
        return v


class Spread(Strict):
    """Serve an inference workload from several providers."""

    min_providers: Annotated[int, Field(ge=1, le=100)] = 1
    max_fraction: Share = 1.0


class _WorkloadCommon(Strict):
    name: Name
    runs_on: Annotated[list[Slug], Field(min_length=1)] = Field(
        default_factory=lambda: ["cuda"],
        description="software ecosystems it runs on today",
    )
    port_usd: dict[str, Usd] = Field(
        default_factory=dict,
        description="one-time cost to make it run on another ecosystem",
    )
    codebase: Name | None = Field(
        default=None, description="workloads sharing a codebase pay each port once"
    )
    residency: Annotated[list[str], Field(min_length=1)] | None = Field(
        default=None,
        description="allowed jurisdictions (EU), ISO countries (DE) or region ids (aws/eu-west-1)",
    )
    sovereign: bool = Field(
        default=False,
        description="also require a provider headquartered in an allowed jurisdiction",
    )
    data: DataLocation | None = None
    required: bool = True
    value_usd: Usd | None = Field(
        default=None, description="for an optional workload: the cost of leaving it out"
    )
    speed: dict[str, Annotated[float, Field(gt=0, le=100)]] = Field(
        default_factory=dict,
        description="per-chip speed overrides relative to H100 SXM = 1.0",
    )
    memory_gb: Annotated[float, Field(gt=0, le=1e7)] | None = Field(
        default=None,
        description="training: total model state the gang's HBM must hold; "
        "inference: memory one instance must hold (one replica)",
    )

    @field_validator("runs_on")
    @classmethod
    def _known_runs_on(cls, v: list[str], info: ValidationInfo) -> list[str]:
        vocab = _vocab(info)
        for eco in v:
            if vocab is not None and eco not in vocab.ecosystems:
                raise _unknown("ecosystem", eco, vocab.ecosystems)
        if len(set(v)) != len(v):
            raise ValueError("lists an ecosystem twice")
        return v

    @field_validator("port_usd")
    @classmethod
    def _known_ports(cls, v: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        vocab = _vocab(info)
        for eco in v:
            if vocab is not None and eco not in vocab.ecosystems:
                raise _unknown("ecosystem", eco, vocab.ecosystems)
        return v

    @field_validator("speed")
    @classmethod
    def _known_speed_chips(cls, v: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        vocab = _vocab(info)
        for chip in v:
            if vocab is not None and chip not in vocab.chips:
                raise _unknown("chip", chip, vocab.chips)
        return v

    @field_validator("residency")
    @classmethod
    def _known_residency(cls, v: list[str] | None, info: ValidationInfo) -> list[str] | None:
        vocab = _vocab(info)
        if v is None or vocab is None:
            return v
        for code in v:
            if "/" in code:
                if code not in vocab.regions:
                    raise _unknown("region id", code, vocab.regions)
            elif code not in vocab.jurisdictions and code not in ISO_COUNTRIES:
                raise ValueError(
                    f"'{code}' is neither a jurisdiction (e.g. EU, US, UK), an ISO country "
                    "code (e.g. DE) nor a region id (e.g. aws/eu-west-1)"
                )
        return v

    @model_validator(mode="after")
    def _coherent(self) -> _WorkloadCommon:
        both = sorted(set(self.port_usd) & set(self.runs_on))
        if both:
            raise ValueError(f"port_usd names {', '.join(both)}, which runs_on already lists")
        if self.sovereign and not self.residency:
            raise ValueError("sovereign: true needs a residency list to take jurisdictions from")
        if not self.required and self.value_usd is None:
            raise ValueError("an optional workload (required: false) needs value_usd, "
                             "the cost of leaving it out")
        if self.required and self.value_usd is not None:
            raise ValueError("value_usd only applies to optional workloads (required: false)")
        return self


class TrainingWorkload(_WorkloadCommon):
    """A gang: runs whole on one offering."""

    kind: Literal["training"]
    chip_hours: Annotated[float, Field(gt=0, le=1e10)] = Field(
        description="work in reference-chip (H100 SXM) hours"
    )
    deadline_days: Annotated[float, Field(gt=0, le=MAX_DAYS)] | None = None
    min_chips: Annotated[int, Field(ge=1, le=int(MAX_CHIPS))] | None = None


class InferenceWorkload(_WorkloadCommon):
    """Serving: reference chips needed around the clock; may split across offerings."""

    kind: Literal["inference"]
    chips: Annotated[float, Field(gt=0, le=MAX_CHIPS)] = Field(
        description="reference chips (H100 SXM) needed around the clock"
    )
    spread: Spread | None = None


Workload = Annotated[TrainingWorkload | InferenceWorkload, Field(discriminator="kind")]
WORKLOAD_FIELDS: frozenset[str] = frozenset(
    set(TrainingWorkload.model_fields) | set(InferenceWorkload.model_fields)
)


class ShareCaps(Strict):
    """Largest share of compute spend any one provider / chip vendor / ecosystem may take."""

    provider: Share | None = None
    chip_vendor: Share | None = None
    ecosystem: Share | None = None

    def by_dimension(self) -> dict[str, float | None]:
        """Each dimension's cap (None: uncapped), as a plan's shares show them."""
        return {dim: getattr(self, dim) for dim in DIMENSIONS}


class Selector(Strict):
    """Offerings picked by attribute; used by allow/deny lists and scenario overlays."""

    provider: list[str] | None = None
    region: list[str] | None = None
    offering: list[str] | None = None
    chip: list[str] | None = None
    chip_vendor: list[str] | None = None
    ecosystem: list[str] | None = None
    jurisdiction: list[str] | None = None
    price_basis: list[PriceBasis] | None = None

    @model_validator(mode="after")
    def _known_values(self, info: ValidationInfo) -> Selector:
        vocab = _vocab(info)
        if vocab is None:
            return self
        known = {
            "provider": vocab.providers,
            "region": vocab.regions,
            "offering": vocab.offerings,
            "chip": vocab.chips,
            "chip_vendor": vocab.chip_vendors,
            "ecosystem": vocab.ecosystems,
            "jurisdiction": vocab.jurisdictions,
        }
        for attr, names in known.items():
            for value in getattr(self, attr) or []:
                if value not in names:
                    raise _unknown(attr.replace("_", " "), value, names)
        return self

    def items(self) -> list[tuple[str, list[str]]]:
        """The attributes that are set, with their values."""
        return [(k, list(v)) for k, v in self if v is not None]


class Policy(Strict):
    pricing: Pricing = "on_demand"
    max_share: ShareCaps = Field(default_factory=ShareCaps)
    min_providers: Annotated[int, Field(ge=1, le=100)] | None = None
    budget_usd: Annotated[float, Field(gt=0, le=MAX_USD)] | None = Field(
        default=None, description="cash spend limit: compute + porting + egress"
    )
    carbon_usd_per_tonne: Annotated[float, Field(ge=0, le=100_000)] = 0.0
    allow: Selector | None = None
    deny: Selector | None = None

    def with_cap(self, dim: str, share: float | None) -> Policy:
        """This policy with one dimension's share cap at `share` (None: uncapped)."""
        return self.model_copy(update={"max_share": self.max_share.model_copy(
            update={dim: share})})


class Fleet(Strict):
    """The fleet file: any of workloads, policy and horizon_days.

    Top-level keys starting with `x-` are ignored, so they can hold YAML anchors.
    """

    model_config = ConfigDict(json_schema_extra={"patternProperties": {"^x-": {}}})

    horizon_days: Annotated[float, Field(gt=0, le=MAX_DAYS)] | None = Field(
        default=None, description="planning horizon in days (30 when no file sets it)"
    )
    policy: Policy | None = None
    workloads: list[Workload] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _drop_extension_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not str(k).startswith("x-")}
        return data


class PolicyFile(Policy):
    """A policy in its own file (`--policy`): the policy fields at the top level."""


# ---------------------------------------------------------------------------
# Scenarios: a base problem and overlays, each applied to the base alone


class PriceFactor(Strict):
    """Scale the prices of matching offerings (every pricing column)."""

    chip: str | None = None
    provider: str | None = None
    offering: str | None = None
    region: str | None = None
    chip_vendor: str | None = None
    factor: Annotated[float, Field(gt=0, le=100)]

    @model_validator(mode="after")
    def _one_target(self) -> PriceFactor:
        targets = [k for k in ("chip", "provider", "offering", "region", "chip_vendor")
                   if getattr(self, k) is not None]
        if len(targets) != 1:
            raise ValueError("name exactly one of chip, provider, offering, region, "
                             "chip_vendor, with a factor")
        return self


class WorkloadOverlay(Strict):
    """Fields set on every workload (e.g. residency [EU] with sovereign: true)."""

    residency: Annotated[list[str], Field(min_length=1)] | None = None
    sovereign: bool | None = None
    runs_on: Annotated[list[Slug], Field(min_length=1)] | None = None


class Scenario(Strict):
    name: Name
    only: Selector | None = Field(default=None,
                                  description="keep only offerings matching every attribute")
    deny: Selector | None = Field(default=None, description="remove matching offerings")
    policy: dict[str, Any] | None = Field(default=None,
                                          description="merged into the base policy")
    price: list[PriceFactor] | None = None
    workloads: WorkloadOverlay | None = None
    horizon_days: Annotated[float, Field(gt=0, le=MAX_DAYS)] | None = None

    @field_validator("name")
    @classmethod
    def _not_base(cls, v: str) -> str:
        if v == "base":
            raise ValueError("'base' names the base problem itself; pick another name")
        return v


class ScenariosFile(Strict):
    base: str | list[str] = Field(description="fleet file(s), relative to this file")
    policy: str | None = Field(default=None, description="policy file for the base")
    catalog: str | list[str] | None = Field(default=None,
                                            description="catalog folder(s) for every scenario")
    scenarios: Annotated[list[Scenario], Field(min_length=1)]


# ---------------------------------------------------------------------------
# The candidates route: planners who bring their own cost model


class CandidateRow(Strict):
    """One choice: the workload runs whole on this offering, holding `chips`, for cost_usd."""

    workload: Name
    offering: Name
    chips: Annotated[int, Field(ge=1, le=int(MAX_CHIPS))]
    cost_usd: Usd
    provider: Name | None = None
    chip_vendor: Name | None = None
    ecosystem: Name | None = None


class CandidatesFile(Strict):
    candidates: list[CandidateRow]


class OfferingCapacity(Strict):
    offering: Name
    capacity_chips: Annotated[int, Field(ge=0, le=int(MAX_CHIPS))]


class OfferingsFile(Strict):
    offerings: list[OfferingCapacity]


# ---------------------------------------------------------------------------
# The plan document (placer solve --format json; read back by placer check)


# unknown: no plan found within the time limit, and none proven impossible either
PlanStatus = Literal["optimal", "feasible", "infeasible", "unknown"]


class CostBreakdown(Strict):
    compute_usd: float
    porting_usd: float
    egress_usd: float
    carbon_usd: float
    unplaced_usd: float = Field(description="value_usd of optional workloads left out")
    carbon_tonnes: float = Field(description="emissions, always reported (priced or not)")


class Assignment(Strict):
    workload: str
    offering: str
    provider: str
    region: str
    jurisdiction: str
    chip: str
    chip_vendor: str
    ecosystem: str
    kind: Kind
    instances: int
    chips: int
    hours: float | None = Field(description="wall-clock hours (None when not known)")
    compute_usd: float
    egress_usd: float
    carbon_tonnes: float
    carbon_usd: float
    usd_per_chip_hour: float | None
    price_basis: PriceBasis
    reference_chips: float | None = Field(description="inference: H100-equivalents served")


class Port(Strict):
    codebase: str
    ecosystem: str
    usd: float
    workloads: list[str]


class Unplaced(Strict):
    workload: str
    value_usd: float
    reason: str


class ShareRow(Strict):
    key: str
    spend_usd: float
    share: float
    cap: float | None = None


class DimensionShares(Strict):
    rows: list[ShareRow]
    hhi: float = Field(description="Herfindahl-Hirschman index of the shares, 0..10000")


# SolverInfo's wall-clock fields: all that may differ between two runs of the same input
# and seed (when `deterministic`).
TIMINGS = ("time_s", "candidates_s", "build_s", "warm_start_s", "lagrangian_s", "columns_s",
           "first_plan_s", "core_s")


class PartInfo(Strict):
    """One part of a fleet solved in parts: what it was given and what it found, so that
    a part that lost its plan (its LP or its master out of time) shows which."""

    part: int = Field(description="in the order the parts started (a retry of parts that "
                      "found no plan is a part of its own)")
    workloads: int
    time_limit_s: float = Field(description="the wall-clock seconds it was given")
    time_s: float
    total_usd: float | None = Field(description="its plan's cost (None: it found none); "
                                    "ports bought by earlier parts are free to it")
    lp_bound_usd: float | None = Field(description="its LP's bound (None: its LP did not "
                                       "finish in its time)")
    columns_rounds: int
    columns_perturbed_rounds: int = Field(default=0, description="its rounds at prices near "
                                          "its master's last ones")
    master_status: str | None
    stop_reason: str


class PortRef(Strict):
    codebase: str
    ecosystem: str


class PortInPart(PortRef):
    """A port column generation's master LP buys in part: its bound pays that share of
    the port, which no plan can do (placer.port_tree)."""

    usd: float
    share: float = Field(description="the share of the port the LP buys, strictly between "
                         "0 and 1")


class BranchNode(Strict):
    """A node of the branching on ports (placer.port_tree): column generation's master
    with some ports bought and some forbidden, and the bound its rounds reached. Every
    plan keeps one side of each branching, so the lowest leaf's bound is the fleet's."""

    bought: list[PortRef]
    forbidden: list[PortRef]
    bound_usd: float | None = Field(description="no plan with these ports bought and "
                                    "forbidden costs less")
    rounds: int = Field(description="rounds of column generation at this node")
    time_s: float
    deterministic: bool = Field(description="false where the wall clock ended its rounds")
    finished: bool = Field(True, description="false where its rounds stopped once its bound "
                           "passed another leaf's, or the clock cut them (it was not "
                           "branched on): a bound still, below what its rounds would have "
                           "reached")


class SolverInfo(Strict):
    engine: str
    status: str = Field(description="CP-SAT's own status name (INFEASIBLE also where the "
                        "LP relaxation proved it: infeasible_by)")
    stop_reason: str = Field(description="optimal, gap limit, time limit, deterministic "
                             "time limit, interrupted, infeasible, no candidate, or core "
                             "searched (only the core of a very large model was searched)")
    infeasible_by: str | None = Field(
        default=None, description="what proved no plan keeps every rule: cp-sat (its "
        "search), lp relaxation (HiGHS proved the LP relaxation has no solution, before "
        "any search), policy (a share cap below one over the number of groups the "
        "candidates fall in, or min_providers above their providers), capacity (the LP "
        "of capacity and demand alone has no solution), spend (where a fleet's parts "
        "found no plan: the LP of capacity, the share caps and the budget has no "
        "solution), or cp-sat presolve (where a fleet's parts found no plan)")
    deterministic: bool = Field(description="whether the same input and seed reproduce it")
    time_s: float = Field(description="wall-clock seconds, candidates to plan")
    candidates_s: float
    build_s: float
    warm_start_s: float = 0.0
    first_plan_searches: int = Field(default=0, description="searches of the whole model "
                                     "for a first plan, where the warm start and column "
                                     "generation found none that keeps every rule (0: "
                                     "none ran); each next one with the next seed")
    first_plan_s: float = 0.0
    core_rows: int = Field(default=0, description="candidate rows of the core searched "
                           "first (0: none was)")
    core_s: float = 0.0
    core_searches: int = Field(default=0, description="searches of the core: 1, or how many "
                               "neighbourhoods of a large core were re-solved")
    parts: int = Field(default=0, description="parts the fleet was solved in, one after "
                       "another or two side by side (0: solved whole)")
    part_retries: int = Field(default=0, description="batches of parts whose shares of "
                              "capacity and budget left some of them no plan, those then "
                              "solved again together with one share more")
    part_plans: list[PartInfo] = Field(default_factory=list, description="each part's "
                                       "time, LP, rounds of columns, master and plan")
    part_workers_peak_mb: int | None = Field(
        default=None, description="peak resident memory of the worker processes that "
        "solved the parts side by side, summed (beside this process's own)")
    workers: int
    seed: int
    time_limit_s: float | None
    gap_limit: float | None
    money_scale: float = Field(description="solver units per USD (100 = cents)")
    variables: int
    constraints: int
    candidates: int
    deterministic_time: float = Field(default=0.0, description="CP-SAT's deterministic "
                                      "time, roughly seconds, over its searches; where a "
                                      "first plan was searched for (first_plan_searches), "
                                      "its last digits may differ between two runs: that "
                                      "search stops at its first plan while another "
                                      "worker's batch is cut where it is")
    lp_bound_usd: float | None = Field(default=None,
                                       description="bound from the LP relaxation")
    lagrangian_bound_usd: float | None = Field(
        default=None, description="bound from the Lagrangian decomposition at the LP's "
        "duals (pieces solved in integers)")
    lagrangian_s: float = 0.0
    columns_rounds: int = Field(default=0, description="rounds of column generation over "
                                "the Lagrangian pieces (0: none ran)")
    columns: int = Field(default=0, description="columns its master held at the end")
    columns_perturbed_rounds: int = Field(
        default=0, description="rounds at prices near the master's last ones, for columns "
        "its search in integers can combine")
    columns_across_caps: int = Field(
        default=0, description="columns from rounds at the share caps' prices scaled up "
        "and down, which its master's first search may also use")
    columns_s: float = Field(default=0.0, description="wall-clock seconds of column "
                             "generation and of its master in integers")
    columns_bound_usd: float | None = Field(
        default=None, description="the best Lagrangian bound column generation's prices "
        "gave")
    master_usd: float | None = Field(
        default=None, description="the plan column generation's master found in integers "
        "(the search went on from it when cheaper than the warm start)")
    master_status: str | None = Field(default=None,
                                      description="CP-SAT's status on that master")
    master_early_usd: float | None = Field(
        default=None, description="the plan a search of that master found beside the "
        "rounds, over the columns it had once they neared their bound (None: none ran, "
        "or it found none); the master's own search started from it when cheaper than "
        "the warm start")
    ports_in_part: list[PortInPart] = Field(
        default_factory=list, description="the ports column generation's master LP buys in "
        "part (before any branching on them)")
    branch_nodes: list[BranchNode] = Field(
        default_factory=list, description="the nodes, in order, where the fleet was branched "
        "on ports its master LP buys in part (placer.port_tree)")
    branch_stop_reason: str | None = Field(
        default=None, description="why the branching ended: gap limit, no port in part, "
        "time limit or stopped (None: none grew)")
    objective_units: int | None = None
    bound_units: int | None = None


class PlanDocument(Strict):
    status: PlanStatus
    total_usd: float | None
    bound_usd: float | None = Field(description=(
        "no plan costs less: the bound the gap is measured against; also where no plan "
        "was found in time (unknown); None where none exists (infeasible) or none is known"))
    gap: float | None = Field(description="(total - bound) / total")
    horizon_days: float
    pricing: Pricing
    cost: CostBreakdown | None
    assignments: list[Assignment]
    ports: list[Port]
    unplaced: list[Unplaced]
    shares: dict[Dimension, DimensionShares]
    estimated_prices: list[str] = Field(
        description="offerings used whose price is not a list price"
    )
    solver: SolverInfo
    explanation: list[str] = Field(default_factory=list)
    exit_costs: list[dict[str, Any]] | None = Field(
        default=None, description="with --exit-cost: re-solved cost without each provider "
        "and chip vendor")

    @model_validator(mode="after")
    def _finite(self) -> PlanDocument:
        for name in ("total_usd", "bound_usd", "gap"):
            v = getattr(self, name)
            if v is not None and not math.isfinite(v):
                raise ValueError(f"{name} is not finite")
        return self


def json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """JSON Schema for a file format (editors use it to validate as you type)."""
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
