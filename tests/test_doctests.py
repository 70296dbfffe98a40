"""The examples in the docstrings of the modules that do no I/O run and say what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize(
    "name",
    [
        "anchorframe._frames",
        "anchorframe._plan",
        "anchorframe._retry",
        "anchorframe._secrets",
        "anchorframe.backends.anchor",
        "anchorframe._identity",
        "anchorframe._options",
        "anchorframe._session",
        "anchorframe._saturation",
        "anchorframe._tabs",
        "anchorframe._checkpoint_partitions",  # in a temporary directory
    ],
)
def test_docstring_examples(name):
    """Each runnable example gives the output its docstring shows."""
    module = importlib.import_module(name)
    outcome = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert outcome.attempted > 0 and outcome.failed == 0
