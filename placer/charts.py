"""Charts as PNG bytes, drawn headless with matplotlib (the Agg backend: no display needed)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import polars as pl

INK = "#1f2328"
ACCENT = "#1f6feb"
WARN = "#cf222e"
MUTED = "#8c959f"
EU_BLUE = "#003399"
DPI = 110
FULL_WIDTH = 9.4  # inches: the report's text column at DPI


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.edgecolor": MUTED, "axes.labelcolor": INK,
                         "xtick.color": INK, "ytick.color": INK, "axes.spines.top": False,
                         "axes.spines.right": False, "svg.hashsalt": "placer"})
    return plt


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    # No timestamp in the PNG: the same plan draws byte-identical charts.
    fig.savefig(buffer, format="png", metadata={"Software": None})
    _pyplot().close(fig)
    return buffer.getvalue()


def _usd_axis(ax: Any, axis: str = "x") -> None:
    from matplotlib.ticker import FuncFormatter

    def fmt(v: float, _pos: int) -> str:
        if abs(v) >= 1e6:
            return f"${v / 1e6:,.1f}M"
        if abs(v) >= 1e3:
            return f"${v / 1e3:,.0f}k"
        return f"${v:,.0f}"

    (ax.xaxis if axis == "x" else ax.yaxis).set_major_formatter(FuncFormatter(fmt))


def bars_png(labels: Sequence[str], values: Sequence[float], title: str,
             marked: Sequence[bool] | None = None, mark_label: str = "") -> bytes:
    """Horizontal bars of dollar amounts, largest on top; `marked` bars drawn in EU blue."""
    plt = _pyplot()
    order = sorted(range(len(values)), key=lambda i: values[i])
    height = 0.9 + 0.32 * max(len(values), 1)
    fig, ax = plt.subplots(figsize=(FULL_WIDTH, height), dpi=DPI)
    colours = [EU_BLUE if marked and marked[i] else ACCENT for i in order]
    ax.barh([labels[i] for i in order], [values[i] for i in order], color=colours)
    _usd_axis(ax)
    ax.set_title(title, loc="left", fontsize=10, color=INK)
    ax.grid(axis="x", alpha=0.3)
    if marked and any(marked) and mark_label:
        from matplotlib.patches import Patch

        ax.legend(handles=[Patch(color=EU_BLUE, label=mark_label),
                           Patch(color=ACCENT, label="elsewhere")],
                  loc="lower right", frameon=False)
    fig.tight_layout()
    return _png(fig)


def shares_png(shares: dict[str, pl.DataFrame]) -> bytes:
    """Share of compute spend per provider, chip vendor and ecosystem, with each cap."""
    plt = _pyplot()
    dims = [d for d in ("provider", "chip_vendor", "ecosystem") if shares[d].height]
    rows = max((shares[d].height for d in dims), default=1)
    fig, axes = plt.subplots(1, max(len(dims), 1), figsize=(FULL_WIDTH, 1.1 + 0.3 * rows),
                             dpi=DPI, squeeze=False)
    for ax, dim in zip(axes[0], dims, strict=False):
        frame = shares[dim].sort("share")
        keys, values = frame["key"].to_list(), [s * 100 for s in frame["share"].to_list()]
        cap = next((c for c in frame["cap"].to_list() if c is not None), None)
        over = [cap is not None and v > cap * 100 + 1e-6 for v in values]
        # Same bar thickness in every panel: the bars sit at the top of `rows` slots.
        slots = list(range(rows - len(keys), rows))
        ax.barh(slots, values, height=0.7, color=[WARN if o else ACCENT for o in over])
        ax.set_yticks(slots, keys)
        ax.set_ylim(-0.6, rows - 0.4)
        title = dim.replace("_", " ")
        if cap is not None:
            ax.axvline(cap * 100, color=WARN, linestyle="--", linewidth=1)
            title += f"  (cap {cap * 100:.0f}%)"
        ax.set_xlim(0, 100)
        ax.set_xlabel("% of compute spend")
        ax.set_title(title, loc="left", fontsize=10, color=INK)
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def scenarios_png(table: pl.DataFrame) -> bytes:
    """Total cost per scenario, infeasible ones marked."""
    plt = _pyplot()
    names = table["name"].to_list()[::-1]
    totals = table["total_usd"].to_list()[::-1]
    fig, ax = plt.subplots(figsize=(FULL_WIDTH, 0.9 + 0.36 * len(names)), dpi=DPI)
    values = [t or 0.0 for t in totals]
    ax.barh(names, values, color=[ACCENT if t is not None else MUTED for t in totals])
    for y, t in enumerate(totals):
        if t is None:
            ax.text(0, y, "  no plan", va="center", color=WARN, fontsize=8)
    if totals[-1] is not None:  # the base
        ax.axvline(totals[-1], color=INK, linestyle=":", linewidth=1)
    _usd_axis(ax)
    ax.set_title("Total cost per scenario (dotted line: the base)", loc="left", fontsize=10,
                 color=INK)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def frontier_png(frame: pl.DataFrame, by: str) -> bytes:
    """Total cost against the largest allowed share (the epsilon-constraint sweep)."""
    plt = _pyplot()
    points = frame.filter(pl.col("total_usd").is_not_null())
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    caps = [c * 100 for c in points["cap"].to_list()]
    ax.plot(caps, points["total_usd"].to_list(), marker="o", drawstyle="steps-post",
            color=ACCENT)
    ax.invert_xaxis()
    _usd_axis(ax, "y")
    ax.set_xlabel(f"largest allowed {by.replace('_', ' ')} share of compute spend (%)")
    ax.set_ylabel("total cost")
    ax.set_title(f"The price of independence: capping any one {by.replace('_', ' ')}")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return _png(fig)
