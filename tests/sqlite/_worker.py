"""A separate process for the SQLite multi-process tests: ``python -m tests.sqlite._worker``.

Commands (the result is one JSON line on stdout):

``write PATH KEY DATA``
    store DATA under KEY for an hour, then exit (no explicit close: a process that
    simply ends must not lose committed entries);
``read PATH KEY``
    print the stored data (or null);
``stress PATH WORKER TASKS ROUNDS``
    run TASKS concurrent tasks, each doing ROUNDS rounds of set/get/get_many/lock/delete
    on its own keys and on keys shared by every process; print counts of operations,
    errors by type, and reads that returned something other than what this task wrote.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter

from hitbox import CachedValue
from hitbox_sqlite import SQLiteBackend


def _value(data: bytes) -> CachedValue:
    now = time.time()
    return CachedValue(data, now, now + 3600, now + 3600)


async def _write(path: str, key: str, data: str) -> dict[str, object]:
    backend = SQLiteBackend(path)
    await backend.set(key, _value(data.encode()), 3600)
    return {"ok": True}


async def _read(path: str, key: str) -> dict[str, object]:
    backend = SQLiteBackend(path)
    try:
        stored = await backend.get(key)
    finally:
        await backend.aclose()
    return {"data": None if stored is None else stored.data.decode()}


async def _stress(path: str, worker: int, tasks: int, rounds: int) -> dict[str, object]:
    backend = SQLiteBackend(path, max_entries=5_000)
    errors: Counter[str] = Counter()
    ops = Counter[str]()
    wrong = 0

    async def op(name: str, call: object) -> object:
        ops[name] += 1
        try:
            return await call  # type: ignore[misc]
        except Exception as exc:
            errors[f"{name}: {type(exc).__name__}: {exc}"] += 1
            return None

    async def task(number: int) -> None:
        nonlocal wrong
        for round_ in range(rounds):
            own = f"own:{worker}:{number}"
            data = f"{worker}:{number}:{round_}".encode()
            shared = f"shared:{(number + round_) % 7}"
            await op("set", backend.set(own, _value(data), 60))
            stored = await op("get", backend.get(own))
            if not isinstance(stored, CachedValue) or stored.data != data:
                wrong += 1
            await op("set", backend.set(shared, _value(data), 60))
            await op("get", backend.get(shared))
            await op("get_many", backend.get_many([own, shared, "missing"]))
            token = await op("lock", backend.acquire_lock(shared, 5))
            if isinstance(token, str):
                await op("unlock", backend.release_lock(shared, token))
            if round_ % 3 == 2:
                await op("delete", backend.delete(own))

    started = time.perf_counter()
    await asyncio.gather(*(task(number) for number in range(tasks)))
    elapsed = time.perf_counter() - started
    await backend.aclose()
    return {"ops": sum(ops.values()), "errors": dict(errors), "wrong": wrong, "seconds": elapsed}


def main(argv: list[str]) -> None:
    """Run one command and print its JSON result."""
    command, path, *rest = argv
    if command == "write":
        result = asyncio.run(_write(path, rest[0], rest[1]))
    elif command == "read":
        result = asyncio.run(_read(path, rest[0]))
    elif command == "stress":
        worker, tasks, rounds = (int(arg) for arg in rest)
        result = asyncio.run(_stress(path, worker, tasks, rounds))
    else:
        raise SystemExit(f"unknown command {command!r}")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
