"""Checks the metadata of every built wheel and sdist (run by ``scripts/check-dists``).

Usage: ``python scripts/check_dists.py DIST_DIR``. Every workspace member must have a
wheel and an sdist in DIST_DIR, each with: the classifiers a user filters on (all of them
valid trove classifiers), the project URLs, the repository's MIT ``LICENSE`` (byte for
byte), and a real long description (what it is, an install line, an example, no pointers
into the repository's files). Prints one line per problem and exits 1 if there is any.
"""

from __future__ import annotations

import sys
import tarfile
import tomllib
import zipfile
from email.message import Message
from email.parser import Parser
from pathlib import Path

from trove_classifiers import classifiers as trove

ROOT = Path(__file__).resolve().parent.parent
LICENSE = (ROOT / "LICENSE").read_bytes()
REQUIRED_CLASSIFIERS = (
    "License :: OSI Approved :: MIT License",
    "Framework :: AsyncIO",
    "Typing :: Typed",
    "Programming Language :: Python :: 3.11",
    "Programming Language :: Python :: 3.12",
    "Programming Language :: Python :: 3.13",
)
REQUIRED_URLS = {
    "Repository": "https://github.com/hitbox-py/hitbox",
    "Documentation": "https://hitbox-py.github.io/hitbox",
}
MIN_DESCRIPTION = 400


def members() -> dict[str, Path]:
    """Distribution name -> directory, for every workspace member."""
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    found = {}
    for member in root["tool"]["uv"]["workspace"]["members"]:
        project = tomllib.loads((ROOT / member / "pyproject.toml").read_text())["project"]
        found[project["name"]] = ROOT / member
    return found


def metadata_problems(name: str, meta: Message) -> list[str]:
    """What is missing from one distribution's core metadata."""
    problems = []
    classifiers = meta.get_all("Classifier") or []
    problems += [f"invalid classifier {c!r}" for c in classifiers if c not in trove]
    problems += [f"missing classifier {c!r}" for c in REQUIRED_CLASSIFIERS if c not in classifiers]
    for prefix in ("Development Status :: ", "Topic :: "):
        if not any(c.startswith(prefix) for c in classifiers):
            problems.append(f"no {prefix.rstrip(': ')} classifier")
    urls = {
        label.strip(): url.strip()
        for label, _, url in (u.partition(",") for u in meta.get_all("Project-URL") or [])
    }
    for label, start in REQUIRED_URLS.items():
        if not urls.get(label, "").startswith(start):
            problems.append(f"Project-URL {label} missing or not {start}... (got {urls})")
    if meta.get("License-Expression") != "MIT":
        problems.append(f"License-Expression is {meta.get('License-Expression')!r}, not 'MIT'")
    if "LICENSE" not in (meta.get_all("License-File") or []):
        problems.append("no License-File: LICENSE")
    body = meta.get_payload()
    description = body if isinstance(body, str) else ""
    if len(description) < MIN_DESCRIPTION:
        problems.append(f"long description is {len(description)} characters")
    if "pip install" not in description:
        problems.append("long description has no install line")
    if "```python" not in description:
        problems.append("long description has no example")
    if "in the repository" in description or "`docs/" in description:
        problems.append("long description points into the repository's files")
    return [f"{name}: {problem}" for problem in problems]


def check_wheel(name: str, path: Path) -> list[str]:
    """Problems of one wheel: its metadata and its license file."""
    with zipfile.ZipFile(path) as wheel:
        names = wheel.namelist()
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(wheel.read(meta_name).decode())
        problems = metadata_problems(f"{path.name}", meta)
        licenses = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
        if not licenses:
            problems.append(f"{path.name}: no .dist-info/licenses/LICENSE")
        elif wheel.read(licenses[0]) != LICENSE:
            problems.append(f"{path.name}: LICENSE differs from the repository's")
    return problems


def check_sdist(name: str, path: Path) -> list[str]:
    """Problems of one sdist: its PKG-INFO and its license file."""
    top = path.name.removesuffix(".tar.gz")
    with tarfile.open(path) as sdist:
        pkg_info = sdist.extractfile(f"{top}/PKG-INFO")
        license_file = sdist.extractfile(f"{top}/LICENSE")
        assert pkg_info is not None
        assert license_file is not None
        problems = metadata_problems(path.name, Parser().parsestr(pkg_info.read().decode()))
        if license_file.read() != LICENSE:
            problems.append(f"{path.name}: LICENSE differs from the repository's")
    return problems


def main(dist_dir: Path) -> int:
    """Check every member's wheel and sdist in ``dist_dir``; the number of problems."""
    problems: list[str] = []
    for name, directory in members().items():
        if (directory / "LICENSE").read_bytes() != LICENSE:
            problems.append(f"{directory.name}/LICENSE differs from the repository's LICENSE")
        stem = name.replace("-", "_")
        wheels = sorted(dist_dir.glob(f"{stem}-*.whl"))
        sdists = sorted(dist_dir.glob(f"{stem}-*.tar.gz"))
        if len(wheels) != 1 or len(sdists) != 1:
            problems.append(f"{name}: expected one wheel and one sdist, found {wheels + sdists}")
            continue
        problems += check_wheel(name, wheels[0]) + check_sdist(name, sdists[0])
    for problem in problems:
        print(f"check-dists: {problem}")
    if not problems:
        print(f"check-dists: metadata of {len(members())} distributions ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
