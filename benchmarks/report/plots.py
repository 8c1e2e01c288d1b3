"""Matplotlib charts for the benchmark page: bars per table, lines per series, a summary.

Hitbox's bars are drawn in one colour and every other contender in another, so a reader
finds Hitbox at a glance. Files are written without timestamps, so re-rendering the same
results gives the same PNG bytes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, never a window

import matplotlib.pyplot as plt  # after use(): the backend is chosen first
from matplotlib.ticker import FuncFormatter, NullFormatter

from .protocol import Table, format_value

__all__ = ["bars", "is_hitbox", "lines", "summary"]

HITBOX = "#c0392b"
OTHER = "#7f8c8d"
PALETTE = ("#2c3e50", "#2980b9", "#7f8c8d", "#27ae60", "#8e44ad", "#d35400", "#16a085")
_METADATA = {"Software": None}  # no matplotlib version in the file: stable bytes


def is_hitbox(table: Table, label: str) -> bool:
    """Whether a row is Hitbox's: its ``hitbox_row``, or any label naming Hitbox."""
    return label == table.get("hitbox_row") or "hitbox" in label.lower()


def _numbers(table: Table, column: str) -> list[float]:
    index = table["columns"].index(column)
    values = []
    for row in table["rows"]:
        cell = row[index]
        ok = isinstance(cell, int | float) and not isinstance(cell, bool) and math.isfinite(cell)
        values.append(float(cell) if ok else math.nan)  # type: ignore[arg-type]
    return values


def _save(figure: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=100, metadata=_METADATA)
    plt.close(figure)


def bars(table: Table, path: Path) -> bool:
    """Horizontal bars of the metric column (or grouped bars over ``plot.columns``);
    ``False`` when there is nothing to draw."""
    plot = table.get("plot", {})
    metric = table.get("metric")
    columns = plot.get("columns") or ([metric["column"]] if metric else [])
    if not columns or not table["rows"]:
        return False
    labels = [str(row[0]) for row in table["rows"]]
    groups = [_numbers(table, column) for column in columns]
    height = 0.8 / len(columns)
    figure, axes = plt.subplots(figsize=(8, 0.9 + 0.32 * len(labels) * max(1, len(columns) * 0.6)))
    for offset, (column, values) in enumerate(zip(columns, groups, strict=True)):
        positions = [i + (offset - (len(columns) - 1) / 2) * height for i in range(len(labels))]
        if len(columns) == 1:
            colours = [HITBOX if is_hitbox(table, label) else OTHER for label in labels]
            drawn = axes.barh(positions, values, height=height, color=colours)
            axes.bar_label(drawn, labels=[format_value(v) for v in values], padding=3, fontsize=8)
        else:
            axes.barh(positions, values, height=height, label=column, color=PALETTE[offset % 7])
    axes.set_yticks(range(len(labels)), labels, fontsize=9)
    for tick, label in zip(axes.get_yticklabels(), labels, strict=True):
        if is_hitbox(table, label):
            tick.set_fontweight("bold")
    axes.invert_yaxis()
    unit = (plot.get("label") or columns[0]) if len(columns) == 1 else plot.get("label", "")
    better = f"  ({metric['better']} is better)" if metric and len(columns) == 1 else ""
    axes.set_xlabel(f"{unit}{better}", fontsize=9)
    if plot.get("log"):
        axes.set_xscale("log")
    else:
        axes.margins(x=0.15)
    if len(columns) > 1:
        axes.legend(fontsize=8, loc="best")
    axes.set_title(table["title"], fontsize=10)
    axes.grid(axis="x", alpha=0.3)
    _save(figure, path)
    return True


def lines(table: Table, path: Path) -> bool:
    """The table's ``series`` as a line chart; ``False`` when it has none."""
    series = table.get("series")
    if not series or not series.get("lines"):
        return False
    figure, axes = plt.subplots(figsize=(8, 4))
    x = series.get("x", [])
    categorical = any(isinstance(value, str) for value in x)
    positions = list(range(len(x))) if categorical else x
    for index, (name, values) in enumerate(series["lines"].items()):
        ys = [math.nan if value is None else value for value in values]
        colour = HITBOX if "hitbox" in name.lower() and index == 0 else PALETTE[(index + 1) % 7]
        axes.plot(positions, ys, marker="o", label=name, color=colour)
    if categorical:
        axes.set_xticks(positions, [str(value) for value in x])
    axes.set_xlabel(series.get("xlabel", ""), fontsize=9)
    axes.set_ylabel(series.get("ylabel", ""), fontsize=9)
    if series.get("log"):
        axes.set_yscale("log")
    axes.legend(fontsize=8)
    axes.set_title(table["title"], fontsize=10)
    axes.grid(alpha=0.3)
    _save(figure, path)
    return True


def summary(factors: list[tuple[str, float]], path: Path) -> bool:
    """One bar per (comparison, factor): how many times better Hitbox is, log scale."""
    if not factors:
        return False
    labels = [label for label, _ in factors]
    values = [factor for _, factor in factors]
    figure, axes = plt.subplots(figsize=(8, 1.4 + 0.3 * len(labels)))
    colours = [HITBOX if value >= 1 else OTHER for value in values]
    drawn = axes.barh(range(len(labels)), values, color=colours)
    axes.bar_label(drawn, labels=[f"{value:.2f}x" for value in values], padding=3, fontsize=8)
    axes.axvline(1.0, color="black", linewidth=0.8)
    axes.set_xscale("log")
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}x"))
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.set_yticks(range(len(labels)), labels, fontsize=8)
    axes.invert_yaxis()
    low, high = min([*values, 1.0]), max([*values, 1.0])
    axes.set_xlim(low / 1.6, high * 2.2)
    axes.set_xlabel("times better than the peer (log scale; right of 1 = Hitbox ahead)", fontsize=9)
    axes.set_title("Hitbox against its peers, same machine, same run", fontsize=10)
    axes.grid(axis="x", alpha=0.3, which="both")
    _save(figure, path)
    return True
