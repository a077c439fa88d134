"""The candidates route's tables: validated a column at a time where every row is clean,
row by row (each issue named) otherwise, with the same result either way."""

from __future__ import annotations

import math

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from placer.errors import InputError
from placer.io import frame_document, table_columns
from placer.problem import _candidate_tables_by_rows, _clean_candidate_tables, candidate_tables
from placer.schema import CandidateRow

NAMES = ["w1", "w2", "o1", "o2", "o3"]
PADDING = st.sampled_from(["", " ", "\t", "  \n"])


def padded(text: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(PADDING, text, PADDING).map("".join)


# cells that pass (text as CSV gives it, or numbers as Parquet does) ...
GOOD_NAME = padded(st.sampled_from(NAMES))
GOOD_CHIPS = st.one_of(st.integers(1, 64), padded(st.integers(1, 64).map(str)))
GOOD_USD = st.one_of(st.floats(0, 1e6), st.integers(0, 10**6),
                     padded(st.floats(0, 1e6).map(repr)))
# ... and cells that may not, or that the rows read otherwise
BAD_NAME = st.sampled_from(["", "   ", "[1, 2]", "{x", "é", " ñame ", "\x1fx", "a\x00b",
                            "x" * 201, "\u00a0w1", "w1\u2003", "12"])
BAD_CHIPS = st.sampled_from(["0", "-1", "8.0", "8.5", "1e7", "abc", "", " ", "[8]",
                             "10000001", 0, -3, 8.0, 8.5, math.nan, math.inf])
BAD_USD = st.sampled_from(["-1", "nan", "inf", "1e13", "", "x", -0.5, math.nan, math.inf,
                           1e13, "1_000", " 5 "])


def column(cells: list[object]) -> pl.Series:
    """A column as a CSV (all text) or a Parquet file (numbers) would give it."""
    if all(c is None or isinstance(c, str) for c in cells):
        return pl.Series(cells, dtype=pl.String)
    if all(c is None or isinstance(c, int) for c in cells):
        return pl.Series(cells, dtype=pl.Int64)
    if all(c is None or isinstance(c, (int, float)) for c in cells):
        return pl.Series([None if c is None else float(c) for c in cells], dtype=pl.Float64)
    return pl.Series([None if c is None else str(c) for c in cells], dtype=pl.String)


Cells = dict[str, list[object]]
BAD = {"workload": BAD_NAME, "offering": BAD_NAME, "provider": BAD_NAME,
       "chip_vendor": BAD_NAME, "ecosystem": BAD_NAME, "chips": BAD_CHIPS,
       "cost_usd": BAD_USD, "capacity_chips": BAD_CHIPS}


@st.composite
def clean_cells(draw: st.DrawFn) -> tuple[Cells, Cells]:
    """A candidates table and an offerings table, as columns of cells, breaking no rule."""
    offerings = draw(st.lists(st.sampled_from(["o1", "o2", "o3"]), min_size=1, max_size=3,
                              unique=True))
    offers: Cells = {"offering": [draw(padded(st.just(o))) for o in offerings],
                     "capacity_chips": [draw(GOOD_CHIPS) for _ in offerings]}
    pairs = [(w, o) for w in ("w1", "w2", "w3") for o in offerings]
    rows = draw(st.lists(st.sampled_from(pairs), max_size=8, unique=True))
    cands: Cells = {"workload": [draw(padded(st.just(w))) for w, _ in rows],
                    "offering": [draw(padded(st.just(o))) for _, o in rows],
                    "chips": [draw(GOOD_CHIPS) for _ in rows],
                    "cost_usd": [draw(GOOD_USD) for _ in rows]}
    for name in ("provider", "chip_vendor", "ecosystem"):
        if draw(st.booleans()):
            cands[name] = [draw(GOOD_NAME) for _ in rows]
    return cands, offers


@st.composite
def broken_cells(draw: st.DrawFn) -> tuple[Cells, Cells]:
    """Clean tables with one or two things changed that may break a rule."""
    cands, offers = draw(clean_cells())
    for _ in range(draw(st.integers(1, 2))):
        table = draw(st.sampled_from([cands, offers]))
        name = draw(st.sampled_from(sorted(table)))
        height = len(table[name])
        row = draw(st.integers(0, max(0, height - 1)))
        change = draw(st.sampled_from(["bad cell", "empty cell", "row twice",
                                       "unknown offering", "column missing", "column extra"]))
        if change == "bad cell" and height:
            table[name][row] = draw(BAD.get(name, BAD_NAME))
        elif change == "empty cell" and height:
            table[name][row] = None
        elif change == "row twice" and height:
            for cells in table.values():
                cells.append(cells[row])
        elif change == "unknown offering" and height and "offering" in table:
            table["offering"][row] = "o4"
        elif change == "column missing":
            del table[name]
        elif change == "column extra":
            table["zone"] = ["a"] * height
    return cands, offers


def frames(both: tuple[Cells, Cells]) -> tuple[pl.DataFrame, pl.DataFrame]:
    return tuple(pl.DataFrame({name: column(cells) for name, cells in table.items()})
                 for table in both)  # type: ignore[return-value]


def by_rows(cands: pl.DataFrame, offers: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    return _candidate_tables_by_rows(frame_document(cands, "c.csv", "candidates"),
                                     frame_document(offers, "o.csv", "offerings"))


@given(broken_cells())
@settings(max_examples=500, deadline=None)
def test_tables_validated_by_columns_are_those_validated_by_rows(both):
    cands, offers = frames(both)
    fast = _clean_candidate_tables(cands, offers)
    try:
        slow = by_rows(cands, offers)
    except InputError:
        assert fast is None
        return
    if fast is not None:
        assert_frame_equal(fast[0], slow[0])
        assert_frame_equal(fast[1], slow[1])


@given(clean_cells())
@settings(max_examples=200, deadline=None)
def test_clean_tables_are_validated_by_columns(both):
    cands, offers = frames(both)
    fast = _clean_candidate_tables(cands, offers)
    assert fast is not None
    slow = by_rows(cands, offers)
    assert_frame_equal(fast[0], slow[0])
    assert_frame_equal(fast[1], slow[1])


@pytest.mark.parametrize(("chips", "offering", "issue"), [
    ("0", "o1", (3, "candidates[1].chips", "must be greater than or equal to 1")),
    ("8", "o9", (3, "candidates[1].offering",
                 "unknown offering 'o9' (not in the offerings table)")),
])
def test_a_bad_row_is_still_named_with_its_line(chips, offering, issue):
    cands = pl.DataFrame({"workload": ["w1", "w2"], "offering": ["o1", offering],
                          "chips": ["8", chips], "cost_usd": ["10", "20"]})
    offers = pl.DataFrame({"offering": ["o1"], "capacity_chips": ["64"]})
    with pytest.raises(InputError) as raised:
        candidate_tables(cands, offers)
    assert [(i.file, i.line, i.field, i.message) for i in raised.value.issues] == [
        ("<candidates frame>", *issue)]


def test_numbers_in_a_name_column_are_text_as_row_by_row():
    cands = pl.DataFrame({"workload": [101, 102], "offering": ["o1", "o1"], "chips": [8, 8],
                          "cost_usd": [1, 2]})
    offers = pl.DataFrame({"offering": ["o1"], "capacity_chips": [64]})
    table, _ = candidate_tables(cands, offers)
    assert table["workload"].to_list() == ["101", "102"]
    assert table["cost_usd"].dtype == pl.Float64
    assert table_columns(cands, CandidateRow) is not None  # by columns, not by rows
