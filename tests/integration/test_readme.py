"""Every code example in the README runs (the README never drifts from the code)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from hitbox.config import cache_kwargs, load_file

README = Path(__file__).resolve().parents[2] / "README.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README.read_text(), flags=re.S | re.M)


@pytest.mark.parametrize("source", _blocks("python"))
def test_python_examples_run(source: str, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(source)
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("source", _blocks("toml"))
def test_toml_examples_are_valid_configs(source: str, tmp_path: Path) -> None:
    path = tmp_path / "hitbox.toml"
    path.write_text(source)
    kwargs = cache_kwargs(load_file(path, environ={}))
    assert kwargs["backend"].label


def test_readme_names_the_ci_test_command() -> None:
    ci = (README.parent / ".ci" / "run").read_text()
    assert "./scripts/test" in README.read_text()
    assert "./scripts/test" in ci
