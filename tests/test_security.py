"""Secrets stay secret and servers stay on loopback."""

from __future__ import annotations

import logging
import pickle

import pytest

import anchorframe as af
from anchorframe.backends.anchor import AnchorBackend
from anchorframe.client import AnchorClient
from anchorframe.demo import DemoSite
from anchorframe.emulator import Emulator
from anchorframe.errors import AnchorAPIError

from .backends.conftest import anchor_backend

pytestmark = pytest.mark.usefixtures("no_chromium_left")
KEY = "sk-live-SECRET-0123456789abcdef"


def _scan(texts: list[str], *secrets: str) -> None:
    for text in texts:
        for secret in secrets:
            assert secret not in text
        assert "/devtools/browser/" not in text, "a CDP URL leaked"


def test_a_run_with_a_key_leaks_it_nowhere(site, tmp_path, caplog):
    """Reprs, DEBUG logs, exceptions, frames, exports and checkpoints of a cloud run never show the key."""
    caplog.set_level(logging.DEBUG, logger="anchorframe")
    with Emulator(api_key=KEY, seed=2, fail_provision=0.3, rate_limit=0.1, retry_after=0.05) as emu:
        backend = anchor_backend(emu)

        async def scraper(page, row):
            await page.goto(row.url)
            if row.url.endswith("/3"):
                raise RuntimeError(f"failed on {row.url}")
            return {"title": await page.title(), "cdp": "none"}

        checkpoint = tmp_path / "run.parquet"
        options = {"backend": backend, "sessions": 2, "retries": 0, "progress": False, "backoff": 0.01}
        try:
            result = af.scrape(site.pages(6), scraper, checkpoint=str(checkpoint), **options)
        except TypeError:  # checkpoints not available in this build
            result = af.scrape(site.pages(6), scraper, **options)
        files = [p.read_bytes().decode("latin-1") for p in tmp_path.rglob("*") if p.is_file()]
        result.results.to_parquet(tmp_path / "out.parquet")
        exports = [(tmp_path / "out.parquet").read_bytes().decode("latin-1")]
        texts = [
            repr(backend),
            str(backend.describe()),
            repr(result),
            result.summary(),
            result._repr_html_(),
            result.results.to_csv(),
            result.errors.to_csv(),
            result.sessions.to_csv(),
            pickle.dumps(result.errors).decode("latin-1"),
            caplog.text,
            *files,
            *exports,
        ]
        _scan(texts, KEY)
        with pytest.raises(AnchorAPIError) as caught:
            AnchorClient(KEY, base_url=emu.base_url).get_batch("00000000-0000-0000-0000-000000000000")
        _scan([str(caught.value), repr(caught.value), pickle.dumps(caught.value).decode("latin-1")], KEY)


def test_wrong_key_error_does_not_echo_the_key(emulator_with_key):
    """An authentication failure names the problem, not the key that was sent."""
    with pytest.raises(AnchorAPIError) as caught:
        AnchorClient("sk-wrong-key-99999", base_url=emulator_with_key.base_url).list_batches()
    _scan([str(caught.value), repr(caught.value)], "sk-wrong-key-99999", KEY)


def test_servers_bind_to_loopback_by_default():
    """The emulator and the demo site listen on 127.0.0.1 unless told otherwise."""
    with DemoSite() as site:
        assert site.base_url.startswith("http://127.0.0.1:")
    with Emulator() as emu:
        assert emu.base_url.startswith("http://127.0.0.1:")


def test_local_schemes_are_refused_by_default(tmp_path):
    """file:// and other local schemes cannot make the local backend read the disk."""
    secret = tmp_path / "secret.txt"
    secret.write_text("do not read")
    result = af.scrape([secret.as_uri(), "chrome://version", "view-source:https://a.test"], progress=False)
    assert set(result.results["af_status"]) == {"invalid"} and len(result.sessions) == 0


def test_backend_repr_hides_the_key():
    """AnchorBackend's repr shows the host only."""
    backend = AnchorBackend(KEY, base_url="https://api.anchorbrowser.io")
    assert KEY not in repr(backend) and KEY not in str(vars(backend).get("base_url"))


@pytest.fixture
def emulator_with_key():
    with Emulator(api_key=KEY) as emu:
        yield emu
