"""DynamoDB backend against local emulators: latency, concurrency, and batch vs single items.

Starts moto and dynalite on free loopback ports (or uses ``--endpoint`` URLs) and measures
on each, in one run:

1. **latency**: sequential ``get`` (hit) and ``set`` through ``DynamoDBBackend``, p50/p99,
   next to a bare aiobotocore ``GetItem``/``PutItem`` on an equally sized item (the
   peer: what the backend adds on top of the client).
2. **throughput**: 100 concurrent tasks doing ``get`` / ``set`` on their own keys.
0. **CPU per operation** without I/O: building an item (envelope, compression check,
   size estimate) and decoding one, the part of the cost the backend owns.
3. **batch vs single**: 100 keys read as one ``get_many`` (BatchGetItem), as 100
   sequential ``get`` and as 100 concurrent ``get``; likewise ``set_many`` vs ``set``.

Emulators run on this machine, so absolute numbers say little about AWS (where a
round trip costs a few milliseconds); the ratios are the result. An emulator that cannot
be started is reported as such and the other still runs. Run by hand, or through the
report (``benchmarks/run_all.py``, which calls :func:`collect`)::

    .venv/bin/python benchmarks/bench_dynamodb.py [--ops 300] [--rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.dynamodb.servers

from hitbox.testing import make_value
from hitbox_dynamodb import DynamoDBBackend, DynamoDBConfig, create_table
from hitbox_dynamodb._backend import open_client

from tests.dynamodb.servers import (
    FAKE_AWS_ENV,
    EmulatorUnavailableError,
    dynalite_server,
    moto_server,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for the report package
from report import format_text

TABLE = "hitbox-bench"
PAYLOAD = b"x" * 200
CONCURRENCY = 100
BATCH = 100


def settings(endpoint: str) -> dict[str, Any]:
    # Emulators on a busy machine answer slowly; the benchmark must not time out.
    return {
        "table": TABLE,
        "endpoint_url": endpoint,
        "region": "us-east-1",
        "read_timeout": 60.0,
        "max_pool_connections": CONCURRENCY,
    }


async def timed(op: Callable[[], Awaitable[Any]], count: int) -> list[float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        await op()
        samples.append(time.perf_counter() - start)
    return samples


def quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def latency_row(name: str, samples: list[float], peer: list[float] | None) -> list[Any]:
    """``[name, p50 ms, p99 ms, median as a multiple of the bare client's]``."""
    ratio = statistics.median(samples) / statistics.median(peer) if peer else 1.0
    return [name, quantile(samples, 0.5) * 1e3, quantile(samples, 0.99) * 1e3, ratio]


async def bench_server(label: str, endpoint: str, ops: int, rounds: int) -> list[dict[str, Any]]:
    """Latency, throughput and batch tables measured on one emulator."""
    config = DynamoDBConfig(**settings(endpoint))
    async with open_client(config) as client:
        await create_table(client, TABLE, poll_interval=0.05)
    backend = DynamoDBBackend(config)
    value = make_value(PAYLOAD, ttl=3600)
    keys = [f"bench:{i}" for i in range(max(ops, CONCURRENCY * 2, BATCH))]
    await backend.set_many(dict.fromkeys(keys, (value, 3600.0)))
    try:
        counter = iter(range(10**9))

        def next_key() -> str:
            return keys[next(counter) % ops]

        async with open_client(config) as raw:
            # The same attributes and sizes as the backend's items: only the backend differs.
            raw_item = {
                "pk": {"S": "raw"},
                "payload": {"B": PAYLOAD + b"0" * 40},
                "expires_at": {"N": str(int(time.time()) + 3600)},
                "expires_at_ms": {"N": str(int(time.time() * 1000) + 3_600_000)},
            }
            await raw.put_item(TableName=TABLE, Item=raw_item)
            key = {"pk": {"S": "raw"}}
            await timed(lambda: raw.get_item(TableName=TABLE, Key=key), 20)
            await timed(lambda: backend.get(next_key()), 20)  # warm the connection pool
            samples = await best_rounds(
                {
                    "raw_get": lambda: raw.get_item(TableName=TABLE, Key=key),
                    "get": lambda: backend.get(next_key()),
                    "raw_put": lambda: raw.put_item(TableName=TABLE, Item=raw_item),
                    "put": lambda: backend.set(next_key(), value, 3600),
                },
                ops,
                rounds,
            )
        latency = [
            latency_row("bare aiobotocore GetItem", samples["raw_get"], None),
            latency_row("hitbox DynamoDBBackend.get (hit)", samples["get"], samples["raw_get"]),
            latency_row("bare aiobotocore PutItem", samples["raw_put"], None),
            latency_row("hitbox DynamoDBBackend.set", samples["put"], samples["raw_put"]),
        ]

        total = ops * 3
        throughput = []
        for name, make in (
            ("hitbox get", lambda k: backend.get(k)),
            ("hitbox set", lambda k: backend.set(k, value, 3600)),
        ):
            best = 0.0
            for _ in range(rounds):
                start = time.perf_counter()
                await asyncio.gather(
                    *(
                        worker(make, keys[i::CONCURRENCY], total // CONCURRENCY)
                        for i in range(CONCURRENCY)
                    )
                )
                best = max(best, total / (time.perf_counter() - start))
            throughput.append([name, best])

        batch_keys = keys[:BATCH]
        items = dict.fromkeys(batch_keys, (value, 3600.0))
        modes: dict[str, Callable[[], Awaitable[Any]]] = {
            "get_many (BatchGetItem)": lambda: backend.get_many(batch_keys),
            f"get x{BATCH} sequential": lambda: sequential(backend.get, batch_keys),
            f"get x{BATCH} concurrent": lambda: asyncio.gather(*map(backend.get, batch_keys)),
            "set_many (BatchWriteItem)": lambda: backend.set_many(items),
            f"set x{BATCH} sequential": lambda: sequential(
                lambda k: backend.set(k, value, 3600), batch_keys
            ),
            f"set x{BATCH} concurrent": lambda: asyncio.gather(
                *(backend.set(k, value, 3600) for k in batch_keys)
            ),
        }
        best_times = {name: min(await timed(op, rounds)) for name, op in modes.items()}
        batch = []
        for name, seconds in best_times.items():
            base = best_times[
                "get_many (BatchGetItem)" if name.startswith("get") else "set_many (BatchWriteItem)"
            ]
            batch.append([name, seconds * 1e3, seconds / base])
    finally:
        await backend.aclose()
    return [
        {
            "id": f"{label}-latency",
            "title": f"{label}: latency, sequential, one caller",
            "columns": ["operation", "p50 ms", "p99 ms", "median x bare client"],
            "rows": latency,
            "plot": {"columns": ["p50 ms", "p99 ms"], "label": "milliseconds (lower is better)"},
        },
        {
            "id": f"{label}-throughput",
            "title": f"{label}: throughput, {CONCURRENCY} concurrent tasks on their own keys",
            "columns": ["operation", "ops/s"],
            "rows": throughput,
            "plot": {"columns": ["ops/s"], "label": "operations per second (higher is better)"},
        },
        {
            "id": f"{label}-batch",
            "title": f"{label}: batch against single items, {BATCH} keys",
            "columns": ["mode", "ms", "x of the batch call"],
            "rows": batch,
            "plot": {"columns": ["ms"], "label": f"ms for {BATCH} keys (lower is better)"},
        },
    ]


async def worker(op: Callable[[str], Awaitable[Any]], own: list[str], count: int) -> None:
    for index in range(count):
        await op(own[index % len(own)])


async def best_rounds(
    probes: dict[str, Callable[[], Awaitable[Any]]], ops: int, rounds: int
) -> dict[str, list[float]]:
    """Per probe, the samples of its round with the lowest median. Rounds run every probe
    in turn, so that load changes on the shared machine hit the client and the backend
    alike."""
    runs: dict[str, list[list[float]]] = {name: [] for name in probes}
    for _ in range(rounds):
        for name, op in probes.items():
            runs[name].append(await timed(op, ops))
    return {name: min(samples, key=statistics.median) for name, samples in runs.items()}


def cpu_per_op(ops: int) -> dict[str, Any]:
    """Microseconds of backend CPU per item built and decoded, without any I/O."""
    backend = DynamoDBBackend(table=TABLE)
    now = time.time()
    rows = []
    for size, label in ((200, "200 B"), (16 * 1024, "16 KiB (zlib)")):
        value = make_value(b"y" * size)
        count = ops * 20
        start = time.perf_counter()
        for _ in range(count):
            item = backend._build_item("bench:key", value, 60)
        build = (time.perf_counter() - start) / count
        assert item is not None
        start = time.perf_counter()
        for _ in range(count):
            backend._decode(item, now)
        decode = (time.perf_counter() - start) / count
        rows.append([label, build * 1e6, decode * 1e6])
    return {
        "id": "cpu",
        "title": "CPU per operation, no I/O (the backend's own cost)",
        "columns": ["payload", "build item us", "decode item us"],
        "rows": rows,
        "plot": {"columns": ["build item us", "decode item us"], "label": "microseconds"},
    }


async def sequential(op: Callable[[str], Awaitable[Any]], keys: list[str]) -> None:
    for key in keys:
        await op(key)


Emulator = Callable[[], AbstractContextManager[str]]


def emulators(given: list[str]) -> list[tuple[str, Emulator]]:
    """``(label, endpoint context)`` for the given URLs, or for moto and dynalite."""
    if given:
        return [(url, _running_at(url)) for url in given]
    return [("moto", moto_server), ("dynalite", dynalite_server)]


def _running_at(url: str) -> Emulator:
    return lambda: contextlib.nullcontext(url)


def collect(
    quick: bool,
    ops: int | None = None,
    rounds: int | None = None,
    endpoint: list[str] | None = None,
) -> dict[str, Any]:
    """The benchmark report's entry point (see ``benchmarks/report/protocol.py``)."""
    ops = ops or (100 if quick else 300)
    rounds = rounds or (3 if quick else 5)
    for name, value in FAKE_AWS_ENV.items():
        os.environ.setdefault(name, value)
    tables = [cpu_per_op(ops)]
    notes = []
    for label, server in emulators(endpoint or []):
        try:
            with server() as url:
                tables += asyncio.run(bench_server(label, url, ops, rounds))
        except EmulatorUnavailableError as exc:
            notes.append(f"{label} not measured: {exc}")
    return {
        "title": "DynamoDB",
        "description": (
            "`DynamoDBBackend` against local emulators (moto and dynalite on loopback), next "
            "to a bare aiobotocore client sending an equally sized item: what the backend adds "
            "on top of its client. 200-byte values. Emulators answer in about a millisecond "
            "and AWS in a few, so absolute numbers say little about production; the ratios, "
            "and batch against single items, are the result. Latency rows keep the round "
            "with the lowest median."
        ),
        "parameters": {"sequential operations": ops, "rounds": rounds},
        "tables": tables,
        "notes": notes,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=None, help="300 (100 with --quick)")
    parser.add_argument("--rounds", type=int, default=None, help="5 (3 with --quick)")
    parser.add_argument("--quick", action="store_true", help="fewer operations and rounds")
    parser.add_argument("--endpoint", action="append", default=[], help="use this endpoint")
    args = parser.parse_args()
    print(format_text(collect(args.quick, args.ops, args.rounds, args.endpoint)))
