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
round trip costs a few milliseconds); the ratios are the result. Run by hand::

    .venv/bin/python benchmarks/bench_dynamodb.py [--ops 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.dynamodb.servers

from hitbox.testing import make_value
from hitbox_dynamodb import DynamoDBBackend, DynamoDBConfig, create_table
from hitbox_dynamodb._backend import open_client

from tests.dynamodb.servers import FAKE_AWS_ENV, dynalite_server, moto_server

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


def latency_row(name: str, samples: list[float], peer: list[float] | None = None) -> str:
    p50, p99 = quantile(samples, 0.5) * 1e3, quantile(samples, 0.99) * 1e3
    ratio = ""
    if peer is not None:
        ratio = f"   x{statistics.median(samples) / statistics.median(peer):.2f} of bare client"
    return f"  {name:<34} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms{ratio}"


async def bench_server(label: str, endpoint: str, ops: int, rounds: int) -> None:
    config = DynamoDBConfig(**settings(endpoint))
    async with open_client(config) as client:
        await create_table(client, TABLE, poll_interval=0.05)
    backend = DynamoDBBackend(config)
    value = make_value(PAYLOAD, ttl=3600)
    keys = [f"bench:{i}" for i in range(max(ops, CONCURRENCY * 2, BATCH))]
    await backend.set_many(dict.fromkeys(keys, (value, 3600.0)))
    print(f"\n== {label} ({endpoint})")
    try:
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
            raw_get = await best_round(lambda: raw.get_item(TableName=TABLE, Key=key), ops, rounds)
            raw_put = await best_round(
                lambda: raw.put_item(TableName=TABLE, Item=raw_item), ops, rounds
            )
        counter = iter(range(10**9))

        def next_key() -> str:
            return keys[next(counter) % ops]

        await timed(lambda: backend.get(next_key()), 20)  # warm the connection pool
        get = await best_round(lambda: backend.get(next_key()), ops, rounds)
        put = await best_round(lambda: backend.set(next_key(), value, 3600), ops, rounds)
        print("latency (sequential, one caller)")
        print(latency_row("bare aiobotocore GetItem", raw_get))
        print(latency_row("DynamoDBBackend.get (hit)", get, raw_get))
        print(latency_row("bare aiobotocore PutItem", raw_put))
        print(latency_row("DynamoDBBackend.set", put, raw_put))

        total = ops * 3
        print(f"throughput ({CONCURRENCY} concurrent tasks, own keys, {total} ops)")
        for name, make in (
            ("get", lambda k: backend.get(k)),
            ("set", lambda k: backend.set(k, value, 3600)),
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
            print(f"  {name:<34} {best:9.0f} ops/s")

        print(f"batch vs single ({BATCH} keys per call, best of {rounds})")
        batch_keys = keys[:BATCH]
        items = dict.fromkeys(batch_keys, (value, 3600.0))
        modes: dict[str, Callable[[], Awaitable[Any]]] = {
            "get_many (BatchGetItem)": lambda: backend.get_many(batch_keys),
            "get x100 sequential": lambda: sequential(backend.get, batch_keys),
            "get x100 concurrent": lambda: asyncio.gather(*map(backend.get, batch_keys)),
            "set_many (BatchWriteItem)": lambda: backend.set_many(items),
            "set x100 sequential": lambda: sequential(
                lambda k: backend.set(k, value, 3600), batch_keys
            ),
            "set x100 concurrent": lambda: asyncio.gather(
                *(backend.set(k, value, 3600) for k in batch_keys)
            ),
        }
        best_times = {name: min(await timed(op, rounds)) for name, op in modes.items()}
        for name, seconds in best_times.items():
            base = "get_many" if name.startswith("get") else "set_many"
            batch = next(v for n, v in best_times.items() if n.startswith(base))
            print(f"  {name:<34} {seconds * 1e3:8.1f} ms   x{seconds / batch:.1f} of batch")
    finally:
        await backend.aclose()


async def worker(op: Callable[[str], Awaitable[Any]], own: list[str], count: int) -> None:
    for index in range(count):
        await op(own[index % len(own)])


async def best_round(op: Callable[[], Awaitable[Any]], ops: int, rounds: int) -> list[float]:
    """The samples of the round with the lowest median (the machine is shared)."""
    runs = [await timed(op, ops) for _ in range(rounds)]
    return min(runs, key=statistics.median)


def cpu_per_op(ops: int) -> None:
    """Microseconds of backend CPU per item built and decoded, without any I/O."""
    backend = DynamoDBBackend(table=TABLE)
    now = time.time()
    print("CPU per operation, no I/O (the backend's own cost)")
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
        print(
            f"  {label:<16} build item {build * 1e6:7.1f} us   decode item {decode * 1e6:7.1f} us"
        )


async def sequential(op: Callable[[str], Awaitable[Any]], keys: list[str]) -> None:
    for key in keys:
        await op(key)


@contextlib.contextmanager
def endpoints(given: list[str]) -> Iterator[list[tuple[str, str]]]:
    if given:
        yield [(url, url) for url in given]
        return
    with moto_server() as moto, dynalite_server() as dynalite:
        yield [("moto", moto), ("dynalite", dynalite)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=300, help="sequential operations per row")
    parser.add_argument("--rounds", type=int, default=3, help="repetitions; the best counts")
    parser.add_argument("--endpoint", action="append", default=[], help="use this endpoint")
    args = parser.parse_args()
    for name, value in FAKE_AWS_ENV.items():
        os.environ.setdefault(name, value)
    cpu_per_op(args.ops)
    with endpoints(args.endpoint) as servers:
        for label, url in servers:
            asyncio.run(bench_server(label, url, args.ops, args.rounds))


if __name__ == "__main__":
    main()
