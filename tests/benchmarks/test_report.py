"""Smoke tests of the benchmark report: runner, JSON, page and charts, with tiny fake benchmarks.

No real benchmark runs here (they take minutes and need services); fake ``bench_*.py``
scripts in a temp dir stand in for them, one of each kind the runner must handle.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from benchmarks.report.protocol import format_text, ratio, validate
from benchmarks.report.runner import discover

pytest.importorskip("matplotlib", reason="the bench dependency group is not installed")

ROOT = Path(__file__).resolve().parents[2]
RUN_ALL = ROOT / "benchmarks" / "run_all.py"

STRUCTURED = """
import asyncio


async def collect(quick):
    await asyncio.sleep(0)
    return {
        "title": "Alpha cache",
        "description": "A fake benchmark.",
        "parameters": {"quick": quick, "calls": 1000},
        "tables": [
            {
                "id": "reads",
                "title": "Reads",
                "columns": ["contender", "us/call"],
                "rows": [["floor", 1.0], ["hitbox fast", 2.0], ["aiocache", 8.0]],
                "metric": {"column": "us/call", "better": "lower"},
                "baseline": "floor",
                "hitbox_row": "hitbox fast",
                "peers": ["aiocache"],
                "notes": ["a note"],
            },
            {
                "id": "curve",
                "title": "Curve",
                "columns": ["size", "hit %"],
                "rows": [["1%", 10.0], ["10%", 40.0]],
                "series": {"x": [1, 10], "lines": {"hitbox": [10.0, 40.0]}},
            },
        ],
    }


if __name__ == "__main__":
    raise SystemExit("the runner must import this module, not run it")
