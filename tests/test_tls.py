"""One TLS context per process: the clients a run opens do not load the CA bundle again.

Loading it costs tens of milliseconds of CPU a client (each run opened at least one, for
robots.txt); ``anchorframe._core.tls`` builds it once. Real clients against a loopback server;
``ssl.create_default_context`` is counted (and still called), not replaced.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from pathlib import Path

import pytest

from anchorframe._core.tls import shared_ssl_context
from anchorframe._manners.robots import RobotsCache
from anchorframe._render.http import make_client
from anchorframe.client import AnchorClient, AsyncAnchorClient

from .sites_misbehaving import RobotsSite


@pytest.fixture
def contexts_built(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Each verifying context built from now on (the real function runs)."""
    shared_ssl_context()  # the process's one, built before counting
    built: list[object] = []
    real = ssl.create_default_context

    def counting(*args: object, **kwargs: object) -> ssl.SSLContext:
        context = real(*args, **kwargs)  # type: ignore[arg-type]
        built.append(context)
        return context

    monkeypatch.setattr(ssl, "create_default_context", counting)
    return built


def test_the_shared_context_verifies_as_httpx_default_does():
    context = shared_ssl_context()
    assert context is shared_ssl_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] > 0  # a CA bundle is loaded


def test_robots_txt_the_http_path_and_the_api_client_build_no_context_of_their_own(contexts_built):
    with RobotsSite() as site:

        async def main() -> None:
            async with RobotsCache() as robots:
                assert await robots.allowed(site.url("/public/1"))
            async with make_client() as client:
                assert (await client.get(site.url("/public/1"))).status_code == 200
            async with AsyncAnchorClient("sk-test", base_url=site.url("")):
                pass

        asyncio.run(main())
        with AnchorClient("sk-test", base_url=site.url("")):
            pass
    assert contexts_built == []


def test_a_changed_ssl_cert_file_gets_a_context_of_its_own(monkeypatch, tmp_path):
    import certifi

    first, before = shared_ssl_context(), os.environ.get("SSL_CERT_FILE")
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(Path(certifi.where()).read_bytes())
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    other = shared_ssl_context()
    assert other is not first and other is shared_ssl_context()
    if before is None:
        monkeypatch.delenv("SSL_CERT_FILE")
    else:
        monkeypatch.setenv("SSL_CERT_FILE", before)
    assert shared_ssl_context() is first
