"""Key functions: Hitbox's compiled keys against hand-written and peer key builders.

The key function runs on every cache hit, so it has to cost about what a hand-written
f-string lambda costs. Compared, in one run, with interleaved rounds:

- ``hand f-string``: ``lambda user_id: f"user:{user_id}"`` (the floor a user would write);
- ``cachetools.keys.hashkey``: the tightest peer (builds a hashable tuple, not a string);
- ``Signature.bind + repr``: the naive approach the compiled function avoids;
- Hitbox ``DefaultKeyStrategy``: default keys (qualified name + encoded arguments) and
  templates, with and without namespace/version prefixes.

Prints the median ns per call and the ratio to the hand-written lambda
(``benchmarks/run_all.py`` calls :func:`collect` for the report instead). Run by hand::

    .venv/bin/python benchmarks/bench_keys.py [--calls 200000] [--rounds 15]
"""

from __future__ import annotations

import argparse
import inspect
import statistics
import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cachetools.keys import hashkey
from hitbox.keys import DefaultKeyStrategy

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for the report package
from report import validate

CALLS = 200_000
ROUNDS = 15
FLOOR = "hand f-string (floor)"


def get_user(user_id: int) -> None:
    """The decorated function of the one-int cases."""


def untyped(user_id):  # type: ignore[no-untyped-def]
    """Same, unannotated: the per-value type dispatch instead of the inline fast path."""


def search(query: str, page: int = 1, tags: tuple[str, ...] = ()) -> None:
    """A three-argument function with defaults."""


SIGNATURE = inspect.signature(get_user)


def bind_repr(*args: Any, **kwargs: Any) -> str:
    bound = SIGNATURE.bind(*args, **kwargs)
    bound.apply_defaults()
    return f"get_user:{bound.arguments!r}"


def cases() -> dict[str, tuple[Callable[..., Any], tuple[Any, ...]]]:
    plain = DefaultKeyStrategy()
    prefixed = DefaultKeyStrategy(namespace="shop", version=3)
    return {
        FLOOR: (lambda user_id: f"user:{user_id}", (42,)),
        "cachetools hashkey": (hashkey, (42,)),
        "Signature.bind + repr": (bind_repr, (42,)),
        "hitbox default, 1 int": (plain.compile(get_user), (42,)),
        "hitbox default ns+v, 1 int": (prefixed.compile(get_user), (42,)),
        "hitbox default, untyped int": (plain.compile(untyped), (42,)),
        "hitbox default, 1 str": (plain.compile(untyped), ("alice",)),
        "hitbox template user:{user_id}": (plain.compile(get_user, "user:{user_id}"), (42,)),
        "hitbox default, str+int+tuple": (plain.compile(search), ("shoes", 2, ("red",))),
    }


def measure(calls: int, rounds: int) -> dict[str, list[float]]:
    """Nanoseconds per call of every case, one sample per round."""
    runs = cases()
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):  # interleaved, so machine noise hits every case alike
        for name, (func, args) in runs.items():
            timer = timeit.Timer("f(*a)", globals={"f": func, "a": args})
            samples[name].append(timer.timeit(calls) / calls * 1e9)
    return samples


def collect(quick: bool) -> dict[str, Any]:
    """The benchmark report's entry point (see ``benchmarks/report/protocol.py``)."""
    calls, rounds = (50_000, 5) if quick else (CALLS, ROUNDS)
    samples = measure(calls, rounds)
    return validate(  # type: ignore[return-value]
        {
            "title": "Key functions",
            "description": (
                "The key function runs on every hit, so it should cost about what a "
                "hand-written f-string lambda costs. Hitbox's compiled default keys "
                "(qualified name + encoded arguments) and templates against that floor, "
                "`cachetools.keys.hashkey` (a hashable tuple, not a string) and the "
                "naive `Signature.bind` + `repr`. `timeit` loops, interleaved rounds."
            ),
            "parameters": {"calls": calls, "rounds": rounds},
            "tables": [
                {
                    "id": "keys",
                    "title": "Time per key",
                    "columns": ["key function", "median ns", "min ns"],
                    "rows": [
                        [name, statistics.median(values), min(values)]
                        for name, values in samples.items()
                    ],
                    "metric": {"column": "median ns", "better": "lower"},
                    "baseline": FLOOR,
                    "hitbox_row": "hitbox default, 1 int",
                    "peers": ["cachetools hashkey"],
                }
            ],
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=CALLS)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    options = parser.parse_args()
    samples = measure(options.calls, options.rounds)
    floor = statistics.median(samples[FLOOR])
    print(f"{'key function':34} {'median ns':>10} {'min ns':>8} {'x floor':>8}")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"{name:34} {median:10.0f} {min(values):8.0f} {median / floor:8.2f}")


if __name__ == "__main__":
    main()
