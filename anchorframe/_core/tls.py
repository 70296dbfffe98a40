"""One TLS context for every HTTP client a process makes: robots.txt, ``render="http"``, the cloud API.

httpx builds a context for each client it is given none: it loads the CA bundle, ~35-80 ms of
CPU a time on this machine, which a run paid again for each client it opened (its robots.txt
client alone cost ~40 % of a short run's own CPU). A context is immutable once built and
safe to share between clients and threads, so every client gets the same one, built as httpx
builds its default (certifi's bundle, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set: a
change of either is honoured by a context of its own). No I/O after the first call.

Example:
    >>> shared_ssl_context() is shared_ssl_context()
    True
"""

from __future__ import annotations

import functools
import os
import ssl

__all__ = ["shared_ssl_context"]


def shared_ssl_context() -> ssl.SSLContext:
    """The process's verifying TLS context, as httpx's default (``verify=True``) would make it."""
    return _context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.lru_cache(maxsize=4)
def _context(cafile: str | None, capath: str | None) -> ssl.SSLContext:
    import httpx  # a dependency of the package, but not of every import of _core

    return httpx.create_ssl_context()  # reads the same two variables
