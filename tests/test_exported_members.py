"""The public names of anchorframe are exactly these."""

import anchorframe as af


def test_public_names_are_pinned():
    """A change to the public API must change this list on purpose."""
    assert sorted(af.__all__) == sorted(
        [
            "AnchorAPIError",
            "AnchorBackend",
            "AnchorClient",
            "AnchorframeError",
            "AsyncAnchorClient",
            "Backend",
            "BackendError",
            "BrowserNotFoundError",
            "Emulator",
            "InputError",
            "LocalBackend",
            "Plan",
            "Row",
            "RowFailed",
            "RunInterrupted",
            "ScrapeResult",
            "__version__",
            "ascrape",
            "extract",
            "last_result",
            "load_checkpoint",
            "plan",
            "reap",
            "scrape",
        ]
    )
    for name in af.__all__:
        assert getattr(af, name) is not None
