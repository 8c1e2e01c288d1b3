"""Render the JSON results of one run as ``docs/benchmarks.md`` plus PNG charts.

The page is generated, never edited by hand: it says when and by which command it was
produced, on what machine, how loaded that machine was, and it puts the ratios first,
because on a shared machine the ratios within one run are what can be trusted.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from . import plots
from .protocol import Table, format_value, ratio, with_ratios

__all__ = ["PEERS", "comparisons", "render"]

PEERS = {
    "aiocache": ("aiocache",),
    "cashews": ("cashews",),
    "cachetools": ("cachetools",),
    "dogpile.cache": ("dogpile",),
    "hishel": ("hishel",),
    "fastapi-cache2": ("fastapi-cache2", "fastapi_cache"),
    "raw redis-py": ("redis-py",),
}
"""The peers the report must compare Hitbox with, and how their rows are recognised."""

NOISE = """\
!!! warning "Read the ratios, not the absolute numbers"
    These numbers come from a small shared virtual machine ({cores} cores) on which other
    work was running (load average {load_start} at the start, {load_end} at the end).
    Absolute times move by tens of percent from one run to the next. Each benchmark
    interleaves its contenders' rounds and keeps the best round, so the ratios within one
    run are what count; compare ratios between runs only loosely, and absolute numbers
    not at all.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _markdown_table(header: list[str], rows: list[list[str]], numeric: bool = True) -> list[str]:
    """A pipe table; after the first, columns align right when ``numeric``."""
    aligns = [":--"] + ["--:" if numeric else ":--"] * (len(header) - 1)
    lines = ["| " + " | ".join(_cell(cell) for cell in header) + " |"]
    lines.append("| " + " | ".join(aligns) + " |")
    lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows]
    return lines


def _ok_results(document: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(e, e["result"]) for e in document["benchmarks"] if e["status"] == "ok"]


def _short(name: str) -> str:
    return name.removeprefix("bench_")


