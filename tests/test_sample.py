"""Prices from a sample's LP (placer.sample): the duals read back as price_capacity's
prices, by hand on small cases; and a bound from them that never exceeds the optimum."""

from __future__ import annotations

import sys
from dataclasses import replace

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings

from placer import relax
from placer.candidates import build_candidates
from placer.catalog import default_catalog
from placer.model import build_model, force_unplaced
from placer.problem import problem_from_dict
from placer.relax import solve_relaxation
from placer.sample import LPPrices, averaged, sample_prices
from tests.bruteforce import cent_rounding
from tests.test_engine import EXHAUSTIVE, PRICED, feasible_with_optimum, small_problems

TWO_H100 = PRICED.filter(pl.col("offering").is_in(["seeweb/it-fr2/h100", "verda/fin-02/h100"]))


def _gangs(names: list[str], offerings: pl.DataFrame, policy: dict | None = None):
    return problem_from_dict({"horizon_days": 30, "policy": policy or {}, "workloads": [
        {"name": n, "kind": "training", "chip_hours": 2000, "deadline_days": 30}
        for n in names]}, catalog=default_catalog().with_offerings(offerings))


def _lp_prices(problem):
    candidates = build_candidates(problem)
    built = build_model(candidates, problem.policy)
    force_unplaced(built, set(candidates.rows["w"].unique().to_list()))
    relaxation = solve_relaxation(built.builder, unit_vars=built.units,
                                  unit_owner=candidates.rows["w"].to_numpy())
    assert relaxation is not None and relaxation.optimal
    return candidates, built, relaxation, LPPrices.at_duals(
        built, candidates, relaxation.duals).on_fleet(candidates.rows)


def _room_for(gangs: int, offerings: pl.DataFrame, problem) -> tuple[pl.DataFrame, dict]:
    """The offerings with room for `gangs` gangs on the cheaper one, and that row."""
    rows = build_candidates(problem).rows
    cost = rows["unit_compute_usd"] + rows["unit_carbon_usd"]
    cheap = rows.filter(cost == cost.min()).row(0, named=True)
    tight = offerings.with_columns(
        pl.when(pl.col("offering") == cheap["offering"]).then(gangs * cheap["unit_chips"])
        .otherwise(pl.col("capacity_chips")).alias("capacity_chips"))
    return tight, cheap


def test_a_full_offering_is_priced_at_what_it_saves_per_chip(monkeypatch):
    # Two gangs, room for one on the cheaper offering: the LP's dual on its capacity is
    # what one more chip there saves, (c2 - c1) / k for gangs of k chips. At that price
    # alone (no steps) the bound without an LP is the optimum, c1 + c2.
    roomy = _gangs(["a", "b"], TWO_H100)
    tight, cheap = _room_for(1, TWO_H100, roomy)
    problem = _gangs(["a", "b"], tight)
    candidates, built, _, prices = _lp_prices(problem)
    cost = candidates.rows["unit_compute_usd"] + candidates.rows["unit_carbon_usd"]
    c1, c2 = sorted(set(cost.to_list()))
    names = candidates.offerings["offering"].to_list()
    expected = np.zeros(len(names))
    expected[names.index(cheap["offering"])] = (c2 - c1) / cheap["unit_chips"]
    assert prices.capacity == pytest.approx(expected, rel=1e-6)
    engine = sys.modules["placer.solve"]
    monkeypatch.setattr(engine, "START_STEPS", 0)
    covers: list[int] = []
    cover = relax.whole_instances
    monkeypatch.setattr(relax, "whole_instances",
                        lambda *args, **kwargs: covers.append(1) or cover(*args, **kwargs))
    bound = engine._price_capacity(candidates, problem.policy, built.scale, start=prices)
    assert bound.bound / built.scale == pytest.approx(c1 + c2, abs=0.01)
    assert len(covers) == 1  # no step moved the prices: the start's are priced once
    without = engine._price_capacity(candidates, problem.policy, built.scale,
                                     start=replace(prices, capacity=prices.capacity * 0))
    assert without.bound / built.scale == pytest.approx(2 * c1, abs=0.01)


def test_a_binding_cap_is_priced_as_by_hand():
    # Two gangs, no provider above a share f = 0.6 of the spend: the LP's dual on the
    # cheaper provider's cap, as relax.Caps prices it, makes a gang cost the same on
    # both: c1 (1 + p (1 - f)) = c2 (1 - p f) (test_engine's binding-cap case).
    share = 0.6
    candidates, _, _, prices = _lp_prices(_gangs(["a", "b"], TWO_H100,
                                                 {"max_share": {"provider": share}}))
    c1, c2 = sorted(candidates.rows["unit_compute_usd"].unique().to_list())
    by_hand = (c2 - c1) / (c1 * (1 - share) + c2 * share)
    assert prices.capacity == pytest.approx(np.zeros(len(prices.capacity)))
    assert prices.caps is not None and len(prices.caps) == 1
    assert sorted(prices.caps[0].tolist()) == pytest.approx([0.0, by_hand], rel=1e-6)


