"""A session's cdp_url is a working CDP endpoint: Playwright loads a loopback page."""

from __future__ import annotations

from playwright.sync_api import sync_playwright

from anchorframe.client import AnchorClient


def test_connect_over_cdp_loads_loopback_page(emulator, loopback_page):
    """connect_over_cdp to a batch session's cdp_url loads a page served by the test."""
    with AnchorClient(emulator.api_key, base_url=emulator.base_url) as client:
        created = client.create_batch(1)
        batch = client.wait_batch(created.batch_id, initial_interval=0.05, max_interval=0.2)
        cdp_url = batch.ready_sessions[0].cdp_url
        assert cdp_url
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.connect_over_cdp(cdp_url)
                context = browser.contexts[0] if browser.contexts else browser.new_context()
                page = context.new_page()
                page.goto(loopback_page)
                assert page.inner_text("h1") == "Hello from loopback"
                browser.close()
        finally:
            client.delete_batch(created.batch_id)
    assert emulator.live_sessions == 0
