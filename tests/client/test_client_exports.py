"""The public names of anchorframe.client and anchorframe.emulator are pinned."""

import anchorframe.client
import anchorframe.emulator


def test_client_exports():
    """anchorframe.client exports exactly its clients, models and constants."""
    assert set(anchorframe.client.__all__) == {
        "DEFAULT_BASE_URL", "REQUEST_TAG_PREFIX", "REQUEST_TOKEN_KEY", "AnchorClient",
        "AsyncAnchorClient", "AsyncSessionCreated", "AsyncSessionStatus", "Batch",
        "BatchCancelled", "BatchCreated", "BatchDeleted", "BatchPage", "BatchProgress",
        "BatchRetried", "BatchSummary", "Pagination", "SessionEnded", "SessionItem",
        "SessionDetail", "SessionPage", "SessionStatusList", "SessionSummary",
    }  # fmt: skip
    for name in anchorframe.client.__all__:
        assert getattr(anchorframe.client, name) is not None


def test_emulator_exports():
    """anchorframe.emulator exports the server, its faults and the CLI hooks."""
    assert set(anchorframe.emulator.__all__) == {
        "Emulator", "Faults", "RequestRecord", "add_emulator_parser", "cli_main",
        "run_emulator_command",
    }  # fmt: skip
