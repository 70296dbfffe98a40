"""Taking what a failed row's page showed: a small screenshot, its HTML and the URL it ended on.

The tab worker calls :meth:`Witness.capture` when a browser attempt ends failed, before its
page is closed or reused; the engine then hands what it took to :meth:`Witness.keep` with the
attempt. Taking is bounded in time (:data:`CAPTURE_SECONDS`, a page that hangs gives what it
gave by then) and in size (``anchorframe._core.evidence``), it never raises (a failed row keeps
its own error), and the HTML and URL are masked as every text a run shows (a CDP URL, an API
key, a sensitive header's value never stays in them). A screenshot shows pixels: nothing can be
masked there, which is why it is only ever taken of a page the user's own scraper opened.

Example:
    >>> import asyncio
    >>> class Page:  # what Playwright's page answers, for the example
    ...     url = "https://shop.test/p/1?apiKey=sk-1"
    ...     def is_closed(self): return False
    ...     async def content(self): return "<h1>Out of stock</h1> token sk-1"
    ...     async def screenshot(self, **options): return b"\\xff\\xd8jpeg"
    >>> witness = Witness(count=5, secrets=("sk-1",))
    >>> seen = asyncio.run(witness.capture(Page()))
    >>> seen["page_url"], seen["html"]
    ('https://shop.test/p/1?apiKey=<redacted>', '<h1>Out of stock</h1> token <redacted>')
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from .._core.evidence import HTML_CHARS, RUN_BYTES, SHOT_BYTES, EvidenceBudget
from .._core.secrets import redact

__all__ = ["CAPTURE_SECONDS", "JPEG_QUALITY", "Witness"]

#: Seconds a capture may take at most (HTML and screenshot together): a loaded page answers in ms.
CAPTURE_SECONDS = 3.0
#: The screenshot's JPEG quality: readable, ~20-150 kB for a 1280x720 viewport.
JPEG_QUALITY = 50


class Witness:
    """Takes and keeps the evidence of a run's failed browser attempts (one per engine).

    Args:
        count: failed attempts to keep evidence of (``evidence=``); 0 takes none.
        secrets: texts never to keep (the backend's key, sensitive header values).
        max_bytes: the run's cap (``anchorframe._core.evidence.RUN_BYTES``).
    """

    def __init__(self, count: int, *, secrets: Sequence[str] = (), max_bytes: int = RUN_BYTES) -> None:
        self.budget = EvidenceBudget(count, max_bytes=max_bytes)
        self.secrets = tuple(secrets)

    @property
    def records(self) -> list[dict[str, Any]]:
        """What was kept, in the order attempts ended (``result.evidence``'s rows)."""
        return self.budget.records

    async def capture(self, page: Any) -> dict[str, Any] | None:
        """The page's URL, HTML and screenshot now; None when the budget is spent or the page gone."""
        if not self.budget.room() or page is None:
            return None
        with contextlib.suppress(Exception):
            if page.is_closed():
                return None
        started = time.monotonic()
        page_url: str | None = None
        with contextlib.suppress(Exception):
            page_url = redact(str(page.url), *self.secrets)
        html: str | None = None
        with contextlib.suppress(Exception):
            text = await asyncio.wait_for(page.content(), CAPTURE_SECONDS / 2)
            if len(text) > HTML_CHARS:
                text = text[:HTML_CHARS] + f"\n<!-- anchorframe: cut after {HTML_CHARS:,} characters -->"
            html = redact(text, *self.secrets)
        shot: bytes | None = None
        left = CAPTURE_SECONDS - (time.monotonic() - started)
        if left > 0.2:
            with contextlib.suppress(Exception):
                shot = await asyncio.wait_for(
                    page.screenshot(type="jpeg", quality=JPEG_QUALITY, timeout=left * 1000, caret="hide"),
                    left,
                )
                if shot is not None and len(shot) > SHOT_BYTES:
                    shot = None
        if html is None and shot is None:
            return None
        return {"page_url": page_url, "html": html, "screenshot": shot}

    def keep(self, attempt: Any, seen: dict[str, Any], errors: Sequence[dict[str, Any]] = ()) -> bool:
        """Keep what ``capture`` took for ``attempt`` (a ledger Attempt), with its reason from ``errors``.

        Returns whether it fitted in the budget.
        """
        url, number = attempt.work.url, attempt.number
        reason = message = None
        for record in reversed(errors[-20:]):  # its error was appended just now
            if record.get("url") == url and record.get("attempt") == number:
                reason, message = record.get("reason"), record.get("message")
                break
        return self.budget.take(
            {
                "url": url,
                "attempt": number,
                "session": attempt.session,
                "time": datetime.now(timezone.utc),
                "reason": reason,
                "message": message,
                **seen,
            }
        )
