"""The pins are what a fresh machine installs, so every requirement must be exact and the suite must run on them."""
from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([0-9][A-Za-z0-9.+!-]*)$")


def requirement_lines(name: str) -> list[str]:
    lines = []
    for raw in (REPO / name).read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    return lines


def pins(name: str) -> dict[str, str]:
    found = {}
    for line in requirement_lines(name):
        if line.startswith("-r "):
            found.update(pins(line[3:].strip()))
            continue
        match = PIN.match(line)
        assert match, f"{name}: {line!r} is not pinned as name==version"
        found[match.group(1).lower()] = match.group(2)
    return found


@pytest.mark.parametrize("name", ["requirements.txt", "requirements-dev.txt"])
def test_every_requirement_is_pinned_exactly(name):
    assert pins(name), f"{name} lists nothing"


def test_the_suite_runs_on_the_pinned_versions():
    """scripts/test.sh installs the pins into the Python it then tests with; a mismatch means another environment."""
    wrong = {}
    for package, version in pins("requirements-dev.txt").items():
        installed = metadata.version(package)
        if installed.split("+")[0] != version.split("+")[0]:
            wrong[package] = f"pinned {version}, installed {installed}"
    assert not wrong, wrong
