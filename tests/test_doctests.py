"""The examples in the docstrings of the modules that do no I/O run and say what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize(
    "name",
    [
        "anchorframe._core.options",
        "anchorframe._core.plan",
        "anchorframe._core.retry",
        "anchorframe._core.secrets",
        "anchorframe._core.table",
        "anchorframe._core.native",  # with polars (the dev extra has it)
        "anchorframe._core.evidence",
        "anchorframe._render.evidence",
        "anchorframe._display.row_view",
        "anchorframe.backends.anchor",
        "anchorframe.backends._anchor_config",
        "anchorframe.backends._base",
        "anchorframe.backends._anchor_polling",
        "anchorframe._manners.identity",
        "anchorframe._run.options",
        "anchorframe._engine.session",
        "anchorframe._engine.saturation",
        "anchorframe._engine.saturation_watch",
        "anchorframe._engine.tabs",
        "anchorframe._scale.messages",
        "anchorframe._scale.shard_spec",
        "anchorframe._render.extractor",
        "anchorframe._render.page_signals",
        "anchorframe._render.quiet",
        "anchorframe.extract",
        "anchorframe.cli",
        "anchorframe._store.tables",
        "anchorframe._store.checkpoint_partitions",  # in a temporary directory
        "benchmarks.orchestrator",
    ],
)
def test_docstring_examples(name):
    """Each runnable example gives the output its docstring shows."""
    module = importlib.import_module(name)
    outcome = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert outcome.attempted > 0 and outcome.failed == 0