"""

TEXT_ONLY = """
import argparse

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true")
print("cashews 12.0 us", "quick" if parser.parse_args().quick else "full")
"""

CRASHES = "def collect(quick):\n    raise RuntimeError('boom in collect')\n"
INVALID = "def collect(quick):\n    return {'title': 'x', 'tables': [{'id': 'Bad Id'}]}\n"
HANGS = "import threading\n\ndef collect(quick):\n    threading.Event().wait()\n"


def _write(directory: Path, scripts: dict[str, str]) -> None:
    directory.mkdir()
    for name, source in scripts.items():
        (directory / f"bench_{name}.py").write_text(textwrap.dedent(source))


def _run_all(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            str(RUN_ALL),
            "--benchmarks",
            str(tmp_path / "benchmarks"),
            "--json",
            str(tmp_path / "results" / "latest.json"),
            "--docs",
            str(tmp_path / "docs" / "benchmarks.md"),
            "--images",
            str(tmp_path / "docs" / "benchmarks"),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


@pytest.fixture(scope="module")
def suite(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """One quick run of the runner over one fake benchmark of each kind."""
    tmp_path = tmp_path_factory.mktemp("report")
    _write(
        tmp_path / "benchmarks",
        {
            "alpha": STRUCTURED,
            "beta": TEXT_ONLY,
            "crash": CRASHES,
            "invalid": INVALID,
            "hang": HANGS,
        },
    )
    return tmp_path, _run_all(tmp_path, "--quick", "--timeout", "2")


def test_runs_every_kind_of_benchmark_into_json(
    suite: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    tmp_path, done = suite
    assert done.returncode == 1, done.stdout + done.stderr  # some did not complete
    assert "did not complete: bench_crash, bench_hang, bench_invalid" in done.stderr
    assert "[alpha]" not in done.stdout  # collect() printed nothing; its name prefixes lines
    assert "[beta] cashews 12.0 us quick" in done.stdout  # output is echoed live

    document = json.loads((tmp_path / "results" / "latest.json").read_text())
    entries = {entry["name"]: entry for entry in document["benchmarks"]}
    assert {name: entry["status"] for name, entry in entries.items()} == {
        "bench_alpha": "ok",
        "bench_beta": "text",
        "bench_crash": "failed",
        "bench_hang": "failed",
        "bench_invalid": "failed",
    }
    assert entries["bench_alpha"]["result"]["parameters"]["quick"] is True
    assert entries["bench_beta"]["output"].strip() == "cashews 12.0 us quick"
    assert "boom in collect" in entries["bench_crash"]["error"]
    assert "result.tables[0]: missing field 'title'" in entries["bench_invalid"]["error"]
    assert entries["bench_hang"]["error"].startswith("killed after 2 s")
    assert document["quick"] is True
    assert document["machine"]["usable_cores"] >= 1
    assert "aiocache" in document["machine"]["packages"]


def test_renders_tables_ratios_summary_and_charts(
    suite: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    tmp_path, _ = suite
    page = (tmp_path / "docs" / "benchmarks.md").read_text()
    assert "--quick --timeout 2" in page  # the command that produced it
    assert "| hitbox fast | 2.00 | 0.50x |" in page  # value and ratio to the floor
    assert "| aiocache | 8.00 | 0.12x |" in page
    assert "| alpha: Reads | us/call | hitbox fast: 2.00 | aiocache: 8.00 | **4.00x** |" in page
    assert "| cashews | - | beta |" in page  # peer coverage: text output only
    assert "Text output only" in page
    assert page.count("Did not complete in this run") == 3
    charts = sorted(path.name for path in (tmp_path / "docs" / "benchmarks").iterdir())
    assert charts == ["alpha-curve.png", "alpha-reads.png", "summary.png"]
    for chart in charts:
        assert (tmp_path / "docs" / "benchmarks" / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"](benchmarks/{chart})" in page


def test_rendering_again_gives_the_same_page_and_charts_byte_for_byte(
    suite: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    from benchmarks.report.render import render

    first, _ = suite
    document = json.loads((first / "results" / "latest.json").read_text())
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "stale.png").write_bytes(b"a chart of an older run")
    render(document, tmp_path / "benchmarks.md", tmp_path / "benchmarks")
    assert (tmp_path / "benchmarks.md").read_text() == (
        first / "docs" / "benchmarks.md"
    ).read_text()
    again = {path.name: path.read_bytes() for path in (tmp_path / "benchmarks").iterdir()}
    before = {path.name: path.read_bytes() for path in (first / "docs" / "benchmarks").iterdir()}
    assert again == before


def test_the_committed_page_is_rendered_from_the_committed_results(tmp_path: Path) -> None:
    from benchmarks.report.render import render

    document = json.loads((ROOT / "benchmarks" / "results" / "latest.json").read_text())
    rendered = render(document, tmp_path / "benchmarks.md", tmp_path / "benchmarks")
    assert rendered.read_text() == (ROOT / "docs" / "benchmarks.md").read_text(), (
        "docs/benchmarks.md is stale: run benchmarks/run_all.py --render-only"
    )
    committed = {path.name for path in (ROOT / "docs" / "benchmarks").glob("*.png")}
    assert {path.name for path in (tmp_path / "benchmarks").glob("*.png")} == committed


def test_the_finished_benchmarks_report_structured_results() -> None:
    kinds = {bench.name: bench.structured for bench in discover(ROOT / "benchmarks")}
    for name in ("bench_http", "bench_sqlite", "bench_memcached", "bench_dynamodb", "bench_memory"):
        assert kinds[name], f"{name} lost its collect(quick)"


def _table(**changes: Any) -> dict[str, Any]:
    table = {
        "id": "t",
        "title": "T",
        "columns": ["name", "ops/s"],
        "rows": [["raw", 100.0], ["hitbox", 150.0], ["peer", 50.0]],
        "metric": {"column": "ops/s", "better": "higher"},
        "baseline": "raw",
    }
    return table | changes


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"baseline": "nobody"}, "result.tables[0].baseline: 'nobody' is not a row label"),
        ({"peers": ["ghost"]}, "result.tables[0].peers: 'ghost' is not a row label"),
        ({"rows": [["raw", 1.0, 2.0]]}, "result.tables[0].rows[0]: ['raw', 1.0, 2.0] must be"),
        ({"rows": [["a", 1.0], ["a", 2.0]]}, "result.tables[0].rows: row labels must be unique"),
        (
            {"metric": {"column": "name", "better": "higher"}},
            "result.tables[0].metric.column: 'name' is not a value column",
        ),
        (
            {"metric": {"column": "ops/s", "better": "up"}},
            "result.tables[0].metric.better: 'up' is not 'lower' or 'higher'",
        ),
        ({"id": "Has Space"}, "result.tables[0].id: 'Has Space' must match"),
    ],
)
def test_validate_names_the_field_and_the_value(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        validate({"title": "T", "tables": [_table(**changes)]})


def test_ratios_are_oriented_so_that_above_one_is_better() -> None:
    faster = validate({"title": "T", "tables": [_table()]})["tables"][0]
    assert ratio(faster, "hitbox", "peer") == pytest.approx(3.0)
    latency = _table(
        columns=["name", "us"], metric={"column": "us", "better": "lower"}, rows=[["raw", 2.0]]
    )
    latency["rows"] += [["hitbox", 4.0]]
    assert ratio(validate({"title": "T", "tables": [latency]})["tables"][0], "hitbox", "raw") == (
        pytest.approx(0.5)
    )
    text = format_text({"title": "T", "tables": [_table()]})
    assert "  hitbox    150   1.50x\n" in text
