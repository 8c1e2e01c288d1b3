"""Run every benchmark in one command, store the results as JSON, render docs/benchmarks.md.

    .venv/bin/python benchmarks/run_all.py --quick     # every benchmark, small sizes
    .venv/bin/python benchmarks/run_all.py --help

See benchmarks/README.md for the result format a benchmark returns from ``collect``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
