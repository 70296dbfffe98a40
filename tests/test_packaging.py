"""The package's metadata says what CI tests, in the form current setuptools requires."""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

import pytest

import anchorframe as af

tomllib = pytest.importorskip("tomllib")  # Python 3.11+; this file runs with the whole suite

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
PREFIX = "Programming Language :: Python :: "


def ci_pythons() -> set[str]:
    """The versions .ci/run runs tests on besides the default python3 (.ci/pythons)."""
    lines = (ROOT / ".ci" / "pythons").read_text().splitlines()
    return {line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")}


def test_python_classifiers_are_the_versions_ci_tests():
    """Each tested Python has a classifier and each classifier is tested: .ci/pythons plus this one."""
    classified = {c.removeprefix(PREFIX) for c in PROJECT["classifiers"] if c.startswith(PREFIX)}
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert classified == ci_pythons() | {running}


def test_requires_python_is_the_oldest_tested():
    """requires-python admits the oldest tested Python and nothing older."""
    oldest = min(ci_pythons(), key=lambda version: tuple(map(int, version.split("."))))
    assert PROJECT["requires-python"] == f">={oldest}"


def test_license_is_an_spdx_expression_with_its_file():
    """PEP 639: `license` is an SPDX string, `license-files` ships the text, no license classifier."""
    assert PROJECT["license"] == "Apache-2.0"
    assert all((ROOT / pattern).is_file() for pattern in PROJECT["license-files"])
    assert not [c for c in PROJECT["classifiers"] if c.startswith("License ::")]
    assert "setuptools>=77" in PYPROJECT["build-system"]["requires"]


def test_version_is_written_once_and_installed_metadata_agrees():
    """pyproject reads the version from anchorframe/__init__.py; the installed metadata matches it."""
    assert "version" not in PROJECT and PROJECT["dynamic"] == ["version"]
    source = PYPROJECT["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert source == "anchorframe.__version__"
    assert importlib.metadata.version("anchorframe") == af.__version__


def test_changelog_has_an_entry_for_this_version():
    """A release cannot go out without saying what it brought."""
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## [{af.__version__}]" in changelog
