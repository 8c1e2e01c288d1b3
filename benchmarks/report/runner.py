"""Run every ``benchmarks/bench_*.py`` one after another and collect their results.

Each benchmark runs in its own fresh interpreter, so one benchmark's servers, event loop,
heap and crashes never touch the next, and a hung one is killed at its timeout. Two
kinds of script are run:

* **structured** — the module defines ``collect(quick)`` (see :mod:`.protocol`): a child
  interpreter imports it (its ``__main__`` block does not run), calls ``collect`` and
  writes the validated result as JSON;
* **text only** — any other ``bench_*.py`` runs as a plain script (with ``--quick`` in
  quick mode when its source mentions that flag); its printed output goes on the page
  verbatim until its owner adds ``collect``.

Benchmarks never run in parallel: on a 2-core machine that would measure the contention.
"""

from __future__ import annotations

import ast
import asyncio
import collections
import contextlib
import importlib.util
import inspect
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import machine
from .protocol import validate

__all__ = ["Benchmark", "discover", "run_benchmark", "run_child", "run_suite"]

ORDER = (
    "bench_hit_path",
    "bench_miss",
    "bench_keys",
    "bench_memory",
    "bench_redis",
    "bench_tiered",
    "bench_memcached",
    "bench_sqlite",
    "bench_dynamodb",
    "bench_http",
    "bench_proxy",
    "bench_observability",
)
"""Page order: the core hit path first, then backends, then protocol layers. Files not
listed follow in name order (``bench_tiered_x`` sorts right after ``bench_tiered``)."""

TAIL_LINES = 40
"""Lines of a failed benchmark's output kept as its error."""


@dataclass(frozen=True)
class Benchmark:
    """One benchmark script and how the runner drives it."""

    name: str
    path: Path
    structured: bool
    takes_quick: bool


def _defines_collect(tree: ast.Module) -> bool:
    return any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == "collect"
        for node in tree.body
    )


def _rank(name: str) -> tuple[int, str]:
    for index, prefix in enumerate(ORDER):
        if name == prefix or name.startswith(prefix + "_"):
            return index, name
    return len(ORDER), name


def discover(directory: Path) -> list[Benchmark]:
    """Every ``bench_*.py`` in ``directory``, in page order; parsed, never imported."""
    found = []
    for path in directory.glob("bench_*.py"):
        source = path.read_text(encoding="utf-8")
        found.append(
            Benchmark(
                name=path.stem,
                path=path,
                structured=_defines_collect(ast.parse(source, str(path))),
                takes_quick='"--quick"' in source,
            )
        )
    return sorted(found, key=lambda bench: _rank(bench.name))


def run_child(path: Path, quick: bool, out: Path) -> None:
    """In the child interpreter: import the script, call ``collect``, write the result."""
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # dataclasses and pickling look modules up by name
    spec.loader.exec_module(module)
    collect = module.collect
    result = asyncio.run(collect(quick)) if inspect.iscoroutinefunction(collect) else collect(quick)
    out.write_text(json.dumps(validate(result)), encoding="utf-8")


def _stream(
    command: list[str], prefix: str, timeout: float, env: dict[str, str]
) -> tuple[int | None, str]:
    """Run ``command``, echoing its output live; the exit code (``None`` when killed at
    ``timeout``) and all of its output."""
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,  # its own process group: a timeout also ends its servers
    )
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)

    timer = threading.Timer(timeout, kill)
    timer.start()
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            print(f"[{prefix}] {line}", end="", flush=True)
        process.wait()
    finally:
        timer.cancel()
    return (None if timed_out.is_set() else process.returncode), "".join(lines)


def _tail(output: str) -> str:
    return "".join(collections.deque(output.splitlines(keepends=True), maxlen=TAIL_LINES))


def run_benchmark(bench: Benchmark, quick: bool, timeout: float, runner: Path) -> dict[str, Any]:
    """Run one benchmark; its entry in the JSON results, whatever happened."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", MPLBACKEND="Agg")
    entry: dict[str, Any] = {
        "name": bench.name,
        "script": f"benchmarks/{bench.path.name}",
        "load_before": machine.load_average(),
    }
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        if bench.structured:
            command = [sys.executable, str(runner), "--child", str(bench.path), "--out", str(out)]
        else:
            command = [sys.executable, str(bench.path)]
        if quick and (bench.structured or bench.takes_quick):
            command.append("--quick")
        code, output = _stream(command, bench.name.removeprefix("bench_"), timeout, env)
        entry["seconds"] = round(time.monotonic() - started, 1)
        entry["load_after"] = machine.load_average()
        if code is None:
            entry.update(status="failed", error=f"killed after {timeout:.0f} s\n{_tail(output)}")
        elif code != 0:
            entry.update(status="failed", error=f"exit code {code}\n{_tail(output)}")
        elif bench.structured:
            entry.update(status="ok", result=json.loads(out.read_text(encoding="utf-8")))
        else:
            entry.update(status="text", output=output)
    return entry


def run_suite(
    benchmarks: list[Benchmark],
    quick: bool,
    timeout: float,
    runner: Path,
    command: str,
    root: Path,
) -> dict[str, Any]:
    """Run ``benchmarks`` in order; the whole JSON document."""
    document: dict[str, Any] = {
        "schema": 1,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": command,
        "quick": quick,
        "git": machine.git_state(root),
        "machine": machine.describe(),
        "load_before": machine.load_average(),
        "benchmarks": [],
    }
    for bench in benchmarks:
        kind = "structured" if bench.structured else "text only"
        print(f"== {bench.name} ({kind}{', quick' if quick else ''})", flush=True)
        entry = run_benchmark(bench, quick, timeout, runner)
        print(f"== {bench.name}: {entry['status']} in {entry['seconds']} s", flush=True)
        document["benchmarks"].append(entry)
    document["load_after"] = machine.load_average()
    return document
