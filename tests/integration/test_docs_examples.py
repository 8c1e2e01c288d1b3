"""Every Python example in docs/ runs, so the documentation cannot drift from the code.

A block that cannot run on its own (it needs a server the test does not start) is
preceded by an HTML comment ``<!-- not-executed: reason -->``, which is visible in review.
Blocks included from source files (``--8<--``) are tested where that source lives.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
_BLOCK = re.compile(r"(<!-- not-executed:[^>]*-->\s*)?^```python\n(.*?)^```", re.S | re.M)


def _examples() -> list[tuple[str, str]]:
    found = []
    for page in sorted(DOCS.rglob("*.md")):
        for index, match in enumerate(_BLOCK.finditer(page.read_text())):
            skipped, source = match.group(1), match.group(2)
            if skipped or "--8<--" in source:
                continue
            found.append((f"{page.relative_to(DOCS)}#{index}", source))
    return found


@pytest.mark.parametrize(("where", "source"), _examples(), ids=[w for w, _ in _examples()])
def test_docs_example_runs(where: str, source: str, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(source)
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert result.returncode == 0, f"{where} failed:\n{result.stderr[-3000:]}"


def test_docs_build_strict(tmp_path: Path) -> None:
    """mkdocs --strict: broken links, missing snippets and bad nav fail the build."""
    mkdocs = Path(sys.executable).with_name("mkdocs")
    if not mkdocs.exists():
        pytest.skip("mkdocs is not installed (uv sync --all-groups installs it)")
    result = subprocess.run(
        [str(mkdocs), "build", "--strict", "-q", "-d", str(tmp_path / "site")],
        cwd=DOCS.parent,
        capture_output=True,
        text=True,
        timeout=300,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