def comparisons(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Every (table, peer) pair where a Hitbox row meets a peer row: the headline data."""
    found = []
    for entry, result in _ok_results(document):
        for table in result["tables"]:
            ours = table.get("hitbox_row")
            if ours is None or "metric" not in table:
                continue
            column = table["columns"].index(table["metric"]["column"])
            values = {row[0]: row[column] for row in table["rows"]}
            for peer in table.get("peers", []):
                factor = ratio(table, ours, peer)
                if factor is not None:
                    found.append(
                        {
                            "benchmark": _short(entry["name"]),
                            "table": table["title"],
                            "id": table["id"],
                            "metric": table["metric"]["column"],
                            "hitbox": ours,
                            "hitbox_value": values[ours],
                            "peer": peer,
                            "peer_value": values[peer],
                            "factor": factor,
                        }
                    )
    return found


def _coverage(document: dict[str, Any]) -> list[list[str]]:
    rows = []
    for peer, needles in PEERS.items():
        compared, printed = set(), set()
        for entry in document["benchmarks"]:
            name = _short(entry["name"])
            if entry["status"] == "ok":
                for table in entry["result"]["tables"]:
                    labels = [str(row[0]).lower() for row in table["rows"]]
                    if any(needle in label for needle in needles for label in labels):
                        compared.add(name)
            elif entry["status"] == "text" and any(n in entry["output"].lower() for n in needles):
                printed.add(name)
        shown = ", ".join(sorted(compared)) or "-"
        text = ", ".join(sorted(printed - compared)) or "-"
        rows.append([peer, shown, text])
    return rows


def _machine(document: dict[str, Any]) -> list[str]:
    info = document["machine"]
    git = document.get("git", {})
    commit = git.get("commit") or "unknown"
    if git.get("dirty"):
        commit += " (with uncommitted changes in the working tree)"
    servers = [f"{name}: {version}" for name, version in info["servers"].items() if version]
    rows = [
        ["CPU", info["cpu"]],
        ["cores", f"{info['logical_cores']} logical, {info['usable_cores']} usable"],
        ["memory", f"{info['memory_gib']} GiB"],
        ["OS", info["os"]],
        ["Python", info["python"]],
        ["load average (1, 5, 15 min)", _loads(document)],
        ["commit", commit],
        ["servers", "; ".join(servers) or "-"],
    ]
    packages = [f"{name} {version}" for name, version in info["packages"].items() if version]
    lines = _markdown_table(["machine", ""], rows, numeric=False)
    return [*lines, "", "Package versions: " + ", ".join(packages) + "."]


def _loads(document: dict[str, Any]) -> str:
    def show(values: list[float]) -> str:
        return ", ".join(f"{v:.2f}" for v in values) or "unknown"

    return (
        f"{show(document['load_before'])} at the start; {show(document['load_after'])} at the end"
    )


def _table_section(entry: dict[str, Any], table: Table, images: Path, link: str) -> list[str]:
    lines = [f"### {table['title']}", ""]
    header, rows = with_ratios(table)
    lines += _markdown_table(header, rows)
    name = f"{_short(entry['name'])}-{table['id']}.png"
    drawn = False
    if "series" in table:
        drawn = plots.lines(table, images / name)
    elif "metric" in table or "plot" in table:
        drawn = plots.bars(table, images / name)
    if drawn:
        lines += ["", f"![{table['title']}]({link}/{name})"]
    notes = table.get("notes", [])
    if notes:
        lines += [""] + [f"- {note}" for note in notes]
    return [*lines, ""]


def _benchmark_section(entry: dict[str, Any], images: Path, link: str) -> list[str]:
    status = entry["status"]
    title = entry["result"]["title"] if status == "ok" else entry["name"]
    loads = entry.get("load_before", [None])[:1] + entry.get("load_after", [None])[:1]
    meta = f"`{entry['script']}` · {entry.get('seconds', '?')} s"
    if all(load is not None for load in loads):
        meta += f" · load {loads[0]:.2f} → {loads[1]:.2f}"
    lines = [f"## {title}", "", meta, ""]
    if status == "failed":
        lines += ['!!! failure "Did not complete in this run"', ""]
        lines += ["    ```text"] + [f"    {line}" for line in entry["error"].splitlines()]
        return [*lines, "    ```", ""]
    if status == "text":
        lines += [
            '!!! note "Text output only"',
            "    This script does not define `collect(quick)` yet, so the report shows what",
            "    it printed, without tables or charts (see `benchmarks/README.md`).",
            "",
            "```text",
            *entry["output"].rstrip().splitlines(),
            "```",
            "",
        ]
        return lines
    result = entry["result"]
    if result.get("description"):
        lines += [result["description"], ""]
    if result.get("parameters"):
        parameters = result["parameters"].items()
        shown = ", ".join(f"{key} = {format_value(value)}" for key, value in parameters)
        lines += [f"Parameters: {shown}.", ""]
    for table in result["tables"]:
        lines += _table_section(entry, table, images, link)
    lines += [f"- {note}" for note in result.get("notes", [])]
    return lines


def _summary(document: dict[str, Any], images: Path, link: str) -> list[str]:
    found = comparisons(document)
    lines = ["## Hitbox against its peers", ""]
    if found:
        lines += [
            "Each line puts Hitbox's row of a table next to one peer's row of the same",
            "table. *Hitbox is* says how many times better Hitbox did on that table's",
            "measure (above 1: Hitbox ahead, below 1: the peer ahead).",
            "",
        ]
        rows = [
            [
                f"{c['benchmark']}: {c['table']}",
                c["metric"],
                f"{c['hitbox']}: {format_value(c['hitbox_value'])}",
                f"{c['peer']}: {format_value(c['peer_value'])}",
                f"**{c['factor']:.2f}x**" if c["factor"] >= 1 else f"{c['factor']:.2f}x",
            ]
            for c in found
        ]
        header = ["benchmark: table", "measure", "Hitbox", "peer", "Hitbox is"]
        lines += _markdown_table(header, rows, numeric=False)
        labels = [(f"{c['benchmark']}/{c['id']} vs {c['peer']}", c["factor"]) for c in found]
        if plots.summary(labels, images / "summary.png"):
            lines += ["", f"![Hitbox against its peers]({link}/summary.png)"]
    else:
        lines += ["No benchmark reported a Hitbox-against-peer comparison in this run."]
    lines += ["", "Which benchmark compared each required peer in this run:", ""]
    header = ["peer", "in tables of", "only in the text output of"]
    return [*lines, *_markdown_table(header, _coverage(document), numeric=False), ""]


def render(document: dict[str, Any], page: Path, images: Path) -> Path:
    """Write ``page`` and its charts under ``images`` (stale charts there are removed)."""
    images.mkdir(parents=True, exist_ok=True)
    for old in images.glob("*.png"):
        old.unlink()
    link = Path(os.path.relpath(images, page.parent)).as_posix()
    mode = "quick mode (smaller sizes, fewer rounds)" if document["quick"] else "full mode"
    machine = document["machine"]
    lines = [
        "# Benchmarks",
        "",
        "<!-- Generated by benchmarks/run_all.py from benchmarks/results/latest.json:",
        "     edit the renderer, not this file. -->",
        "",
        "Hitbox against its peers: every benchmark of the project, run one after another",
        f"on one machine in one run, on {document['date']}, in {mode}, by:",
        "",
        "```bash",
        document["command"],
        "```",
        "",
        NOISE.format(
            cores=machine["usable_cores"],
            load_start=", ".join(f"{v:.2f}" for v in document["load_before"][:1]) or "?",
            load_end=", ".join(f"{v:.2f}" for v in document["load_after"][:1]) or "?",
        ),
    ]
    lines += _summary(document, images, link)
    lines += ["## The machine", "", *_machine(document), ""]
    for entry in document["benchmarks"]:
        lines += _benchmark_section(entry, images, link)
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    return page