def test_a_samples_cap_prices_go_to_the_fleets_groups_by_name():
    # the fleet has a provider ("a-cloud", sorted first) the sample has no row of: it
    # gets no price, and each of the sample's providers keeps its own
    problem = _gangs(["a", "b"], TWO_H100, {"max_share": {"provider": 0.6}})
    candidates, built, relaxation, own = _lp_prices(problem)
    fleet_rows = pl.concat([candidates.rows.head(1).with_columns(
        pl.lit("a-cloud").alias("provider")), candidates.rows])
    on_fleet = LPPrices.at_duals(built, candidates, relaxation.duals).on_fleet(fleet_rows)
    assert own.caps is not None and on_fleet.caps is not None
    assert on_fleet.caps[0].tolist() == [0.0, *own.caps[0].tolist()]
    assert max(own.caps[0]) > 0


def test_parts_prices_are_averaged_on_the_fleets_groups_a_missing_one_at_zero():
    # two parts' prices: one has a provider ("a-cloud") the other has no row of, which
    # counts as 0 there; capacity's are averaged offering by offering
    problem = _gangs(["a", "b"], TWO_H100, {"max_share": {"provider": 0.6}})
    candidates, built, relaxation, own = _lp_prices(problem)
    part = LPPrices.at_duals(built, candidates, relaxation.duals)
    (keys, prices), = part.caps.values()
    other = LPPrices(part.capacity + 2.0, {"provider": (["a-cloud", *keys], np.r_[4.0, prices])})
    fleet_rows = pl.concat([candidates.rows.head(1).with_columns(
        pl.lit("a-cloud").alias("provider")), candidates.rows])
    mean = averaged([part, other], fleet_rows)
    assert mean.capacity == pytest.approx(part.capacity + 1.0)
    assert mean.caps is not None
    assert mean.caps[0] == pytest.approx(np.r_[2.0, prices])
    assert own.caps is not None and list(own.caps[0]) == pytest.approx(list(prices))


def test_a_sample_gets_its_share_of_capacity_and_the_whole_fleets_price(monkeypatch):
    # Eight equal gangs, room for four on the cheaper offering. A sample of four gets
    # half of each offering's chips, room for two there: the same price per chip.
    module = sys.modules["placer.sample"]
    names = [f"g{i}" for i in range(8)]
    roomy = _gangs(names, TWO_H100)
    tight, cheap = _room_for(4, TWO_H100, roomy)
    problem = _gangs(names, tight)
    candidates = build_candidates(problem)
    assert sample_prices(candidates, problem.policy, 0, 10, lambda: False) is None
    monkeypatch.setattr(module, "SAMPLE_WORKLOADS", 4)
    monkeypatch.setattr(module, "SAMPLE_PARTS", 2)
    prices = sample_prices(candidates, problem.policy, 0, 10, lambda: False)
    assert prices is not None
    cost = candidates.rows["unit_compute_usd"] + candidates.rows["unit_carbon_usd"]
    c1, c2 = sorted(set(cost.to_list()))
    names = candidates.offerings["offering"].to_list()
    assert prices.capacity[names.index(cheap["offering"])] == pytest.approx(
        (c2 - c1) / cheap["unit_chips"], rel=1e-6)


@pytest.mark.parametrize(("gangs", "sampled"), [(20, 2), (80, 4), (7, None)])
def test_the_sample_is_a_tenth_of_the_fleet_up_to_its_size(monkeypatch, gangs, sampled):
    # SAMPLE_WORKLOADS 4: a tenth of 20 (2), of 80 at most 4; 7 is not twice 4: no sample
    module = sys.modules["placer.sample"]
    monkeypatch.setattr(module, "SAMPLE_WORKLOADS", 4)
    problem = _gangs([f"g{i}" for i in range(gangs)], TWO_H100)
    candidates = build_candidates(problem)
    seen = []
    restrict = module.restrict

    def spy(candidates, workloads, *args):
        seen.append(len(workloads))
        return restrict(candidates, workloads, *args)

    monkeypatch.setattr(module, "restrict", spy)
    prices = sample_prices(candidates, problem.policy, 0, 10, lambda: False)
    assert seen == ([] if sampled is None else [sampled])
    assert (prices is None) == (sampled is None)


@settings(EXHAUSTIVE, max_examples=40)
@given(problem=small_problems())
def test_the_bound_from_the_lps_prices_never_exceeds_the_optimum(problem):
    # any prices give a bound: the LP's own, as a sample's would be
    candidates, expected = feasible_with_optimum(problem)
    _, built, _, prices = _lp_prices(problem)
    bound = sys.modules["placer.solve"]._price_capacity(candidates, problem.policy,
                                                        built.scale, start=prices).bound
    assert bound / built.scale <= expected * (1 + 1e-9) + cent_rounding(candidates)
