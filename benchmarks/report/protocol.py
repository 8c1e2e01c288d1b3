"""The result format every benchmark script hands to the report runner.

A benchmark opts in to the report by defining, at module level,
``def collect(quick: bool) -> BenchResult`` (or ``async def``). The result is plain JSON
data — a script needs nothing from this package to build it — checked here by
:func:`validate` before the runner stores it:

.. code-block:: python

    def collect(quick: bool) -> dict[str, Any]:
        rates = measure(requests=2_000 if quick else 10_000)
        return {
            "title": "HTTP caching middleware",
            "description": "Cached 1 KiB responses per second, in-process ASGI.",
            "tables": [{
                "id": "hits",
                "title": "Cache hits",
                "columns": ["contender", "requests/s"],
                "rows": [[name, rate] for name, rate in rates.items()],
                "metric": {"column": "requests/s", "better": "higher"},
                "baseline": "starlette, uncached",
                "hitbox_row": "hitbox rfc",
                "peers": ["hishel", "fastapi-cache2"],
            }],
        }

A table with a ``metric`` gets a ratio column (how many times better than ``baseline``,
oriented so that above 1 is better whichever way the metric points) and a bar chart.
``hitbox_row`` against each of ``peers`` feeds the page's "Hitbox against its peers"
summary. ``plot`` draws grouped bars over several columns instead, ``series`` draws lines.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Literal, NotRequired, TypedDict

__all__ = [
    "BenchResult",
    "Cell",
    "Metric",
    "Plot",
    "Series",
    "Table",
    "format_text",
    "format_value",
    "ratio",
    "validate",
]

Cell = str | int | float | None
"""One table cell: the first cell of a row is its label, the others are values."""


class Metric(TypedDict):
    """The column that ratios, bar charts and the peer summary are computed on."""

    column: str
    better: Literal["lower", "higher"]


class Plot(TypedDict, total=False):
    """Grouped bars: one group per row, one bar per column (all sharing one unit)."""

    columns: list[str]
    label: str
    log: bool


class Series(TypedDict, total=False):
    """A line chart: ``lines`` maps a name to one y value per ``x``."""

    x: list[float | int | str]
    xlabel: str
    ylabel: str
    lines: dict[str, list[float | None]]
    log: bool


class Table(TypedDict):
    """One table of a benchmark; ``id`` is unique within it and names its plot file."""

    id: str
    title: str
    columns: list[str]
    rows: list[list[Cell]]
    metric: NotRequired[Metric]
    baseline: NotRequired[str]
    hitbox_row: NotRequired[str]
    peers: NotRequired[list[str]]
    notes: NotRequired[list[str]]
    plot: NotRequired[Plot]
    series: NotRequired[Series]


class BenchResult(TypedDict):
    """What ``collect(quick)`` returns."""

    title: str
    tables: list[Table]
    description: NotRequired[str]
    notes: NotRequired[list[str]]
    parameters: NotRequired[dict[str, Any]]


_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def _fail(where: str, problem: str) -> None:
    raise ValueError(f"{where}: {problem}")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _validate_table(table: Any, where: str) -> None:
    if not isinstance(table, dict):
        _fail(where, f"a table must be a dict, got {type(table).__name__}")
    for field in ("id", "title", "columns", "rows"):
        if field not in table:
            _fail(where, f"missing field {field!r}")
    if not isinstance(table["id"], str) or not _ID.match(table["id"]):
        _fail(f"{where}.id", f"{table['id']!r} must match {_ID.pattern}")
    columns = table["columns"]
    names_ok = isinstance(columns, list) and all(isinstance(c, str) for c in columns)
    if not names_ok or len(columns) < 2:
        _fail(f"{where}.columns", f"{columns!r} must be a list of at least two names")
    labels = []
    for index, row in enumerate(table["rows"]):
        if not isinstance(row, list) or len(row) != len(columns):
            _fail(f"{where}.rows[{index}]", f"{row!r} must be a list of {len(columns)} cells")
        if not isinstance(row[0], str):
            _fail(f"{where}.rows[{index}][0]", f"the row label {row[0]!r} must be a string")
        labels.append(row[0])
    if len(set(labels)) != len(labels):
        _fail(f"{where}.rows", f"row labels must be unique: {labels!r}")
    metric = table.get("metric")
    if metric is not None:
        if metric.get("column") not in columns[1:]:
            _fail(f"{where}.metric.column", f"{metric.get('column')!r} is not a value column")
        if metric.get("better") not in ("lower", "higher"):
            _fail(f"{where}.metric.better", f"{metric.get('better')!r} is not 'lower' or 'higher'")
    for field in ("baseline", "hitbox_row"):
        if field in table and table[field] not in labels:
            _fail(f"{where}.{field}", f"{table[field]!r} is not a row label")
    for peer in table.get("peers", []):
        if peer not in labels:
            _fail(f"{where}.peers", f"{peer!r} is not a row label")
    if ("baseline" in table or "peers" in table) and metric is None:
        _fail(where, "baseline and peers need a metric to compare on")
    for column in table.get("plot", {}).get("columns", []):
        if column not in columns[1:]:
            _fail(f"{where}.plot.columns", f"{column!r} is not a value column")
    series = table.get("series")
    if series is not None:
        for name, values in series.get("lines", {}).items():
            if len(values) != len(series.get("x", [])):
                _fail(f"{where}.series.lines[{name!r}]", "needs one value per x")


def validate(result: Any) -> BenchResult:
    """``result`` itself if it follows the format; otherwise a ``ValueError`` naming the
    offending field and value."""
    if not isinstance(result, dict):
        _fail("result", f"collect() must return a dict, got {type(result).__name__}")
    if not isinstance(result.get("title"), str) or not result["title"]:
        _fail("result.title", f"{result.get('title')!r} must be a non-empty string")
    tables = result.get("tables")
    if not isinstance(tables, list):
        _fail("result.tables", f"{tables!r} must be a list")
    ids = [table.get("id") for table in tables if isinstance(table, dict)]
    if len(set(ids)) != len(ids):
        _fail("result.tables", f"table ids must be unique: {ids!r}")
    for index, table in enumerate(tables):
        _validate_table(table, f"result.tables[{index}]")
    return result  # type: ignore[no-any-return]


def _row(table: Table, label: str) -> list[Cell]:
    return next(row for row in table["rows"] if row[0] == label)


def ratio(table: Table, label: str, against: str) -> float | None:
    """How many times better row ``label`` is than row ``against`` on the table's metric
    (above 1: better, whichever way the metric points); ``None`` without two numbers."""
    metric = table.get("metric")
    if metric is None:
        return None
    column = table["columns"].index(metric["column"])
    ours, theirs = _row(table, label)[column], _row(table, against)[column]
    if not (_is_number(ours) and _is_number(theirs)) or not ours or not theirs:
        return None
    assert isinstance(ours, int | float)
    assert isinstance(theirs, int | float)
    return theirs / ours if metric["better"] == "lower" else ours / theirs


def format_value(value: Cell) -> str:
    """A cell as shown in tables: three significant figures, thousands separated."""
    if value is None:
        return "-"
    if isinstance(value, str) or not _is_number(value):
        return str(value)
    if isinstance(value, int) or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if abs(value) >= 0.01 or value == 0 else f"{value:.2g}"


def ratio_header(table: Table) -> str | None:
    """The header of the ratio column, or ``None`` when the table has none."""
    if "metric" not in table:
        return None
    return f"vs {table.get('baseline', table['rows'][0][0] if table['rows'] else '')}"


def with_ratios(table: Table) -> tuple[list[str], list[list[str]]]:
    """Header and formatted rows, plus the ratio column when the table has a metric."""
    header = list(table["columns"])
    rows = [[format_value(cell) for cell in row] for row in table["rows"]]
    extra = ratio_header(table)
    if extra is not None and table["rows"]:
        baseline = table.get("baseline", str(table["rows"][0][0]))
        header.append(extra)
        for shown, row in zip(rows, table["rows"], strict=True):
            factor = ratio(table, str(row[0]), baseline)
            shown.append("-" if factor is None else f"{factor:.2f}x")
    return header, rows


def format_text(data: Mapping[str, Any]) -> str:
    """A result (checked by :func:`validate`) as plain text for a script's own console."""
    result = validate(data)
    lines = [result["title"]]
    for table in result["tables"]:
        header, rows = with_ratios(table)
        widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
        lines += ["", table["title"]]
        for cells in (header, *rows):
            first = cells[0].ljust(widths[0])
            rest = (cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))
            lines.append("  " + "  ".join([first, *rest]))
        lines += [f"  ({note})" for note in table.get("notes", [])]
    if any("metric" in table for table in result["tables"]):
        lines += ["", "ratios: times better than the baseline row (above 1 is better)"]
    return "\n".join(lines)
