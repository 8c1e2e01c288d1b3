"""``hitbox stats``: the live counters of a running ``hitbox proxy --admin``.

Reads the admin endpoint (:mod:`hitbox_http._admin`) once and prints a table, or the
endpoint's JSON with ``--json``. Exit codes follow ``hitbox check``: 0 shown, 1 the
endpoint cannot be reached or is not a hitbox admin endpoint, 2 bad input (including a
missing or wrong token).
"""

from __future__ import annotations

import json
import sys
from typing import Any
from urllib.parse import urlsplit

import click
import hitbox

from hitbox_http._cli import DEFAULT_ADMIN

__all__ = ["fetch_stats", "stats_command"]

EXIT_UNREACHABLE = 1

_COUNTERS = (
    ("requests", "requests (hits + stale + misses)"),
    ("hits", "hits"),
    ("stale", "stale"),
    ("misses", "misses"),
    ("locked", "collapsed waits (locked)"),
    ("errors", "backend errors"),
    ("upstream_calls", "upstream calls"),
    ("refreshes", "background refreshes"),
    ("skipped", "skipped (breaker open)"),
)


class AdminUnreachableError(Exception):
    """The admin endpoint did not answer with hitbox stats."""


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises ValueError when out of range
    except ValueError:
        parts = parts._replace(netloc="")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise hitbox.ConfigError(
            f"--url: expected the admin endpoint as http(s)://HOST:PORT, got {url!r}",
            field="url",
            value=url,
        )
    return url


def fetch_stats(url: str, *, token: str | None = None, timeout: float = 5.0) -> dict[str, Any]:
    """The admin endpoint's JSON document.

    Raises :class:`hitbox.ConfigError` for a bad ``url`` or a refused token, and
    :class:`AdminUnreachableError` when nothing (or something else) answers.
    """
    import httpx

    headers = {"authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.get(_check_url(url), headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        detail = str(exc) or type(exc).__name__
        raise AdminUnreachableError(f"cannot reach the admin endpoint at {url}: {detail}") from None
    if response.status_code in (401, 403):
        reason = _error_of(response) or response.reason_phrase
        hint = " (give --token or set HITBOX_ADMIN_TOKEN)" if response.status_code == 401 else ""
        raise hitbox.ConfigError(
            f"the admin endpoint at {url} refused the request: {reason}{hint}",
            field="token",
            value=None,
        )
    try:
        document = response.json()
    except ValueError:
        document = None
    if response.status_code != 200 or not isinstance(document, dict) or "stats" not in document:
        raise AdminUnreachableError(
            f"{url} answered {response.status_code} without hitbox stats; is it the address "
            "given to hitbox proxy --admin?"
        )
    return document


def _error_of(response: Any) -> str | None:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return None
    return str(error) if error else None


def _uptime(seconds: float) -> str:
    whole = int(seconds)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours:d}h {minutes:02d}m {secs:02d}s" if hours or days else f"{minutes}m {secs:02d}s"
    return f"{days}d {text}" if days else text


def _print_table(url: str, document: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    stats = document.get("stats", {})
    table = Table(title=f"hitbox stats: {url}", show_header=False)
    table.add_column("name", style="bold")
    table.add_column("value", justify="right")
    table.add_row("backend", str(document.get("backend", "-")))
    if document.get("upstream"):
        table.add_row("upstream", str(document["upstream"]))
    table.add_row("uptime", _uptime(float(document.get("uptime", 0.0))))
    table.add_row("circuit breaker", str(document.get("breaker") or "n/a"))
    if document.get("background_tasks") is not None:
        table.add_row("background tasks", str(document["background_tasks"]))
    table.add_section()
    has_breaker = document.get("breaker") is not None
    for name, label in _COUNTERS:
        if name in stats and (name != "skipped" or has_breaker):
            table.add_row(label, f"{stats[name]:,}")
    table.add_row("hit ratio", f"{float(stats.get('hit_ratio', 0.0)):.1%}")
    Console().print(table)


@click.command("stats")
@click.option(
    "--url",
    default=f"http://{DEFAULT_ADMIN}",
    show_default=True,
    help="The admin endpoint of a running `hitbox proxy --admin`.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the endpoint's JSON as is.")
@click.option(
    "--token",
    envvar="HITBOX_ADMIN_TOKEN",
    default=None,
    help="Bearer token of the admin endpoint (default: $HITBOX_ADMIN_TOKEN).",
)
@click.option(
    "--timeout",
    default=5.0,
    show_default=True,
    type=click.FloatRange(min=0.001),
    help="Seconds to wait for the endpoint.",
)
def stats_command(url: str, as_json: bool, token: str | None, timeout: float) -> None:
    """Show the live counters of a running caching proxy (exit 1 if unreachable)."""
    try:
        document = fetch_stats(url, token=token, timeout=timeout)
    except AdminUnreachableError as exc:
        click.echo(f"hitbox: error: {exc}", err=True)
        sys.exit(EXIT_UNREACHABLE)
    if as_json:
        click.echo(json.dumps(document, indent=2))
    else:
        _print_table(url, document)
