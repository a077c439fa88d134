"""What people read: terminal tables (rich), and table/JSON renderings of frames."""

from __future__ import annotations

import io
import json
from typing import Any

import polars as pl
from rich.console import Console
from rich.table import Table


def money(value: float | None, digits: int = 0) -> str:
    """$1,234,567 (or '-' for None)."""
    if value is None:
        return "-"
    return f"${value:,.{digits}f}"


def price(value: float | None) -> str:
    """USD per chip-hour, up to 4 decimals as the sources give them."""
    return "-" if value is None else f"{value:.4f}".rstrip("0").rstrip(".")


def offerings_table(frame: pl.DataFrame, title: str | None = None) -> Table:
    """Catalog offerings for the terminal; estimated prices are marked with *."""
    table = Table(title=title, header_style="bold", show_lines=False)
    for name, justify in (
        ("offering", "left"), ("vendor", "left"), ("eco", "left"), ("instance", "left"),
        ("on-demand", "right"), ("spot", "right"), ("1y", "right"), ("3y", "right"),
        ("basis", "left"), ("capacity", "right"), ("juris.", "left"), ("home", "left"),
        ("gCO2/kWh", "right"), ("as of", "left"),
    ):
        table.add_column(name, justify=justify, no_wrap=name in ("offering", "instance"))
    for row in frame.iter_rows(named=True):
        basis = row["price_basis"]
        table.add_row(
            row["offering"], row["chip_vendor"], row["ecosystem"],
            f"{row['instance']} ×{row['chips_per_instance']}",
            price(row["on_demand"]), price(row["spot"]), price(row["commit_1y"]),
            price(row["commit_3y"]),
            f"[yellow]{basis}*[/yellow]" if basis == "estimate" else basis,
            f"{row['capacity_chips']:,}", row["jurisdiction"], row["provider_home"],
            f"{row['grid_gco2_kwh']:g}", row["as_of"],
        )
    return table


def frame_csv(frame: pl.DataFrame) -> str:
    buffer = io.StringIO()
    frame.write_csv(buffer)
    return buffer.getvalue()


def to_json(data: Any) -> str:
    """Stable, pretty JSON (sorted keys would scramble the documented order, so no sort)."""
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def console(stderr: bool = False) -> Console:
    """A console that respects NO_COLOR and pipes (rich does both).

    Messages never wrap (one line per message keeps them greppable); tables written to a
    pipe or file get a wide page instead of rich's 80-column default.
    """
    import os
    import sys

    stream = sys.stderr if stderr else sys.stdout
    width = None
    if not stream.isatty() and "COLUMNS" not in os.environ:
        width = 200
    return Console(stderr=stderr, highlight=False, soft_wrap=stderr, width=width)
