"""The benchmark report: run every ``benchmarks/bench_*.py``, store JSON, render the docs page.

``benchmarks/run_all.py`` is the command; :mod:`.protocol` is the result format a
benchmark returns from ``collect(quick)``; :mod:`.runner` runs the scripts;
:mod:`.render` and :mod:`.plots` write ``docs/benchmarks.md`` and its PNG charts.
"""

from .protocol import BenchResult, Metric, Plot, Series, Table, format_text, validate

__all__ = ["BenchResult", "Metric", "Plot", "Series", "Table", "format_text", "validate"]
