"""The command line of ``benchmarks/run_all.py``: run, store, render.

Typical use, from the repository root::

    .venv/bin/python benchmarks/run_all.py --quick          # every benchmark, small sizes
    .venv/bin/python benchmarks/run_all.py                  # full sizes (much longer)
    .venv/bin/python benchmarks/run_all.py --only http sqlite
    .venv/bin/python benchmarks/run_all.py --render-only    # re-render the stored JSON
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

from .runner import discover, run_child, run_suite

__all__ = ["main"]

BENCHMARKS = Path(__file__).resolve().parent.parent
ROOT = BENCHMARKS.parent


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run_all.py", description="Run every benchmark, store JSON, render the docs page."
    )
    parser.add_argument("--quick", action="store_true", help="small sizes and few rounds")
    parser.add_argument("--only", nargs="+", default=[], metavar="NAME", help="run only these")
    parser.add_argument("--skip", nargs="+", default=[], metavar="NAME", help="do not run these")
    parser.add_argument(
        "--timeout", type=float, default=None, help="seconds per benchmark (900 quick, 2400 full)"
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--render-only", action="store_true", help="render the stored JSON")
    parser.add_argument("--no-render", action="store_true", help="write the JSON only")
    parser.add_argument("--benchmarks", type=Path, default=BENCHMARKS, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, default=BENCHMARKS / "results" / "latest.json")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--images", type=Path, default=ROOT / "docs" / "benchmarks")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    return parser


def _matches(name: str, wanted: list[str]) -> bool:
    short = name.removeprefix("bench_")
    return any(w in (name, short) or short.startswith(w.removeprefix("bench_")) for w in wanted)


def _command(argv: list[str]) -> str:
    python = Path(sys.executable)
    shown = os.path.relpath(python, ROOT) if python.is_relative_to(ROOT) else "python"
    return shlex.join([shown, "benchmarks/run_all.py", *argv])


def main(argv: list[str] | None = None) -> int:
    """Run the command line; the process exit code."""
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    if args.child is not None:
        run_child(args.child, args.quick, args.out)
        return 0
    from .render import render  # matplotlib: only in the parent, not in every child

    if args.render_only:
        document = json.loads(args.json.read_text(encoding="utf-8"))
        print(f"rendered {render(document, args.docs, args.images)}")
        return 0
    benchmarks = [
        bench
        for bench in discover(args.benchmarks)
        if (not args.only or _matches(bench.name, args.only))
        and not _matches(bench.name, args.skip)
    ]
    if args.list or not benchmarks:
        for bench in benchmarks:
            kind = "structured" if bench.structured else "text only"
            print(f"{bench.name:<24} {kind}")
        return 0 if benchmarks else 2
    timeout = args.timeout or (900.0 if args.quick else 2400.0)
    runner = BENCHMARKS / "run_all.py"
    document = run_suite(benchmarks, args.quick, timeout, runner, _command(argv), ROOT)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    partial = args.json.with_name(args.json.name + ".tmp")
    partial.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    partial.replace(args.json)
    print(f"wrote {args.json}")
    if not args.no_render:
        print(f"rendered {render(document, args.docs, args.images)}")
    failed = [e["name"] for e in document["benchmarks"] if e["status"] == "failed"]
    if failed:
        print(f"did not complete: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0
