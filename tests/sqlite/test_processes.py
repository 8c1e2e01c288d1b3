"""SQLite across real processes: persistence over a restart, and no "database is locked"."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _spawn(*args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.sqlite._worker", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _result(process: subprocess.Popen[str], timeout: float = 90) -> dict[str, Any]:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, f"worker failed ({process.returncode}): {err}"
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def test_entry_survives_a_process_restart(db_path: str) -> None:
    assert _result(_spawn("write", db_path, "user:42", "Ada")) == {"ok": True}
    assert _result(_spawn("read", db_path, "user:42")) == {"data": "Ada"}
    assert _result(_spawn("read", db_path, "user:43")) == {"data": None}


@pytest.mark.slow
def test_eight_processes_fifty_tasks_never_see_database_is_locked(db_path: str) -> None:
    processes, tasks, rounds = 8, 50, 6
    workers = [_spawn("stress", db_path, str(n), str(tasks), str(rounds)) for n in range(processes)]
    results = [_result(worker) for worker in workers]

    errors = {error: count for result in results for error, count in result["errors"].items()}
    assert errors == {}
    assert sum(result["wrong"] for result in results) == 0
    # set, get, set, get, get_many, lock (+ unlock, delete): at least 6 per round.
    assert sum(result["ops"] for result in results) >= processes * tasks * rounds * 6

    # The trigger-maintained counters stayed exact under concurrent writers.
    with sqlite3.connect(db_path) as conn:
        counted = conn.execute("SELECT entries FROM hitbox_stats").fetchone()[0]
        actual = conn.execute("SELECT count(*) FROM hitbox_entries").fetchone()[0]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert counted == actual
    assert actual > 0
